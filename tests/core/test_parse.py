"""`parse` against DESIGN.md's "Incident event" and "Regions" sections, case by case.

Every data-level case runs in both CloudEvents modes: structured (the envelope is the value) and
binary (`ce_*` headers, `data` as the value); the two must give the same answer. And every test
runs twice: as `parse` runs (the msgspec fast path first for well-typed structured reports) and
with the fast path switched off (the field-by-field checks alone), so both meet every case.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.core import parse as parse_module
from services.core.events import (
    MAX_MESSAGE_BYTES,
    Category,
    Incident,
    RawMessage,
    Rejection,
    RejectReason,
    Retraction,
    Target,
)
from services.core.gazetteer import Gazetteer, load_gazetteer
from services.core.parse import parse
from services.core.parse_fast import decode_reported

R = RejectReason
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
GAZ: Gazetteer = load_gazetteer()
MODES = ("structured", "binary")
DROP = object()  # a table value meaning "leave this field out"


@pytest.fixture(autouse=True, params=["fast-path", "checks-only"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test as `parse` runs, then with the fast path switched off."""
    if request.param == "checks-only":
        monkeypatch.setattr(parse_module, "decode_reported", lambda *_: None)
    return str(request.param)


def event_data(**changes: Any) -> dict[str, Any]:
    """A valid `data` for incident.reported, with `changes` applied (DROP removes a field)."""
    data: dict[str, Any] = {
        "id": "dawn-2024-0001",
        "occurred_at": "2024-03-01T08:30:00+05:00",
        "province": "Balochistan",
        "category": "bombing",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not DROP}


def envelope(data: Any = DROP, **changes: Any) -> dict[str, Any]:
    """A CloudEvents 1.0 envelope around `data` (a valid incident's unless given)."""
    env: dict[str, Any] = {
        "specversion": "1.0",
        "id": "evt-0001",
        "source": "desk/quetta",
        "type": "incident.reported",
        "data": event_data() if data is DROP else data,
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v is not DROP}


def structured(env: dict[str, Any]) -> RawMessage:
    return RawMessage(
        orjson.dumps(env), headers=[("content-type", b"application/cloudevents+json")]
    )


def binary(env: dict[str, Any], content_type: bytes = b"application/json") -> RawMessage:
    headers = [(f"ce_{k}", str(v).encode()) for k, v in env.items() if k != "data"]
    return RawMessage(orjson.dumps(env["data"]), headers=[*headers, ("content-type", content_type)])


def as_message(mode: str, env: dict[str, Any]) -> RawMessage:
    return structured(env) if mode == "structured" else binary(env)


def parse_both(env: dict[str, Any]) -> Incident | Retraction | Rejection:
    """Parse `env` in both modes, insist they agree, and return the (common) answer."""
    first, second = (parse(as_message(mode, env), GAZ, NOW) for mode in MODES)
    assert first == second, f"structured gave {first}, binary gave {second}"
    return first


def padded(message: bytes, size: int) -> bytes:
    """The same JSON, grown to exactly `size` bytes with insignificant whitespace."""
    assert len(message) <= size
    return message + b" " * (size - len(message))


def reject(result: object, reason: RejectReason, detail: str) -> None:
    assert isinstance(result, Rejection), f"expected {reason}, got {result}"
    assert result.reason == reason, result.detail
    assert detail in result.detail


# --- accepted events -------------------------------------------------------------------------


def test_a_full_incident_is_read_field_by_field_the_same_in_both_modes() -> None:
    data = event_data(
        version=3,
        district="Quetta",
        location={"lat": 30.18, "lon": 66.99},
        category="suicide_bombing",
        target="security_forces",
        perpetrator="BLA",
        killed=12,
        injured=30,
        summary="Attack on a convoy.",
        url="https://example.org/report",
    )
    result = parse_both(envelope(data, time="2024-03-01T04:00:00Z"))

    assert result == Incident(
        source="desk/quetta",
        id="dawn-2024-0001",
        version=3,
        occurred_at=datetime(2024, 3, 1, 3, 30, tzinfo=UTC),
        day=date(2024, 3, 1),
        province="PK-BA",
        subregion=None,
        category=Category.suicide_bombing,
        killed=12,
        injured=30,
        event_id="evt-0001",
        data=orjson.dumps(data).decode(),  # as published
        district="Quetta",
        lat=30.18,
        lon=66.99,
        target=Target.security_forces,
        perpetrator="BLA",
        summary="Attack on a convoy.",
        url="https://example.org/report",
        event_time=datetime(2024, 3, 1, 4, 0, tzinfo=UTC),
    )


