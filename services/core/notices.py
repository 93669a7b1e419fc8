"""The change notice ingest publishes to `incidents.accepted` (key = province code).

One notice per changed incident and affected province: the alerts service re-evaluates the
province for `days` (the days whose counts changed, late ones included). Duplicates produce no
notice. Notices are triggers, not data: the database stays the source of truth.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from msgspec import Struct

from services.core import cloudevents

NOTICE_TYPE = "surgewatch.incident.changed"
NOTICE_SOURCE = "surgewatch/ingest"

Change = Literal["accepted", "updated", "retracted"]


class Notice(Struct, frozen=True, gc=False):
    province: str
    source: str
    id: str
    version: int
    change: Change
    days: tuple[date, ...]
    occurred_at: datetime  # the newest occurrence involved: drives the event-time clock

    @property
    def event_id(self) -> str:
        """The CloudEvents id: the same change published twice (after a crash) is one event, so
        a consumer may drop the repeat; no two different changes share it."""
        return f"{self.province}:{self.change}:{self.version}:{self.source}/{self.id}"

    def encode(self, time: datetime | None = None) -> bytes:
        """The notice as a CloudEvent; `time` (default now) lets a batch stamp all at once."""
        return cloudevents.encode(
            NOTICE_TYPE,
            NOTICE_SOURCE,
            {
                "province": self.province,
                "source": self.source,
                "id": self.id,
                "version": self.version,
                "change": self.change,
                "days": self.days,  # orjson writes dates and datetimes as RFC 3339
                "occurred_at": self.occurred_at,
            },
            subject=self.province,
            time=time,
            id_=self.event_id,
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
