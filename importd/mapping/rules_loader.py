"""Reading a rules file: every key checked, every problem reported at once, the result
compiled into the objects of `importd.mapping.rules` (FieldRule, Rules)."""

from __future__ import annotations

import re
import string
from pathlib import Path

from importd.config.tomlfile import TomlFile
from importd.errors import ConfigError
from importd.mapping.order_rules import load_order_checks
from importd.mapping.rules import FieldRule, Rules
from importd.mapping.transforms import CONTEXT_TRANSFORMS, TRANSFORMS
from importd.model import EXTRA, KINDS, LINE_SECTIONS, TARGETS
from parsers import FORMATS
from parsers.limits import LIMITS, problem as limit_problem
from parsers.xml import XPathError, compile_xpath, record_paths

FORMAT_KEYS = {"parser", "encoding", "delimiter", "quotechar", "decimal_comma", "date_format",
               "namespaces", "record", "skip", "sheet", "max_unzipped_mb", *LIMITS}
XML_PARSERS = ("xml", "facturx")
DOCUMENT_KEYS = {"kind", "group_by", "match_customer", "missing_customer", "missing_product", "atomicity",
                 "chronology", "park_timeout_hours", "default_region", "lines", "shared_key",
                 "snapshot", "snapshot_max_absent", "require_accounts"}
FIELD_KEYS = {"column", "template", "value", "xpath", "default", "required", "transform", "format", "map",
              "extract", "on_unknown", "priority", "strict"}
CHOICES = {   # [document] key → (allowed values, default)
    "missing_customer": (("create", "park", "reject"), "create"),
    "missing_product": (("ignore", "create", "park", "reject"), "ignore"),
    "atomicity": (("file", "document"), "file"),
    "chronology": (("warn", "review"), "warn"),
    # A key match on a record that carries another upstream reference of the same source.
    "shared_key": (("create", "review"), "create"),
}
ON_UNKNOWN = ("error", "default", "keep", "empty")
EXTRA_NAME = re.compile(r"[a-z_][a-z0-9_]*")
PRIORITIES = ("source", "database", "fill", "review")


