"""The resolve stage: find what already exists, decide what to create, update or skip.

Works a batch of documents at a time so lookups are one query per batch. The
caches live for one batch: what earlier batches wrote is in the database (the
same transaction), so a customer created by line 10 is found by line 90000 and
memory stays flat however long the file. Returns a Plan; commit writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from importd.errors import FileRejected
from importd.model import Document
from importd.numbering import Numbering
from importd.rules import Rules
from importd.store import CUSTOMER_FIELDS, Store
from importd.transforms import name4
from importd.values import round_money


@dataclass
class Plan:
    """What one batch changes; the commit stage applies it in order."""

    new_customers: list[tuple[str, dict]] = field(default_factory=list)
    customer_updates: list[tuple[str, dict]] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    order_lines: list[dict] = field(default_factory=list)
    refs: list[tuple] = field(default_factory=list)
    outcomes: list[dict] = field(default_factory=list)   # per document, for the ack and the log


class Resolver:
    """Resolves the documents of one file, inside that file's transaction."""

    def __init__(self, store: Store, rules: Rules, source: str, numbering: Numbering, file_id: int):
        self.store = store
        self.rules = rules
        self.source = source
        self.numbering = numbering
        self.file_id = file_id
        self._refs: dict[tuple[str, str], tuple[str, str | None]] = {}     # (entity, ext) → (key, hash)
        self._by_field: dict[tuple[str, str], list[str]] = {}              # (field, value) → codes

    def plan(self, docs: list[Document]) -> Plan:
        """Decide the fate of `docs`; the previous batch's plan must have been applied."""
        self._refs.clear()
        self._by_field.clear()
        self._prefetch(docs)
        plan = Plan()
        for doc in docs:
            if doc.kind == "customer":
                self._customer_document(doc, plan)
            else:
                self._order(doc, plan)
        return plan

    # -- lookups -------------------------------------------------------------------------

    def _prefetch(self, docs: list[Document]) -> None:
        """Load, in one query each, the references and customer keys this batch needs."""
        wanted_refs: dict[str, set[str]] = {}
        wanted_keys: dict[str, set[str]] = {}
        for doc in docs:
            wanted_refs.setdefault(doc.kind, set()).add(doc.external_ref)
            customer = doc.fields if doc.kind == "customer" else doc.customer or {}
            for key in self.rules.match_customer:
                if customer.get(key):
                    wanted_keys.setdefault(key, set()).add(customer[key])
        for entity, ids in wanted_refs.items():
            ids = [i for i in ids if (entity, i) not in self._refs]
            for ext, row in self.store.external_refs(self.source, entity, ids).items():
                self._refs[(entity, ext)] = (row["internal_key"], row["content_sha256"])
        for key, values in wanted_keys.items():
            values = [v for v in values if (key, v) not in self._by_field]
            found = self.store.customer_codes_by(key, values)
            for value in values:
                self._by_field[(key, value)] = found.get(value, [])

    def _find_customer(self, fields: dict, ext: str | None, line: int) -> str | None:
        """By external reference first, then by each match key in order; never a guess."""
        if ext and ("customer", ext) in self._refs:
            return self._refs[("customer", ext)][0]
        for key in self.rules.match_customer:
            value = fields.get(key)
            if not value:
                continue
            codes = self._by_field.get((key, value), [])
            if len(codes) > 1:
                raise FileRejected("ambiguous_customer",
                                   f"{len(codes)} customers have {key} {value!r}: {', '.join(codes)}",
                                   line=line, field=f"customer.{key}", rule=self.rules.name,
                                   hint="merge the duplicates, or match on a more precise key")
            if codes:
                return codes[0]
        return None

    def _remember(self, code: str, fields: dict) -> None:
        for key in self.rules.match_customer:
            if fields.get(key):
                codes = self._by_field.setdefault((key, fields[key]), [])
                if code not in codes:
                    codes.append(code)

    def _new_customer(self, fields: dict, plan: Plan) -> str:
        code = self.numbering.next("customer", name4=name4(fields.get("name") or ""))
        plan.new_customers.append((code, fields))
        self._remember(code, fields)
        return code

    # -- customers -------------------------------------------------------------------------

    def _customer_document(self, doc: Document, plan: Plan) -> None:
        ext, digest = doc.external_ref, doc.fingerprint()
        fields = {k: v for k, v in doc.fields.items() if k in CUSTOMER_FIELDS}
        known = self._refs.get(("customer", ext))
        if known and known[1] == digest:
            plan.outcomes.append(_outcome(doc, "customer", known[0], "duplicate"))
            return
        code = self._find_customer(fields, ext, doc.line)
        if code is None:
            code = self._new_customer(fields, plan)
            outcome = "created"
        else:
            changes = self._changes(code, fields, plan)
            outcome = "updated" if changes else "unchanged"
            if changes:
                plan.customer_updates.append((code, changes))
                self._remember(code, changes)
        self._refs[("customer", ext)] = (code, digest)
        plan.refs.append((self.source, "customer", ext, code, digest, self.file_id))
        plan.outcomes.append(_outcome(doc, "customer", code, outcome))

    def _changes(self, code: str, fields: dict, plan: Plan) -> dict:
        """Incoming non-empty values that differ from the stored ones: the file wins."""
        stored = self.store.customer(code)
        if stored is None:      # created earlier in this same file, not yet written
            stored = next(f for c, f in plan.new_customers if c == code)
        return {k: v for k, v in fields.items() if v not in (None, "") and stored.get(k) != v}

    # -- orders -------------------------------------------------------------------------------

    def _order(self, doc: Document, plan: Plan) -> None:
        ext, digest = doc.external_ref, doc.fingerprint()
        known = self._refs.get(("order", ext))
        if known:
            if known[1] == digest:
                plan.outcomes.append(_outcome(doc, "order", known[0], "duplicate"))
                return
            raise FileRejected("document_changed",
                               f"order {ext!r} was already imported as {known[0]} and this version differs",
                               line=doc.line, field="external_ref", rule=self.rules.name, number=known[0],
                               hint="a numbered document is never changed by an import; "
                                    "correct it in the management program")
        customer_code = self._order_customer(doc, plan)
        fields = doc.fields
        number = self.numbering.next("order", on=fields.get("order_date"))
        currency = fields.get("currency")
        plan.orders.append({**fields, "number": number, "source": self.source,
                            "customer_code": customer_code, "file_id": self.file_id})
        for line_no, line in enumerate(doc.lines, 1):
            total = line.get("line_total")
            if total is None and "quantity" in line and "unit_price" in line:
                total = round_money(line["quantity"] * line["unit_price"], currency)
            plan.order_lines.append({**line, "order_number": number, "line_no": line_no, "line_total": total})
        self._refs[("order", ext)] = (number, digest)
        plan.refs.append((self.source, "order", ext, number, digest, self.file_id))
        plan.outcomes.append(_outcome(doc, "order", number, "created"))

    def _order_customer(self, doc: Document, plan: Plan) -> str | None:
        fields = {k: v for k, v in (doc.customer or {}).items() if k in CUSTOMER_FIELDS}
        ext = (doc.customer or {}).get("external_ref")
        if not fields and not ext:
            return None
        code = self._find_customer(fields, ext, doc.line)
        if code is None:
            if self.rules.missing_customer == "reject":
                raise FileRejected("missing_customer",
                                   f"no customer matches {_describe(fields, self.rules.match_customer)}",
                                   line=doc.line, field="customer", rule=self.rules.name,
                                   hint="import the customer first, or set missing_customer = \"create\"")
            code = self._new_customer(fields, plan)
        if ext and ("customer", ext) not in self._refs:
            self._refs[("customer", ext)] = (code, None)
            plan.refs.append((self.source, "customer", ext, code, None, self.file_id))
        return code


def _outcome(doc: Document, entity: str, key: str, outcome: str) -> dict:
    return {"entity": entity, "external_ref": doc.external_ref, "number": key, "outcome": outcome,
            "line": doc.line}


def _describe(fields: dict, keys: list[str]) -> str:
    return ", ".join(f"{k}={fields.get(k)!r}" for k in keys) or "(no match keys in the rules)"