def test_optional_fields_take_their_defaults() -> None:
    result = parse_both(envelope())

    assert isinstance(result, Incident)
    assert (result.version, result.killed, result.injured) == (1, 0, 0)
    assert (result.district, result.lat, result.lon, result.target) == (None, None, None, None)
    assert (result.perpetrator, result.summary, result.url, result.event_time) == (None,) * 4


@pytest.mark.parametrize(
    "category",
    [
        "armed_assault",
        "bombing",
        "suicide_bombing",
        "targeted_killing",
        "kidnapping",
        "cross_border_attack",
        "sabotage",
        "clash",
        "security_operation",
        "other",
    ],
)
def test_every_category_in_the_contract_is_accepted(category: str) -> None:
    result = parse_both(envelope(event_data(category=category)))
    assert isinstance(result, Incident) and result.category == category


@pytest.mark.parametrize(
    "target",
    [
        "security_forces",
        "civilians",
        "government",
        "foreign_nationals",
        "infrastructure",
        "religious",
        "political",
        "education",
        "media",
        "other",
    ],
)
def test_every_target_in_the_contract_is_accepted(target: str) -> None:
    result = parse_both(envelope(event_data(target=target)))
    assert isinstance(result, Incident) and result.target == target


@pytest.mark.parametrize(
    ("name", "province", "subregion"),
    [
        pytest.param("PK-KP", "PK-KP", None, id="code"),
        pytest.param(" kpk ", "PK-KP", None, id="alias-padded"),
        pytest.param("KHYBER-PAKHTUNKHWA", "PK-KP", None, id="name-upper-hyphen"),
        pytest.param("FATA", "PK-KP", "PK-TA", id="fata"),
        pytest.param("Federally Administered Tribal Areas", "PK-KP", "PK-TA", id="fata-name"),
        pytest.param("pk-ta", "PK-KP", "PK-TA", id="fata-code"),
        pytest.param("Sind", "PK-SD", None, id="sind"),
    ],
)
def test_province_is_stored_as_its_code_with_the_subregion_kept(
    name: str, province: str, subregion: str | None
) -> None:
    result = parse_both(envelope(event_data(province=name)))
    assert isinstance(result, Incident)
    assert (result.province, result.subregion) == (province, subregion)


def test_a_structured_event_needs_no_content_type_header() -> None:
    result = parse(RawMessage(orjson.dumps(envelope())), GAZ, NOW)
    assert isinstance(result, Incident)


def test_binary_mode_headers_are_matched_case_insensitively() -> None:
    env = envelope()
    headers = [(f"CE_{k.upper()}", str(v).encode()) for k, v in env.items() if k != "data"]
    result = parse(RawMessage(orjson.dumps(env["data"]), headers=headers), GAZ, NOW)
    assert result == parse(structured(env), GAZ, NOW)


# --- boundaries that are still inside the contract ------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        pytest.param({"killed": 0}, "killed", 0, id="killed-0"),
        pytest.param({"killed": 10_000}, "killed", 10_000, id="killed-10000"),
        pytest.param({"injured": 0}, "injured", 0, id="injured-0"),
        pytest.param({"injured": 10_000}, "injured", 10_000, id="injured-10000"),
        pytest.param({"version": 1}, "version", 1, id="version-1"),
        pytest.param({"id": "i" * 128}, "id", "i" * 128, id="id-128"),
        pytest.param({"id": "x"}, "id", "x", id="id-1"),
        pytest.param({"district": "d" * 100}, "district", "d" * 100, id="district-100"),
        pytest.param({"perpetrator": "p" * 100}, "perpetrator", "p" * 100, id="perpetrator-100"),
        pytest.param({"summary": "s" * 4000}, "summary", "s" * 4000, id="summary-4000"),
        pytest.param(
            {"occurred_at": (NOW + timedelta(days=1)).isoformat()},
            "occurred_at",
            NOW + timedelta(days=1),
            id="occurred-exactly-a-day-ahead",
        ),
        pytest.param(
            {"occurred_at": (NOW + timedelta(hours=23, minutes=59)).isoformat()},
            "occurred_at",
            NOW + timedelta(hours=23, minutes=59),
            id="occurred-just-under-a-day-ahead",
        ),
        pytest.param(
            {"occurred_at": "2024-06-02"},  # midnight in Karachi = 2024-06-01T19:00Z
            "day",
            date(2024, 6, 2),
            id="occurred-date-tomorrow",
        ),
        pytest.param({"location": {"lat": 23.5, "lon": 60.8}}, "lat", 23.5, id="box-south-west"),
        pytest.param({"location": {"lat": 37.2, "lon": 77.9}}, "lon", 77.9, id="box-north-east"),
        pytest.param({"location": {"lat": 23.5, "lon": 77.9}}, "lon", 77.9, id="box-south-east"),
        pytest.param({"location": {"lat": 37.2, "lon": 60.8}}, "lat", 37.2, id="box-north-west"),
        pytest.param({"location": {"lat": 33, "lon": 73}}, "lat", 33.0, id="box-integer-coords"),
    ],
)
def test_values_on_the_edge_of_the_rules_are_accepted(
    changes: dict[str, Any], field: str, expected: Any
) -> None:
    result = parse_both(envelope(event_data(**changes)))
    assert isinstance(result, Incident), result
    assert getattr(result, field) == expected


