"""Properties every method must have, checked with the shipped rules (hypothesis).

- a constant series never fires;
- scaling a surge up never un-fires a rule (the surge lies inside the rule's window, so only
  the observed count grows: every method's baseline ends before the window);
- a single event on an otherwise empty history never fires, with or without the rule's
  min_count.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from services.alerts.detectors import detect
from services.alerts.model import Rule, Series
from services.alerts.rules import load_rules
from services.core.settings import DEFAULT_RULES_FILE

RULES = load_rules(DEFAULT_RULES_FILE)
START = date(2019, 1, 1)
EXAMPLES = settings(max_examples=25, deadline=None)


def fired(values: np.ndarray, rule: Rule, as_of_index: int | None = None) -> bool:
    series = Series("PK-SD", "incidents", START, values.astype(np.int64))
    index = len(values) - 1 if as_of_index is None else as_of_index
    return detect(series, rule, START + timedelta(days=index)).fired


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
@EXAMPLES
@given(level=st.integers(0, 6), days=st.integers(1, 1200), back=st.integers(0, 30))
def test_a_constant_series_never_fires(rule: Rule, level: int, days: int, back: int) -> None:
    values = np.full(days, level)
    assert not fired(values, rule, max(days - 1 - back, 0))


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
@EXAMPLES
@given(
    seed=st.integers(0, 2**32 - 1),
    weekly_rate=st.sampled_from([1.0, 5.0, 25.0]),
    days=st.integers(600, 1100),
    surge_days=st.integers(1, 30),
    per_day=st.integers(1, 8),
    low=st.integers(0, 4),
    more=st.integers(1, 6),
)
def test_scaling_a_surge_up_never_unfires(
    rule: Rule,
    seed: int,
    weekly_rate: float,
    days: int,
    surge_days: int,
    per_day: int,
    low: int,
    more: int,
) -> None:
    base = np.random.default_rng(seed).poisson(weekly_rate / 7, days)
    extra = np.zeros(days, dtype=np.int64)
    extra[-min(surge_days, rule.window.days) :] = per_day
    outcomes = [fired(base + k * extra, rule) for k in (low, low + more, low + 3 * more)]
    event(f"fired: {outcomes}")
    assert outcomes == sorted(outcomes)  # False… then True…, never True then False


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("min_count", ["shipped", "none"])
@EXAMPLES
@given(days=st.integers(1, 1200), data=st.data())
def test_a_single_event_on_an_empty_baseline_never_fires(
    rule: Rule, min_count: str, days: int, data: st.DataObject
) -> None:
    judged = rule if min_count == "shipped" else replace(rule, min_count=0)
    values = np.zeros(days, dtype=np.int64)
    values[data.draw(st.integers(0, days - 1), label="event day")] = 1
    as_of = data.draw(st.integers(0, days - 1), label="as_of")
    assert not fired(values, judged, as_of)
