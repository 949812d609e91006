"""A draft's sections put together from the placements: fields with their cleaning, the
name joined from its parts, the policies of [document], custom fields for the columns
no field takes, and the columns left unused with why.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from decimal import Decimal

from importd.errors import ValueDoubtful, ValueRejected
from importd.mapping.draft.columns import NAME_PARTS, Column, Placement
from importd.mapping.draft.decide import date_format, decimal_mark, unread_numbers
from importd.mapping.draft.form import Form
from importd.mapping.draft.vocabulary import secret
from importd.mapping.transforms import TRANSFORMS, fold, phone
from importd.mapping.values import parse_decimal
from importd.model import KINDS, LINE_SECTIONS, TARGETS

REGION_OF_LANGUAGE = {"fr": "FR", "de": "DE", "es": "ES"}
# Fields an import cannot do without, made required when every row has them.
REQUIRED = {"external_ref", "sku", "quantity", "unit_price", "amount", "paid_on", "invoice_ref", "order_date",
            "total", "amount_due", "issue_date"}


@dataclass
class Entry:
    key: str
    value: object
    comments: list[str] = field(default_factory=list)
    todo: bool = False


@dataclass
class Draft:
    kind: str
    sample: str
    intro: list[str] = field(default_factory=list)
    sections: dict[str, list[Entry]] = field(default_factory=dict)      # "format", "document", "customer.extra"…
    unused: list[str] = field(default_factory=list)
    todos: list[str] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)   # decided on weak evidence: a person should look
    shipped: str | None = None           # the shipped rules file proposed instead, by name
    text: str = ""
    kind_comments: list[str] = field(default_factory=list)
    date_decisions: dict = field(default_factory=dict)   # column → Decided, when the dates differ in format

    def add(self, section: str, entry: Entry) -> None:
        self.sections.setdefault(section, []).append(entry)
        if entry.todo:
            self.todos.append(f"[{section}] {entry.key}: {entry.value}")


def compose(draft: Draft, form: Form, columns: list[Column], placed: list[Placement], language: str | None) -> None:
    kind = draft.kind
    by_role = {(p.section, p.target): p for p in placed}
    used: dict[str, str] = {}                    # column → where it went
    group = by_role.get((kind, "external_ref")) if kind in LINE_SECTIONS else None
    varies = varies_in_group(form, group.column.name) if group else set()

    _format_section(draft, form, columns, placed, language)
    _document_section(draft, kind, by_role, group, columns, language)
    if kind == "order":
        _order_checks(draft, form, by_role)
    for section in KINDS[kind]:
        for target in TARGETS[section]:
            p = by_role.get((section, target))
            if p is not None:
                draft.add(section, _field(draft, p, form))
                used[p.column.name] = f"{section}.{target}"
        if section == "customer":
            _name(draft, by_role, used)
    _identity_fallback(draft, kind, by_role, used)
    if kind == "invoice" and ("invoice", "amount_due") not in by_role:
        _amount_due(draft, by_role)
    _extras(draft, kind, columns, used, varies)


def _format_section(draft, form, columns, placed, language) -> None:
    add = lambda key, value, *comments, todo=False: draft.add("format", Entry(key, value, list(comments), todo))
    add("parser", "csv", f"header: line 1, {len(form.header)} columns; {len(form.rows)} data rows read, every one")
    add("encoding", form.encoding, *textwrap.wrap(form.encoding_note, 110, break_on_hyphens=False))
    if not form.encoding_sure:
        draft.doubts.append(f"encoding {form.encoding}: charset-normalizer's best reading, not certain")
    add("delimiter", form.delimiter, form.delimiter_note, form.quoting_note)
    numeric = [p.column for p in placed if _type(p) == "decimal"]
    others = [c for c in columns if c.numbers and c not in numeric]
    mark = decimal_mark(numeric, others)
    if numeric:
        add("decimal_comma", mark.value, *mark.comments, todo=mark.todo)
    for column in numeric:
        bad = unread_numbers(column, mark.value)
        if bad:
            draft.sections["format"][-1].comments.append(
                f"NOT read with it in {column.name!r}: " + ", ".join(f"{v!r} (line {l})" for l, v in bad[:3]))
    dated = [p for p in placed if _type(p) == "date"]
    decisions = {p.column.name: date_format(p.column, columns, language) for p in dated}
    formats = {d.value for d in decisions.values()}
    draft.doubts += [d.doubt for d in decisions.values() if d.doubt]
    draft.date_decisions = {}
    if len(formats) == 1:
        comments = [c for d in decisions.values() for c in d.comments]
        add("date_format", formats.pop(), *comments, todo=any(d.todo for d in decisions.values()))
    else:
        draft.date_decisions = decisions       # one format per field


def _document_section(draft, kind, by_role, group, columns, language) -> None:
    add = lambda key, value, *comments: draft.add("document", Entry(key, value, list(comments)))
    add("kind", kind, *draft.kind_comments)
    if group is not None:
        comments = [f"consecutive rows with the same {group.column.name!r} are one {kind} (its first row gives "
                    f"the {kind}'s fields)"]
        apart = _apart(group.column)
        if apart:
            comments.append(f"NOT consecutive in the sample: {apart} — importd would read two {kind}s; "
                            f"ask the sender to sort the export")
            draft.doubts.append(f"group_by: {apart}")
        add("group_by", group.column.name, *comments)
    keys = [k for k in ("email", "vat_number") if ("customer", k) in by_role]
    if keys and kind in ("customer", "order", "invoice"):
        add("match_customer", keys, "after the upstream reference, an existing customer is found by "
                                    + " then ".join(keys))
    if ("customer", "phone") in by_role:
        region, why = _region(by_role, language)
        if region:
            add("default_region", region, why)
            if "guessed" in why:
                draft.doubts.append(f"default_region {region}: guessed from the titles' language")
        else:
            draft.intro.append(f"phone numbers: {why}")


def _apart(column: Column) -> str | None:
    """The first value of a grouping column that comes back after another one."""
    seen, last = set(), None
    for line, value in column.values:
        if value != last and value in seen:
            return f"{value!r} comes back at line {line}"
        seen.add(value)
        last = value
    return None


def _region(by_role, language) -> tuple[str | None, str]:
    country = by_role.get(("customer", "country"))
    if country and country.column.countries:
        code, rows = max(country.column.countries.items(), key=lambda kv: kv[1])
        total = sum(country.column.countries.values())
        return code, (f"phone numbers without + are read as {code}'s: {rows} of {total} rows of "
                      f"{country.column.name!r} are {code}")
    phones = by_role[("customer", "phone")].column.values
    if all(v.startswith(("+", "00")) for _, v in phones):
        return None, "every phone number carries its country code: no default_region needed"
    if language in REGION_OF_LANGUAGE:
        code = REGION_OF_LANGUAGE[language]
        return code, (f"national phone numbers, no country column: {code} guessed from the titles' language — "
                      f"check it")
    return None, ("national phone numbers and nothing tells their country: add default_region = \"…\" to "
                  "[document], or the dry run refuses them")


def _order_checks(draft, form: Form, by_role) -> None:
    """prices_include_tax from the orders' own arithmetic: which equation their totals satisfy."""
    get = {t: by_role.get(("order", t)) for t in ("subtotal", "shipping", "discount", "tax", "total")}
    if not (get["subtotal"] and get["total"]):
        draft.add("order_checks", Entry("prices_include_tax", False, [
            "no subtotal and total columns to tell whether prices include tax; false: total = subtotal + "
            "shipping + tax − discount — change it if the shop shows prices with VAT"]))
        return
    comma = next((e.value for e in draft.sections["format"] if e.key == "decimal_comma"), False)
    votes = {True: 0, False: 0}
    seen = 0
    for line, values in form.rows:
        amounts = {}
        for name, p in get.items():
            text = values[form.header.index(p.column.name)].strip() if p else ""
            try:
                amounts[name] = parse_decimal(text, decimal_comma=comma is True) if text else Decimal(0)
            except ValueRejected:
                amounts[name] = None
        if None in amounts.values() or not values[form.header.index(get["total"].column.name)].strip():
            continue
        seen += 1
        base = amounts["subtotal"] + amounts["shipping"] - amounts["discount"]
        votes[True] += base == amounts["total"]
        votes[False] += base + amounts["tax"] == amounts["total"]
    if votes[False] == seen and votes[True] < seen:
        draft.add("order_checks", Entry("prices_include_tax", False, [
            f"on {seen} row(s) with totals, subtotal + shipping + tax − discount = total: prices are before tax"]))
    elif votes[True] == seen and seen:
        draft.add("order_checks", Entry("prices_include_tax", True, [
            f"on {seen} row(s) with totals, subtotal + shipping − discount = total: the tax is inside the prices"]))
    else:
        draft.add("order_checks", Entry("prices_include_tax", False, [
            f"the totals of {seen} row(s) follow neither equation ({votes[False]} before tax, {votes[True]} "
            f"with tax inside): the dry run shows which orders do not add up (ORD-TOTAL)"]))


