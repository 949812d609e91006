"""The map stage: raw records → canonical documents, following a rules file."""

from __future__ import annotations

from datetime import date
from itertools import chain, islice
from typing import Callable, Iterable, Iterator

from importd.errors import FileRejected, ValueRejected
from importd.mapping.compiled import DICT, ROW, XML, Plan, plan_for
from importd.mapping.rules import Rules
from importd.mapping.values import parse_datetime
from importd.mapping.skips import skip_by_fields, skip_by_record
from importd.model import LINE_SECTIONS, Document
from parsers import Record, Row


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
    if rules.kind in ("customer", "product", "payment"):
        section = plan.section(rules.kind)
        skips, moment = rules.skips, _moment_rule(rules)
        for record in records:
            doc = Document(rules.kind, record.line, {}, last_line=record.line, records=[record])
            if skips:
                doc.skip = skip_by_record(skips, record)
            try:
                doc.fields = section(source_of(record), record.line, doc.warnings)
            except FileRejected as error:
                _document_failed(rules, doc, error)
            if skips:
                _skip_by_fields(rules, doc)
            if moment is not None:
                doc.moment = _moment(moment, record)
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
DATE_WINDOW = 5000      # documents held to be put in date order (a bound on memory); most files are one window


def _moment_rule(rules: Rules):
    """The rule of the kind's date when its format reads a time of day too, else None."""
    rule = rules.rule(rules.kind, DATE_FIELDS.get(rules.kind, ""))
    return rule if rule is not None and rule.date_format and "%H" in rule.date_format else None


def _moment(rule, record) -> str | None:
    """The document's date and time (ISO), read again from its record, to sort documents of one day."""
    try:
        text = rule.text(record.node if record.node is not None and rule.xpaths else record.fields)
        return parse_datetime(text, rule.date_format) if text else None
    except ValueRejected:
        return None


def in_date_order(documents: Iterable[Document], kind: str) -> Iterator[Document]:
    """The documents in a stable sort by their date, so that they take their numbers in date order.

    Documents of one day follow their time when the date's format reads one (`moment`); else a
    file that lists newest first (its first dated document is after its last) is read from its
    end, so that they keep their order in time too. An undated document counts
    as dated today, as its number does. The sort holds DATE_WINDOW documents at a time: a
    longer file is put in order window by window.
    """
    field = DATE_FIELDS.get(kind)
    if field is None:
        yield from documents
        return
    today = date.today().isoformat()
    documents = iter(documents)
    while window := list(islice(documents, DATE_WINDOW)):
        dates = [day for day in (doc.fields.get(field) for doc in window) if day]
        if dates and dates[0] > dates[-1]:
            window.reverse()
        window.sort(key=lambda doc: doc.moment or doc.fields.get(field) or today)
        yield from window


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
    moment = _moment_rule(rules)
    for record in records:
        doc = Document(rules.kind, record.line, {}, last_line=record.line, records=[record])
        source = source_of(record)
        if moment is not None:
            doc.moment = _moment(moment, record)
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
                items = [(record.line, fields) for fields in record.fields.get(rules.lines) or []]
            for line, item in items:
                doc.lines.append(line_section(item, line, doc.warnings))
        except FileRejected as error:
            _document_failed(rules, doc, error)
        yield doc


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
    moment = _moment_rule(rules)
    current: Document | None = None
    current_key = None
    position = plan.group_position if source_of is _values else None
    for record in records:
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
                current.moment = _moment(moment, record)
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
