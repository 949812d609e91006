"""What the ops page and the alert figures read from the management database.

`importd web` opens the database read-only, so nothing here writes — except
`ensure_indexes`, which creates the indexes these reads need, once, when the
page starts. With them each query reads a range of an index, never the whole
ledger: the page stays well under 200 ms with a million files in it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from importd.config.database import Database
from importd.faults import DatabaseFault
from importd.store import sqlite
from importd.store.queries import rows_in
from importd.store.reports import reported_checks as would_refuse   # noqa: F401 (the page reads it here)

ERRORS = (sqlite3.Error, DatabaseFault)     # a database the page cannot read now

# Each serves one part of the page; partial ones cost the service a write only for the rows they hold.
WEB_INDEXES = {
    # throughput over the last 24 hours: a range of finished_at, counted without reading the rows
    "import_files_finished": "ON import_files(finished_at, state, source, documents)",
    # quarantine by error code, and the newest files of one code
    "import_files_quarantined": "ON import_files(error_code) WHERE state = 'quarantined'",
    # the newest quarantined files of every code
    "import_files_quarantined_newest": "ON import_files(id) WHERE state = 'quarantined'",
    # parked documents, the first to expire first
    "parked_records_expires": "ON parked_records(expires_at)",
}


def _backend(database_or_connection):
    if isinstance(database_or_connection, (Path, sqlite3.Connection)):
        return sqlite
    from importd.store import postgresql      # psycopg is an optional dependency
    return postgresql


def open_readonly(database: Database, busy_timeout: float = 5.0):
    """A connection that cannot write, or None when there is no database (or no ledger) yet."""
    return _backend(database).open_readonly(database, busy_timeout)


def missing_indexes(db) -> list[str]:
    have = _backend(db).index_names(db)
    return [name for name in WEB_INDEXES if name not in have]


def ensure_indexes(database: Database, busy_timeout: float = 30.0) -> list[str] | None:
    """Create the page's indexes that a database lacks (one short write); the names created,
    or None while there is no ledger yet to index. Raises the backend's error when the
    database cannot be written (the page works, only slower)."""
    db = open_readonly(database, busy_timeout)
    if db is None:
        return None
    try:
        missing = missing_indexes(db)
    finally:
        db.close()
    if not missing:
        return []
    backend = _backend(database)
    db = (sqlite3.connect(database, timeout=busy_timeout, isolation_level=None) if backend is sqlite
          else backend.Connection(database, busy_timeout))
    try:
        if not backend.has_table(db, "import_files"):
            return None      # the service has not made its schema yet
        for name in missing:
            db.execute(f"CREATE INDEX IF NOT EXISTS {name} {WEB_INDEXES[name]}")
        return missing
    finally:
        db.close()


# -- per source --------------------------------------------------------------------------------

def spool_waiting(db: sqlite3.Connection) -> dict[str, tuple[int, str | None]]:
    """Per source, the files in the spool (claimed, not yet settled) and the oldest one's received_at."""
    # GROUP BY +source: grouped by a plain source, SQLite would walk a (source, …) index over the
    # whole ledger (185 ms at a million rows); this way it finds the few spooled rows by spool_path.
    return {row[0]: (row[1], row[2]) for row in db.execute(
        "SELECT source, count(*), min(received_at) FROM import_files WHERE spool_path IS NOT NULL"
        " GROUP BY +source")}


def last_imported(db: sqlite3.Connection, source: str) -> sqlite3.Row | None:
    """The source's last imported file (id, name, finished_at)."""
    return db.execute(
        "SELECT id, name, finished_at FROM import_files WHERE source = ? AND state = 'imported'"
        " ORDER BY id DESC LIMIT 1", (source,)).fetchone()


def throughput(db: sqlite3.Connection, since: str) -> list[sqlite3.Row]:
    """Files and documents settled since `since` (ISO, UTC), per hour, source and state."""
    return db.execute(
        # the hour as text on both backends ('2024-05-01T09'; PostgreSQL writes a space for the T)
        "SELECT replace(substr(CAST(finished_at AS TEXT), 1, 13), ' ', 'T') AS hour, source, state,"
        " count(*) AS files,"
        " CAST(coalesce(sum(documents), 0) AS INTEGER) AS documents FROM import_files WHERE finished_at >= ?"
        " GROUP BY hour, source, state", (since,)).fetchall()


# -- quarantine --------------------------------------------------------------------------------

