"""The resolve stage: find what exists, apply who-is-right per field, decide each document's fate.

Works a batch of documents at a time so lookups are one query per batch. The
caches live for one batch: what earlier batches wrote is in the database (the
same transaction), so a customer created by line 10 is found by line 90000 and
memory stays flat however long the file (customers' external references are
also kept, bounded, from one batch to the next: see lookups). Returns a Plan;
commit writes it.

Every check runs before anything is planned for a document, and numbers are
taken last: a document that is rejected or held consumes no number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache

from importd.errors import FileRejected, Hold
from importd.mapping.accounts import check_accounts, from_catalogue, line_priorities
from importd.mapping.rules import Rules
from importd.mapping.transforms import name4
from importd.mapping.values import round_money
from importd.model import Document
from importd.resolve.check_modes import run_check
from importd.resolve.identity import excluded_refs, shared_sku
from importd.resolve.lookups import Lookups
from importd.resolve.numbering import Numbering
from importd.resolve.order_checks import catalogue_price, check_order
from importd.resolve.priority import decide
from importd.resolve.states import applied, initial_states, state_changes
from importd.store import CUSTOMER_FIELDS, PRODUCT_FIELDS, Store

_CUSTOMER_FIELDS = frozenset(CUSTOMER_FIELDS)


@dataclass
class Plan:
    """What one batch changes; the commit stage applies it in order."""

    new_customers: list[tuple[str, dict]] = field(default_factory=list)
    customer_updates: list[tuple[str, dict]] = field(default_factory=list)
    new_products: list[tuple[str, dict]] = field(default_factory=list)
    product_updates: list[tuple[str, dict]] = field(default_factory=list)
    orders: list[tuple] = field(default_factory=list)        # rows of store.ORDER_COLUMNS
    order_lines: list[tuple] = field(default_factory=list)   # rows of store.LINE_COLUMNS
    refs: list[tuple] = field(default_factory=list)
    parked: list[tuple[Document, Hold]] = field(default_factory=list)
    rejected: list[tuple[Document, FileRejected]] = field(default_factory=list)
    differences: list[dict] = field(default_factory=list)   # overridden or held values, for the log
    outcomes: list[dict] = field(default_factory=list)      # per document, for the log and check
    state_updates: list[tuple[str, dict]] = field(default_factory=list)   # (order number, columns to set)
    state_history: list[tuple] = field(default_factory=list)   # rows of store.STATE_HISTORY_COLUMNS
    state_refs: list[tuple] = field(default_factory=list)      # (new digest, system, entity, external_id)


class Resolver:
    """Resolves the documents of one file, inside that file's transaction.

    `system` is the upstream system that issued the documents' references: they are looked
    up, recorded, checked for duplicates and changes within it (README "Systems").
    `releasing` is set when a parked document is tried again: it is not a
    duplicate of itself.
    """

    def __init__(self, store: Store, rules: Rules, system: str, numbering: Numbering, file_id: int,
                 *, releasing: bool = False):
        self.store = store
        self.rules = rules
        self.system = system
        self.numbering = numbering
        self.file_id = file_id
        self.releasing = releasing
        self.find = Lookups(store, rules, system)
        self.price_priority = rules.priority("line", "unit_price")     # asked per order: look it up once
        self.account_priorities = line_priorities(rules)
        self.rules_name = rules.name            # named in every order's checks
        self.states = rules.states              # fields that follow upstream once numbered
        self._orders_now: dict[str, dict] = {}  # stored orders whose states this file changed

    def plan(self, docs: list[Document]) -> Plan:
        """Decide the fate of `docs`; the previous batch's plan must have been applied."""
        self.find.prefetch(docs)
        self.prefetch(docs)
        plan = self.new_plan()
        resolve = self.resolvers()[self.rules.kind]
        excluded = excluded_refs(self.store, self.system, docs)
        for doc in docs:
            if doc.skip is not None and (doc.error is not None or not self._follows(doc)):
                # a [[skip]] of the rules: counted, no number. An order already numbered whose
                # states follow upstream is not skipped: its cancellation is a change of state.
                plan.outcomes.append(_outcome(doc, "", "skipped", reason=doc.skip))
                continue
            if (doc.kind, doc.external_ref) in excluded:      # do not sync: a reviewer said so
                plan.outcomes.append(_outcome(doc, "", "excluded"))
                continue
            try:
                if doc.error is not None:
                    raise doc.error
                resolve(doc, plan)
            except Hold as hold:
                plan.parked.append((doc, hold))
                plan.outcomes.append(_outcome(doc, "", "held" if hold.waiting_for == "review" else "parked",
                                              reason=hold.reason))
                plan.differences += [{**d, "entity": doc.kind, "external_ref": doc.external_ref, "kept": "held"}
                                     for d in hold.details.get("differences", [])]
            except FileRejected as error:
                if self.rules.atomicity == "file":
                    raise
                plan.rejected.append((doc, error))
                plan.outcomes.append(_outcome(doc, "", "rejected", reason=error.message))
        return plan

    def _follows(self, doc: Document) -> bool:
        """Whether `doc` is an order already numbered whose states follow upstream."""
        return bool(self.states) and self.find.ref(doc.kind, doc.external_ref) is not None

    def prefetch(self, docs: list[Document]) -> None:
        """What a kind needs beyond the common lookups (a hook for subclasses)."""

    def new_plan(self) -> Plan:
        return Plan()

    def resolvers(self) -> dict:
        """Document kind → the method that resolves one document of it."""
        return {"customer": self._customer_document, "product": self._product_document, "order": self._order}

    # -- reference data ------------------------------------------------------------------

    def _customer_document(self, doc: Document, plan: Plan) -> None:
        ext, digest = doc.external_ref, doc.digest()
        known = self.find.ref("customer", ext)
        if known and doc.same_content(known[1], digest):
            plan.outcomes.append(_outcome(doc, known[0], "duplicate"))
            return
        fields = {k: v for k, v in doc.fields.items() if k in CUSTOMER_FIELDS}
        code = self.find.customer(fields, ext, doc.line, doc.warnings)
        if code is None:
            code = self._new_customer(fields, plan)
            outcome = "created"
        else:
            outcome = self._update("customer", code, fields, self.find.stored_customer(code, plan), doc, plan)
        self.find.remember_ref("customer", ext, code, digest)
        plan.refs.append((self.system, "customer", ext, code, digest, self.file_id))
        plan.outcomes.append(_outcome(doc, code, outcome))

    def _product_document(self, doc: Document, plan: Plan) -> None:
        sku, digest = doc.fields["sku"], doc.digest()
        known = self.find.ref("product", doc.external_ref)
        if known and doc.same_content(known[1], digest):
            plan.outcomes.append(_outcome(doc, known[0], "duplicate"))
            return
        fields = {k: v for k, v in doc.fields.items() if k in PRODUCT_FIELDS}
        stored = self.find.product(sku)
        if stored is not None:
            shared_sku(self.find, self.rules, sku, doc.external_ref)
        if stored is None:
            plan.new_products.append((sku, fields))
            self.find.remember_product(sku, fields)
            outcome = "created"
        else:
            outcome = self._update("product", sku, fields, stored, doc, plan)
        self.find.remember_ref("product", doc.external_ref, sku, digest)
        plan.refs.append((self.system, "product", doc.external_ref, sku, digest, self.file_id))
        plan.outcomes.append(_outcome(doc, sku, outcome))

    def _update(self, entity: str, key: str, fields: dict, stored: dict, doc: Document, plan: Plan) -> str:
        verdict = decide(fields, stored, lambda name: self.rules.priority(entity, name))
        if verdict.held:
            raise Hold("review", f"{len(verdict.held)} field(s) differ from the stored {entity} {key}",
                       differences=verdict.held, key=key)
        plan.differences += [{**d, "entity": entity, "external_ref": doc.external_ref} for d in verdict.overridden]
        if not verdict.changes:
            return "unchanged"
        (plan.customer_updates if entity == "customer" else plan.product_updates).append((key, verdict.changes))
        stored.update(verdict.changes)
        return "updated"

    def _new_customer(self, fields: dict, plan: Plan) -> str:
        code = self.numbering.next("customer", name4=name4(fields.get("name") or ""))
        plan.new_customers.append((code, fields))
        self.find.remember_customer(code, fields)
        return code

    # -- orders --------------------------------------------------------------------------

    def _order(self, doc: Document, plan: Plan) -> None:
        ext, digest = doc.external_ref, doc.digest()
        find = self.find
        if not self.releasing and find.is_parked("order", ext):
            plan.outcomes.append(_outcome(doc, "", "duplicate", reason="already parked"))
            return
        known = find.ref("order", ext)
        if known:
            if doc.same_content(known[1], digest):
                plan.outcomes.append(_outcome(doc, known[0], "duplicate"))
                return
            if self.states and self._follow_states(doc, known, digest, plan):
                return
            raise self._changed(doc, known[0])
        # Decide everything first; a Hold or a rejection leaves no trace.
        rules = self.rules
        if rules.order_checks is not None:      # enforced, or reported for a file that predates it
            run_check(doc, rules, "order_checks", check_order, doc, rules.order_checks, self.rules_name)
        customer = doc.customer or {}
        customer_fields = {k: v for k, v in customer.items() if k in _CUSTOMER_FIELDS}
        customer_ext = customer.get("external_ref")
        customer_code = self._order_customer(doc, customer_fields, customer_ext)
        new_products, differences = self._order_products(doc)
        if rules.require_accounts:
            check_accounts(doc, rules)
        self._check_chronology(doc)
        # Then write: the customer, the products, the order with its number.
        if customer_code is None and (customer_fields or customer_ext):
            customer_code = self._new_customer(customer_fields, plan)
        if customer_ext and not find.ref("customer", customer_ext):
            find.remember_ref("customer", customer_ext, customer_code, None)
            plan.refs.append((self.system, "customer", customer_ext, customer_code, None, self.file_id))
        for sku, fields in new_products:
            plan.new_products.append((sku, fields))
            find.remember_product(sku, fields)
        if differences:
            plan.differences += differences
        fields = doc.fields
        get = fields.get
        number = self.numbering.next("order", on=get("order_date"))
        currency = get("currency")
        # Rows in the columns of store.ORDER_COLUMNS and store.LINE_COLUMNS.
        plan.orders.append((number, self.system, get("external_ref"), customer_code, get("order_date"), currency,
                            get("status"), get("subtotal"), get("shipping"), get("discount"), get("tax"),
                            get("total"), self.file_id, get("shipping_account"), get("shipping_vat_code"),
                            get("extra"), get("duties"), get("tip"), get("refunded")))
        if self.states:             # the same order again in this batch, its state moved on: compared with these
            self._orders_now[number] = {"status": get("status"), "extra": get("extra")}
        rows = plan.order_lines
        # A line's own discount comes off its total, unless the rules say it is a share of the order's.
        off_line = rules.order_checks is None or rules.order_checks.line_discount == "off_line"
        line_no = 0
        for line in doc.lines:
            line_no += 1
            get = line.get
            total = get("line_total")
            if total is None and "quantity" in line and "unit_price" in line:
                total = round_money(line["quantity"] * line["unit_price"], currency)
                if "discount" in line and off_line:
                    total -= line["discount"]
            rows.append((number, line_no, get("sku"), get("description"), get("quantity"), get("unit_price"),
                         total, get("account"), get("vat_code"), get("extra"), get("discount")))
        find.remember_ref("order", ext, number, digest)
        plan.refs.append((self.system, "order", ext, number, digest, self.file_id))
        plan.outcomes.append(_outcome(doc, number, "created", customer=customer_code))
        if self.states:     # the first line of its history: the states it was numbered with
            plan.state_history += [self._history_row(doc, number, name, None, value)
                                   for name, value in initial_states(doc, self.states).items()]

    def _follow_states(self, doc: Document, known: tuple[str, str | None], digest: str, plan: Plan) -> bool:
        """A numbered order whose state fields alone changed upstream: the change is planned
        (the order's columns, its history, the reference's digest) and True; else False."""
        number = known[0]
        stored = self._orders_now.get(number)
        if stored is None:
            stored, _ = self.store.order_with_lines(number)
        changes = state_changes(doc, stored, self.states, known[1])
        if changes is None:
            return False
        columns = applied(stored, changes)
        plan.state_updates.append((number, columns))
        plan.state_history += [self._history_row(doc, number, name, old, new) for name, (old, new) in changes.items()]
        self._orders_now[number] = {**stored, **columns}
        self.find.remember_ref("order", doc.external_ref, number, digest)
        plan.state_refs.append((digest, self.system, "order", doc.external_ref))
        plan.outcomes.append(_outcome(doc, number, "state_changed",
                                      reason="; ".join(f"{name}: {old!r} → {new!r}" for name, (old, new) in changes.items()),
                                      states={name: {"old": old, "new": new} for name, (old, new) in changes.items()}))
        return True

    def _history_row(self, doc: Document, number: str, name: str, old, new) -> tuple:
        return (self.system, doc.kind, number, doc.external_ref, name, old, new, self.file_id, doc.line)

    def _buyer(self, doc: Document, plan: Plan) -> str | None:
        """Find the document's customer, or create it (after the checks of the caller)."""
        fields = {k: v for k, v in (doc.customer or {}).items() if k in CUSTOMER_FIELDS}
        ext = (doc.customer or {}).get("external_ref")
        code = self._order_customer(doc, fields, ext)
        if code is None and (fields or ext):
            code = self._new_customer(fields, plan)
        if ext and not self.find.ref("customer", ext):
            self.find.remember_ref("customer", ext, code, None)
            plan.refs.append((self.system, "customer", ext, code, None, self.file_id))
        return code

    def _order_customer(self, doc: Document, fields: dict, ext: str | None) -> str | None:
        if not fields and not ext:
            return None
        code = self.find.customer(fields, ext, doc.line, doc.warnings)
        if code is not None:
            return code
        wanted = _describe(fields, self.rules.match_customer, ext)
        if self.rules.missing_customer == "park":
            raise Hold(f"customer:{wanted}", f"no customer matches {wanted} yet")
        if self.rules.missing_customer == "reject":
            raise FileRejected("missing_customer", f"no customer matches {wanted}", line=doc.line,
                               field="customer", rule=self.rules.name,
                               hint="import the customer first, or set missing_customer = \"create\" or \"park\"")
        return None

    def _order_products(self, doc: Document) -> tuple[list, list]:
        """Products the lines reference: missing ones per policy, price differences per priority."""
        policy, priority = self.rules.missing_product, self.price_priority
        include_tax = self.rules.order_checks is not None and self.rules.order_checks.prices_include_tax
        new, differences = [], []
        for line_no, line in enumerate(doc.lines, 1):
            sku = line.get("sku")
            if not sku:
                continue
            stored = self.find.product(sku)
            if not stored and new:
                stored = next((f for s, f in new if s == sku), None)
            if stored is None:
                if policy == "park":
                    raise Hold(f"product:sku={sku!r}", f"product {sku!r} is not in the catalogue yet")
                if policy == "reject":
                    raise FileRejected("missing_product", f"product {sku!r} is not in the catalogue",
                                       line=doc.line, field="line.sku", rule=self.rules.name,
                                       hint="import the catalogue first, or set missing_product")
                if policy == "create":
                    new.append((sku, {"name": line.get("description"), "unit_price": line.get("unit_price"),
                                      "account": line.get("account"), "vat_code": line.get("vat_code")}))
                continue
            from_catalogue(line, stored, self.account_priorities)
            price, catalogue = line.get("unit_price"), stored.get("unit_price")
            if price is None or catalogue in (None, "") or str(price) == str(catalogue):
                continue
            # Like with like: an order's price with VAT against the catalogue's before it.
            on_basis, same, before_tax = catalogue_price(price, catalogue, stored.get("vat_rate"), include_tax,
                                                         doc.fields.get("currency"))
            if same:
                continue
            difference = {"entity": "order", "external_ref": doc.external_ref, "field": f"line {line_no} unit_price",
                          "stored": str(catalogue), "incoming": str(price), "priority": priority}
            if before_tax is not None:
                difference.update(basis=f"incoming includes {stored.get('vat_rate')} % VAT, stored excludes it",
                                  incoming_before_tax=str(before_tax), stored_with_tax=str(on_basis))
            if priority == "review":
                raise Hold("review", f"line {line_no} price {price} differs from the catalogue's {catalogue}",
                           differences=[difference])
            if priority == "database":
                line["unit_price"] = on_basis
                line.pop("line_total", None)       # recomputed from the catalogue price
            differences.append({**difference, "kept": "stored" if priority == "database" else "incoming"})
        return new, differences

    def _check_chronology(self, doc: Document) -> None:
        day = doc.fields.get("order_date")
        before = self.numbering.dated_before("order", day)
        if before is None:
            return
        reason = f"dated {day}, before the last numbered order of the series ({before})"
        if self.rules.chronology == "review":
            raise Hold("review", reason)
        doc.warnings.append(reason)

    def _changed(self, doc: Document, number: str) -> FileRejected:
        diff = self.find.order_diff(number, doc)
        listed = "; ".join(f"{d['field']}: {d['stored']!r} → {d['incoming']!r}" for d in diff[:10])
        return FileRejected("document_changed",
                            f"order {doc.external_ref!r} was already imported as {number} and this version "
                            f"differs: {listed or 'lines differ'}", line=doc.line, field="external_ref",
                            rule=self.rules.name, number=number, diff=diff,
                            hint="a numbered document is never changed by an import; "
                                 "correct it in the management program")


def _outcome(doc: Document, key: str, outcome: str, **more) -> dict:
    custom = doc.fields.get("extra")
    if custom:          # the document's custom fields, for the ack and check's dry run
        more["extra"] = _parsed(custom)
    if doc.reports:     # what a check in report mode would have refused (mapping/versions.py)
        more["would_refuse"] = [{k: r[k] for k in ("check", "code", "message")} for r in doc.reports]
    return {"entity": doc.kind, "external_ref": doc.external_ref, "number": key, "outcome": outcome,
            "line": doc.line, **more}


@lru_cache(maxsize=1024)
def _parsed(text: str) -> dict:
    """A custom fields' JSON as a dict; shared between outcomes (a bulk file repeats its
    payment methods and channels), so read it, never change it."""
    return json.loads(text)


def _describe(fields: dict, keys: list[str], ext: str | None) -> str:
    parts = [f"external_ref={ext!r}"] if ext else []
    parts += [f"{k}={fields.get(k)!r}" for k in keys if fields.get(k)]
    return ", ".join(parts) or "(no match keys)"
