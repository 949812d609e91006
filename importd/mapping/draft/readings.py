"""How a column's values read: as numbers (which decimal mark, which thousands
separator) or as dates (which strptime formats read every value), from every value.

A reading carries the example that decided it ("1.234,56 at line 7"); a column that
more than one reading fits is said to be ambiguous, never settled here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

_SIGN = r"[+-]?"
# value shape → the decimal marks it allows and the thousands separator it shows
_NUMBER_SHAPES = [
    (re.compile(_SIGN + r"[0-9]+"), {".", ","}, None),
    (re.compile(_SIGN + r"[0-9]{1,3}\.[0-9]{3}"), {".", ","}, "."),        # 1.250: 1.25 or 1250
    (re.compile(_SIGN + r"[0-9]{1,3},[0-9]{3}"), {".", ","}, ","),         # 1,250: 1.25 or 1250
    (re.compile(_SIGN + r"([0-9]+)?\.[0-9]+"), {"."}, None),
    (re.compile(_SIGN + r"([0-9]+)?,[0-9]+"), {","}, None),
    (re.compile(_SIGN + r"[0-9]{1,3}(\.[0-9]{3}){2,}"), {","}, "."),       # 1.234.567
    (re.compile(_SIGN + r"[0-9]{1,3}(,[0-9]{3}){2,}"), {"."}, ","),
    (re.compile(_SIGN + r"[0-9]{1,3}(\.[0-9]{3})+,[0-9]+"), {","}, "."),   # 1.234,56
    (re.compile(_SIGN + r"[0-9]{1,3}(,[0-9]{3})+\.[0-9]+"), {"."}, ","),   # 1,234.56
    (re.compile(_SIGN + r"[0-9]{1,3}([ \u00a0\u202f][0-9]{3})+"), {".", ","}, " "),
    (re.compile(_SIGN + r"[0-9]{1,3}([ \u00a0\u202f][0-9]{3})+,[0-9]+"), {","}, " "),
    (re.compile(_SIGN + r"[0-9]{1,3}([ \u00a0\u202f][0-9]{3})+\.[0-9]+"), {"."}, " "),
]


@dataclass
class NumberReading:
    marks: set[str]                   # decimal marks every value allows: {"."}, {","}, both, or none
    thousands: set[str]               # thousands separators seen
    decided_by: tuple[int, str] | None  # the first value that allowed one mark only
    ambiguous: tuple[int, str] | None   # a value such as 1.250 that reads two ways
    integers: bool                    # every value a whole number with no separator
    leading_zero: bool                # 00123: an identifier or a code, not a quantity
    conflict: tuple[int, str] | None = None   # the value that contradicts the others

    def describe(self) -> str:
        if self.conflict:
            return f"{self.conflict[1]!r} at line {self.conflict[0]} contradicts the column's other numbers"
        if self.integers:
            return "whole numbers"
        parts = []
        if self.marks == {","}:
            parts.append(f"decimal comma ({self.decided_by[1]} at line {self.decided_by[0]})")
        elif self.marks == {"."}:
            parts.append(f"decimal point ({self.decided_by[1]} at line {self.decided_by[0]})")
        else:
            parts.append(f"decimal mark not shown ({self.ambiguous[1]} at line {self.ambiguous[0]} reads "
                         f"either way)" if self.ambiguous else "no decimal part")
        if self.thousands:
            parts.append("thousands " + " ".join(repr(t if t != " " else "space") for t in sorted(self.thousands)))
        return ", ".join(parts)


def read_numbers(values: list[tuple[int, str]]) -> NumberReading | None:
    """The column read as numbers, or None when some value is not a number at all."""
    if not values:
        return None
    marks, thousands = {".", ","}, set()
    decided = ambiguous = None
    integers, leading = True, False
    for line, value in values:
        shape = _shape(value)
        if shape is None:
            return None
        allowed, sep = shape
        if sep:
            thousands.add(" " if sep == " " else sep)
        if allowed != {".", ","} or sep:
            integers = False
        if allowed == {".", ","} and sep in (".", ","):
            ambiguous = ambiguous or (line, value)
        if len(allowed) == 1 and decided is None:
            decided = (line, value)
        digits = value.lstrip("+-")
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            leading = True
        new = marks & allowed
        if not new:
            return NumberReading(marks, thousands, decided, ambiguous, False, leading, conflict=(line, value))
        marks = new
    if len(marks) == 1 and ambiguous and decided is None:
        decided = ambiguous
    # 1.250 beside 12,50: the dot was a thousands separator, not a second decimal mark
    thousands = {t for t in thousands if t not in marks or len(marks) == 2}
    return NumberReading(marks, thousands, decided, ambiguous if len(marks) == 2 else None, integers, leading)


@lru_cache(maxsize=4096)
def _shape(value: str) -> tuple[frozenset, str | None] | None:
    allowed, sep = None, None
    for pattern, marks, thousands in _NUMBER_SHAPES:
        if pattern.fullmatch(value):
            allowed = marks if allowed is None else allowed | marks
            sep = sep or thousands
    return (frozenset(allowed), sep) if allowed else None


# ---- dates -------------------------------------------------------------------------

_ORDERS = {"dmy": ("%d", "%m", "%Y"), "mdy": ("%m", "%d", "%Y"), "ymd": ("%Y", "%m", "%d")}
_TIMES = ("", " %H:%M", " %H:%M:%S", "T%H:%M:%S", " %H:%M:%S %z", "T%H:%M:%S%z", "T%H:%M:%SZ",
          "T%H:%M:%S.%f%z", "T%H:%M:%S.%fZ", " %H:%M:%S.%f")
_DATE_LIKE = re.compile(r"\d{1,4}([-/.])\d{1,2}\1\d{1,4}([ T].*)?")


def _candidates() -> list[tuple[str, str]]:
    """(order, strptime format) of every date spelling tried, date-only and with a time."""
    out = []
    for order, parts in _ORDERS.items():
        for sep in ("/", "-", "."):
            for year in ("%Y", "%y") if order != "ymd" else ("%Y",):
                date = sep.join(p if p != "%Y" else year for p in parts)
                out += [(order, date + time) for time in _TIMES]
    return out


CANDIDATES = _candidates()


@dataclass
class DateReading:
    formats: list[str]                # the formats that read every value
    orders: set[str]                  # dmy, mdy, ymd among them
    example: tuple[int, str]
    decided_by: tuple[int, str] | None = None   # a value whose day is above 12
    unread: list[tuple[int, str]] = field(default_factory=list)   # values no common format reads

    @property
    def ambiguous(self) -> bool:
        return {"dmy", "mdy"} <= self.orders

    @property
    def has_time(self) -> bool:
        return any("%H" in f for f in self.formats)

    def format_for(self, order: str) -> str:
        return next(f for f in self.formats if _order_of(f) == order)


def _order_of(fmt: str) -> str:
    return next(order for order, f in CANDIDATES if f == fmt)


def read_dates(values: list[tuple[int, str]]) -> DateReading | None:
    """The formats that read every value of the column, or None when it is not a date column."""
    if not values or not all(_DATE_LIKE.fullmatch(v) for _, v in values[:50]):
        return None
    distinct = list(dict.fromkeys(v for _, v in values))
    formats = [fmt for _, fmt in CANDIDATES if all(_reads(v, fmt) for v in distinct)]
    if not formats:
        return _partial(values, distinct)
    orders = {_order_of(f) for f in formats}
    # one format per order: the one that reads the most precisely (a time beats none when both read)
    best = {}
    for fmt in formats:
        best.setdefault(_order_of(fmt), fmt)
    reading = DateReading(list(best.values()), orders, values[0])
    if len(orders & {"dmy", "mdy"}) == 1:
        first = 0 if orders & {"dmy"} else 1
        reading.decided_by = next(((line, v) for line, v in values
                                   if int(re.split(r"[-/.]", v)[first]) > 12), None)
    return reading


def _partial(values, distinct) -> DateReading | None:
    """Most values read by one format, some not: the format and the values it does not read."""
    scored = []
    for order, fmt in CANDIDATES:
        good = sum(1 for v in distinct if _reads(v, fmt))
        if good:
            scored.append((good, fmt, order))
    if not scored:
        return None
    good, fmt, order = max(scored)
    if good < len(distinct) * 0.8:
        return None
    unread = [(line, v) for line, v in values if not _reads(v, fmt)]
    return DateReading([fmt], {order}, values[0], unread=unread)


@lru_cache(maxsize=8192)
def _reads(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True
