"""Rules: an ordered list that says why CB and Rails differ (DESIGN 4).

First match wins for each divergence; a divergence no rule matches is unexplained and
counts as `bug`. A rule's description is the documentation the runbook asks for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from divergence.config import Seconds, Strict, validate
from divergence.model import KINDS, Divergence, display
from divergence.records.paths import extract, is_null, parse_path
from divergence.yamlfile import load_yaml

Predicate = Callable[[Divergence], bool]
_UNSET: Any = object()


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Range(Strict):
    min: Seconds | None = None
    max: Seconds | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g} s) is greater than max ({self.max:g} s): it can never match")
        return self

    def contains(self, value: float | None) -> bool:
        if value is None:
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class Match(Strict):
    event_type: list[str] | None = Field(None, min_length=1)
    kind: list[str] | None = Field(None, min_length=1)
    field: list[str] | None = Field(None, min_length=1)
    cb: Any = _UNSET
    rails: Any = _UNSET
    detail: Any = _UNSET
    lag: Range | None = None
    age: Range | None = None
    payload: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_conditions(cls, data: Any) -> Any:
        # `field: null` (or a key left blank) would add no test at all and explain everything.
        for key in ("event_type", "kind", "field", "lag", "age", "payload"):
            if isinstance(data, dict) and key in data and data[key] is None:
                raise ValueError(f"{key}: null is not a condition; give a value or remove the key")
        return data

    @field_validator("event_type", "kind", "field", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return _listify(value)

    @field_validator("kind")
    @classmethod
    def _known_kinds(cls, kinds: list[str] | None) -> list[str] | None:
        for kind in kinds or ():
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
        return kinds

    @field_validator("cb", "rails", "detail")
    @classmethod
    def _valid_matcher(cls, spec: Any) -> Any:
        if spec is not _UNSET:
            value_matcher(spec)  # raises ValueError with the reason
        return spec

    @field_validator("payload")
    @classmethod
    def _valid_payload(cls, spec: dict[str, Any] | None) -> dict[str, Any] | None:
        if spec is not None and not spec:
            raise ValueError("an empty payload condition matches everything; name at least one field")
        for path, matcher in (spec or {}).items():
            parse_path(str(path))
            value_matcher(matcher)
        return spec


class Rule(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    category: Literal["timing", "bug", "expected"]
    description: str = Field(min_length=1)
    ticket: str | None = None
    doc: str | None = None
    match: Match

    @model_validator(mode="after")
    def _described(self) -> "Rule":
        if not self.description.strip():
            raise ValueError("description must say why this difference exists")
        if not self.match.model_fields_set:
            raise ValueError("match has no condition: the rule would explain every divergence")
        return self


class RuleFile(Strict):
    rules: list[Rule] = Field(default_factory=list)


def value_matcher(spec: Any) -> Callable[[Any], bool]:
    """null | scalar (exact, on the displayed form) | list of those | {glob: ...} | {regex: ...}."""
    if spec is None:
        return is_null
    if isinstance(spec, list):
        matchers = [value_matcher(item) for item in spec]
        return lambda value: any(m(value) for m in matchers)
    if isinstance(spec, dict):
        if len(spec) != 1 or next(iter(spec)) not in ("glob", "regex"):
            raise ValueError("a value matcher mapping takes exactly one of glob or regex")
        (how, pattern), = spec.items()
        if not isinstance(pattern, str):
            raise ValueError(f"{how} needs a text pattern")
        if how == "glob":
            return lambda value: not is_null(value) and fnmatchcase(display(value), pattern)
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
        return lambda value: not is_null(value) and compiled.search(display(value)) is not None
    wanted = display(spec)
    return lambda value: not is_null(value) and display(value) == wanted


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    file: str
    test: Predicate


def compile_rule(rule: Rule, file: str) -> CompiledRule:
    m = rule.match
    checks: list[Predicate] = []
    if m.event_type:
        globs = m.event_type
        checks.append(lambda d: any(fnmatchcase(d.event_type, g) for g in globs))
    if m.kind:
        kinds = set(m.kind)
        checks.append(lambda d: d.kind in kinds)
    if m.field:
        fields = m.field
        checks.append(lambda d: any(fnmatchcase(d.field, f) for f in fields))
    if m.cb is not _UNSET:
        cb = value_matcher(m.cb)
        checks.append(lambda d: cb(d.cb_value))
    if m.rails is not _UNSET:
        rails = value_matcher(m.rails)
        checks.append(lambda d: rails(d.rails_value))
    if m.detail is not _UNSET:
        detail = value_matcher(m.detail)
        checks.append(lambda d: detail(d.detail))
    if m.lag:
        lag = m.lag
        checks.append(lambda d: lag.contains(d.lag_s))
    if m.age:
        age = m.age
        checks.append(lambda d: age.contains(d.age_s))
    for path_text, spec in (m.payload or {}).items():
        path, matcher = parse_path(str(path_text)), value_matcher(spec)
        # An absent payload field is null, like everywhere else; an event without a payload matches nothing.
        checks.append(lambda d, path=path, matcher=matcher: d.payload is not None
                      and matcher(extract(d.payload, path)))
    return CompiledRule(rule, file, lambda d: all(check(d) for check in checks))


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]

    def first_match(self, divergence: Divergence) -> Rule | None:
        for compiled in self.rules:
            if compiled.test(divergence):
                return compiled.rule
        return None

    def classify(self, divergences: Iterable[Divergence]) -> list[Divergence]:
        """Each divergence with its category and rule; unexplained ones are bugs."""
        out = []
        for divergence in divergences:
            rule = self.first_match(divergence)
            if rule is None:
                out.append(replace(divergence, category="bug", rule_id=None, rule_description=None))
            else:
                out.append(replace(divergence, category=rule.category, rule_id=rule.id,
                                   rule_description=" ".join(rule.description.split()),
                                   rule_ticket=rule.ticket))
        return out


def load_rules(paths: Iterable[Path | str]) -> RuleSet:
    compiled: list[CompiledRule] = []
    seen: dict[str, str] = {}
    for path in paths:
        located = load_yaml(path)
        if located.data is None:
            continue
        if not isinstance(located.data, dict):
            raise located.error((), "a rule file is a mapping with a `rules:` list")
        parsed: RuleFile = validate(located, RuleFile)
        for index, rule in enumerate(parsed.rules):
            if rule.id in seen:
                raise located.error(("rules", index, "id"), f"rule id {rule.id!r} is already used in {seen[rule.id]}")
            seen[rule.id] = str(path)
            compiled.append(compile_rule(rule, str(path)))
    return RuleSet(tuple(compiled))
