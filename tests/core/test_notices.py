"""Change notices on `incidents.accepted`, and the CloudEvents envelope they travel in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import orjson
import pytest

from services.core import cloudevents
from services.core.notices import NOTICE_SOURCE, NOTICE_TYPE, Notice

KARACHI = timezone(timedelta(hours=5))


@pytest.mark.parametrize(
    "notice",
    [
        pytest.param(
            Notice("PK-BA", "desk/quetta", "dawn-1", 1, "accepted", (date(2024, 3, 1),),
                   datetime(2024, 3, 1, 3, 30, tzinfo=UTC)),
            id="accepted-one-day",
        ),
        pytest.param(
            Notice("PK-KP", "desk/peshawar", "ctd-77", 4, "updated",
                   (date(2024, 2, 28), date(2024, 3, 1)), datetime(2024, 3, 1, 8, tzinfo=KARACHI)),
            id="updated-moved-day-karachi-offset",
        ),
        pytest.param(
            Notice("PK-SD", "gtd", "2024-0001-ü", 2, "retracted", (),
                   datetime(2023, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
            id="retracted-no-days-unicode-id",
        ),
    ],
)  # fmt: skip
def test_a_notice_survives_encode_and_decode(notice: Notice) -> None:
    decoded = Notice.decode(notice.encode())
    assert decoded == notice
    assert decoded.occurred_at.utcoffset() == notice.occurred_at.utcoffset()


def test_a_notice_is_a_cloudevent_about_its_province() -> None:
    notice = Notice("PK-PB", "desk/lahore", "n-1", 1, "accepted", (date(2024, 1, 2),),
                    datetime(2024, 1, 2, tzinfo=UTC))  # fmt: skip
    envelope = orjson.loads(notice.encode())

    assert envelope["specversion"] == "1.0"
    assert (envelope["type"], envelope["source"]) == (NOTICE_TYPE, NOTICE_SOURCE)
    assert envelope["subject"] == "PK-PB"
    assert envelope["datacontenttype"] == "application/json"
    assert envelope["data"]["days"] == ["2024-01-02"]
    assert datetime.fromisoformat(envelope["time"]).tzinfo is not None


def test_every_encoded_event_gets_its_own_id() -> None:
    first, second = (orjson.loads(cloudevents.encode("t", "s", {})) for _ in range(2))
    assert first["id"] != second["id"]


def test_explicit_id_time_and_subject_are_kept() -> None:
    at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    envelope = cloudevents.decode(
        cloudevents.encode(
            "alert.firing",
            "surgewatch/alerts",
            {"n": 1},
            subject="PK-BA",
            time=at,
            id_="alert-9-firing",
        )
    )
    assert envelope["id"] == "alert-9-firing"
    assert datetime.fromisoformat(envelope["time"]) == at
    assert (envelope["subject"], envelope["data"]) == ("PK-BA", {"n": 1})


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param(b"not json", ValueError, id="not-json"),
        pytest.param(b"[1, 2]", ValueError, id="not-an-object"),
        pytest.param(cloudevents.encode("t", "s", {"province": "PK-BA"}), KeyError, id="no-fields"),
    ],
)
def test_decoding_something_that_is_not_a_notice_raises(
    value: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        Notice.decode(value)


def test_a_notice_has_the_same_id_every_time_it_is_published() -> None:
    at = datetime(2024, 1, 2, tzinfo=UTC)
    notice = Notice("PK-PB", "desk/lahore", "n-1", 1, "accepted", (date(2024, 1, 2),), at)
    sent = datetime(2025, 1, 1, 12, tzinfo=UTC)
    first, again = (orjson.loads(notice.encode(sent)) for _ in range(2))
    assert first["id"] == again["id"] and first["time"] == "2025-01-01T12:00:00+00:00"
    others = {
        Notice("PK-SD", "desk/lahore", "n-1", 1, "accepted", (), at).event_id,
        Notice("PK-PB", "desk/lahore", "n-1", 2, "updated", (), at).event_id,
        Notice("PK-PB", "desk/lahore", "n-1", 2, "retracted", (), at).event_id,
        Notice("PK-PB", "desk/lahore", "n-2", 1, "accepted", (), at).event_id,
    }
    assert len(others | {first["id"]}) == 5
