"""The SQLite backend: the embedded default, one file, no server.

WAL mode with synchronous=FULL: a COMMIT that returned is on disk, which is what lets
settle move a file to the archive afterwards. The stages talk to the sqlite3 connection
itself — no layer between them and SQLite on the hot path.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from importd.store.queries import schema_change
from importd.store.schema import ADDED_COLUMNS, MIGRATION_SCHEMA, NEWEST_OBJECT, SCHEMA, SCHEMA_VERSION

# Decimals are written as their exact text, never as REAL.
sqlite3.register_adapter(Decimal, str)

TRANSIENT = (sqlite3.OperationalError,)     # locked, busy, full, I/O: retried


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """The connection, its database created or brought up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA temp_store=MEMORY")
    if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
    _migrate(db)
    return db


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a database made by an earlier importd up to date; does nothing when it is."""
    missing = [(table, column, kind) for table, columns in ADDED_COLUMNS.items()
               for column, kind in columns.items() if column not in columns_of(db, table)]
    if not missing and db.execute(      # the newest object of MIGRATION_SCHEMA
            "SELECT 1 FROM sqlite_master WHERE name = ?", (NEWEST_OBJECT,)).fetchone():
        return
    with schema_change(db, "BEGIN IMMEDIATE"):
        for table, column, kind in missing:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        for statement in MIGRATION_SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)


def columns_of(db: sqlite3.Connection, table: str) -> set[str]:
    return {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}


def index_names(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def open_readonly(path: Path, busy_timeout: float) -> sqlite3.Connection | None:
    """A connection that cannot write (SQLite refuses it), or None when there is no database yet."""
    if not path.exists():
        return None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=busy_timeout,
                         isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    return db