# --- RFC 3339 and the day an incident counts on (Asia/Karachi, UTC+5) -----------------------


@pytest.mark.parametrize(
    ("occurred_at", "utc", "day"),
    [
        pytest.param(
            "2024-03-01", datetime(2024, 2, 29, 19, tzinfo=UTC), date(2024, 3, 1), id="date"
        ),
        pytest.param(
            "2024-02-29", datetime(2024, 2, 28, 19, tzinfo=UTC), date(2024, 2, 29), id="leap-day"
        ),
        pytest.param(
            "2024-03-01T20:00:00Z",
            datetime(2024, 3, 1, 20, tzinfo=UTC),
            date(2024, 3, 2),
            id="utc-evening-is-next-day",
        ),
        pytest.param(
            "2024-03-01T18:59:59Z",
            datetime(2024, 3, 1, 18, 59, 59, tzinfo=UTC),
            date(2024, 3, 1),
            id="utc-before-karachi-midnight",
        ),
        pytest.param(
            "2024-03-01T19:00:00Z",
            datetime(2024, 3, 1, 19, tzinfo=UTC),
            date(2024, 3, 2),
            id="utc-at-karachi-midnight",
        ),
        pytest.param(
            "2024-03-02T00:30:00+05:00",
            datetime(2024, 3, 1, 19, 30, tzinfo=UTC),
            date(2024, 3, 2),
            id="karachi-offset",
        ),
        pytest.param(
            "2024-03-01T23:00:00-05:00",
            datetime(2024, 3, 2, 4, tzinfo=UTC),
            date(2024, 3, 2),
            id="negative-offset",
        ),
        pytest.param(
            "2024-03-01T10:00:00.250+05:30",
            datetime(2024, 3, 1, 4, 30, 0, 250_000, tzinfo=UTC),
            date(2024, 3, 1),
            id="fraction-and-half-hour",
        ),
        pytest.param(
            "2024-03-01t10:00:00z",
            datetime(2024, 3, 1, 10, tzinfo=UTC),
            date(2024, 3, 1),
            id="lowercase-t-z",
        ),
        pytest.param(
            "2024-03-01 10:00:00+00:00",
            datetime(2024, 3, 1, 10, tzinfo=UTC),
            date(2024, 3, 1),
            id="space-separator",
        ),
    ],
)
def test_occurred_at_gives_the_instant_and_the_karachi_day(
    occurred_at: str, utc: datetime, day: date
) -> None:
    result = parse_both(envelope(event_data(occurred_at=occurred_at)))
    assert isinstance(result, Incident), result
    assert (result.occurred_at, result.day) == (utc, day)
    assert result.occurred_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "occurred_at",
    [
        pytest.param("2024-03-01T10:00:00", id="naive-date-time"),
        pytest.param("2023-02-30", id="no-such-date"),
        pytest.param("2023-02-29", id="not-a-leap-year"),
        pytest.param("2024-13-01", id="month-13"),
        pytest.param("2024-03-01T24:00:01Z", id="hour-24"),
        pytest.param("2024-03-01T10:00Z", id="no-seconds"),
        pytest.param("2024-03-01T10:00:00+99:00", id="impossible-offset"),
        pytest.param("01/03/2024", id="not-rfc3339"),
        pytest.param("2024-03-01\n", id="trailing-newline"),
        pytest.param("0001-01-01", id="first-day-before-utc-exists"),
        pytest.param("0001-01-01T02:00:00+05:00", id="instant-before-utc-exists"),
        pytest.param("9999-12-31T23:00:00Z", id="karachi-day-after-year-9999"),
        pytest.param(20240301, id="a-number"),
    ],
)
def test_occurred_at_that_is_not_a_real_rfc3339_instant_is_a_schema_error(
    occurred_at: Any,
) -> None:
    reject(parse_both(envelope(event_data(occurred_at=occurred_at))), R.schema, "occurred_at")


