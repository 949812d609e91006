"""The map stage: raw records → canonical documents, following a rules file."""

from __future__ import annotations

import re
from datetime import date
from itertools import chain, islice
from typing import Callable, Iterable, Iterator

from lxml import etree

from importd.errors import FileRejected
from importd.mapping.compiled import DICT, ROW, XML, Plan, plan_for
from importd.mapping.rules import Rules
from importd.mapping.skips import skip_by_fields, skip_by_record
from importd.model import LINE_SECTIONS, Document
from parsers import Record, Row
from parsers.xml import XML_ELEMENT, xml_text


def check_columns(rules: Rules, columns: list[str] | None) -> None:
    """Refuse a file whose header lacks a column the rules read."""
    if columns is None:
        return
    missing = sorted(rules.columns.difference(columns))
    if missing:
        raise FileRejected("missing_columns", f"the header lacks column(s): {', '.join(map(repr, missing))}",
                           line=1, rule=rules.name,
                           hint=f"the file has: {', '.join(columns)}")


def map_records(records: Iterable[Record], rules: Rules) -> Iterator[Document]:
    """Turn records into documents; a bad value rejects the file with its line and field."""
    records = iter(records)
    first = next(records, None)
    if first is None:
        return
    plan, source_of = _plan(rules, first)
    records = chain((first,), records)
    if first.node is not None and rules.atomicity == "document":
        records = _kept_as_text(records, rules.options.get("namespaces"))
    if rules.kind in ("customer", "product", "payment"):
        section = plan.section(rules.kind)
        skips, moment = rules.skips, _moment_reader(rules, first)
        for record, line, source in _items(records, rules, source_of):
            doc = Document(rules.kind, line, {}, last_line=line, records=[record])
            if skips:
                doc.skip = skip_by_record(skips, record)
            try:
                doc.fields = section(source, line, doc.warnings)
            except FileRejected as error:
                _document_failed(rules, doc, error)
            if skips:
                _skip_by_fields(rules, doc)
            if moment is not None:
                doc.moment = moment(record)
            if rules.kind == "product":
                doc.fields.setdefault("external_ref", doc.fields.get("sku", ""))
            yield doc
        return
    if rules.lines:
        yield from _nested(records, rules, plan, source_of)
        return
    yield from _grouped(records, rules, plan, source_of)


# The date a kind's number follows ({year} of its series, chronology).
DATE_FIELDS = {"order": "order_date", "invoice": "issue_date", "payment": "paid_on"}
DATE_CHUNK = 500        # documents looked at together: in date order, they go on at once
DATE_WINDOW = 5000      # documents held to be put in date order when they are not (about 20 MB of orders)


_DIRECTIVE = re.compile(r"%(.)")
_DIGITS = re.compile(r"[0-9]+")
_NUMERIC = frozenset("YymdHMSfjz")       # directives written in digits only


def _time_of_day(rules: Rules) -> Callable | None:
    """A date's text → its time of day ("HH:MM:SS"), when the kind's date format has a time written
    in digits; else None. Only ties of one day need it: it reads the digits in the order the
    format names them, without a full parse."""
    rule = rules.rule(rules.kind, DATE_FIELDS.get(rules.kind, ""))
    if rule is None or not rule.date_format:
        return None
    directives = [d for d in _DIRECTIVE.findall(rule.date_format) if d != "%"]
    if "H" not in directives or not set(directives) <= _NUMERIC:
        return None
    wanted = [directives.index(d) if d in directives else None for d in "HMS"]
    count = len(directives)

    def time_of_day(text: str) -> str:
        digits = _DIGITS.findall(text)
        if len(digits) != count:
            return ""
        return ":".join(digits[i].zfill(2) if i is not None else "00" for i in wanted)
    # Hours, minutes and seconds written in that order: two texts of one day and of one length
    # compare as their times do.
    time_of_day.lexical = [d for d in directives if d in "HMS"] == [d for d in "HMS" if d in directives]
    return time_of_day


def _moment_reader(rules: Rules, first) -> Callable | None:
    """record → the raw text of the kind's date (kept as the document's `moment`), when its format
    has a time of day; else None. Read in place: parsed only if the file needs sorting."""
    if _time_of_day(rules) is None:
        return None
    rule = rules.rule(rules.kind, DATE_FIELDS[rules.kind])
    column = rule.templates[0][0][1] if len(rule.templates) == 1 and len(rule.templates[0]) == 1 else None
    if isinstance(first, Row) and column in first.header:
        position = first.header.index(column)

        def moment(record) -> str:         # a row's value read in place
            return record.values[position]
    elif first.node is None and column is not None:
        def moment(record) -> str:
            return str(record.fields.get(column) or "")
    else:
        def moment(record) -> str:
            return rule.text(record.node if record.node is not None else record.fields)
    return moment


