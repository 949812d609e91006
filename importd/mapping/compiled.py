"""A rules file compiled once into plain per-section functions the map stage calls per record.

Everything a field rule says (where the text comes from, how it is cleaned,
its type) is decided here, once per rules file and kind of source, not per
value. Cleaning and typing are pure functions of the raw text, so each field
keeps a bounded cache of the values it has already seen: a bulk file repeats
its countries, prices and dates. A cache belongs to one field of one rules
file and never sees another field's values.
"""

from __future__ import annotations

import json
from functools import lru_cache, partial
from typing import Callable

from importd.errors import FileRejected, ValueDoubtful, ValueRejected
from importd.mapping.rules import FieldRule, Rules
from importd.mapping.values import parse_date, parse_decimal, parse_xsd_decimal
from importd.model import EXTRA

CACHED_VALUES = 4096        # per field: holds what repeats (countries, prices, line amounts, days); ~1 MB at most
# A buyer comes back order after order, anywhere in the file: the customer's fields keep the
# values of as many customers as a 100,000-line export has (about 7,000), a few MB at most.
CACHED_CUSTOMER_VALUES = 8192

# A record's custom fields as one JSON text, keys sorted: the same values give the same
# text, which is what is stored and what the fingerprint hashes.
extra_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
# The compiled sections write that same text without building a dict: their custom fields
# come sorted by name (rules.py), names need no escaping ([a-z_][a-z0-9_]*), values are
# text, each encoded as extra_json would (tests/test_compiled.py holds them equal).
json_string = json.encoder.encode_basestring

# The three ways a record gives its fields: values by position (delimited text),
# a dict by name (JSON, XLSX), an XML element read by XPath.
ROW, DICT, XML = "row", "dict", "xml"


def compile_section(rules: Rules, name: str, access: str, index: dict[str, int]) -> Callable:
    """The section `name` as one generated function, `section(source, line, warnings)` → target values.

    Its body reads each field in turn, straight from the source, and calls the
    field's cached converter only when the rule cleans or types the value; a
    value that is rejected is reported with its line, section.field and rule.
    Custom fields (`extra`) are filled the same way, each appended to one JSON text
    as it is read, put into out["extra"] at the end; a section without any pays
    nothing for them. `target` (what an error names) is set only before a field
    that can be rejected; a plain copy, or a value given in the rules, cannot be.
    """
    namespace: dict = {"ValueRejected": ValueRejected, "rejected": _rejecter(rules.name, name),
                       "missing": _missing, "json_string": json_string}
    body = []
    rules_of = rules.sections.get(name, ())
    for i, rule in enumerate(rules_of):
        cached = CACHED_CUSTOMER_VALUES if name == "customer" else CACHED_VALUES
        body += _field_code(i, rule, access, index, rules.decimal_comma, namespace, cached)
        body += _arithmetic_code(i, rule, access, index, rules.decimal_comma, namespace, cached)
    extras = any(rule.extra for rule in rules_of)
    code = "\n".join(["def section(source, line, warnings):",
                      "    out = {}",
                      *(["    extra = ''"] if extras else []),
                      "    target = None",
                      "    try:",
                      *(body or ["        pass"]),
                      "    except ValueRejected as e:",
                      "        raise rejected(e, line, target) from None",
                      *(["    if extra:", f"        out[{EXTRA!r}] = '{{' + extra[1:] + '}}'"] if extras else []),
                      "    return out"])
    exec(compile(code, f"<rules {rules.name} [{name}] ({access})>", "exec"), namespace)
    section = namespace["section"]
    section.code = code         # for a person debugging the compiled rules
    return section


def _field_code(i: int, rule: FieldRule, access: str, index: dict[str, int], decimal_comma: bool,
                namespace: dict, cached: int) -> list[str]:
    """The lines of the section's body that fill `rule.target` (a custom field: extra[target])."""
    label = f"{EXTRA}.{rule.target}" if rule.extra else rule.target      # as errors name it
    code = []
    slot = (f"extra += {',' + _json_key(rule.target)!r} + json_string(%s)" if rule.extra
            else f"out[{rule.target!r}] = %s")
    if_kept = rule.on_unknown == "empty"        # a value the map left empty is no value
    column = _single_column(rule)
    convert, warns = _converter(rule, decimal_comma, cached)
    if rule.constant and convert is None:       # a value given in the rules, as it is: no test, no error
        return [f"        {slot % repr(rule.constant)}"]
    if convert is not None or rule.required or not (rule.constant is not None or column is not None):
        code.append(f"        target = {label!r}")
    if rule.constant is not None:
        code.append(f"        text = {rule.constant!r}")
    elif access == ROW and column is not None and column in index:
        code.append(f"        text = source[{index[column]}].strip()")
    elif access == DICT and column is not None:
        code.append(f"        text = source.get({column!r}, '').strip()")
    else:
        namespace[f"text_{i}"] = _text_getter(rule, access, index)
        code.append(f"        text = text_{i}(source)")
    if convert is None:
        code += ["        if text:", f"            {slot % 'text'}"]
    else:
        namespace[f"convert_{i}"] = convert
        code += ["        if text:", *_converted(f"convert_{i}(text)", warns, slot, if_kept)]
    if rule.default is not None:
        namespace[f"default_{i}"] = rule.default
        fill = (_converted(f"convert_{i}(default_{i})", warns, slot, if_kept) if convert
                else [f"            {slot % f'default_{i}'}"])
        code += ["        else:", *fill]
    elif rule.required:
        code += ["        else:", "            raise missing()"]
    return code


