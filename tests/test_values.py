"""Type-aware equality (DESIGN 2.3): every representation of one value is equal, and
a real difference is never hidden."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from divergence.records.values import InvalidValue, equal, normalise


def same(kind, cb, rails, tolerance=0, cb_opts=None, rails_opts=None):
    a = normalise(kind, cb, **(cb_opts or {}))
    b = normalise(kind, rails, **(rails_opts or {}))
    return equal(kind, a, b, tolerance) and equal(kind, b, a, tolerance)


@pytest.mark.parametrize("cb, rails", [(1, "1"), ("1", 1.0), (1, Decimal("1.00")), ("42", 42), (" 7 ", 7)])
def test_int_representations_are_equal(cb, rails):
    assert same("int", cb, rails)


@pytest.mark.parametrize("cb, rails", [(1, 2), ("1", "10"), (0, None), (0, "")])
def test_int_differences_are_kept(cb, rails):
    assert not same("int", cb, rails)


def test_int_that_is_not_whole_is_invalid():
    with pytest.raises(InvalidValue, match="not a whole number"):
        normalise("int", "1.5")
    with pytest.raises(InvalidValue, match="not a number"):
        normalise("int", "fast")


@pytest.mark.parametrize("cb, rails", [("true", True), (1, True), ("1", 1), ("false", 0), (False, "f"), ("TRUE", 1)])
def test_bool_representations_are_equal(cb, rails):
    assert same("bool", cb, rails)


def test_false_is_a_value_not_null():
    assert not same("bool", False, None)
    assert normalise("bool", False) is False


def test_money_major_and_minor_units():
    usd = dict(currency="USD")
    assert same("money", 1900, Decimal("19.00"), cb_opts=usd, rails_opts=dict(units="major", currency="USD"))
    assert same("money", "1999", 19.99, cb_opts=usd, rails_opts=dict(units="major", currency="usd"))
    assert not same("money", 1900, Decimal("19.01"), cb_opts=usd, rails_opts=dict(units="major", currency="USD"))


def test_zero_decimal_currency_has_no_minor_unit():
    # 80 JPY in Stripe's minor units is 80 yen, stored as 80.00 in a DECIMAL column.
    assert same("money", 80, Decimal("80.00"), cb_opts=dict(currency="jpy"),
                rails_opts=dict(units="major", currency="JPY"))
    assert not same("money", 8000, Decimal("80.00"), cb_opts=dict(currency="jpy"),
                    rails_opts=dict(units="major", currency="JPY"))


def test_three_decimal_currency():
    assert same("money", 1500, Decimal("1.500"), cb_opts=dict(currency="KWD"),
                rails_opts=dict(units="major", currency="KWD"))


def test_money_currency_difference_is_a_mismatch():
    assert not same("money", 1900, 1900, cb_opts=dict(currency="USD"), rails_opts=dict(currency="EUR"))


def test_money_tolerance_in_minor_units():
    assert same("money", 1900, 1901, tolerance=1)
    assert not same("money", 1900, 1902, tolerance=1)


def test_timestamps_across_representations():
    iso = "2026-12-01T10:00:00Z"
    naive_utc = datetime(2026, 12, 1, 10, 0, 0)
    epoch = int(datetime(2026, 12, 1, 10, tzinfo=timezone.utc).timestamp())
    assert same("timestamp", iso, naive_utc)
    assert same("timestamp", epoch, naive_utc)
    assert same("timestamp", str(epoch), iso)
    assert same("timestamp", "2026-12-01T11:00:00+01:00", iso)


def test_naive_datetime_is_read_in_the_database_zone_not_the_hosts():
    berlin_naive = datetime(2026, 12, 1, 11, 0, 0)  # 10:00Z in winter
    assert same("timestamp", "2026-12-01T10:00:00Z", berlin_naive, rails_opts=dict(tz="Europe/Berlin"))
    assert not same("timestamp", "2026-12-01T10:00:00Z", berlin_naive, rails_opts=dict(tz="UTC"))


def test_timestamp_tolerance():
    assert same("timestamp", "2026-12-01T10:00:00Z", "2026-12-01T10:00:01Z", tolerance=1)
    assert not same("timestamp", "2026-12-01T10:00:00Z", "2026-12-01T10:00:02Z", tolerance=1)


def test_enum_is_case_insensitive_string_is_not():
    assert same("enum", "Active", "active")
    assert not same("string", "Active", "active")


def test_json_key_order_and_number_form_do_not_matter():
    text = dict(json_text=True)  # Rails' JSON column as MySQL returns it: text
    assert same("json", {"b": [1, 2], "a": 1.0}, '{"a": 1, "b": [1, 2]}', rails_opts=text)
    assert same("json", {"a": Decimal("1.5")}, {"a": 1.5})
    assert not same("json", {"a": True}, '{"a": 1}', rails_opts=text)
    assert not same("json", [2, 1], '[1, 2]', rails_opts=text)


def test_a_json_string_in_cbs_outcome_is_not_json_text():
    text = dict(json_text=True)
    assert same("json", "x", '"x"', rails_opts=text)  # MySQL JSON column holding the string "x"
    assert not same("json", "123", 123)  # a string is not a number
    assert not same("json", "true", True)
    assert not same("json", "[1]", [1])


def test_more_representations_of_one_value():
    assert same("bool", 1.0, True) and same("bool", "1.0", "true") and same("bool", b"\x01", True)
    assert same("string", 5, Decimal("5.0")) and same("string", 5.0, "5")
    assert same("enum", "  ", None)
    assert same("money", 30, 0.1 + 0.2, rails_opts=dict(units="major", currency="USD"))
    assert same("money", 80, Decimal("80.00"), cb_opts=dict(currency=" jpy "),
                rails_opts=dict(units="major", currency="JPY "))
    from datetime import date
    assert same("timestamp", "2026-12-01T00:00:00Z", date(2026, 12, 1))


def test_a_naive_time_in_the_repeated_dst_hour_matches_either_instant():
    # 2026-10-25 02:40 happens twice in Berlin: 00:40Z (CEST) and 01:40Z (CET).
    berlin = dict(tz="Europe/Berlin")
    naive = datetime(2026, 10, 25, 2, 40)
    assert same("timestamp", "2026-10-25T01:40:00Z", naive, rails_opts=berlin)
    assert same("timestamp", "2026-10-25T00:40:00Z", naive, rails_opts=berlin)
    assert not same("timestamp", "2026-10-25T02:40:00Z", naive, rails_opts=berlin)


@pytest.mark.parametrize("kind", ["string", "enum", "int", "money", "bool", "timestamp", "json"])
def test_null_absent_and_empty_are_one_null(kind):
    for empty in (None, ""):
        assert normalise(kind, empty) is None
    assert equal(kind, None, None)


def test_null_against_a_value_is_a_mismatch():
    assert not same("string", "cus_1", None)
    assert not same("int", 0, None)


@pytest.mark.parametrize("kind", ["int", "money"])
def test_absurd_numbers_are_invalid_at_once_not_a_hang(kind):
    for text in ("1e10000000", "1e5000", "-1e400"):
        with pytest.raises(InvalidValue, match="out of range"):
            normalise(kind, text)


def test_big_json_integers_keep_every_digit():
    text = dict(json_text=True)
    a = {"a": 12345678901234567890123}
    assert not same("json", a, '{"a": 12345678901234567890124}', rails_opts=text)
    assert same("json", a, '{"a": 12345678901234567890123}', rails_opts=text)
