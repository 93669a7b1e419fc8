"""Opaque cursors: round trips, and every kind of garbage is a 400, never a crash."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from services.api import cursor
from services.api.problems import Problem


def test_round_trips() -> None:
    at = datetime(2024, 5, 1, 10, 30, 0, 123456, tzinfo=UTC)
    assert cursor.decode_incident(cursor.encode(at.isoformat(), "a/b", "x")) == (at, "a/b", "x")
    assert cursor.decode_seq(cursor.encode(42)) == 42


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "bad",
    ["", "!!!", "zzz", b64(b"not json"), b64(b"{}"), b64(b"[1, 2]"), b64(b'["x"]'),
     b64(b"[-1]"), b64(b"[true]"), b64(b"[1e30]"), b64(b"[99999999999999999999]")],
)  # fmt: skip
def test_bad_seq_cursors(bad: str) -> None:
    with pytest.raises(Problem) as problem:
        cursor.decode_seq(bad)
    assert problem.value.status == 400


@pytest.mark.parametrize(
    "bad",
    [b64(b'["2024-01-01T00:00:00", "s", "i"]'), b64(b'["yesterday", "s", "i"]'),
     b64(b'["2024-01-01T00:00:00+00:00", 1, "i"]'), b64(b"[1, 2, 3]"), cursor.encode(5)],
)  # fmt: skip
def test_bad_incident_cursors(bad: str) -> None:
    with pytest.raises(Problem) as problem:
        cursor.decode_incident(bad)
    assert problem.value.status == 400
