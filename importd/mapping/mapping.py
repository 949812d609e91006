"""The map stage: raw records → canonical documents, following a rules file."""

from __future__ import annotations

from itertools import chain
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
        skips = rules.skips
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
            if rules.kind == "product":
                doc.fields.setdefault("external_ref", doc.fields.get("sku", ""))
            yield doc
        return
    if rules.lines:
        yield from _nested(records, rules, plan, source_of)
        return
    yield from _grouped(records, rules, plan, source_of)


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
    A document a [[skip]] already left out is not judged: its values do not matter."""
    if doc.skip is not None:
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
    for record in records:
        doc = Document(rules.kind, record.line, {}, last_line=record.line, records=[record])
        source = source_of(record)
        if rules.skips:
            doc.skip = skip_by_record(rules.skips, record)
        try:
            doc.fields = document(source, record.line, doc.warnings)
            doc.customer = customer(source, record.line, doc.warnings) or None
            if rules.skips:
                _skip_by_fields(rules, doc)
            if doc.skip is not None:
                yield doc
                continue
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
        if keep:
            current.records.append(record)
        if current.error is None and current.skip is None:
            try:
                lines.append(line_section(source, line, warnings))
                current.line_numbers.append(line)
            except FileRejected as error:
                _document_failed(rules, current, error)
        current.last_line = line
    if current is not None:
        yield current
