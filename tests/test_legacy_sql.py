"""SqlLegacy against real MariaDB, PostgreSQL and SQLite: batching, window binding,
read-only sessions, error mapping; and mask_url."""

from __future__ import annotations

import importlib.util
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.engine import Engine

from divergence.errors import SourceUnreachable, UsageError
from divergence.sources.legacy_sql import SqlLegacy
from divergence.sources.urls import mask_url

BERLIN = ZoneInfo("Europe/Berlin")

COLUMNS = ("stripe_event_id, event_type, status, customer_id, quantity, amount, currency, "
           "current_period_end, cancel_at_period_end, processed_at, duration_ms, error")

DDL = {
    "mysql": """CREATE TABLE {t} (
        id INT AUTO_INCREMENT PRIMARY KEY,
        stripe_event_id VARCHAR(64) NOT NULL, event_type VARCHAR(64) NOT NULL,
        status VARCHAR(32), customer_id VARCHAR(64), quantity INT,
        amount DECIMAL(12,2), currency CHAR(3), current_period_end DATETIME,
        cancel_at_period_end TINYINT(1), processed_at DATETIME(6) NOT NULL,
        duration_ms INT, error TEXT
    ) DEFAULT CHARSET=utf8mb4""",
    "postgresql": """CREATE TABLE {t} (
        id SERIAL PRIMARY KEY,
        stripe_event_id VARCHAR(64) NOT NULL, event_type VARCHAR(64) NOT NULL,
        status VARCHAR(32), customer_id VARCHAR(64), quantity INTEGER,
        amount NUMERIC(12,2), currency CHAR(3), current_period_end TIMESTAMP,
        cancel_at_period_end BOOLEAN, processed_at TIMESTAMP(6) NOT NULL,
        duration_ms INTEGER, error TEXT
    )""",
    "sqlite": """CREATE TABLE {t} (
        id INTEGER PRIMARY KEY,
        stripe_event_id VARCHAR(64) NOT NULL, event_type VARCHAR(64) NOT NULL,
        status VARCHAR(32), customer_id VARCHAR(64), quantity INTEGER,
        amount DECIMAL(12,2), currency CHAR(3), current_period_end DATETIME,
        cancel_at_period_end BOOLEAN, processed_at DATETIME NOT NULL,
        duration_ms INTEGER, error TEXT
    )""",
}


def row(event_id: str, processed_at: datetime, **values) -> dict:
    base = {
        "stripe_event_id": event_id, "event_type": "customer.subscription.updated", "status": "active",
        "customer_id": "cus_1", "quantity": 1, "amount": Decimal("19.00"), "currency": "usd",
        "current_period_end": datetime(2026, 12, 1, 10, 0, 0), "cancel_at_period_end": False,
        "processed_at": processed_at, "duration_ms": 120, "error": None,
    }
    return {**base, **values}


@dataclass
class Db:
    kind: str  # mysql, postgresql, sqlite
    url: str
    admin: Engine  # a writable engine for setting up; SqlLegacy never gets it
    table: str

    def insert(self, *rows: dict) -> None:
        names = list(rows[0])
        sql = text(f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})")
        with self.admin.begin() as conn:
            conn.execute(sql, [{k: self.stored(v) for k, v in r.items()} for r in rows])

    def stored(self, value):
        """What we hand the driver: SQLite (no Decimal/datetime adapters) gets text and ints."""
        if self.kind != "sqlite":
            return value
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, datetime):
            return value.isoformat(sep=" ")
        if isinstance(value, bool):
            return int(value)
        return value

    def returned(self, value):
        """What the driver gives back for a value we inserted."""
        if isinstance(value, bool):
            return value if self.kind == "postgresql" else int(value)  # TINYINT(1) / SQLite: 0 or 1
        if self.kind == "sqlite":
            if isinstance(value, Decimal):  # NUMERIC affinity: integer when exact, else REAL
                return int(value) if value == value.to_integral_value() else float(value)
            if isinstance(value, datetime):
                return value.isoformat(sep=" ")
        return value

    def count(self, where: str = "1=1") -> int:
        with self.admin.connect() as conn:
            return conn.execute(text(f"SELECT COUNT(*) FROM {self.table} WHERE {where}")).scalar_one()


