"""Never merge two records the upstream system keeps apart.

A match by a key is no match when the record found already carries another
reference of the same system and entity (README "Systems"); a reference of another
system is no objection: the record then carries both. Customers are then created apart
(importd.resolve.lookups, `shared_key = "create"`) or held (`"review"`). A product's
SKU is its key in our database, so a second upstream product with the same SKU
cannot be created apart: it is always held for a person.
"""

from __future__ import annotations

from importd.errors import Hold
from importd.mapping.rules import Rules
from importd.model import Document
from importd.resolve.lookups import Lookups
from importd.store import Store


def shared_sku(find: Lookups, rules: Rules, sku: str, ext: str) -> None:
    """Hold a product whose SKU is stored for another upstream product of this system."""
    others = sorted(find.other_refs("product", sku, ext))
    if not others or rules.shared_key == "merge":       # "merge": a reviewer said they are one
        return
    raise Hold("review", f"SKU {sku!r} is already product {sku} of upstream {', '.join(others)}, "
                         f"a different record upstream: two products cannot share a SKU",
               candidates=[sku], key="sku", shared_key=True)


def excluded_refs(store: Store, system: str, docs: list[Document]) -> set[tuple[str, str]]:
    """(kind, reference) of the documents of `system` on the do-not-sync list (`importd review exclude`)."""
    by_kind: dict[str, list[str]] = {}
    for doc in docs:
        by_kind.setdefault(doc.kind, []).append(doc.external_ref)
    return {(kind, ext) for kind, refs in by_kind.items() for ext in store.excluded_refs(system, kind, refs)}
