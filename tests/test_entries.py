from divergence.config import StreamFields
from divergence.model import Delivery, Malformed, StreamEntry
from divergence.records.entries import Excluded, parse_entry

from helpers import entry

TYPES = frozenset({"invoice.payment_succeeded"})
NAMES = StreamFields()


def parse(e):
    return parse_entry(e, NAMES, TYPES)


def good(**over):
    fields = dict(stripe_event_id="evt_1", event_type="invoice.payment_succeeded", result="processed",
                  duration_ms="42", dedup="miss", outcome={"status": "paid"}, mode="shadow",
                  stripe_created="1796115000", received_at="2026-12-01T09:00:00.250Z")
    fields.update(over)
    return entry("1796115600000-0", **fields)


def test_a_well_formed_entry_becomes_a_delivery():
    d = parse(good())
    assert isinstance(d, Delivery)
    assert (d.event_id, d.result, d.duration_ms, d.dedup, d.outcome) == ("evt_1", "processed", 42.0, "miss",
                                                                         {"status": "paid"})
    assert d.received_ms == 1796115600250
    assert d.stripe_created == 1796115000


def test_received_at_falls_back_to_the_stream_id():
    assert parse(good(received_at="")).received_ms == 1796115600000


def test_malformed_entries_say_why():
    cases = {
        "missing stripe_event_id": good(stripe_event_id=""),
        "stripe_event_id 'oops' is not a Stripe event id (evt_...)": good(stripe_event_id="oops"),
        "stripe_event_id ' evt_1 ' is not a Stripe event id (evt_...)": good(stripe_event_id=" evt_1 "),
        "missing event_type": good(event_type=""),
        "outcome is not JSON (unexpected character at char 0)": good(outcome="not json"),
        "outcome is JSON array, not an object": good(outcome=[1]),
        "duration_ms 'fast' is not a number": good(duration_ms="fast"),
        "result 'maybe' (expected one of processed, duplicate, error, skipped)": good(result="maybe"),
        "received_at 'yesterday' is not an ISO-8601 time": good(received_at="yesterday"),
    }
    for reason, e in cases.items():
        got = parse(e)
        assert isinstance(got, Malformed), reason
        assert got.reason.startswith(reason.split(" (")[0]), (got.reason, reason)
        assert got.stream_id == "1796115600000-0"


def test_a_field_sent_twice_is_malformed_not_silently_dropped():
    base = good()
    twice = StreamEntry(base.stream_id, base.fields + ((b"result", b"error"),))
    got = parse(twice)
    assert isinstance(got, Malformed) and got.reason == "field 'result' appears more than once"


def test_non_utf8_bytes_are_reported_with_offset():
    got = parse(good(error=b"bad \xff byte"))
    assert isinstance(got, Malformed)
    assert got.reason == "field 'error' is not UTF-8 (byte 0xff at offset 4)"
    assert got.event_id == "evt_1"  # the report can still name the event


def test_other_event_types_are_ignored_and_primary_mode_excluded():
    assert parse(good(event_type="invoice.paid")) == Excluded("1796115600000-0", "evt_1", "ignored")
    assert parse(good(mode="primary")) == Excluded("1796115600000-0", "evt_1", "primary")
