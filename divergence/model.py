"""The vocabulary every stage shares.

Data flows one way: `StreamEntry` (raw stream pairs) and legacy rows (dicts) ->
`Delivery` / `ShadowEvent` and legacy rows grouped by event (records) -> `Divergence`
(compare) -> classified `Divergence` (classify) -> reports.
CB is the shadow (candidate), Rails the legacy side (control); always in that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

KINDS = (
    "value_mismatch",
    "missing_in_legacy",
    "missing_in_shadow",
    "error_in_shadow",
    "error_in_legacy",
    "duplicate_processing",
)
CATEGORIES = ("bug", "timing", "expected")  # worst first
CATEGORY_RANK = {c: i for i, c in enumerate(CATEGORIES)}


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def datetime_to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("naive datetime where an aware one is required")
    return int(round(dt.timestamp() * 1000))


def stream_id_ms(stream_id: str) -> int:
    return int(stream_id.split("-", 1)[0])


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """Sort key: stream ids order by (milliseconds, sequence), not as text."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class StreamEntry:
    """One raw stream entry: field/value pairs exactly as Redis returned them."""

    stream_id: str
    fields: tuple[tuple[bytes, bytes], ...]
    key: str = "webhook:events"

    @property
    def ms(self) -> int:
        return stream_id_ms(self.stream_id)

    @property
    def order(self) -> tuple[tuple[int, int], str]:
        """Stream order across keys: by id, then by key for one id in two keys."""
        return stream_id_key(self.stream_id), self.key


@dataclass(frozen=True)
class Window:
    """[start_ms, end_ms) by first-delivery stream id; `reference_ms` is "now"."""

    start_ms: int
    end_ms: int
    reference_ms: int

    @property
    def start(self) -> datetime:
        return ms_to_datetime(self.start_ms)

    @property
    def end(self) -> datetime:
        return ms_to_datetime(self.end_ms)

    @property
    def reference(self) -> datetime:
        return ms_to_datetime(self.reference_ms)


@dataclass
class Delivery:
    """One parsed CB delivery of a Stripe event."""

    stream_id: str
    key: str
    event_id: str
    event_type: str
    result: str | None
    duration_ms: float | None
    dedup: str | None
    error: str | None
    outcome: dict[str, Any]
    payload: dict[str, Any] | None
    mode: str | None
    received_ms: int
    stripe_created: int | None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ms(self) -> int:
        return stream_id_ms(self.stream_id)


@dataclass(frozen=True)
class Malformed:
    """A stream entry that could not be read as a delivery, and why."""

    stream_id: str
    reason: str
    event_id: str | None = None
    key: str = "webhook:events"


@dataclass
class ShadowEvent:
    """All CB deliveries of one Stripe event, in stream order."""

    event_id: str
    event_type: str
    deliveries: list[Delivery]

    @property
    def first(self) -> Delivery:
        return self.deliveries[0]

    @property
    def processed(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.result == "processed"]

    @property
    def representative(self) -> Delivery | None:
        """The delivery that stands for the event: the first `processed` one."""
        processed = self.processed
        return processed[0] if processed else None


@dataclass
class Divergence:
    """One difference between CB and Rails for one event (one per field)."""

    event_id: str
    event_type: str
    kind: str
    field: str = ""
    cb_value: Any = None
    rails_value: Any = None
    detail: str = ""
    stream_id: str = ""
    at_ms: int = 0
    lag_s: float | None = None
    age_s: float | None = None
    customer: str | None = None
    subscription: str | None = None
    payload: dict[str, Any] | None = None
    category: str | None = None
    rule_id: str | None = None
    rule_description: str | None = None
    rule_ticket: str | None = None

    @property
    def signature(self) -> str:
        if self.kind == "value_mismatch":
            return f"{self.field}: {display(self.cb_value)} -> {display(self.rails_value)}"
        return f"{self.kind}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class EventResult:
    """The verdict for one Stripe event in the window."""

    event_id: str
    event_type: str
    stream_id: str  # first delivery; "" for a Rails-only event
    at_ms: int
    pending: bool
    cb_result: str | None
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def category(self) -> str | None:
        """The worst category of its divergences (bug > timing > expected)."""
        if not self.divergences:
            return None
        return min((d.category or "bug" for d in self.divergences), key=CATEGORY_RANK.__getitem__)


def display(value: Any) -> str:
    """The one way a compared value is shown (tables, CSV, signatures, rule matching)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        spec = "milliseconds" if value.microsecond else "seconds"
        return value.isoformat(timespec=spec).replace("+00:00", "Z")
    if isinstance(value, (dict, list)):
        from divergence.records.jsontext import canonical

        return canonical(value)
    return str(value)
