"""Seeded generators of hostile messages, each with the DLQ reason it must get (None: stored).

Every bad message breaks exactly one rule of DESIGN.md "Incident event", so its reason is known
in advance; the good ones are valid but awkward (limits reached, odd aliases, unicode, nesting in
fields the contract does not check, NUL characters) and must be stored.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Case:
    kind: str
    value: bytes | None
    headers: Headers
    reason: str | None  # the expected `error.reason`; None for a message that must be stored
    id: str  # data.id of a good message ('' for bad ones)


PROVINCES = [
    "Balochistan",
    "PK-KP",
    "kpk",
    "North-West Frontier Province",
    "Sind",
    "ict",
    "Azad Kashmir",
    "FATA",
]
UNKNOWN = ["Atlantis", "Kabul", "PK-XX", "Helmand", "Kashmir Valley", "Zürich", "بلوچستانن"]
SOURCE = "faults/hostile"


def _text(rng: random.Random, n: int) -> str:
    """Mixed scripts: ASCII, Urdu, CJK, emoji."""
    pools = ("abcdefghij klmnop", "بلوچستان خیبر", "中文字符", "🔥💣🚨")
    return "".join(rng.choice(rng.choice(pools)) for _ in range(n))


class Generator:
    """`cases(n_bad, n_good)`: a deterministic, shuffled mix; same seed, same bytes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0
        self.now = datetime.now(UTC)
        self.bad: list[Callable[[], Case]] = [
            self.wrong_type,
            self.missing_field,
            self.huge_string,
            self.too_large,
            self.deep_nesting,
            self.invalid_utf8,
            self.lying_ce_type,
            self.lying_content_type,
            self.unknown_province,
            self.negative_casualties,
            self.out_of_range,
            self.broken_envelope,
            self.unsupported_type,
            self.not_json,
            self.bad_binary_header,
            self.unstorable,
        ]

    def cases(self, n_bad: int, n_good: int) -> list[Case]:
        out = [self.rng.choice(self.bad)() for _ in range(n_bad)]
        out += [self.good() for _ in range(n_good)]
        self.rng.shuffle(out)
        return out

    # --- building blocks -----------------------------------------------------------------------

    def _data(self, **changes: Any) -> dict[str, Any]:
        self.n += 1
        data: dict[str, Any] = {
            "id": f"h{self.n}",
            "occurred_at": f"2024-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}",
            "province": self.rng.choice(PROVINCES),
            "category": self.rng.choice(["bombing", "clash", "kidnapping", "Armed_Assault"]),
            "killed": self.rng.randint(0, 20),
            "injured": self.rng.randint(0, 40),
        }
        data.update(changes)
        return {k: v for k, v in data.items() if v is not _DROP}

    def _envelope(self, data: Any, **changes: Any) -> dict[str, Any]:
        env: dict[str, Any] = {
            "specversion": "1.0",
            "id": f"evt-{self.n}",
            "source": SOURCE,
            "type": "incident.reported",
            "datacontenttype": "application/json",
            "data": data,
        }
        env.update(changes)
        return {k: v for k, v in env.items() if v is not _DROP}

    def _structured(self, kind: str, reason: str | None, data: Any, **env: Any) -> Case:
        value = orjson.dumps(self._envelope(data, **env))
        good_id = data["id"] if reason is None else ""
        return Case(kind, value, [], reason, good_id)

    def _binary_headers(self, **changes: bytes) -> Headers:
        headers = {
            "ce_specversion": b"1.0",
            "ce_id": f"evt-{self.n}".encode(),
            "ce_source": SOURCE.encode(),
            "ce_type": b"incident.reported",
            "content-type": b"application/json",
        }
        headers.update(changes)
        return list(headers.items())

    # --- bad ones, one rule broken each ------------------------------------------------------

    def wrong_type(self) -> Case:
        field, value = self.rng.choice(
            [
                ("killed", "3"),
                ("injured", 2.5),
                ("killed", True),
                ("version", "2"),
                ("id", 12345),
                ("province", 7),
                ("category", ["bombing"]),
                ("location", "31.5,65.0"),
                ("location", {"lat": "30", "lon": 67}),
                ("summary", {"text": "x"}),
                ("district", 42),
                ("occurred_at", 20240301),
            ]
        )
        return self._structured(f"wrong_type.{field}", "schema", self._data(**{field: value}))

    def missing_field(self) -> Case:
        field = self.rng.choice(["id", "occurred_at", "province", "category"])
        return self._structured(f"missing.{field}", "schema", self._data(**{field: _DROP}))

    def huge_string(self) -> Case:
        field, limit = self.rng.choice([("summary", 4000), ("district", 100), ("perpetrator", 100)])
        value = _text(self.rng, limit + self.rng.randint(1, 3000))
        return self._structured(f"huge.{field}", "schema", self._data(**{field: value}))

    def too_large(self) -> Case:
        padding = "x" * (64 * 1024 + self.rng.randint(1, 4096))
        data = self._data(notes=padding)  # an extra field: only the size breaks a rule
        return self._structured("too_large", "too_large", data)

    def deep_nesting(self) -> Case:
        depth = self.rng.choice([1100, 3000])  # beyond what a JSON parser may be asked to take
        value = b'{"specversion":"1.0","data":' + b"[" * depth + b"]" * depth + b"}"
        return Case("deep_nesting", value, [], "invalid_json", "")

    def invalid_utf8(self) -> Case:
        data = self._data(summary="@@")
        value = orjson.dumps(self._envelope(data)).replace(b"@@", b"\xff\xfe\xc3")
        return Case("invalid_utf8", value, [], "invalid_json", "")

    def lying_ce_type(self) -> Case:
        # ce_type says reported, the value is a retraction's data: no occurred_at, province …
        value = orjson.dumps({"id": f"h{self.n}", "reason": "duplicate report"})
        return Case("lying.ce_type", value, self._binary_headers(), "schema", "")

    def lying_content_type(self) -> Case:
        value = self.rng.choice([b"killed=3&province=KP", b"<incident id='1'/>", b"{'id': 1}"])
        return Case("lying.content_type", value, self._binary_headers(), "invalid_json", "")

    def unknown_province(self) -> Case:
        data = self._data(province=self.rng.choice(UNKNOWN))
        return self._structured("unknown_province", "unknown_province", data)

    def negative_casualties(self) -> Case:
        field = self.rng.choice(["killed", "injured"])
        data = self._data(**{field: -self.rng.randint(1, 1000)})
        return self._structured(f"negative.{field}", "out_of_range", data)

    def out_of_range(self) -> Case:
        future = (self.now + timedelta(days=self.rng.randint(3, 900))).date().isoformat()
        field, value = self.rng.choice(
            [
                ("killed", 10_001),
                ("version", 0),
                ("occurred_at", future),
                ("location", {"lat": 51.5, "lon": -0.12}),
            ]
        )
        return self._structured(
            f"out_of_range.{field}", "out_of_range", self._data(**{field: value})
        )

    def broken_envelope(self) -> Case:
        change = self.rng.choice(
            [
                {"specversion": "0.3"},
                {"specversion": _DROP},
                {"source": _DROP},
                {"id": ""},
                {"type": 5},
                {"time": "yesterday"},
                {"datacontenttype": "application/xml"},
            ]
        )
        kind = "envelope." + next(iter(change))
        return self._structured(kind, "invalid_envelope", self._data(), **change)

    def unsupported_type(self) -> Case:
        kind = self.rng.choice(["incident.updated", "com.example.weather", "INCIDENT.REPORTED"])
        return self._structured("unsupported_type", "unsupported_type", self._data(), type=kind)

    def not_json(self) -> Case:
        value = self.rng.choice(
            [
                None,  # a tombstone
                b"",
                b"\xff" + bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 200))),
                _text(self.rng, 40).encode(),
                b'{"specversion": "1.0", "data": {',
            ]
        )
        return Case("not_json", value, [], "invalid_json", "")

    def bad_binary_header(self) -> Case:
        value = orjson.dumps(self._data())
        headers = self._binary_headers(ce_source=b"desk/\xff\xfe")
        return Case("binary.header_not_utf8", value, headers, "invalid_envelope", "")

    def unstorable(self) -> Case:
        """Valid JSON no store can hold: NUL characters, or nesting past the limit (once a
        poison pill that failed the batch's transaction on every retry)."""
        choice = self.rng.choice(["summary", "extra", "key", "deep", "source"])
        if choice == "source":
            return self._structured(
                "unstorable.source", "invalid_envelope", self._data(), source="desk\x00quetta"
            )
        if choice == "deep":
            data = self._data(extra="@@")
            depth = self.rng.randint(40, 900)
            value = orjson.dumps(self._envelope(data)).replace(
                b'"@@"', b'{"n":' * depth + b"1" + b"}" * depth
            )
            return Case("unstorable.deep", value, [], "schema", "")
        changes = {
            "summary": {"summary": "bomb\x00ing"},
            "extra": {"extra": {"notes": ["ok", "nul\x00"]}},
            "key": {"extra": {"a\x00b": 1}},
        }[choice]
        return self._structured(f"unstorable.{choice}", "schema", self._data(**changes))

    # --- good ones, awkward but valid --------------------------------------------------------

    def good(self) -> Case:
        roll = self.rng.random()
        if roll < 0.1:  # every optional field at its limit
            data = self._data(
                district=_text(self.rng, 100),
                perpetrator="T" * 100,
                summary=_text(self.rng, 4000),
                killed=10_000,
                injured=0,
                target="security_forces",
                location={"lat": 30.2, "lon": 67.0},
            )
        elif roll < 0.2:  # nesting (within the limit) and odd values where nothing looks
            nested: Any = "leaf"
            for _ in range(self.rng.randint(5, 25)):
                nested = {"n": nested}
            data = self._data(extra=nested, tags=[None, True, 1.5e300, "🚨"])
        elif roll < 0.3:  # control characters (all but NUL) in free text
            data = self._data(summary="before\x01\x1fafter\x7f\u2028", district="Quetta\t")
        else:
            data = self._data(summary=_text(self.rng, self.rng.randint(0, 200)))
        if self.rng.random() < 0.5:
            return self._structured("good.structured", None, data)
        headers = self._binary_headers(**{"content-type": b"application/json; charset=utf-8"})
        return Case("good.binary", orjson.dumps(data), headers, None, data["id"])


_DROP: Any = object()
