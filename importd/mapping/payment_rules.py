"""The keys of a rules file that payments need (rules/README.md "Money in"), read and checked:
`find_all`, `subtract`, `negative_if` on a field, and the rule that an XPath stays inside its
record. Kept apart from rules_loader so both read in one sitting."""

from __future__ import annotations

import re

from importd.mapping.rules import FieldRule
from parsers.xml import climbs


def stays_inside(xpath: str, section: str, target: str, context: dict, where: tuple, problem) -> None:
    """An XPath that climbs out of its record would read what the stream has half dropped: refused."""
    allowed = context.get("climb", {}).get(section, 0)
    levels = climbs(xpath)
    if levels is not None and levels <= allowed:
        return
    if levels is None:
        how = "it starts outside the record (an absolute path, or a parent:: or ancestor:: axis)"
    else:
        how = f"it climbs {levels} level(s) with '..'"
    if section == "payment" and context.get("each"):
        inside = f"each payment is read from [document] each = {context['each']!r}, {allowed} level(s) below its record"
    elif allowed:
        inside = f"a line is {allowed} level(s) below its document"
    else:
        inside = "XPaths start at the record element and stay inside it"
    problem(where, f"{target}: xpath {xpath!r} leaves its record: {how}, and {inside} — read it relative to "
                   f"the record, or make the record the enclosing element ([format] record) and the nested "
                   f"ones the payments ([document] each)")


def payment_keys(rule: FieldRule, section: str, target: str, spec: dict, date_format, where: tuple, problem,
                 context: dict, namespaces, field_rule) -> None:
    """find_all, subtract and negative_if: several references in one text, amounts that add up."""
    if "find_all" in spec:
        try:
            rule.find_all = re.compile(spec["find_all"])
            if rule.find_all.groups > 1 or rule.type != "text":
                raise re.error("a text field's pattern, with at most one (group)")
        except (re.error, TypeError) as e:
            problem(where, f"{target}: bad find_all pattern ({e}) — write e.g. find_all = 'F\\d{{4}}-\\d+'")
        rule.cleans = True
    subtract = spec.get("subtract")
    if subtract is not None:
        if rule.type != "decimal":
            problem(where, f"{target}: subtract is for amounts")
        for i, part in enumerate(subtract if isinstance(subtract, list) else [subtract]):
            minus = field_rule(section, f"{target}.subtract.{i}", part, date_format, where + ("subtract",),
                               problem, context, namespaces, targets={f"{target}.subtract.{i}": "decimal"})
            if minus is not None:
                rule.minus.append(minus)
    negative = spec.get("negative_if")
    if negative is not None:
        values = negative.get("in") if isinstance(negative, dict) else None
        if rule.type != "decimal" or not (isinstance(values, list) and values
                                          and all(isinstance(v, str) for v in values)):
            problem(where, f"{target}: negative_if names where the sign is and the values that make the amount "
                           f"negative, e.g. negative_if = {{ xpath = \"c:CdtDbtInd\", in = [\"DBIT\"] }}")
            return
        sign = field_rule(section, f"{target}.negative_if", {k: v for k, v in negative.items() if k != "in"},
                           date_format, where + ("negative_if",), problem, context, namespaces,
                           targets={f"{target}.negative_if": "text"})
        if sign is not None:
            sign.required = True        # an amount whose direction is not said is not booked either way
            rule.sign, rule.negative = sign, frozenset(values)
