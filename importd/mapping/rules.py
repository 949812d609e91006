"""Rules files, compiled: the plain objects the map stage runs.

A rules file says how one kind of incoming file becomes documents: its format,
the document kind, and for each target field where its value comes from. See
rules/README.md for every key; `importd.mapping.rules_loader` reads and checks the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from importd.errors import ValueDoubtful, ValueRejected
from importd.mapping.order_rules import OrderChecks
from importd.mapping.values import parse_xsd_decimal
from importd.mapping.versions import ENFORCE, RULES_VERSION
from parsers.xml import text_of


@dataclass(slots=True)
class FieldRule:
    """Where one target field's value comes from and how it is cleaned."""

    target: str
    type: str                                   # text | decimal | date
    templates: list[list[tuple[str, str | None]]] = field(default_factory=list)
    constant: str | None = None
    default: str | None = None
    required: bool = False
    transforms: list = field(default_factory=list)
    date_format: str | None = None
    pattern: re.Pattern | None = None           # extract: the first group of this regex
    table: dict[str, str] | None = None         # map: a correspondence table
    on_unknown: str = "error"                   # error | default | keep | empty
    priority: str = "source"                    # who wins over a stored value
    xpaths: list = field(default_factory=list)  # XML: evaluators, the first non-empty wins
    cleans: bool = False                        # has an extract, transforms or a map (else skip them)
    strict: bool = False                        # a doubtful value (phone not valid) is an error, not a warning
    doubts: bool = False                        # may keep a doubtful value with a warning (a phone, not strict)
    extra: bool = False                         # a custom field: kept in the section's `extra` JSON
    sums: bool = False                          # XML: the exact sum of every node the xpath selects
    find_all: re.Pattern | None = None          # every match of this regex, in order, joined by a space
    minus: list = field(default_factory=list)   # amounts subtracted from this one (FieldRules)
    sign: "FieldRule | None" = None             # where the direction is said (negative_if)
    negative: frozenset = frozenset()           # the sign's values that make the amount negative
    optional: bool = False                      # its column may be missing from the header (then empty)

    def correspond(self, text: str) -> str:
        """Extract, transform and look up `text`; ValueRejected when it does not correspond."""
        if self.pattern is not None:
            match = self.pattern.search(text)
            if not match:
                raise ValueRejected("unknown_value", f"{text!r} does not match {self.pattern.pattern!r}")
            text = match.group(1).strip()
        if self.find_all is not None:
            found = dict.fromkeys(m.group(m.re.groups and 1).strip() for m in self.find_all.finditer(text))
            found.pop("", None)
            if not found:
                raise ValueRejected("unknown_value", f"{text!r} holds nothing like {self.find_all.pattern!r}",
                                    hint="check the field's find_all pattern against the text")
            text = " ".join(found)
        doubt = None
        for transform in self.transforms:
            try:
                text = transform(text)
            except ValueDoubtful as e:      # possible but not known valid: kept with a warning, unless strict
                if self.strict:
                    raise e.rejected() from None
                text, doubt = e.value, e
        if self.table is not None:
            value = self.table.get(text)
            if value is None:
                value = self.table.get(("casefold", text.casefold()))
            if value is None:
                known = ", ".join(repr(k) for k in self.table if isinstance(k, str))
                raise ValueRejected("unknown_value", f"{text!r} is not in the table (known: {known})",
                                    hint="add it to the field's map, or set on_unknown")
            text = value
        if doubt is not None:
            raise ValueDoubtful(text, doubt.code, doubt.message, doubt.hint)
        return text

    @property
    def columns(self) -> set[str]:
        own = {col for template in self.templates for _, col in template if col is not None}
        for helper in (*self.minus, *([self.sign] if self.sign else [])):
            own |= helper.columns
        return own

    def text(self, raw) -> str:
        """The trimmed source text: the first template (or XPath) that gives a non-empty value.

        `raw` is a record's dict of fields, or its XML element for XPath rules.
        """
        if self.constant is not None:
            return self.constant
        if self.sums:
            return _sum_of(self.xpaths, raw)
        for xpath in self.xpaths:
            for item in xpath(raw)[:1]:               # the first node in document order
                value = " ".join(text_of(item).split())
                if value:
                    return value
        for template in self.templates:
            if len(template) == 1 and template[0][0] == "":
                value = raw.get(template[0][1], "").strip()   # the common case: one column
            else:
                if all(col is not None and not raw.get(col, "").strip() for _, col in template if col):
                    continue
                value = "".join(lit + (raw.get(col, "").strip() if col else "") for lit, col in template)
                value = " ".join(value.split())
            if value:
                return value
        return ""


def _sum_of(xpaths: list, node) -> str:
    """`sum = true`: the exact sum of the values the first xpath that selects any gives ("" for none).

    XPath's own sum() counts in binary floats; money is added here as decimals.
    """
    for xpath in xpaths:
        values = [text for item in xpath(node) if (text := "".join(text_of(item).split()))]
        if values:
            return str(sum(map(parse_xsd_decimal, values), Decimal(0)))
    return ""


@dataclass(slots=True)
class Rules:
    path: Path
    parser: str
    options: dict                      # the [format] table, for the parser
    decimal_comma: bool
    kind: str
    group_by: str | None
    match_customer: list[str]
    missing_customer: str
    missing_product: str
    atomicity: str
    chronology: str
    park_timeout_hours: float
    sections: dict[str, list[FieldRule]]
    shared_key: str = "create"         # create | review (| merge: a reviewer's decision, never in a file)
    snapshot: bool = False             # each file lists every record of its kind for the source
    snapshot_max_absent: float = 0.2   # a larger share missing holds the snapshot for confirmation
    lines: str | None = None           # [document] lines: the XPath (XML) or key (JSON) of the lines
    select_lines: object = None        # XML: compiled `lines`, node → line elements
    compiled: dict = field(default_factory=dict)   # the map stage's compiled plans (importd.mapping.compiled)
    order_checks: OrderChecks | None = None        # orders: the arithmetic to check ([order_checks])
    require_accounts: bool = False     # a line (or shipping) left with no account refuses the file
    version: int = RULES_VERSION       # rules_version: which release's meaning the file has (versions.py)
    check_modes: dict = field(default_factory=dict)   # check name → "enforce" | "report" (versions.py)
    each_steps: tuple | None = None    # XML payments: the nested elements that are one payment each
    skips: list = field(default_factory=list)      # [[skip]]: records left out (importd.mapping.skips)
    header_only: bool = False          # [document] lines = "none": orders without lines
    warnings: list = field(default_factory=list)   # what `importd check` says of a valid file (a weak match key)
    states: tuple[str, ...] = ()       # [document] states: order fields that follow upstream once numbered
    _columns: frozenset | None = field(default=None, compare=False, repr=False)   # `columns`, worked out once

    def rule(self, section: str, target: str) -> FieldRule | None:
        return next((r for r in self.sections.get(section, ()) if r.target == target), None)

    def priority(self, section: str, target: str) -> str:
        rule = self.rule(section, target)
        return rule.priority if rule else "source"

    def check_mode(self, name: str) -> str:
        """"enforce" (a failure refuses) or "report" (a failure is a warning): importd.mapping.versions."""
        return self.check_modes.get(name, ENFORCE)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def columns(self) -> frozenset[str]:
        """The source columns the rules read (checked against each file's header)."""
        if self._columns is None:
            cols = {col for rules in self.sections.values() for rule in rules if not rule.optional
                    for col in rule.columns}
            cols |= {skip.column for skip in self.skips if skip.column}
            self._columns = frozenset(cols | ({self.group_by} if self.group_by else set()))
        return self._columns
