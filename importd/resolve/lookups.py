"""Finding existing records for the resolve stage: one query per batch, never a guess.

A customer is found by its stored external reference first, then by each key
the rules list, in order. Exactly one match is used; several hold the document
for a person with the candidates listed.

Customers' external references are also kept from batch to batch (bounded): a
buyer comes back order after order, and inside the file's transaction the
database changes only through this resolver, which records every reference it
writes here too (remember_ref).
"""

from __future__ import annotations

from importd.errors import Hold
from importd.mapping.rules import Rules
from importd.model import Document
from importd.store import Store


KEPT_CUSTOMER_REFS = 1 << 13       # about 2 MB


class Lookups:
    def __init__(self, store: Store, rules: Rules, system: str):
        self.store = store
        self.rules = rules
        self.system = system         # the upstream system whose references are looked up
        self._refs: dict[tuple[str, str], tuple[str, str | None]] = {}    # (entity, ext) → (key, hash)
        self._by_field: dict[tuple[str, str], list[str]] = {}             # (field, value) → codes
        self._products: dict[str, dict | None] = {}                         # sku → stored fields
        self._parked: set[tuple[str, str]] = set()
        self._new_customers: dict[str, dict] = {}
        self._refs_of: dict[tuple[str, str], set[str]] = {}               # (entity, key) → this system's refs
        self.chosen: str | None = None      # a reviewer's pick ("" : a new customer), see importd.stages.review
        self._customer_refs: dict[str, tuple[str, str | None]] = {}       # ext → (code, hash), all batches

    def prefetch(self, docs: list[Document]) -> None:
        """Forget the last batch; load what this one needs in one query per kind."""
        for cache in (self._refs, self._by_field, self._products, self._parked, self._new_customers,
                      self._refs_of):
            cache.clear()
        refs: dict[str, set[str]] = {}
        for kind in {doc.kind for doc in docs}:
            refs[kind] = {doc.fields.get("external_ref") or "" for doc in docs if doc.kind == kind}
        customers = [doc.fields if doc.kind == "customer" else doc.customer or {} for doc in docs]
        buyers = {doc.customer["external_ref"] for doc in docs
                  if doc.kind != "customer" and doc.customer and doc.customer.get("external_ref")}
        if buyers:
            refs.setdefault("customer", set()).update(buyers)
        skus = {line["sku"] for doc in docs for line in doc.lines if line.get("sku")}
        skus.update(doc.fields["sku"] for doc in docs if doc.kind == "product" and doc.fields.get("sku"))
        known = self._customer_refs
        if known and refs.get("customer"):
            held = refs["customer"] & known.keys()
            self._refs.update({("customer", ext): known[ext] for ext in held})
            refs["customer"] -= held
        for entity, ids in refs.items():
            for ext, row in self.store.external_refs(self.system, entity, list(ids)).items():
                self.remember_ref(entity, ext, row["internal_key"], row["content_sha256"])
        # A customer known by its external reference is never looked up by its keys (customer()).
        unknown = [customer for customer in customers if not customer.get("external_ref")
                   or ("customer", customer["external_ref"]) not in self._refs]
        keys = {key: {customer[key] for customer in unknown if customer.get(key)}
                for key in self.rules.match_customer}
        keys = {key: values for key, values in keys.items() if values}
        for key, values in keys.items():
            found = self.store.customer_codes_by(key, list(values))
            self._by_field.update({(key, value): found.get(value, []) for value in values})
        if skus:
            found = self.store.products(list(skus))
            self._products = {sku: found.get(sku) for sku in skus}
        self._prefetch_refs_of(docs, any(customer.get("external_ref") for customer in customers))
        if refs.get("order"):
            self._parked = {("order", ext) for ext in self.store.parked_refs(self.system, "order", list(refs["order"]))}

    # -- references ---------------------------------------------------------------------

    def ref(self, entity: str, ext: str) -> tuple[str, str | None] | None:
        return self._refs.get((entity, ext))

    def remember_ref(self, entity: str, ext: str, key: str, digest: str | None) -> None:
        self._refs[(entity, ext)] = (key, digest)
        self._refs_of.setdefault((entity, key), set()).add(ext)
        if entity == "customer":
            if len(self._customer_refs) >= KEPT_CUSTOMER_REFS and ext not in self._customer_refs:
                del self._customer_refs[next(iter(self._customer_refs))]
            self._customer_refs[ext] = (key, digest)

    def _prefetch_refs_of(self, docs: list[Document], customer_refs: bool) -> None:
        """The references the records found by key carry: a key match that contradicts one is no match.

        Only a customer that has an external reference is compared with them (customer()):
        a batch without any (a shop export keyed by e-mail) needs none of the customers'."""
        codes = {code for found in self._by_field.values() for code in found} if customer_refs else ()
        skus = [doc.fields["sku"] for doc in docs if doc.kind == "product" and doc.fields.get("sku")]
        for entity, keys in (("customer", codes), ("product", skus)):
            for key, exts in self.store.refs_of(self.system, entity, list(keys)).items():
                self._refs_of[(entity, key)] = exts

    def other_refs(self, entity: str, key: str, ext: str) -> set[str]:
        """The references of this system, other than `ext`, that record `key` already carries."""
        return self._refs_of.get((entity, key), set()) - {ext}

    def is_parked(self, entity: str, ext: str) -> bool:
        return (entity, ext) in self._parked

    # -- customers -----------------------------------------------------------------------

    def customer(self, fields: dict, ext: str | None, line: int, warnings: list | None = None) -> str | None:
        if self.chosen is not None:
            return self.chosen or None
        if ext and ("customer", ext) in self._refs:
            return self._refs[("customer", ext)][0]
        for key in self.rules.match_customer:
            value = fields.get(key)
            if not value:
                continue
            codes = self._by_field.get((key, value), [])
            if ext:
                codes = self._same_upstream(codes, key, value, ext, warnings)
            if len(codes) > 1:
                raise Hold("review", f"{len(codes)} customers have {key} {value!r}: {', '.join(codes)}",
                           candidates=codes, key=key)
            if codes:
                return codes[0]
        return None

    def _same_upstream(self, codes: list[str], key: str, value: str, ext: str, warnings) -> list[str]:
        """Drop the customers that carry another reference of this system: upstream keeps them apart.
        A reference of another system is no objection: the same person known to two systems
        is one customer, who then carries both references."""
        apart = {code: sorted(self.other_refs("customer", code, ext)) for code in codes}
        apart = {code: refs for code, refs in apart.items() if refs}
        if not apart:
            return codes
        note = (f"{key} {value!r} is shared with " + ", ".join(f"customer {code} (upstream {', '.join(refs)})"
                                                               for code, refs in apart.items()))
        if self.rules.shared_key == "review":
            raise Hold("review", f"{note}: held for review (shared_key = \"review\")",
                       candidates=list(apart), key=key, shared_key=True)
        if warnings is not None:
            warnings.append(f"{note}: a different record upstream, not merged with it")
        return [code for code in codes if code not in apart]

    def remember_customer(self, code: str, fields: dict) -> None:
        self._new_customers[code] = fields
        for key in self.rules.match_customer:
            if fields.get(key):
                codes = self._by_field.setdefault((key, fields[key]), [])
                if code not in codes:
                    codes.append(code)

    def stored_customer(self, code: str, plan) -> dict:
        """The stored customer, or the one this batch creates (not written yet)."""
        stored = self.store.customer(code)
        if stored is None:
            stored = {**self._new_customers[code], "_new": True}
        return stored

    # -- products ------------------------------------------------------------------------

    def product(self, sku: str) -> dict | None:
        return self._products.get(sku)

    def remember_product(self, sku: str, fields: dict) -> None:
        self._products[sku] = dict(fields)

    # -- a numbered document that came back ------------------------------------------------

    def order_diff(self, number: str, doc: Document) -> list[dict]:
        """Field by field, how `doc` differs from the stored order `number`."""
        stored, lines = self.store.order_with_lines(number)
        diff = [{"field": k, "stored": stored.get(k), "incoming": str(v)}
                for k, v in doc.fields.items() if k in stored and str(v) != (stored.get(k) or "")]
        for no, line in enumerate(doc.lines, 1):
            old = lines[no - 1] if no <= len(lines) else {}
            diff += [{"field": f"line {no} {k}", "stored": old.get(k), "incoming": str(v)}
                     for k, v in line.items() if str(v) != (old.get(k) or "")]
        if len(lines) > len(doc.lines):
            diff.append({"field": "lines", "stored": str(len(lines)), "incoming": str(len(doc.lines))})
        return diff
