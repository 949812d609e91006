"""Exact numbers and explicit dates from text; money rounding in one place."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from importd.errors import ValueRejected

# Spaces that people and spreadsheets put between thousands.
_GROUP_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009'")
_PLAIN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_GROUPED_POINT = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")    # 1,234,567.89
_GROUPED_COMMA = re.compile(r"[+-]?\d{1,3}(\.\d{3})+(,\d*)?")    # 1.234.567,89


def parse_decimal(text: str, decimal_comma: bool = False) -> Decimal:
    """Parse `text` as an exact decimal, knowing decimal commas and thousands separators.

    Thousands may be grouped with spaces (plain, NBSP U+00A0, narrow NBSP U+202F),
    with `.` when the decimal mark is a comma, or with `,` when it is a point.
    Anything else (letters, two decimal marks, badly grouped digits) is rejected.
    """
    raw = text.strip()
    s = raw.translate(_GROUP_SPACES)
    if decimal_comma:
        if _GROUPED_COMMA.fullmatch(s):
            s = s.replace(".", "")
        # With a decimal comma, a point is only ever a thousands separator.
        s = "x" if "." in s else s.replace(",", ".")
    elif _GROUPED_POINT.fullmatch(s):
        s = s.replace(",", "")
    if not _PLAIN.fullmatch(s):
        mark = "a decimal comma" if decimal_comma else "a decimal point"
        raise ValueRejected("bad_number", f"{raw!r} is not a number written with {mark}",
                            hint="check the column and decimal_comma in [format]")
    try:
        return Decimal(s)
    except InvalidOperation:  # pragma: no cover - the pattern above already guards
        raise ValueRejected("bad_number", f"{raw!r} is not a number") from None


def parse_date(text: str, fmt: str) -> str:
    """Parse `text` with the explicit strptime format `fmt`; return an ISO 8601 date."""
    return _strptime(text, fmt).date().isoformat()


def parse_datetime(text: str, fmt: str) -> str:
    """Parse `text` with the explicit strptime format `fmt`; return ISO 8601 date-time."""
    return _strptime(text, fmt).isoformat()


def _strptime(text: str, fmt: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), fmt)
    except ValueError:
        raise ValueRejected("bad_date", f"{text.strip()!r} does not match the date format {fmt!r}",
                            hint="fix the value or the rule's date format") from None


# ISO 4217 minor units that are not 2; every other currency has cents.
_MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}


def round_money(amount: Decimal, currency: str | None) -> Decimal:
    """Round to the currency's minor unit, half up: the one place money is rounded."""
    places = _MINOR_UNITS.get((currency or "").upper(), 2)
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
