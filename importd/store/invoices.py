"""The SQL of invoices and payments, mixed into Store (kept apart so both read in one sitting)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from importd.store.queries import rows_in
from importd.store.schema import ALLOCATION_COLUMNS, INVOICE_COLUMNS, INVOICE_LINE_COLUMNS, PAYMENT_COLUMNS


def _text(value):
    """Decimals as their exact text (`0.10`), whatever the backend's adapter would make of them."""
    return str(value) if isinstance(value, Decimal) else value


class InvoiceStore:
    """Invoice and payment SQL, mixed into Store (kept apart to keep both readable)."""

    db: sqlite3.Connection

    def refs_from_any_source(self, entity: str, ids: list[str]) -> dict[str, sqlite3.Row]:
        """External references of `entity` whatever the source: an issuer's invoice is one
        invoice whichever inbox it came through."""
        found = {}
        for row in rows_in(self.db, "SELECT external_id, internal_key, content_sha256 FROM external_refs"
                                    " WHERE entity = ? AND external_id IN ({marks})", ids, entity):
            found[row["external_id"]] = row
        return found

    def insert_invoices(self, invoices: list[dict], lines: list[dict]) -> None:
        self.db.executemany(
            f"INSERT INTO invoices ({', '.join(INVOICE_COLUMNS)}) VALUES ({', '.join('?' * len(INVOICE_COLUMNS))})",
            [[i.get(c) for c in INVOICE_COLUMNS] for i in invoices])
        self.db.executemany(
            f"INSERT INTO invoice_lines ({', '.join(INVOICE_LINE_COLUMNS)})"
            f" VALUES ({', '.join('?' * len(INVOICE_LINE_COLUMNS))})",
            [[li.get(c) for c in INVOICE_LINE_COLUMNS] for li in lines])

    def invoices_by_ref(self, ref: str) -> list[dict]:
        """Invoices whose number (ours) or external reference (the issuer's) is `ref`."""
        columns = "number, external_ref, seller_id, currency, amount_due, amount_paid, issue_date, customer_code"
        return [dict(row) for row in self.db.execute(
            f"SELECT {columns} FROM invoices WHERE number = ? UNION SELECT {columns}"
            " FROM invoices WHERE external_ref = ?", (ref, ref))]

    def insert_payments(self, payments: list[dict], allocations: list[dict] = ()) -> None:
        self.db.executemany(
            f"INSERT INTO payments ({', '.join(PAYMENT_COLUMNS)}) VALUES ({', '.join('?' * len(PAYMENT_COLUMNS))})",
            [[_text(p.get(c)) for c in PAYMENT_COLUMNS] for p in payments])
        if allocations:
            self.db.executemany(
                f"INSERT INTO payment_allocations ({', '.join(ALLOCATION_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(ALLOCATION_COLUMNS))})",
                [[a.get(c) for c in ALLOCATION_COLUMNS] for a in allocations])

    def payment_figures(self) -> dict:
        """Over- and under-paid invoices and the customers' unallocated credits, exact (summed here:
        SQLite's SUM over TEXT goes through floating point)."""
        invoices = {}
        for status, balance in self.db.execute(
                "SELECT payment_status, balance FROM invoices WHERE payment_status IN ('overpaid', 'partially_paid')"):
            count, total = invoices.get(status, (0, Decimal(0)))
            invoices[status] = (count + 1, total + Decimal(balance))
        credits: dict[str, Decimal] = {}
        for customer, amount in self.db.execute(
                "SELECT coalesce(customer_code, ''), unallocated FROM payments WHERE unallocated IS NOT NULL"):
            credits[customer] = credits.get(customer, Decimal(0)) + Decimal(amount)
        return {"invoices": {status: {"count": count, "balance": str(total)}
                             for status, (count, total) in sorted(invoices.items())},
                "unallocated": {customer: str(total) for customer, total in sorted(credits.items()) if total}}

    def set_invoice_balance(self, number: str, amount_paid: Decimal, balance: Decimal, status: str) -> None:
        self.db.execute("UPDATE invoices SET amount_paid = ?, balance = ?, payment_status = ? WHERE number = ?",
                        (str(amount_paid), str(balance), status, number))

    def parked_record(self, source: str, entity: str, external_id: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM parked_records WHERE source = ? AND entity = ? AND external_id = ?",
            (source, entity, external_id)).fetchone()

    def parked_waiting_for(self, keys: list[str]) -> list[sqlite3.Row]:
        marks = ",".join("?" * len(keys))
        return self.db.execute(f"SELECT * FROM parked_records WHERE waiting_for IN ({marks}) ORDER BY id",
                               keys).fetchall()
