"""Rendering for the terminal and for machines. Only the CLI calls this; library code never prints.

Event data is never interpreted: cells are plain `Text` (no rich markup) with control
characters made visible, so a customer-typed string cannot restyle or move the terminal.
"""

from __future__ import annotations

import csv
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from divergence.errors import UsageError
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.cells import cell_len
from rich.text import Text

SCHEMA_VERSION = 1
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """Control characters made visible (`\\x1b`), so event data cannot drive the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def silence_stdout() -> None:
    """The reader closed the pipe: send what is left to /dev/null, quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def safe(value: Any) -> Text:
    text = "" if value is None else str(value)
    return Text(escape_controls(text))


def say(message: str) -> None:
    """One line on stderr, never wrapped or styled (errors and notes)."""
    sys.stderr.write(escape_controls(message) + "\n")
    sys.stderr.flush()


class Out(Console):
    """A console whose tables never cut an id in half: on a terminal they take the width they
    need (the terminal wraps the line, the value stays whole); piped, they never fold."""

    def on_broken_pipe(self) -> None:
        # rich would exit 1 here, which reads as "check failed"; let the command decide.
        raise BrokenPipeError

    def table(self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
              justify: dict[str, str] | None = None, wrap: Sequence[str] = ()) -> None:
        t = Table(show_edge=False, pad_edge=False)
        cells = [[safe(cell) for cell in row] for row in rows]
        needed = 3 * (len(columns) - 1)  # " │ " between columns
        for index, column in enumerate(columns):
            texts = [column] + [row[index].plain for row in cells]
            if column in wrap:
                # A wrapping column wraps between words, never inside one (an event id stays whole).
                width = min(max((len(w) for text in texts for w in text.split()), default=1), 60)
                t.add_column(column, justify=(justify or {}).get(column, "left"), overflow="fold",
                             min_width=width)
            else:
                width = max(cell_len(line) for text in texts for line in (text.splitlines() or [""]))
                t.add_column(column, justify=(justify or {}).get(column, "left"), no_wrap=True, min_width=width)
            needed += width
        for row in cells:
            t.add_row(*row)
        if title:
            self.print(Text(title, style="bold"), soft_wrap=True)
        if self.is_terminal:
            width = max(self.width, needed)
        else:
            width = Measurement.get(self, self.options.update_width(100_000), t).maximum
        previous, self.width = self.width, width
        try:
            if self.is_terminal:
                self.print(t, crop=False)
            else:  # piped: no padding after the last column
                with self.capture() as captured:
                    self.print(t, crop=False)
                self.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
        finally:
            self.width = previous

    def text(self, text: Any, style: str | None = None) -> None:
        """One line of plain text (never markup), not wrapped."""
        self.print(safe(text), style=style, soft_wrap=True)


def console(stderr: bool = False, file: IO[str] | None = None) -> Out:
    # rich honours NO_COLOR and drops styling when the stream is not a terminal.
    return Out(stderr=stderr, file=file, highlight=False, soft_wrap=False)


@contextmanager
def reader_may_leave() -> Iterator[None]:
    """`divergence ... | head`: when the reader closes the pipe, stop writing quietly."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()


def is_terminal() -> bool:
    return sys.stdout.isatty()


def dumps_json(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str) + b"\n"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$")


def csv_cell(value: Any, *, formulas: bool = False, terminal: bool = False) -> str:
    """A CSV cell. Text a spreadsheet would run as a formula (`=HYPERLINK(...)` typed by a
    customer) gets a leading `'` unless `formulas`; numbers like -5 stay as they are. On a
    terminal, control characters are shown escaped."""
    text = "" if value is None else str(value)
    if not formulas and text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        text = "'" + text
    if terminal:
        text = escape_controls(text.replace("\n", "\\n"))
    return text


def write_csv(handle: IO[str], columns: Sequence[str], rows: Iterable[dict[str, Any]], *,
              formulas: bool = False) -> int:
    terminal = handle.isatty() if hasattr(handle, "isatty") else False
    writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({k: csv_cell(v, formulas=formulas, terminal=terminal) for k, v in row.items()})
        count += 1
    return count


def write_jsonl(handle: IO[str], rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    for row in rows:
        handle.write(orjson.dumps(row, default=str).decode() + "\n")
        count += 1
    return count


class AtomicText:
    """A text file that appears whole or not at all (written to a temp file, then renamed).

    A symlink is written through to its target; a device, folder or other special file is
    refused rather than replaced by a regular file.
    """

    def __init__(self, path: Path) -> None:
        if str(path) in ("", "."):
            raise UsageError("--output needs a file name")
        self.path = Path(os.path.realpath(path))
        if self.path.exists() and not self.path.is_file():
            raise UsageError(f"--output {path}: exists and is not a regular file")
        if not self.path.parent.is_dir():
            raise UsageError(f"--output {path}: the folder {self.path.parent} does not exist")

    def __enter__(self) -> IO[str]:
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        except OSError as exc:
            raise UsageError(f"--output {self.path}: cannot write there ({exc.strerror})") from None
        self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        return self.handle

    def __exit__(self, kind, exc, tb) -> None:
        self.handle.close()
        if kind is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp's 0600 is not what `>` would give
            try:
                os.replace(self.tmp, self.path)
            except OSError as exc:
                os.unlink(self.tmp)
                raise UsageError(f"--output {self.path}: cannot write ({exc.strerror})") from None
        else:
            os.unlink(self.tmp)