@pytest.fixture(params=["mysql", "postgresql", "sqlite"])
def db(request, tmp_path):
    kind = request.param
    if kind == "mysql":
        url = request.getfixturevalue("mysql_url")
    elif kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'legacy.db'}"
    table = f"dv_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(DDL[kind].format(t=table)))
    yield Db(kind, url, admin, table)
    with admin.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    admin.dispose()


@pytest.fixture
def open_legacy(db):
    """Make SqlLegacy sources on the test table; all are closed before the table is dropped."""
    made: list[SqlLegacy] = []

    def make(url=None, *, by_ids_sql=None, window_sql=None, **options) -> SqlLegacy:
        t = db.table
        source = SqlLegacy(
            url or db.url,
            by_ids_sql=by_ids_sql or f"SELECT {COLUMNS} FROM {t} WHERE stripe_event_id IN :event_ids ORDER BY id",
            window_sql=window_sql or (f"SELECT {COLUMNS} FROM {t} "
                                      "WHERE processed_at >= :start AND processed_at < :end ORDER BY id"),
            **options,
        )
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


AT = datetime(2026, 12, 1, 9, 0, 0)


def test_fetch_by_ids_batches_and_keeps_every_row(db, open_legacy):
    rows = [
        row("evt_1", AT),
        row("evt_2", AT + timedelta(seconds=1), status="past_due"),
        row("evt_2", AT + timedelta(seconds=2), status="past_due"),  # Rails processed it twice
        row("evt_3", AT + timedelta(seconds=3), amount=Decimal("1234.56"), cancel_at_period_end=True,
            quantity=3, error="Zahlung fehlgeschlagen — café 🚀", currency="eur"),
        row("evt_4", AT + timedelta(seconds=4), amount=None, current_period_end=None, quantity=None),
        row("evt_5", AT + timedelta(seconds=5), customer_id="cus_5"),
        row("evt_not_asked", AT + timedelta(seconds=6)),
    ]
    db.insert(*rows)
    source = open_legacy(batch_size=2)

    got = source.fetch_by_ids(["evt_1", "evt_2", "evt_3", "evt_4", "evt_5", "evt_2", "evt_unknown"])

    expected = [{k: db.returned(v) for k, v in r.items()} for r in rows[:6]]
    assert sorted(got, key=lambda r: (r["stripe_event_id"], str(r["processed_at"]))) == expected
    assert [r["stripe_event_id"] for r in got].count("evt_2") == 2


def test_fetch_by_ids_driver_types(db, open_legacy):
    db.insert(row("evt_types", datetime(2026, 12, 1, 9, 0, 0, 250000), amount=Decimal("1234.50"),
                  cancel_at_period_end=True, error="ünïcødé ✓ 🚀"))
    source = open_legacy()

    (got,) = source.fetch_by_ids(["evt_types"])

    if db.kind == "mysql":  # pymysql: DECIMAL -> Decimal, DATETIME -> naive datetime, TINYINT(1) -> int
        assert got["amount"] == Decimal("1234.50") and str(got["amount"]) == "1234.50"
        assert got["current_period_end"] == datetime(2026, 12, 1, 10, 0, 0)
        assert got["processed_at"] == datetime(2026, 12, 1, 9, 0, 0, 250000)
        assert got["cancel_at_period_end"] == 1 and type(got["cancel_at_period_end"]) is int
    elif db.kind == "postgresql":  # psycopg: NUMERIC -> Decimal, TIMESTAMP -> naive, BOOLEAN -> bool
        assert got["amount"] == Decimal("1234.50") and str(got["amount"]) == "1234.50"
        assert got["current_period_end"] == datetime(2026, 12, 1, 10, 0, 0)
        assert got["current_period_end"].tzinfo is None
        assert got["processed_at"] == datetime(2026, 12, 1, 9, 0, 0, 250000)
        assert got["cancel_at_period_end"] is True
    else:  # sqlite3: NUMERIC affinity -> float, DATETIME stays text, BOOLEAN -> int
        assert got["amount"] == 1234.5 and type(got["amount"]) is float
        assert got["current_period_end"] == "2026-12-01 10:00:00"
        assert got["processed_at"] == "2026-12-01 09:00:00.250000"
        assert got["cancel_at_period_end"] == 1 and type(got["cancel_at_period_end"]) is int
    assert got["error"] == "ünïcødé ✓ 🚀"
    assert got["quantity"] == 1 and type(got["quantity"]) is int
    assert got["duration_ms"] == 120


