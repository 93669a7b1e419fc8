"""A seeded incident load with its expected outcome worked out independently of ingest.

The load mixes new incidents, corrections (a higher version, sometimes moving province or day),
exact re-sends (duplicates), retractions and a few rejects. Every message is keyed by its
incident id, so one incident's messages share a partition and keep their order: the final state
of each incident is then known in advance, whatever happens to the consumer in between.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.core.gazetteer import Gazetteer

PROVINCES = ["Balochistan", "KP", "Sindh", "Punjab", "ICT", "GB", "AJK", "FATA", "kpk", "Sind"]
CATEGORIES = ["armed_assault", "bombing", "targeted_killing", "kidnapping", "clash"]
SOURCE = "faults/load"


@dataclass
class _State:
    version: int
    fields: dict[str, Any]
    retracted: bool = False


@dataclass
class Load:
    """The messages to publish (key, value) and what the database must hold afterwards."""

    messages: list[tuple[bytes, bytes]] = field(default_factory=list)
    rejects: int = 0
    duplicates: int = 0
    corrections: int = 0
    retractions: int = 0
    states: dict[str, _State] = field(default_factory=dict)

    @property
    def incidents(self) -> int:
        """Rows in `incidents`: every reported (source, id), retracted ones included."""
        return len(self.states)

    @property
    def live(self) -> int:
        return sum(not s.retracted for s in self.states.values())

    def totals(self, gazetteer: Gazetteer) -> dict[tuple[str, str], tuple[int, int, int]]:
        """(province code, day) → (incidents, killed, injured) of the live incidents."""
        out: dict[tuple[str, str], tuple[int, int, int]] = {}
        for state in self.states.values():
            if state.retracted:
                continue
            match = gazetteer.resolve(state.fields["province"])
            assert match is not None
            key = (match.region.code, state.fields["occurred_at"])
            n, k, i = out.get(key, (0, 0, 0))
            out[key] = (n + 1, k + state.fields["killed"], i + state.fields["injured"])
        return out


def _event(id_: str, version: int, fields: dict[str, Any], n: int) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"load-{n}",
            "source": SOURCE,
            "type": "incident.reported",
            "datacontenttype": "application/json",
            "data": {"id": id_, "version": version, **fields},
        }
    )


def _retraction(id_: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"load-{n}",
            "source": SOURCE,
            "type": "incident.retracted",
            "data": {"id": id_, "reason": "load test"},
        }
    )


def _fields(rng: random.Random) -> dict[str, Any]:
    return {
        "occurred_at": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "province": rng.choice(PROVINCES),
        "category": rng.choice(CATEGORIES),
        "killed": rng.randint(0, 6),
        "injured": rng.randint(0, 12),
    }


def build_load(total: int, seed: int = 2024, prefix: str = "i") -> Load:
    """`total` messages: ~85% new, 5% corrections, 3% re-sends, 4% retractions, 3% rejects."""
    rng = random.Random(seed)
    load = Load()
    sent: list[tuple[str, bytes]] = []  # (id, value) of earlier reports, for re-sends
    ids: list[str] = []
    for n in range(total):
        roll = rng.random()
        if roll < 0.03:
            id_ = f"{prefix}bad{n}"
            fields = {**_fields(rng), "province": "Atlantis"}
            load.messages.append((id_.encode(), _event(id_, 1, fields, n)))
            load.rejects += 1
        elif roll < 0.08 and ids:
            id_ = rng.choice(ids)
            state = load.states[id_]
            state.version += 1
            changed = _fields(rng)
            state.fields = changed
            value = _event(id_, state.version, changed, n)
            load.messages.append((id_.encode(), value))
            sent.append((id_, value))
            load.corrections += 1
        elif roll < 0.11 and sent:
            id_, value = rng.choice(sent)
            load.messages.append((id_.encode(), value))
            load.duplicates += 1
        elif roll < 0.15 and ids:
            id_ = rng.choice(ids)
            load.states[id_].retracted = True
            load.messages.append((id_.encode(), _retraction(id_, n)))
            load.retractions += 1
        else:
            id_ = f"{prefix}{n}"
            fields = _fields(rng)
            load.states[id_] = _State(1, fields)
            ids.append(id_)
            value = _event(id_, 1, fields, n)
            load.messages.append((id_.encode(), value))
            sent.append((id_, value))
    return load
