"""Row filters: `[[skip]]` tables of a rules file, read and applied.

A record (a row, an XML element, a JSON object) that a skip matches is left
out before anything is resolved or numbered: it becomes a document marked
`skip` (the reason), which the resolve stage counts as `skipped`, logs and
acknowledges, and which takes no number. Several tables: any of them skips.

```toml
[[skip]]
column = "État"                              # or xpath = "…" (XML), or field = "status" (the mapped value)
in = ["Annulé", "Erreur de paiement"]        # or equals = "…", or matches = "regex"
reason = "cancelled"                         # optional: shown in the ack, the log and check
```

A `column` or `xpath` skip reads the source's text (trimmed) before any mapping,
so a skipped record's other values are never judged; a `field` skip reads the
value after `map`, `transform` and typing (its text: a decimal as written by
Decimal, a date as ISO). For orders grouped from several rows, the first row of
the group decides, as it gives the order's own fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field as dataclass_field

from parsers.xml import XPathError, compile_xpath, text_of

SKIP_KEYS = {"column", "xpath", "field", "in", "equals", "matches", "reason"}


@dataclass(slots=True)
class Skip:
    """One `[[skip]]` table: where the value comes from and what it must be to skip."""

    reason: str                          # "" : the reason says which value skipped
    label: str = ""                      # the column, xpath or field, as the rules name it
    column: str | None = None
    xpath: object = None                 # compiled: node → nodes
    field: tuple[str, str] | None = None  # (section, target) of the mapped value
    values: frozenset | None = None      # `in` and `equals`
    pattern: re.Pattern | None = None    # `matches` (re.search)
    _header: object = dataclass_field(default=None, repr=False)
    _position: int | None = dataclass_field(default=None, repr=False)

    def hits(self, text: str) -> bool:
        if self.values is not None:
            return text in self.values
        return bool(self.pattern.search(text))

    def raw_text(self, record) -> str | None:
        """The source text this skip reads in `record`; None for a `field` skip."""
        if self.xpath is not None:
            node = record.node
            if node is None:
                return ""
            return next((" ".join(text_of(item).split()) for item in self.xpath(node)[:1]), "")
        if self.column is None:
            return None
        header = getattr(record, "header", None)
        if header is not None:          # a row read by position: find the column once per header
            if header is not self._header:
                self._header = header
                self._position = header.index(self.column) if self.column in header else None
            return record.values[self._position].strip() if self._position is not None else ""
        value = record.fields.get(self.column)
        return "" if value is None else str(value).strip()


def skip_by_record(skips: list[Skip], record) -> str | None:
    """The reason the first column/xpath skip that matches `record` gives, else None."""
    for skip in skips:
        text = skip.raw_text(record)
        if text is not None and skip.hits(text):
            return skip.reason or f"{skip.label} is {text!r}"
    return None


def skip_by_fields(skips: list[Skip], kind: str, fields: dict, customer: dict | None) -> str | None:
    """The reason the first `field` skip that matches the mapped values gives, else None."""
    for skip in skips:
        if skip.field is None:
            continue
        section, target = skip.field
        values = fields if section == kind else (customer or {})
        value = values.get(target)
        text = "" if value is None else str(value)
        if skip.hits(text):
            return skip.reason or f"{skip.label} is {text!r}"
    return None


def load_skips(tables, kind: str | None, sections: dict, parser: str, namespaces: dict, problem) -> list[Skip]:
    """The `[[skip]]` array of a rules file, every mistake reported through `problem`."""
    if tables is None:
        return []
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problem(("skip",), "skip is an array of tables: write [[skip]] on its own line, then column = \"…\" "
                           "and in = [\"…\"] under it")
        return []
    skips = []
    for i, table in enumerate(tables):
        where = ("skip", i)
        for key in table.keys() - SKIP_KEYS:
            problem(where + (key,), f"unknown key {key!r} in [[skip]] — known keys: {', '.join(sorted(SKIP_KEYS))}")
        sources = [k for k in ("column", "xpath", "field") if k in table]
        tests = [k for k in ("in", "equals", "matches") if k in table]
        if len(sources) != 1:
            problem(where, "[[skip]]: write exactly one of column = \"…\", xpath = \"…\" (XML) or field = \"…\" "
                           "(a mapped value)")
            continue
        if len(tests) != 1:
            problem(where, "[[skip]]: write exactly one of in = [\"…\", …], equals = \"…\" or matches = \"regex\"")
            continue
        reason = table.get("reason", "")
        if not isinstance(reason, str):
            problem(where + ("reason",), "reason is a short text, e.g. reason = \"cancelled\"")
            reason = ""
        skip = Skip(reason=reason)
        source, test = sources[0], tests[0]
        spec = table[source]
        if not isinstance(spec, str) or not spec:
            problem(where + (source,), f"{source} must be a non-empty string")
            continue
        if source == "column":
            skip.column = spec
        elif source == "xpath":
            if parser not in ("xml", "facturx"):
                problem(where + ("xpath",), "xpath is for XML rules files; write column = \"…\" here")
                continue
            try:
                skip.xpath = compile_xpath(spec, namespaces)
            except XPathError as e:
                problem(where + ("xpath",), str(e))
                continue
        else:
            section, _, target = spec.rpartition(".")
            section = section or kind
            if not any(r.target == target for r in sections.get(section, ())):
                problem(where + ("field",), f"field {spec!r} is not mapped in this rules file — name a field "
                                            f"of [{kind}] (e.g. field = \"status\") or customer.<field>")
                continue
            skip.field = (section, target)
        value = table[test]
        if test == "in":
            if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
                problem(where + ("in",), "in is a list of texts, e.g. in = [\"Annulé\", \"Erreur de paiement\"]")
                continue
            skip.values = frozenset(v.strip() for v in value)
        elif test == "equals":
            if not isinstance(value, str):
                problem(where + ("equals",), "equals is a text, e.g. equals = \"Annulé\"")
                continue
            skip.values = frozenset([value.strip()])
        else:
            try:
                skip.pattern = re.compile(value)
            except (re.error, TypeError) as e:
                problem(where + ("matches",), f"bad regular expression ({e}) — write e.g. matches = '^FRAIS'")
                continue
        skip.label = spec
        skips.append(skip)
    return skips