def test_fetch_by_ids_with_no_ids_runs_nothing(db, open_legacy):
    source = open_legacy(url="mysql+pymysql://root:s3cret@127.0.0.1:1/test")

    assert source.fetch_by_ids([]) == []


def test_fetch_window_binds_naive_local_times_in_the_configured_zone(db, open_legacy):
    # Naive DATETIMEs stored in Berlin time (UTC+1 in December).
    local = {
        "evt_0930": datetime(2026, 12, 1, 9, 30),  # 08:30Z: out (in, if misread as UTC)
        "evt_before": datetime(2026, 12, 1, 9, 59, 59),  # 08:59:59Z: out
        "evt_start": datetime(2026, 12, 1, 10, 0, 0),  # 09:00Z = start: in
        "evt_1030": datetime(2026, 12, 1, 10, 30),  # 09:30Z: in (out, if misread as UTC)
        "evt_last": datetime(2026, 12, 1, 10, 59, 59, 999999),  # just before end: in
        "evt_end": datetime(2026, 12, 1, 11, 0, 0),  # 10:00Z = end: out
    }
    db.insert(*[row(event_id, at) for event_id, at in local.items()])
    source = open_legacy(timezone="Europe/Berlin")
    start = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    end = datetime(2026, 12, 1, 5, 0, tzinfo=ZoneInfo("America/New_York"))  # = 10:00Z

    got = source.fetch_window(start, end)

    assert [r["stripe_event_id"] for r in got] == ["evt_start", "evt_1030", "evt_last"]
    assert [r["processed_at"] for r in got] == [
        db.returned(local["evt_start"]), db.returned(local["evt_1030"]), db.returned(local["evt_last"]),
    ]
    assert source.timezone == "Europe/Berlin"


def test_fetch_window_in_utc(db, open_legacy):
    db.insert(row("evt_a", datetime(2026, 12, 1, 8, 59, 59)), row("evt_b", datetime(2026, 12, 1, 9, 0)),
              row("evt_c", datetime(2026, 12, 1, 9, 59, 59)), row("evt_d", datetime(2026, 12, 1, 10, 0)))
    source = open_legacy()

    got = source.fetch_window(datetime(2026, 12, 1, 9, tzinfo=timezone.utc),
                              datetime(2026, 12, 1, 10, tzinfo=timezone.utc))

    assert [r["stripe_event_id"] for r in got] == ["evt_b", "evt_c"]


def test_fetch_window_needs_aware_times(db, open_legacy):
    with pytest.raises(ValueError):
        open_legacy().fetch_window(datetime(2026, 12, 1, 9), datetime(2026, 12, 1, 10))


def test_postgresql_timestamptz_comes_back_aware_in_the_configured_zone(postgres_url):
    table = f"dv_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (stripe_event_id TEXT, processed_at TIMESTAMPTZ)"))
        conn.execute(text(f"INSERT INTO {table} VALUES ('evt_in', '2026-12-01 09:00:00+00'),"
                          " ('evt_out', '2026-12-01 10:00:00+00')"))
    source = SqlLegacy(postgres_url, by_ids_sql=f"SELECT * FROM {table} WHERE stripe_event_id IN :event_ids",
                       window_sql=f"SELECT * FROM {table} WHERE processed_at >= :start AND processed_at < :end",
                       timezone="Europe/Berlin")
    try:
        got = source.fetch_window(datetime(2026, 12, 1, 9, tzinfo=timezone.utc),
                                  datetime(2026, 12, 1, 10, tzinfo=timezone.utc))
    finally:
        source.close()
        with admin.begin() as conn:
            conn.execute(text(f"DROP TABLE {table}"))
        admin.dispose()

    assert [r["stripe_event_id"] for r in got] == ["evt_in"]
    at = got[0]["processed_at"]
    assert at == datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
    assert at.utcoffset() == timedelta(hours=1)  # shown in the session zone, Europe/Berlin


