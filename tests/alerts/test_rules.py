"""The rules file: every error names file + line + reason; the shipped file loads."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from services.alerts.detectors import METHODS, MethodSpec
from services.alerts.model import METHODS as METHOD_NAMES
from services.alerts.rules import RulesError, load_rules, parse_rules
from services.core.settings import DEFAULT_RULES_FILE

GOOD = """\
rules:
  - name: surge
    metric: incidents
    window: 7d
    method: ratio
    params: {baseline_weeks: 4, factor: 2.0}
    min_count: 3
    severity: warning
    for: 2d
    keep_firing_for: 1w
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_shipped_rules_load_and_cover_every_method() -> None:
    rules = load_rules(DEFAULT_RULES_FILE)
    assert {r.method for r in rules} == set(METHOD_NAMES)
    assert len({r.name for r in rules}) == len(rules)


def test_a_good_rule_with_every_field() -> None:
    (rule,) = parse_rules(GOOD)
    assert rule.name == "surge" and rule.metric == "incidents" and rule.method == "ratio"
    assert rule.window == timedelta(days=7) and rule.min_count == 3
    assert rule.params == {"baseline_weeks": 4, "factor": 2.0}
    assert (rule.for_, rule.keep_firing_for) == (timedelta(days=2), timedelta(days=7))
    assert rule.severity == "warning"


def test_defaults_for_optional_fields() -> None:
    (rule,) = parse_rules(
        "rules:\n- {name: a, metric: killed, window: 2w, method: ratio, severity: info}\n"
    )
    assert rule.window == timedelta(days=14) and rule.params == {} and rule.min_count == 0
    assert rule.for_ == rule.keep_firing_for == timedelta(0)


# (text, line, reason fragment). Lines are 1-based and point at the offending key or value.
CASES = [
    ("", 1, "empty rules file"),
    ("rules: [\n", 2, "invalid YAML"),
    ("- a\n", 1, "the rules file must be a mapping"),
    ("rulez: []\n", 1, "unknown field 'rulez'"),
    ("rules: {}\n", 1, "'rules' must be a list"),
    ("rules: []\n", 1, "'rules' is empty"),
    ("rules:\n  - 3\n", 2, "a rule must be a mapping"),
    (GOOD.replace("metric: incidents", "metric: deaths"), 3, "unknown metric 'deaths'"),
    (GOOD.replace("method: ratio", "method: magic"), 5, "unknown method 'magic'"),
    (GOOD.replace("window: 7d", "window: 7 days"), 4, "window must be a duration"),
    (GOOD.replace("window: 7d", "window: 0d"), 4, "window must be at least 1d"),
    (GOOD.replace("for: 2d", "for: 2h"), 9, "for must be a duration"),
    (GOOD.replace("keep_firing_for: 1w", "keep_firing_for: -1d"), 10, "keep_firing_for"),
    (GOOD.replace("severity: warning", "severity: panic"), 8, "unknown severity 'panic'"),
    (GOOD.replace("min_count: 3", "min_count: -1"), 7, "min_count must be a whole number"),
    (GOOD.replace("min_count: 3", "min_count: 2.5"), 7, "min_count must be a whole number"),
    (GOOD.replace("baseline_weeks: 4", "baseline_wks: 4"), 6, "unknown parameter 'baseline_wks'"),
    (GOOD.replace("factor: 2.0", "factor: high"), 6, "parameter 'factor' must be a number"),
    (GOOD.replace("factor: 2.0", "factor: 0.5"), 6, "parameter 'factor' must be > 1"),
    (GOOD.replace("baseline_weeks: 4", "baseline_weeks: 2.5"), 6, "must be a whole number"),
    (GOOD.replace("params: {baseline_weeks: 4, factor: 2.0}", "params: [1]"), 6, "params must be"),
    (GOOD.replace("    min_count: 3\n", "    min_count: 3\n    colour: red\n"), 8, "'colour'"),
    (
        GOOD.replace("    min_count: 3\n", "    min_count: 3\n    min_count: 4\n"),
        8,
        "duplicate key",
    ),
    (GOOD.replace("    metric: incidents\n", ""), 2, "rule 'surge': missing field 'metric'"),
    (GOOD.replace("name: surge", "name: 'bad name!'"), 2, "name must be"),
    (GOOD.replace("name: surge", "name: [a]"), 2, "expected a single value"),
    (GOOD + GOOD.replace("rules:\n", ""), 11, "duplicate rule name 'surge' (first on line 2)"),
]


@pytest.mark.parametrize(("text", "line", "reason"), CASES)
def test_errors_name_file_line_and_reason(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert reason in message, message
    assert (caught.value.file, caught.value.line) == (str(path), line)


def test_missing_file_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"nope\.yaml:0: cannot read"):
        load_rules(tmp_path / "nope.yaml")
    bad = tmp_path / "latin.yaml"
    bad.write_bytes(b"rules:\n  - name: caf\xe9\n")
    with pytest.raises(RulesError, match=r"latin\.yaml:0: the rules file is not UTF-8"):
        load_rules(bad)


@pytest.mark.parametrize(("method", "spec"), sorted(METHODS.items()))
def test_every_method_refuses_an_unknown_parameter(
    tmp_path: Path, method: str, spec: MethodSpec
) -> None:
    window = f"{spec.window_days[0]}d" if spec.window_days else "7d"
    text = (
        "rules:\n"
        f"  - {{name: x, metric: incidents, window: {window}, method: {method}, severity: info,\n"
        "     params: {nonsense: 1}}\n"
    )
    with pytest.raises(RulesError, match=r":3: .*unknown parameter 'nonsense'"):
        load_rules(write(tmp_path, text))
