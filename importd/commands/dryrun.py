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
from importd.mapping.mapping import check_columns, in_date_order, map_records
from importd.mapping.rules import Rules
from importd.resolve.numbering import Numbering
from importd.resolve.order_checks import explain_order
from importd.stages.commit import BATCH, apply_plan, resolver_for
from importd.store import Store


@dataclass
class DryRun:
    outcomes: list[dict] = field(default_factory=list)
    differences: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)    # what checks in report mode would refuse once on
    kept: bool = False                                  # replay: the documents stayed in the scratch database
    facts: dict[int, str] = field(default_factory=dict)     # first line → a document's date, total, state
    arithmetic: list[str] = field(default_factory=list)    # orders: what [order_checks] checked, per order


class _Rollback(Exception):
    pass


def dry_run(store: Store, rules: Rules, sample: Path, numbering_formats: dict[str, str],
            source: str, keep: bool = False) -> DryRun:
    """`keep` (a replay into a scratch database, commands/replay.py): commit what the file
    would write, unless the rules' atomicity would have refused it whole."""
    report = DryRun()
    atomicity = rules.atomicity
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
            documents = in_date_order(map_records(records, rules), rules)
            checks = rules.order_checks
            while batch := list(islice(documents, BATCH)):
                if checks is not None:      # before resolve: a catalogue price may replace a line's
                    report.arithmetic += [explain_order(doc, checks, rules.name) for doc in batch
                                          if doc.kind == "order"]
                plan = resolver.plan(batch)
                apply_plan(store, plan, rules, source, file_id=0)
                report.outcomes += plan.outcomes
                report.facts.update((doc.line, _facts(doc.fields)) for doc in batch)
                report.differences += plan.differences
                report.errors += [{**error.as_dict(), "external_ref": doc.external_ref}
                                  for doc, error in plan.rejected]
                report.warnings += [{"line": doc.line, "external_ref": doc.external_ref, "warning": w}
                                    for doc in batch for w in doc.warnings]
                refused = {id(doc) for doc, _ in plan.parked} | {id(doc) for doc, _ in plan.rejected}
                report.reports += [{**r, "external_ref": doc.external_ref} for doc in batch
                                   if id(doc) not in refused for r in doc.reports]
            if keep and not (atomicity == "file" and report.errors):
                numbering.save()
                report.kept = True
                return report
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


# What a reader checks first in a document: its date, its total and currency, its state.
FACTS = (("order_date", "issue_date", "paid_on"), ("total", "total_gross", "amount"), ("currency",), ("status",))


def _facts(fields: dict) -> str:
    return " ".join(str(fields[name]) for names in FACTS for name in names if fields.get(name) is not None)


def _settles(outcome: dict) -> str:
    """What a payment would do: each invoice it settles, the amount to it and the balance after."""
    parts = [f"{a['amount']} to {a['invoice']} (balance after {a['balance_after']}, {a['status']})"
             for a in outcome["allocations"]]
    if outcome.get("unallocated"):
        parts.append(f"{outcome['unallocated']} unallocated: a credit on customer {outcome.get('customer') or '?'}")
    return f"{outcome['amount']}: " + "; ".join(parts)


def render(report: DryRun) -> str:
    """The report as text for a person: one table of documents, then differences and errors."""
    rows = [("line", "outcome", "entity", "external ref", "number", "detail")]
    for o in report.outcomes:
        detail = o.get("reason") or (f"customer {o['customer']}" if o.get("customer") else "")
        if "allocations" in o:
            detail = _settles(o)
        detail = " ".join(filter(None, (report.facts.get(o["line"]), detail)))
        if o.get("extra"):
            detail = " ".join(filter(None, (detail, *(f"{k}={v!r}" for k, v in o["extra"].items()))))
        rows.append((str(o["line"]), o["outcome"], o["entity"], o["external_ref"], o["number"], detail))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out = ["  ".join(cell.ljust(widths[i]) if i < 5 else cell for i, cell in enumerate(row)).rstrip()
           for row in rows]
    if report.arithmetic:
        out += ["", "order arithmetic:"] + [f"  {a}" for a in report.arithmetic]
    if report.differences:
        out += ["", "differences:"]
        out += [f"  {d['entity']} {d['external_ref']}: {d['field']} stored {d['stored']!r}, file {d['incoming']!r}"
                + (f" (before tax {d['incoming_before_tax']!r}: {d['basis']})" if d.get("incoming_before_tax") else "")
                + f" → {d.get('kept', 'held')} ({d['priority']})" for d in report.differences]
    if report.warnings:
        out += ["", "warnings:"] + [f"  line {w['line']}: {w['warning']}" for w in report.warnings]
    if report.reports:
        out += ["", "imported, but refused once its check is on (the rules file predates the check):"]
        out += [f"  line {r['line'] or '-'}: {r['check']} {r['code']}: {r['message']} — turn it on: {r['opt_in']}"
                for r in report.reports]
    if report.errors:
        out += ["", "errors:"] + [f"  line {e.get('line') or '-'}: {e['code']}: {e['message']}" for e in report.errors]
    total = len(report.outcomes)
    out += ["", f"{total} document(s), {len(report.errors)} error(s); nothing was written, no number consumed"]
    return "\n".join(out)