def test_envelope_time_becomes_the_event_time_in_utc() -> None:
    result = parse_both(envelope(time="2024-03-01T10:00:00+05:00"))
    assert isinstance(result, Incident)
    assert result.event_time == datetime(2024, 3, 1, 5, tzinfo=UTC)


# --- rejections of the data, one table per reason (both modes) ------------------------------


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        pytest.param({"id": DROP}, "data.id", id="id-missing"),
        pytest.param({"id": 42}, "data.id", id="id-number"),
        pytest.param({"id": ""}, "data.id", id="id-empty"),
        pytest.param({"id": "i" * 129}, "data.id", id="id-129"),
        pytest.param({"occurred_at": DROP}, "data.occurred_at", id="occurred-missing"),
        pytest.param({"category": DROP}, "data.category", id="category-missing"),
        pytest.param({"category": "riot"}, "data.category", id="category-not-in-enum"),
        pytest.param({"category": 3}, "data.category", id="category-number"),
        pytest.param({"target": "tourists"}, "data.target", id="target-not-in-enum"),
        pytest.param({"target": ["civilians"]}, "data.target", id="target-list"),
        pytest.param({"province": DROP}, "data.province", id="province-missing"),
        pytest.param({"province": 12}, "data.province", id="province-number"),
        pytest.param({"province": "  "}, "data.province", id="province-blank"),
        pytest.param({"version": True}, "data.version", id="version-bool"),
        pytest.param({"version": 2.0}, "data.version", id="version-float"),
        pytest.param({"version": "2"}, "data.version", id="version-string"),
        pytest.param({"killed": True}, "data.killed", id="killed-bool"),
        pytest.param({"killed": 3.0}, "data.killed", id="killed-float"),
        pytest.param({"injured": False}, "data.injured", id="injured-bool"),
        pytest.param({"injured": 1.5}, "data.injured", id="injured-float"),
        pytest.param({"injured": "4"}, "data.injured", id="injured-string"),
        pytest.param({"district": "d" * 101}, "data.district", id="district-101"),
        pytest.param({"district": 7}, "data.district", id="district-number"),
        pytest.param({"perpetrator": "p" * 101}, "data.perpetrator", id="perpetrator-101"),
        pytest.param({"perpetrator": {"name": "TTP"}}, "data.perpetrator", id="perpetrator-obj"),
        pytest.param({"summary": "s" * 4001}, "data.summary", id="summary-4001"),
        pytest.param({"url": 5}, "data.url", id="url-number"),
        pytest.param({"location": "30.1,66.9"}, "data.location", id="location-string"),
        pytest.param({"location": {"lat": 30.1}}, "data.location.lon", id="location-no-lon"),
        pytest.param({"location": {"lat": "30", "lon": 67}}, "data.location.lat", id="lat-text"),
        pytest.param({"location": {"lat": 30, "lon": True}}, "data.location.lon", id="lon-bool"),
    ],
)
def test_schema_violations_are_rejected_as_schema(changes: dict[str, Any], detail: str) -> None:
    reject(parse_both(envelope(event_data(**changes))), R.schema, detail)