def load_rules(path: Path) -> Rules:
    """Read and check a rules file; every problem is reported at once (ConfigError)."""
    toml = TomlFile(path)
    data = toml.data
    problems: list[str] = []

    def problem(where: tuple, text: str) -> None:
        problems.append(f"{toml.where(*where)}: {text}")

    for key in data.keys() - {"format", "document", "order_checks", *TARGETS}:
        problem((key,), f"unknown section [{key}] — sections are [format], [document], [order_checks], "
                        f"{', '.join(f'[{t}]' for t in TARGETS)}")

    fmt = _table(data, "format", problem)
    _unknown(fmt, FORMAT_KEYS, ("format",), problem)
    parser = fmt.get("parser", "csv")
    if parser not in FORMATS:
        problem(("format", "parser"), f"unknown parser {parser!r} — write one of: {', '.join(FORMATS)}")
    decimal_comma = fmt.get("decimal_comma", False)
    if not isinstance(decimal_comma, bool):
        problem(("format", "decimal_comma"), "decimal_comma must be true or false")
    date_format = fmt.get("date_format")
    for key in LIMITS.keys() & fmt.keys():
        if (text := limit_problem(key, fmt[key])) is not None:
            problem(("format", key), text)
    namespaces = _namespaces(fmt, parser, problem)

    doc = _table(data, "document", problem)
    _unknown(doc, DOCUMENT_KEYS, ("document",), problem)
    kind = doc.get("kind")
    if kind not in KINDS:
        problem(("document", "kind") if "kind" in doc else ("document",),
                f"kind {kind!r} is not a document kind — write kind = one of: {', '.join(KINDS)}")
        kind = None
    group_by = doc.get("group_by")
    if group_by is not None and not isinstance(group_by, str):
        problem(("document", "group_by"), "group_by must be a column name (a string)")
    match_customer = doc.get("match_customer", [])
    if not (isinstance(match_customer, list) and set(match_customer) <= set(TARGETS["customer"])):
        problem(("document", "match_customer"),
                "match_customer must list customer fields, e.g. [\"email\", \"vat_number\"]")
        match_customer = []
    choices = {}
    for key, (allowed, default) in CHOICES.items():
        choices[key] = doc.get(key, default)
        if choices[key] not in allowed:
            problem(("document", key), f"{key} {choices[key]!r} — write one of: {', '.join(allowed)}")
    timeout = doc.get("park_timeout_hours", 168)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        problem(("document", "park_timeout_hours"), "park_timeout_hours must be a number of hours, e.g. 168")
        timeout = 168
    snapshot, share = doc.get("snapshot", False), doc.get("snapshot_max_absent", 0.2)
    if snapshot not in (True, False) or (snapshot and kind not in ("customer", "product")):
        problem(("document", "snapshot"), "snapshot = true is for customer or product files (full exports)")
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        problem(("document", "snapshot_max_absent"), "snapshot_max_absent is a share, e.g. 0.2 for 20 %")
    require_accounts = doc.get("require_accounts", False)
    if require_accounts not in (True, False) or (require_accounts and kind not in LINE_SECTIONS):
        problem(("document", "require_accounts"), "require_accounts = true is for order or invoice files: "
                                                  "every line must end with an account")
    region = doc.get("default_region")
    if region is not None and not (isinstance(region, str) and len(region) == 2 and region.isalpha()):
        problem(("document", "default_region"), "default_region is a country code, e.g. default_region = \"FR\"")
        region = None
    context = {"region": region.upper() if region else None}

    lines = doc.get("lines")
    select_lines = None
    if lines is not None:
        if not isinstance(lines, str) or kind not in LINE_SECTIONS:
            problem(("document", "lines"), "lines is an XPath (XML) or a key (JSON) naming the lines "
                                           "of an order or invoice, e.g. lines = \"cac:InvoiceLine\"")
        elif parser in XML_PARSERS:
            try:
                select_lines = compile_xpath(lines, namespaces)
            except XPathError as e:
                problem(("document", "lines"), str(e))

    sections: dict[str, list[FieldRule]] = {}
    for section in KINDS.get(kind, ()):
        table = _table(data, section, problem)
        rules = [_field_rule(section, target, spec, date_format, (section, target), problem, context, namespaces)
                 for target, spec in table.items() if target != EXTRA]
        rules += _extra_rules(section, table.get(EXTRA), date_format, problem, context, namespaces)
        sections[section] = [r for r in rules if r is not None]
    if kind == "product" and not any(r.target == "sku" for r in sections.get(kind, [])):
        problem((kind,), "[product] has no sku — say which column holds it, e.g. sku = \"Référence\"")
    elif kind and kind != "product" and not any(r.target == "external_ref" for r in sections.get(kind, [])):
        problem((kind,), f"[{kind}] has no external_ref — say which column identifies the document "
                         f"upstream, e.g. external_ref = \"Name\"")
    if kind == "invoice" and not any(r.target == "amount_due" and r.required for r in sections.get(kind, [])):
        problem((kind,), "[invoice] needs amount_due (BT-115) with required = true — the balance starts from it")
    if kind == "order" and not sections.get("line"):
        problem(("line",), "an order needs a [line] section — map at least quantity and unit_price")
    if kind == "invoice" and not (group_by or lines):
        problem(("document",), "an invoice needs its lines: lines = \"cac:InvoiceLine\" (XML, JSON) "
                               "or group_by = \"column\" (CSV)")
    order_checks = load_order_checks(data.get("order_checks"), kind, problem)
    if problems:
        raise ConfigError(problems)
    return Rules(path=path, parser=parser, options=fmt, decimal_comma=decimal_comma, kind=kind,
                 group_by=group_by, match_customer=match_customer, park_timeout_hours=timeout,
                 sections=sections, lines=lines, select_lines=select_lines, snapshot=snapshot is True,
                 snapshot_max_absent=share, order_checks=order_checks, require_accounts=require_accounts is True,
                 **choices)


