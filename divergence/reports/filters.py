"""The filters `export` and `group` share: --category, --kind, --event-type, --rule."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from divergence.model import Divergence


@dataclass(frozen=True)
class Filters:
    categories: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()  # globs
    rules: tuple[str, ...] = ()  # rule ids; "none" selects unexplained divergences

    def __call__(self, d: Divergence) -> bool:
        if self.categories and d.category not in self.categories:
            return False
        if self.kinds and d.kind not in self.kinds:
            return False
        if self.event_types and not any(fnmatchcase(d.event_type, g) for g in self.event_types):
            return False
        if self.rules and (d.rule_id or "none") not in self.rules:
            return False
        return True
