"""Where the two sides come from: a live Redis stream and SQL database, or a snapshot.

Each source is a small interface so the analysis never knows which one it reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from divergence.model import StreamEntry


class StreamSource(Protocol):
    """CB's side: entries of one or more stream keys, merged in stream-id order."""

    def read_range(self, start_ms: int, end_ms: int) -> Iterator[StreamEntry]:
        """Entries whose id milliseconds lie in [start_ms, end_ms), oldest first, read in pages."""
        ...

    def read_reverse(self, end_ms: int) -> Iterator[list[StreamEntry]]:
        """Pages of entries with id milliseconds < end_ms, newest first, until the stream's start.

        The caller stops iterating once it has seen enough, so only what is needed is read.
        """
        ...

    def first_ms(self) -> int | None:
        """Milliseconds of the oldest entry still in the stream(s), None when empty."""
        ...

    def describe(self) -> str:
        """Where this reads from, with any password masked."""
        ...


class LegacySource(Protocol):
    """Rails' side: rows as dicts of Python values (Decimal, naive datetime, int, str, None...)."""

    timezone: str  # zone of naive DATETIME values

    def fetch_by_ids(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every row for these Stripe event ids (several rows per id are kept)."""
        ...

    def fetch_window(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Rows processed in [start, end) (aware datetimes)."""
        ...

    def describe(self) -> str:
        ...
