"""The commit stage: one transaction per file — numbers, rows, references, ledger.

Documents stream in and are written in batches (executemany); counters are
saved and the ledger row marked just before COMMIT, so the file's documents,
its numbers and its outcome become durable together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Iterable

from importd.model import Document
from importd.numbering import Numbering
from importd.resolve import Plan, Resolver
from importd.resolve_invoices import InvoicePlan, InvoiceResolver, apply_invoice_plan
from importd.rules import Rules
from importd.store import Store

BATCH = 500


@dataclass
class Result:
    state: str = "imported"                 # imported | duplicate
    documents: int = 0
    counts: dict[str, int] = field(default_factory=dict)      # created, updated, unchanged, duplicate
    numbers: dict[str, list[str]] = field(default_factory=dict)

    def summary(self, records: int) -> dict:
        return {"records": records, "documents": self.documents, "counts": self.counts,
                "numbers": self.numbers}


def commit_file(store: Store, rules: Rules, source: str, file_id: int, documents: Iterable[Document],
                numbering_formats: dict[str, str], settled_path: str, records_seen) -> Result:
    """Write every document of one file in one transaction; any exception rolls it all back.

    `records_seen()` tells how many source records were read, once they all were.
    """
    result = Result()
    with store.transaction():
        numbering = Numbering(store, numbering_formats)
        resolver_class = InvoiceResolver if rules.kind in ("invoice", "payment") else Resolver
        resolver = resolver_class(store, rules, source, numbering, file_id)
        documents = iter(documents)
        while batch := list(islice(documents, BATCH)):
            plan = resolver.plan(batch)
            _apply(store, plan)
            if isinstance(plan, InvoicePlan):
                apply_invoice_plan(store, plan)
            for outcome in plan.outcomes:
                result.counts[outcome["outcome"]] = result.counts.get(outcome["outcome"], 0) + 1
            result.documents += len(batch)
        numbering.save()
        result.numbers = numbering.summary()
        changed = sum(result.counts.get(k, 0) for k in ("created", "updated", "parked"))
        if result.documents and not changed:
            result.state = "duplicate"
        store.finish_file(file_id, result.state, rules=rules.name, settled_path=settled_path,
                          records=records_seen(), documents=result.documents,
                          summary=result.summary(records_seen()))
    return result


def _apply(store: Store, plan: Plan) -> None:
    for code, fields in plan.new_customers:
        store.insert_customer(code, fields)
    for code, changes in plan.customer_updates:
        store.update_customer(code, changes)
    if plan.orders:
        store.insert_orders(plan.orders, plan.order_lines)
    store.save_external_refs(plan.refs)
