"""Rails' side, live: the SQL from the config run read-only against the legacy database.

Drivers by URL (DESIGN 2.2): `mysql+pymysql://` (first class), `postgresql+psycopg://`,
`sqlite:///`. Sessions are read-only where the server allows it (MySQL/MariaDB:
`SET SESSION TRANSACTION READ ONLY`, PostgreSQL: `default_transaction_read_only`; SQLite
files are opened with `mode=ro`), and no transaction is ever committed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy
import sqlalchemy.exc
from sqlalchemy import bindparam, event, text
from sqlalchemy.engine import Connection, Engine, make_url

from divergence.errors import SourceUnreachable, UsageError
from divergence.sources.urls import mask_url

CONNECT_TRIES = 3
BACKOFF_S = (0.2, 0.6)  # sleep before the 2nd and 3rd try
CONNECT_TIMEOUT_S = 5

# Python package to install for a driver SQLAlchemy could not import.
DRIVER_PACKAGES = {
    "pymysql": "pymysql",
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary (or use postgresql+psycopg://)",
    "mysqldb": "mysqlclient (or use mysql+pymysql://)",
}


class _ConnectionLost(Exception):
    """The connection failed or dropped: worth another try, then SourceUnreachable."""


class SqlLegacy:
    """LegacySource running the config's `by_ids_sql` / `window_sql` on a live database."""

    def __init__(self, url: str, *, by_ids_sql: str, window_sql: str, timezone: str = "UTC",
                 batch_size: int = 500) -> None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"unknown legacy database time zone {timezone!r}") from None
        if batch_size < 1:
            raise UsageError(f"legacy batch_size must be at least 1, got {batch_size}")
        self.url = url
        self.timezone = timezone
        self.batch_size = batch_size
        self.by_ids_sql = by_ids_sql
        self.window_sql = window_sql
        self._engine: Engine | None = None

    # -- LegacySource -----------------------------------------------------

    def fetch_by_ids(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        ids = list(dict.fromkeys(event_ids))  # an id in two batches would fetch its rows twice
        if not ids:
            return []
        try:
            statement = text(self.by_ids_sql).bindparams(bindparam("event_ids", expanding=True))
        except sqlalchemy.exc.ArgumentError:
            raise UsageError("legacy SQL (by_ids_sql) must use the parameter :event_ids") from None
        batches = [{"event_ids": ids[i:i + self.batch_size]} for i in range(0, len(ids), self.batch_size)]
        return self._run("by_ids_sql", statement, batches)

    def fetch_window(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("fetch_window needs timezone-aware datetimes")
        params = {"start": self._bind_time(start), "end": self._bind_time(end)}
        return self._run("window_sql", text(self.window_sql), [params])

    def describe(self) -> str:
        return mask_url(self.url)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- binding ----------------------------------------------------------

    def _bind_time(self, moment: datetime) -> Any:
        """DESIGN 9: aware for PostgreSQL, naive in the configured zone for MySQL/SQLite."""
        if self.engine.dialect.name == "postgresql":
            return moment
        local = moment.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)
        if self.engine.dialect.name == "sqlite":
            # SQLite keeps DATETIME as text ('2026-12-01 10:00:00[.ffffff]'); compare as text.
            return local.isoformat(sep=" ")
        return local

    # -- running ----------------------------------------------------------

    def _run(self, which: str, statement, batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run `statement` once per batch on one connection, retrying lost connections."""
        rows: list[dict[str, Any]] = []
        done = 0
        for attempt in range(CONNECT_TRIES):
            try:
                with self._connect() as conn:
                    while done < len(batches):
                        rows.extend(self._execute(conn, which, statement, batches[done]))
                        done += 1
                return rows
            except _ConnectionLost as lost:
                if attempt + 1 == CONNECT_TRIES:
                    raise SourceUnreachable(
                        f"cannot read legacy database {mask_url(self.url)}: {lost}"
                    ) from None
                time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        return rows  # not reached

    def _connect(self) -> Connection:
        try:
            return self.engine.connect()
        except sqlalchemy.exc.DBAPIError as exc:
            raise _ConnectionLost(self._message(exc)) from None
        except (ValueError, TypeError, AttributeError, LookupError) as exc:
            # The driver choked on the URL itself (a port that is not a number, an unknown charset).
            raise UsageError(f"bad legacy database URL {mask_url(self.url)}: {type(exc).__name__}: "
                             f"{_first_line(str(exc))}") from None

    def _execute(self, conn: Connection, which: str, statement, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            result = conn.execute(statement, params)
            if not result.returns_rows:
                raise UsageError(f"legacy SQL ({which}) returned no rows: it must be a SELECT")
            columns = list(result.keys())
            return [dict(zip(columns, row)) for row in result]
        except sqlalchemy.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise _ConnectionLost(self._message(exc)) from None
            raise UsageError(f"legacy SQL ({which}) failed: {self._message(exc)}") from None
        except sqlalchemy.exc.StatementError as exc:  # e.g. a parameter the SQL names but we do not bind
            raise UsageError(f"legacy SQL ({which}) failed: {_first_line(str(exc.orig or exc))}") from None

    def _message(self, exc: sqlalchemy.exc.DBAPIError) -> str:
        """The database's own message, first line, without the password."""
        orig = exc.orig
        args = getattr(orig, "args", ())
        if len(args) == 2 and isinstance(args[0], int):  # pymysql: (errno, message)
            message = f"{args[1]} ({args[0]})"
        else:
            message = str(orig) if orig is not None else str(exc)
        message = _first_line(message)
        password = make_url(self.url).password if "://" in self.url else None
        if password:
            message = message.replace(str(password), "****")
        return message

    # -- the engine -------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        masked = mask_url(self.url)
        try:
            url = make_url(self.url)
        except sqlalchemy.exc.ArgumentError:
            raise UsageError(f"not a database URL: {masked}") from None
        try:
            if url.get_backend_name() == "sqlite":
                engine = _sqlite_read_only(url)
            else:
                engine = sqlalchemy.create_engine(url, pool_pre_ping=True,
                                                  connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
        except sqlalchemy.exc.NoSuchModuleError:
            raise UsageError(
                f"unsupported legacy database URL {masked}: use mysql+pymysql://, "
                "postgresql+psycopg:// or sqlite:///"
            ) from None
        except ImportError as exc:
            module = (exc.name or url.get_driver_name()).split(".")[0]
            package = DRIVER_PACKAGES.get(module.lower(), module)
            raise UsageError(f"the legacy database URL {masked} needs the Python package {package}") from None
        if engine.dialect.name in ("mysql", "mariadb"):
            event.listen(engine, "connect", _mysql_read_only)
        elif engine.dialect.name == "postgresql":
            zone = self.timezone
            event.listen(engine, "connect", lambda dbapi_conn, _record: _postgresql_session(dbapi_conn, zone))
        return engine


def _sqlite_read_only(url) -> Engine:
    """SQLite opened as `file:...?mode=ro`: the file must exist and cannot be written."""
    database = url.database or ""
    if database in ("", ":memory:"):
        raise UsageError("the legacy SQLite URL names no database file (sqlite:///path/to/file.db)")
    if database.startswith("file:"):  # sqlite:///file:path?uri=true (its query goes to url.query)
        database = database[len("file:"):].split("?", 1)[0]
    uri = f"file:{quote(str(Path(database).resolve()))}?mode=ro"
    return sqlalchemy.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))


def _mysql_read_only(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
    finally:
        cursor.close()


def _postgresql_session(dbapi_conn, zone: str) -> None:
    """Read-only by default, and naive `timestamp` columns read in the configured zone."""
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(
            "SELECT set_config('default_transaction_read_only', 'on', false),"
            " set_config('TimeZone', %s, false)",
            (zone,),
        )
    finally:
        cursor.close()
    dbapi_conn.commit()


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else message