@pytest.mark.parametrize(
    "province",
    ["Kabul", "PK-XX", "Khyber", "Texas", "Punjabi", "K P"],
)
def test_a_province_missing_from_the_gazetteer_is_unknown_province(province: str) -> None:
    reject(parse_both(envelope(event_data(province=province))), R.unknown_province, "data.province")


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        pytest.param({"killed": -1}, "data.killed", id="killed-minus-1"),
        pytest.param({"killed": 10_001}, "data.killed", id="killed-10001"),
        pytest.param({"injured": -1}, "data.injured", id="injured-minus-1"),
        pytest.param({"injured": 10_001}, "data.injured", id="injured-10001"),
        pytest.param({"version": 0}, "data.version", id="version-0"),
        pytest.param({"version": -2}, "data.version", id="version-negative"),
        pytest.param(
            {"occurred_at": (NOW + timedelta(days=1, seconds=1)).isoformat()},
            "data.occurred_at",
            id="occurred-a-day-and-a-second-ahead",
        ),
        pytest.param(
            {"occurred_at": "2024-06-03"},  # midnight in Karachi = 2024-06-02T19:00Z
            "data.occurred_at",
            id="occurred-date-after-tomorrow",
        ),
        pytest.param({"location": {"lat": 23.49, "lon": 67}}, "data.location", id="lat-south"),
        pytest.param({"location": {"lat": 37.21, "lon": 74}}, "data.location", id="lat-north"),
        pytest.param({"location": {"lat": 30, "lon": 60.79}}, "data.location", id="lon-west"),
        pytest.param({"location": {"lat": 35, "lon": 77.91}}, "data.location", id="lon-east"),
        pytest.param({"location": {"lat": 35.69, "lon": 51.39}}, "data.location", id="tehran"),
    ],
)
def test_values_outside_the_allowed_range_are_out_of_range(
    changes: dict[str, Any], detail: str
) -> None:
    reject(parse_both(envelope(event_data(**changes))), R.out_of_range, detail)


@pytest.mark.parametrize(
    "type_", ["incident.updated", "com.example.alert", "alert.firing", "INCIDENT.REPORTED"]
)
def test_other_event_types_are_unsupported_type(type_: str) -> None:
    reject(parse_both(envelope(type=type_)), R.unsupported_type, "type")


# --- rejections of the message and envelope -------------------------------------------------

VALID = orjson.dumps(envelope())
CT_JSON = ("content-type", b"application/json")


def binary_headers(**changes: Any) -> list[tuple[str, bytes]]:
    """The ce_* headers of a valid binary-mode event; a bytes value is sent as given."""
    env = {k: v for k, v in envelope(**changes).items() if k != "data"}
    return [(f"ce_{k}", v if isinstance(v, bytes) else str(v).encode()) for k, v in env.items()]


BINARY_DATA = orjson.dumps(event_data())
ENVELOPE_CASES = [
    pytest.param(structured(envelope(specversion=DROP)), "specversion", id="specversion-missing"),
    pytest.param(structured(envelope(specversion="0.3")), "specversion", id="specversion-0.3"),
    pytest.param(structured(envelope(specversion=1.0)), "specversion", id="specversion-number"),
    pytest.param(structured(envelope(id=DROP)), "id", id="id-missing"),
    pytest.param(structured(envelope(id=17)), "id", id="id-number"),
    pytest.param(structured(envelope(id="")), "id", id="id-empty"),
    pytest.param(structured(envelope(source=DROP)), "source", id="source-missing"),
    pytest.param(structured(envelope(source=["a"])), "source", id="source-list"),
    pytest.param(structured(envelope(type=DROP)), "type", id="type-missing"),
    pytest.param(structured(envelope(type=3)), "type", id="type-number"),
    pytest.param(structured(envelope(data=None)), "data", id="data-null"),
    pytest.param(structured(envelope(data=[event_data()])), "data", id="data-list"),
    pytest.param(structured(envelope(data="{}")), "data", id="data-string"),
    pytest.param(
        structured({k: v for k, v in envelope().items() if k != "data"}), "data", id="data-missing"
    ),
    pytest.param(RawMessage(b"[1, 2]"), "CloudEvents", id="value-is-an-array"),
    pytest.param(RawMessage(b'"incident"'), "CloudEvents", id="value-is-a-string"),
    pytest.param(
        structured(envelope(datacontenttype="application/xml")),
        "content type",
        id="datacontenttype-xml",
    ),
    pytest.param(structured(envelope(time="yesterday")), "time", id="time-not-rfc3339"),
    pytest.param(structured(envelope(time="2024-03-01")), "time", id="time-date-only"),
    pytest.param(structured(envelope(time=1709280000)), "time", id="time-number"),
    pytest.param(
        structured(envelope(time="0001-01-01T00:00:00+05:00")), "time", id="time-before-utc-exists"
    ),
    pytest.param(
        structured(envelope(time="2024-03-01T10:00:00")), "time", id="time-without-offset"
    ),
    pytest.param(
        RawMessage(BINARY_DATA, headers=[*binary_headers(), ("content-type", b"text/plain")]),
        "content type",
        id="binary-content-type-text",
    ),
    pytest.param(
        RawMessage(BINARY_DATA, headers=[*binary_headers(), ("content-type", b"application/xml")]),
        "content type",
        id="binary-content-type-xml",
    ),
    pytest.param(
        RawMessage(BINARY_DATA, headers=[*binary_headers(id=b"\xff\xfe"), CT_JSON]),
        "not UTF-8",
        id="binary-id-header-not-utf8",
    ),
    pytest.param(
        RawMessage(BINARY_DATA, headers=[*binary_headers(source=b"desk\xc3"), CT_JSON]),
        "not UTF-8",
        id="binary-source-header-not-utf8",
    ),
    pytest.param(
        RawMessage(BINARY_DATA, headers=[*binary_headers(specversion="0.3"), CT_JSON]),
        "specversion",
        id="binary-specversion-0.3",
    ),
    pytest.param(
        RawMessage(BINARY_DATA, headers=[*binary_headers(source=DROP), CT_JSON]),
        "source",
        id="binary-source-missing",
    ),
    pytest.param(
        RawMessage(b"[]", headers=[*binary_headers(), CT_JSON]), "data", id="binary-data-list"
    ),
    pytest.param(
        RawMessage(b"null", headers=[*binary_headers(), CT_JSON]), "data", id="binary-data-null"
    ),
]


