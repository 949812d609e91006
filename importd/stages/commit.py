"""The commit stage: one transaction per file — numbers, rows, references, ledger.

Documents stream in and are written in batches (executemany); counters are
saved and the ledger row marked just before COMMIT, so the file's documents,
its numbers and its outcome become durable together or not at all. Held
documents are parked in the same transaction; with `atomicity = "document"`
rejected documents go to a rejects file instead of failing the file.
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Iterable

from importd.mapping.mapping import in_date_order
from importd.mapping.rules import Rules
from importd.model import Document
from importd.resolve.invoices import InvoicePlan, InvoiceResolver, apply_invoice_plan
from importd.resolve.numbering import Numbering
from importd.resolve.resolve import Plan, Resolver
from importd.stages.rejects import Rejects
from importd.stages.snapshot import apply_snapshot
from importd.store import Store, now, rooms

BATCH = 500
MAX_LISTED = 1000      # rejected documents listed in the ledger summary
WARNINGS_LOGGED = 5    # per file: a file of out-of-order orders must not log one line per order
REPORTS_LOGGED = 100   # per file: check.would_refuse lines, one per document; past it one line with the count
SKIPS_LOGGED = 20      # per file: skipped documents logged one by one; the ack and the summary count them all


@dataclass
class Result:
    state: str = "imported"                 # imported | duplicate
    documents: int = 0
    counts: dict[str, int] = field(default_factory=dict)      # created, updated, duplicate, parked, …
    numbers: dict[str, list[str]] = field(default_factory=dict)
    rejected: list[dict] = field(default_factory=list)
    warnings: int = 0
    warning_examples: list[dict] = field(default_factory=list)    # the first WARNINGS_LOGGED
    reported: int = 0                       # documents a check in report mode would have refused
    reported_by: dict[str, dict[str, int]] = field(default_factory=dict)    # check → code → documents
    opt_in: dict[str, str] = field(default_factory=dict)                    # check → the line that turns it on
    skipped_logged: int = 0                 # skipped documents seen, the first SKIPS_LOGGED logged one by one

    def summary(self, records: int) -> dict:
        out = {"records": records, "documents": self.documents, "counts": self.counts, "numbers": self.numbers}
        if self.counts.get("skipped"):
            out["skipped"] = self.counts["skipped"]
        if self.rejected:
            out["rejected"] = self.rejected[:MAX_LISTED]
        if self.warnings:
            out["warnings"] = {"count": self.warnings, "examples": self.warning_examples}
        if self.reported:
            out["would_refuse"] = {"count": self.reported, "checks": self.reported_by, "opt_in": self.opt_in}
        return out

    def would_refuse(self, logger, doc: Document) -> None:
        """Count, and log (one line per document, up to REPORTS_LOGGED), what checks in report mode
        would have refused of `doc`."""
        self.reported += 1
        for report in doc.reports:
            by_code = self.reported_by.setdefault(report["check"], {})
            by_code[report["code"]] = by_code.get(report["code"], 0) + 1
            self.opt_in[report["check"]] = report["opt_in"]
            if self.reported <= REPORTS_LOGGED:
                logger.warning("check.would_refuse", entity=doc.kind, external_ref=doc.external_ref, **report)

    def warn(self, logger, doc: Document, warning: str) -> None:
        """Log a document's warning while the file has given fewer than WARNINGS_LOGGED; count it always."""
        self.warnings += 1
        if self.warnings <= WARNINGS_LOGGED:
            example = {"entity": doc.kind, "external_ref": doc.external_ref, "line": doc.line, "warning": warning}
            self.warning_examples.append(example)
            logger.warning("document.warning", **example)

    def log_warnings(self, logger) -> None:
        """One line for the warnings that were counted but not logged one by one."""
        if self.warnings > WARNINGS_LOGGED:
            logger.warning("document.warnings", count=self.warnings, logged=WARNINGS_LOGGED,
                           examples=[f"line {e['line']} {e['external_ref']}: {e['warning']}"
                                     for e in self.warning_examples],
                           hint="the ledger summary of the file holds the count; fix the source or the rules")
        if self.reported > REPORTS_LOGGED:
            logger.warning("check.would_refuse_count", count=self.reported, logged=REPORTS_LOGGED,
                           checks=self.reported_by, opt_in=self.opt_in,
                           hint="the ledger summary of the file holds the counts; "
                                "`importd check --replay SOURCE` lists them")


