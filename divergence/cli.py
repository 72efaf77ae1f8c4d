"""The command line: parse options, call the library, render, map errors to exit codes.

Exit codes: 0 success/pass, 1 check failed, 2 usage or config error, 3 a source
unreachable, 4 internal error (traceback written to a file), 130 interrupted.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
import os
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from divergence import render
from divergence.errors import DivergenceError, UsageError
from divergence.model import CATEGORIES, KINDS, Window, datetime_to_ms, display, ms_to_datetime

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help=(
        "Prove a shadow system is safe to flip.\n\n"
        "Reads CB's shadow log (a Redis stream) and Rails' outcomes (the legacy database), compares "
        "every Stripe event field by field, and classifies each difference as timing, bug or expected "
        "with YAML rules.\n\n"
        "Start with: `divergence daily-check --config examples/divergence.yaml "
        "--snapshot examples/shadow-week`"
    ),
)

def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"divergence {version('divergence')}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    pass


# -- shared options ----------------------------------------------------------

ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", "-c", help="Config file. Default: $DIVERGENCE_CONFIG, else ./divergence.yaml.",
    show_default=False)]
SnapshotOpt = Annotated[Optional[Path], typer.Option(
    "--snapshot", help="Read a saved snapshot folder instead of the live Redis and database.",
    show_default=False)]
SinceOpt = Annotated[str, typer.Option(
    "--since", help="Window start: a duration before --until (24h, 7d) or a time (2026-12-01T00:00Z).")]
UntilOpt = Annotated[Optional[str], typer.Option(
    "--until", help="Window end and reference time ('now'). Default: now, or the snapshot's as_of.",
    show_default=False)]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback of an internal error.")]
CategoryOpt = Annotated[Optional[list[str]], typer.Option(
    "--category", help=f"Only these categories ({', '.join(CATEGORIES)}). Repeatable.", show_default=False)]
KindOpt = Annotated[Optional[list[str]], typer.Option(
    "--kind", help=f"Only these kinds ({', '.join(KINDS)}). Repeatable.", show_default=False)]
EventTypeOpt = Annotated[Optional[list[str]], typer.Option(
    "--event-type", help="Only these event types (globs such as 'invoice.*'). Repeatable.", show_default=False)]
RuleOpt = Annotated[Optional[list[str]], typer.Option(
    "--rule", help="Only divergences classified by these rule ids ('none' = unexplained). Repeatable.",
    show_default=False)]


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class ExportFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    json = "json"
    table = "table"


def guarded(command: Callable[..., int | None]) -> Callable[..., None]:
    """The one place errors become a line on stderr and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        debug = kwargs.get("debug", False)
        try:
            code = command(*args, **kwargs) or 0
        except DivergenceError as exc:
            render.say(_clean(f"error: {exc}"))
            code = exc.exit_code
        except KeyboardInterrupt:
            render.say("interrupted")
            code = 130
        except BrokenPipeError:  # `| head`: the reader left; stop quietly
            render.silence_stdout()
            code = 0
        except Exception as exc:  # an internal error: one line, the traceback kept
            if debug:
                sys.stderr.write(_clean(traceback.format_exc(), one_line=False))
            else:
                fd, name = tempfile.mkstemp(prefix="divergence-crash-", suffix=".log")
                with os.fdopen(fd, "w", encoding="utf-8") as log:
                    log.write(_clean(traceback.format_exc(), one_line=False))
                render.say(_clean(f"internal error: {type(exc).__name__}: {exc} (traceback in {name}; "
                                  "--debug shows it)"))
            code = 4
        raise typer.Exit(code)

    return wrapper


def _clean(text: str, one_line: bool = True) -> str:
    """No secret from the environment's URLs, and (for a message) one line."""
    from divergence.sources.urls import scrub

    text = scrub(text, [v for v in os.environ.values() if "://" in v or "password=" in v.lower()])
    return " ".join(part.strip() for part in text.splitlines()) if one_line else text