@pytest.mark.parametrize(("message", "detail"), ENVELOPE_CASES)
def test_a_broken_envelope_is_invalid_envelope(message: RawMessage, detail: str) -> None:
    reject(parse(message, GAZ, NOW), R.invalid_envelope, detail)


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        pytest.param(RawMessage(None), "null", id="null-value"),
        pytest.param(RawMessage(b""), "not JSON", id="empty-value"),
        pytest.param(RawMessage(b"   "), "not JSON", id="whitespace-only"),
        pytest.param(RawMessage(VALID[:-1]), "not JSON", id="truncated"),
        pytest.param(RawMessage(b"{'specversion': '1.0'}"), "not JSON", id="single-quotes"),
        pytest.param(RawMessage(b'{"n": NaN}'), "not JSON", id="nan"),
        pytest.param(
            RawMessage(VALID.replace(b"Balochistan", b"Baloch\xe9stan")),
            "not UTF-8",
            id="latin-1-byte",
        ),
        pytest.param(RawMessage(VALID.decode().encode("utf-16")), "not UTF-8", id="utf-16"),
        pytest.param(RawMessage(b"[" * 2000 + b"]" * 2000), "not JSON", id="deep-array"),
        pytest.param(  # `data` is the envelope's last member: nest 1,100 arrays inside it
            RawMessage(VALID[:-2] + b', "x": ' + b"[" * 1100 + b"]" * 1100 + b"}}"),
            "not JSON",
            id="deep-inside-data",
        ),
        pytest.param(
            RawMessage(b"not json", headers=[*binary_headers(), CT_JSON]),
            "not JSON",
            id="binary-body-not-json",
        ),
        pytest.param(
            RawMessage(b'{"id": "\xff"}', headers=[*binary_headers(), CT_JSON]),
            "not UTF-8",
            id="binary-body-not-utf8",
        ),
        pytest.param(
            RawMessage(None, headers=[*binary_headers(), CT_JSON]),
            "null",
            id="binary-null-body",
        ),
    ],
)
def test_a_value_that_is_not_utf8_json_is_invalid_json(message: RawMessage, detail: str) -> None:
    reject(parse(message, GAZ, NOW), R.invalid_json, detail)


def test_a_message_of_exactly_64_kib_is_accepted() -> None:
    result = parse(RawMessage(padded(VALID, MAX_MESSAGE_BYTES)), GAZ, NOW)
    assert isinstance(result, Incident)


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(RawMessage(padded(VALID, MAX_MESSAGE_BYTES + 1)), id="valid-event-64KiB+1"),
        pytest.param(RawMessage(b"\xff" * (MAX_MESSAGE_BYTES + 1)), id="garbage-64KiB+1"),
        pytest.param(
            RawMessage(
                padded(BINARY_DATA, MAX_MESSAGE_BYTES + 1), headers=[*binary_headers(), CT_JSON]
            ),
            id="binary-64KiB+1",
        ),
        pytest.param(RawMessage(b" " * (1 << 20)), id="one-MiB"),
    ],
)
def test_a_message_over_64_kib_is_too_large(message: RawMessage) -> None:
    reject(parse(message, GAZ, NOW), R.too_large, str(MAX_MESSAGE_BYTES))


