"""`surgewatch db upgrade`: Alembic migrations, run from the installed package (no alembic.ini)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    """Bring the database to `revision`. Safe to run again and from several processes in turn."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str | None = None, revision: str = "head") -> None:
    """`upgrade` from inside a running event loop (env.py starts a loop of its own)."""
    await asyncio.to_thread(upgrade, database_url, revision)