def _no_moment(record) -> None:
    return None


def in_date_order(documents: Iterable[Document], rules: Rules) -> Iterator[Document]:
    """The documents in a stable sort by their date, so that they take their numbers in date order.

    Documents of one day follow their time when the date's format reads one; else a file that
    lists newest first (its first dated document is after its last) is read from its end, so
    that they keep their order in time too. An undated document counts as dated today, as its
    number does. Documents already in order stream through DATE_CHUNK at a time; where they are
    not, DATE_WINDOW documents are held and sorted (a bound on memory: a longer file out of
    order is put in order window by window).
    """
    field = DATE_FIELDS.get(rules.kind)
    if field is None:
        yield from documents
        return
    time_of_day = _time_of_day(rules)
    today = date.today().isoformat()
    documents = iter(documents)
    last: list[Document] = []           # the document yielded last, to compare the next chunk with

    def day(doc: Document) -> str:
        return doc.fields.get(field) or today

    while chunk := list(islice(documents, DATE_CHUNK)):
        if _in_order(last + chunk, [day(doc) for doc in last + chunk], time_of_day):
            yield from chunk
            last = chunk[-1:]
            continue
        window = chunk + list(islice(documents, DATE_WINDOW - len(chunk)))
        days = [day(doc) for doc in window]
        if days[0] > days[-1]:
            window.reverse()
        if time_of_day is None:
            window.sort(key=day)
        else:
            window.sort(key=lambda doc: (day(doc), time_of_day(doc.moment or "")))
        yield from window
        last = window[-1:]


def _in_order(window: list[Document], days: list[str], time_of_day: Callable | None) -> bool:
    """Whether the window is already in date (and time) order. Documents of one day compare their
    date's text as written — the same day, so the same length in a fixed-width format, leaves the
    time to differ — and only texts of different lengths are read for their time."""
    for i in range(1, len(days)):
        if days[i] != days[i - 1]:
            if days[i] < days[i - 1]:
                return False
        elif time_of_day is not None:
            earlier, later = window[i - 1].moment or "", window[i].moment or ""
            if len(earlier) == len(later) and time_of_day.lexical:
                if later < earlier:
                    return False
            elif time_of_day(later) < time_of_day(earlier):
                return False
    return True


def _items(records: Iterable[Record], rules: Rules, source_of) -> Iterator[tuple]:
    """(record, line, what its fields read): one per record, or with `[document] each` one per
    nested element (a bank entry's transactions), each read where it is so its XPaths can go up
    to the record. A record without any is one item: an empty element of that path, added to it."""
    steps = rules.each_steps
    if not steps:
        for record in records:
            yield record, record.line, source_of(record)
        return
    for record in records:
        node = record.node
        nested = [node]
        for step in steps:
            nested = [child for parent in nested for child in parent if child.tag == step]
        if not nested:
            nested = [_placeholder(node, steps)]
        for element in nested:
            yield record, element.sourceline or record.line, element


def _placeholder(node, steps: tuple):
    """The elements of `steps` under `node`, made where missing (empty): a record with no nested
    element is one, whose own XPaths find nothing and whose `..` steps reach the record."""
    for step in steps:
        child = next((c for c in node if c.tag == step), None)
        node = child if child is not None else etree.SubElement(node, step)
    return node


def _kept_as_text(records: Iterable[Record], namespaces: dict | None) -> Iterator[Record]:
    """XML records kept as text while they are whole, for a rejects file (the stream drops them)."""
    for record in records:
        record.fields = {XML_ELEMENT: xml_text(record.node, namespaces)}
        yield record


def _plan(rules: Rules, first) -> tuple[Plan, Callable]:
    """The compiled rules for the way these records give their fields, and how to get them."""
    if first.node is not None:
        return plan_for(rules, XML), _node
    if isinstance(first, Row):
        return plan_for(rules, ROW, first.header), _values
    return plan_for(rules, DICT), _fields


def _node(record):
    return record.node


def _values(record):
    return record.values


def _fields(record):
    return record.fields


