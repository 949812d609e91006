"""The management database: the schema and every SQL statement importd runs.

SQLite in WAL mode with synchronous=FULL: a COMMIT that returned is on disk,
which is what lets settle move a file to the archive afterwards. Money and
quantities are TEXT decimal strings (a NUMERIC column would turn them into REAL).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator

from importd.store_invoices import InvoiceStore, rows_in
from importd.store_parking import ParkingStore
from importd.store_review import REVIEW_SCHEMA, ReviewStore
from importd.store_snapshot import NEWEST_OBJECT, SNAPSHOT_COLUMNS, SNAPSHOT_SCHEMA, SnapshotStore

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    code TEXT PRIMARY KEY, name TEXT, email TEXT, phone TEXT, address1 TEXT, address2 TEXT,
    postcode TEXT, city TEXT, country TEXT, vat_number TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS customers_email ON customers(email);
CREATE INDEX IF NOT EXISTS customers_vat_number ON customers(vat_number);
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY, name TEXT, unit_price TEXT, vat_rate TEXT);
CREATE TABLE IF NOT EXISTS orders (
    number TEXT PRIMARY KEY, source TEXT NOT NULL, external_ref TEXT NOT NULL, customer_code TEXT,
    order_date TEXT, currency TEXT, status TEXT, subtotal TEXT, shipping TEXT, discount TEXT,
    tax TEXT, total TEXT, file_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS order_lines (
    order_number TEXT NOT NULL, line_no INTEGER NOT NULL, sku TEXT, description TEXT,
    quantity TEXT, unit_price TEXT, line_total TEXT, PRIMARY KEY (order_number, line_no));
CREATE TABLE IF NOT EXISTS invoices (
    number TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    source TEXT NOT NULL, external_ref TEXT NOT NULL, customer_code TEXT, issue_date TEXT,
    due_date TEXT, currency TEXT, total_net TEXT, total_tax TEXT, total_gross TEXT,
    amount_due TEXT, file_id INTEGER, seller_id TEXT, seller_name TEXT, total_lines TEXT,
    allowance_total TEXT, charge_total TEXT, prepaid TEXT, rounding TEXT,
    amount_paid TEXT, balance TEXT, payment_status TEXT);
CREATE TABLE IF NOT EXISTS invoice_lines (
    invoice_number TEXT NOT NULL, line_no INTEGER NOT NULL, sku TEXT, description TEXT,
    quantity TEXT, unit_code TEXT, unit_price TEXT, net_amount TEXT, vat_rate TEXT,
    vat_category TEXT, line_id TEXT, PRIMARY KEY (invoice_number, line_no));
CREATE TABLE IF NOT EXISTS payments (
    number TEXT PRIMARY KEY, source TEXT NOT NULL, external_ref TEXT NOT NULL,
    invoice_number TEXT, paid_on TEXT, amount TEXT, currency TEXT, method TEXT, file_id INTEGER);

CREATE TABLE IF NOT EXISTS import_files (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, state TEXT NOT NULL, received_at TEXT NOT NULL, finished_at TEXT,
    error_code TEXT, error_message TEXT, rules TEXT, spool_path TEXT, settled_path TEXT,
    settled_at TEXT, records INTEGER, documents INTEGER, summary TEXT,
    remote_path TEXT, remote_size INTEGER, remote_mtime INTEGER);
CREATE INDEX IF NOT EXISTS import_files_sha256 ON import_files(sha256);
CREATE INDEX IF NOT EXISTS import_files_source_state ON import_files(source, state);
CREATE TABLE IF NOT EXISTS counters (
    series TEXT NOT NULL, scope TEXT NOT NULL, last_value INTEGER NOT NULL, last_date TEXT,
    PRIMARY KEY (series, scope));
CREATE TABLE IF NOT EXISTS external_refs (
    source TEXT NOT NULL, entity TEXT NOT NULL, external_id TEXT NOT NULL,
    internal_key TEXT NOT NULL, content_sha256 TEXT, file_id INTEGER,
    PRIMARY KEY (source, entity, external_id));
CREATE TABLE IF NOT EXISTS parked_records (
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, source TEXT NOT NULL, entity TEXT NOT NULL,
    external_id TEXT, waiting_for TEXT NOT NULL, payload TEXT NOT NULL, parked_at TEXT NOT NULL,
    rules TEXT NOT NULL, reason TEXT NOT NULL, details TEXT, line INTEGER, expires_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS parked_records_ref ON parked_records(source, entity, external_id);
"""

