"""The window logic of DESIGN 9 on a small hand-made snapshot (the real file path)."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from divergence.analysis import analyse
from divergence.classify.rules import RuleSet
from divergence.config import load_config
from divergence.model import Window
from divergence.sources.snapshot import SnapshotLegacy, SnapshotStream, write_snapshot

from helpers import entry

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)
MS0 = int(T0.timestamp() * 1000)
HOUR = 3600_000


def cb(ms, event_id, event_type="charge.refunded", result="processed", **over):
    fields = dict(stripe_event_id=event_id, event_type=event_type, result=result, duration_ms="25",
                  mode="shadow", stripe_created=str(over.pop("created", ms // 1000 - 1)),
                  outcome={"status": "refunded", "customer_id": "cus_1", "amount": 500, "currency": "usd"})
    fields.update(over)
    return entry(f"{ms}-0", **fields)


def rails(event_id, at_ms, event_type="charge.refunded", **over):
    row = dict(stripe_event_id=event_id, event_type=event_type, status="refunded", customer_id="cus_1",
               subscription_id=None, quantity=None, plan_interval=None, amount=__import__("decimal").Decimal("5.00"),
               currency="USD", current_period_end=None, cancel_at_period_end=None,
               processed_at=datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc).replace(tzinfo=None),
               duration_ms=90, error=None)
    row.update(over)
    return row


@pytest.fixture(scope="module")
def config():
    return load_config(ROOT / "examples" / "divergence.yaml")


def run(tmp_path, config, entries, rows, start_ms, end_ms, reference_ms=None):
    folder = tmp_path / "snap"
    write_snapshot(folder, entries=entries, legacy_rows=rows, window_start=T0 - timedelta(days=1),
                   window_end=T0 + timedelta(days=1), as_of=T0 + timedelta(days=1), database_timezone="UTC",
                   sources={"stream": "test", "legacy": "test"})
    stream = SnapshotStream(folder)
    legacy = SnapshotLegacy(folder, event_id_column="stripe_event_id", processed_at_column="processed_at",
                            timezone_name="UTC")
    return analyse(config, stream, legacy, Window(start_ms, end_ms, reference_ms or end_ms), RuleSet(()))


def test_an_event_belongs_to_the_window_of_its_first_delivery(tmp_path, config):
    entries = [
        cb(MS0 - 10 * 60_000, "evt_early", created=(MS0 - 11 * 60_000) // 1000),  # first delivery before window
        cb(MS0 + 5 * 60_000, "evt_early", result="duplicate", dedup="hit"),  # its retry inside the window
        cb(MS0 + HOUR, "evt_inside"),
    ]
    rows = [rails("evt_early", MS0 - 9 * 60_000), rails("evt_inside", MS0 + HOUR + 1000)]
    a = run(tmp_path, config, entries, rows, MS0, MS0 + 2 * HOUR)
    assert [e.event_id for e in a.events] == ["evt_inside"]
    assert a.divergences == []
    # The retry is still a delivery of the window for the dedup rate.
    assert sorted(d.event_id for d in a.deliveries) == ["evt_early", "evt_inside"]


def test_a_late_retry_after_the_window_end_still_counts_for_its_event(tmp_path, config):
    entries = [cb(MS0 + HOUR, "evt_twice"), cb(MS0 + 2 * HOUR + 60_000, "evt_twice")]  # 2 x processed
    a = run(tmp_path, config, entries, [rails("evt_twice", MS0 + HOUR + 500)], MS0, MS0 + 2 * HOUR,
            reference_ms=MS0 + 3 * HOUR)
    assert [(d.event_id, d.kind) for d in a.divergences] == [("evt_twice", "duplicate_processing")]


def test_pending_events_are_reported_not_compared(tmp_path, config):
    entries = [cb(MS0 + HOUR - 60_000, "evt_young")]  # 1 min old at the reference time
    a = run(tmp_path, config, entries, [], MS0, MS0 + HOUR)
    assert [e.event_id for e in a.pending] == ["evt_young"] and a.compared == []


def test_rails_only_events_are_missing_in_shadow_within_the_window_only(tmp_path, config):
    rows = [
        rails("evt_rails_only", MS0 + 30 * 60_000),
        rails("evt_before", MS0 - 5 * 60_000),  # processed before the window: another window's
        rails("evt_cb_before", MS0 + 20_000),  # CB logged it just before the window start: not missing
        rails("evt_ignored_type", MS0 + 40 * 60_000, event_type="invoice.paid"),
    ]
    entries = [cb(MS0 - 30_000, "evt_cb_before")]
    a = run(tmp_path, config, entries, rows, MS0, MS0 + 2 * HOUR)
    assert [(d.event_id, d.kind) for d in a.divergences] == [("evt_rails_only", "missing_in_shadow")]


def test_primary_ignored_and_malformed_entries_are_counted_apart(tmp_path, config):
    entries = [
        cb(MS0 + 1000, "evt_p", mode="primary"),
        cb(MS0 + 2000, "evt_i", event_type="invoice.paid"),
        cb(MS0 + 3000, "evt_m", outcome="{oops"),
        cb(MS0 + 4000, "evt_ok"),
    ]
    a = run(tmp_path, config, entries, [rails("evt_ok", MS0 + 4500)], MS0, MS0 + HOUR)
    assert (a.primary, a.ignored, [m.stream_id for m in a.malformed]) == (1, 1, [f"{MS0 + 3000}-0"])
    assert [e.event_id for e in a.compared] == ["evt_ok"]


def test_rails_processing_an_hour_late_is_not_missing_in_shadow(tmp_path, config):
    # CB logged it at 07:30; a Sidekiq backlog made Rails process it at 08:30 (in the next window).
    entries = [cb(MS0 - 30 * 60_000, "evt_late_rails", created=(MS0 - 31 * 60_000) // 1000),
               cb(MS0 + 10 * 60_000, "evt_other")]
    rows = [rails("evt_late_rails", MS0 + 30 * 60_000), rails("evt_other", MS0 + 10 * 60_000 + 800)]
    a = run(tmp_path, config, entries, rows, MS0, MS0 + HOUR)
    assert a.divergences == []
    assert [e.event_id for e in a.compared] == ["evt_other"]


def test_a_malformed_entry_is_not_also_missing_in_shadow(tmp_path, config):
    entries = [cb(MS0 + 1000, "evt_bad", duration_ms="fast")]
    a = run(tmp_path, config, entries, [rails("evt_bad", MS0 + 1500)], MS0, MS0 + HOUR)
    assert [(m.event_id, m.reason) for m in a.malformed] == [("evt_bad", "duration_ms 'fast' is not a number")]
    assert a.divergences == [] and a.compared == []


def test_a_column_the_config_needs_but_the_sql_lacks_is_a_config_error(tmp_path, config):
    from divergence.errors import UsageError

    row = rails("evt_ok", MS0 + 4500)
    del row["plan_interval"]
    with pytest.raises(UsageError, match="legacy SQL \\(by_ids_sql\\) returns no column 'plan_interval' "
                                         "\\(needed by field 'interval'\\)"):
        run(tmp_path, config, [cb(MS0 + 4000, "evt_ok")], [row], MS0, MS0 + HOUR)


def test_a_retry_without_stripe_created_still_belongs_to_its_first_window(tmp_path, config):
    first = cb(MS0 - 3 * HOUR, "evt_retry", created="")  # the writer did not send stripe_created
    retry = cb(MS0 + 5 * 60_000, "evt_retry", result="duplicate", dedup="hit", created="")
    a = run(tmp_path, config, [first, retry], [rails("evt_retry", MS0 - 3 * HOUR + 900)], MS0, MS0 + HOUR)
    assert a.events == [] and a.divergences == []


def test_a_rails_only_event_processed_twice_hours_apart_is_one_event_in_one_window(tmp_path, config):
    rows = [rails("evt_twice_rails", MS0 + 2 * HOUR), rails("evt_twice_rails", MS0 + 4 * HOUR)]
    entries = [cb(MS0 + 10_000, "evt_unrelated")]
    rows.append(rails("evt_unrelated", MS0 + 10_500))
    first = run(tmp_path, config, entries, rows, MS0, MS0 + 3 * HOUR, reference_ms=MS0 + 6 * HOUR)
    assert sorted((d.event_id, d.kind, d.rails_value) for d in first.divergences) == [
        ("evt_twice_rails", "duplicate_processing", 2), ("evt_twice_rails", "missing_in_shadow", "processed")]
    later = run(tmp_path, config, entries, rows, MS0 + 3 * HOUR, MS0 + 6 * HOUR, reference_ms=MS0 + 6 * HOUR)
    assert later.divergences == []
