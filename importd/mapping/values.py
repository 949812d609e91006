"""Exact numbers and explicit dates from text; money rounding in one place."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import lru_cache

from importd.errors import ValueRejected

# Spaces that people and spreadsheets put between thousands.
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})
_PLAIN = re.compile(r"[+-]?([0-9]+(\.[0-9]+)?|\.[0-9]+)")
# A decimal comma, no grouping or thousands grouped by plain spaces: what the general path reads
# as _PLAIN once the spaces are gone and the comma is a point.
_COMMON_COMMA = re.compile(r"[+-]?(?:(?:[0-9]+|[0-9]{1,3}(?: [0-9]{3})+)(?:,[0-9]+)?|,[0-9]+)")
_GROUPS = {  # (decimal_comma, thousands separator) → the whole number, correctly grouped
    (True, " "): re.compile(r"[+-]?[0-9]{1,3}( [0-9]{3})+(,[0-9]+)?"),
    (True, "."): re.compile(r"[+-]?[0-9]{1,3}(\.[0-9]{3})+(,[0-9]+)?"),
    (False, " "): re.compile(r"[+-]?[0-9]{1,3}( [0-9]{3})+(\.[0-9]+)?"),
    (False, ","): re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?"),
}


def parse_decimal(text: str, decimal_comma: bool = False) -> Decimal:
    """Parse `text` as an exact decimal, knowing decimal commas and thousands separators.

    Thousands may be grouped by three with spaces (plain, NBSP U+00A0, narrow
    NBSP U+202F, thin U+2009), with `.` when the decimal mark is a comma, or with
    `,` when it is a point. Anything else (letters, two decimal marks, badly
    grouped digits, a mark with no digits after it) is rejected.
    """
    raw = text.strip()
    if decimal_comma:
        if _COMMON_COMMA.fullmatch(raw):            # "1234,50", "1 234,50": the common spellings
            value = Decimal(raw.replace(" ", "").replace(",", "."))
            return value if len(raw) <= 16 else _in_range(value, raw)     # 16 digits stay below 10^16
    elif _PLAIN.fullmatch(raw):
        return Decimal(raw) if len(raw) <= 16 else _in_range(Decimal(raw), raw)
    s = raw.translate(_SPACES)
    for separator in (" ", "." if decimal_comma else ","):
        if separator in s and _GROUPS[(decimal_comma, separator)].fullmatch(s):
            s = s.replace(separator, "")
            break
    if decimal_comma:       # a point left over is not a thousands separator: refuse it
        s = "?" if "." in s else s.replace(",", ".")
    if not _PLAIN.fullmatch(s):
        mark = "a decimal comma" if decimal_comma else "a decimal point"
        raise ValueRejected("bad_number", f"{raw!r} is not a number written with {mark}",
                            hint="check the column and decimal_comma in [format]")
    return _in_range(Decimal(s), raw)


_XSD_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def parse_xsd_decimal(text: str) -> Decimal:
    """An xsd:decimal ("-12.50", "1.", ".5", "+3") as an exact Decimal; nothing else.

    XML e-invoices write numbers in this one form: no grouping, no exponent, a
    point as the decimal mark.
    """
    raw = text.strip()
    if not _XSD_DECIMAL.fullmatch(raw):
        raise ValueRejected("bad_number", f"{raw!r} is not an XML decimal (like -1234.56)",
                            hint="XML amounts use a point and no thousands separators")
    return _in_range(Decimal(raw), raw)


# No amount, quantity or rate of a business document passes ten thousand trillion (even in
# currencies of small units); past it, a value is an identifier or damage, not a number.
LIMIT = Decimal(10) ** 16


def _in_range(value: Decimal, raw: str) -> Decimal:
    if abs(value) > LIMIT:
        raise ValueRejected("number_out_of_range", f"{raw[:40]!r} is out of range: importd takes numbers"
                            f" up to 10^16",
                            hint="check the column: it may hold an identifier, a barcode or a corrupted value")
    return value


_EXCEL_EPOCH = date(1899, 12, 30)   # serial 0 in the 1900 date system, counting its phantom 1900-02-29


def excel_serial_date(text: str) -> str:
    """An Excel serial day number (1900 date system) as an ISO date; a fraction is the time of day.

    Excel counts 1900-02-29, a day that never was (a Lotus 1-2-3 compatibility bug):
    serials 1–59 are 1900-01-01…1900-02-28, 60 is refused, 61 is 1900-03-01.
    """
    value = parse_xsd_decimal(text)
    days = int(value)                      # the date part: the time of day is dropped
    if value < 1 or days == 60 or days > 2958465:
        raise ValueRejected("bad_date", f"{text.strip()!r} is not an Excel date serial number (1–2958465, not 60)",
                            hint="format the column as a date in the sheet")
    start = _EXCEL_EPOCH if days > 60 else _EXCEL_EPOCH + timedelta(days=1)
    return (start + timedelta(days=days)).isoformat()


def parse_date(text: str, fmt: str) -> str:
    """Parse `text` with the explicit strptime format `fmt`; return an ISO 8601 date.

    An XML date (xs:date) may end with a time-zone offset: "2016-04-04+01:00", "2016-04-04Z".
    When `fmt` itself reads no offset, such a suffix is set aside and the date part is read
    with `fmt`: the offset says where the calendar day was counted, and an invoice's date is
    that calendar day as its issuer wrote it (turned into UTC it would move to another day).
    """
    end = text.rstrip()[-6:]
    if (end[-1:] == "Z" or end[:1] in ("+", "-") and end[3:4] == ":") and "%z" not in fmt:    # cheap first
        stripped = text.strip()
        if zoned := _XSD_TIMEZONE.search(stripped):
            try:
                return _parse_date(stripped[:zoned.start()], fmt)
            except ValueRejected:
                pass                    # the date part alone does not read: the error names it whole
    return _parse_date(text, fmt)


# The time zone an xs:date may carry (XML Schema 1.1 part 2, 3.3.9): Z, or ±hh:mm up to 14:00.
_XSD_TIMEZONE = re.compile(r"(?<=[0-9])(Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))$")


def _parse_date(text: str, fmt: str) -> str:
    fast = _fast_date_pattern(fmt)
    if fast is not None:
        pattern, year, month, day = fast
        stripped = text.strip()
        match = pattern.match(stripped)
        if match and match.end() == len(stripped):
            try:
                return date(int(match[year]), int(match[month]), int(match[day])).isoformat()
            except ValueError:
                pass                    # 31/02: strptime says it, with its message
    return _strptime(text, fmt).date().isoformat()


# strptime is exact but slow (a parser written in Python). For formats made of
# these directives, separated by punctuation or spaces, a narrower pattern of the
# same alternatives (ASCII digits, one space) reads the common spellings; anything
# it does not read, and every error, goes to strptime, so the answer is strptime's.
_FAST_DIRECTIVES = {
    "Y": "([0-9]{4})", "m": "(1[0-2]|0[1-9]|[1-9])", "d": "(3[01]|[12][0-9]|0[1-9]|[1-9])",
    "H": "(?:2[0-3]|[01][0-9]|[0-9])", "M": "(?:[0-5][0-9]|[0-9])", "S": "(?:[0-5][0-9]|[0-9])",
    "z": "(?:[+-](?:[01][0-9]|2[0-3])[0-5][0-9])",
}
_SEPARATOR = re.compile(r"[^0-9A-Za-z%]+")


@lru_cache(maxsize=64)
def _fast_date_pattern(fmt: str) -> tuple[re.Pattern, int, int, int] | None:
    """(pattern, group of the year, month, day) for `fmt`, or None when only strptime reads it."""
    parts = re.split(r"%(.)", fmt)          # literals at even indexes, directives at odd ones
    directives = parts[1::2]
    if (any(d not in _FAST_DIRECTIVES for d in directives) or len(set(directives)) != len(directives)
            or not {"Y", "m", "d"} <= set(directives)):
        return None
    between = parts[2:-1:2]                  # a separator between each two directives, no digit in it
    if any(not _SEPARATOR.fullmatch(literal) for literal in between) or any(
            "%" in literal or any(c.isdigit() or c.isalpha() for c in literal) for literal in (parts[0], parts[-1])):
        return None
    regex = "".join(_FAST_DIRECTIVES[part] if i % 2 else re.escape(part) for i, part in enumerate(parts))
    groups = [d for d in directives if d in "Ymd"]
    return re.compile(regex), groups.index("Y") + 1, groups.index("m") + 1, groups.index("d") + 1


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
    return amount.quantize(_QUANTA.get(currency) or _quantum(currency), rounding=ROUND_HALF_UP, context=_WIDE)


_WIDE = Context(prec=60)     # a product of two values in range (< 10^32) still rounds to the cent
_QUANTA: dict[str | None, Decimal] = {}   # currency as written → its minor unit (Decimal("0.01"))


def minor_unit(currency: str | None) -> int:
    """The decimal places of the currency's minor unit (ISO 4217): 2 for EUR, 0 for JPY, 3 for KWD."""
    return _MINOR_UNITS.get((currency or "").upper(), 2)


def _quantum(currency: str | None) -> Decimal:
    places = minor_unit(currency)
    quantum = Decimal(1).scaleb(-places)
    if len(_QUANTA) < 1024:
        _QUANTA[currency] = quantum
    return quantum
