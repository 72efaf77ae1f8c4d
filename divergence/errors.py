"""The exit-code contract. Every error the CLI can show is one of these.

Library code raises them; only `cli.py` turns them into a line on stderr and
an exit code, so a notebook caller gets an exception it can catch.
"""

from __future__ import annotations


class DivergenceError(Exception):
    """Base class: a problem the user can act on, shown as one line."""

    exit_code = 4


class UsageError(DivergenceError):
    """Bad options, config or rules (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """A config or rule file is wrong; the message names file:line:column."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        where = ""
        if file:
            where = file
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        super().__init__(where + message)
        self.file, self.line, self.column = file, line, column


class SourceUnreachable(DivergenceError):
    """Redis, the database or a snapshot cannot be read (exit 3)."""

    exit_code = 3
