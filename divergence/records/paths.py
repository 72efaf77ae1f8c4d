"""Where a compared value lives: `outcome.status`, `payload.data.object.items.data[*].quantity | sum`.

A path walks dicts by key and lists by `[n]` or `[*]` (every element); `| first|min|max|sum`
folds the elements found. A string met on the way that holds JSON (a JSON column, the
stream's `outcome` field) is parsed, so the same syntax reads both sides.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from divergence.records import jsontext
from divergence.timeparse import to_aware

AGGREGATIONS = ("first", "min", "max", "sum")
_SEGMENT = re.compile(r"^([^\[\]]+)((?:\[(?:\*|-?\d+)\])*)$")
_INDEX = re.compile(r"\[(\*|-?\d+)\]")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def is_null(value: Any) -> bool:
    """DESIGN 9: NULL, absent and "" are the same null; 0 and false are values."""
    return value is None or value is MISSING or value == "" or value == b""


@dataclass(frozen=True)
class ValuePath:
    text: str
    steps: tuple[str | int, ...]  # key, list index, or "*" for every element
    aggregation: str = "first"

    @property
    def fans_out(self) -> bool:
        return "*" in self.steps


@functools.lru_cache(maxsize=4096)  # a config names a few dozen paths, read for every event
def parse_path(text: str) -> ValuePath:
    body, _, aggregation = text.partition("|")
    body, aggregation = body.strip(), aggregation.strip() or "first"
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r} (use one of {', '.join(AGGREGATIONS)})")
    if not body:
        raise ValueError("empty path")
    steps: list[str | int] = []
    for segment in body.split("."):
        match = _SEGMENT.match(segment)
        if not match:
            raise ValueError(f"bad path segment {segment!r} in {text!r}")
        steps.append(match.group(1))
        for index in _INDEX.findall(match.group(2)):
            steps.append("*" if index == "*" else int(index))
    return ValuePath(text, tuple(steps), aggregation)


def _maybe_json(value: Any) -> Any:
    if isinstance(value, (str, bytes)) and value[:1] in ("{", "[", b"{", b"["):
        try:
            return jsontext.loads(value)
        except ValueError:
            return value
    return value


def extract(document: Any, path: ValuePath) -> Any:
    """The value at `path`, or MISSING. Fan-out paths fold their non-null values."""
    found = _walk(document, path.steps)
    if not path.fans_out:
        return found[0] if found else MISSING
    values = [v for v in found if not is_null(v)]
    if not values:
        return MISSING
    if path.aggregation == "first":
        return values[0]
    numbers = [_number(v) for v in values]
    if any(n is None for n in numbers):
        # Not all numbers: min/max still order ISO timestamps (by instant, not as text). Anything
        # else is returned whole, so the comparison reports it instead of a silent fallback.
        instants = [_instant(v) for v in values]
        if path.aggregation == "sum" or any(i is None for i in instants):
            return values
        pick = min(instants) if path.aggregation == "min" else max(instants)
        return values[instants.index(pick)]
    if path.aggregation == "sum":
        total = sum(numbers, Decimal(0))
        return int(total) if total == total.to_integral_value() else total
    pick = min(numbers) if path.aggregation == "min" else max(numbers)
    return values[numbers.index(pick)]


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return to_aware(value)
    except ValueError:
        return None


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _walk(value: Any, steps: tuple[str | int, ...]) -> list[Any]:
    if not steps:
        return [value]
    value = _maybe_json(value)
    step, rest = steps[0], steps[1:]
    if step == "*":
        if not isinstance(value, list):
            return []
        return [found for item in value for found in _walk(item, rest)]
    if isinstance(step, int):
        if not isinstance(value, list) or not -len(value) <= step < len(value):
            return []
        return _walk(value[step], rest)
    if not isinstance(value, dict) or step not in value:
        return []
    return _walk(value[step], rest)


def first_present(document: Any, paths: tuple[ValuePath, ...]) -> tuple[Any, ValuePath | None]:
    """DESIGN 2.3: the first path whose value is present (not null, absent or "") wins."""
    for path in paths:
        value = extract(document, path)
        if not is_null(value):
            return value, path
    return MISSING, None
