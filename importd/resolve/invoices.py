"""Resolve invoices, credit notes and payments: identity, checks, numbers, parking.

An incoming invoice is identified by its issuer and its number
("<seller id>/<BT-1>"), whatever inbox it came through: the same number from
another seller is another invoice; the same one again is a duplicate, and a
different version is held for a person (`document_changed`), never booked twice.

A payment names its invoice by our number or by the issuer's. Found: it is
booked and the invoice's balance moves. Not there yet: it is parked, and booked
in the transaction that commits that invoice. Balances are exact decimals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from importd.errors import FileRejected, Hold
from importd.mapping.accounts import check_accounts, from_catalogue
from importd.model import Document
from importd.resolve.allocation import allocate, paid, split_refs, to_minor_unit
from importd.resolve.invoice_checks import check_invoice
from importd.resolve.invoice_types import kind_of
from importd.resolve.resolve import Plan, Resolver, _outcome

INVOICE_KINDS = ("invoice", "credit_note")
ZERO = Decimal(0)


@dataclass
class InvoicePlan(Plan):
    """What one batch of invoices or payments changes, beyond customers and references."""

    invoices: list[dict] = field(default_factory=list)
    invoice_lines: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    allocations: list[dict] = field(default_factory=list)        # payment → invoice, amount, balance after
    balances: dict[str, tuple] = field(default_factory=dict)     # number → (paid, balance, status)
    released: list[int] = field(default_factory=list)            # parked_records ids now booked


def apply_invoice_plan(store, plan: InvoicePlan) -> None:
    """Write what `plan` adds to the common Plan (customers and references go first)."""
    if plan.invoices:
        store.insert_invoices(plan.invoices, plan.invoice_lines)
    if plan.payments:
        store.insert_payments(plan.payments, plan.allocations)
    for number, (amount_paid, balance, status) in plan.balances.items():
        store.set_invoice_balance(number, amount_paid, balance, status)
    for parked_id in plan.released:
        store.unpark(parked_id)


class InvoiceResolver(Resolver):
    """Resolves the invoices (with their buyers) or payments of one file."""

    def new_plan(self) -> InvoicePlan:
        return InvoicePlan()

    def prefetch(self, docs: list[Document]) -> None:
        """Invoices are known by their issuer's identity, whatever source brought them."""
        identities = [_identity(d) for d in docs if d.kind == "invoice"]
        for ext, row in self.store.refs_from_any_source("invoice", identities).items():
            self.find.remember_ref("invoice", ext, row["internal_key"], row["content_sha256"])

    def resolvers(self) -> dict:
        return {"invoice": self._invoice, "payment": self._payment}

    # -- invoices and credit notes -------------------------------------------------------

    def _invoice(self, doc: Document, plan: InvoicePlan) -> None:
        kind = kind_of(doc, self.rules.name)        # before the digest: kind is part of it, as it was
        identity, digest = _identity(doc), doc.digest()
        if self._already(doc, "invoice", identity, digest, plan):
            return
        if kind not in INVOICE_KINDS:
            raise FileRejected("bad_kind", f"kind {kind!r} is neither invoice nor credit_note", line=doc.line,
                               field="invoice.kind", rule=self.rules.name,
                               hint="map the type code to invoice or credit_note in the rules file")
        check_invoice(doc, self.rules.name)
        for line in doc.lines:
            if line.get("sku") and (product := self.find.product(line["sku"])):
                from_catalogue(line, product, self.account_priorities)
        if self.rules.require_accounts:
            check_accounts(doc, self.rules)
        customer_code = self._buyer(doc, plan)
        number = self.numbering.next(kind, on=doc.fields.get("issue_date"))
        row = {**doc.fields, "number": number, "kind": kind, "source": self.system,
               "customer_code": customer_code, "file_id": self.file_id}
        _set_balance(row, ZERO)
        for line_no, line in enumerate(doc.lines, 1):
            plan.invoice_lines.append({**line, "invoice_number": number, "line_no": line_no})
        plan.invoices.append(row)
        self.find.remember_ref("invoice", identity, number, digest)
        plan.refs.append((self.system, "invoice", identity, number, digest, self.file_id))
        plan.outcomes.append(_outcome(doc, number, "created", entity=kind))
        self._release_payments(row, identity, plan)

    def _release_payments(self, invoice: dict, identity: str, plan: InvoicePlan) -> None:
        """Book the payments that were parked waiting for this invoice, oldest first."""
        waiting = self.store.parked_waiting_for([_waiting(invoice["external_ref"]), _waiting(identity)])
        for parked in (p for p in waiting if p["entity"] == "payment"):
            system = parked["system"] or parked["source"]       # the bank's payment, paying the accounting's invoice
            if parked["id"] in plan.released or self.find.ref("payment", parked["external_id"]) or (
                    system != self.system and self.store.external_refs(system, "payment", [parked["external_id"]])):
                continue                  # already booked: a payment is never booked twice
            if self.store.excluded_refs(system, "payment", [parked["external_id"]]):
                continue                  # on the do-not-sync list: the parked sweep clears it as excluded
            payment = Document.from_json(parked["payload"])
            try:
                invoices, missing = self._invoices_named(payment, plan, arriving=invoice)
                if missing:
                    continue              # it names another invoice still missing: the parked sweep waits
                self._book(payment.fields, invoices, plan, system, parked["file_id"],
                           payment.digest())
            except FileRejected:
                continue                  # its own fault: the parked sweep quarantines it with the reason
            plan.released.append(parked["id"])
            plan.outcomes.append({"entity": "payment", "external_ref": parked["external_id"],
                                  "number": plan.payments[-1]["number"], "outcome": "released",
                                  "line": None, **_allocated(plan)})

    # -- payments ---------------------------------------------------------------------------

    def _payment(self, doc: Document, plan: InvoicePlan) -> None:
        ext, digest = doc.external_ref, doc.digest()
        if self._already(doc, "payment", ext, digest, plan):
            return
        fields = doc.fields
        if any(d.kind == "payment" and d.external_ref == ext for d, _ in plan.parked):
            plan.outcomes.append(_outcome(doc, "", "duplicate", reason="parked earlier in this file"))
            return
        parked = None if self.releasing else self.store.parked_record(self.system, "payment", ext)
        if parked is not None:
            if Document.from_json(parked["payload"]).digest() != digest:
                raise FileRejected("document_changed", f"payment {ext!r} is parked (waiting for invoice "
                                   f"{fields.get('invoice_ref')!r}) and this version differs",
                                   line=doc.line, field="external_ref", rule=self.rules.name,
                                   hint="a person decides which version is right: `importd parked list`")
            plan.outcomes.append(_outcome(doc, "", "duplicate"))
            return
        if fields.get("amount") == ZERO:
            plan.outcomes.append(_outcome(doc, "", "skipped", reason="amount 0.00: no money moved"))
            return
        invoices, missing = self._invoices_named(doc, plan)
        if missing:
            issuer = fields.get("invoice_issuer")
            ref = f"{issuer}/{missing[0]}" if issuer else missing[0]
            raise Hold(_waiting(ref), f"invoice {ref!r} is not there yet")
        self._book(fields, invoices, plan, self.system, self.file_id, digest)
        plan.outcomes.append({**_outcome(doc, plan.payments[-1]["number"], "created"), **_allocated(plan)})

    def _invoices_named(self, doc: Document, plan: InvoicePlan,
                        arriving: dict | None = None) -> tuple[list[dict], list[str]]:
        """The invoices a payment names (the whole reference, else each of its space-separated
        references) and the references not found; `arriving` is an invoice of this transaction."""
        ref, issuer = doc.fields.get("invoice_ref"), doc.fields.get("invoice_issuer")
        if not ref:
            raise FileRejected("missing_value", f"line {doc.line}: payment {doc.external_ref!r} names no invoice",
                               line=doc.line, field="payment.invoice_ref", rule=self.rules.name,
                               hint="map invoice_ref to the column with the invoice number")
        whole = self._find_invoice(doc, ref, issuer, plan, arriving)
        if whole is not None or len(refs := split_refs(ref)) < 2:
            return ([whole], []) if whole is not None else ([], [ref])
        found, missing = {}, []
        for one in refs:
            invoice = self._find_invoice(doc, one, issuer, plan, arriving)
            if invoice is None:
                missing.append(one)
            else:
                found.setdefault(invoice["number"], invoice)
        return list(found.values()), missing

    def _find_invoice(self, doc: Document, ref: str, issuer: str | None, plan: InvoicePlan,
                      arriving: dict | None) -> dict | None:
        if arriving is not None and ref in (arriving["number"], arriving["external_ref"]) and (
                not issuer or arriving.get("seller_id") == issuer):
            return arriving
        found = [i for i in self.store.invoices_by_ref(ref) if not issuer or i["seller_id"] == issuer]
        if len(found) > 1:
            raise FileRejected("ambiguous_invoice",
                               f"{len(found)} invoices have the reference {ref!r}: "
                               f"{', '.join(i['number'] for i in found)}",
                               line=doc.line, field="payment.invoice_ref", rule=self.rules.name,
                               hint="pay by our invoice number, or map invoice_issuer (the seller id)")
        if not found:
            return None
        invoice = found[0]
        if invoice["number"] in plan.balances:        # paid earlier in this batch
            invoice["amount_paid"] = str(plan.balances[invoice["number"]][0])
        return invoice

    def _book(self, fields: dict, invoices: list[dict], plan: InvoicePlan, system: str, file_id: int,
              digest: str) -> None:
        """Number the payment, share it among its invoices, write it, move their balances."""
        currency = fields.get("currency") or invoices[0]["currency"]
        for invoice in invoices:
            if currency != invoice["currency"]:
                raise FileRejected("currency_mismatch",
                                   f"payment {fields.get('external_ref')!r} is in {currency}, invoice "
                                   f"{invoice['number']} in {invoice['currency']}",
                                   field="payment.currency", rule=self.rules.name,
                                   hint="a payment is booked in its invoice's currency")
        amount = to_minor_unit(fields["amount"], currency)
        shares, left = allocate(amount, invoices)
        number = self.numbering.next("payment", on=fields.get("paid_on"))
        first = shares[0].invoice if shares else invoices[0]
        plan.payments.append({**fields, "amount": amount, "number": number, "source": system,
                              "invoice_number": first["number"], "currency": currency, "file_id": file_id,
                              "customer_code": first.get("customer_code"),
                              "unallocated": str(left) if left else None})
        for share in shares:
            invoice = share.invoice
            now_paid = paid(invoice) + share.amount
            invoice["amount_paid"] = str(now_paid)
            _set_balance(invoice, now_paid)
            plan.balances[invoice["number"]] = (now_paid, invoice["balance"], invoice["payment_status"])
            plan.allocations.append({"payment_number": number, "invoice_number": invoice["number"],
                                     "amount": str(share.amount), "balance_after": str(invoice["balance"]),
                                     "status_after": invoice["payment_status"]})
        self.find.remember_ref("payment", fields["external_ref"], number, digest)
        plan.refs.append((system, "payment", fields["external_ref"], number, digest, file_id))

    # -- shared -------------------------------------------------------------------------------

    def _already(self, doc: Document, entity: str, key: str, digest: str, plan: InvoicePlan) -> bool:
        """True for a duplicate; a changed version is held for a person."""
        known = self.find.ref(entity, key)
        if not known:
            return False
        if doc.same_content(known[1], digest):
            plan.outcomes.append(_outcome(doc, known[0], "duplicate"))
            return True
        raise FileRejected("document_changed",
                           f"{entity} {key!r} was already imported as {known[0]} and this version differs",
                           line=doc.line, field="external_ref", rule=self.rules.name, number=known[0],
                           hint="held for a person: a numbered document is never changed by an import; "
                                "correct it in the management program")


