"""The mapping tables: every value is in the contract's enums; a typo is caught at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.events import Category, Target
from services.feeds.importers import tables


@pytest.mark.parametrize("name", ["gtd", "acled"])
def test_shipped_tables_name_only_known_categories_and_targets(name: str) -> None:
    doc = tables.load(name)
    categories = {v for table in doc["categories"].values() for v in table.values() if v}
    targets = {v for table in doc["targets"].values() for v in table.values() if v}
    assert categories and categories <= set(Category)
    assert targets and targets <= set(Target)


def test_a_typo_in_a_table_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.yaml").write_text("categories: {kind: {Boom: bombingg}}\n")
    monkeypatch.setattr(tables, "MAPPINGS_DIR", tmp_path)
    with pytest.raises(tables.MappingError, match="bombingg"):
        tables.load("broken")
    tables.load.cache_clear()
