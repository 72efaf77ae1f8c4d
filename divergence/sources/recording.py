"""Sources that remember what was read through them, so a snapshot holds exactly
what an analysis of its window needs (lookback, late retries, rows by id and by window)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from divergence.model import StreamEntry
from divergence.sources import LegacySource, StreamSource


class RecordingStream:
    def __init__(self, inner: StreamSource) -> None:
        self.inner = inner
        self.seen: dict[tuple[str, str], StreamEntry] = {}

    def read_range(self, start_ms: int, end_ms: int) -> Iterator[StreamEntry]:
        for entry in self.inner.read_range(start_ms, end_ms):
            self.seen[(entry.key, entry.stream_id)] = entry
            yield entry

    def read_reverse(self, end_ms: int) -> Iterator[list[StreamEntry]]:
        for page in self.inner.read_reverse(end_ms):
            for entry in page:
                self.seen[(entry.key, entry.stream_id)] = entry
            yield page

    def first_ms(self) -> int | None:
        return self.inner.first_ms()

    def describe(self) -> str:
        return self.inner.describe()

    def entries(self) -> list[StreamEntry]:
        return sorted(self.seen.values(), key=lambda e: e.order)


class RecordingLegacy:
    def __init__(self, inner: LegacySource) -> None:
        self.inner = inner
        self.timezone = inner.timezone
        # The two queries may select different columns, so their rows are kept apart.
        # Identical rows are legitimate (Rails processed twice): keep the most seen in one read.
        self.counts: dict[str, Counter[tuple]] = {"ids": Counter(), "window": Counter()}
        self.rows: dict[tuple, dict[str, Any]] = {}

    def _remember(self, query: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        here: Counter[tuple] = Counter()
        for row in rows:
            key = tuple(sorted((k, repr(v)) for k, v in row.items()))
            here[key] += 1
            self.rows.setdefault(key, row)
        for key, count in here.items():
            self.counts[query][key] = max(self.counts[query][key], count)
        return rows

    def fetch_by_ids(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        return self._remember("ids", self.inner.fetch_by_ids(event_ids))

    def fetch_window(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return self._remember("window", self.inner.fetch_window(start, end))

    def describe(self) -> str:
        return self.inner.describe()

    def rows_of(self, query: str) -> list[dict[str, Any]]:
        """The rows `fetch_by_ids` ("ids") or `fetch_window` ("window") returned."""
        return [self.rows[key] for key, count in self.counts[query].items() for _ in range(count)]


class CachedStream:
    """Remembers one contiguous id range already read, so a scan that moves backwards in
    slices (export) reads each entry from Redis once although every slice looks forward
    to the reference time for late retries."""

    def __init__(self, inner: StreamSource) -> None:
        self.inner = inner
        self.lo = self.hi = 0
        self.cached: list[StreamEntry] = []

    def read_range(self, start_ms: int, end_ms: int) -> Iterator[StreamEntry]:
        if end_ms <= start_ms:
            return iter(())
        if not self.cached and self.lo == self.hi or end_ms < self.lo or start_ms > self.hi:
            self.cached, self.lo, self.hi = list(self.inner.read_range(start_ms, end_ms)), start_ms, end_ms
        else:
            if start_ms < self.lo:
                self.cached = list(self.inner.read_range(start_ms, self.lo)) + self.cached
                self.lo = start_ms
            if end_ms > self.hi:
                self.cached += list(self.inner.read_range(self.hi, end_ms))
                self.hi = end_ms
        lo = bisect_left(self.cached, start_ms, key=_ms)
        hi = bisect_left(self.cached, end_ms, key=_ms)
        return iter(self.cached[lo:hi])

    def read_reverse(self, end_ms: int) -> Iterator[list[StreamEntry]]:
        return self.inner.read_reverse(end_ms)

    def add(self, entries: list[StreamEntry], start_ms: int, end_ms: int) -> None:
        """Entries read some other way (XREVRANGE pages) that hold all of [start_ms, end_ms)."""
        if not self.cached and self.lo == self.hi:
            self.lo, self.hi = start_ms, end_ms
            self.cached = sorted(entries, key=lambda e: e.order)
        elif start_ms < self.lo <= end_ms:
            self.cached = sorted((e for e in entries if e.ms < self.lo), key=lambda e: e.order) + self.cached
            self.lo = start_ms

    def first_ms(self) -> int | None:
        return self.inner.first_ms()

    def describe(self) -> str:
        return self.inner.describe()


def _ms(entry: StreamEntry) -> int:
    return entry.ms
