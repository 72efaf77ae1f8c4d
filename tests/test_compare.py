"""compare_event: every kind of DESIGN 3, decided per DESIGN 9."""

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from divergence.config import load_config
from divergence.compare.differences import compare_event
from divergence.config import StreamFields
from divergence.model import ShadowEvent
from divergence.records.entries import parse_entry

from helpers import entry

ROOT = Path(__file__).resolve().parents[1]
T0 = 1796115600000  # 2026-12-01T09:00:00Z
REF = T0 + 3600_000


@pytest.fixture(scope="module")
def config():
    return load_config(ROOT / "examples" / "divergence.yaml")


def delivery(config, seq=0, **fields):
    base = dict(stripe_event_id="evt_sub1", event_type="customer.subscription.updated", result="processed",
                duration_ms="30", mode="shadow",
                outcome={"status": "active", "customer_id": "cus_1", "subscription_id": "sub_1", "quantity": 2,
                         "interval": "month", "current_period_end": 1798794000, "cancel_at_period_end": False})
    base.update(fields)
    parsed = parse_entry(entry(f"{T0 + seq * 1000}-0", **base), StreamFields(), frozenset(config.event_types))
    assert parsed.__class__.__name__ == "Delivery", parsed
    return parsed


def rails_row(**over):
    row = dict(stripe_event_id="evt_sub1", event_type="customer.subscription.updated", status="active",
               customer_id="cus_1", subscription_id="sub_1", quantity=2, plan_interval="month", amount=None,
               currency=None, current_period_end=datetime(2027, 1, 1, 9, 0, 0), cancel_at_period_end=0,
               processed_at=datetime(2026, 12, 1, 9, 0, 5, 120000), duration_ms=80, error=None)
    row.update(over)
    return row


def kinds(divergences):
    return sorted((d.kind, d.field) for d in divergences)


def test_equal_sides_have_no_divergence(config):
    event = ShadowEvent("evt_sub1", "customer.subscription.updated", [delivery(config)])
    assert compare_event(event, [rails_row()], config, REF) == []


def test_one_value_mismatch_per_field_with_lag(config):
    event = ShadowEvent("evt_sub1", "customer.subscription.updated",
                        [delivery(config, outcome={"status": "incomplete", "customer_id": "cus_1",
                                                   "subscription_id": "sub_1", "quantity": 1, "interval": "month",
                                                   "current_period_end": 1798794000,
                                                   "cancel_at_period_end": False})])
    out = compare_event(event, [rails_row()], config, REF)
    assert kinds(out) == [("value_mismatch", "quantity"), ("value_mismatch", "status")]
    status = next(d for d in out if d.field == "status")
    assert (status.cb_value, status.rails_value) == ("incomplete", "active")
    assert status.lag_s == pytest.approx(5.12)
    assert status.signature == "status: incomplete -> active"


def test_missing_in_legacy(config):
    event = ShadowEvent("evt_sub1", "customer.subscription.updated", [delivery(config)])
    assert kinds(compare_event(event, [], config, REF)) == [("missing_in_legacy", "")]


def test_error_in_shadow_only_when_no_delivery_succeeded(config):
    failed = delivery(config, result="error", error="Stripe::InvalidRequestError\nat line 3")
    event = ShadowEvent("evt_sub1", "customer.subscription.updated", [failed])
    out = compare_event(event, [rails_row()], config, REF)
    assert kinds(out) == [("error_in_shadow", "")]
    assert out[0].detail == "Stripe::InvalidRequestError"
    retried = ShadowEvent("evt_sub1", "customer.subscription.updated", [failed, delivery(config, seq=60)])
    assert compare_event(retried, [rails_row()], config, REF) == []


def test_error_in_legacy(config):
    event = ShadowEvent("evt_sub1", "customer.subscription.updated", [delivery(config)])
    out = compare_event(event, [rails_row(error="ActiveRecord::Deadlocked")], config, REF)
    assert kinds(out) == [("error_in_legacy", "")]