def _table(data: dict, name: str, problem) -> dict:
    table = data.get(name, {})
    if not isinstance(table, dict):
        problem((name,), f"{name} must be a table: write [{name}] on its own line")
        return {}
    return table


def _unknown(table: dict, known: set[str], where: tuple, problem) -> None:
    for key in table.keys() - known:
        problem(where + (key,), f"unknown key {key!r} — known keys: {', '.join(sorted(known))}")


def _namespaces(fmt: dict, parser: str, problem) -> dict[str, str]:
    """[format] namespaces (prefix → URI) and, for XML, a valid `record` path."""
    namespaces = fmt.get("namespaces", {})
    if not (isinstance(namespaces, dict) and all(isinstance(v, str) for v in namespaces.values())):
        problem(("format", "namespaces"), "namespaces is a table of prefix = \"URI\", "
                                          "e.g. namespaces = { cbc = \"urn:…CommonBasicComponents-2\" }")
        return {}
    if parser in XML_PARSERS:
        try:
            record_paths(fmt.get("record") or [], namespaces)
            for name in fmt.get("skip", []):
                record_paths("/" + name, namespaces)
        except (XPathError, TypeError) as e:
            problem(("format", "record"), f"{e}")
        if not fmt.get("record"):
            problem(("format",), "an XML rules file needs record = \"/prefix:Root\": the element(s) "
                                 "that are one document each")
    return namespaces


def _extra_rules(section: str, table, date_format, problem, context: dict, namespaces: dict) -> list[FieldRule]:
    """The custom fields of `[section] extra`: text fields with every key a built-in one has,
    sorted by name (the order of their JSON)."""
    if table is None:
        return []
    if not isinstance(table, dict):
        problem((section, EXTRA), f"[{section}] extra is a table of custom fields, "
                                  f"e.g. extra = {{ civility = \"Civilité\" }} or [{section}.extra]")
        return []
    rules = []
    for name, spec in sorted(table.items()):
        where = (section, EXTRA, name)
        if not EXTRA_NAME.fullmatch(name):
            problem(where, f"[{section}] extra.{name}: a custom field's name is lower-case letters, digits "
                           f"and _, not starting with a digit (e.g. civility, customer_group)")
        elif name in TARGETS[section]:
            problem(where, f"[{section}] extra.{name} shadows the built-in field {name!r} — map the built-in "
                           f"field as `{name} = ...` in [{section}], or give the custom field another name")
        elif rule := _field_rule(section, name, spec, date_format, where, problem, context, namespaces,
                                 targets={name: "text"}):
            rule.extra = True
            rules.append(rule)
    return rules


