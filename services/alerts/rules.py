"""The rules file: YAML in, validated `Rule`s out, or one `RulesError` naming file, line, reason.

    rules:
      - name: surge_ratio_4w          # unique; letters, digits, _ . -
        metric: incidents             # incidents | killed | injured | casualties
        window: 7d                    # the observed window: Nd or Nw
        method: ratio                 # ratio | ears | farrington | nb_tail | record
        params: {factor: 2.0}         # the method's parameters (see services.alerts.detectors)
        min_count: 3                  # the window's count must reach this to fire (default 0)
        severity: warning             # info | warning | critical
        for: 2d                       # pending this long before firing (default 0)
        keep_firing_for: 7d           # condition false this long before resolving (default 0)

The document is composed (not just loaded) so every node keeps its position: each error points
at the line of the offending key or value.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from services.alerts.detectors import METHODS
from services.alerts.model import METRICS, SEVERITIES, Rule

_FIELDS = ("name", "metric", "window", "method", "params", "min_count", "severity", "for",
           "keep_firing_for")  # fmt: skip
_REQUIRED = ("name", "metric", "window", "method", "severity")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_DURATION = re.compile(r"(\d+)([dw])")


class RulesError(ValueError):
    """A rules file that cannot be used; the message is `<file>:<line>: <reason>`."""

    def __init__(self, file: Path | str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}")
        self.file, self.line, self.reason = str(file), line, reason


def load_rules(path: Path) -> tuple[Rule, ...]:
    """Read and validate the rules file at `path` (every field, every parameter)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(path, 0, f"cannot read the rules file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise RulesError(path, 0, "the rules file is not UTF-8") from exc
    return parse_rules(text, path)


def parse_rules(text: str, file: Path | str = "<rules>") -> tuple[Rule, ...]:
    """Validate rules given as YAML text; `file` only names the source in errors."""
    return _Reader(file).document(text)


class _Reader:
    def __init__(self, file: Path | str) -> None:
        self.file = file
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node | None, reason: str) -> RulesError:
        return RulesError(self.file, node.start_mark.line + 1 if node else 1, reason)

    def document(self, text: str) -> tuple[Rule, ...]:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            raise RulesError(self.file, line, f"invalid YAML: {exc.problem or exc}") from exc
        except yaml.YAMLError as exc:
            raise RulesError(self.file, 1, f"invalid YAML: {exc}") from exc
        if root is None:
            raise RulesError(self.file, 1, "empty rules file: expected a mapping with 'rules'")
        top = self.mapping(root, "the rules file", ("rules",))
        if "rules" not in top:
            raise self.fail(root, "missing 'rules' (a list of rules)")
        key, items = top["rules"]
        if not isinstance(items, yaml.SequenceNode):
            raise self.fail(items, "'rules' must be a list of rules")
        if not items.value:
            raise self.fail(key, "'rules' is empty: ship at least one rule")
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        for node in items.value:
            rule = self.rule(node)
            if rule.name in seen:
                raise self.fail(
                    node, f"duplicate rule name {rule.name!r} (first on line {seen[rule.name]})"
                )
            seen[rule.name] = node.start_mark.line + 1
            rules.append(rule)
        return tuple(rules)

    def mapping(
        self, node: yaml.Node, what: str, known: tuple[str, ...] | None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Keys → (key node, value node); refuses non-mappings, duplicate and unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            name = self.scalar(key)
            if not isinstance(name, str):
                raise self.fail(key, f"{what}: keys must be words, got {name!r}")
            if name in out:
                raise self.fail(key, f"{what}: duplicate key {name!r}")
            if known is not None and name not in known:
                raise self.fail(key, f"{what}: unknown field {name!r} (known: {', '.join(known)})")
            out[name] = (key, value)
        return out

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, "expected a single value, got a list or mapping")
        return self.constructor.construct_object(node)

    def rule(self, node: yaml.Node) -> Rule:
        fields = self.mapping(node, "a rule", _FIELDS)
        name_node = fields["name"][1] if "name" in fields else None
        name = self.scalar(name_node) if name_node is not None else None
        what = f"rule {name!r}" if isinstance(name, str) else "a rule"
        for required in _REQUIRED:
            if required not in fields:
                raise self.fail(node, f"{what}: missing field {required!r}")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise self.fail(name_node, f"{what}: name must be 1-100 letters, digits, '_', '.', '-'")

        def word(field: str, allowed: tuple[str, ...]) -> str:
            value = self.scalar(fields[field][1])
            if value not in allowed:
                raise self.fail(
                    fields[field][1],
                    f"{what}: unknown {field} {value!r} (one of {', '.join(allowed)})",
                )
            return str(value)

        metric = word("metric", METRICS)
        method = word("method", tuple(METHODS))
        severity = word("severity", SEVERITIES)
        window = self.duration(fields["window"][1], f"{what}: window", minimum=1)
        allowed_windows = METHODS[method].window_days  # type: ignore[index]
        if allowed_windows and window.days not in allowed_windows:
            allowed = ", ".join(f"{d}d" for d in allowed_windows)
            raise self.fail(fields["window"][1], f"{what}: {method} needs a window of {allowed}")
        params = self.params(fields, method, what)
        min_count = 0
        if "min_count" in fields:
            min_count = self.scalar(fields["min_count"][1])
            if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 0:
                raise self.fail(
                    fields["min_count"][1],
                    f"{what}: min_count must be a whole number >= 0, got {min_count!r}",
                )
        for_, keep = (
            self.duration(fields[f][1], f"{what}: {f}", minimum=0) if f in fields else timedelta(0)
            for f in ("for", "keep_firing_for")
        )
        return Rule(
            name=name,
            metric=metric,  # type: ignore[arg-type]
            window=window,
            method=method,  # type: ignore[arg-type]
            params=params,
            min_count=min_count,
            severity=severity,  # type: ignore[arg-type]
            for_=for_,
            keep_firing_for=keep,
        )

    def params(
        self, fields: dict[str, tuple[yaml.Node, yaml.Node]], method: str, what: str
    ) -> dict[str, Any]:
        if "params" not in fields:
            return {}
        value = fields["params"][1]
        if isinstance(value, yaml.ScalarNode) and self.scalar(value) is None:
            return {}
        spec = METHODS[method].params  # type: ignore[index]
        out: dict[str, Any] = {}
        for name, (key, node) in self.mapping(value, f"{what}: params", None).items():
            if name not in spec:
                raise self.fail(
                    key,
                    f"{what}: unknown parameter {name!r} for {method} "
                    f"(known: {', '.join(sorted(spec))})",
                )
            param = self.scalar(node)
            problem = spec[name].problem(param)
            if problem:
                raise self.fail(node, f"{what}: parameter {name!r} {problem}")
            out[name] = param
        return out

    def duration(self, node: yaml.Node, what: str, minimum: int) -> timedelta:
        """`Nd` or `Nw` (a bare 0 is accepted for zero), at least `minimum` days."""
        raw = self.scalar(node)
        match = _DURATION.fullmatch(raw) if isinstance(raw, str) else None
        if raw == 0 and not isinstance(raw, bool):
            days = 0
        elif match:
            days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
        else:
            raise self.fail(node, f"{what} must be a duration like 7d or 2w, got {raw!r}")
        if days < minimum:
            raise self.fail(node, f"{what} must be at least {minimum}d, got {raw!r}")
        return timedelta(days=days)