def test_sessions_are_read_only(db, open_legacy):
    db.insert(row("evt_1", AT))
    source = open_legacy()
    source.fetch_by_ids(["evt_1"])  # the engine exists and has connected

    with pytest.raises(sqlalchemy.exc.DBAPIError) as caught:
        with source.engine.connect() as conn:
            conn.execute(text(f"INSERT INTO {db.table} (stripe_event_id, event_type, processed_at) "
                              "VALUES ('evt_written', 'x', '2026-12-01 09:00:00')"))
            conn.commit()

    assert any(word in str(caught.value.orig).lower() for word in ("read only", "read-only", "readonly"))
    assert db.count("stripe_event_id = 'evt_written'") == 0


def test_write_sql_in_the_config_is_refused(db, open_legacy):
    db.insert(row("evt_1", AT))
    source = open_legacy(by_ids_sql=f"DELETE FROM {db.table} WHERE stripe_event_id IN :event_ids")

    with pytest.raises(UsageError, match=r"^legacy SQL \(by_ids_sql\) failed: "):
        source.fetch_by_ids(["evt_1"])

    assert db.count() == 1


def test_postgresql_session_variables(postgres_url):
    source = SqlLegacy(postgres_url, by_ids_sql="SELECT 1 WHERE 'x' IN :event_ids",
                       window_sql="SELECT current_setting('default_transaction_read_only') AS ro,"
                                  " current_setting('TimeZone') AS tz, :start AS s",
                       timezone="Europe/Berlin")
    try:
        (got,) = source.fetch_window(datetime(2026, 12, 1, 9, tzinfo=timezone.utc),
                                     datetime(2026, 12, 1, 10, tzinfo=timezone.utc))
    finally:
        source.close()

    assert got["ro"] == "on"
    assert got["tz"] == "Europe/Berlin"


def test_bad_sql_is_a_usage_error(db, open_legacy):
    source = open_legacy(by_ids_sql=f"SELEC stripe_event_id FROM {db.table} WHERE stripe_event_id IN :event_ids")

    with pytest.raises(UsageError) as caught:
        source.fetch_by_ids(["evt_1"])

    message = str(caught.value)
    assert message.startswith("legacy SQL (by_ids_sql) failed: ")
    assert "syntax" in message.lower()
    assert "\n" not in message


@pytest.mark.parametrize("sql", [
    "SELECT no_such_column FROM {t} WHERE processed_at >= :start AND processed_at < :end",
    "SELECT * FROM no_such_table_xyz WHERE processed_at >= :start AND processed_at < :end",
])
def test_unknown_column_or_table_is_a_usage_error(db, open_legacy, sql):
    source = open_legacy(window_sql=sql.format(t=db.table))

    with pytest.raises(UsageError) as caught:
        source.fetch_window(datetime(2026, 12, 1, 9, tzinfo=timezone.utc),
                            datetime(2026, 12, 1, 10, tzinfo=timezone.utc))

    message = str(caught.value)
    assert message.startswith("legacy SQL (window_sql) failed: ")
    assert "no_such_" in message
    assert "\n" not in message


def test_by_ids_sql_without_event_ids_parameter_is_a_usage_error(db, open_legacy):
    source = open_legacy(by_ids_sql=f"SELECT * FROM {db.table}")

    with pytest.raises(UsageError, match=":event_ids"):
        source.fetch_by_ids(["evt_1"])


@pytest.mark.parametrize(("url", "reason"), [
    ("mysql+pymysql://root:s3cret@127.0.0.1:1/test", "Connection refused"),
    ("postgresql+psycopg://postgres:s3cret@127.0.0.1:1/test", "Connection refused"),
    ("sqlite:////nonexistent-dir-xyz/legacy.db", "unable to open database file"),
])
def test_unreachable_database_is_source_unreachable_without_password(url, reason):
    source = SqlLegacy(url, by_ids_sql="SELECT 1 WHERE 'a' IN :event_ids",
                       window_sql="SELECT 1 WHERE :start < :end")

    with pytest.raises(SourceUnreachable) as caught:
        source.fetch_by_ids(["evt_1"])

    message = str(caught.value)
    assert "s3cret" not in message
    assert mask_url(url) in message
    assert reason in message
    assert "\n" not in message
    with pytest.raises(SourceUnreachable):
        source.fetch_window(datetime(2026, 12, 1, 9, tzinfo=timezone.utc),
                            datetime(2026, 12, 1, 10, tzinfo=timezone.utc))