def _field_rule(section: str, target: str, spec, date_format, where: tuple, problem,
                context: dict, namespaces: dict | None = None, targets: dict | None = None) -> FieldRule | None:
    targets = targets or TARGETS[section]
    if target not in targets:
        problem(where, f"[{section}] has no field {target!r} — fields: {', '.join(targets)}, "
                       f"or a custom field under extra")
        return None
    if isinstance(spec, str):
        spec = {"column": spec}
    if not isinstance(spec, dict):
        problem(where, f"{target} must be a column name or a table like {{ column = \"...\" }}")
        return None
    _unknown(spec, FIELD_KEYS, where, problem)
    rule = FieldRule(target=target, type=targets[target], required=bool(spec.get("required", False)))
    sources = [k for k in ("column", "template", "value", "xpath") if k in spec]
    if len(sources) != 1:
        problem(where, f"{target}: write exactly one of column, template, value or xpath")
        return None
    if "xpath" in spec:
        try:
            xpaths = spec["xpath"] if isinstance(spec["xpath"], list) else [spec["xpath"]]
            rule.xpaths = [compile_xpath(x, namespaces or {}) for x in xpaths]
        except (XPathError, TypeError) as e:
            problem(where, f"{target}: {e}")
    elif "column" in spec:
        rule.templates = [[("", spec["column"])]]
    elif "template" in spec:
        templates = spec["template"] if isinstance(spec["template"], list) else [spec["template"]]
        try:
            rule.templates = [_parse_template(t) for t in templates]
        except (ValueError, TypeError) as e:
            problem(where, f"{target}: bad template ({e}) — write e.g. \"{{Prénom}} {{Nom}}\"")
    else:
        rule.constant = str(spec["value"])
    if "default" in spec:
        if not isinstance(spec["default"], str):
            problem(where, f"{target}: default must be a string, e.g. default = \"0.00\"")
        rule.default = str(spec["default"])
    names = spec.get("transform", [])
    for name in [names] if isinstance(names, str) else names:
        if name in CONTEXT_TRANSFORMS:
            rule.transforms.append(CONTEXT_TRANSFORMS[name](context["region"]))
        elif name in TRANSFORMS:
            rule.transforms.append(TRANSFORMS[name])
        else:
            known = ", ".join([*TRANSFORMS, *CONTEXT_TRANSFORMS])
            problem(where, f"{target}: unknown transform {name!r} — known: {known}")
    if "extract" in spec:
        try:
            rule.pattern = re.compile(spec["extract"])
            if rule.pattern.groups < 1:
                raise re.error("it needs one (group)")
        except (re.error, TypeError) as e:
            problem(where, f"{target}: bad extract pattern ({e}) — write e.g. extract = '^(\\d{{5}}) '")
    if "map" in spec:
        if not isinstance(spec["map"], dict) or not all(isinstance(v, str) for v in spec["map"].values()):
            problem(where, f"{target}: map is a table of strings, e.g. map = {{ \"M.\" = \"Mr\" }}")
        else:
            rule.table = {**spec["map"], **{("casefold", k.casefold()): v for k, v in spec["map"].items()}}
    rule.on_unknown = spec.get("on_unknown", "error")
    if rule.on_unknown not in ON_UNKNOWN:
        problem(where, f"{target}: on_unknown {rule.on_unknown!r} — write one of: {', '.join(ON_UNKNOWN)}")
    elif rule.on_unknown == "default" and rule.default is None:
        problem(where, f"{target}: on_unknown = \"default\" needs a default = \"...\"")
    elif rule.on_unknown == "empty" and rule.type != "text":
        problem(where, f"{target}: on_unknown = \"empty\" is for text fields (an account, a code)")
    rule.cleans = bool(rule.pattern or rule.transforms or rule.table)
    rule.strict = spec.get("strict", False)
    if not isinstance(rule.strict, bool):
        problem(where, f"{target}: strict must be true or false")
    rule.doubts = not rule.strict and any(name in CONTEXT_TRANSFORMS for name in
                                          ([names] if isinstance(names, str) else names))
    rule.priority = spec.get("priority", "source")
    if rule.priority not in PRIORITIES:
        problem(where, f"{target}: priority {rule.priority!r} — write one of: {', '.join(PRIORITIES)}")
    if rule.type == "date":
        rule.date_format = spec.get("format", date_format)
        if not rule.date_format:
            problem(where, f"{target} is a date: give its format, e.g. format = \"%d/%m/%Y\" "
                           f"(or date_format in [format])")
    elif "format" in spec:
        problem(where, f"{target}: format only applies to dates")
    return rule


def _parse_template(template: str) -> list[tuple[str, str | None]]:
    parts = []
    for literal, column, spec, conversion in string.Formatter().parse(template):
        if spec or conversion:
            raise ValueError(f"{{{column}}} takes no format spec")
        parts.append((literal, column if column is not None else None))
    if not any(col for _, col in parts):
        raise ValueError("it names no column")
    return parts
