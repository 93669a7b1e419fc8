"""`surgewatch publish` end to end against the real broker: flags, stdin, retraction, failures."""

from __future__ import annotations

import io
from collections.abc import Callable

import orjson
import pytest

from services.cli import build_parser
from services.core.broker import free_port
from services.core.events import Incident, Rejection, Retraction
from services.core.settings import Settings
from services.feeds import envelope
from services.feeds.publish import run
from tests.feeds.support import consume, parse_value

pytestmark = pytest.mark.integration


async def publish(settings: Settings, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(["publish", *argv])
    code = await run(settings, args, io.StringIO(stdin) if stdin is not None else None, out, err)
    return code, out.getvalue().strip(), err.getvalue()


async def test_flags_publish_one_incident_and_print_its_event_id(topics: Settings) -> None:
    code, out, err = await publish(
        topics,
        "--province", "Khyber Pakhtunkhwa", "--category", "bombing", "--occurred-at", "2024-05-01",
        "--district", "Bannu", "--killed", "2", "--lat", "32.99", "--lon", "70.6", "--id", "f1",
    )  # fmt: skip
    assert (code, err) == (0, "")
    (record,) = await consume(topics, 1)
    incident = parse_value(record.value, record.headers)
    assert isinstance(incident, Incident)
    assert (incident.event_id, incident.source, incident.id) == (out, "surgewatch/cli", "f1")
    assert (incident.province, incident.district, incident.killed) == ("PK-KP", "Bannu", 2)
    assert (incident.lat, incident.lon) == (32.99, 70.6)
    assert incident.event_time is not None
    assert record.key == b"surgewatch/cli\x1ff1"


async def test_stdin_takes_bare_data_or_a_cloudevent_and_retract_takes_an_id(
    topics: Settings,
) -> None:
    data = {"id": "s1", "occurred_at": "2024-05-02", "province": "Sind", "category": "clash"}
    cloudevent = envelope.reported("upstream/x", {**data, "id": "s2"})
    codes = [
        await publish(topics, "--source", "desk/a", stdin=orjson.dumps(data).decode()),
        await publish(topics, stdin=orjson.dumps(cloudevent).decode()),
        await publish(topics, "--source", "desk/a", "--retract", "--id", "s1", "--reason", "hoax"),
        await publish(topics, "--source", "desk/a", "--retract", stdin='{"id": "s3"}'),
    ]
    assert [c for c, _, _ in codes] == [0, 0, 0, 0], codes
    records = await consume(topics, 4)
    events = [parse_value(r.value, r.headers) for r in records]
    parsed = {(p.source, p.id, type(p).__name__): p for p in events if not isinstance(p, Rejection)}
    assert len(parsed) == len(records)
    assert set(parsed) == {
        ("desk/a", "s1", "Incident"),
        ("upstream/x", "s2", "Incident"),
        ("desk/a", "s1", "Retraction"),
        ("desk/a", "s3", "Retraction"),
    }
    retraction = parsed[("desk/a", "s1", "Retraction")]
    assert isinstance(retraction, Retraction) and retraction.reason == "hoax"
    forwarded = parsed[("upstream/x", "s2", "Incident")]
    assert forwarded.event_id == cloudevent["id"] == codes[1][1]


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["--province", "Gondor", "--category", "clash", "--occurred-at", "2024-01-01"], None,
         "rejected (unknown_province)"),
        (["--province", "KP", "--category", "clash"], None, "rejected (schema): data.occurred_at"),
        (["--province", "KP", "--retract"], None, "--retract needs --id"),
        ([], None, "give the incident as flags"),
        ([], "{oops", "stdin is not JSON"),
        ([], "[1]", "one JSON object"),
    ],
)  # fmt: skip
async def test_bad_input_exits_2_and_publishes_nothing(
    topics: Settings, argv: list[str], stdin: str | None, message: str
) -> None:
    code, out, err = await publish(topics, *argv, stdin=stdin)
    assert (code, out) == (2, "")
    assert message in err


async def test_nothing_reaches_the_topic_after_bad_input(topics: Settings) -> None:
    await publish(
        topics, "--province", "Gondor", "--category", "clash", "--occurred-at", "2024-01-01"
    )
    assert await consume(topics, 0, wait_s=0.5) == []


async def test_kafka_down_exits_1(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    code, out, err = await publish(
        settings, "--province", "KP", "--category", "clash", "--occurred-at", "2024-01-01"
    )
    assert (code, out) == (1, "")
    assert "Kafka failed" in err
