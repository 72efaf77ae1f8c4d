import json
from pathlib import Path

import pytest

from divergence.records.paths import MISSING, extract, first_present, parse_path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stripe-events"  # copied from shared/, with its provenance README


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def test_simple_and_indexed_paths():
    doc = {"outcome": {"a": {"b": [10, 20]}}}
    assert extract(doc, parse_path("outcome.a.b[1]")) == 20
    assert extract(doc, parse_path("outcome.a.b[-1]")) == 20
    assert extract(doc, parse_path("outcome.a.c")) is MISSING
    assert extract(doc, parse_path("outcome.a.b[5]")) is MISSING


def test_json_text_is_walked_into():
    row = {"data": '{"status": "active"}'}
    assert extract(row, parse_path("data.status")) == "active"


def test_first_present_skips_null_and_empty_but_not_zero_or_false():
    doc = {"a": None, "b": "", "c": 0, "d": 5}
    paths = tuple(parse_path(p) for p in ("x", "a", "b", "c", "d"))
    assert first_present(doc, paths)[0] == 0
    doc = {"a": None, "f": False}
    assert first_present(doc, (parse_path("a"), parse_path("f")))[0] is False


@pytest.mark.parametrize("agg, expected", [("first", 2), ("sum", 2), ("max", 2), ("min", 2)])
def test_aggregations_skip_absent_quantities(agg, expected):
    # The second item of this real subscription has no quantity (DESIGN fixtures README, item 4).
    event = fixture("customer.subscription.created__stripe-sync-engine.json")
    items = event["data"]["object"]["items"]["data"]
    quantities = [i.get("quantity") for i in items]
    assert quantities[1] is None
    path = parse_path(f"data.object.items.data[*].quantity | {agg}")
    got = extract(event, path)
    present = [q for q in quantities if q is not None]
    assert got == {"first": present[0], "sum": sum(present), "max": max(present), "min": min(present)}[agg]


def test_current_period_end_moved_to_items_in_basil():
    old = fixture("customer.subscription.updated__stripe-ruby-mock.json")
    basil = fixture("customer.subscription.updated__naltrexone-university.json")
    paths = (parse_path("data.object.current_period_end"),
             parse_path("data.object.items.data[*].current_period_end | max"))
    assert first_present(old, paths)[0] == old["data"]["object"]["current_period_end"]
    item_cpe = basil["data"]["object"]["items"]["data"][0]["current_period_end"]
    assert "current_period_end" not in basil["data"]["object"]
    assert first_present(basil, paths)[0] == item_cpe


def test_invoice_subscription_link_moved_under_parent():
    pay = fixture("invoice.payment_failed__pay.json")  # data member only, basil shape
    paths = (parse_path("object.subscription"), parse_path("object.parent.subscription_details.subscription"))
    value, path = first_present(pay, paths)
    assert value == pay["object"]["parent"]["subscription_details"]["subscription"]
    assert path.text == "object.parent.subscription_details.subscription"


def test_bad_paths_are_rejected():
    for text in ("", "a..b", "a[x]", "a | median"):
        with pytest.raises(ValueError):
            parse_path(text)


def test_min_and_max_order_iso_timestamps_by_instant_not_text():
    doc = {"items": [{"end": "2026-12-01T10:30:00+02:00"}, {"end": "2026-12-01T09:00:00Z"}]}
    assert extract(doc, parse_path("items[*].end | max")) == "2026-12-01T09:00:00Z"
    assert extract(doc, parse_path("items[*].end | min")) == "2026-12-01T10:30:00+02:00"


def test_a_sum_over_bad_values_is_not_a_silent_fallback():
    doc = {"q": [2, "x"], "q2": 2}
    value, path = first_present(doc, (parse_path("q[*] | sum"), parse_path("q2")))
    assert value == [2, "x"] and path.text == "q[*] | sum"  # compared, and reported as not a number
