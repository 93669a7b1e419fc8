"""`surgewatch replay` end to end against the real broker: what the summary says went out did."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import pytest

from services.cli import build_parser
from services.core.broker import free_port
from services.core.events import Incident, Retraction
from services.core.settings import Settings
from services.feeds import envelope
from services.feeds.demo import generate
from services.feeds.replay import replay_demo, replay_file, run
from tests.feeds.support import consume, final_state, parse_value

pytestmark = pytest.mark.integration

CSV = (
    "id,version,occurred_at,province,district,category,killed,injured\n"
    "c1,1,2024-03-01,Balochistan,Quetta,bombing,2,5\n"
    "c2,1,2024-03-02,Sindh,Karachi,armed_assault,1,0\n"
    "c3,1,2024-03-03,Narnia,,armed_assault,1,0\n"
    "c1,2,2024-03-01,Balochistan,Quetta,bombing,3,5\n"
    "c4,1,not-a-date,Punjab,,clash,0,0\n"
    "c5,1,2024-03-04,FATA,Khyber,clash,0,0\n"
    "c6,1,2024-03-05,KP\n"
)


async def test_a_file_is_published_and_every_message_parses(
    topics: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "incidents.csv"
    path.write_text(CSV)

    summary = await replay_file(topics, path, "csv", source="desk/test")

    assert summary.failure is None
    assert summary.published == 4
    assert dict(summary.skipped) == {"unknown_province": 1, "schema": 1, "malformed_row": 1}
    assert (summary.lines("unknown_province"), summary.lines("schema")) == ([4], [6])
    records = await consume(topics, summary.published)
    assert len(records) == summary.published
    parsed = [parse_value(r.value, r.headers) for r in records]
    for record, incident in zip(records, parsed, strict=True):
        assert isinstance(incident, Incident), incident
        assert record.key == f"desk/test\x1f{incident.id}".encode()
    assert final_state(parsed)[("desk/test", "c1")].killed == 3
    assert len({r.partition for r in records if r.key == b"desk/test\x1fc1"}) == 1


async def test_the_demo_feed_goes_out_whole(topics: Settings) -> None:
    expected = list(generate(5))

    summary = await replay_demo(topics, seed=5)

    assert summary.failure is None and summary.total_skipped == 0
    assert summary.published == len(expected)
    records = await consume(topics, len(expected))
    assert len(records) == len(expected)
    parsed = [parse_value(r.value, r.headers) for r in records]
    assert sum(isinstance(p, Retraction) for p in parsed) == 1
    state = final_state(parsed)
    assert len(state) == len(final_state(parse_value(envelope.encode(e)) for e in expected))
    assert sorted(r.value for r in records) == sorted(envelope.encode(e) for e in expected)


async def test_a_paced_replay_keeps_the_rate(topics: Settings, tmp_path: Path) -> None:
    path = tmp_path / "few.jsonl"
    path.write_text(
        "\n".join(
            f'{{"id": "p{n}", "occurred_at": "2024-01-01", "province": "ICT", "category": "other"}}'
            for n in range(11)
        )
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    summary = await replay_file(topics, path, "jsonl", rate=20)
    assert summary.published == 11
    assert loop.time() - started >= 0.45  # ten waits of 1/20 s after the first token
    assert len(await consume(topics, 11)) == 11


async def test_unreadable_input_exits_2_and_publishes_nothing(
    topics: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "gtd.csv"
    path.write_text("eventid,iyear\n1,2020\n")
    err = io.StringIO()
    args = build_parser().parse_args(["replay", str(path), "--format", "gtd"])
    assert await run(topics, args, out=io.StringIO(), err=err) == 2
    assert "missing column(s)" in err.getvalue() and "provstate" in err.getvalue()
    args = build_parser().parse_args(["replay", str(tmp_path / "absent.csv"), "--format", "csv"])
    assert await run(topics, args, out=io.StringIO(), err=io.StringIO()) == 2
    neither = build_parser().parse_args(["replay"])
    assert await run(topics, neither, out=io.StringIO(), err=io.StringIO()) == 2
    assert await consume(topics, 0, wait_s=0.5) == []


async def cli(env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *argv,
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_command_line_replays_a_gtd_file(topics: Settings, tmp_path: Path) -> None:
    path = tmp_path / "gtd.csv"
    path.write_text(
        "eventid,iyear,imonth,iday,provstate,city,latitude,longitude,attacktype1_txt,"
        "targtype1_txt,gname,nkill,nwound,summary\n"
        "201701010001,2017,1,0,Sindh,Karachi,24.86,67.0,Armed Assault,Police,Unknown,1,,\n"
        "201701020001,2017,0,0,Sindh,Karachi,24.86,67.0,Armed Assault,Police,Unknown,1,0,\n"
    )
    env = {
        "SURGEWATCH_KAFKA_BOOTSTRAP": str(topics.kafka_bootstrap),
        "SURGEWATCH_TOPIC_INCIDENTS": topics.topic_incidents,
    }
    code, out, err = await cli(env, "replay", str(path), "--format", "gtd")
    assert code == 0, err
    assert f"published 1 event(s) to {topics.topic_incidents}" in out
    assert "unknown_month: 1 — line(s) 3" in out
    assert "note: 1 event(s): approximate_day" in out and "casualties_unknown" in out
    (record,) = await consume(topics, 1)
    parsed = parse_value(record.value, record.headers)
    assert isinstance(parsed, Incident) and parsed.day.isoformat() == "2017-01-15"


async def test_the_command_line_exits_1_when_kafka_is_down(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(
        '{"id": "k", "occurred_at": "2024-01-01", "province": "KP", "category": "other"}\n'
    )
    env = {"SURGEWATCH_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    code, out, _ = await cli(env, "replay", str(path))
    assert code == 1
    assert "published 0 event(s)" in out and "FAILED: Kafka" in out