def _field(draft: Draft, p: Placement, form: Form) -> Entry:
    column = p.column
    spec: dict = {"column": column.name}
    comments = [f"{column.name!r}: {p.why}" if p.why else repr(column.name)]
    filled = len(column.values)
    if p.target in REQUIRED and filled == column.rows:
        spec["required"] = True
    elif filled < column.rows:
        comments.append(f"empty on {column.rows - filled} of {column.rows} rows")
    transform, checked = _cleaning(p, draft)
    if transform:
        spec["transform"] = transform
        if checked:
            comments.append(checked)
    decision = getattr(draft, "date_decisions", {}).get(column.name)
    if decision is not None:
        spec["format"] = decision.value
        comments += decision.comments
    if p.target == "phone" and transform == "phone":
        spec["on_unknown"] = "keep"
        comments.append("a phone is contact data: one the checks refuse is kept as written, with a warning")
    if p.target == "status":
        values = sorted({v for _, v in column.values})[:12]
        comments.append("values seen: " + ", ".join(map(repr, values)) + " — a map = { … } can translate them")
    value = spec["column"] if list(spec) == ["column"] else spec
    return Entry(p.target, value, comments, todo=decision is not None and decision.todo)


def _cleaning(p: Placement, draft: Draft) -> tuple[str | None, str | None]:
    """The normaliser a field takes, and what trying it on every value showed."""
    name = {"email": "email", "country": "country", "vat_number": "vat", "phone": "phone",
            "currency": "upper"}.get(p.target)
    if name is None or p.section not in ("customer", "order", "payment", "invoice"):
        return None, None
    if name == "upper":
        return name, None
    region = next((e.value for e in draft.sections.get("document", []) if e.key == "default_region"), None)
    check = (lambda v: phone(v, region)) if name == "phone" else TRANSFORMS[name]
    refused = []
    for line, value in p.column.values:
        try:
            check(value)
        except ValueRejected as e:
            refused.append(f"line {line}: {e.message}")
        except ValueDoubtful:       # a possible phone in an unallocated range: kept, with a warning
            pass
    if refused:
        return name, f"transform {name!r} refuses {len(refused)} value(s): " + "; ".join(refused[:3])
    return name, f"transform {name!r} accepts all {len(p.column.values)} values"


