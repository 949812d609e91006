"""The map stage: raw records → canonical documents, following a rules file."""

from __future__ import annotations

from typing import Iterable, Iterator

from parsers import Record
from importd.errors import FileRejected, ValueRejected
from importd.model import LINE_SECTIONS, Document
from importd.rules import FieldRule, Rules
from importd.values import parse_date, parse_decimal, parse_xsd_decimal


def check_columns(rules: Rules, columns: list[str] | None) -> None:
    """Refuse a file whose header lacks a column the rules read."""
    if columns is None:
        return
    missing = sorted(rules.columns - set(columns))
    if missing:
        raise FileRejected("missing_columns", f"the header lacks column(s): {', '.join(map(repr, missing))}",
                           line=1, rule=rules.name,
                           hint=f"the file has: {', '.join(columns)}")


def map_records(records: Iterable[Record], rules: Rules) -> Iterator[Document]:
    """Turn records into documents; a bad value rejects the file with its line and field."""
    if rules.kind in ("customer", "product", "payment"):
        for record in records:
            doc = Document(rules.kind, record.line, {}, last_line=record.line, records=[record])
            try:
                doc.fields = _section(rules, rules.kind, record, doc.warnings)
            except FileRejected as error:
                _document_failed(rules, doc, error)
            if rules.kind == "product":
                doc.fields.setdefault("external_ref", doc.fields.get("sku", ""))
            yield doc
        return
    if rules.lines:
        yield from _nested(records, rules)
        return
    yield from _grouped(records, rules)


def _document_failed(rules: Rules, doc: Document, error: FileRejected) -> None:
    """With atomicity = "document" a bad value fails its document only; else the file."""
    if rules.atomicity == "file":
        raise error
    doc.error = error


def _nested(records: Iterable[Record], rules: Rules) -> Iterator[Document]:
    """XML and JSON: each record is one document and holds its own lines.

    XML lines are the elements `[document] lines` selects in the record; JSON
    lines are the objects of the record's array under that key.
    """
    line_section = LINE_SECTIONS[rules.kind]
    for record in records:
        doc = Document(rules.kind, record.line, {}, last_line=record.line, records=[record])
        try:
            doc.fields = _section(rules, rules.kind, record, doc.warnings)
            doc.customer = _section(rules, "customer", record, doc.warnings) or None
            if record.node is not None:
                items = [(element.sourceline or record.line, element) for element in rules.select_lines(record.node)]
            else:
                items = [(record.line, fields) for fields in record.fields.get(rules.lines) or []]
            for line, source in items:
                doc.lines.append(_values(rules, line_section, source, line, doc.warnings))
        except FileRejected as error:
            _document_failed(rules, doc, error)
        yield doc


def _grouped(records: Iterable[Record], rules: Rules) -> Iterator[Document]:
    """Orders: consecutive records with the same group key are one document.

    The first record carries the document's and the customer's fields; every
    record carries one line.
    """
    key_column = rules.group_by
    current: Document | None = None
    current_key = None
    for record in records:
        key = record.fields[key_column].strip() if key_column else None
        if current is None or key is None or key != current_key:
            if current is not None:
                yield current
            current = Document(rules.kind, record.line, {})
            current_key = key
            try:
                current.fields = _section(rules, rules.kind, record, current.warnings)
                current.customer = _section(rules, "customer", record, current.warnings) or None
            except FileRejected as error:
                _document_failed(rules, current, error)
        current.records.append(record)
        if current.error is None:
            try:
                current.lines.append(_section(rules, LINE_SECTIONS[rules.kind], record, current.warnings))
            except FileRejected as error:
                _document_failed(rules, current, error)
        current.last_line = record.line
    if current is not None:
        yield current


def _section(rules: Rules, section: str, record: Record, warnings: list[str]) -> dict:
    source = record.node if record.node is not None else record.fields
    return _values(rules, section, source, record.line, warnings)


def _values(rules: Rules, section: str, source, line: int, warnings: list[str]) -> dict:
    """The section's target values from `source` (a dict of fields, or an XML element)."""
    values = {}
    for rule in rules.sections.get(section, ()):
        try:
            value = _value(rule, source, rules.decimal_comma, warnings)
        except ValueRejected as e:
            raise FileRejected(e.code, f"line {line}, {section}.{rule.target}: {e.message}",
                               line=line, field=f"{section}.{rule.target}", rule=rules.name,
                               hint=e.hint) from None
        if value is not None:
            values[rule.target] = value
    return values


def _value(rule: FieldRule, raw: dict, decimal_comma: bool, warnings: list[str]):
    text = rule.text(raw)
    if not text:
        if rule.default is None:
            if rule.required:
                raise ValueRejected("missing_value", "a value is required and the source is empty",
                                    hint="fill the column, or give the rule a default")
            return None
        text = rule.default
    try:
        if rule.cleans:
            text = rule.correspond(text)
    except ValueRejected as e:
        if rule.on_unknown == "error":
            raise
        warnings.append(f"{rule.target}: {e.message}; "
                        + ("kept as is" if rule.on_unknown == "keep" else f"default {rule.default!r} used"))
        text = text if rule.on_unknown == "keep" else rule.correspond(rule.default)
    if rule.type == "decimal":
        if rule.xpaths:         # XML numbers have one spelling: xsd:decimal
            return parse_xsd_decimal(text)
        return parse_decimal(text, decimal_comma)
    if rule.type == "date":
        return parse_date(text, rule.date_format)
    return text
