"""`daily-check`: the runbook's daily figures (DESIGN 5 and 9) and the verdict.

Rates count events (an event counts once, under its worst category); groups count
divergences. The divergence rate counts timing; the rate without timing and the raw
rate (expected included) stand beside it, overall and per event type.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from divergence.analysis import Analysis
from divergence.config import Thresholds
from divergence.model import CATEGORIES, KINDS, EventResult, display, ms_to_datetime
from divergence.reports.groups import Group, group

TOP_GROUPS = 5
TOP_GROUP_KEYS = ("category", "rule", "kind", "field")  # systematic issues, not single values


@dataclass(frozen=True)
class Rates:
    compared: int
    divergent: int  # events with a divergence that is not expected
    raw_divergent: int  # events with any divergence
    bug: int  # events whose worst category is bug
    errors: int  # events whose CB result is error

    @property
    def divergence_rate(self) -> float | None:
        return self.divergent / self.compared if self.compared else None

    @property
    def raw_rate(self) -> float | None:
        return self.raw_divergent / self.compared if self.compared else None

    @property
    def rate_without_timing(self) -> float | None:
        return self.bug / self.compared if self.compared else None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.compared if self.compared else None


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    threshold: float | None
    passed: bool
    message: str


@dataclass
class DailyCheck:
    analysis: Analysis
    overall: Rates
    by_type: dict[str, Rates]
    categories: dict[str, int]  # events by worst category, plus "match"
    kinds: dict[str, tuple[int, int]]  # kind -> (divergences, events)
    dedup_hit_rate: float | None
    deliveries: int
    cb_time: Percentiles
    cb_time_by_type: dict[str, Percentiles]
    rails_time: Percentiles
    checks: list[Check]
    top_groups: list[Group] = field(default_factory=list)
    more_groups: int = 0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def rates(events: list[EventResult]) -> Rates:
    return Rates(
        compared=len(events),
        divergent=sum(1 for e in events if e.category in ("bug", "timing")),
        raw_divergent=sum(1 for e in events if e.divergences),
        bug=sum(1 for e in events if e.category == "bug"),
        errors=sum(1 for e in events if e.cb_result == "error"),
    )


def percentiles(values: list[float]) -> Percentiles:
    if not values:
        return Percentiles(0, None, None, None)
    p50, p95, p99 = np.percentile(np.asarray(values, dtype=float), [50, 95, 99])
    return Percentiles(len(values), float(p50), float(p95), float(p99))


def daily_check(analysis: Analysis, thresholds: Thresholds) -> DailyCheck:
    compared = analysis.compared
    by_type: dict[str, list[EventResult]] = {}
    for event in compared:
        by_type.setdefault(event.event_type, []).append(event)
    categories = Counter(e.category or "match" for e in compared)
    kind_divergences = Counter(d.kind for d in analysis.divergences)
    kind_events = Counter(k for e in compared for k in {d.kind for d in e.divergences})
    deliveries = analysis.deliveries
    hits = sum(1 for d in deliveries if d.dedup == "hit" or d.result == "duplicate")
    durations_by_type: dict[str, list[float]] = {}
    for d in deliveries:
        if d.duration_ms is not None:
            durations_by_type.setdefault(d.event_type, []).append(d.duration_ms)
    overall = rates(compared)
    cb_time = percentiles([v for vs in durations_by_type.values() for v in vs])
    report = DailyCheck(
        analysis=analysis,
        overall=overall,
        by_type={t: rates(es) for t, es in sorted(by_type.items())},
        categories={c: categories.get(c, 0) for c in (*CATEGORIES, "match")},
        kinds={k: (kind_divergences.get(k, 0), kind_events.get(k, 0)) for k in KINDS},
        dedup_hit_rate=hits / len(deliveries) if deliveries else None,
        deliveries=len(deliveries),
        cb_time=cb_time,
        cb_time_by_type={t: percentiles(v) for t, v in sorted(durations_by_type.items())},
        rails_time=percentiles(analysis.legacy_durations_ms),
        checks=_checks(overall, cb_time, len(analysis.malformed), thresholds),
    )
    groups = group((d for d in analysis.divergences if d.category != "expected"), TOP_GROUP_KEYS,
                   total=len(analysis.divergences))
    report.top_groups, report.more_groups = groups[:TOP_GROUPS], max(0, len(groups) - TOP_GROUPS)
    return report


def _checks(overall: Rates, cb_time: Percentiles, malformed: int, t: Thresholds) -> list[Check]:
    if overall.compared == 0:
        return [Check("evidence", 0, None, False, "no compared events in the window: no evidence")]
    checks = []
    if t.divergence_rate is not None:
        rate = overall.divergence_rate
        checks.append(Check("divergence_rate", rate, t.divergence_rate, _below(rate, t.divergence_rate),
                            f"divergence rate {pct(rate)} (limit: below {pct(t.divergence_rate)})"))
    if t.error_rate is not None:
        rate = overall.error_rate
        checks.append(Check("error_rate", rate, t.error_rate, _below(rate, t.error_rate),
                            f"error rate {pct(rate)} (limit: below {pct(t.error_rate)})"))
    if t.p95_ms is not None:
        p95 = cb_time.p95
        ok = p95 is not None and p95 <= t.p95_ms
        checks.append(Check("p95_ms", p95, t.p95_ms, ok, f"CB p95 {ms(p95)} (limit: {ms(t.p95_ms)})"))
    if t.malformed is not None:
        checks.append(Check("malformed", malformed, t.malformed, malformed <= t.malformed,
                            f"{malformed} malformed entries (limit: {t.malformed})"))
    return checks


def _below(rate: float, limit: float) -> bool:
    """Below the limit; a limit of 0 means none at all."""
    return rate < limit or rate == limit == 0


def pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.3f} %"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


def as_dict(report: DailyCheck) -> dict[str, Any]:
    """The machine-readable form (`--format json`)."""
    a = report.analysis

    def rates_dict(r: Rates) -> dict[str, Any]:
        return {"compared": r.compared, "divergent": r.divergent, "raw_divergent": r.raw_divergent,
                "bug": r.bug, "errors": r.errors, "divergence_rate": r.divergence_rate,
                "raw_rate": r.raw_rate, "rate_without_timing": r.rate_without_timing,
                "error_rate": r.error_rate}

    def pct_dict(p: Percentiles) -> dict[str, Any]:
        return {"count": p.count, "p50": _round(p.p50), "p95": _round(p.p95), "p99": _round(p.p99)}

    return {
        "window": {"start": display(a.window.start), "end": display(a.window.end),
                   "reference": display(a.window.reference)},
        "sources": a.sources,
        "stream_first_entry": None if a.stream_first_ms is None else display(ms_to_datetime(a.stream_first_ms)),
        "verdict": "pass" if report.passed else "fail",
        "checks": [{"name": c.name, "value": c.value, "threshold": c.threshold, "passed": c.passed,
                    "message": c.message} for c in report.checks],
        "events": {"compared": len(a.compared), "pending": a.pending_count, "ignored": a.ignored,
                   "primary": a.primary, "malformed": len(a.malformed)},
        "rates": rates_dict(report.overall),
        "by_event_type": {t: rates_dict(r) for t, r in report.by_type.items()},
        "categories": report.categories,
        "kinds": {k: {"divergences": d, "events": e} for k, (d, e) in report.kinds.items()},
        "deliveries": report.deliveries,
        "dedup_hit_rate": report.dedup_hit_rate,
        "processing_ms": {"cb": pct_dict(report.cb_time),
                          "cb_by_event_type": {t: pct_dict(p) for t, p in report.cb_time_by_type.items()},
                          "rails": pct_dict(report.rails_time)},
        "top_groups": [g.as_dict(TOP_GROUP_KEYS) for g in report.top_groups],
        "more_groups": report.more_groups,
        "malformed": [{"stream_id": m.stream_id, "key": m.key, "event_id": m.event_id, "reason": m.reason}
                      for m in a.malformed],
    }



def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
