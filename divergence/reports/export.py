"""`export --last N`: the newest N divergent events, one row per divergence.

The stream is read backwards with XREVRANGE in growing slices (1,000 entries, then 2,000,
4,000, ...) only until N matching events are found or the stream's start is reached, never
the whole stream. Each slice is analysed like any window (look-back, late retries), with
entries already read served from a cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from divergence.analysis import Progress, analyse
from divergence.classify.rules import RuleSet
from divergence.config import Config
from divergence.model import Divergence, EventResult, Window, display, ms_to_datetime
from divergence.reports.filters import Filters
from divergence.sources import LegacySource, StreamSource
from divergence.sources.recording import CachedStream

COLUMNS = ("event_id", "event_type", "first_seen", "stream_id", "kind", "field", "cb_value", "rails_value",
           "category", "rule", "detail", "lag_s", "customer", "subscription", "ticket", "rule_description")
FIRST_SLICE_ENTRIES = 1000


@dataclass
class Export:
    events: list[EventResult]  # newest first, each with only the divergences that passed the filters
    exhausted: bool  # fewer than N found: the scan reached the start of the stream or snapshot
    scanned_from_ms: int
    reference_ms: int


def slices_backwards(stream: CachedStream, end_ms: int, floor_ms: int) -> Iterator[tuple[int, int]]:
    """Windows [start, end), newest first, each holding about twice the entries of the one before.
    Their edges come from XREVRANGE pages read from the end, which also fill the cache, so the
    stream is read back only as far as the caller keeps asking."""
    want, batch = FIRST_SLICE_ENTRIES, []
    for page in stream.read_reverse(end_ms):
        batch.extend(page)
        if len(batch) < want:
            continue
        start = batch[-1].ms + 1  # entries of that very millisecond may go on in the next page
        if start <= floor_ms:
            break
        if start < end_ms:
            stream.add([e for e in batch if e.ms >= start], start, end_ms)
            yield start, end_ms
            end_ms, want = start, want * 2
        batch = [e for e in batch if e.ms < start]
    if floor_ms < end_ms:
        yield floor_ms, end_ms


def last_divergent(config: Config, stream: StreamSource, legacy: LegacySource, rules: RuleSet,
                   window: Window, n: int, filters: Filters, progress: Progress | None = None,
                   floor_ms: int | None = None) -> Export:
    """The newest `n` divergent events first delivered before `window.end`, as of `window.reference`.
    `floor_ms` stops the scan earlier than the stream's first entry (a snapshot's window start)."""
    found: list[EventResult] = []
    stream = CachedStream(stream)
    reference_ms = window.reference_ms
    floor = stream.first_ms()
    if floor is not None and floor_ms is not None:
        floor = max(floor, floor_ms)
    scanned_from = window.end_ms
    if floor is None:  # an empty stream
        return Export([], True, scanned_from, reference_ms)
    for start, end in slices_backwards(stream, window.end_ms, floor):
        if progress:
            progress(f"scanning {ms_to_datetime(start):%Y-%m-%d %H:%M} .. {ms_to_datetime(end):%Y-%m-%d %H:%M}")
        analysis = analyse(config, stream, legacy, Window(start, end, reference_ms), rules)
        scanned_from = start
        matching = []
        for event in analysis.compared:
            kept = [d for d in event.divergences if filters(d)]
            if kept:
                event.divergences = kept
                matching.append(event)
        found.extend(sorted(matching, key=lambda e: (e.at_ms, e.stream_id, e.event_id), reverse=True))
        if len(found) >= n:
            break
    return Export(found[:n], len(found) < n, scanned_from, reference_ms)


def rows(export: Export, typed: bool = False) -> Iterator[dict[str, Any]]:
    for event in export.events:
        for d in event.divergences:
            yield row(d, typed)


def row(d: Divergence, typed: bool = False) -> dict[str, Any]:
    """One export row. CSV (`typed=False`) has text cells, null as empty; JSON keeps
    null as null and the lag as a number."""
    return {
        "event_id": d.event_id,
        "event_type": d.event_type,
        "first_seen": ms_to_datetime(d.at_ms).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "stream_id": d.stream_id or None if typed else d.stream_id,
        "kind": d.kind,
        "field": d.field or None if typed else d.field,
        "cb_value": _value(d.cb_value, typed),
        "rails_value": _value(d.rails_value, typed),
        "category": d.category,
        "rule": d.rule_id if typed else d.rule_id or "",
        "detail": d.detail or None if typed else d.detail,
        "lag_s": (None if d.lag_s is None else round(d.lag_s, 3)) if typed else
                 ("" if d.lag_s is None else f"{d.lag_s:.3f}"),
        "customer": d.customer if typed else d.customer or "",
        "subscription": d.subscription if typed else d.subscription or "",
        "ticket": d.rule_ticket if typed else d.rule_ticket or "",
        "rule_description": d.rule_description if typed else d.rule_description or "",
    }


def _value(value: Any, typed: bool) -> Any:
    if value is None:
        return None if typed else ""
    return display(value)
