"""One Stripe event, both sides -> its divergences (DESIGN 3 and 9).

Which CB delivery stands for the event: the first `processed` one. No processed delivery
but an error: `error_in_shadow`. Two or more processed: `duplicate_processing`. Only
`skipped` while Rails has a row: `missing_in_shadow` (detail skipped). Two Rails rows:
`duplicate_processing` on Rails' side; the first row by processed_at is compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from divergence.config import Config, FieldSpec
from divergence.model import Divergence, ShadowEvent, datetime_to_ms
from divergence.timeparse import to_aware
from divergence.records.paths import MISSING, first_present, is_null
from divergence.records.values import InvalidValue, Money, equal, normalise


@dataclass(frozen=True)
class Context:
    """What a divergence carries besides the values (for rules and reports)."""

    event_id: str
    event_type: str
    stream_id: str
    at_ms: int
    age_s: float
    lag_s: float | None
    payload: dict[str, Any] | None


def cb_document(delivery) -> dict[str, Any]:
    # Extra entry fields are reachable by name, but never in place of the parsed outcome/payload.
    return {**delivery.extra, "outcome": delivery.outcome, "payload": delivery.payload or {}}


def processed_at_ms(row: dict[str, Any], config: Config, near_ms: int | None = None) -> int | None:
    """Rails' processing time. A naive time in a repeated DST hour names two instants: the one
    nearer `near_ms` (CB's receipt) is meant."""
    value = row.get(config.legacy.processed_at_column)
    try:
        options = [datetime_to_ms(to_aware(value, config.legacy.timezone, fold)) for fold in (0, 1)]
    except (ValueError, TypeError, OverflowError):
        return None
    return min(options, key=lambda ms: abs(ms - near_ms)) if near_ms is not None else options[0]


def legacy_error(row: dict[str, Any], config: Config) -> str | None:
    column = config.legacy.error_column
    value = row.get(column) if column else None
    return None if is_null(value) else str(value)


def applies(spec: FieldSpec, event_type: str) -> bool:
    return spec.event_types is None or any(fnmatchcase(event_type, g) for g in spec.event_types)


def compare_event(event: ShadowEvent, rows: list[dict[str, Any]], config: Config, reference_ms: int) -> list[Divergence]:
    """Every divergence of one settled CB event against Rails' rows for it."""
    first = event.first
    rows = sorted(rows, key=lambda r: processed_at_ms(r, config) or 0)
    rails_ms = processed_at_ms(rows[0], config, near_ms=first.received_ms) if rows else None
    ctx = Context(
        event_id=event.event_id,
        event_type=event.event_type,
        stream_id=first.stream_id,
        at_ms=first.ms,
        age_s=(reference_ms - first.ms) / 1000,
        lag_s=(rails_ms - first.received_ms) / 1000 if rails_ms is not None else None,
        payload=first.payload or next((d.payload for d in event.deliveries if d.payload), None),
    )
    out: list[Divergence] = []
    processed = event.processed
    results = sorted({d.result for d in event.deliveries})
    if len(processed) > 1:
        out.append(_kind(ctx, "duplicate_processing", len(processed), len(rows) or None,
                         f"CB processed it {len(processed)} times"))
    if len(rows) > 1:
        out.append(_kind(ctx, "duplicate_processing", len(processed) or None, len(rows),
                         f"Rails processed it {len(rows)} times"))

    rails_error = legacy_error(rows[0], config) if rows else None
    if not processed:
        errors = [d for d in event.deliveries if d.result == "error"]
        if errors:
            if rails_error is None:  # both failing is agreement, not a divergence
                out.append(_kind(ctx, "error_in_shadow", errors[-1].error or "error",
                                 "processed" if rows else None, _one_line(errors[-1].error)))
        elif rows and rails_error is None:
            detail = "skipped" if "skipped" in results else "no processed delivery (" + ", ".join(results) + ")"
            out.append(_kind(ctx, "missing_in_shadow", "/".join(results), "processed", detail))
        return out

    if not rows:
        out.append(_kind(ctx, "missing_in_legacy", "processed", None, "Rails has no row"))
        return out
    if rails_error is not None:
        out.append(_kind(ctx, "error_in_legacy", "processed", rails_error, _one_line(rails_error)))
        return out
    out.extend(compare_fields(ctx, cb_document(processed[0]), rows[0], config))
    return out


def compare_rails_only(event_id: str, event_type: str, rows: list[dict[str, Any]], first_ms: int,
                       config: Config, reference_ms: int) -> list[Divergence]:
    """The divergences of an event only Rails processed: CB never logged it."""
    ctx = Context(event_id, event_type, "", first_ms, (reference_ms - first_ms) / 1000, None, None)
    failed = legacy_error(rows[0], config)
    out = [_kind(ctx, "missing_in_shadow", None, "error" if failed else "processed",
                 "CB never logged it" + (f"; Rails failed: {_one_line(failed)}" if failed else ""))]
    if len(rows) > 1:
        out.append(_kind(ctx, "duplicate_processing", None, len(rows), f"Rails processed it {len(rows)} times"))
    return out


def with_parties(divergences: list[Divergence], event: ShadowEvent | None, rows: list[dict[str, Any]],
                 config: Config) -> list[Divergence]:
    """Tag each divergence with the event's customer and subscription (CB's, else Rails'), for `group`."""
    if not divergences:
        return divergences
    parties = {}
    for spec in config.fields:
        if spec.name in ("customer", "subscription"):
            value = first_present(cb_document(event.first), spec.cb.paths)[0] if event else MISSING
            if is_null(value) and rows:
                value, _ = first_present(rows[0], spec.rails.paths)
            parties[spec.name] = None if is_null(value) else str(value)
    for d in divergences:
        d.customer, d.subscription = parties.get("customer"), parties.get("subscription")
    return divergences


def compare_fields(ctx: Context, cb_doc: dict[str, Any], row: dict[str, Any], config: Config) -> list[Divergence]:
    out = []
    for spec in config.fields:
        if not applies(spec, ctx.event_type):
            continue
        cb_raw, _ = first_present(cb_doc, spec.cb.paths)
        rails_raw, _ = first_present(row, spec.rails.paths)
        cb_cur, rails_cur = _currencies(spec, cb_doc, row)
        problems = []
        try:
            cb = normalise(spec.type, cb_raw, tz=spec.cb.timezone or "UTC", units=spec.cb.units,
                           currency=cb_cur or rails_cur)
        except InvalidValue as exc:
            cb, problems = _Invalid(cb_raw), [f"CB value {exc}"]
        try:
            rails = normalise(spec.type, rails_raw, tz=spec.rails.timezone or config.legacy.timezone,
                              units=spec.rails.units, currency=rails_cur or cb_cur, json_text=True)
        except InvalidValue as exc:
            rails, problems = _Invalid(rails_raw), problems + [f"Rails value {exc}"]
        if problems:
            if isinstance(cb, _Invalid) and isinstance(rails, _Invalid) and cb.raw == rails.raw:
                continue
            same = False
        else:
            same = equal(spec.type, cb, rails, float(spec.tolerance))
        if same:
            continue
        detail = "; ".join(problems)
        if not problems and spec.type == "money" and cb and rails and cb.currency != rails.currency:
            detail = f"currency {cb.currency} vs {rails.currency}"
        out.append(_kind(ctx, "value_mismatch", _shown(cb), _shown(rails), detail, field=spec.name))
    return out


def _currencies(spec: FieldSpec, cb_doc: dict[str, Any], row: dict[str, Any]) -> tuple[str | None, str | None]:
    if spec.currency is None:
        return None, None
    cb = rails = None
    if spec.currency.cb:
        value, _ = first_present(cb_doc, spec.currency.cb.paths)
        cb = None if is_null(value) else str(value).strip().upper() or None
    if spec.currency.rails:
        value, _ = first_present(row, spec.currency.rails.paths)
        rails = None if is_null(value) else str(value).strip().upper() or None
    default = spec.currency.default.upper() if spec.currency.default else None
    return cb or default, rails or default


class _Invalid:
    def __init__(self, raw: Any) -> None:
        self.raw = raw


def _shown(value: Any) -> Any:
    """The value as reports show it: canonical where it could be read, raw where not."""
    if isinstance(value, _Invalid):
        raw = value.raw
        return raw.decode("utf-8", "backslashreplace") if isinstance(raw, (bytes, bytearray)) else raw
    if isinstance(value, Money):
        return int(value.minor) if value.minor == value.minor.to_integral_value() else value.minor
    return value


def _kind(ctx: Context, kind: str, cb: Any, rails: Any, detail: str, field: str = "") -> Divergence:
    return Divergence(
        event_id=ctx.event_id, event_type=ctx.event_type, kind=kind, field=field, cb_value=cb, rails_value=rails,
        detail=detail, stream_id=ctx.stream_id, at_ms=ctx.at_ms, lag_s=ctx.lag_s, age_s=ctx.age_s,
        payload=ctx.payload,
    )


def _one_line(text: str | None, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if text and text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
