"""Rules files, compiled: the plain objects the map stage runs.

A rules file says how one kind of incoming file becomes documents: its format,
the document kind, and for each target field where its value comes from. See
rules/README.md for every key; `importd.mapping.rules_loader` reads and checks the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from importd.errors import ValueDoubtful, ValueRejected
from importd.mapping.order_rules import OrderChecks
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
    optional: bool = False                      # its column may be missing from the header (then empty)

    def correspond(self, text: str) -> str:
        """Extract, transform and look up `text`; ValueRejected when it does not correspond."""
        if self.pattern is not None:
            match = self.pattern.search(text)
            if not match:
                raise ValueRejected("unknown_value", f"{text!r} does not match {self.pattern.pattern!r}")
            text = match.group(1).strip()
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
        return {col for template in self.templates for _, col in template if col is not None}

    def text(self, raw) -> str:
        """The trimmed source text: the first template (or XPath) that gives a non-empty value.

        `raw` is a record's dict of fields, or its XML element for XPath rules.
        """
        if self.constant is not None:
            return self.constant
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
    _columns: frozenset | None = field(default=None, compare=False, repr=False)   # `columns`, worked out once

    def rule(self, section: str, target: str) -> FieldRule | None:
        return next((r for r in self.sections.get(section, ()) if r.target == target), None)

    def priority(self, section: str, target: str) -> str:
        rule = self.rule(section, target)
        return rule.priority if rule else "source"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def columns(self) -> frozenset[str]:
        """The source columns the rules read (checked against each file's header)."""
        if self._columns is None:
            cols = {col for rules in self.sections.values() for rule in rules if not rule.optional
                    for col in rule.columns}
            self._columns = frozenset(cols | ({self.group_by} if self.group_by else set()))
        return self._columns