# --- retractions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param({"id": "dawn-2024-0001"}, None, id="id-only"),
        pytest.param({"id": "dawn-2024-0001", "reason": "duplicate"}, "duplicate", id="reason"),
        pytest.param({"id": "dawn-2024-0001", "reason": None}, None, id="reason-null"),
        pytest.param(
            {"id": "dawn-2024-0001", "province": "Texas", "killed": -5, "occurred_at": "never"},
            None,
            id="other-fields-ignored",
        ),
    ],
)
def test_a_retraction_needs_only_the_id(data: dict[str, Any], reason: str | None) -> None:
    result = parse_both(envelope(data, type="incident.retracted"))
    assert result == Retraction(
        source="desk/quetta", id="dawn-2024-0001", event_id="evt-0001", reason=reason
    )


@pytest.mark.parametrize(
    ("data", "reason", "detail"),
    [
        pytest.param({}, R.schema, "data.id", id="no-id"),
        pytest.param({"id": 5}, R.schema, "data.id", id="id-number"),
        pytest.param({"id": "r" * 129}, R.schema, "data.id", id="id-129"),
        pytest.param({"id": "x", "reason": 5}, R.schema, "data.reason", id="reason-number"),
        pytest.param(["x"], R.invalid_envelope, "data", id="data-list"),
    ],
)
def test_a_bad_retraction_is_rejected(data: Any, reason: RejectReason, detail: str) -> None:
    reject(parse_both(envelope(data, type="incident.retracted")), reason, detail)


# --- parse never raises ---------------------------------------------------------------------

HEADER_NAMES = st.sampled_from(
    ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type", "CE_ID", "x"]
)
HEADERS = st.lists(st.tuples(HEADER_NAMES | st.text(max_size=12), st.binary(max_size=24)))
JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
OFFSETS = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23))
INSTANTS = st.builds(
    lambda at, offset: at.replace(tzinfo=timezone(offset)).isoformat(),
    st.datetimes(),
    OFFSETS.map(lambda d: timedelta(minutes=d // timedelta(minutes=1))),
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.text(max_size=130) | JSONISH,
    "version": st.integers(min_value=-5, max_value=2**40) | JSONISH,
    "occurred_at": st.dates().map(date.isoformat) | INSTANTS | st.text(max_size=30) | JSONISH,
    "province": st.sampled_from(["KP", "fata", "Sind", "nowhere", ""]) | JSONISH,
    "category": st.sampled_from([c.value for c in Category]) | JSONISH,
    "target": st.sampled_from([t.value for t in Target]) | JSONISH,
    "killed": st.integers(min_value=-5, max_value=20_000) | JSONISH,
    "location": st.fixed_dictionaries(
        {"lat": st.floats(allow_nan=False, allow_infinity=False), "lon": st.floats(-180, 180)}
    )
    | JSONISH,
    "district": st.text(max_size=110) | JSONISH,
    "reason": JSONISH,
}
EVENT_DATA = st.fixed_dictionaries({}, optional=FIELD_VALUES)
ENVELOPES = st.fixed_dictionaries(
    {
        "specversion": st.just("1.0"),
        "id": st.just("e-1"),
        "source": st.just("fuzz"),
        "type": st.sampled_from(["incident.reported", "incident.retracted", "other"]),
        "data": EVENT_DATA,
    },
    optional={"time": INSTANTS | st.text(max_size=30) | JSONISH, "datacontenttype": JSONISH},
)
PARSED = (Incident, Retraction, Rejection)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(value=st.binary(max_size=512) | st.none(), headers=HEADERS)
def test_parse_never_raises_on_arbitrary_bytes(value: bytes | None, headers: Any) -> None:
    assert isinstance(parse(RawMessage(value, headers=headers), GAZ, NOW), PARSED)


@FUZZ
@given(doc=JSONISH | ENVELOPES, mode=st.sampled_from(MODES))
def test_parse_never_raises_on_arbitrary_json(doc: Any, mode: str) -> None:
    if mode == "structured" or not isinstance(doc, dict) or "data" not in doc:
        message = RawMessage(orjson.dumps(doc))
    else:
        headers = [
            (f"ce_{k}", v.encode() if isinstance(v, str) else orjson.dumps(v))
            for k, v in doc.items()
            if k != "data"
        ]
        message = RawMessage(orjson.dumps(doc["data"]), headers=headers)
    assert isinstance(parse(message, GAZ, NOW), PARSED)


@FUZZ
@given(data=EVENT_DATA)
def test_a_fuzzed_event_gets_the_same_answer_in_both_modes(data: dict[str, Any]) -> None:
    parse_both(envelope(data))


# --- what no store can hold (once a poison pill on PostgreSQL) ------------------------------


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"n": value}
    return value


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        pytest.param({"summary": "bomb\x00ing"}, "data.summary: contains a NUL", id="nul-summary"),
        pytest.param({"extra": ["a", "b\x00"]}, "data.extra[1]: contains a NUL", id="nul-list"),
        pytest.param({"extra": {"k\x00": 1}}, "data.extra: a key contains a NUL", id="nul-key"),
        pytest.param({"extra": nested(32)}, "nested deeper than 32 levels", id="depth-33"),
    ],
)
def test_data_no_store_can_hold_is_a_schema_error(changes: dict[str, Any], detail: str) -> None:
    reject(parse_both(envelope(event_data(**changes))), R.schema, detail)