def _name(draft: Draft, by_role, used) -> None:
    parts = {part: by_role.get(("customer", part)) for part in NAME_PARTS}
    first, last, company = parts["first_name"], parts["last_name"], parts["company"]
    if ("customer", "name") not in by_role:
        person = " ".join(f"{{{p.column.name}}}" for p in (first, last) if p)
        names = [t for t in (f"{{{company.column.name}}}" if company else None, person or None) if t]
        if names:
            seen = [p.column.name for p in (company, first, last) if p]
            why = ("the company when there is one, else the person" if company and person else
                   "the person's names joined" if person else "the company")
            filled = {line for p in (company, first, last) if p for line, _ in p.column.values}
            required = len(filled) == next(p for p in (company, first, last) if p).column.rows
            value = {"template": names if len(names) > 1 else names[0]}
            if required:
                value["required"] = True
            draft.add("customer", Entry("name", value, [f"no name column: {why}, from {', '.join(map(repr, seen))}"]))
            if company:
                used[company.column.name] = "customer.name"
    for part in ("first_name", "last_name", "civility"):
        p = parts[part]
        if p is not None:
            entry = Entry(part, p.column.name, [f"{p.column.name!r}: {p.why}; kept as a custom field"])
            draft.add("customer.extra", entry)
            used[p.column.name] = f"customer.extra.{part}"
    if company and company.column.name not in used:
        draft.add("customer.extra", Entry("company", company.column.name, [f"{company.column.name!r}: {company.why}"]))
        used[company.column.name] = "customer.extra.company"