def commit_file(store: Store, rules: Rules, source: str, file_id: int, documents: Iterable[Document],
                numbering_formats: dict[str, str], settled_path: str, records_seen, *, logger,
                rejects: Rejects | None = None, ack_lines=None, system: str | None = None) -> Result:
    """Write every document of one file in one transaction; any exception rolls it all back.

    `source` is the inbox the file came through, `system` the upstream system that issued its
    references (its route's; the source's name when None). `records_seen()` tells how many
    source records were read, once they all were; `ack_lines` (settle.AckLines) gathers each
    document's outcome for the ack.
    """
    system = system or source
    result = Result()
    with _FrozenWhenBig() as heap, store.transaction():
        numbering = Numbering(store, numbering_formats)
        resolver = resolver_for(store, rules, system, numbering, file_id)
        documents = in_date_order(documents, rules)     # numbers follow the documents' dates
        listed: set[str] | None = set() if rules.snapshot else None     # a full export: what it lists
        while batch := list(islice(documents, BATCH)):
            heap.batch_started()
            plan = resolver.plan(batch)
            apply_plan(store, plan, rules, system, file_id, source=source)
            _report(plan, batch, result, logger, rejects, ack_lines)
            if listed is not None:
                listed.update(doc.external_ref for doc in batch)
        numbering.save()
        result.numbers = numbering.summary()
        result.log_warnings(logger)
        if result.skipped_logged > SKIPS_LOGGED:
            logger.info("document.skipped_more", count=result.skipped_logged - SKIPS_LOGGED,
                        hint="the ack lists every skipped document with its reason")
        changed = sum(result.counts.get(k, 0) for k in ("created", "updated", "parked", "held", "released",
                                                          "state_changed"))
        skipped = result.counts.get("skipped", 0)
        if result.documents and not changed and not result.rejected and skipped < result.documents:
            result.state = "duplicate"
        summary = {**result.summary(records_seen()), "system": system}
        if listed is not None:
            summary["snapshot"] = apply_snapshot(store, rules, system, file_id, listed, logger)
        if ack_lines is not None and (outcomes := ack_lines.for_summary()) is not None:
            summary["outcomes"] = outcomes
        store.finish_file(file_id, result.state, rules=rules.name, settled_path=settled_path,
                          records=records_seen(), documents=result.documents, summary=summary,
                          reported=result.reported, rejected=len(result.rejected))
    return result


class _FrozenWhenBig:
    """Once a file proves big (a second batch), leave what existed before it (modules, rules,
    caches, its first batch) out of the garbage collections its documents set off: a big
    file allocates millions of objects, and each full collection would otherwise walk the
    whole heap again. Thawed when the file is done.

    A small file does not freeze: freezing at every file would move each file's
    not-yet-collected cycles out of reach of the young collections, and a service
    taking thousands of small files would grow without bound."""

    def __init__(self):
        self.batches = 0

    def batch_started(self) -> None:
        self.batches += 1
        if self.batches == 2:
            gc.freeze()

    def __enter__(self) -> "_FrozenWhenBig":
        return self

    def __exit__(self, *exc) -> None:
        if self.batches >= 2:
            gc.unfreeze()


