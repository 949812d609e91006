"""Each column profiled from every value, then matched to target fields by its title and its values.

A column's profile: how its values read as numbers and as dates (readings.py), and
which shapes they all have (an e-mail, an EU VAT number, an IBAN, a country, a phone).
Matching scores every (column, field) pair by title (vocabulary.py) and shape, gated by
type (a decimal field needs numbers, a date field dates), and takes the best pairs first.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import phonenumbers
from stdnum import iban
from stdnum.eu import vat as eu_vat

from importd.errors import ValueRejected
from importd.mapping.draft.form import Form
from importd.mapping.draft.readings import DateReading, NumberReading, read_dates, read_numbers
from importd.mapping.draft.vocabulary import SHIPPING_WORDS, title_score
from importd.mapping.transforms import country, fold
from importd.model import KINDS, LINE_SECTIONS, TARGETS

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_PHONE_CHARS = re.compile(r"\+?[0-9 ().\-/]{6,20}")
# Parts of a customer's name a person joins (first and last, or the company) or keeps aside.
NAME_PARTS = ("first_name", "last_name", "company", "civility")
# Fields a draft does not fill from a column title: accounting codes and the invoice's kind.
NOT_GUESSED = {"account", "vat_code", "shipping_account", "shipping_vat_code", "kind", "line_id", "seller_id",
               "total_lines", "allowance_total", "charge_total", "prepaid", "rounding"}


@dataclass
class Column:
    name: str
    values: list[tuple[int, str]]
    rows: int                                   # rows in the sample
    numbers: NumberReading | None = None
    dates: DateReading | None = None
    shapes: dict[str, float] = field(default_factory=dict)      # shape → share of values that have it
    countries: dict[str, int] = field(default_factory=dict)     # ISO code → rows, when a country column

    @property
    def empty(self) -> bool:
        return not self.values

    def shape(self, name: str) -> bool:
        return self.shapes.get(name, 0) >= 0.9


@dataclass
class Placement:
    section: str
    target: str
    column: Column
    score: float
    why: str


def profile(form: Form) -> list[Column]:
    columns = []
    for name in form.header:
        values = form.column(name)
        column = Column(name, values, len(form.rows))
        column.dates = read_dates(values)
        column.numbers = None if column.dates else read_numbers(values)
        if values and not column.dates and not column.numbers:
            _shapes(column)
        columns.append(column)
    return columns


PROBE = 200      # distinct values tried first: a shape most of them lack is not tried on the rest


def _shapes(column: Column) -> None:
    """The share of distinct values of each shape: tried on the first PROBE, then on every one when most
    have it (a phone only on the first PROBE: parsing every number of a big export costs seconds)."""
    counts = Counter(v for _, v in column.values)
    distinct = list(counts)
    column.shapes["email"] = _share(_EMAIL.fullmatch, distinct)
    column.shapes["vat"] = _share(lambda v: len(v) >= 8 and eu_vat.is_valid(v), distinct)
    column.shapes["iban"] = _share(lambda v: len(v) >= 15 and iban.is_valid(v), distinct)
    probe = distinct[:PROBE]
    column.shapes["phone"] = sum(1 for v in probe if _PHONE_CHARS.fullmatch(v) and _possible_phone(v)) / len(probe)
    if all(v.isdigit() for v in probe) or _share(_is_country, distinct[:PROBE]) < 0.8:
        return
    codes: dict[str, int] = {}
    for value, n in counts.items():
        if code := _is_country(value):
            codes[code] = codes.get(code, 0) + n
    share = sum(codes.values()) / len(column.values)
    if share >= 0.9:
        column.shapes["country"] = share
        column.countries = codes


def _share(test, distinct: list[str]) -> float:
    head = distinct[:PROBE]
    share = sum(1 for v in head if test(v)) / len(head)
    if share < 0.8 or len(distinct) <= PROBE:
        return share
    return sum(1 for v in distinct if test(v)) / len(distinct)


def _is_country(value: str) -> str | None:
    try:
        return country(value)
    except ValueRejected:
        return None


def _possible_phone(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    if digits < 6:
        return False
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else "FR")
    except phonenumbers.NumberParseException:
        return value.startswith("0") and digits >= 9       # a national number of a country we do not know yet
    return phonenumbers.is_possible_number(number) or (value.startswith("0") and digits >= 9)


def roles(kind: str) -> list[tuple[str, str]]:
    out = []
    for section in KINDS[kind]:
        for target in TARGETS[section]:
            if target not in NOT_GUESSED or (section, target) == ("customer", "account"):
                out.append((section, target))
        if section == "customer":
            out += [("customer", part) for part in NAME_PARTS]
    return out


def score(column: Column, role: tuple[str, str], kind: str, varies: set | None = None) -> tuple[float, str]:
    """How well `column` fits `role`, and the evidence in words; `varies`: the columns whose value changes
    between the rows of one document (a line's, not the document's)."""
    if column.empty:
        return 0.0, ""
    section, target = role
    points, title, languages = title_score(column.name, role)
    why = []
    if points:
        how = "is" if points == 3 else "contains"
        why.append(f"title {how} {title!r} ({'/'.join(sorted(languages))})")
    kind_of = "text" if target in NAME_PARTS else TARGETS[section][target]
    if kind_of == "decimal":
        n = column.numbers
        if n is None or n.conflict or n.leading_zero:
            return 0.0, ""
        why.append(f"numbers: {n.describe()}")
    elif kind_of == "date":
        if column.dates is None:
            return 0.0, ""
        why.append(f"dates like {column.dates.example[1]!r}")
    elif column.dates is not None and target not in ("external_ref", "invoice_ref"):
        return 0.0, ""                       # a date column is no name, e-mail or city
    shape = {"email": "email", "vat_number": "vat", "country": "country", "phone": "phone"}.get(target)
    if section == "customer" and shape and column.shape(shape):
        share = column.shapes[shape]
        points += 2.0 if shape in ("email", "vat") else (1.5 if shape == "country" else (0.5 if points else 0))
        why.append(f"{share:.0%} of the values are {_SHAPE_WORDS[shape]}")
    elif section == "customer" and shape in ("email", "vat") and points and not column.shape(shape):
        points -= 1.0
        why.append(f"only {column.shapes.get(shape, 0):.0%} of the values are {_SHAPE_WORDS[shape]}")
    if section == "customer" and kind in ("order", "invoice") and set(fold(column.name).split()) & SHIPPING_WORDS:
        points -= 1.5
        why.append("a delivery column, not the buyer's")
    if varies is not None and points:
        if section == LINE_SECTIONS.get(kind) and column.name in varies:
            points += 0.5
            why.append("changes between the rows of one document: a line's")
        elif section != LINE_SECTIONS.get(kind) and column.name in varies:
            points -= 1.0
            why.append("changes between the rows of one document")
    if kind_of == "text" and column.numbers and target in ("name", "city", "first_name", "last_name",
                                                            "description", "email", "company"):
        return 0.0, ""
    return points, "; ".join(why)


_SHAPE_WORDS = {"email": "e-mail addresses", "vat": "valid EU VAT numbers (python-stdnum)",
                "country": "countries pycountry knows", "phone": "possible phone numbers (phonenumbers)"}


def place(columns: list[Column], kind: str, varies: set | None = None) -> list[Placement]:
    """The best (column, field) pairs, each column and each field once, best score first."""
    candidates = []
    order = roles(kind)
    for rank, role in enumerate(order):
        for position, column in enumerate(columns):
            points, why = score(column, role, kind, varies)
            if points >= 1.5:
                candidates.append((-points, rank, position, role, column, why))
    candidates.sort(key=lambda c: c[:3])
    taken_roles, taken_columns, placed = set(), set(), []
    for negative, _, _, role, column, why in candidates:
        if role in taken_roles or column.name in taken_columns:
            continue
        taken_roles.add(role)
        taken_columns.add(column.name)
        placed.append(Placement(role[0], role[1], column, -negative, why))
    return placed


# What a file of each kind must show for the kind to be proposed, and what counts most.
SIGNATURES = {
    "customer": [("customer", "email"), ("customer", "postcode"), ("customer", "city"), ("customer", "phone"),
                 ("customer", "last_name"), ("customer", "name"), ("customer", "address1")],
    "product": [("product", "sku")],
    "order": [("order", "external_ref"), ("line", "quantity")],
    "payment": [("payment", "amount"), ("payment", "paid_on")],
    "invoice": [("invoice", "external_ref"), ("invoice", "total_net")],
}


def guess_kind(columns: list[Column]) -> tuple[str | None, dict[str, float], dict[str, list[Placement]]]:
    """The kind the titles make clear (None when two kinds fit as well), the scores, the placements."""
    scores, placements = {}, {}
    for kind in KINDS:
        placed = place(columns, kind)
        roles_found = {(p.section, p.target) for p in placed if p.score >= 2}
        needed = SIGNATURES[kind]
        if kind == "customer":
            fits = len(roles_found & set(needed)) >= 2
        else:
            fits = set(needed) <= roles_found
        if not fits:
            continue
        placements[kind] = placed
        scores[kind] = sum(p.score for p in placed if p.score >= 2)
    if not scores:
        return None, scores, placements
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[1][1] >= ranked[0][1] * 0.85:
        return None, scores, placements
    return ranked[0][0], scores, placements
