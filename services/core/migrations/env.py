"""Alembic environment (async template): URL from the settings unless the caller set one."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from services.core.db import make_engine
from services.core.models import Base
from services.core.settings import load_settings

config = context.config
target_metadata = Base.metadata


def _settings_url() -> str:
    return config.get_main_option("sqlalchemy.url") or load_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_settings_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = make_engine(load_settings(database_url=_settings_url()), writer=True)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