def test_two_processed_deliveries_are_duplicate_processing(config):
    event = ShadowEvent("evt_sub1", "customer.subscription.updated", [delivery(config), delivery(config, seq=3)])
    out = compare_event(event, [rails_row()], config, REF)
    assert kinds(out) == [("duplicate_processing", "")]
    assert (out[0].cb_value, out[0].rails_value) == (2, 1)


def test_a_dedup_hit_retry_is_not_duplicate_processing(config):
    retry = delivery(config, seq=3, result="duplicate", dedup="hit")
    event = ShadowEvent("evt_sub1", "customer.subscription.updated", [delivery(config), retry])
    assert compare_event(event, [rails_row()], config, REF) == []


def test_two_rails_rows_are_duplicate_processing_not_dropped(config):
    event = ShadowEvent("evt_sub1", "customer.subscription.updated", [delivery(config)])
    later = rails_row(processed_at=datetime(2026, 12, 1, 9, 0, 9))
    out = compare_event(event, [later, rails_row()], config, REF)
    assert kinds(out) == [("duplicate_processing", "")]
    assert out[0].detail == "Rails processed it 2 times"


def test_skipped_while_rails_has_a_row_is_missing_in_shadow(config):
    event = ShadowEvent("evt_sub1", "customer.subscription.updated", [delivery(config, result="skipped")])
    out = compare_event(event, [rails_row()], config, REF)
    assert kinds(out) == [("missing_in_shadow", "")] and out[0].detail == "skipped"
    assert compare_event(event, [], config, REF) == []


def test_money_with_zero_decimal_currency_and_major_units(config):
    def invoice(amount, currency):
        return ShadowEvent("evt_inv", "invoice.payment_succeeded", [delivery(
            config, stripe_event_id="evt_inv", event_type="invoice.payment_succeeded",
            outcome={"status": "paid", "customer_id": "cus_1", "subscription_id": "sub_1", "amount": amount,
                     "currency": currency})])

    row = rails_row(stripe_event_id="evt_inv", event_type="invoice.payment_succeeded", status="paid",
                    amount=Decimal("80.00"), currency="JPY", quantity=None, plan_interval=None,
                    current_period_end=None, cancel_at_period_end=None)
    assert compare_event(invoice(80, "jpy"), [row], config, REF) == []
    out = compare_event(invoice(8000, "jpy"), [row], config, REF)
    assert kinds(out) == [("value_mismatch", "amount")]
    assert (out[0].cb_value, out[0].rails_value) == (8000, 80)
    usd = dict(row, amount=Decimal("19.00"), currency="USD")
    assert compare_event(invoice(1900, "usd"), [usd], config, REF) == []


def test_current_period_end_from_basil_items_when_outcome_lacks_it(config):
    payload = {"data": {"object": {"items": {"data": [{"current_period_end": 1798794000}]}}}}
    outcome = {"status": "active", "customer_id": "cus_1", "subscription_id": "sub_1", "quantity": 2,
               "interval": "month", "cancel_at_period_end": False}
    event = ShadowEvent("evt_sub1", "customer.subscription.updated",
                        [delivery(config, outcome=outcome, payload=payload)])
    assert compare_event(event, [rails_row()], config, REF) == []


def test_invalid_cb_value_is_a_mismatch_with_the_reason(config):
    outcome = {"status": "active", "customer_id": "cus_1", "subscription_id": "sub_1", "quantity": "two",
               "interval": "month", "current_period_end": 1798794000, "cancel_at_period_end": False}
    event = ShadowEvent("evt_sub1", "customer.subscription.updated", [delivery(config, outcome=outcome)])
    out = compare_event(event, [rails_row()], config, REF)
    assert kinds(out) == [("value_mismatch", "quantity")]
    assert out[0].cb_value == "two" and out[0].detail == "CB value 'two' is not a number"