def _allocated(plan: InvoicePlan) -> dict:
    """What the last payment booked did, for its outcome (ack, `importd check`): each invoice
    it went to with the amount and the balance after, and what was left unallocated."""
    payment = plan.payments[-1]
    shares = []
    for a in reversed(plan.allocations):          # its own are the last ones
        if a["payment_number"] != payment["number"]:
            break
        shares.insert(0, {"invoice": a["invoice_number"], "amount": a["amount"],
                          "balance_after": a["balance_after"], "status": a["status_after"]})
    out = {"amount": str(payment["amount"]), "allocations": shares}
    if payment.get("unallocated"):
        out["unallocated"] = payment["unallocated"]
        out["customer"] = payment.get("customer_code")
    return out


def _identity(doc: Document) -> str:
    return f"{doc.fields.get('seller_id', '')}/{doc.external_ref}"


def _waiting(ref: str) -> str:
    return f"invoice:{ref}"


def _set_balance(invoice: dict, paid: Decimal) -> None:
    due = Decimal(invoice["amount_due"])
    balance = due - paid
    if paid == ZERO and due != ZERO:
        status = "unpaid"
    elif balance == ZERO:
        status = "paid"
    elif (balance > ZERO) == (due > ZERO):
        status = "partially_paid"
    else:
        status = "overpaid"
    invoice.update(amount_paid=paid, balance=balance, payment_status=status)