def _arithmetic_code(i: int, rule: FieldRule, access: str, index: dict[str, int], decimal_comma: bool,
                     namespace: dict, cached: int) -> list[str]:
    """`subtract` and `negative_if`: the helper values read like fields, then applied to the amount.

    An amount that is empty stays empty (its own `required` says whether that is an error);
    an empty subtracted amount counts as 0.
    """
    if not rule.minus and rule.sign is None:
        return []
    target = repr(rule.target)
    code = []
    for k, minus in enumerate(rule.minus):
        code += _field_code(f"{i}_minus{k}", minus, access, index, decimal_comma, namespace, cached)
        code += [f"        minus = out.pop({minus.target!r}, None)",
                 f"        if minus is not None and {target} in out:",
                 f"            out[{target}] = out[{target}] - minus"]
    if rule.sign is not None:
        code += _field_code(f"{i}_sign", rule.sign, access, index, decimal_comma, namespace, cached)
        namespace[f"negative_{i}"] = rule.negative
        code += [f"        if out.pop({rule.sign.target!r}, None) in negative_{i} and {target} in out:",
                 f"            out[{target}] = -out[{target}]"]
    return code


def _converted(call: str, warns: bool, slot: str, if_kept: bool) -> list[str]:
    if not warns:
        return [f"            {slot % call}"]
    return [f"            value, warning = {call}",
            "            if warning is not None:",
            "                warnings.append(warning)",
            *(["            if value:", f"                {slot % 'value'}"] if if_kept else [f"            {slot % 'value'}"])]


def _json_key(name: str) -> str:
    """`"name":` as JSON writes a key (a custom field's name needs no escaping)."""
    return json_string(name) + ":"


def _single_column(rule: FieldRule) -> str | None:
    """The column of a rule that reads one column as it is, else None."""
    if rule.constant is not None or rule.xpaths or len(rule.templates) != 1:
        return None
    template = rule.templates[0]
    return template[0][1] if len(template) == 1 and template[0][0] == "" else None


def _missing() -> ValueRejected:
    return ValueRejected("missing_value", "a value is required and the source is empty",
                         hint="fill the column, or give the rule a default")


def _rejecter(rules_name: str, section: str) -> Callable:
    def rejected(e: ValueRejected, line: int, target: str) -> FileRejected:
        return FileRejected(e.code, f"line {line}, {section}.{target}: {e.message}",
                            line=line, field=f"{section}.{target}", rule=rules_name, hint=e.hint)
    return rejected


class Plan:
    """Every section of a rules file, compiled for one way of reading records."""

    def __init__(self, rules: Rules, access: str, header: list[str] | None = None):
        index = {name: i for i, name in enumerate(header or ())}
        self.sections = {section: compile_section(rules, section, access, index) for section in rules.sections}
        self.group_key = _group_key(rules.group_by, access, index) if rules.group_by else None
        # Rows grouped by a column the header has: its position, read in place by the map stage.
        self.group_position = index.get(rules.group_by) if access == ROW and rules.group_by else None

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


def _converter(rule: FieldRule, decimal_comma: bool,
               cached: int = CACHED_VALUES) -> tuple[Callable | None, bool]:
    """The field's cleaning and typing as one cached function of the raw text (None if it has
    neither), and whether that function warns.

    A field that warns (an on_unknown value kept or defaulted, a doubtful phone
    kept) gets (value, warning or None): the warning is part of the answer, so a
    cached answer still warns each time. Any other field gets its value.
    """
    typed = _typer(rule, decimal_comma)
    if not rule.cleans:
        return (None if typed is None else lru_cache(maxsize=cached)(typed)), False
    typed = typed or _as_is
    if rule.on_unknown == "error" and not rule.doubts:
        return lru_cache(maxsize=cached)(lambda text: typed(rule.correspond(text))), False

    def convert(text: str):
        warning = None
        try:
            text = rule.correspond(text)
        except ValueDoubtful as e:      # a soft field: the cleaned value is kept, the doubt is a warning
            text, warning = e.value, f"{rule.target}: {e.message}; kept as {e.value!r}"
        except ValueRejected as e:
            if rule.on_unknown == "error":
                raise
            warning = f"{rule.target}: {e.message}; " + _UNKNOWN_KEPT[rule.on_unknown].format(rule.default)
            if rule.on_unknown == "empty":
                return "", warning
            text = text if rule.on_unknown == "keep" else rule.correspond(rule.default)
        return typed(text), warning
    return lru_cache(maxsize=cached)(convert), True


_UNKNOWN_KEPT = {"keep": "kept as is", "default": "default {!r} used", "empty": "left empty"}


def _as_is(text: str) -> str:
    return text


def _typer(rule: FieldRule, decimal_comma: bool) -> Callable[[str], object] | None:
    if rule.type == "decimal":
        if rule.xpaths:         # XML numbers have one spelling: xsd:decimal
            return parse_xsd_decimal
        return partial(parse_decimal, decimal_comma=decimal_comma)
    if rule.type == "date":
        return partial(parse_date, fmt=rule.date_format)
    return None


def _text_getter(rule: FieldRule, access: str, index: dict[str, int]) -> Callable[[object], str]:
    """The trimmed source text, as FieldRule.text gives it, read the way `access` needs."""
    if access != ROW or rule.constant is not None or rule.xpaths:
        return rule.text
    column = _single_column(rule)
    if column is not None:      # a column the header lacks (check_columns allows it when not required)
        position = index.get(column)
        if position is None:
            return lambda values: ""
        return lambda values: values[position].strip()
    # Templates: FieldRule.text on a dict view of only the columns they name.
    names = sorted(rule.columns)
    positions = [(name, index[name]) for name in names if name in index]
    return lambda values: rule.text({name: values[i] for name, i in positions})