def _document_failed(rules: Rules, doc: Document, error: FileRejected) -> None:
    """With atomicity = "document" a bad value fails its document only; else the file.
    A document a [[skip]] left out is not judged: its error is kept, never raised."""
    if doc.skip is not None:
        doc.error = error
        return
    if rules.atomicity == "file":
        raise error
    doc.error = error


def _skip_by_fields(rules: Rules, doc: Document) -> None:
    """A `field` skip, on the mapped values of a document that is neither skipped nor failed."""
    if doc.skip is None and doc.error is None:
        doc.skip = skip_by_fields(rules.skips, rules.kind, doc.fields, doc.customer)


def _nested(records: Iterable[Record], rules: Rules, plan: Plan, source_of) -> Iterator[Document]:
    """XML and JSON: each record is one document and holds its own lines.

    XML lines are the elements `[document] lines` selects in the record; JSON
    lines are the objects of the record's array under that key.
    """
    document, customer = plan.section(rules.kind), plan.section("customer")
    line_section = plan.section(LINE_SECTIONS[rules.kind])
    moment = None
    for record in records:
        doc = Document(rules.kind, record.line, {}, last_line=record.line, records=[record])
        source = source_of(record)
        if moment is None:
            moment = _moment_reader(rules, record) or _no_moment
        doc.moment = moment(record)
        if rules.skips:
            doc.skip = skip_by_record(rules.skips, record)
        try:
            doc.fields = document(source, record.line, doc.warnings)
            doc.customer = customer(source, record.line, doc.warnings) or None
            if rules.skips:
                _skip_by_fields(rules, doc)
            if record.node is not None:
                items = [(element.sourceline or record.line, element) for element in rules.select_lines(record.node)]
            else:
                items = [(record.line, fields) for fields in _json_lines(record, rules)]
            for line, item in items:
                doc.lines.append(line_section(item, line, doc.warnings))
        except FileRejected as error:
            _document_failed(rules, doc, error)
        yield doc


def _json_lines(record: Record, rules: Rules) -> list[dict]:
    """A JSON record's lines: the objects of its array under `[document] lines` (an empty array,
    flattened to "[]" with the record's other values, has none); anything else is refused."""
    lines = record.fields.get(rules.lines)
    if lines in (None, "", "[]"):
        return []
    if not (isinstance(lines, list) and all(isinstance(line, dict) for line in lines)):
        raise FileRejected("bad_lines", f"line {record.line}: {rules.lines!r} is not an array of objects",
                           line=record.line, field=rules.lines, rule=rules.name,
                           hint="a document's lines are an array of objects, one per line")
    return lines


def _grouped(records: Iterable[Record], rules: Rules, plan: Plan, source_of) -> Iterator[Document]:
    """Orders: consecutive records with the same group key are one document.

    The first record carries the document's and the customer's fields; every
    record carries one line.
    """
    group_key = plan.group_key
    kind = rules.kind
    document, customer = plan.section(kind), plan.section("customer")
    line_section = plan.section(LINE_SECTIONS[kind])
    keep = rules.atomicity == "document"      # the records, for a rejects file
    skips = rules.skips
    header_only = rules.header_only       # orders without lines: a record is its order alone
    moment = None
    current: Document | None = None
    current_key = None
    position = plan.group_position if source_of is _values else None
    for record in records:
        if moment is None:
            moment = _moment_reader(rules, record) or _no_moment
        if position is not None:        # rows: the key read in place (a call less per record)
            source = record.values
            key = source[position].strip()
        else:
            key = group_key(record) if group_key else None
            source = source_of(record)
        line = record.line
        if current is None or key is None or key != current_key:
            if current is not None:
                yield current
            current = Document(kind, line, {})
            current_key = key
            warnings, lines = current.warnings, current.lines
            if skips:       # the group's first row decides, as it gives the order's fields
                current.skip = skip_by_record(skips, record)
            try:
                current.fields = document(source, line, warnings)
                current.customer = customer(source, line, warnings) or None
            except FileRejected as error:
                _document_failed(rules, current, error)
            if skips:
                _skip_by_fields(rules, current)
            if moment is not None:
                current.moment = moment(record)
        if keep:
            current.records.append(record)
        if current.error is None and not header_only:
            try:
                lines.append(line_section(source, line, warnings))
                current.line_numbers.append(line)
            except FileRejected as error:
                _document_failed(rules, current, error)
        current.last_line = line
    if current is not None:
        yield current
