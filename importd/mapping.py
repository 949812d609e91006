"""The map stage: raw records → canonical documents, following a rules file."""

from __future__ import annotations

from typing import Iterable, Iterator

from parsers import Record
from importd.errors import FileRejected, ValueRejected
from importd.model import Document
from importd.rules import FieldRule, Rules
from importd.values import parse_date, parse_decimal


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
    if rules.kind in ("customer", "product"):
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
    yield from _grouped(records, rules)


def _document_failed(rules: Rules, doc: Document, error: FileRejected) -> None:
    """With atomicity = "document" a bad value fails its document only; else the file."""
    if rules.atomicity == "file":
        raise error
    doc.error = error


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
                current.lines.append(_section(rules, "line", record, current.warnings))
            except FileRejected as error:
                _document_failed(rules, current, error)
        current.last_line = record.line
    if current is not None:
        yield current


def _section(rules: Rules, section: str, record: Record, warnings: list[str]) -> dict:
    values = {}
    for rule in rules.sections.get(section, ()):
        try:
            value = _value(rule, record.fields, rules.decimal_comma, warnings)
        except ValueRejected as e:
            raise FileRejected(e.code, f"line {record.line}, {section}.{rule.target}: {e.message}",
                               line=record.line, field=f"{section}.{rule.target}", rule=rules.name,
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
        text = rule.correspond(text)
    except ValueRejected as e:
        if rule.on_unknown == "error":
            raise
        warnings.append(f"{rule.target}: {e.message}; "
                        + ("kept as is" if rule.on_unknown == "keep" else f"default {rule.default!r} used"))
        text = text if rule.on_unknown == "keep" else rule.correspond(rule.default)
    if rule.type == "decimal":
        return parse_decimal(text, decimal_comma)
    if rule.type == "date":
        return parse_date(text, rule.date_format)
    return text
