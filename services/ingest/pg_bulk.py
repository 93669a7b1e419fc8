"""The ingest's bulk statements on PostgreSQL: a binary COPY into a staging table, then one
`INSERT … SELECT … ON CONFLICT` per table.

SQLAlchemy's executemany of the same rows spent ~100 µs of Python per event building and
binding parameter dicts. Arrays as parameters (`unnest($1::text[], …)`) cost a Python
`isinstance(x, Container)` per element in asyncpg; one JSON document (`json_to_recordset`) cost
PostgreSQL ~10 µs a row to parse; binary COPY is the cheapest on both sides (docs/benchmarks.md).
Everything runs on the driver connection of the store's transaction, so the batch still commits
(or not) as one with its offsets, and the staging tables (temporary, ON COMMIT DELETE ROWS) are
empty again at its end. Same rows, same conflict rules as the SQLAlchemy path SQLite takes
(`IngestStore._apply`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from services.core.events import Category, Target
from services.ingest.plan import Key, Plan, Stored

LOOKUP_STORED = """
SELECT i.source, i.id, i.version, i.retracted, i.province, i.day, i.subregion, i.category,
       i.killed, i.injured, i.occurred_at
FROM incidents AS i JOIN json_to_recordset($1::json) AS k(s text, i text)
  ON i.source = k.s AND i.id = k.i
"""

LOOKUP_RETRACTED = """
SELECT r.source, r.id
FROM retractions AS r JOIN json_to_recordset($1::json) AS k(s text, i text)
  ON r.source = k.s AND r.id = k.i
"""

INCIDENT_COLUMNS = (
    "source", "id", "version", "occurred_at", "day", "province", "subregion", "district", "lat",
    "lon", "category", "target", "perpetrator", "killed", "injured", "summary", "url",
    "retracted", "event_id",
)  # fmt: skip
VERSION_COLUMNS = ("source", "id", "version", "event_id", "data")
COUNT_COLUMNS = ("province", "day", "subregion", "category", "incidents", "killed", "injured")

# Per-session staging tables. Each INSERT empties its stage as it reads it (a DELETE … RETURNING
# in the same statement); ON COMMIT DELETE ROWS is the belt to those braces.
STAGES = f"""
CREATE TEMP TABLE IF NOT EXISTS stage_incidents ON COMMIT DELETE ROWS AS
    SELECT {", ".join(INCIDENT_COLUMNS)} FROM incidents WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS stage_versions ON COMMIT DELETE ROWS AS
    SELECT {", ".join(VERSION_COLUMNS)} FROM incident_versions WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS stage_counts ON COMMIT DELETE ROWS AS
    SELECT {", ".join(COUNT_COLUMNS)} FROM daily_counts WITH NO DATA;
"""

UPSERT_INCIDENTS = f"""
WITH staged AS (DELETE FROM stage_incidents RETURNING *)
INSERT INTO incidents ({", ".join(INCIDENT_COLUMNS)}, received_at, updated_at)
SELECT {", ".join(INCIDENT_COLUMNS)}, $1, $1 FROM staged
ON CONFLICT (source, id) DO UPDATE SET
    version = excluded.version, occurred_at = excluded.occurred_at, day = excluded.day,
    province = excluded.province, subregion = excluded.subregion, district = excluded.district,
    lat = excluded.lat, lon = excluded.lon, category = excluded.category,
    target = excluded.target, perpetrator = excluded.perpetrator, killed = excluded.killed,
    injured = excluded.injured, summary = excluded.summary, url = excluded.url,
    retracted = excluded.retracted, event_id = excluded.event_id,
    updated_at = excluded.updated_at
