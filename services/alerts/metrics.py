"""Every metric the alerts service exports (DESIGN.md "Metrics"), on one explicit registry.

Label sets are created up front (every province × window, province × rule, province × severity,
transition target), so each series exists at zero before the first evaluation. With several
instances each one reports the provinces it owns and zeros for the others: aggregate with `sum`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.alerts.model import SEVERITIES

WINDOWS: Mapping[str, int] = {"7d": 7, "28d": 28}
TRANSITIONS = ("pending", "firing", "resolved", "acknowledged")
COUNTS = ("incidents", "killed", "injured")


class AlertsMetrics:
    def __init__(
        self,
        provinces: Iterable[str],
        rules: Iterable[str],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.provinces = tuple(provinces)
        self.rules = tuple(rules)
        r = self.registry
        self.counts = {
            name: Gauge(
                f"surgewatch_province_{name}",
                f"{name.capitalize()} in the province over the window ending at the clock's day.",
                ["province", "window"],
                registry=r,
            )
            for name in COUNTS
        }
        self.expected = Gauge(
            "surgewatch_province_expected_incidents",
            "Expected incidents over the window: the weekly mean of the 52 weeks before the "
            "7-day window (shorter where history is), times the window in weeks.",
            ["province", "window"],
            registry=r,
        )
        self.surge_score = Gauge(
            "surgewatch_province_surge_score",
            "The latest score of each rule in the province (ratio, z … by method; 0 if none).",
            ["province", "rule"],
            registry=r,
        )
        self.alerts_active = Gauge(
            "surgewatch_alerts_active",
            "Alerts in state firing in the province, by severity, as of the clock's day "
            "(acknowledged ones included; pending and resolved ones not: the api's "
            "active_alerts counts pending ones too). An instance reports 0 for the provinces "
            "it does not own.",
            ["province", "severity"],
            registry=r,
        )
        self.transitions = Counter(
            "surgewatch_alert_transitions",
            "Alert transitions published to the alerts topic, by target state.",
            ["to"],
            registry=r,
        )
        self.evaluations = Counter(
            "surgewatch_alerts_evaluations",
            "Committed evaluations (one province, one or more days), by clock.",
            ["clock"],
            registry=r,
        )
        self.evaluation_seconds = Histogram(
            "surgewatch_alerts_evaluation_seconds",
            "Time to evaluate one province (read, detect, reconcile, commit).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.days_evaluated = Counter(
            "surgewatch_alerts_days_evaluated",
            "Province-days evaluated (event time: every day crossed, re-evaluations included).",
            registry=r,
        )
        self.withdrawals = Counter(
            "surgewatch_alerts_withdrawals",
            "Stored transitions or episodes withdrawn because a past day's data changed.",
            registry=r,
        )
        self.reconciled = Counter(
            "surgewatch_alerts_reconciled",
            "Provinces re-evaluated (event time) because their stored counts differed from "
            "those their history was evaluated on while no notice of the change was pending: "
            "a lost notice, a change made while alerts was stopped, or a notice still on its way.",
            registry=r,
        )
        self.errors = Counter(
            "surgewatch_alerts_errors",
            "Failures, by stage (evaluate, publish, notice, reconcile).",
            ["stage"],
            registry=r,
        )
        self.as_of = Gauge(
            "surgewatch_alerts_as_of_timestamp_seconds",
            "The clock's current day (its start, UTC) as a Unix time; 0 before the first event.",
            registry=r,
        )
        for province in self.provinces:
            self.reset_province(province)
        for to in TRANSITIONS:
            self.transitions.labels(to)
        for clock in ("live", "event_time"):
            self.evaluations.labels(clock)
        for stage in ("evaluate", "publish", "notice", "reconcile"):
            self.errors.labels(stage)

    def reset_province(self, province: str) -> None:
        """Zero a province's series (at start, and when another instance takes it over)."""
        for window in WINDOWS:
            for gauge in self.counts.values():
                gauge.labels(province, window).set(0)
            self.expected.labels(province, window).set(0)
        for rule in self.rules:
            self.surge_score.labels(province, rule).set(0)
        for severity in SEVERITIES:
            self.alerts_active.labels(province, severity).set(0)
