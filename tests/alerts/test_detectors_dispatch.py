"""detect(): dispatch, the invariants shared by every method, and serialisable findings."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, timedelta

import numpy as np
import pytest

from services.alerts.detectors import METHODS, detect
from services.alerts.model import Rule, Series
from services.alerts.rules import load_rules
from services.core.settings import DEFAULT_RULES_FILE

START = date(2021, 1, 1)
RULES = load_rules(DEFAULT_RULES_FILE)


def test_every_method_is_dispatched() -> None:
    assert set(METHODS) == {"ratio", "ears", "farrington", "nb_tail", "record"}
    values = np.random.default_rng(3).poisson(2, 1200)
    series = Series("PK-KP", "incidents", START, values)
    for rule in RULES:
        finding = detect(series, rule, series.end)
        assert finding.method == rule.method
        assert finding.window == f"{rule.window.days}d"
        assert finding.observed == values[-rule.window.days :].sum()


def test_rules_the_loader_would_refuse_raise() -> None:
    series = Series("PK-KP", "incidents", START, np.zeros(10, dtype=np.int64))
    bad_window = Rule("f", "incidents", timedelta(days=14), "farrington")
    with pytest.raises(ValueError, match="cannot use a window"):
        detect(series, bad_window, START)
    bad_param = Rule("r", "incidents", timedelta(days=7), "ratio", {"factr": 2})
    with pytest.raises(ValueError, match="unknown parameter 'factr'"):
        detect(series, bad_param, START)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_short_and_empty_history_never_raise(rule: Rule) -> None:
    # 30 days is shorter than any shipped rule's history needs (the least: farrington's 9 weeks)
    for length in (0, 1, 6, 30):
        series = Series("PK-GB", "incidents", START, np.ones(length, dtype=np.int64))
        for as_of in (START - timedelta(days=1), START, START + timedelta(days=max(length - 1, 0))):
            finding = detect(series, rule, as_of)
            assert not finding.fired and finding.detail["reason"]


def test_days_after_the_series_end_count_as_zero() -> None:
    rule = Rule("r", "incidents", timedelta(days=7), "ratio", min_count=0)
    series = Series("PK-SD", "incidents", START, np.full(60, 1, dtype=np.int64))
    later = detect(series, rule, series.end + timedelta(days=3))
    assert later.observed == 4  # 4 known days of 1, 3 unknown days of 0


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_findings_serialise_without_nan_or_infinity(rule: Rule) -> None:
    rng = np.random.default_rng(11)
    values = rng.poisson(3, 1200)
    values[-20:] = 400  # an extreme surge: p-values underflow to 0
    series = Series("PK-BA", "incidents", START, values)
    for as_of in (START + timedelta(days=5), series.end):
        finding = detect(series, rule, as_of)
        json.dumps(asdict(finding), allow_nan=False, default=str)
    assert detect(series, rule, series.end).fired
