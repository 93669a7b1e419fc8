"""The importers' mapping tables (services/feeds/mappings/*.yaml), loaded and checked once."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from services.core.events import Category, Target

MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "mappings"


class MappingError(ValueError):
    """A mapping table names a category or target that the contract does not have."""


@cache
def load(name: str) -> dict[str, Any]:
    """The table `name` (e.g. "gtd"): every `categories`/`targets` value must be in the enums."""
    path = MAPPINGS_DIR / f"{name}.yaml"
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section, allowed in (("categories", Category), ("targets", Target)):
        for column, table in doc.get(section, {}).items():
            for value, mapped in table.items():
                if mapped is not None and mapped not in allowed.__members__:
                    raise MappingError(f"{path}: {section}.{column}.{value}: {mapped!r} is unknown")
    return doc
