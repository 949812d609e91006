"""Reading a rules file: every key checked, every problem reported at once, the result
compiled into the objects of `importd.mapping.rules` (FieldRule, Rules)."""

from __future__ import annotations

import re
import string
from pathlib import Path

from importd.errors import ConfigError
from importd.mapping.order_rules import load_order_checks
from importd.mapping.payment_rules import payment_keys, stays_inside
from importd.mapping.rules import FieldRule, Rules
from importd.mapping.skips import load_skips
from importd.mapping.state_rules import load_states
from importd.mapping.transforms import CONTEXT_TRANSFORMS, TRANSFORMS
from importd.mapping.versions import check_modes, load_version
from importd.model import EXTRA, KINDS, LINE_SECTIONS, TARGETS
from importd.tomlfile import TomlFile
from parsers import FORMATS
from parsers.limits import LIMITS, problem as limit_problem
from parsers.xml import XPathError, clark, compile_xpath, record_paths

FORMAT_KEYS = {"parser", "encoding", "delimiter", "quotechar", "decimal_comma", "date_format",
               "namespaces", "record", "skip", "sheet", "max_unzipped_mb", *LIMITS}
XML_PARSERS = ("xml", "facturx")
NO_LINES = "none"       # [document] lines = "none": orders of a header only (totals, no lines)
DOCUMENT_KEYS = {"kind", "group_by", "match_customer", "missing_customer", "missing_product", "atomicity",
                 "chronology", "park_timeout_hours", "default_region", "lines", "shared_key",
                 "snapshot", "snapshot_max_absent", "require_accounts", "states", "each"}
FIELD_KEYS = {"column", "template", "value", "xpath", "default", "required", "transform", "format", "map",
              "extract", "on_unknown", "priority", "strict", "optional", "sum", "find_all", "subtract",
              "negative_if"}
SOURCE_KEYS = ("column", "template", "value", "xpath")
CHOICES = {   # [document] key → (allowed values, default)
    "missing_customer": (("create", "park", "reject"), "create"),
    "missing_product": (("ignore", "create", "park", "reject"), "ignore"),
    "atomicity": (("file", "document"), "file"),
    "chronology": (("warn", "review"), "warn"),
    # A key match on a record that carries another upstream reference of the same source.
    "shared_key": (("create", "review"), "create"),
}
ON_UNKNOWN = ("error", "default", "keep", "empty")
# match_customer keys that do not tell people apart on their own (rules/README.md, "Match keys"):
# any key of the list may be the one that matches, so each one is judged alone.
WEAK_KEYS = {
    "name": "people share names, and exports abbreviate them (\"J. Dupont\")",
    "address1": "a household or a building shares an address", "address2": "many share it",
    "postcode": "a whole town shares it", "city": "a whole town shares it", "country": "a whole country shares it",
    "account": "customers often share one receivable account (411000)",
}
EXTRA_NAME = re.compile(r"[a-z_][a-z0-9_]*")
PRIORITIES = ("source", "database", "fill", "review")
TODO = "TODO:"          # a value `importd rules draft` could not decide: refused until a person does