def test_nesting_up_to_the_limit_and_control_characters_are_accepted() -> None:
    result = parse_both(envelope(event_data(extra=nested(31), summary="tab\there\x01\x7f")))
    assert isinstance(result, Incident)


def test_a_nul_in_the_envelope_source_is_invalid_envelope() -> None:
    reject(parse_both(envelope(source="desk\x00quetta")), R.invalid_envelope, "source: contains")


# --- the fast path -------------------------------------------------------------------------


def checks_only(message: RawMessage) -> Any:
    """`parse` with the fast path switched off."""
    original = parse_module.decode_reported
    parse_module.decode_reported = lambda *_: None  # type: ignore[assignment]
    try:
        return parse(message, GAZ, NOW)
    finally:
        parse_module.decode_reported = original


@FUZZ
@given(doc=ENVELOPES, headers=HEADERS)
def test_the_fast_path_answers_exactly_as_the_checks_do(doc: dict[str, Any], headers: Any) -> None:
    message = RawMessage(orjson.dumps(doc), headers=headers)
    assert parse(message, GAZ, NOW) == checks_only(message)


def test_a_typical_report_takes_the_fast_path() -> None:
    fast = decode_reported(VALID, (("content-type", b"application/cloudevents+json"),), 65536)
    assert fast is not None
    assert fast.fields.id == "dawn-2024-0001"
    assert orjson.loads(fast.data) == orjson.loads(VALID)["data"]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(orjson.dumps(envelope(type="incident.retracted")), id="retraction"),
        pytest.param(orjson.dumps(envelope(data=event_data(killed=True))), id="bool-as-int"),
        pytest.param(orjson.dumps(envelope(data=event_data(extra=nested(40)))), id="deep"),
        pytest.param(VALID.replace(b"}}", b',"x":1e400}}'), id="number-orjson-refuses"),
        pytest.param(orjson.dumps(envelope(data=event_data(summary="a\u0000b"))), id="nul-ish"),
    ],
)
def test_anything_unusual_is_left_to_the_checks(value: bytes) -> None:
    assert decode_reported(value, (), 65536) is None


@pytest.mark.parametrize("mode", MODES)
def test_the_version_history_gets_data_exactly_as_published(mode: str) -> None:
    spaced = b'{ "id" : "x-1", "occurred_at":"2024-03-01", "province":"KP",\n "category":"clash",'
    spaced += b' "extra": {"b": 1, "a": [1.50, "\\u00e9"]} }'
    if mode == "structured":
        value = b'{"specversion":"1.0","id":"e","source":"s","type":"incident.reported","data":'
        message = RawMessage(value + spaced + b"}")
    else:
        message = RawMessage(spaced, headers=[*binary_headers(), CT_JSON])
    result = parse(message, GAZ, NOW)
    assert isinstance(result, Incident) and result.data == spaced.decode()
