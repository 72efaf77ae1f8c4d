"""Done-when of the main job: the example week loaded into a live Redis and a live database
gives the same figures as the shipped snapshot, through the same CLI."""

import json
import uuid

import pytest
import redis
import sqlalchemy
from typer.testing import CliRunner

from divergence.cli import app

from week import EXAMPLE_SNAPSHOT, config_for, generator, week


def daily_check_json(config, *args, env=None):
    result = CliRunner().invoke(app, ["daily-check", "--config", str(config), "--format", "json", *args],
                                env=env or {})
    assert result.exit_code in (0, 1), result.stderr
    document = json.loads(result.stdout)
    document.pop("sources")
    document.pop("stream_first_entry")  # where the source begins, not a figure of the window
    for malformed in document["malformed"]:  # the test's own stream key stands in for webhook:events
        malformed["key"] = "webhook:events"
    return result.exit_code, document


@pytest.fixture
def live_week(request, redis_url, tmp_path):
    """The week in a fresh Redis key and a fresh table; both removed afterwards."""
    db_url = request.getfixturevalue(request.param)
    suffix = uuid.uuid4().hex[:8]
    key, table = f"test:webhook:events:{suffix}", f"swe_{suffix}"
    w = week()
    gen = generator()
    gen.load_redis(w, redis_url, key)
    gen.load_sql(w, db_url, table=table)
    yield config_for(tmp_path, table=table, key=key), {"REDIS_URL": redis_url, "LEGACY_DATABASE_URL": db_url}, w
    redis.Redis.from_url(redis_url).delete(key)
    engine = sqlalchemy.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


@pytest.mark.parametrize("live_week", ["mysql_url", "postgres_url"], indirect=True)
@pytest.mark.parametrize("since", ["24h", "7d"])
def test_live_run_prints_the_same_figures_as_the_snapshot(live_week, since, tmp_path):
    config, env, w = live_week
    until = w.as_of.isoformat()
    live_code, live = daily_check_json(config, "--since", since, "--until", until, env=env)
    snap_code, snap = daily_check_json(config, "--since", since, "--snapshot", str(EXAMPLE_SNAPSHOT))
    assert live == snap
    assert live_code == snap_code == (0 if since == "24h" else 1)


@pytest.mark.parametrize("live_week", ["mysql_url"], indirect=True)
def test_snapshot_of_a_live_window_reproduces_its_figures(live_week, tmp_path):
    config, env, w = live_week
    until = w.as_of.isoformat()
    out = tmp_path / "snap"
    result = CliRunner().invoke(app, ["snapshot", "--config", str(config), "--since", "2d", "--until", until,
                                      "--out", str(out)], env=env)
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema_version"] == 1 and manifest["as_of"] == until.replace("+00:00", "Z")
    for since in ("24h", "2d"):
        _, live = daily_check_json(config, "--since", since, "--until", until, env=env)
        _, snap = daily_check_json(config, "--since", since, "--snapshot", str(out))
        assert live == snap


@pytest.mark.parametrize("live_week", ["mysql_url"], indirect=True)
def test_export_reads_redis_backwards_only_as_far_as_needed(live_week):
    from divergence.classify.rules import load_rules
    from divergence.config import load_config
    from divergence.model import Window, datetime_to_ms
    from divergence.reports.export import last_divergent
    from divergence.reports.filters import Filters
    from divergence.sources.legacy_sql import SqlLegacy
    from divergence.sources.recording import RecordingStream
    from divergence.sources.redis_stream import RedisStream

    config_path, env, w = live_week
    config = load_config(config_path)
    redis_source = RedisStream(env["REDIS_URL"], config.stream.keys, page_size=100)
    stream = RecordingStream(redis_source)
    legacy = SqlLegacy(env["LEGACY_DATABASE_URL"], by_ids_sql=config.legacy.by_ids_sql,
                       window_sql=config.legacy.window_sql)
    as_of = datetime_to_ms(w.as_of)
    window = Window(as_of - 600_000, as_of - 600_000, as_of)
    result = last_divergent(config, stream, legacy, load_rules(config.rule_paths), window, 5, Filters())
    assert len(result.events) == 5
    assert len(stream.entries()) < len(w.entries) / 4  # read back a fraction of the week, not all of it
    newest = sorted({(t.at_ms, t.event_id) for t in w.truth if t.at_ms < window.end_ms}, reverse=True)[:5]
    assert [e.event_id for e in result.events] == [event_id for _, event_id in newest]
