"""importd.values: exact decimals, explicit dates, money rounding."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from importd.errors import ValueRejected
from importd.mapping.values import parse_date, parse_datetime, parse_decimal, round_money

NBSP = "\u00a0"
NNBSP = "\u202f"


def assert_exact(got: Decimal, expected: Decimal) -> None:
    """Same value and same digits/exponent: '1234.50' must not come back as '1234.5'."""
    assert got == expected
    assert got.as_tuple() == expected.as_tuple(), (got, expected)


# --- parse_decimal: accepted spellings -------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("12,50", "12.50"),
    ("0,5", "0.5"),
    ("1234,56", "1234.56"),
    ("1 234,56", "1234.56"),
    (f"1{NBSP}234,56", "1234.56"),
    (f"1{NNBSP}234,56", "1234.56"),
    (f"12{NBSP}345{NBSP}678,9", "12345678.9"),
    ("1.234,56", "1234.56"),
    ("1.234.567,89", "1234567.89"),
    ("1.234", "1234"),
    ("42", "42"),
    ("  7,25  ", "7.25"),
])
def test_decimal_comma_with_thousands_separators_parses_exactly(text, expected):
    """With decimal_comma=True, ',' is the mark and space/NBSP/NNBSP/'.' group thousands."""
    assert_exact(parse_decimal(text, decimal_comma=True), Decimal(expected))


@pytest.mark.parametrize("text, expected", [
    ("12.50", "12.50"),
    (".5", "0.5"),
    ("1234.56", "1234.56"),
    ("1 234.56", "1234.56"),
    (f"1{NBSP}234.56", "1234.56"),
    (f"1{NNBSP}234.56", "1234.56"),
    ("1,234.56", "1234.56"),
    ("1,234,567.89", "1234567.89"),
    ("1,234", "1234"),
    ("42", "42"),
])
def test_decimal_point_with_thousands_separators_parses_exactly(text, expected):
    """With decimal_comma=False, '.' is the mark and space/NBSP/NNBSP/',' group thousands."""
    assert_exact(parse_decimal(text, decimal_comma=False), Decimal(expected))


@pytest.mark.parametrize("text, decimal_comma, expected", [
    ("-12,50", True, "-12.50"),
    ("-1.234,56", True, "-1234.56"),
    (f"-1{NBSP}234,56", True, "-1234.56"),
    ("-0,01", True, "-0.01"),
    ("-12.50", False, "-12.50"),
    ("-1,234.56", False, "-1234.56"),
    ("+3.5", False, "3.5"),
])
def test_negative_and_signed_numbers_keep_their_sign(text, decimal_comma, expected):
    """A leading '-' (or '+') is kept, with or without thousands separators."""
    assert_exact(parse_decimal(text, decimal_comma=decimal_comma), Decimal(expected))


# --- parse_decimal: rejections -----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "12,3,4",       # two decimal commas
    "1.23,4",       # '.' not grouping by 3
    "1.2345,6",     # '.' grouping by 4
    "12.50",        # a point is only a thousands separator with a decimal comma
    "1234.567,89",  # first group longer than 3
    "abc",
    "12a",
    "1e5",
    "NaN",
    "",
    "   ",
    "-",
    ",",
])
def test_decimal_comma_rejects_garbage_with_bad_number(text):
    """With decimal_comma=True, letters, two marks, bad grouping and '' raise bad_number."""
    with pytest.raises(ValueRejected) as info:
        parse_decimal(text, decimal_comma=True)
    assert info.value.code == "bad_number"


@pytest.mark.parametrize("text", [
    "12,3,4",       # commas that do not group by 3
    "12,50",        # a decimal comma when the mark is a point
    "1.234,5",      # European writing when the mark is a point
    "1,2345.6",     # ',' grouping by 4
    "1.2.3",        # two decimal points
    "abc",
    "1e5",
    "Infinity",
    "",
    "-",
    ".",
])
def test_decimal_point_rejects_garbage_with_bad_number(text):
    """With decimal_comma=False, letters, two marks, bad grouping and '' raise bad_number."""
    with pytest.raises(ValueRejected) as info:
        parse_decimal(text, decimal_comma=False)
    assert info.value.code == "bad_number"


@pytest.mark.parametrize("text, decimal_comma", [
    ("12 34,5", True),
    ("1 2345,6", True),
    (f"12{NBSP}34,5", True),
    ("12 34.5", False),
    ("1 2 3", False),
])
def test_badly_space_grouped_digits_are_rejected(text, decimal_comma):
    """Spaces that do not group thousands by 3 are rejected, as the docstring promises."""
    with pytest.raises(ValueRejected) as info:
        parse_decimal(text, decimal_comma=decimal_comma)
    assert info.value.code == "bad_number"


def test_rejection_message_names_the_value_and_the_decimal_mark():
    """The bad_number message quotes the raw value and says which decimal mark was expected."""
    with pytest.raises(ValueRejected) as info:
        parse_decimal(" 12.50 ", decimal_comma=True)
    assert "'12.50'" in info.value.message
    assert "decimal comma" in info.value.message
    assert info.value.hint


# --- parse_decimal: properties -----------------------------------------------------------------

def written(d: Decimal, mark: str, sep: str) -> str:
    """`d` as a person writes it: sign, thousands grouped by `sep`, `mark` before the fraction."""
    sign = "-" if d.is_signed() else ""
    int_part, _, frac = format(d.copy_abs(), "f").partition(".")
    grouped = f"{int(int_part):,}".replace(",", sep)
    return sign + grouped + (mark + frac if frac else "")


@st.composite
def exact_decimals(draw) -> Decimal:
    """Finite decimals with 0 to 6 places and at most 16 integer digits."""
    places = draw(st.integers(min_value=0, max_value=6))
    return draw(st.decimals(min_value=-10**16, max_value=10**16, places=places,
                            allow_nan=False, allow_infinity=False))


@given(d=exact_decimals(), sep=st.sampled_from([NBSP, ".", NNBSP, " ", ""]))
def test_any_decimal_written_with_decimal_comma_round_trips_exactly(d, sep):
    """Any decimal written with ',' and grouped by NBSP/'.'/NNBSP/space parses back exactly."""
    assert_exact(parse_decimal(written(d, ",", sep), decimal_comma=True), d)


@given(d=exact_decimals(), sep=st.sampled_from([",", NBSP, NNBSP, " ", ""]))
def test_any_decimal_written_with_decimal_point_round_trips_exactly(d, sep):
    """Any decimal written with '.' and grouped by ','/NBSP/NNBSP/space parses back exactly."""
    assert_exact(parse_decimal(written(d, ".", sep), decimal_comma=False), d)


# --- parse_date / parse_datetime -------------------------------------------------------------

@pytest.mark.parametrize("text, fmt, expected", [
    ("05/01/2026", "%d/%m/%Y", "2026-01-05"),
    ("01/05/2026", "%m/%d/%Y", "2026-01-05"),
    ("2026-01-05", "%Y-%m-%d", "2026-01-05"),
    ("05.01.2026", "%d.%m.%Y", "2026-01-05"),
    ("20260105", "%Y%m%d", "2026-01-05"),
    ("29/02/2024", "%d/%m/%Y", "2024-02-29"),
    ("  05/01/2026 ", "%d/%m/%Y", "2026-01-05"),
])
def test_parse_date_with_explicit_format_returns_iso_date(text, fmt, expected):
    """parse_date reads the text with exactly the given format and returns YYYY-MM-DD."""
    assert parse_date(text, fmt) == expected


def test_same_text_is_read_as_the_explicit_format_says():
    """'04/05/2026' is 4 May with %d/%m/%Y and 5 April with %m/%d/%Y: the format decides."""
    assert parse_date("04/05/2026", "%d/%m/%Y") == "2026-05-04"
    assert parse_date("04/05/2026", "%m/%d/%Y") == "2026-04-05"


@pytest.mark.parametrize("text, fmt", [
    ("2026-01-05", "%d/%m/%Y"),         # another layout
    ("13/25/2026", "%d/%m/%Y"),         # month 25
    ("25/12/2026", "%m/%d/%Y"),         # a day/month date read as month/day
    ("31/02/2026", "%d/%m/%Y"),         # no 31 February
    ("29/02/2026", "%d/%m/%Y"),         # 2026 is not a leap year
    ("05/01/26", "%d/%m/%Y"),           # two-digit year for %Y
    ("2026-01-05 10:00", "%Y-%m-%d"),   # trailing time
    ("", "%d/%m/%Y"),
    ("demain", "%d/%m/%Y"),
])
def test_parse_date_rejects_mismatching_or_impossible_dates_with_bad_date(text, fmt):
    """A date that does not fit the explicit format (or does not exist) raises bad_date."""
    with pytest.raises(ValueRejected) as info:
        parse_date(text, fmt)
    assert info.value.code == "bad_date"
    assert fmt in info.value.message


def test_parse_datetime_with_explicit_format_returns_iso_datetime():
    """parse_datetime reads date and time with the given format and returns ISO 8601."""
    assert parse_datetime("05/01/2026 14:30", "%d/%m/%Y %H:%M") == "2026-01-05T14:30:00"
    assert parse_datetime("2026-01-05T08:09:10", "%Y-%m-%dT%H:%M:%S") == "2026-01-05T08:09:10"


def test_parse_datetime_rejects_mismatch_with_bad_date():
    """A date-time that does not fit its format raises bad_date."""
    with pytest.raises(ValueRejected) as info:
        parse_datetime("05/01/2026 25:00", "%d/%m/%Y %H:%M")
    assert info.value.code == "bad_date"


DATE_FORMATS = ["%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%Y%m%d", "%d-%b-%Y", "%d %B %Y"]


@given(day=st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)),
       fmt=st.sampled_from(DATE_FORMATS))
def test_any_date_formatted_with_explicit_format_parses_back_to_iso(day, fmt):
    """Any date (4-digit year) written with a strptime format parses back to its ISO date."""
    assert parse_date(day.strftime(fmt), fmt) == day.isoformat()


@given(moment=st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
       fmt=st.sampled_from(["%d/%m/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y%m%d %H%M%S"]))
def test_any_datetime_formatted_with_explicit_format_parses_back_to_iso(moment, fmt):
    """Any date-time (whole seconds) written with a strptime format parses back to ISO 8601."""
    moment = moment.replace(microsecond=0)
    assert parse_datetime(moment.strftime(fmt), fmt) == moment.isoformat()


# --- round_money -------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, currency, expected", [
    ("2.675", "EUR", "2.68"),
    ("2.665", "EUR", "2.67"),
    ("2.664", "EUR", "2.66"),
    ("-2.675", "EUR", "-2.68"),
    ("0.005", "EUR", "0.01"),
    ("5", "EUR", "5.00"),
    ("1.1", "EUR", "1.10"),
    ("2.675", "eur", "2.68"),
    ("2.675", None, "2.68"),
    ("2.675", "USD", "2.68"),
])
def test_round_money_eur_and_default_is_half_up_to_two_places(amount, currency, expected):
    """EUR (and unknown/None currencies) round half up, away from zero, to 2 places."""
    assert_exact(round_money(Decimal(amount), currency), Decimal(expected))


@pytest.mark.parametrize("amount, expected", [
    ("1234.5", "1235"),
    ("1234.49", "1234"),
    ("-0.5", "-1"),
    ("100", "100"),
])
def test_round_money_jpy_is_half_up_to_whole_yen(amount, expected):
    """JPY has no minor unit: amounts round half up to 0 places."""
    assert_exact(round_money(Decimal(amount), "JPY"), Decimal(expected))
    assert_exact(round_money(Decimal(amount), "jpy"), Decimal(expected))


@pytest.mark.parametrize("amount, expected", [
    ("1.2345", "1.235"),
    ("1.2344", "1.234"),
    ("-1.2345", "-1.235"),
    ("7", "7.000"),
])
def test_round_money_kwd_is_half_up_to_three_places(amount, expected):
    """KWD has fils (1/1000): amounts round half up to 3 places."""
    assert_exact(round_money(Decimal(amount), "KWD"), Decimal(expected))