PRODUCT_FIELDS = ("name", "unit_price", "vat_rate")
# Added after schema version 1: an existing database gets them when importd opens it.
# Invoice balances are computed in Python with exact decimals and stored, because
# SQLite's SUM over TEXT would go through floating point.
MIGRATION_SCHEMA = """
CREATE INDEX IF NOT EXISTS invoices_external_ref ON invoices(external_ref);
CREATE INDEX IF NOT EXISTS parked_records_waiting_for ON parked_records(waiting_for);
CREATE INDEX IF NOT EXISTS import_files_remote ON import_files(source, remote_path);
CREATE INDEX IF NOT EXISTS import_files_spool_path ON import_files(spool_path) WHERE spool_path IS NOT NULL;
CREATE INDEX IF NOT EXISTS import_files_unsettled ON import_files(id) WHERE spool_path IS NOT NULL;
CREATE VIEW IF NOT EXISTS invoice_balances AS
    SELECT number, kind, external_ref, seller_id, customer_code, currency, amount_due,
           coalesce(amount_paid, '0') AS amount_paid, coalesce(balance, amount_due) AS balance,
           coalesce(payment_status, 'unpaid') AS payment_status
    FROM invoices;
""" + REVIEW_SCHEMA + SNAPSHOT_SCHEMA
ADDED_COLUMNS = {
    "invoices": dict.fromkeys(("seller_id", "seller_name", "total_lines", "allowance_total", "charge_total",
                               "prepaid", "rounding", "amount_paid", "balance", "payment_status"), "TEXT"),
    "invoice_lines": {"line_id": "TEXT"},
    # Where an sftp file came from.
    "import_files": {"remote_path": "TEXT", "remote_size": "INTEGER", "remote_mtime": "INTEGER"},
    **SNAPSHOT_COLUMNS,      # a record a full export no longer lists: absent since when, by which file
}

CUSTOMER_FIELDS = ("name", "email", "phone", "address1", "address2", "postcode", "city",
                   "country", "vat_number")
ORDER_COLUMNS = ("number", "source", "external_ref", "customer_code", "order_date", "currency",
                 "status", "subtotal", "shipping", "discount", "tax", "total", "file_id")
LINE_COLUMNS = ("order_number", "line_no", "sku", "description", "quantity", "unit_price", "line_total")
FINAL_STATES = ("imported", "duplicate", "quarantined")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# Decimals are written as their exact text, never as REAL.
sqlite3.register_adapter(Decimal, str)