def resolver_for(store: Store, rules: Rules, system: str, numbering: Numbering, file_id: int,
                 **options) -> Resolver:
    """The resolver that knows the rules' document kind, for the references of `system`; the
    rooms its documents need are taken."""
    store.lock(rooms.of_kinds([rules.kind]))
    cls = InvoiceResolver if rules.kind in ("invoice", "payment") else Resolver
    return cls(store, rules, system, numbering, file_id, **options)


def apply_plan(store: Store, plan: Plan, rules: Rules, system: str, file_id: int, *,
               source: str | None = None) -> None:
    """Write a batch's plan; documents held are parked as documents of `system` that came
    through `source` (the inbox; `system` when None)."""
    if plan.new_customers:
        store.insert_customers(plan.new_customers)
    for code, changes in plan.customer_updates:
        store.update_customer(code, changes)
    for sku, fields in plan.new_products:
        store.insert_product(sku, fields)
    for sku, changes in plan.product_updates:
        store.update_product(sku, changes)
    if plan.orders:
        store.insert_orders(plan.orders, plan.order_lines)
    if plan.state_updates:
        store.update_states(plan.state_updates)
    if plan.state_history:
        store.record_states(plan.state_history)
    if isinstance(plan, InvoicePlan):
        apply_invoice_plan(store, plan)
    store.save_external_refs(plan.refs)
    if plan.state_refs:
        store.set_ref_digests(plan.state_refs)
    expires = (datetime.now(timezone.utc) + timedelta(hours=rules.park_timeout_hours)).isoformat(timespec="seconds")
    for doc, hold in plan.parked:
        store.park({"file_id": file_id, "source": source or system, "system": system, "entity": doc.kind,
                    "external_id": doc.external_ref,
                    "waiting_for": hold.waiting_for, "payload": doc.to_json(), "parked_at": now(),
                    "rules": str(rules.path), "reason": hold.reason, "line": doc.line, "expires_at": expires,
                    "details": json.dumps(hold.details, default=str, ensure_ascii=False)})


def _report(plan: Plan, batch: list[Document], result: Result, logger, rejects: Rejects | None,
            ack_lines) -> None:
    counts = result.counts
    for outcome in plan.outcomes:
        counts[outcome["outcome"]] = counts.get(outcome["outcome"], 0) + 1
    if ack_lines is not None and plan.outcomes:
        ack_lines.extend(plan.outcomes)
    result.documents += len(batch)
    for difference in plan.differences:
        logger.info("field.difference", **difference)
    for outcome in plan.outcomes:
        if outcome["outcome"] == "skipped":
            result.skipped_logged += 1
            if result.skipped_logged <= SKIPS_LOGGED:      # a bank file may skip thousands of fee lines
                logger.info("document.skipped", entity=outcome["entity"], external_ref=outcome["external_ref"],
                            line=outcome["line"], reason=outcome["reason"])
        elif outcome["outcome"] == "state_changed":
            logger.info("document.state_changed", entity=outcome["entity"], external_ref=outcome["external_ref"],
                        number=outcome["number"], line=outcome["line"], states=outcome["states"])
    for doc in batch:
        if doc.warnings:
            for warning in doc.warnings:
                result.warn(logger, doc, warning)
    if any(doc.reports for doc in batch):
        refused = {id(doc) for doc, _ in plan.parked} | {id(doc) for doc, _ in plan.rejected}
        for doc in batch:
            if doc.reports and id(doc) not in refused:
                result.would_refuse(logger, doc)
    for doc, hold in plan.parked:
        logger.info("document.held" if hold.waiting_for == "review" else "document.parked", entity=doc.kind,
                    external_ref=doc.external_ref, line=doc.line, waiting_for=hold.waiting_for, reason=hold.reason)
    for doc, error in plan.rejected:
        result.rejected.append({"external_ref": doc.external_ref, **error.as_dict()})
        logger.warning("document.rejected", entity=doc.kind, external_ref=doc.external_ref,
                       error_code=error.code, error=error.message, line=error.line, field=error.field)
        if rejects is not None:
            rejects.add(doc)