def test_bad_mysql_credentials_are_source_unreachable(mysql_url):
    host = mysql_url.split("@", 1)[1]
    url = f"mysql+pymysql://nobody_{uuid.uuid4().hex[:6]}:s3cret@{host}"
    source = SqlLegacy(url, by_ids_sql="SELECT 1 WHERE 'a' IN :event_ids", window_sql="SELECT 1")

    with pytest.raises(SourceUnreachable) as caught:
        source.fetch_by_ids(["evt_1"])

    assert "Access denied" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_unknown_postgresql_role_is_source_unreachable(postgres_url):
    host = postgres_url.split("@", 1)[1]
    url = f"postgresql+psycopg://nobody_{uuid.uuid4().hex[:6]}:s3cret@{host}"
    source = SqlLegacy(url, by_ids_sql="SELECT 1 WHERE 'a' IN :event_ids", window_sql="SELECT 1")

    with pytest.raises(SourceUnreachable) as caught:
        source.fetch_by_ids(["evt_1"])

    assert "does not exist" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_missing_driver_names_the_package():
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("mysqlclient is installed here")
    source = SqlLegacy("mysql://app:s3cret@127.0.0.1/legacy", by_ids_sql="SELECT 1 WHERE 'a' IN :event_ids",
                       window_sql="SELECT 1")

    with pytest.raises(UsageError) as caught:
        source.fetch_by_ids(["evt_1"])

    assert "mysqlclient" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_unknown_scheme_and_zone_are_usage_errors():
    with pytest.raises(UsageError, match="unsupported legacy database URL"):
        SqlLegacy("oracle+nothing://u:p@h/db", by_ids_sql="SELECT 1 WHERE 'a' IN :event_ids",
                  window_sql="SELECT 1").fetch_by_ids(["evt_1"])
    with pytest.raises(UsageError, match="time zone"):
        SqlLegacy("sqlite:///x.db", by_ids_sql="x", window_sql="y", timezone="Mars/Olympus")


def test_describe_masks_the_password():
    source = SqlLegacy("mysql+pymysql://rails:s3cret@db.internal:3306/egghead", by_ids_sql="x", window_sql="y")

    assert source.describe() == "mysql+pymysql://rails:****@db.internal:3306/egghead"


@pytest.mark.parametrize(("url", "masked"), [
    ("redis://:s3cret@127.0.0.1:6379/0", "redis://:****@127.0.0.1:6379/0"),
    ("redis://default:s3cret@redis.internal:6379", "redis://default:****@redis.internal:6379"),
    ("rediss://app:s3cret@redis.internal:6380/1?ssl_cert_reqs=none",
     "rediss://app:****@redis.internal:6380/1?ssl_cert_reqs=none"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://app@127.0.0.1:6379/0", "redis://app@127.0.0.1:6379/0"),
    ("mysql+pymysql://rails:p%40ss@db.internal:3306/egghead?charset=utf8mb4",
     "mysql+pymysql://rails:****@db.internal:3306/egghead?charset=utf8mb4"),
    ("mysql+pymysql://root@127.0.0.1:3306/test", "mysql+pymysql://root@127.0.0.1:3306/test"),
    ("postgresql+psycopg://rails:s3cret@pg.internal/egghead", "postgresql+psycopg://rails:****@pg.internal/egghead"),
    ("postgresql+psycopg://pg.internal/egghead?user=rails&password=s3cret&sslmode=require",
     "postgresql+psycopg://pg.internal/egghead?user=rails&password=****&sslmode=require"),
    ("redis://127.0.0.1:6379/0?password=s3cret", "redis://127.0.0.1:6379/0?password=****"),
    ("mysql+pymysql://rails:pa/ss?w@db.internal/egghead", "mysql+pymysql://rails:****@db.internal/egghead"),
    ("sqlite:///var/lib/legacy.db", "sqlite:///var/lib/legacy.db"),
    ("sqlite:////tmp/legacy.db", "sqlite:////tmp/legacy.db"),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked
    assert "s3cret" not in mask_url(url)
