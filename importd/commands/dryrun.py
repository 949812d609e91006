"""`importd check RULES SAMPLE`: what a file would do, without writing anything.

The sample goes through parse, map and resolve against the real database
inside a transaction that is always rolled back: the numbers shown are the
ones the documents would get, and none is consumed. Every bad document is
reported (atomicity is "document" here) with its line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import parsers
from importd.errors import FileRejected
from importd.mapping.mapping import check_columns, map_records
from importd.mapping.rules import Rules
from importd.resolve.numbering import Numbering
from importd.stages.commit import BATCH, apply_plan, resolver_for
from importd.store import Store


@dataclass
class DryRun:
    outcomes: list[dict] = field(default_factory=list)
    differences: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)


class _Rollback(Exception):
    pass


def dry_run(store: Store, rules: Rules, sample: Path, numbering_formats: dict[str, str],
            source: str) -> DryRun:
    report = DryRun()
    rules = replace(rules, atomicity="document")
    try:
        records = parsers.open_records(rules.parser, sample, rules.options)
    except parsers.ParseError as e:
        report.errors.append({"code": e.code, "message": e.message, "line": e.line, "field": e.field})
        return report
    try:
        check_columns(rules, records.columns)
        with store.transaction():
            numbering = Numbering(store, numbering_formats)
            resolver = resolver_for(store, rules, source, numbering, file_id=0)
            documents = map_records(records, rules)
            while batch := list(islice(documents, BATCH)):
                plan = resolver.plan(batch)
                apply_plan(store, plan, rules, source, file_id=0)
                report.outcomes += plan.outcomes
                report.differences += plan.differences
                report.errors += [{**error.as_dict(), "external_ref": doc.external_ref}
                                  for doc, error in plan.rejected]
                report.warnings += [{"line": doc.line, "external_ref": doc.external_ref, "warning": w}
                                    for doc in batch for w in doc.warnings]
            raise _Rollback
    except _Rollback:
        pass
    except FileRejected as e:
        report.errors.append(e.as_dict())
    except parsers.ParseError as e:
        report.errors.append({"code": e.code, "message": e.message, "line": e.line, "field": e.field})
    finally:
        records.close()
    return report


def render(report: DryRun) -> str:
    """The report as text for a person: one table of documents, then differences and errors."""
    rows = [("line", "outcome", "entity", "external ref", "number", "detail")]
    for o in report.outcomes:
        detail = o.get("reason") or (f"customer {o['customer']}" if o.get("customer") else "")
        if o.get("extra"):
            detail = " ".join(filter(None, (detail, *(f"{k}={v!r}" for k, v in o["extra"].items()))))
        rows.append((str(o["line"]), o["outcome"], o["entity"], o["external_ref"], o["number"], detail))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out = ["  ".join(cell.ljust(widths[i]) if i < 5 else cell for i, cell in enumerate(row)).rstrip()
           for row in rows]
    if report.differences:
        out += ["", "differences:"]
        out += [f"  {d['entity']} {d['external_ref']}: {d['field']} stored {d['stored']!r}, file {d['incoming']!r}"
                f" → {d.get('kept', 'held')} ({d['priority']})" for d in report.differences]
    if report.warnings:
        out += ["", "warnings:"] + [f"  line {w['line']}: {w['warning']}" for w in report.warnings]
    if report.errors:
        out += ["", "errors:"] + [f"  line {e.get('line') or '-'}: {e['code']}: {e['message']}" for e in report.errors]
    total = len(report.outcomes)
    out += ["", f"{total} document(s), {len(report.errors)} error(s); nothing was written, no number consumed"]
    return "\n".join(out)
