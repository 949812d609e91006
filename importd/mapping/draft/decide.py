"""The file-wide decisions a draft writes into [format]: the decimal mark and each date's format.

Both are decided from every value of every column, never from one column alone:
another column's `25/11/2026` settles a column whose days are all ≤ 12, another
column's `1.234,56` settles a column of `1.250`. What the file cannot settle is a
TODO, which `importd check` refuses until a person writes the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from importd.errors import ValueRejected
from importd.mapping.draft.columns import Column
from importd.mapping.values import parse_decimal

# Unicode CLDR's short date patterns: French, German and Spanish write the day first (fr dd/MM/y,
# de dd.MM.yy, es d/M/yy) — except Spanish in the United States (es_US M/d/yy); American
# English writes the month first (en_US M/d/yy), British English the day (en_GB dd/MM/y).
DAY_FIRST_LANGUAGES = {"fr": "French", "de": "German", "es": "Spanish"}
MONTH_FIRST_COUNTRIES = {"US", "PR", "PH", "FM", "MH", "PW", "AS", "GU", "MP", "UM", "VI"}
DAY_FIRST_COUNTRIES = {"FR", "BE", "LU", "CH", "MC", "DE", "AT", "LI", "ES", "IT", "PT", "NL", "IE", "GB", "GR",
                       "PL", "CZ", "SK", "DK", "NO", "FI", "RO", "BG", "HR", "SI", "EE", "LV", "AR", "MX", "CO",
                       "CL", "PE", "BR", "AU", "NZ", "IN", "ZA", "MA", "TN", "DZ", "SN", "CI"}


@dataclass
class Decided:
    value: object                # what to write (a TODO text when undecided)
    comments: list[str]
    todo: bool = False
    doubt: str | None = None     # decided on weaker evidence (a country, a language): worth a look


def decimal_mark(mapped: list[Column], others: list[Column]) -> Decided:
    """decimal_comma for the mapped decimal columns, with what showed it."""
    lines = [f"{c.name!r}: {c.numbers.describe()}" for c in mapped]
    marks = {c.name: c.numbers.marks for c in mapped}
    decided = {name: next(iter(m)) for name, m in marks.items() if len(m) == 1}
    if len(set(decided.values())) > 1:
        split = ", ".join(f"{name!r} {mark!r}" for name, mark in decided.items())
        return Decided("TODO: the columns disagree on the decimal mark (" + split + "); importd reads one mark "
                       "per file — write true or false and fix the other columns upstream",
                       lines + ["the columns disagree: a person decides"], todo=True)
    if decided:
        mark = next(iter(decided.values()))
        return Decided(mark == ",", lines + [f"so decimal_comma = {str(mark == ',').lower()}"])
    ambiguous = [c for c in mapped if c.numbers.ambiguous]
    if not ambiguous:
        if not mapped:
            return Decided(False, ["no number column is mapped"])
        return Decided(False, lines + ["no value shows a decimal mark; either reading reads them alike"])
    # 1.250 alone reads two ways: another column of the file may show its mark
    helpers = [c for c in others if c.numbers and len(c.numbers.marks) == 1 and c.numbers.decided_by]
    if helpers and len({next(iter(c.numbers.marks)) for c in helpers}) == 1:
        c = helpers[0]
        mark = next(iter(c.numbers.marks))
        line, value = c.numbers.decided_by
        return Decided(mark == ",", lines + [f"{ambiguous[0].numbers.ambiguous[1]!r} reads two ways; column "
                                             f"{c.name!r} writes {value!r} (line {line}): decimal {mark!r}"])
    line, value = ambiguous[0].numbers.ambiguous
    return Decided(f"TODO: {value!r} (line {line}, column {ambiguous[0].name!r}) is {value.replace(',', '.')} or "
                   f"{value.replace(',', '').replace('.', '')}: no value of the file tells — write true "
                   f"(decimal comma) or false (decimal point)",
                   lines + ["AMBIGUOUS: no value shows the decimal mark"], todo=True)


def unread_numbers(column: Column, decimal_comma) -> list[tuple[int, str]]:
    """The values of a mapped column that the chosen mark does not read."""
    if not isinstance(decimal_comma, bool):
        return []
    bad = []
    for line, value in column.values:
        try:
            parse_decimal(value, decimal_comma=decimal_comma)
        except ValueRejected:
            bad.append((line, value))
    return bad


def date_format(column: Column, columns: list[Column], language: str | None) -> Decided:
    """The strptime format that reads every value of `column`; an ambiguous one settled by other evidence."""
    reading = column.dates
    example = f"{reading.example[1]!r} (line {reading.example[0]})"
    comments = []
    if reading.unread:
        shown = ", ".join(f"{v!r} (line {line})" for line, v in reading.unread[:3])
        comments.append(f"NOT every value reads: {shown} — the dry run refuses them")
    if not reading.ambiguous:
        fmt = reading.formats[0]
        if reading.decided_by:
            line, value = reading.decided_by
            comments.insert(0, f"{column.name!r}: {fmt} — {value!r} (line {line}) can only be read this way")
        else:
            comments.insert(0, f"{column.name!r}: {fmt}, e.g. {example}")
        return Decided(fmt, comments)
    comments.insert(0, f"{column.name!r}: AMBIGUOUS — every day is 12 or less, e.g. {example} is day-month or "
                       f"month-day")
    for other in columns:
        if other is column or other.dates is None or other.dates.ambiguous:
            continue
        orders = other.dates.orders & {"dmy", "mdy"}
        if len(orders) == 1 and other.dates.decided_by:
            order = next(iter(orders))
            line, value = other.dates.decided_by
            comments.append(f"column {other.name!r} writes {value!r} (line {line}): "
                            f"{'day' if order == 'dmy' else 'month'} first, so this one too")
            return Decided(reading.format_for(order), comments)
    for other in columns:
        if not other.countries:
            continue
        code, rows = max(other.countries.items(), key=lambda kv: kv[1])
        if rows * 2 > sum(other.countries.values()) and code in MONTH_FIRST_COUNTRIES | DAY_FIRST_COUNTRIES:
            order = "mdy" if code in MONTH_FIRST_COUNTRIES else "dmy"
            comments.append(f"{rows} of {sum(other.countries.values())} rows of {other.name!r} are {code}, where "
                            f"dates are written {'month' if order == 'mdy' else 'day'} first (Unicode CLDR): so "
                            f"this one — change it if the sender writes otherwise")
            return Decided(reading.format_for(order), comments,
                           doubt=f"{column.name!r}: {reading.format_for(order)} because most rows are in {code}")
    if language in DAY_FIRST_LANGUAGES:
        comments.append(f"the titles are {DAY_FIRST_LANGUAGES[language]}, where dates are written day first: "
                        f"day first — change it if the sender writes month first"
                        + (" (Spanish in the United States does)" if language == "es" else ""))
        return Decided(reading.format_for("dmy"), comments,
                       doubt=f"{column.name!r}: {reading.format_for('dmy')} because the titles are "
                             f"{DAY_FIRST_LANGUAGES[language]}")
    dmy, mdy = reading.format_for("dmy"), reading.format_for("mdy")
    comments.append("nothing else in the file tells (no other date column, titles not French, German or "
                    "Spanish): a person decides")
    return Decided(f"TODO: {example} is day/month or month/day — write {dmy!r} or {mdy!r}", comments, todo=True)