def quarantine_by_code(db: sqlite3.Connection, owner: str | None) -> list[sqlite3.Row]:
    """A setup's quarantined files (`owner`: its spool's name, see Store) per error code, the most
    frequent first."""
    return db.execute(
        "SELECT error_code, count(*) AS files FROM import_files WHERE state = 'quarantined' AND spool_owner IS ?"
        " GROUP BY error_code ORDER BY files DESC, error_code", (owner,)).fetchall()


def quarantined_files(db: sqlite3.Connection, owner: str | None, code: str | None, before: int | None,
                      limit: int) -> list[sqlite3.Row]:
    """A setup's newest quarantined files (of one code, older than the id `before`, when given)."""
    where, params = ["state = 'quarantined' AND spool_owner IS ?"], [owner]
    if code is not None:
        where.append("error_code = ?")
        params.append(code)
    if before is not None:
        where.append("id < ?")
        params.append(before)
    return db.execute(
        "SELECT id, source, name, received_at, finished_at, error_code, error_message, rules, settled_path,"
        f" settled_at FROM import_files WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
        (*params, limit)).fetchall()


# -- parked documents and numbering ------------------------------------------------------------

def parked_counts(db: sqlite3.Connection) -> tuple[int, int]:
    """Documents waiting for a reference, and documents held for a person's review."""
    row = db.execute("SELECT count(*), count(*) FILTER (WHERE waiting_for = 'review') FROM parked_records").fetchone()
    return row[0] - row[1], row[1]


def parked(db: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """Parked and held documents, the first to expire first (without their payload)."""
    return db.execute(
        "SELECT id, file_id, source, coalesce(system, source) AS system, entity, external_id, waiting_for, reason,"
        " line, parked_at, expires_at FROM parked_records ORDER BY expires_at, id LIMIT ?", (limit,)).fetchall()


def next_parked_expiry(db: sqlite3.Connection) -> str | None:
    """When the first document waiting for a reference expires (held ones wait for a person)."""
    return db.execute("SELECT min(expires_at) FROM parked_records WHERE waiting_for <> 'review'").fetchone()[0]


def counters(db: sqlite3.Connection) -> list[sqlite3.Row]:
    return db.execute("SELECT series, scope, last_value, last_date FROM counters ORDER BY series, scope").fetchall()


def files_with_rejects(db: sqlite3.Connection, owner: str | None, limit: int = 200) -> list[sqlite3.Row]:
    """A setup's settled files that had documents rejected one by one (atomicity = "document"),
    newest first; whether their rejects still wait in quarantine is the folder's to say."""
    try:
        return db.execute(
            "SELECT id, source, name, rejected, summary, finished_at FROM import_files WHERE rejected > 0"
            " AND settled_at IS NOT NULL AND spool_owner IS ? ORDER BY id DESC LIMIT ?", (owner, limit)).fetchall()
    except ERRORS:          # a database the service has not brought up to date yet (either backend)
        return []


def payments(db) -> dict:
    """Invoices paid too much or too little and the customers' unallocated credits (store.invoices)."""
    from importd.store.invoices import payment_figures
    return payment_figures(db)


# -- deciding on the page (reads; the decisions themselves go through importd.stages.review) ----

def parked_one(db: sqlite3.Connection, parked_id: int) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM parked_records WHERE id = ?", (parked_id,)).fetchone()


def quarantined_file(db: sqlite3.Connection, file_id: int) -> sqlite3.Row | None:
    return db.execute(
        "SELECT id, source, name, sha256, state, received_at, finished_at, error_code, error_message, rules,"
        " settled_path, settled_at, spool_owner FROM import_files WHERE id = ?", (file_id,)).fetchone()


def decisions(db: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """The last decisions (the review log), newest first."""
    return db.execute("SELECT * FROM review_decisions ORDER BY id DESC LIMIT ?", (limit,)).fetchall()


def excluded(db: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """The do-not-sync list, the latest first."""
    return db.execute("SELECT * FROM do_not_sync ORDER BY excluded_at DESC LIMIT ?", (limit,)).fetchall()


def has_review_tables(db) -> bool:
    return _backend(db).has_table(db, "review_decisions")


class Lookups:
    """The stored records a held document is compared with, over the page's read-only connection."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def customer(self, code: str) -> dict | None:
        row = self.db.execute("SELECT * FROM customers WHERE code = ?", (code,)).fetchone()
        return dict(row) if row else None

    def products(self, skus: list[str]) -> dict[str, dict]:
        return {row["sku"]: dict(row) for row in rows_in(self.db, "SELECT * FROM products WHERE sku IN ({marks})",
                                                          skus)}
