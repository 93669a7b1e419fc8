"""Rows as ingest and the alerts worker would write them, made directly for the api's tests.

`commit_offsets` stands for ingest's offset commit, which shares each batch's transaction: it is
what moves the api's change token when counts change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.core.db import make_sessionmaker
from services.core.models import (
    AlertRow,
    AlertTransitionRow,
    ConsumerOffsetRow,
    DailyCountRow,
    IncidentRow,
    IncidentVersionRow,
    RejectionRow,
    RetractionRow,
)

PKT = ZoneInfo("Asia/Karachi")


def today() -> date:
    return datetime.now(PKT).date()


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), PKT).astimezone(UTC)


class Rows:
    """Writes test rows through one engine, each call in its own transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = make_sessionmaker(engine)
        self.offset = 0

    async def _add(self, *rows: Any) -> None:
        async with self.sessions() as session, session.begin():
            session.add_all(rows)
            await self._commit_offsets(session)

    async def _commit_offsets(self, session: AsyncSession) -> None:
        self.offset += 1
        row = await session.get(ConsumerOffsetRow, ("surgewatch-ingest", "incidents", 0))
        now = datetime.now(UTC)
        if row is None:
            session.add(
                ConsumerOffsetRow(
                    group_id="surgewatch-ingest",
                    topic="incidents",
                    partition=0,
                    next_offset=self.offset,
                    updated_at=now,
                )
            )
        else:
            row.next_offset, row.updated_at = self.offset, now

    async def counts(
        self,
        province: str,
        day: date,
        incidents: int,
        killed: int = 0,
        injured: int = 0,
        *,
        subregion: str = "",
        category: str = "armed_assault",
    ) -> None:
        await self._add(
            DailyCountRow(
                province=province,
                day=day,
                subregion=subregion,
                category=category,
                incidents=incidents,
                killed=killed,
                injured=injured,
            )
        )

    async def daily(self, province: str, per_day: dict[date, tuple[int, int, int]]) -> None:
        """Many days of (incidents, killed, injured) for one province, in one transaction."""
        async with self.sessions() as session, session.begin():
            session.add_all(
                DailyCountRow(
                    province=province,
                    day=day,
                    subregion="",
                    category="armed_assault",
                    incidents=n,
                    killed=k,
                    injured=j,
                )
                for day, (n, k, j) in per_day.items()
            )
            await self._commit_offsets(session)

    async def incident(
        self,
        id: str,
        occurred_at: datetime,
        *,
        source: str = "test/desk",
        province: str = "PK-BA",
        subregion: str | None = None,
        category: str = "armed_assault",
        target: str | None = "security_forces",
        killed: int = 1,
        injured: int = 2,
        versions: int = 1,
        retracted: bool = False,
    ) -> None:
        now = datetime.now(UTC)
        rows: list[Any] = [
            IncidentRow(
                source=source,
                id=id,
                version=versions,
                occurred_at=occurred_at,
                day=occurred_at.astimezone(PKT).date(),
                province=province,
                subregion=subregion,
                district="Quetta",
                lat=None,
                lon=None,
                category=category,
                target=target,
                perpetrator="unknown",
                killed=killed,
                injured=injured,
                summary=f"incident {id}",
                url=None,
                retracted=retracted,
                event_id=f"ev-{id}-{versions}",
                received_at=now,
                updated_at=now,
            )
        ]
        rows += [
            IncidentVersionRow(
                source=source,
                id=id,
                version=v,
                event_id=f"ev-{id}-{v}",
                received_at=now,
                data={"id": id, "version": v, "killed": killed},
            )
            for v in range(1, versions + 1)
        ]
        if retracted:
            rows.append(
                RetractionRow(
                    source=source,
                    id=id,
                    reason="duplicate report",
                    event_id=f"rt-{id}",
                    retracted_at=now,
                )
            )
        await self._add(*rows)

    async def alert(
        self,
        province: str = "PK-BA",
        *,
        rule: str = "surge_ratio_4w",
        state: str = "firing",
        severity: str = "warning",
        observed: float = 12,
        expected: float = 4.5,
        started: datetime | None = None,
        resolved: datetime | None = None,
        fires: bool = True,
    ) -> int:
        """An alert with its transitions (pending, then firing, then resolved as its state says;
        `fires=False`: a resolved one that never fired)."""
        start = started or datetime.now(UTC) - timedelta(days=3)
        fired = start + timedelta(days=2) if state in ("firing", "resolved") and fires else None
        async with self.sessions() as session, session.begin():
            row = AlertRow(
                rule=rule,
                method="ratio",
                metric="incidents",
                province=province,
                state=state,
                severity=severity,
                window="7d",
                started_at=start,
                fired_at=fired,
                resolved_at=resolved if state == "resolved" else None,
                last_true_at=start,
                observed=observed,
                expected=expected,
                threshold=expected * 2,
                score=observed / expected,
                p_value=None,
                baseline_start=start.date() - timedelta(days=35),
                baseline_end=start.date() - timedelta(days=7),
                explanation={"ratio": observed / expected, "baseline_weeks": 4},
                updated_at=datetime.now(UTC),
            )
            session.add(row)
            await session.flush()
            steps: list[tuple[str | None, str, datetime]] = [(None, "pending", start)]
            if fired:
                steps.append(("pending", "firing", fired))
            if state == "resolved":
                steps.append((steps[-1][1], "resolved", resolved or fired or start))
            for old, new, when in steps:
                session.add(self._transition(row.id, old, new, when))
            return row.id

    @staticmethod
    def _transition(alert_id: int, old: str | None, new: str, at: datetime) -> AlertTransitionRow:
        return AlertTransitionRow(
            alert_id=alert_id,
            from_state=old,
            to_state=new,
            at=at,
            recorded_at=datetime.now(UTC),
            details={},
        )

    async def transition(self, alert_id: int, old: str, new: str) -> int:
        """A transition as the alerts worker writes it; returns its seq."""
        now = datetime.now(UTC)
        async with self.sessions() as session, session.begin():
            alert = await session.get(AlertRow, alert_id)
            assert alert is not None
            alert.state, alert.updated_at = new, now
            if new == "resolved":
                alert.resolved_at = now
            row = self._transition(alert_id, old, new, now)
            session.add(row)
            await session.flush()
            return row.seq

    async def transitions(self, alert_id: int, count: int, *, note_bytes: int = 0) -> int:
        """`count` firing → firing transitions in one insert (a note of `note_bytes` each, to make
        the stream's frames as big as wanted); returns the last seq."""
        now = datetime.now(UTC)
        rows = [
            {
                "alert_id": alert_id,
                "from_state": "firing",
                "to_state": "firing",
                "at": now,
                "recorded_at": now,
                "details": {"note": "x" * note_bytes},
            }
            for _ in range(count)
        ]
        async with self.sessions() as session, session.begin():
            await session.execute(insert(AlertTransitionRow), rows)
        return await self.max_seq()

    async def rejection(self, reason: str, offset: int, raw: bytes | None = b"{oops") -> None:
        await self._add(
            RejectionRow(
                topic="incidents",
                partition=0,
                offset=offset,
                reason=reason,
                detail=f"{reason}: detail",
                raw=raw,
                headers={"content-type": "application/json"},
                received_at=datetime.now(UTC),
            )
        )

    async def max_seq(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.max(AlertTransitionRow.seq))) or 0)
