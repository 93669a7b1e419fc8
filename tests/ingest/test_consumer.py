"""The ingest consumer against the real broker and both real databases."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer
from confluent_kafka import Producer
from sqlalchemy import func, select, update

from services.core.kafka import client_options, ensure_topics
from services.core.models import ConsumerOffsetRow, IncidentVersionRow, RejectionRow
from services.core.notices import Notice
from services.core.settings import Settings
from tests.support import events
from tests.support.ingest import (
    count_incidents,
    daily_totals,
    eventually,
    publish,
    recount,
    running_ingest,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    settings = make_settings(database_url=database_url)
    await ensure_topics(settings)
    return settings


async def consume_all(settings: Settings, topic: str, expected: int, within: float = 20):
    consumer = AIOKafkaConsumer(
        topic, **client_options(settings), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records = []
    try:
        async with asyncio.timeout(within):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for part in batch.values():
                    records.extend(part)
        await asyncio.sleep(0.5)  # anything beyond the expected count?
        for part in (await consumer.getmany(timeout_ms=500)).values():
            records.extend(part)
    finally:
        await consumer.stop()
    return records


async def test_events_from_aiokafka_and_confluent_kafka_land_exactly_once(settings) -> None:
    await publish(settings, [events.structured(f"a{i}", killed=1) for i in range(300)])
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all"})
    for i in range(300):
        value, headers = events.binary(f"c{i}", province="KPK", injured=2)
        producer.produce(settings.topic_incidents, value, key=f"c{i}".encode(), headers=headers)
    # the same 300 again, as an outside publisher retrying: duplicates, not new incidents
    for i in range(300):
        value, headers = events.binary(f"c{i}", province="KPK", injured=2)
        producer.produce(settings.topic_incidents, value, key=f"c{i}".encode(), headers=headers)
    assert producer.flush(20) == 0

    async with running_ingest(settings) as ingest:

        async def done() -> bool:
            return ingest.events("duplicate") == 300

        await eventually(done, what="all 900 messages handled")
        assert await count_incidents(ingest.engine) == 600
        assert ingest.events("accepted") == 600
        totals = await daily_totals(ingest.engine)
        assert totals == {
            ("PK-BA", "2024-03-01"): (300, 300, 0),
            ("PK-KP", "2024-03-01"): (300, 0, 600),
        }
        assert totals == await recount(ingest.engine)
        async with ingest.engine.connect() as conn:
            stored = await conn.execute(
                select(func.sum(ConsumerOffsetRow.next_offset)).where(
                    ConsumerOffsetRow.topic == settings.topic_incidents
                )
            )
            assert stored.scalar_one() == 900
    notices = await consume_all(settings, settings.topic_accepted, 600)
    assert len(notices) == 600
    decoded = [Notice.decode(r.value) for r in notices]
    assert {r.key for r in notices} == {b"PK-BA", b"PK-KP"}
    assert all(n.change == "accepted" for n in decoded)


async def test_duplicates_corrections_retractions_and_late_events(settings) -> None:
    values = [
        events.structured("x", killed=2),  # new: BA 03-01 +1, killed 2
        events.structured("x", killed=2),  # duplicate
        events.structured("x", version=3, killed=5, injured=1),  # correction
        events.structured("x", version=2, killed=9),  # late older version: duplicate
        events.structured("y", occurred_at="2023-06-30", province="Sind"),  # late (past day)
        events.retraction("y", reason="misreported"),  # removes y
        events.retraction("z"),  # unknown yet: recorded
        events.structured("z", province="ICT"),  # after its retraction: stays out
        events.structured("w", province="FATA", occurred_at="2024-03-01T20:00:00Z"),
    ]
    await publish(settings, values)
    async with running_ingest(settings) as ingest:

        async def done() -> bool:
            return sum(
                ingest.events(r) for r in ("accepted", "duplicate", "updated", "retracted")
            ) == len(values)

        await eventually(done, what="all messages handled")
        assert ingest.events("accepted") == 3  # x, y, w
        assert ingest.events("updated") == 1
        assert ingest.events("duplicate") == 2
        assert ingest.events("retracted") == 3  # y retracted, z recorded, z report kept out
        totals = await daily_totals(ingest.engine)
        assert totals == {
            ("PK-BA", "2024-03-01"): (1, 5, 1),
            ("PK-KP", "2024-03-02"): (1, 0, 0),  # 20:00Z is the next day in Karachi
        }
        assert totals == await recount(ingest.engine)
        assert await count_incidents(ingest.engine) == 4
        assert await count_incidents(ingest.engine, live_only=True) == 2
        async with ingest.engine.connect() as conn:
            versions = await conn.execute(
                select(IncidentVersionRow.version)
                .where(IncidentVersionRow.id == "x")
                .order_by(IncidentVersionRow.version)
            )
            assert [v for (v,) in versions] == [1, 2, 3]


BAD = {
    "too_large": lambda i: events.structured(f"big{i}", summary="x" * 70_000),
    "invalid_json": lambda i: b"{not json" + str(i).encode(),
    "invalid_envelope": lambda i: b'{"specversion": "0.3", "id": "%d"}' % i,
    "schema": lambda i: events.structured(f"s{i}", killed="many"),
    "unknown_province": lambda i: events.structured(f"u{i}", province="Atlantis"),
    "out_of_range": lambda i: events.structured(f"o{i}", killed=10_001),
    "unsupported_type": lambda i: events.structured(f"t{i}").replace(
        b"incident.reported", b"incident.liked"
    ),
}


async def test_mix_of_good_and_bad_messages(settings) -> None:
    reasons = list(BAD)
    values: list[bytes] = []
    expected_reasons: dict[int, str] = {}
    bad_count = 0
    for i in range(1200):
        if i % 6 == 5:
            reason = reasons[bad_count % len(reasons)]
            values.append(BAD[reason](i))
            expected_reasons[i] = reason
            bad_count += 1
        else:
            values.append(events.structured(f"g{i}"))
    assert bad_count == 200
    await publish(settings, values)
    async with running_ingest(settings) as ingest:

        async def done() -> bool:
            return (
                ingest.events("accepted") == 1000
                and sum(ingest.events("rejected", r) for r in reasons) == 200
            )

        await eventually(done, what="1000 accepted and 200 rejected")
        assert ingest.consumer.running
        assert await count_incidents(ingest.engine) == 1000
        for reason in reasons:
            expected = sum(1 for r in expected_reasons.values() if r == reason)
            assert ingest.events("rejected", reason) == expected, reason
        async with ingest.engine.connect() as conn:
            stored = await conn.execute(select(func.count()).select_from(RejectionRow))
            assert stored.scalar_one() == 200
    dlq = await consume_all(settings, settings.topic_dlq, 200)
    assert len(dlq) == 200
    by_key = {int(r.key): r for r in dlq}
    for i, reason in expected_reasons.items():
        record = by_key[i]
        headers = dict(record.headers)
        assert headers["error.reason"].decode() == reason
        assert headers["error.detail"]
        assert headers["source.topic"].decode() == settings.topic_incidents
        assert int(headers["source.offset"]) >= 0
        assert record.value == values[i]  # unchanged


async def test_restart_resumes_from_the_database_offsets(settings) -> None:
    await publish(settings, [events.structured(f"r{i}") for i in range(200)])
    async with running_ingest(settings) as ingest:
        await eventually(lambda: _is(ingest.events("accepted"), 200), what="first 200")
    await publish(settings, [events.structured(f"r{i}") for i in range(200, 300)])
    async with running_ingest(settings) as ingest:
        await eventually(lambda: _is(ingest.events("accepted"), 100), what="next 100")
        await asyncio.sleep(1)
        assert ingest.events("duplicate") == 0  # nothing read twice
        assert await count_incidents(ingest.engine) == 300


async def test_offset_beyond_the_log_is_reset_loudly_without_double_counting(settings) -> None:
    await publish(settings, [events.structured(f"l{i}") for i in range(50)])
    async with running_ingest(settings) as ingest:
        await eventually(lambda: _is(ingest.events("accepted"), 50), what="50 stored")
    # The broker "lost its data": the DB says we are far beyond the log's end.
    async with ingest.engine.begin() as conn:
        await conn.execute(
            update(ConsumerOffsetRow)
            .where(ConsumerOffsetRow.topic == settings.topic_incidents)
            .values(next_offset=10_000, updated_at=datetime.now(UTC))
        )
    async with running_ingest(settings) as ingest:
        await eventually(lambda: _is(ingest.events("duplicate"), 50), what="log re-read")
        resets = ingest.metrics.registry.get_sample_value(
            "surgewatch_ingest_offset_resets_total", {"topic": settings.topic_incidents}
        )
        assert resets and resets >= 1
        assert ingest.events("accepted") == 0
        assert await count_incidents(ingest.engine) == 50
        assert await daily_totals(ingest.engine) == await recount(ingest.engine)


async def _is(value: float, expected: float) -> bool:
    return value == expected


async def test_a_restart_never_fetches_before_seeking_to_the_database(settings) -> None:
    await publish(settings, [events.structured(f"q{i}") for i in range(100)])
    async with running_ingest(settings) as ingest:
        await eventually(lambda: _is(ingest.events("accepted"), 100), what="100 stored")
    await publish(settings, [events.structured(f"q{i}") for i in range(100, 110)])
    async with running_ingest(settings) as ingest:
        await eventually(lambda: _is(ingest.events("accepted"), 10), what="10 more")
        fenced = ingest.metrics.registry.get_sample_value("surgewatch_ingest_fenced_batches_total")
        assert fenced == 0


POISON_TRIGGER = {
    "postgresql": [
        """CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger AS $$
           BEGIN
             IF NEW.district = 'POISON' THEN
               RAISE EXCEPTION 'district POISON is refused' USING ERRCODE = '22023';
             END IF;
             RETURN NEW;
           END $$ LANGUAGE plpgsql""",
        "DROP TRIGGER IF EXISTS refuse_poison ON incidents",
        """CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON incidents
           FOR EACH ROW EXECUTE FUNCTION refuse_poison()""",
    ],
    "sqlite": [
        "DROP TRIGGER IF EXISTS refuse_poison",
        """CREATE TRIGGER refuse_poison BEFORE INSERT ON incidents
           WHEN NEW.district = 'POISON'
           BEGIN SELECT RAISE(ABORT, 'district POISON is refused'); END""",
    ],
}


async def test_a_message_the_database_refuses_goes_to_the_dlq_and_stops_nothing(settings) -> None:
    """A rule of the database that `parse` does not know (here a trigger) must not stall the
    partition: the batch is bisected, the refused message is rejected, the rest is stored."""
    from sqlalchemy import text

    from services.core.db import make_engine

    engine = make_engine(settings, writer=True)
    try:
        async with engine.begin() as conn:
            for statement in POISON_TRIGGER[engine.dialect.name]:
                await conn.execute(text(statement))
        values = [events.structured(f"p{i}") for i in range(300)]
        values.insert(137, events.structured("bad", district="POISON"))
        await publish(settings, values)
        async with running_ingest(settings) as ingest:
            await eventually(
                lambda: _is(ingest.events("rejected", "schema"), 1), what="the refused message"
            )
            await eventually(lambda: _is(ingest.events("accepted"), 300), what="the other 300")
            assert await count_incidents(ingest.engine) == 300
            assert ingest.consumer.running
            async with ingest.engine.connect() as conn:
                rows = await conn.execute(select(RejectionRow.detail, RejectionRow.offset))
                [(detail, offset)] = list(rows)
            assert "refused by the database" in detail and "POISON" in detail
        dlq = await consume_all(settings, settings.topic_dlq, 1)
        assert [dict(r.headers)["error.reason"] for r in dlq] == [b"schema"]
        assert int(dict(dlq[0].headers)["source.offset"]) == offset
    finally:
        async with engine.begin() as conn:
            drop = "DROP TRIGGER IF EXISTS refuse_poison"
            await conn.execute(
                text(drop + (" ON incidents" if engine.dialect.name != "sqlite" else ""))
            )
        await engine.dispose()


async def test_rejections_are_marked_published_and_a_lost_dlq_copy_is_relayed(settings) -> None:
    """`rejections` is the DLQ's outbox: a crash between the commit and the publish leaves a row
    unpublished, and ingest relays it."""
    from datetime import timedelta

    await publish(settings, [b"not json", events.structured("ok")])
    async with running_ingest(settings) as ingest:
        await eventually(lambda: _is(ingest.events("accepted"), 1), what="the good one")

        async def marked() -> bool:
            async with ingest.engine.connect() as conn:
                rows = await conn.execute(select(RejectionRow.published_at, RejectionRow.key))
                return [(p is not None, k) for p, k in rows] == [(True, b"0")]

        await eventually(marked, what="the rejection marked published, with its key")
        # Now the crash: a stored rejection that never reached the topic.
        long_ago = datetime.now(UTC) - timedelta(minutes=5)
        async with ingest.engine.begin() as conn:
            await conn.execute(
                RejectionRow.__table__.insert().values(
                    topic=settings.topic_incidents,
                    partition=2,
                    offset=999,
                    reason="invalid_json",
                    detail="not JSON: lost in a crash",
                    raw=b"{lost",
                    headers={"h": "v"},
                    received_at=long_ago,
                    key=b"k-lost",
                    published_at=None,
                )
            )
        assert await ingest.consumer.relay_dlq() == 1
        assert await ingest.consumer.relay_dlq() == 0  # marked: not relayed twice
    dlq = await consume_all(settings, settings.topic_dlq, 2)
    relayed = [r for r in dlq if r.key == b"k-lost"]
    assert len(relayed) == 1 and relayed[0].value == b"{lost"
    headers = dict(relayed[0].headers)
    assert headers["error.reason"] == b"invalid_json" and headers["h"] == b"v"
    assert headers["source.offset"] == b"999"