def _identity_fallback(draft: Draft, kind: str, by_role, used) -> None:
    """A kind that needs an upstream reference and has no column for it: the e-mail, or a TODO."""
    key = "sku" if kind == "product" else "external_ref"
    if (kind, key) in by_role:
        return
    email = by_role.get(("customer", "email"))
    if kind == "customer" and email and len({v for _, v in email.column.values}) == len(email.column.values) \
            == email.column.rows:
        draft.sections[kind].insert(0, Entry("external_ref", {"column": email.column.name, "required": True}, [
            f"no customer number column: {email.column.name!r} is filled and different on every row, so the "
            f"e-mail identifies the customer upstream"]))
        return
    entry = Entry(key, {"column": f"TODO: the column that identifies each {kind} upstream"},
                  [f"no column's title names the {kind}'s {key}: a person says which one"], todo=True)
    draft.sections.setdefault(kind, []).insert(0, entry)
    draft.todos.append(f"[{kind}] {key}: {entry.value['column']}")


def _amount_due(draft: Draft, by_role) -> None:
    """An invoice's balance starts from its amount due (BT-115); without that column, the gross total."""
    gross = by_role.get(("invoice", "total_gross"))
    if gross is not None:
        entry = Entry("amount_due", {"column": gross.column.name, "required": True},
                      [f"no amount-due column: the gross total {gross.column.name!r} (BT-112), as on an invoice "
                       f"nothing was prepaid on (BT-113)"])
    else:
        entry = Entry("amount_due", {"column": "TODO: the column of the amount to pay (BT-115)", "required": True},
                      ["no amount-due or gross-total column: a person says which"], todo=True)
    draft.add("invoice", entry)


def _extras(draft: Draft, kind: str, columns: list[Column], used: dict, varies: set) -> None:
    names = set()
    main = kind
    lines = LINE_SECTIONS.get(kind)
    for column in columns:
        if column.name in used:
            continue
        if column.empty:
            draft.unused.append(f"{column.name!r}: empty in every row" + (
                "" if column.name else " (a column with no name: the lines end with the delimiter)"))
            continue
        if word := secret(column.name):
            draft.unused.append(f"{column.name!r}: its title says {word!r}, a secret or a card number: never imported")
            continue
        twin = next((c for c in columns if ".extra." not in used.get(c.name, ".extra.") and c.values == column.values
                     and len({v for _, v in column.values}) > 1), None)
        if twin is not None:
            draft.unused.append(f"{column.name!r}: the same values as {twin.name!r} ({used[twin.name]}) on every row")
            continue
        name = _extra_name(column.name, names, TARGETS[main])
        section = lines if lines and column.name in varies else main
        what = []
        if column.shape("iban"):
            what.append(f"{column.shapes['iban']:.0%} of the values are IBANs (check digits valid)")
        if column.dates:
            what.append(f"dates like {column.dates.example[1]!r}, kept as written (a custom field is text)")
        elif column.numbers:
            what.append(f"numbers ({column.numbers.describe()}), kept as written")
        if section == lines:
            what.append("differs between the rows of one document: a line's")
        draft.add(f"{section}.extra", Entry(name, column.name, [f"{column.name!r}: no target field for it; kept as "
                                                                f"a custom field" + "".join("; " + w for w in what)]))
        used[column.name] = f"{section}.extra.{name}"


def _extra_name(title: str, taken: set, targets) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", fold(title)).strip("_") or "column"
    if name[0].isdigit():
        name = "c_" + name
    if name in targets or name in NAME_PARTS:
        name = "source_" + name
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def varies_in_group(form: Form, group_column: str) -> set[str]:
    """Columns whose value changes between the rows of one group."""
    index = form.header.index(group_column)
    firsts: dict[str, list[str]] = {}
    varies = set()
    for _, values in form.rows:
        key = values[index].strip()
        if key not in firsts:
            firsts[key] = values
            continue
        for i, name in enumerate(form.header):
            if i < len(values) and values[i].strip() and values[i].strip() != firsts[key][i].strip():
                varies.add(name)
    return varies


def _type(p: Placement) -> str:
    return "text" if p.target in NAME_PARTS else TARGETS[p.section][p.target]