class Store(InvoiceStore, ParkingStore, ReviewStore, SnapshotStore):
    """One connection to the management database."""

    def __init__(self, path: Path, busy_timeout: float = 30.0):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self._savepoints = 0
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA temp_store=MEMORY")
        if self.db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            self.db.executescript(
                f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        self._migrate()

    def _migrate(self) -> None:
        """Bring a database made by an earlier importd up to date; does nothing when it is."""
        missing = [(table, column, kind) for table, columns in ADDED_COLUMNS.items()
                   for column, kind in columns.items() if column not in self._columns(table)]
        if not missing and self.db.execute(      # the newest object of MIGRATION_SCHEMA
                "SELECT 1 FROM sqlite_master WHERE name = ?", (NEWEST_OBJECT,)).fetchone():
            return
        with self.transaction():
            for table, column, kind in missing:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            for statement in MIGRATION_SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)

    def _columns(self, table: str) -> set[str]:
        return {row["name"] for row in self.db.execute(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT: the write lock is taken up front, so counters
        read inside cannot change under us; any exception rolls everything back.

        Inside another transaction (a group commit of several files) it is a
        savepoint: an exception undoes this block alone, the outer one goes on."""
        if self.db.in_transaction:
            yield from self._savepoint()
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:     # SQLite may have rolled back already (a full disk)
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        name = f"block{self._savepoints}"
        self.db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
            raise
        self.db.execute(f"RELEASE {name}")

    # -- the ledger -------------------------------------------------------------------

    def add_files(self, source: str, files: list[tuple[str, str, int, str]],
                  remote: tuple[str, int, int] | list[tuple[str, int, int]] | None = None) -> list[int]:
        """Record spooled files (name, sha256, size, spool_path), in one transaction; their ids.
        `remote`: (path, size, mtime) of a file fetched from an sftp server, or a list: one per file."""
        remotes = remote if isinstance(remote, list) else [remote or (None, None, None)] * len(files)
        ids = []
        with self.transaction():
            for (name, sha256, size, spool_path), (remote_path, remote_size, remote_mtime) in zip(files, remotes):
                ids.append(self.db.execute(
                    "INSERT INTO import_files (source, name, sha256, size, state, received_at, spool_path,"
                    " remote_path, remote_size, remote_mtime) VALUES (?, ?, ?, ?, 'received', ?, ?, ?, ?, ?)",
                    (source, name, sha256, size, now(), spool_path, remote_path, remote_size,
                     remote_mtime)).lastrowid)
        return ids

    def remote_file_id(self, source: str, remote_path: str, size: int, mtime: int) -> int | None:
        """The ledger id of this exact remote file (same path, size and mtime), if fetched before."""
        row = self.db.execute(
            "SELECT id FROM import_files WHERE source = ? AND remote_path = ? AND remote_size = ?"
            " AND remote_mtime = ? ORDER BY id DESC LIMIT 1", (source, remote_path, size, mtime)).fetchone()
        return row[0] if row else None

    def file(self, file_id: int) -> sqlite3.Row:
        return self.db.execute("SELECT * FROM import_files WHERE id = ?", (file_id,)).fetchone()

    def files(self, file_ids: list[int]) -> list[sqlite3.Row]:
        """Ledger rows, in the order of `file_ids`."""
        rows = {row["id"]: row for row in rows_in(self.db, "SELECT * FROM import_files WHERE id IN ({marks})",
                                                   file_ids)}
        return [rows[file_id] for file_id in file_ids]

    def imported_twin(self, sha256: str, file_id: int) -> sqlite3.Row | None:
        """An earlier file with the same bytes that was imported."""
        return self.db.execute(
            "SELECT * FROM import_files WHERE sha256 = ? AND id <> ? AND state = 'imported'"
            " ORDER BY id LIMIT 1", (sha256, file_id)).fetchone()

    def set_state(self, file_id: int, state: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE import_files SET state = ? WHERE id = ?", (state, file_id))

    def finish_file(self, file_id: int, state: str, *, rules: str | None = None,
                    settled_path: str | None = None, records: int | None = None,
                    documents: int | None = None, summary: dict | None = None,
                    error_code: str | None = None, error_message: str | None = None) -> None:
        """Record a file's outcome; call inside the transaction that wrote its documents."""
        self.db.execute(
            "UPDATE import_files SET state = ?, rules = ?, settled_path = ?, records = ?, documents = ?,"
            " summary = ?, error_code = ?, error_message = ?, finished_at = ? WHERE id = ?",
            (state, rules, settled_path, records, documents,
             json.dumps(summary, default=str) if summary is not None else None, error_code, error_message,
             now(), file_id))

    def mark_settled(self, file_ids: list[int]) -> None:
        stamp = now()
        self.db.executemany("UPDATE import_files SET settled_at = ?, spool_path = NULL WHERE id = ?",
                            [(stamp, file_id) for file_id in file_ids])

    def unsettled(self, after: int = 0, limit: int = 200) -> list[sqlite3.Row]:
        """Files still in the spool, to process (received) or to settle (final state): the
        first `limit` whose id comes after `after`, oldest first."""
        return self.db.execute(
            "SELECT * FROM import_files WHERE spool_path IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
            (after, limit)).fetchall()

    def spooled(self, paths: list[str]) -> set[str]:
        """Those of these spool paths that the ledger has (and has not settled)."""
        return {row[0] for row in rows_in(
            self.db, "SELECT spool_path FROM import_files WHERE spool_path IN ({marks})", paths)}

    def unsettled_ids(self, ids: list[int]) -> set[int]:
        return {row[0] for row in rows_in(
            self.db, "SELECT id FROM import_files WHERE spool_path IS NOT NULL AND id IN ({marks})", ids)}

    def unsettled_by_source(self) -> dict[str, int]:
        """How many files wait in the spool, per source. `+source` keeps SQLite from walking the
        whole ledger by its source index: the few unsettled rows come from their partial index."""
        return dict(self.db.execute(
            "SELECT source, count(*) FROM import_files WHERE spool_path IS NOT NULL GROUP BY +source").fetchall())

    def counts_by_state(self) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT source, state, count(*) AS n FROM import_files GROUP BY source, state"
            " ORDER BY source, state").fetchall()

    def last_files(self, limit: int = 10) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT id, source, name, state, received_at, finished_at, documents, error_code,"
            " error_message, summary FROM import_files ORDER BY id DESC LIMIT ?", (limit,)).fetchall()

    def counters(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM counters ORDER BY series, scope").fetchall()

    def quarantined(self, limit: int = 100) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT * FROM import_files WHERE state = 'quarantined' ORDER BY id DESC LIMIT ?",
            (limit,)).fetchall()

    def quarantined_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM import_files WHERE state = 'quarantined'").fetchone()[0]

    def last_success(self) -> dict[str, str]:
        return {row[0]: row[1] for row in self.db.execute(
            "SELECT source, max(finished_at) FROM import_files WHERE state = 'imported' GROUP BY source")}

    # -- counters (inside a file's transaction) ----------------------------------------

    def counter(self, series: str, scope: str) -> tuple[int, str | None]:
        """The last number given in a scope, and the date of the document that got it."""
        row = self.db.execute("SELECT last_value, last_date FROM counters WHERE series = ? AND scope = ?",
                              (series, scope)).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def save_counters(self, values: dict[tuple[str, str], tuple[int, str | None]]) -> None:
        self.db.executemany(
            "INSERT INTO counters (series, scope, last_value, last_date) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (series, scope) DO UPDATE SET last_value = excluded.last_value,"
            " last_date = excluded.last_date",
            [(series, scope, value, day) for (series, scope), (value, day) in values.items()])

    # -- lookups ------------------------------------------------------------------------

    def external_refs(self, source: str, entity: str, ids: list[str]) -> dict[str, sqlite3.Row]:
        return {row["external_id"]: row for row in rows_in(
            self.db, "SELECT external_id, internal_key, content_sha256 FROM external_refs"
                     " WHERE source = ? AND entity = ? AND external_id IN ({marks})", ids, source, entity)}

    def customer_codes_by(self, field: str, values: list[str]) -> dict[str, list[str]]:
        """Customer codes having `field` equal to each value (field is a known column)."""
        assert field in CUSTOMER_FIELDS
        found: dict[str, list[str]] = {}
        for row in rows_in(self.db, f"SELECT {field} AS value, code FROM customers WHERE {field} IN ({{marks}})",
                           values):
            found.setdefault(row["value"], []).append(row["code"])
        return found

    def products(self, skus: list[str]) -> dict[str, dict]:
        return {row["sku"]: dict(row) for row in rows_in(self.db, "SELECT * FROM products WHERE sku IN ({marks})",
                                                          skus)}

    def order_with_lines(self, number: str) -> tuple[dict, list[dict]]:
        order = self.db.execute("SELECT * FROM orders WHERE number = ?", (number,)).fetchone()
        lines = self.db.execute("SELECT * FROM order_lines WHERE order_number = ? ORDER BY line_no",
                                (number,)).fetchall()
        return (dict(order) if order else {}), [dict(li) for li in lines]

    def customer(self, code: str) -> dict | None:
        row = self.db.execute("SELECT * FROM customers WHERE code = ?", (code,)).fetchone()
        return dict(row) if row else None

    # -- writes (inside a file's transaction) ---------------------------------------------

    def insert_customers(self, customers: list[tuple[str, dict]]) -> None:
        """(code, fields) of new customers, in one statement."""
        stamp = now()
        self.db.executemany(
            f"INSERT INTO customers (code, {', '.join(CUSTOMER_FIELDS)}, created_at, updated_at)"
            f" VALUES ({', '.join('?' * (len(CUSTOMER_FIELDS) + 3))})",
            [(code, *map(fields.get, CUSTOMER_FIELDS), stamp, stamp) for code, fields in customers])

    def update_customer(self, code: str, changes: dict) -> None:
        columns = [f for f in CUSTOMER_FIELDS if f in changes]
        self.db.execute(
            f"UPDATE customers SET {', '.join(f'{c} = ?' for c in columns)}, updated_at = ? WHERE code = ?",
            (*(changes[c] for c in columns), now(), code))

    def insert_product(self, sku: str, fields: dict) -> None:
        self.db.execute(f"INSERT INTO products (sku, {', '.join(PRODUCT_FIELDS)}) VALUES (?, ?, ?, ?)",
                        (sku, *(fields.get(f) for f in PRODUCT_FIELDS)))

    def update_product(self, sku: str, changes: dict) -> None:
        columns = [f for f in PRODUCT_FIELDS if f in changes]
        self.db.execute(f"UPDATE products SET {', '.join(f'{c} = ?' for c in columns)} WHERE sku = ?",
                        (*(changes[c] for c in columns), sku))

    def insert_orders(self, orders: list[tuple], lines: list[tuple]) -> None:
        """Rows of ORDER_COLUMNS and of LINE_COLUMNS, values in that order."""
        self.db.executemany(
            f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({', '.join('?' * len(ORDER_COLUMNS))})",
            orders)
        self.db.executemany(
            f"INSERT INTO order_lines ({', '.join(LINE_COLUMNS)}) VALUES ({', '.join('?' * len(LINE_COLUMNS))})",
            lines)

    def save_external_refs(self, rows: Iterable[tuple]) -> None:
        """rows: (source, entity, external_id, internal_key, content_sha256, file_id)."""
        self.db.executemany(
            "INSERT INTO external_refs (source, entity, external_id, internal_key, content_sha256, file_id)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, entity, external_id) DO UPDATE SET"
            " internal_key = excluded.internal_key, content_sha256 = excluded.content_sha256,"
            " file_id = excluded.file_id", rows)

    def documents_of_file(self, file_id: int) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT entity, external_id, internal_key FROM external_refs WHERE file_id = ?"
            " ORDER BY rowid", (file_id,)).fetchall()