def load_rules(path: Path) -> Rules:
    """Read and check a rules file; every problem is reported at once (ConfigError)."""
    toml = TomlFile(path)
    data = toml.data
    problems: list[str] = []

    def problem(where: tuple, text: str) -> None:
        problems.append(f"{toml.where(*where)}: {text}")

    for where, text in _todos(data):
        problem(where, f"{'.'.join(map(str, where))} is still a TODO, a decision left to a person: {text[5:].strip()} "
                       f"— replace the TODO with the answer")

    for key in data.keys() - {"rules_version", "format", "document", "order_checks", "skip", *TARGETS}:
        problem((key,), f"unknown section [{key}] — sections are [format], [document], [order_checks], "
                        f"[[skip]], {', '.join(f'[{t}]' for t in TARGETS)} (and the key rules_version)")
    version = load_version(data, problem)

    fmt = _table(data, "format", problem)
    _unknown(fmt, FORMAT_KEYS, ("format",), problem)
    parser = fmt.get("parser", "csv")
    if parser not in FORMATS:
        problem(("format", "parser"), f"unknown parser {parser!r} — write one of: {', '.join(FORMATS)}")
    decimal_comma = fmt.get("decimal_comma", False)
    if not isinstance(decimal_comma, bool) and not str(decimal_comma).startswith(TODO):
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
    warnings = [f"{toml.where('document', 'match_customer')}: warning: match_customer {key!r} is a weak key — "
                f"{WEAK_KEYS[key]}; two different customers may be merged into one. Prefer email or vat_number "
                f"(see rules/README.md, \"Match keys\")" for key in match_customer if key in WEAK_KEYS]
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
    header_only = lines == NO_LINES
    if header_only:
        if kind != "order":
            problem(("document", "lines"), "lines = \"none\" is for orders: an export of order totals, "
                                           "one row per order")
        lines = None
        if isinstance(data.get("line"), dict) and data["line"]:
            problem(("line",), "[document] lines = \"none\" says the orders have no lines: "
                               "remove the [line] section, or the lines = \"none\"")
    elif lines is not None:
        if not isinstance(lines, str) or kind not in LINE_SECTIONS:
            problem(("document", "lines"), "lines is an XPath (XML) or a key (JSON) naming the lines "
                                           "of an order or invoice, e.g. lines = \"cac:InvoiceLine\"")
        elif parser in XML_PARSERS:
            try:
                select_lines = compile_xpath(lines, namespaces)
            except XPathError as e:
                problem(("document", "lines"), str(e))

    each, each_steps = doc.get("each"), None
    if each is not None:
        if not (isinstance(each, str) and kind == "payment" and parser in XML_PARSERS):
            problem(("document", "each"), "each is for XML payment files: the path, relative to the record, of "
                                          "the elements that are one payment each, e.g. each = \"c:NtryDtls/c:TxDtls\"")
        elif any(step.strip() in ("", ".", "..") or "[" in step for step in each.strip().split("/")):
            problem(("document", "each"), f"each: {each!r} must be element names going down from the record, "
                                          f"e.g. each = \"c:NtryDtls/c:TxDtls\" (no leading /, ., .. or filter)")
        else:
            try:
                each_steps = tuple(clark(step.strip(), namespaces) for step in each.strip().split("/"))
            except XPathError as e:
                problem(("document", "each"), f"each: {e}")
    # How far up an XPath may go and stay inside its record: a payment's fields from the
    # elements of `each` up to the record; a line's up to its document.
    context["climb"] = {"payment": len(each_steps or ()),
                        **{s: _depth(lines) for s in LINE_SECTIONS.values()}}
    context["each"] = each
    context["xml"] = parser in XML_PARSERS

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
    if kind == "order" and not sections.get("line") and not header_only:
        problem(("line",), "an order needs a [line] section — map at least quantity and unit_price; "
                           "for an export of order totals only, write lines = \"none\" in [document]")
    if kind == "invoice" and not (group_by or lines):
        problem(("document",), "an invoice needs its lines: lines = \"cac:InvoiceLine\" (XML, JSON) "
                               "or group_by = \"column\" (CSV)")
    order_checks = load_order_checks(data.get("order_checks"), kind, problem, decimal_comma is True)
    skips = load_skips(data.get("skip"), kind, sections, parser, namespaces, problem)
    states = load_states(doc.get("states"), kind, sections, problem)
    if problems:
        raise ConfigError(problems)
    return Rules(path=path, parser=parser, options=fmt, decimal_comma=decimal_comma, kind=kind,
                 group_by=group_by, match_customer=match_customer, park_timeout_hours=timeout,
                 sections=sections, lines=lines, select_lines=select_lines, snapshot=snapshot is True,
                 snapshot_max_absent=share, order_checks=order_checks, require_accounts=require_accounts is True,
                 version=version, check_modes=check_modes(data, version, kind),
                 each_steps=each_steps, skips=skips, states=states, header_only=header_only,
                 warnings=warnings, **choices)


def _todos(value, where: tuple = ()) -> list[tuple[tuple, str]]:
    """Every string that starts with "TODO:" (what `importd rules draft` leaves a person to decide)."""
    if isinstance(value, str):
        return [(where, value)] if value.startswith(TODO) else []
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _todos(item, where + (key,))]
    if isinstance(value, list):
        return [found for item in value for found in _todos(item, where)]
    return []


def _depth(lines) -> int:
    """The steps of `[document] lines` (its deepest alternative): how far a line's XPath may climb."""
    if not isinstance(lines, str):
        return 0
    return max(len([s for s in part.strip().split("/") if s]) for part in lines.split("|"))


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
    if not (isinstance(namespaces, dict) and all(
            isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(u, str) for u in v))
            for v in namespaces.values())):
        problem(("format", "namespaces"), "namespaces is a table of prefix = \"URI\" (or a list of URIs, the "
                                          "versions of one standard, read alike), e.g. namespaces = "
                                          "{ cbc = \"urn:…CommonBasicComponents-2\" }")
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
    sources = [k for k in SOURCE_KEYS if k in spec]
    if len(sources) != 1:
        problem(where, f"{target}: write exactly one of column, template, value or xpath")
        return None
    if "xpath" in spec:
        try:
            xpaths = spec["xpath"] if isinstance(spec["xpath"], list) else [spec["xpath"]]
            rule.xpaths = [compile_xpath(x, namespaces or {}) for x in xpaths]
            for x in xpaths:
                stays_inside(x, section, target, context, where, problem)
        except (XPathError, TypeError) as e:
            problem(where, f"{target}: {e}")
        if spec.get("sum", False) is not False:
            if spec["sum"] is not True or rule.type != "decimal":
                problem(where, f"{target}: sum = true adds up every node the xpath selects, for an amount")
            rule.sums = True
    elif "column" in spec:
        rule.templates = [[("", spec["column"])]]
    elif "template" in spec and context.get("xml"):
        problem(where, f"{target}: a template joins columns, and an XML record has none — read XML with "
                       f"xpath (several values joined: xpath = \"concat(c:A, ' ', c:B)\")")
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
    rule.optional = spec.get("optional", False)
    if not isinstance(rule.optional, bool) or (rule.optional and (rule.required or "column" not in spec)):
        problem(where, f"{target}: optional = true is for a column an older layout of the export lacks "
                       f"(not with required, only with column)")
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
    payment_keys(rule, section, target, spec, date_format, where, problem, context, namespaces, _field_rule)
    return rule


def _parse_template(template: str) -> list[tuple[str, str | None]]:
    parts = []
    for literal, column, spec, conversion in string.Formatter().parse(template):
        if spec or conversion:
            raise ValueError(f"{{{column}{':' + spec if spec else ''}}} is not a column name: a template names "
                             f"columns only, with no format spec (an XML field reads an xpath)")
        parts.append((literal, column if column is not None else None))
    if not any(col for _, col in parts):
        raise ValueError("it names no column")
    return parts
