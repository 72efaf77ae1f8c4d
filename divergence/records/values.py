"""Type-aware normalisation: the heart of telling a real difference from a cosmetic one.

Each compared field has a type (DESIGN 2.3). `normalise` turns whatever a side holds
(`"42"`, `42.0`, `Decimal("19.00")`, a naive DATETIME, `"true"`, a JSON string) into one
canonical value; `equal` compares two canonical values with the field's tolerance.
NULL, absent and "" are one null (see `paths.is_null`); null against a value differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from divergence.records import jsontext

from divergence.records.paths import is_null


# ISO 4217 currencies without a minor unit, and those with three decimals (Stripe's lists).
ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX",
                "VND", "VUV", "XAF", "XOF", "XPF"}
THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}

_TRUE = {"true", "t", "1", "yes", "y", "on"}
_FALSE = {"false", "f", "0", "no", "n", "off"}


MAX_DIGITS = 30  # no amount, count or id number has more integer digits than this


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class InvalidValue(ValueError):
    """A side holds something that is not a value of the field's type."""


@dataclass(frozen=True)
class Money:
    minor: Decimal  # amount in minor units (cents; yen for JPY)
    currency: str | None

    def __str__(self) -> str:
        amount = int(self.minor) if self.minor == self.minor.to_integral_value() else self.minor
        return f"{amount}"


def minor_exponent(currency: str | None) -> int:
    if currency is None:
        return 2
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def normalise(kind: str, value: Any, *, tz: str = "UTC", units: str = "minor",
              currency: str | None = None, json_text: bool = False) -> Any:
    """The canonical form of `value` for a field of type `kind`; None for null.

    `json_text`: a text value of a json field is JSON to parse (a MySQL JSON column), not a
    JSON string (a value inside CB's already parsed outcome).
    Raises InvalidValue when the value cannot be of that type (shown as a mismatch).
    """
    if is_null(value):
        return None
    if kind == "bool" and isinstance(value, (bytes, bytearray)) and bytes(value) in (b"\x00", b"\x01"):
        return value == b"\x01"  # MySQL BIT(1)
    if kind == "json":
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "replace")
        return _json(value, parse=json_text)
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidValue("bytes that are not UTF-8") from None
        if value == "":
            return None
    return _NORMALISERS[kind](value, tz=tz, units=units, currency=currency)


def _string(value: Any, **_: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return jsontext.canonical(value)
    if isinstance(value, (int, float, Decimal)):  # 5, 5.0 and Decimal("5.00") are one text: "5"
        number = _decimal(value)
        return format(number.normalize(), "f") if number else "0"
    return str(value)


def _enum(value: Any, **_: Any) -> str | None:
    return _string(value).strip().casefold() or None  # blank is null


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise InvalidValue(f"{_shown(value)} is a boolean, not a number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, float):
        # repr keeps 19.99 as 19.99; rounding drops float noise such as 0.1 + 0.2 = 0.30000000000000004.
        result = Decimal(repr(round(value, 9)))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidValue(f"{_shown(value)} is not a number") from None
    else:
        raise InvalidValue(f"{type(value).__name__} is not a number")
    if not result.is_finite():
        raise InvalidValue(f"{_shown(value)} is not a finite number")
    if result and result.adjusted() > MAX_DIGITS:  # 1e10000000 must not hang the run
        raise InvalidValue(f"{_shown(value)} is out of range")
    return result


def _int(value: Any, **_: Any) -> int:
    number = _decimal(value)
    if number != number.to_integral_value():
        raise InvalidValue(f"{_shown(value)} is not a whole number")
    return int(number)


def _money(value: Any, *, units: str, currency: str | None, **_: Any) -> Money:
    amount = _decimal(value)
    code = currency.strip().upper() if isinstance(currency, str) and currency.strip() else None
    if units == "major":
        amount = amount.scaleb(minor_exponent(code))
    return Money(amount.normalize() if amount else Decimal(0), code)


def _bool(value: Any, **_: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().casefold() in _TRUE | _FALSE:
        return value.strip().casefold() in _TRUE
    if isinstance(value, str) and value.strip() in ("1.0", "0.0"):
        return value.strip() == "1.0"
    raise InvalidValue(f"{_shown(value)} is not a boolean")


def _timestamp(value: Any, *, tz: str, **_: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):  # a DATE column: midnight in the side's zone
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        moment = _from_epoch(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = _from_epoch(Decimal(text))
        except (InvalidOperation, InvalidValue):
            try:
                moment = datetime.fromisoformat(text.replace("z", "Z").replace(" UTC", "+00:00"))
            except ValueError:
                raise InvalidValue(f"{_shown(value)} is not a timestamp") from None
    else:
        raise InvalidValue(f"{type(value).__name__} is not a timestamp")
    try:
        if moment.tzinfo is None:  # a naive DATETIME is in the side's configured zone, never the host's
            first = moment.replace(tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)
            second = moment.replace(tzinfo=ZoneInfo(tz), fold=1).astimezone(timezone.utc)
            # In the hour a DST change repeats, a naive time names two instants; keep both.
            return first if first == second else Ambiguous(first, second)
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise InvalidValue(f"{_shown(value)} is out of range") from None


class Ambiguous(datetime):
    """A naive time in a repeated DST hour: this (the first occurrence) or `later`."""

    def __new__(cls, first: datetime, later: datetime) -> "Ambiguous":
        self = super().__new__(cls, first.year, first.month, first.day, first.hour, first.minute, first.second,
                               first.microsecond, first.tzinfo)
        self.later = later
        return self

    def instants(self) -> tuple[datetime, datetime]:
        return datetime.fromtimestamp(self.timestamp(), tz=timezone.utc), self.later


def _from_epoch(seconds: Any) -> datetime:
    try:
        return datetime.fromtimestamp(float(seconds), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise InvalidValue(f"{_shown(seconds)} is out of range for unix seconds") from None


def _json(value: Any, *, parse: bool = True, **_: Any) -> Any:
    if isinstance(value, Decimal):
        return value
    if parse and isinstance(value, str):
        try:
            value = jsontext.loads(value)
        except ValueError:
            raise InvalidValue("not JSON") from None
    return value


_NORMALISERS = {"string": _string, "enum": _enum, "int": _int, "money": _money,
                "bool": _bool, "timestamp": _timestamp, "json": _json}


def equal(kind: str, cb: Any, rails: Any, tolerance: float = 0) -> bool:
    """Whether two canonical values are the same for a field of type `kind`."""
    if cb is None or rails is None:
        return cb is None and rails is None
    if kind == "timestamp":
        return any(abs((a - b).total_seconds()) <= tolerance for a in _instants(cb) for b in _instants(rails))
    if kind == "money":
        if cb.currency and rails.currency and cb.currency != rails.currency:
            return False
        return abs(cb.minor - rails.minor) <= Decimal(str(tolerance))
    if kind == "int":
        return abs(cb - rails) <= tolerance
    if kind == "json":
        return _canonical(cb) == _canonical(rails)
    return cb == rails


def _instants(moment: datetime) -> tuple[datetime, ...]:
    return moment.instants() if isinstance(moment, Ambiguous) else (moment,)


def _canonical(value: Any) -> Any:
    # Key order never matters; 1 and 1.0 are one number; bools stay apart from numbers.
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float, Decimal)):
        return ("number", Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
    return value
