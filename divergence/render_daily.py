"""How `daily-check` looks on a terminal (and in a cron mail, where rich drops the colour)."""

from __future__ import annotations

from typing import Any


from divergence.model import display, ms_to_datetime
from divergence.render import Out
from divergence.reports.daily import DailyCheck, Percentiles, Rates, ms, pct

BY_TYPE_COLUMNS = ("window_start", "window_end", "verdict", "event_type", "compared", "divergent", "divergence_rate", "rate_without_timing",
                   "raw_rate", "error_rate", "cb_p50_ms", "cb_p95_ms", "cb_p99_ms")


def by_type_rows(report: DailyCheck) -> list[dict[str, Any]]:
    window = {"window_start": display(report.analysis.window.start), "window_end": display(report.analysis.window.end),
              "verdict": "pass" if report.passed else "fail"}

    def row(name: str, r: Rates, p: Percentiles) -> dict[str, Any]:
        return {**window, "event_type": name, "compared": r.compared, "divergent": r.divergent,
                "divergence_rate": _num(r.divergence_rate), "rate_without_timing": _num(r.rate_without_timing),
                "raw_rate": _num(r.raw_rate), "error_rate": _num(r.error_rate),
                "cb_p50_ms": _num(p.p50), "cb_p95_ms": _num(p.p95), "cb_p99_ms": _num(p.p99)}

    empty = Percentiles(0, None, None, None)
    rows = [row(t, r, report.cb_time_by_type.get(t, empty)) for t, r in report.by_type.items()]
    rows.append(row("(all)", report.overall, report.cb_time))
    return rows


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def print_daily(c: Out, report: DailyCheck, more_hint: str = "divergence group") -> None:
    a = report.analysis
    verdict = "[bold green]PASS[/]" if report.passed else "[bold red]FAIL[/]"
    c.print(f"daily-check {verdict}  ", end="")
    c.text(f"{display(a.window.start)} .. {display(a.window.end)} (as of {display(a.window.reference)})")
    c.text(f"  CB: {a.sources.get('stream', '')} · Rails: {a.sources.get('legacy', '')}", style="dim")
    for check in report.checks:
        mark = "[green]✓[/]" if check.passed else "[red]✗[/]"
        c.print(f"  {mark} ", end="")
        c.text(check.message)
    if a.stream_first_ms is not None and a.stream_first_ms > a.window.start_ms:
        c.text(f"  note: the stream starts at {display(ms_to_datetime(a.stream_first_ms))}, after the window "
               "start: it was trimmed, or the shadow started later; there is no evidence before it")
    o = report.overall
    c.print()
    summary = [
        ("events", f"{o.compared:,} compared · {a.pending_count:,} pending · {a.ignored:,} ignored · "
                   f"{a.primary:,} primary · {len(a.malformed):,} malformed"),
        ("rates", f"divergence {pct(o.divergence_rate)} · without timing {pct(o.rate_without_timing)} · "
                  f"raw {pct(o.raw_rate)} · errors {pct(o.error_rate)}"),
        ("deliveries", f"{report.deliveries:,} · dedup hits {pct(report.dedup_hit_rate)}"),
        ("CB time", _p(report.cb_time)),
        ("Rails time", _p(report.rails_time)),
    ]
    for label, text in summary:
        c.text(f"  {label:<11}{text}")
    c.print()
    cats = report.categories
    c.table("events by category", ["bug", "timing", "expected", "match"],
            [[f"{cats[k]:,}" for k in ("bug", "timing", "expected", "match")]],
            justify=dict.fromkeys(["bug", "timing", "expected", "match"], "right"))
    kinds = [(k, f"{d:,}", f"{e:,}") for k, (d, e) in report.kinds.items() if d]
    if kinds:
        c.print()
        c.table("divergences by kind", ["kind", "divergences", "events"], kinds,
                justify={"divergences": "right", "events": "right"})
    c.print()
    numeric = ["compared", "divergent", "rate", "w/o timing", "raw", "errors", "CB p95"]
    empty = Percentiles(0, None, None, None)
    lines = [(t, r, report.cb_time_by_type.get(t, empty)) for t, r in report.by_type.items()]
    c.table("by event type", ["event type", *numeric],
            [[name, f"{r.compared:,}", f"{r.divergent:,}", pct(r.divergence_rate), pct(r.rate_without_timing),
              pct(r.raw_rate), pct(r.error_rate), ms(p.p95)]
             for name, r, p in [*lines, ("(all)", report.overall, report.cb_time)]],
            justify=dict.fromkeys(numeric, "right"))
    if report.top_groups:
        c.print()
        c.table("top divergence groups (expected left out)",
                ["category", "rule", "kind", "field", "count", "examples"],
                [[*g.keys, f"{g.count:,}", " ".join(g.examples)] for g in report.top_groups],
                justify={"count": "right"}, wrap=["examples"])
        if report.more_groups:
            groups = "group" if report.more_groups == 1 else "groups"
            c.text(f"  … {report.more_groups} more {groups}: {more_hint}",
                   style="dim")
    if a.malformed:
        c.print()
        shown = a.malformed[:10]
        c.table(f"malformed entries ({len(a.malformed):,})", ["stream id", "event id", "reason"],
                [[m.stream_id, m.event_id or "", m.reason] for m in shown], wrap=["reason"])
        if len(a.malformed) > len(shown):
            c.text(f"  … and {len(a.malformed) - len(shown):,} more (--format json lists all)", style="dim")


def _p(p: Percentiles) -> str:
    if not p.count:
        return "n/a"
    return f"p50 {p.p50:,.0f} ms · p95 {p.p95:,.0f} ms · p99 {p.p99:,.0f} ms ({p.count:,} timings)"