"""

INSERT_VERSIONS = f"""
WITH staged AS (DELETE FROM stage_versions RETURNING *)
INSERT INTO incident_versions ({", ".join(VERSION_COLUMNS)}, received_at)
SELECT {", ".join(VERSION_COLUMNS)}, $1 FROM staged
ON CONFLICT DO NOTHING
"""

ADD_DAILY_COUNTS = f"""
WITH staged AS (DELETE FROM stage_counts RETURNING *)
INSERT INTO daily_counts ({", ".join(COUNT_COLUMNS)})
SELECT {", ".join(COUNT_COLUMNS)} FROM staged
ON CONFLICT (province, day, subregion, category) DO UPDATE SET
    incidents = daily_counts.incidents + excluded.incidents,
    killed = daily_counts.killed + excluded.killed,
    injured = daily_counts.injured + excluded.injured
"""


async def lookup(driver: Any, keys: list[Key]) -> tuple[dict[Key, Stored], set[Key]]:
    """The stored state of `keys`: their incident rows and which have a recorded retraction."""
    if not keys:
        return {}, set()
    pairs = orjson.dumps([{"s": source, "i": id_} for source, id_ in keys]).decode()
    stored = {(r[0], r[1]): Stored(*r[2:]) for r in await driver.fetch(LOOKUP_STORED, pairs)}
    retracted = {(r[0], r[1]) for r in await driver.fetch(LOOKUP_RETRACTED, pairs)}
    return stored, retracted


async def apply(driver: Any, plan: Plan, now: datetime) -> None:
    """Upsert incidents, record versions, add daily-count deltas (the per-event writes).

    Incidents the database had no row for (`plan.fresh`, nearly every event of a live feed) are
    copied straight into `incidents` and `incident_versions`: under the ingest lock nothing else
    can have written them, so there is no conflict to handle, and PostgreSQL does what a bare
    COPY does. Corrections and duplicates of stored incidents take the staging tables and
    `ON CONFLICT`.
    """
    if not (plan.upserts or plan.versions or plan.deltas):
        return
    fresh = plan.fresh
    new_rows: list[tuple[Any, ...]] = []
    stored_rows: list[tuple[Any, ...]] = []
    for key, (i, retracted) in plan.upserts.items():
        row = (
            i.source,
            i.id,
            i.version,
            i.occurred_at,
            i.day,
            i.province,
            i.subregion,
            i.district,
            i.lat,
            i.lon,
            _VALUE[i.category],
            _VALUE[i.target] if i.target else None,
            i.perpetrator,
            i.killed,
            i.injured,
            i.summary,
            i.url,
            retracted,
            i.event_id,
        )
        if key in fresh:
            new_rows.append((*row, now, now))
        else:
            stored_rows.append(row)
    new_versions: list[tuple[Any, ...]] = []
    stored_versions: list[tuple[Any, ...]] = []
    for (source, id_, version), v in plan.versions.items():
        version_row = (source, id_, version, v.event_id, v.data)
        if (source, id_) in fresh:
            new_versions.append((*version_row, now))
        else:
            stored_versions.append(version_row)
    if new_rows:
        await driver.copy_records_to_table(
            "incidents", records=new_rows, columns=(*INCIDENT_COLUMNS, "received_at", "updated_at")
        )
    if new_versions:
        await driver.copy_records_to_table(
            "incident_versions", records=new_versions, columns=(*VERSION_COLUMNS, "received_at")
        )
    deltas = plan.nonzero_deltas()
    if not (stored_rows or stored_versions or deltas):
        return
    await driver.execute(STAGES)
    if stored_rows:
        await driver.copy_records_to_table(
            "stage_incidents", records=stored_rows, columns=INCIDENT_COLUMNS
        )
        await driver.execute(UPSERT_INCIDENTS, now)
    if stored_versions:
        await driver.copy_records_to_table(
            "stage_versions", records=stored_versions, columns=VERSION_COLUMNS
        )
        await driver.execute(INSERT_VERSIONS, now)
    if deltas:
        counts = [(*key, d.incidents, d.killed, d.injured) for key, d in deltas.items()]
        await driver.copy_records_to_table("stage_counts", records=counts, columns=COUNT_COLUMNS)
        await driver.execute(ADD_DAILY_COUNTS)


_VALUE: dict[Any, str] = {m: m.value for m in (*Category, *Target)}
