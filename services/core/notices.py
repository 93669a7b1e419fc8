"""The change notice ingest publishes to `incidents.accepted` (key = province code).

One notice per changed incident and affected province: the alerts service re-evaluates the
province for `days` (the days whose counts changed, late ones included). Duplicates produce no
notice. Notices are triggers, not data: the database stays the source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from services.core import cloudevents

NOTICE_TYPE = "surgewatch.incident.changed"
NOTICE_SOURCE = "surgewatch/ingest"

Change = Literal["accepted", "updated", "retracted"]


@dataclass(frozen=True, slots=True)
class Notice:
    province: str
    source: str
    id: str
    version: int
    change: Change
    days: tuple[date, ...]
    occurred_at: datetime  # the newest occurrence involved: drives the event-time clock

    def encode(self) -> bytes:
        return cloudevents.encode(
            NOTICE_TYPE,
            NOTICE_SOURCE,
            {
                "province": self.province,
                "source": self.source,
                "id": self.id,
                "version": self.version,
                "change": self.change,
                "days": [d.isoformat() for d in self.days],
                "occurred_at": self.occurred_at.isoformat(),
            },
            subject=self.province,
        )

    @classmethod
    def decode(cls, value: bytes) -> Notice:
        data = cloudevents.decode(value)["data"]
        return cls(
            province=data["province"],
            source=data["source"],
            id=data["id"],
            version=int(data["version"]),
            change=data["change"],
            days=tuple(date.fromisoformat(d) for d in data["days"]),
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
        )
