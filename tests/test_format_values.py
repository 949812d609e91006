"""Property tests for the conversions the new formats add: XML decimals, Excel numbers and dates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st
from openpyxl.utils.datetime import from_excel

from importd.errors import ValueRejected
from importd.mapping.values import excel_serial_date, parse_xsd_decimal
from parsers.json import scalar_text
from parsers.xlsx import cell_text

decimals = st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**12, max_value=10**12)


@given(decimals)
def test_xsd_decimal_reads_back_exactly_what_was_written(value):
    """Any decimal written as xsd:decimal text ("-1234.5600") parses to the same Decimal, digits kept."""
    text = format(value, "f")
    assert parse_xsd_decimal(text) == value
    assert str(parse_xsd_decimal(text)) == str(Decimal(text))


@given(st.text(alphabet="0123456789.,+-eE $", min_size=1, max_size=12))
def test_xsd_decimal_refuses_grouping_exponents_and_commas(text):
    """Only sign, digits and one point pass; anything else is refused, never guessed."""
    stripped = text.strip()
    ok = (stripped and not set(stripped) - set("0123456789.+-") and stripped.count(".") <= 1
          and stripped.lstrip("+-").replace(".", "").isdigit() and stripped[1:].count("+") + stripped[1:].count("-") == 0)
    if ok:
        assert parse_xsd_decimal(text) == Decimal(stripped)
    else:
        with pytest.raises(ValueRejected):
            parse_xsd_decimal(text)


@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_excel_number_is_read_at_excels_15_significant_digits(value):
    """A cell's double becomes the decimal Excel shows: its 15 significant digits, exactly."""
    assert Decimal(cell_text(value)) == Decimal(format(value, ".15g"))


def test_formula_result_is_what_excel_shows_not_the_doubles_tail():
    """=0.1+0.2 in a cell is 0.3, as Excel displays it, not 0.30000000000000004."""
    assert cell_text(0.1 + 0.2) == "0.3"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**9, max_value=10**9))
def test_amount_typed_in_excel_comes_back_as_typed(amount):
    """An amount with cents stored as a double (as Excel does) reads back as the same cents."""
    assert Decimal(cell_text(float(amount))) == amount


@given(st.dates(min_value=date(1900, 3, 1), max_value=date(9999, 12, 31)), st.integers(0, 86399))
def test_excel_serial_dates_agree_with_openpyxl(day, seconds):
    """Serials from 61 on (1900-03-01 onwards), time of day or not, give the date openpyxl and Excel show."""
    serial = (day - date(1899, 12, 30)).days + Decimal(seconds) / 86400
    text = format(serial, "f")
    assert excel_serial_date(text) == day.isoformat() == from_excel(float(serial)).date().isoformat()


@given(st.integers(1, 59))
def test_excel_serials_before_the_phantom_leap_day(serial):
    """1–59 are 1900-01-01 to 1900-02-28; 60, Excel's phantom 1900-02-29, is refused."""
    assert excel_serial_date(str(serial)) == (date(1900, 1, 1) + timedelta(days=serial - 1)).isoformat()
    with pytest.raises(ValueRejected):
        excel_serial_date("60")


@given(decimals)
def test_json_numbers_are_kept_as_written(value):
    """A JSON number (already an exact Decimal) is handed on in plain notation, same value."""
    assert Decimal(scalar_text(value)) == value
    assert "E" not in scalar_text(value)
