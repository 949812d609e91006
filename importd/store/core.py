"""The connection to the management database, transactions, the ledger of files, counters,
lookups and the writes of customers, products and orders.

The backend (sqlite.py, the default; postgresql.py) opens the connection and makes the
tables; the SQL here is the same for both: SQLite's words, which postgresql.py translates.
A COMMIT that returned is durable on both, which is what lets settle move a file to the
archive afterwards.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Iterable, Iterator

from importd.config.database import Database
from importd.store import sqlite
from importd.store.invoices import InvoiceStore
from importd.store.parking import ParkingStore
from importd.store.queries import now, rows_in, transaction
from importd.store.review import ReviewStore
from importd.store.schema import CUSTOMER_FIELDS, LINE_COLUMNS, ORDER_COLUMNS, PRODUCT_FIELDS
from importd.store.snapshot import SnapshotStore
from importd.store.states import StateStore
from importd.store.systems import SystemsStore


class Store(InvoiceStore, ParkingStore, ReviewStore, SnapshotStore, StateStore, SystemsStore):
    """One connection to the management database."""

    def __init__(self, database: Database, busy_timeout: float = 30.0, owner: str | None = None):
        """`owner`: the spool of this setup, when several setups share the database: the files
        it spools are its own to process and settle (None: the database is this setup's alone)."""
        self.owner = owner
        if isinstance(database, Path):
            self.db = sqlite.connect(database, busy_timeout)
            self._take_room = None                  # BEGIN IMMEDIATE takes the whole database
            self.skip_locked = ""
        else:
            from importd.store import postgresql      # psycopg is an optional dependency
            self.db = postgresql.connect(database, busy_timeout)
            self._take_room = partial(postgresql.take_room, self.db)
            self.skip_locked = " FOR UPDATE SKIP LOCKED"
        self._savepoints = 0
        self._depth = 0                 # savepoints open now
        self._rooms: dict[str, int] = {}   # rooms held (rooms.py) → the savepoint depth that took them

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
        try:
            with transaction(self.db, "BEGIN IMMEDIATE"):
                yield
        finally:
            self._rooms.clear()

    def _savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        self._depth += 1
        name = f"block{self._savepoints}"
        self.db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
            # PostgreSQL gives back the locks taken inside a savepoint rolled back
            self._rooms = {room: depth for room, depth in self._rooms.items() if depth < self._depth}
            raise
        else:
            self.db.execute(f"RELEASE {name}")
            self._rooms = {room: min(depth, self._depth - 1) for room, depth in self._rooms.items()}
        finally:
            self._depth -= 1

    def lock(self, rooms: Iterable[str]) -> None:
        """Take these rooms (rooms.py) until the transaction ends, in sorted order; call inside a
        transaction. Several instances on one PostgreSQL take turns in a room; on SQLite the
        write lock of BEGIN IMMEDIATE already holds the whole database."""
        if self._take_room is None:
            return
        for room in sorted(set(rooms) - self._rooms.keys()):
            self._take_room(room)
            self._rooms[room] = self._depth

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
                    " remote_path, remote_size, remote_mtime, spool_owner)"
                    " VALUES (?, ?, ?, ?, 'received', ?, ?, ?, ?, ?, ?) RETURNING id",
                    (source, name, sha256, size, now(), spool_path, remote_path, remote_size, remote_mtime,
                     self.owner)).fetchone()[0])
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

    def imported_twins(self, sha256: str, file_id: int, limit: int = 8) -> list[sqlite3.Row]:
        """Earlier files with the same bytes that were imported, oldest first."""
        return self.db.execute(
            "SELECT * FROM import_files WHERE sha256 = ? AND id <> ? AND state = 'imported'"
            " ORDER BY id LIMIT ?", (sha256, file_id, limit)).fetchall()

    def set_state(self, file_id: int, state: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE import_files SET state = ? WHERE id = ?", (state, file_id))

    def finish_file(self, file_id: int, state: str, *, rules: str | None = None,
                    settled_path: str | None = None, records: int | None = None,
                    documents: int | None = None, summary: dict | None = None,
                    error_code: str | None = None, error_message: str | None = None,
                    reported: int | None = None, rejected: int | None = None) -> None:
        """Record a file's outcome; call inside the transaction that wrote its documents.
        `reported`: its documents a check in report mode would have refused (NULL: none);
        `rejected`: its documents rejected one by one (atomicity = "document"; NULL: none)."""
        self.db.execute(
            "UPDATE import_files SET state = ?, rules = ?, settled_path = ?, records = ?, documents = ?,"
            " summary = ?, error_code = ?, error_message = ?, finished_at = ?, reported = ?, rejected = ?"
            " WHERE id = ?",
            (state, rules, settled_path, records, documents,
             json.dumps(summary, default=str) if summary is not None else None, error_code, error_message,
             now(), reported or None, rejected or None, file_id))

    def mark_settled(self, file_ids: list[int]) -> None:
        stamp = now()
        self.db.executemany("UPDATE import_files SET settled_at = ?, spool_path = NULL WHERE id = ?",
                            [(stamp, file_id) for file_id in file_ids])

    def unsettled(self, after: int = 0, limit: int = 200) -> list[sqlite3.Row]:
        """Files still in the spool, to process (received) or to settle (final state): the
        first `limit` whose id comes after `after`, oldest first."""
        return self.db.execute(
            "SELECT * FROM import_files WHERE spool_path IS NOT NULL AND id > ? AND spool_owner IS ?"
            " ORDER BY id LIMIT ?", (after, self.owner, limit)).fetchall()

    def spooled(self, paths: list[str]) -> set[str]:
        """Those of these spool paths that the ledger has (and has not settled), in this spool."""
        return {row[0] for row in rows_in(
            self.db, "SELECT spool_path FROM import_files WHERE spool_owner IS ? AND spool_path IN ({marks})",
            paths, self.owner)}

    def unsettled_ids(self, ids: list[int]) -> set[int]:
        return {row[0] for row in rows_in(
            self.db, "SELECT id FROM import_files WHERE spool_path IS NOT NULL AND id IN ({marks})", ids)}

    def unsettled_by_source(self) -> dict[str, int]:
        """How many files wait in the spool, per source. `+source` keeps SQLite from walking the
        whole ledger by its source index: the few unsettled rows come from their partial index."""
        return dict(self.db.execute(
            "SELECT source, count(*) FROM import_files WHERE spool_path IS NOT NULL AND spool_owner IS ?"
            " GROUP BY +source", (self.owner,)).fetchall())

    def counts_by_state(self) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT source, state, count(*) AS n FROM import_files GROUP BY source, state"
            " ORDER BY source, state").fetchall()

    def last_files(self, limit: int = 10) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT id, source, name, state, received_at, finished_at, documents, error_code,"
            " error_message, summary, rejected FROM import_files ORDER BY id DESC LIMIT ?", (limit,)).fetchall()

    def counters(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM counters ORDER BY series, scope").fetchall()

    def quarantined(self, limit: int = 100) -> list[sqlite3.Row]:
        """This setup's quarantined files (their copies are in its quarantine folder), newest first."""
        return self.db.execute(
            "SELECT * FROM import_files WHERE state = 'quarantined' AND spool_owner IS ? ORDER BY id DESC LIMIT ?",
            (self.owner, limit)).fetchall()

    def files_with_rejects(self, limit: int = 200) -> list[sqlite3.Row]:
        """This setup's settled files that had documents rejected one by one, newest first."""
        from importd.store.web import files_with_rejects
        return files_with_rejects(self.db, self.owner, limit)

    def quarantined_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM import_files WHERE state = 'quarantined' AND spool_owner IS ?",
                               (self.owner,)).fetchone()[0]

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

    def external_refs(self, system: str, entity: str, ids: list[str]) -> dict[str, sqlite3.Row]:
        """The references of `system` (external_refs.source holds it) among `ids`."""
        return {row["external_id"]: row for row in rows_in(
            self.db, "SELECT external_id, internal_key, content_sha256 FROM external_refs"
                     " WHERE source = ? AND entity = ? AND external_id IN ({marks})", ids, system, entity)}

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
        self.db.execute(f"INSERT INTO products (sku, {', '.join(PRODUCT_FIELDS)})"
                        f" VALUES ({', '.join('?' * (len(PRODUCT_FIELDS) + 1))})",
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
        """rows: (system, entity, external_id, internal_key, content_sha256, file_id)."""
        self.db.executemany(
            "INSERT INTO external_refs (source, entity, external_id, internal_key, content_sha256, file_id)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, entity, external_id) DO UPDATE SET"
            " internal_key = excluded.internal_key, content_sha256 = excluded.content_sha256,"
            " file_id = excluded.file_id", rows)

    def documents_of_file(self, file_id: int) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT entity, external_id, internal_key FROM external_refs WHERE file_id = ?"
            " ORDER BY rowid", (file_id,)).fetchall()