class Run:
    """What every command needs: config, sources, rules, window."""

    def __init__(self, config_path: Path | None, snapshot: Path | None, since: str, until: str | None,
                 filters: tuple = (None, None, None, None)) -> None:
        from divergence.classify.rules import load_rules
        from divergence.config import find_config, load_config
        from divergence.sources.open import open_sources, require_entries
        from divergence.window import check_syntax, plan_window

        # Everything the user typed is checked before any source is touched.
        config = load_config(find_config(str(config_path) if config_path else None))
        self.rules = load_rules(config.rule_paths)
        self.filters = _filters(*filters, self.rules, config.event_types)
        now = datetime.now(timezone.utc)
        check_syntax(since, until, now)
        sources = open_sources(config, snapshot)
        self.config, self.stream, self.legacy = sources.config, sources.stream, sources.legacy
        self.coverage = sources.coverage
        latest = ms_to_datetime(sources.default_reference_ms) if sources.default_reference_ms else now
        self.window, notes = plan_window(since, until, latest, self.config.settle, self.coverage)
        require_entries(self.stream)
        for note in notes:
            render.say(f"note: {note}")

    @contextmanager
    def progress(self) -> Iterator[Callable[[str], None] | None]:
        """A transient status line on stderr while sources are read (only on a terminal)."""
        if not sys.stderr.isatty():
            yield None
            return
        with render.console(stderr=True).status("reading", spinner="dots") as status:
            yield lambda message: status.update(render.safe(message))


def _filters(category, kind, event_type, rule, rules=None, event_types=()):
    from fnmatch import fnmatchcase

    from divergence.reports.filters import Filters

    for glob in event_type or ():
        if event_types and not any(fnmatchcase(t, glob) for t in event_types):
            raise UsageError(f"--event-type {glob!r} matches none of the configured event types "
                             f"({', '.join(event_types)})")

    known = {"none"} | ({c.rule.id for c in rules.rules} if rules is not None else set())
    for value in rule or ():
        if value not in known:
            raise UsageError(f"--rule {value!r}: no such rule (rules: {', '.join(sorted(known))})")

    for value in category or ():
        if value not in CATEGORIES:
            raise UsageError(f"--category {value!r}: use one of {', '.join(CATEGORIES)}")
    for value in kind or ():
        if value not in KINDS:
            raise UsageError(f"--kind {value!r}: use one of {', '.join(KINDS)}")
    return Filters(tuple(category or ()), tuple(kind or ()), tuple(event_type or ()), tuple(rule or ()))


# -- commands ------------------------------------------------------------------

@app.command("daily-check")
@guarded
def daily_check(
    config: ConfigOpt = None,
    snapshot: SnapshotOpt = None,
    since: SinceOpt = "24h",
    until: UntilOpt = None,
    format: Annotated[Optional[Format], typer.Option("--format", "-f", help="table (default), csv or json.",
                                                     show_default=False)] = None,
    debug: DebugOpt = False,
) -> int:
    """The runbook's daily check over a window (default: the last 24 h), with pass/fail.

    Shows the divergence rate (timing counts; the rate without timing and the raw rate,
    expected included, stand beside it), error rate, dedup hit rate, CB and Rails processing
    time p50/p95/p99, counts per category and kind, pending/ignored/malformed counts, rates per
    event type and the top divergence groups.

    Exit 0 when every threshold holds, 1 when one is breached or nothing was compared,
    2 on a usage or config error, 3 when a source cannot be read.

    Example: divergence daily-check --since 7d --format json
    """
    from divergence.analysis import analyse
    from divergence.reports.daily import daily_check as build

    run = Run(config, snapshot, since, until)
    with run.progress() as progress:
        analysis = analyse(run.config, run.stream, run.legacy, run.window, run.rules, progress)
    report = build(analysis, run.config.thresholds)
    code = 0 if report.passed else 1
    hint = " ".join([
        "divergence group --by category --by rule --by kind --by field --category bug --category timing",
        f"--since {display(run.window.start)} --until {display(run.window.reference)}",
        *([f"--config {config}"] if config else []), *([f"--snapshot {snapshot}"] if snapshot else []),
    ])
    with render.reader_may_leave():  # `| head` must not turn a pass into a failure, or hide one
        _print_daily(report, format or Format.table, hint)
    return code


def _print_daily(report, fmt: Format, hint: str) -> None:
    from divergence.reports.daily import as_dict

    if fmt is Format.json:
        sys.stdout.buffer.write(render.dumps_json({"schema_version": render.SCHEMA_VERSION,
                                                   "command": "daily-check", **as_dict(report)}))
    elif fmt is Format.csv:
        from divergence.render_daily import BY_TYPE_COLUMNS, by_type_rows

        render.write_csv(sys.stdout, BY_TYPE_COLUMNS, by_type_rows(report))
    else:
        from divergence.render_daily import print_daily

        print_daily(render.console(), report, hint)


