"""`group`: divergence counts by one or more keys, largest first, with share and examples."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from divergence.model import Divergence

GROUP_KEYS = ("event_type", "kind", "field", "category", "rule", "signature", "customer", "subscription")
EXAMPLES = 3


NONE = "(none)"
UNEXPLAINED = "(unexplained)"


def json_key(value: str) -> str | None:
    """Machine output says null where tables say (none) or (unexplained)."""
    return None if value in (NONE, UNEXPLAINED) else value


def key_of(divergence: Divergence, key: str) -> str:
    if key == "rule":
        return divergence.rule_id or UNEXPLAINED
    if key == "signature":
        return divergence.signature
    value = getattr(divergence, key)
    return NONE if value is None or value == "" else str(value)


@dataclass(frozen=True)
class Group:
    keys: tuple[str, ...]
    count: int
    share: float  # of all divergences grouped
    events: int
    categories: dict[str, int]
    examples: tuple[str, ...]  # event ids, newest first
    rule_description: str | None = None  # when all its divergences share one rule
    ticket: str | None = None

    def as_dict(self, by: Sequence[str]) -> dict[str, Any]:
        """The machine-readable form (JSON): null where a table says (none) or (unexplained)."""
        return {"keys": {k: json_key(v) for k, v in zip(by, self.keys, strict=True)}, "count": self.count,
                "share": self.share, "events": self.events, "categories": self.categories,
                "examples": list(self.examples), "ticket": self.ticket, "rule_description": self.rule_description}


def group(divergences: Iterable[Divergence], by: Sequence[str], total: int | None = None) -> list[Group]:
    """Counts of divergences by `by`, largest first (ties: by key, for a stable order).
    Shares are of `total` (default: all the divergences given)."""
    buckets: dict[tuple[str, ...], list[Divergence]] = defaultdict(list)
    counted = 0
    for divergence in divergences:
        buckets[tuple(key_of(divergence, k) for k in by)].append(divergence)
        counted += 1
    total = total or counted
    groups = []
    for keys, items in buckets.items():
        newest = sorted(items, key=lambda d: (d.at_ms, d.event_id), reverse=True)
        examples = tuple(dict.fromkeys(d.event_id for d in newest))[:EXAMPLES]
        rules = {(d.rule_description, d.rule_ticket) for d in items}
        description, ticket = next(iter(rules)) if len(rules) == 1 else (None, None)
        groups.append(Group(keys, len(items), len(items) / total, len({d.event_id for d in items}),
                            dict(Counter(d.category or "bug" for d in items)), examples, description, ticket))
    groups.sort(key=lambda g: (-g.count, g.keys))
    return groups
