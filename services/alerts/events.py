"""Alert transitions as CloudEvents on the `alerts` topic (key = province code).

Type `alert.<to>` (pending, firing, resolved, acknowledged); id `alert-transition-<seq>` (seq is
the SSE id the api uses), so a transition relayed twice after a crash is recognisable; time = the
transition's time (event time under the event-time clock); data = the full explanation.

A correction of stored history (see `services.alerts.history`) is announced with the type of
the alert's state after it (`alert.resolved` for an episode withdrawn altogether) and
`data.revision = "withdrawn"`, listing the transitions that no longer hold.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from services.alerts.explain import rule_json
from services.alerts.store import Outgoing, Withdrawal
from services.core import cloudevents

SOURCE = "surgewatch/alerts"
_LIFECYCLE = ("pending", "firing", "resolved")


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def transition_event(t: Outgoing) -> bytes:
    """The CloudEvent for one stored transition."""
    snapshot: dict[str, Any] = t.details.get("alert") or {}
    finding: dict[str, Any] = t.details.get("finding") or t.explanation.get("finding") or {}
    data: dict[str, Any] = {
        "alert_id": t.alert_id,
        "seq": t.seq,
        "province": t.province,
        "rule": t.rule,
        "method": t.method,
        "metric": t.metric,
        "severity": t.severity,
        "window": t.window,
        "state": t.to_state if t.to_state in _LIFECYCLE else t.state,
        "from": t.from_state,
        "to": t.to_state,
        "at": _iso(t.at),
        "started_at": snapshot.get("started_at", _iso(t.started_at)),
        "fired_at": snapshot["fired_at"] if snapshot else _iso(t.fired_at),
        "resolved_at": snapshot["resolved_at"] if snapshot else _iso(t.resolved_at),
        "acknowledged_at": _iso(t.acknowledged_at),
        "acknowledged_by": t.acknowledged_by,
        "observed": finding.get("observed", t.observed),
        "expected": finding.get("expected", t.expected),
        "threshold": finding.get("threshold", t.threshold),
        "score": finding.get("score", t.score),
        "p_value": finding.get("p_value", t.p_value),
        "baseline_start": finding.get("baseline_start", _iso(t.baseline_start)),
        "baseline_end": finding.get("baseline_end", _iso(t.baseline_end)),
        "detail": finding.get("detail", {}),
        "explanation": t.explanation,
        "recorded_at": _iso(t.recorded_at),
    }
    if t.to_state not in _LIFECYCLE:  # an acknowledgement: who and what the api recorded
        data["details"] = t.details
    return cloudevents.encode(
        f"alert.{t.to_state}",
        SOURCE,
        data,
        subject=t.province,
        time=t.at,
        id_=f"alert-transition-{t.seq}",
    )


def withdrawal_event(w: Withdrawal) -> bytes:
    """The CloudEvent announcing that stored transitions of an alert no longer hold."""
    state = "resolved" if w.state == "withdrawn" else w.state
    data = {
        **rule_json(w.rule),
        "alert_id": w.alert_id,
        "province": w.province,
        "state": w.state,
        "started_at": _iso(w.started_at),
        "revision": "withdrawn",
        "withdrawn": [{"seq": t.seq, "to": t.to, "at": _iso(t.at)} for t in w.removed],
    }
    return cloudevents.encode(
        f"alert.{state}", SOURCE, data, subject=w.province, id_=f"alert-revision-{uuid.uuid4()}"
    )