@app.command()
@guarded
def export(
    last: Annotated[int, typer.Option("--last", "-n", min=1, help="How many divergent events, newest first.")] = 100,
    config: ConfigOpt = None,
    snapshot: SnapshotOpt = None,
    until: UntilOpt = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file (atomically) "
                                                   "instead of stdout.", show_default=False)] = None,
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv, jsonl, json or table.")] = ExportFormat.csv,
    category: CategoryOpt = None,
    kind: KindOpt = None,
    event_type: EventTypeOpt = None,
    rule: RuleOpt = None,
    keep_formulas: Annotated[bool, typer.Option(
        "--keep-formulas", help="Write CSV cells exactly, even those a spreadsheet would run as a formula "
        "(by default text starting with = + - @ gets a leading ').")] = False,
    debug: DebugOpt = False,
) -> int:
    """The last N divergent events, newest first, one row per divergence.

    Columns: event id, type, first delivery time, stream id, kind, field, CB value, Rails
    value, category, rule, detail, lag. Pending events are left out. CSV by default, even
    on a terminal. The stream is read backwards only as far as the Nth event.

    Example: divergence export --last 100 --category bug -o bugs.csv
    """
    from divergence.reports.export import COLUMNS, last_divergent, rows

    target = render.AtomicText(output) if output is not None else None  # refuse a bad -o before reading
    run = Run(config, snapshot, "1h", until, (category, kind, event_type, rule))
    with run.progress() as progress:
        result = last_divergent(run.config, run.stream, run.legacy, run.rules, run.window, last,
                                run.filters, progress, floor_ms=datetime_to_ms(run.coverage[0]) if run.coverage else None)
    if result.exhausted:
        render.say(f"note: found {len(result.events)} of {last} divergent events back to "
                   f"{display(ms_to_datetime(result.scanned_from_ms))}, where the "
                   f"{'snapshot' if run.coverage else 'stream'} starts")

    def write(handle) -> int:
        if format is ExportFormat.csv:
            return render.write_csv(handle, COLUMNS, rows(result), formulas=keep_formulas)
        if format is ExportFormat.jsonl:
            return render.write_jsonl(handle, rows(result, typed=True))
        if format is ExportFormat.json:
            listed = list(rows(result, typed=True))
            handle.write(render.dumps_json({"schema_version": render.SCHEMA_VERSION, "command": "export",
                                            "rows": listed}).decode())
            return len(listed)
        listed = list(rows(result))
        render.console(file=handle).table(None, COLUMNS, ([r[k] for k in COLUMNS] for r in listed),
                                          wrap=["cb_value", "rails_value", "detail"])
        return len(listed)

    if target is not None:
        with target as handle:
            written = write(handle)
        render.say(f"wrote {output}: {written} rows for {len(result.events)} events")
    else:
        with render.reader_may_leave():
            write(sys.stdout)
    return 0


