"""Our JSON lines: CloudEvents as they are, bare data objects wrapped, bad lines skipped."""

from __future__ import annotations

from pathlib import Path

import orjson

from services.core.events import Incident, Retraction
from services.feeds.importers import read_file
from tests.feeds.support import parse_value, prepared


def envelope(type_: str, data: dict[str, object], source: str = "upstream/x") -> dict[str, object]:
    return {"specversion": "1.0", "id": f"e-{data['id']}", "source": source, "type": type_,
            "data": data}  # fmt: skip


LINES = [
    orjson.dumps(envelope("incident.reported", {"id": "u1", "occurred_at": "2024-02-01",
                                                "province": "Balochistan", "category": "bombing"})),
    orjson.dumps({"id": "b1", "occurred_at": "2024-02-02", "province": "sind",
                  "category": "armed_assault", "killed": 2}),
    b"{not json",
    b"[1, 2]",
    b"   ",
    orjson.dumps(envelope("incident.retracted", {"id": "u1", "reason": "duplicate report"})),
    orjson.dumps({"id": "b2", "occurred_at": "2024-02-02", "province": "Mordor",
                  "category": "clash"}),
    orjson.dumps(envelope("incident.rumoured", {"id": "u2"})),
    b'{"id": "\xff\xfe"}',
]  # fmt: skip


def test_cloudevents_pass_as_they_are_and_bare_data_is_wrapped(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(LINES) + b"\n")

    sent, summary = prepared(read_file(path, "jsonl", source="desk/karachi"))

    parsed = [parse_value(m.value) for m in sent]
    assert [type(p) for p in parsed] == [Incident, Incident, Retraction]
    first, wrapped, retraction = parsed
    assert isinstance(first, Incident) and isinstance(wrapped, Incident)
    assert (first.source, first.id, first.event_id) == ("upstream/x", "u1", "e-u1")
    assert (wrapped.source, wrapped.province, wrapped.killed) == ("desk/karachi", "PK-SD", 2)
    assert isinstance(retraction, Retraction) and retraction.reason == "duplicate report"
    assert [m.line for m in sent] == [1, 2, 6]
    assert sent[1].key == b"desk/karachi\x1fb1"
    assert dict(summary.skipped) == {
        "invalid_json": 2,
        "invalid_envelope": 1,
        "unknown_province": 1,
        "unsupported_type": 1,
    }
    assert summary.lines("invalid_json") == [3, 9]
    assert summary.lines("invalid_envelope") == [4]
    assert summary.lines("unknown_province") == [7]
    assert summary.lines("unsupported_type") == [8]


def test_wrapped_lines_get_the_format_default_source(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(LINES[1])
    sent, _ = prepared(read_file(path, "jsonl"))
    parsed = parse_value(sent[0].value)
    assert isinstance(parsed, Incident) and parsed.source == "surgewatch/jsonl"


def test_replaying_the_same_line_twice_gives_the_same_event_id(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(LINES[1] + b"\n" + LINES[1] + b"\n")
    sent, _ = prepared(read_file(path, "jsonl"))
    assert sent[0].value == sent[1].value
