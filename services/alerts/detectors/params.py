"""Typed parameter specs: each method declares its parameters, their defaults and their ranges.

The rules loader validates a rule's `params` against these specs (so a typo is an error with a
line number) and `detect` fills in the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Number:
    """A numeric parameter; `low`/`high` are inclusive bounds unless `open_low` is set."""

    default: float | None
    low: float | None = None
    high: float | None = None
    integer: bool = False
    open_low: bool = False

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {value!r}"
        if self.integer and not (isinstance(value, int) or float(value).is_integer()):
            return f"must be a whole number, got {value!r}"
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return f"must be {'>' if self.open_low else '>='} {self.low:g}, got {value!r}"
        if self.high is not None and value > self.high:
            return f"must be <= {self.high:g}, got {value!r}"
        return None


@dataclass(frozen=True)
class Choice:
    """A parameter taking one of a few words."""

    default: str
    options: tuple[str, ...]

    def problem(self, value: Any) -> str | None:
        if value not in self.options:
            return f"must be one of {', '.join(self.options)}, got {value!r}"
        return None


Param = Number | Choice
Spec = Mapping[str, Param]


def resolve(spec: Spec, given: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults of `spec` overridden by `given`; raises ValueError on an unknown or bad one."""
    out: dict[str, Any] = {name: p.default for name, p in spec.items()}
    for name, value in given.items():
        if name not in spec:
            raise ValueError(f"unknown parameter {name!r} (known: {', '.join(sorted(spec))})")
        problem = spec[name].problem(value)
        if problem:
            raise ValueError(f"parameter {name!r} {problem}")
        out[name] = value
    return out
