"""Fixtures for the real local servers the tests talk to (no mocks).

Each server fixture checks the server answers. When it does not, the test is skipped on a
developer machine and fails under CI (`CI=true`), where `.ci/run` starts every server.
URLs can be overridden with TEST_REDIS_URL, TEST_MYSQL_URL and TEST_POSTGRES_URL.
"""

from __future__ import annotations

import os

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MYSQL_URL = os.environ.get("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_checked: dict[str, str | None] = {}  # url -> None when reachable, else why not


def _require(name: str, url: str, check) -> str:
    if url not in _checked:
        try:
            check(url)
            _checked[url] = None
        except Exception as exc:  # any failure means "not available" here
            _checked[url] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    reason = _checked[url]
    if reason is not None:
        message = f"{name} is not reachable at {url} ({reason})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI needs it running (.ci/run starts it)", pytrace=False)
        pytest.skip(message)
    return url


def _check_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    finally:
        client.close()


def _check_sql(url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    finally:
        engine.dispose()


@pytest.fixture
def redis_url() -> str:
    return _require("Redis", REDIS_URL, _check_redis)


@pytest.fixture
def mysql_url() -> str:
    return _require("MariaDB/MySQL", MYSQL_URL, _check_sql)


@pytest.fixture
def postgres_url() -> str:
    return _require("PostgreSQL", POSTGRES_URL, _check_sql)
