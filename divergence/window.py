"""Which window a run looks at (DESIGN 9): as of when, and from when to when.

"As of" is `--until`, else now (live) or the snapshot's `as_of`. The window ends the settle
time before it, so every event in it has had time to reach both sides and consecutive runs
tile time: a daily cron checks every event exactly once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from divergence.errors import UsageError
from divergence.model import Window, datetime_to_ms, display
from divergence.timeparse import OutOfRange, parse_time


def plan_window(since: str, until: str | None, latest: datetime, settle_s: float,
                coverage: tuple[datetime, datetime] | None = None) -> tuple[Window, list[str]]:
    """The window for `--since`/`--until`, and notes worth telling the user.

    `latest` is the last moment there is data for (now, or a snapshot's as_of); `coverage` a
    snapshot's window, outside which it holds no Rails rows.
    """
    start, end, as_of = _times(since, until, latest, settle_s)
    skew = timedelta(0) if coverage else timedelta(minutes=1)  # a live clock may run a little behind
    if as_of > latest + skew:
        # Past "now" (or a snapshot's as_of) nothing is known yet: every recent event would look settled.
        raise UsageError(f"--until {display(as_of)} is later than {display(latest)}, the latest time "
                         "there is data for")
    notes = []
    if coverage and start < coverage[0]:
        notes.append(f"the snapshot covers {display(coverage[0])} .. {display(coverage[1])}; "
                     f"the window starts there instead of at {display(start)}")
        start = coverage[0]
    if start >= end:
        raise UsageError(f"the window is empty: it would run from {display(start)} to {display(end)} "
                         "(--until minus the settle time)")
    return Window(datetime_to_ms(start), datetime_to_ms(end), datetime_to_ms(as_of)), notes


def check_syntax(since: str, until: str | None, now: datetime) -> None:
    """Refuse a mistyped --since/--until before any source is opened."""
    _times(since, until, now, 0)


def _times(since: str, until: str | None, latest: datetime, settle_s: float) -> tuple[datetime, datetime, datetime]:
    option = "--until"
    try:
        as_of = parse_time(until, now=latest) if until is not None else latest
        end = as_of - timedelta(seconds=settle_s)
        option = "--since"
        start = parse_time(since, now=end)  # a duration counts back from the window's end
    except OutOfRange as exc:
        raise UsageError(f"{option} {exc}") from None
    except ValueError as exc:
        raise UsageError(f"{option} {exc}") from None
    except OverflowError:
        raise UsageError(f"{option}: time out of range") from None
    return start, end, as_of
