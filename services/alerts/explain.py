"""The explanation an alert carries, as JSON-ready dicts: the rule and the finding behind it."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from services.alerts.model import Finding, Rule


def duration(value: timedelta) -> str:
    """`7d`-style text for whole days (the rules file's own notation), else seconds."""
    if value.seconds == 0 and value.microseconds == 0:
        return f"{value.days}d"
    return f"{value.total_seconds():g}s"


def rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "rule": rule.name,
        "method": rule.method,
        "metric": rule.metric,
        "window": duration(rule.window),
        "severity": rule.severity,
        "params": plain(dict(rule.params)),
        "min_count": rule.min_count,
        "for": duration(rule.for_),
        "keep_firing_for": duration(rule.keep_firing_for),
    }


def rule_hash(rule: Rule) -> str:
    """A fingerprint of everything that shapes a rule's history (name included)."""
    text = repr(sorted(rule_json(rule).items()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "fired": finding.fired,
        "method": finding.method,
        "window": finding.window,
        "observed": number(finding.observed),
        "expected": number(finding.expected),
        "threshold": number(finding.threshold),
        "score": number(finding.score),
        "p_value": number(finding.p_value),
        "baseline_start": finding.baseline_start.isoformat() if finding.baseline_start else None,
        "baseline_end": finding.baseline_end.isoformat() if finding.baseline_end else None,
        "detail": plain(dict(finding.detail)),
    }


def number(value: float | None) -> float | None:
    """A float fit for JSON: None stays None, and so do NaN and infinities."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def plain(value: Any) -> Any:
    """`value` with numpy scalars, dates and tuples turned into JSON types (NaN → None)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return plain(value.tolist())
    if isinstance(value, float):
        return number(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
