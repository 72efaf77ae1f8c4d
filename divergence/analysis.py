"""The core: read a window from both sides, compare every event, classify every difference.

    entries + rows -> deliveries/events (records) -> divergences (compare) -> classified (rules)

An event belongs to the window by the stream id of its FIRST delivery (DESIGN 9), so the
read looks back before the window for earlier deliveries (as far as the events'
`stripe_created` says, at most `stream.max_lookback`) and past its end, up to the
reference time, for late retries. Rails rows are fetched by event id; the window SQL only finds
events CB never logged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from divergence.classify.rules import RuleSet
from divergence.compare.differences import compare_event, compare_rails_only, processed_at_ms, with_parties
from divergence.config import Config
from divergence.errors import UsageError
from divergence.model import Delivery, Divergence, EventResult, Malformed, ShadowEvent, StreamEntry, Window
from divergence.records.entries import Excluded, parse_entry
from divergence.sources import LegacySource, StreamSource

Progress = Callable[[str], None]


@dataclass
class Analysis:
    window: Window
    events: list[EventResult]
    deliveries: list[Delivery]  # valid CB deliveries whose stream id lies in the window
    malformed: list[Malformed]
    ignored: int  # entries of event types the config does not list
    primary: int  # entries written in primary mode
    legacy_durations_ms: list[float]
    later: int = 0  # events first delivered after the window, before the reference: the next window's
    stream_first_ms: int | None = None
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def compared(self) -> list[EventResult]:
        return [e for e in self.events if not e.pending]

    @property
    def pending(self) -> list[EventResult]:
        return [e for e in self.events if e.pending]

    @property
    def pending_count(self) -> int:
        """Events not compared yet: younger than the settle time, in the window or just after it."""
        return len(self.pending) + self.later

    @property
    def divergences(self) -> list[Divergence]:
        return [d for e in self.compared for d in e.divergences]


def analyse(config: Config, stream: StreamSource, legacy: LegacySource, window: Window, rules: RuleSet,
            progress: Progress | None = None) -> Analysis:
    say = progress or (lambda _: None)
    settle_ms = int(config.settle * 1000)
    types = frozenset(config.event_types)

    say("reading the stream window")
    in_window = [parse_entry(e, config.stream.fields, types) for e in stream.read_range(window.start_ms, window.end_ms)]
    deliveries = [p for p in in_window if isinstance(p, Delivery)]
    excluded = [p for p in in_window if isinstance(p, Excluded)]

    # Earlier deliveries: an event first delivered before the window belongs to an earlier one.
    # A delivery cannot precede its event's creation, so `stripe_created` bounds the look-back;
    # without it (the field is optional) only the full max_lookback is safe.
    created = [_created_ms(d) for d in deliveries]
    floor_ms = window.start_ms - int(config.stream.max_lookback * 1000)
    lookback_start = floor_ms if None in created else max(floor_ms, min([window.start_ms - settle_ms, *created]))
    say("reading earlier deliveries")
    before, seen_before = _read(stream.read_range(lookback_start, window.start_ms), config, types)
    # Retries after the window still belong to its events, up to "now" (Stripe retries for days).
    after_end = max(window.end_ms, min(window.reference_ms, window.end_ms + int(config.stream.max_lookback * 1000)))
    after, seen_after = _read(stream.read_range(window.end_ms, after_end), config, types)

    earlier_ids = {d.event_id for d in before}
    by_event: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        if delivery.event_id not in earlier_ids:
            by_event[delivery.event_id].append(delivery)
    for delivery in after:  # late retries of events first delivered in the window
        if delivery.event_id in by_event:
            by_event[delivery.event_id].append(delivery)
    events = [ShadowEvent(eid, ds[0].event_type, ds) for eid, ds in by_event.items()]
    later = {d.event_id for d in after} - set(by_event) - earlier_ids
    pending = {e.event_id for e in events if window.reference_ms - e.first.ms < settle_ms}
    settled = [e for e in events if e.event_id not in pending]

    say(f"fetching Rails rows for {len(settled)} events")
    fetched = legacy.fetch_by_ids([e.event_id for e in settled])
    check_columns(fetched, config, "by_ids_sql")
    rows_by_id = _group_rows(fetched, config)

    results: list[EventResult] = []
    for event in events:
        rep = event.representative
        result = EventResult(event.event_id, event.event_type, event.first.stream_id, event.first.ms,
                             event.event_id in pending, rep.result if rep else _shadow_result(event))
        if not result.pending:
            rows = rows_by_id.get(event.event_id, [])
            result.divergences = with_parties(compare_event(event, rows, config, window.reference_ms),
                                              event, rows, config)
        results.append(result)

    say("finding events only Rails processed")
    # Whatever CB wrote about an event (even a malformed or excluded entry) means CB saw it.
    seen_by_cb = seen_before | seen_after | {p.event_id for p in in_window if p.event_id}
    window_rows = legacy.fetch_window(window.start - timedelta(milliseconds=settle_ms),
                                      window.end + timedelta(milliseconds=settle_ms))
    check_columns(window_rows, config, "window_sql", compared=False)
    candidates = {str(r.get(config.legacy.event_id_column)) for r in window_rows} - seen_by_cb
    if candidates:  # Rails may process hours after CB (a queue backlog): look further back for these
        seen_by_cb |= _sighted(stream, candidates, lookback_start, floor_ms, config, types)
        candidates -= seen_by_cb
    # Every row of a Rails-only event, not just those near the window: its first row decides its
    # window, and two rows hours apart are one event processed twice.
    rails_only_rows = legacy.fetch_by_ids(sorted(candidates)) if candidates else []
    check_columns(rails_only_rows, config, "by_ids_sql")
    rails_only = _rails_only(rails_only_rows, config, window, settle_ms)
    results.extend(rails_only)
    settled_rails_only = {r.event_id for r in rails_only if not r.pending}
    rows_by_id.update((eid, rows) for eid, rows in _group_rows(rails_only_rows, config).items()
                      if eid in settled_rails_only)

    for result in results:
        result.divergences = rules.classify(result.divergences)
    results.sort(key=lambda r: (r.at_ms, r.event_id))

    legacy_durations = _legacy_durations(rows_by_id, config)
    return Analysis(
        window=window,
        events=results,
        deliveries=deliveries,
        malformed=[p for p in in_window if isinstance(p, Malformed)],
        ignored=sum(1 for x in excluded if x.reason == "ignored"),
        primary=sum(1 for x in excluded if x.reason == "primary"),
        later=len(later),
        legacy_durations_ms=legacy_durations,
        stream_first_ms=stream.first_ms(),
        sources={"stream": stream.describe(), "legacy": legacy.describe()},
    )


def _created_ms(delivery: Delivery) -> int | None:
    if delivery.stripe_created is not None:
        return delivery.stripe_created * 1000
    created = (delivery.payload or {}).get("created")
    return int(created) * 1000 if isinstance(created, int) and not isinstance(created, bool) else None


def _read(entries: Iterable[StreamEntry], config: Config, types: frozenset[str]) -> tuple[list[Delivery], set[str]]:
    """Valid deliveries, and the ids of every event CB wrote anything about."""
    deliveries, seen = [], set()
    for parsed in (parse_entry(e, config.stream.fields, types) for e in entries):
        if isinstance(parsed, Delivery):
            deliveries.append(parsed)
        if parsed.event_id:
            seen.add(parsed.event_id)
    return deliveries, seen


def _sighted(stream: StreamSource, ids: set[str], before_ms: int, floor_ms: int, config: Config,
             types: frozenset[str]) -> set[str]:
    """Which of `ids` CB logged before `before_ms`, reading back in growing slices only as far as needed."""
    found: set[str] = set()
    end, span = before_ms, 3600_000
    while end > floor_ms and found != ids:
        start = max(floor_ms, end - span)
        _, seen = _read(stream.read_range(start, end), config, types)
        found |= seen & ids
        end, span = start, span * 2
    return found


def check_columns(rows: list[dict[str, Any]], config: Config, which: str, compared: bool = True) -> None:
    """A column the config needs but the SQL does not return would read as NULL everywhere:
    a week of false divergences. Say so instead. The window SQL only needs to identify rows."""
    if not rows:
        return
    returned = rows[0].keys()
    legacy = config.legacy
    needed = {legacy.event_id_column: "legacy.event_id_column",
              legacy.processed_at_column: "legacy.processed_at_column"}
    for name, column in (("event_type_column", legacy.event_type_column),
                         ("duration_ms_column", legacy.duration_ms_column), ("error_column", legacy.error_column)):
        if column and (compared or name == "event_type_column"):
            needed.setdefault(column, f"legacy.{name}")
    for spec in config.fields if compared else ():
        sides = [spec.rails] + ([spec.currency.rails] if spec.currency and spec.currency.rails else [])
        for side in sides:
            for path in side.paths:
                needed.setdefault(str(path.steps[0]), f"field {spec.name!r}")
    missing = {column: why for column, why in needed.items() if column not in returned}
    if missing:
        column, why = next(iter(missing.items()))
        raise UsageError(f"legacy SQL ({which}) returns no column {column!r} (needed by {why}); "
                         f"it returns: {', '.join(returned)}")


def _shadow_result(event: ShadowEvent) -> str | None:
    results = {d.result for d in event.deliveries}
    for result in ("error", "skipped", "duplicate"):
        if result in results:
            return result
    return None


def _group_rows(rows: list[dict[str, Any]], config: Config) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[str(row.get(config.legacy.event_id_column))].append(row)
    return grouped


def _rails_only(rows: list[dict[str, Any]], config: Config, window: Window, settle_ms: int) -> list[EventResult]:
    """Events CB never logged whose first Rails row lies in the window: missing_in_shadow."""
    types = set(config.event_types)
    type_column = config.legacy.event_type_column
    out = []
    for event_id, group in _group_rows(rows, config).items():
        times = [t for t in (processed_at_ms(r, config) for r in group) if t is not None]
        if not times:
            continue
        first_ms = min(times)
        if not window.start_ms <= first_ms < window.end_ms:
            continue
        event_type = str(group[0].get(type_column) or "") if type_column else ""
        if type_column and event_type not in types:
            continue
        pending = window.reference_ms - first_ms < settle_ms
        result = EventResult(event_id, event_type, "", first_ms, pending, None)
        if not pending:
            result.divergences = with_parties(compare_rails_only(event_id, event_type, group, first_ms, config,
                                                                 window.reference_ms), None, group, config)
        out.append(result)
    return out


def _legacy_durations(rows_by_id: dict[str, list[dict[str, Any]]], config: Config) -> list[float]:
    column = config.legacy.duration_ms_column
    if not column:
        return []
    out = []
    for rows in rows_by_id.values():
        value = rows[0].get(column)
        if isinstance(value, bool) or value is None:
            continue
        try:
            out.append(float(value))
        except (TypeError, ValueError):
            pass  # a duration Rails did not record as a number is left out of its percentiles
    return out
