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
        return payment_figures(self.db)

    def set_invoice_balance(self, number: str, amount_paid: Decimal, balance: Decimal, status: str) -> None:
        self.db.execute("UPDATE invoices SET amount_paid = ?, balance = ?, payment_status = ? WHERE number = ?",
                        (str(amount_paid), str(balance), status, number))

    def parked_record(self, system: str, entity: str, external_id: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM parked_records WHERE system = ? AND entity = ? AND external_id = ?",
            (system, entity, external_id)).fetchone()

    def parked_waiting_for(self, keys: list[str]) -> list[sqlite3.Row]:
        marks = ",".join("?" * len(keys))
        return self.db.execute(f"SELECT * FROM parked_records WHERE waiting_for IN ({marks}) ORDER BY id",
                               keys).fetchall()


LISTED = 20     # invoices and customers listed by name; the totals count them all


def payment_figures(db) -> dict:
    """Over- and under-paid invoices and the customers' unallocated credits, exact (summed here:
    SQLite's SUM over TEXT goes through floating point). For status and the ops page."""
    totals: dict[str, list] = {}
    listed = []
    for row in db.execute("SELECT number, external_ref, customer_code, currency, amount_due, amount_paid, balance,"
                          " payment_status FROM invoices WHERE payment_status IN ('overpaid', 'partially_paid')"
                          " ORDER BY number"):
        total = totals.setdefault(row["payment_status"], [0, Decimal(0)])
        total[0] += 1
        total[1] += Decimal(row["balance"])
        if len(listed) < LISTED:
            listed.append(dict(row))
    credits: dict[str, Decimal] = {}
    for row in db.execute("SELECT customer_code, unallocated FROM payments WHERE unallocated IS NOT NULL"):
        key = row["customer_code"] or ""
        credits[key] = credits.get(key, Decimal(0)) + Decimal(row["unallocated"])
    return {"totals": {status: {"count": count, "balance": str(balance)}
                       for status, (count, balance) in sorted(totals.items())},
            "invoices": listed,
            "credits": [{"customer": customer, "amount": str(amount)}
                        for customer, amount in sorted(credits.items()) if amount][:LISTED]}
