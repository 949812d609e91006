"""A rules file compiled once into plain per-section functions the map stage calls per record.

Everything a field rule says (where the text comes from, how it is cleaned,
its type) is decided here, once per rules file and kind of source, not per
value. Cleaning and typing are pure functions of the raw text, so each field
keeps a bounded cache of the values it has already seen: a bulk file repeats
its countries, prices and dates. A cache belongs to one field of one rules
file and never sees another field's values.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

from importd.errors import FileRejected, ValueRejected
from importd.rules import FieldRule, Rules
from importd.values import parse_date, parse_decimal, parse_xsd_decimal

CACHED_VALUES = 4096        # per field: enough for a file's repeated values, small enough to stay flat

# The three ways a record gives its fields: values by position (delimited text),
# a dict by name (JSON, XLSX), an XML element read by XPath.
ROW, DICT, XML = "row", "dict", "xml"


class Section:
    """One section of a rules file, compiled: `section(source, line, warnings)` → target values."""

    def __init__(self, rules: Rules, name: str, fields: list[tuple[str, Callable]]):
        self.rules_name = rules.name
        self.name = name
        self.fields = fields

    def __call__(self, source, line: int, warnings: list[str]) -> dict:
        values = {}
        target = None
        try:
            for target, value_of in self.fields:
                value = value_of(source, warnings)
                if value is not None:
                    values[target] = value
        except ValueRejected as e:
            raise FileRejected(e.code, f"line {line}, {self.name}.{target}: {e.message}",
                               line=line, field=f"{self.name}.{target}", rule=self.rules_name,
                               hint=e.hint) from None
        return values


class Plan:
    """Every section of a rules file, compiled for one way of reading records."""

    def __init__(self, rules: Rules, access: str, header: list[str] | None = None):
        index = {name: i for i, name in enumerate(header or ())}
        self.sections = {
            section: Section(rules, section, [(rule.target, _field(rule, access, index, rules.decimal_comma))
                                              for rule in field_rules])
            for section, field_rules in rules.sections.items()}
        self.group_key = _group_key(rules.group_by, access, index) if rules.group_by else None

    def section(self, name: str) -> Callable:
        """The compiled section `name`; a section the rules do not have gives no values."""
        return self.sections.get(name) or _no_values


def _no_values(source, line: int, warnings: list[str]) -> dict:
    return {}


def plan_for(rules: Rules, access: str, header: list[str] | None = None) -> Plan:
    """The rules compiled for `access` (and, for rows, this header); kept on the rules for the next file."""
    key = (access, tuple(header) if header else None)
    plan = rules.compiled.get(key)
    if plan is None:
        if len(rules.compiled) >= 8:        # a rules file sees few headers; do not keep every one
            rules.compiled.clear()
        plan = rules.compiled[key] = Plan(rules, access, header)
    return plan


def _group_key(column: str, access: str, index: dict[str, int]) -> Callable:
    if access == ROW:
        position = index.get(column)
        return (lambda record: record.values[position].strip()) if position is not None else (lambda record: "")
    return lambda record: record.fields[column].strip()


def _field(rule: FieldRule, access: str, index: dict[str, int], decimal_comma: bool) -> Callable:
    """`value_of(source, warnings)`: the field's typed value, None when empty; ValueRejected when bad."""
    text_of = _text_getter(rule, access, index)
    convert = _converter(rule, decimal_comma)
    default = rule.default
    if default is None and not rule.required and convert is None:
        return lambda source, warnings: text_of(source) or None      # plain text: the common case
    if convert is None:
        convert = _as_is

    def value_of(source, warnings: list[str]):
        text = text_of(source)
        if not text:
            if default is None:
                if rule.required:
                    raise ValueRejected("missing_value", "a value is required and the source is empty",
                                        hint="fill the column, or give the rule a default")
                return None
            text = default
        value, warning = convert(text)
        if warning is not None:
            warnings.append(warning)
        return value
    return value_of


def _as_is(text: str) -> tuple[str, None]:
    return text, None


def _converter(rule: FieldRule, decimal_comma: bool) -> Callable | None:
    """The field's cleaning and typing as one cached function of the raw text, or None if it has neither.

    Returns (value, warning or None): the warning of an on_unknown value is part
    of the answer, so a cached answer still warns each time.
    """
    typed = _typer(rule, decimal_comma)
    if not rule.cleans and typed is None:
        return None
    typed = typed or (lambda text: text)

    def convert(text: str):
        if not rule.cleans:
            return typed(text), None
        warning = None
        try:
            text = rule.correspond(text)
        except ValueRejected as e:
            if rule.on_unknown == "error":
                raise
            warning = (f"{rule.target}: {e.message}; "
                       + ("kept as is" if rule.on_unknown == "keep" else f"default {rule.default!r} used"))
            text = text if rule.on_unknown == "keep" else rule.correspond(rule.default)
        return typed(text), warning
    return lru_cache(maxsize=CACHED_VALUES)(convert)


def _typer(rule: FieldRule, decimal_comma: bool) -> Callable[[str], object] | None:
    if rule.type == "decimal":
        if rule.xpaths:         # XML numbers have one spelling: xsd:decimal
            return parse_xsd_decimal
        return lambda text: parse_decimal(text, decimal_comma)
    if rule.type == "date":
        date_format = rule.date_format
        return lambda text: parse_date(text, date_format)
    return None


def _text_getter(rule: FieldRule, access: str, index: dict[str, int]) -> Callable[[object], str]:
    """The trimmed source text, as FieldRule.text gives it, read the way `access` needs."""
    if access != ROW or rule.constant is not None or rule.xpaths:
        return rule.text
    templates = rule.templates
    if len(templates) == 1 and len(templates[0]) == 1 and templates[0][0][0] == "":
        position = index.get(templates[0][0][1])
        if position is None:
            return lambda values: ""
        return lambda values: values[position].strip()
    # Templates: FieldRule.text on a dict view of only the columns they name.
    names = sorted(rule.columns)
    positions = [(name, index[name]) for name in names if name in index]
    return lambda values: rule.text({name: values[i] for name, i in positions})
