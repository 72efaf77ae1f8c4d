"""Raw stream entries -> `Delivery`, or `Malformed` with its reason.

Writers send every value as a string (DESIGN 2.1). A bad entry is data, not an
exception: it is returned as `Malformed` and counted, and the run goes on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from divergence.records import jsontext

from divergence.config import StreamFields
from divergence.model import Delivery, Malformed, StreamEntry, datetime_to_ms
from divergence.timeparse import to_aware

RESULTS = ("processed", "duplicate", "error", "skipped")
MAX_NUMBER = 1e12  # durations in ms and unix seconds stay far below this
EVENT_ID = re.compile(r"^evt_[A-Za-z0-9_]{1,255}$")


@dataclass(frozen=True)
class Excluded:
    """A well-formed entry that is not compared: another event type, or written in primary mode."""

    stream_id: str
    event_id: str
    reason: str  # "ignored" (event type not configured) or "primary"


def parse_entry(entry: StreamEntry, names: StreamFields, event_types: frozenset[str]) -> Delivery | Malformed | Excluded:
    def bad(reason: str, event_id: str | None = None) -> Malformed:
        return Malformed(entry.stream_id, reason, event_id, entry.key)

    fields: dict[str, str] = {}
    problem = None  # the first fault; the entry is still read so the report can name its event
    for raw_name, raw_value in entry.fields:
        name = raw_name.decode("utf-8", "backslashreplace")
        try:
            raw_name.decode("utf-8")
            value = raw_value.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_bytes = raw_name if name != raw_name.decode("utf-8", "ignore") else raw_value
            what = "a field name" if bad_bytes is raw_name else f"field {name!r}"
            problem = problem or f"{what} is not UTF-8 (byte 0x{bad_bytes[exc.start]:02x} at offset {exc.start})"
            continue
        if name in fields:
            problem = problem or f"field {name!r} appears more than once"
            continue
        fields[name] = value

    event_id = fields.get(names.stripe_event_id, "")  # exact: Rails' rows are looked up by it
    if problem:
        return bad(problem, event_id if EVENT_ID.match(event_id) else None)
    if not event_id:
        return bad(f"missing {names.stripe_event_id}")
    if not EVENT_ID.match(event_id):
        return bad(f"{names.stripe_event_id} {_short(event_id)} is not a Stripe event id (evt_...)")
    event_type = fields.get(names.event_type, "").strip()
    if not event_type:
        return bad(f"missing {names.event_type}", event_id)
    mode = (fields.get(names.mode) or "").strip().lower() or None
    if mode == "primary":
        return Excluded(entry.stream_id, event_id, "primary")
    if event_type not in event_types:
        return Excluded(entry.stream_id, event_id, "ignored")

    result = (fields.get(names.result) or "").strip().lower() or None
    if result not in RESULTS:
        what = f"{names.result} {_short(result)}" if result else f"missing {names.result}"
        return bad(f"{what} (expected one of {', '.join(RESULTS)})", event_id)

    try:
        duration = _number(fields.get(names.duration_ms), names.duration_ms)
        created = _number(fields.get(names.stripe_created), names.stripe_created)
        received_ms = _received_ms(fields.get(names.received_at), names.received_at, entry.ms)
        outcome = _json_object(fields.get(names.outcome), names.outcome) or {}
        payload = _json_object(fields.get(names.payload), names.payload)
    except ValueError as exc:
        return bad(str(exc), event_id)

    dedup = (fields.get(names.dedup) or "").strip().lower() or None
    if dedup not in (None, "hit", "miss"):
        return bad(f"{names.dedup} {_short(dedup)} (expected hit or miss)", event_id)
    known = set(names.model_dump().values())
    return Delivery(
        stream_id=entry.stream_id,
        key=entry.key,
        event_id=event_id,
        event_type=event_type,
        result=result,
        duration_ms=duration,
        dedup=dedup,
        error=fields.get(names.error) or None,
        outcome=outcome,
        payload=payload,
        mode=mode,
        received_ms=received_ms,
        stripe_created=int(created) if created is not None else None,
        extra={k: v for k, v in fields.items() if k not in known},
    )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _number(text: str | None, name: str) -> float | None:
    if text is None or text.strip() == "":
        return None
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{name} {_short(text)} is not a number") from None
    if not 0 <= number <= MAX_NUMBER:  # also refuses NaN and infinities
        raise ValueError(f"{name} {_short(text)} is out of range (0 to {MAX_NUMBER:.0e})")
    return number


def _received_ms(text: str | None, name: str, fallback: int) -> int:
    if text is None or text.strip() == "":
        return fallback
    try:
        return datetime_to_ms(to_aware(text))
    except (ValueError, OverflowError):
        raise ValueError(f"{name} {_short(text)} is not an ISO-8601 time") from None


def _json_object(text: str | None, name: str) -> dict[str, Any] | None:
    if text is None or text.strip() == "":
        return None
    try:
        value = jsontext.loads(text)
    except ValueError as exc:
        reason = f"{exc.msg} at char {exc.pos}" if hasattr(exc, "msg") else str(exc).splitlines()[0]
        raise ValueError(f"{name} is not JSON ({reason})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} is JSON {_JSON_TYPES.get(type(value), type(value).__name__)}, not an object")
    return value


_JSON_TYPES = {list: "array", str: "text", int: "number", float: "number", bool: "true/false", type(None): "null"}
