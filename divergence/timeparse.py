"""Durations (`10m`, `24h`, `7d`) and points in time (`2026-12-01T09:00Z`, `now`, `2h` ago)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
class OutOfRange(ValueError):
    """A well-formed duration or time that is too large to mean anything."""


MAX_SECONDS = 3650 * 86400  # ten years: anything longer is a typo
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration like `90s`, `10m`, `24h`, `7d`, `1w`; a YAML number is seconds."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a duration (examples: 90s, 10m, 24h, 7d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not 0 <= seconds <= MAX_SECONDS:  # also refuses NaN and infinity
        raise OutOfRange(f"{text!r} is out of range (0 to 3650d)")
    return seconds


def to_aware(value: str | datetime, zone: str = "UTC", fold: int = 0) -> datetime:
    """An ISO-8601 text or a datetime as an aware time; a naive one is read in `zone` (never the
    host's), `fold=1` picking the second occurrence of a repeated DST hour. ValueError if not a time."""
    moment = datetime.fromisoformat(value.strip().replace("z", "Z")) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise ValueError(f"{value!r} is not a time")
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone), fold=fold)


def parse_time(text: str, *, now: datetime) -> datetime:
    """An aware UTC time from ISO-8601 (naive means UTC), `now`, or a duration ago (`2h`)."""
    text = text.strip()
    if text == "now":
        return now
    try:
        return now - timedelta(seconds=parse_duration(text))
    except OutOfRange:
        raise
    except ValueError:
        pass
    try:
        return to_aware(text).astimezone(timezone.utc)
    except ValueError:
        raise ValueError(f"{text!r} is not a time or duration (examples: 2026-12-01T09:00:00Z, 2026-12-01, "
                         "now, 2h, 7d)") from None
