"""The incident event contract (DESIGN.md "Incident event"): what `parse` turns a message into.

The records are frozen msgspec `Struct`s, not dataclasses: ingest makes several per message, and
a Struct is made in a third of a frozen dataclass's time and is not tracked by the collector.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum

from msgspec import Struct


class Category(StrEnum):
    armed_assault = "armed_assault"
    bombing = "bombing"
    suicide_bombing = "suicide_bombing"
    targeted_killing = "targeted_killing"
    kidnapping = "kidnapping"
    cross_border_attack = "cross_border_attack"
    sabotage = "sabotage"
    clash = "clash"
    security_operation = "security_operation"
    other = "other"


class Target(StrEnum):
    security_forces = "security_forces"
    civilians = "civilians"
    government = "government"
    foreign_nationals = "foreign_nationals"
    infrastructure = "infrastructure"
    religious = "religious"
    political = "political"
    education = "education"
    media = "media"
    other = "other"


class RejectReason(StrEnum):
    """The `error.reason` header of a DLQ message; one value per way an event can be bad."""

    too_large = "too_large"
    invalid_json = "invalid_json"
    invalid_envelope = "invalid_envelope"
    schema = "schema"
    unknown_province = "unknown_province"
    out_of_range = "out_of_range"
    unsupported_type = "unsupported_type"


REPORTED = "incident.reported"
RETRACTED = "incident.retracted"
MAX_MESSAGE_BYTES = 64 * 1024
MAX_CASUALTIES = 10_000


class RawMessage(Struct, frozen=True, gc=False):
    """A message as it came off the wire (Kafka record or HTTP body), before any checking."""

    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()
    topic: str = ""
    partition: int = -1
    offset: int = -1


class Incident(Struct, frozen=True, gc=False):
    """A valid `incident.reported` event. (`source`, `id`) identifies it; `version` orders it."""

    source: str
    id: str
    version: int
    occurred_at: datetime  # UTC
    day: date  # the date in the gazetteer's time zone: what daily counts are keyed by
    province: str  # region code
    subregion: str | None
    category: Category
    killed: int
    injured: int
    event_id: str
    data: str  # the event's `data` as published (JSON text): the version history keeps it
    district: str | None = None
    lat: float | None = None
    lon: float | None = None
    target: Target | None = None
    perpetrator: str | None = None
    summary: str | None = None
    url: str | None = None
    event_time: datetime | None = None


class Retraction(Struct, frozen=True, gc=False):
    """A valid `incident.retracted` event: removes (`source`, `id`) from every count, for good."""

    source: str
    id: str
    event_id: str
    reason: str | None = None
    event_time: datetime | None = None


class Rejection(Struct, frozen=True, gc=False):
    """Why a message was refused; the message itself goes to the DLQ unchanged."""

    reason: RejectReason
    detail: str


Parsed = Incident | Retraction | Rejection


class InvalidMessage(Exception):
    """The one exception for bad input inside `parse`; it never escapes `parse`."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