@app.command()
@guarded
def group(
    by: Annotated[Optional[list[str]], typer.Option(
        "--by", "-b", help="Group key; repeat for several: event_type, kind, field, category, rule, signature, "
        "customer, subscription. Default: event_type.", show_default=False)] = None,
    config: ConfigOpt = None,
    snapshot: SnapshotOpt = None,
    since: SinceOpt = "24h",
    until: UntilOpt = None,
    format: Annotated[Optional[Format], typer.Option("--format", "-f", help="table (terminal default), csv "
                                                     "(piped default) or json.", show_default=False)] = None,
    category: CategoryOpt = None,
    kind: KindOpt = None,
    event_type: EventTypeOpt = None,
    rule: RuleOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Divergences counted by one or more keys, largest first: fix systematic issues first.

    Each group has its count, share of all divergences, distinct events, categories and up to
    three example event ids (newest first).

    Example: divergence group --by event_type --by signature --category bug
    """
    from divergence.analysis import analyse
    from divergence.reports.groups import GROUP_KEYS, group as build

    by = by or ["event_type"]
    for key in by:
        if key not in GROUP_KEYS:
            raise UsageError(f"--by {key!r}: use one of {', '.join(GROUP_KEYS)}")
    run = Run(config, snapshot, since, until, (category, kind, event_type, rule))
    with run.progress() as progress:
        analysis = analyse(run.config, run.stream, run.legacy, run.window, run.rules, progress)
    groups = build((d for d in analysis.divergences if run.filters(d)), by)
    fmt = format or (Format.table if render.is_terminal() else Format.csv)
    with render.reader_may_leave():
        _print_groups(groups, by, fmt, run.window)
    return 0


def _print_groups(groups, by: list[str], fmt: Format, window: Window) -> None:
    columns = [*by, "count", "share", "events", "categories", "examples"]

    def as_row(g) -> dict[str, Any]:
        return {**dict(zip(by, g.keys)), "count": g.count, "share": f"{g.share:.4f}", "events": g.events,
                "categories": " ".join(f"{c}:{n}" for c, n in sorted(g.categories.items())),
                "examples": " ".join(g.examples)}

    if fmt is Format.json:
        sys.stdout.buffer.write(render.dumps_json({
            "schema_version": render.SCHEMA_VERSION, "command": "group", "by": by,
            "window": {"start": display(window.start), "end": display(window.end)},
            "total": sum(g.count for g in groups),
            "groups": [g.as_dict(by) for g in groups]}))
    elif fmt is Format.csv:
        render.write_csv(sys.stdout, columns, (as_row(g) for g in groups))
    else:
        title = (f"{sum(g.count for g in groups):,} divergences by {', '.join(by)} "
                 f"({display(window.start)} .. {display(window.end)})")
        shown = ({**as_row(g), "count": f"{g.count:,}", "share": f"{g.share * 100:.1f} %", "events": f"{g.events:,}"}
                 for g in groups)
        render.console().table(title, columns, ([r[k] for k in columns] for r in shown),
                               justify=dict.fromkeys(["count", "share", "events"], "right"),
                               wrap=["signature", "examples"])


@app.command()
@guarded
def snapshot(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write (replaced atomically).")],
    config: ConfigOpt = None,
    since: SinceOpt = "24h",
    until: UntilOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Save a window of the live stream and legacy rows to a folder.

    Every command reads it with --snapshot DIR, with no servers: for sharing a week's
    evidence, or keeping it after the stream has been trimmed. Passwords are masked in
    its manifest.

    Example: divergence snapshot --since 7d --out evidence/week-48
    """
    from divergence.analysis import analyse
    from divergence.sources.recording import RecordingLegacy, RecordingStream
    from divergence.sources.snapshot import write_snapshot

    from divergence.sources.snapshot import check_target

    check_target(Path(os.path.abspath(out)))  # refuse a bad --out before reading for minutes
    run = Run(config, None, since, until)
    stream, legacy = RecordingStream(run.stream), RecordingLegacy(run.legacy)
    with run.progress() as progress:
        analysis = analyse(run.config, stream, legacy, run.window, run.rules, progress)
    manifest = write_snapshot(
        out, entries=stream.entries(), legacy_rows=legacy.rows_of("ids"), window_rows=legacy.rows_of("window"),
        window_start=run.window.start,
        window_end=run.window.end, as_of=run.window.reference, database_timezone=run.config.legacy.timezone,
        sources={"stream": stream.describe(), "legacy": legacy.describe()},
        extra={"events": {"compared": len(analysis.compared), "pending": analysis.pending_count}},
    )
    counts = manifest.data["counts"]
    render.say(f"wrote {out}: {counts['stream_entries']} stream entries, {counts['legacy_rows']} legacy rows, "
               f"window {display(run.window.start)} .. {display(run.window.end)}")
    return 0


def main() -> None:
    """The console script: usage errors become one line too (exit 2), like every other error."""
    for stream in (sys.stdout, sys.stderr):  # a terminal that cannot show a character gets an escape
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        render.say("interrupted")
        code = 130
    except Exception as exc:
        # Typer's parser errors (bad option, missing value); typer keeps their class private.
        if getattr(exc, "exit_code", None) != 2 or not hasattr(exc, "format_message"):
            raise
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "divergence"
        commands = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
        if command == "divergence" and len(sys.argv) > 1 and sys.argv[1] in commands:
            command = f"divergence {sys.argv[1]}"
        render.say(f"error: {exc.format_message()} (see: {command} --help)")
        code = 2
    sys.exit(code if isinstance(code, int) else 0)
