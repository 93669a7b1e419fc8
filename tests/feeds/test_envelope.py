"""Envelopes: deterministic ids, keys, and wrapping of bare data objects."""

from __future__ import annotations

from datetime import UTC, datetime

from services.core.events import Incident, Retraction
from services.feeds import envelope
from tests.feeds.support import parse_value

DATA = {"id": "x1", "occurred_at": "2024-01-02", "province": "KP", "category": "bombing"}


def test_ids_are_deterministic_per_source_incident_version_and_type() -> None:
    first = envelope.reported("s", DATA)
    assert envelope.reported("s", dict(DATA))["id"] == first["id"]
    assert envelope.reported("s", {**DATA, "version": 2})["id"] != first["id"]
    assert envelope.reported("other", DATA)["id"] != first["id"]
    assert envelope.retracted("s", "x1")["id"] != first["id"]


def test_reported_and_retracted_parse_as_the_contract_says() -> None:
    at = datetime(2024, 1, 3, 4, 5, 6, 789, tzinfo=UTC)
    parsed = parse_value(envelope.encode(envelope.reported("desk", DATA, time=at)))
    assert isinstance(parsed, Incident)
    assert (parsed.source, parsed.id, parsed.event_time) == (
        "desk",
        "x1",
        at.replace(microsecond=0),
    )
    retraction = parse_value(envelope.encode(envelope.retracted("desk", "x1", "hoax")))
    assert isinstance(retraction, Retraction) and retraction.reason == "hoax"


def test_wrap_keeps_cloudevents_and_wraps_bare_data() -> None:
    event = envelope.reported("upstream", DATA)
    assert envelope.wrap(event, "ignored") is event
    wrapped = envelope.wrap(DATA, "desk")
    assert (wrapped["source"], wrapped["type"], wrapped["data"]) == (
        "desk",
        "incident.reported",
        DATA,
    )
    retraction = envelope.wrap({"id": "x1", "reason": "dup", "junk": 1}, "desk", retract=True)
    assert (retraction["type"], retraction["data"]) == (
        "incident.retracted",
        {"id": "x1", "reason": "dup"},
    )


def test_keys_group_an_incidents_versions() -> None:
    assert envelope.key(envelope.reported("desk", DATA)) == b"desk\x1fx1"
    assert envelope.key(envelope.reported("desk", {**DATA, "version": 3})) == b"desk\x1fx1"
    assert envelope.key({"source": "desk", "data": "nonsense"}) == b"desk\x1f"
