"""The SQLite backend: the embedded default, one file, no server.

WAL mode with synchronous=FULL: a COMMIT that returned is on disk, which is what lets
settle move a file to the archive afterwards. The stages talk to the sqlite3 connection
itself — no layer between them and SQLite on the hot path.

A new database is made from schema.SCHEMA, the DDL text PostgreSQL's tables are derived
from too. Bringing an older file up to date, switching it to WAL and describing it to an
operator go through sqlite-utils, imported only when there is something to do (its imports
cost ~80 ms, which every `importd` command would otherwise pay at start): its `add_column`
and `transform` (the create-copy-drop-rename rebuild of a table, keeping its indexes and
CHECKs, for the changes ALTER TABLE cannot make) run inside our one migration transaction.
"""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal
from functools import cache
from pathlib import Path

from importd.errors import MigrationFailed
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
    # WAL is a property of the file: a new one, or one restored without it, is switched once.
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        tools(db).enable_wal()
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA temp_store=MEMORY")
    if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
    if _out_of_date(db):
        _migrate(db)
    return db


def tools(db: sqlite3.Connection):
    """sqlite-utils' view of our connection: its statements join our transaction (the
    connection has isolation_level=None, so sqlite-utils never commits one of ours); no
    plugins and no change to the connection's pragmas."""
    import sqlite_utils
    return sqlite_utils.Database(db, recursive_triggers=False, execute_plugins=False)


# -- bringing an older database up to date ------------------------------------------------

def _out_of_date(db: sqlite3.Connection) -> bool:
    """Whether the file lacks a column, an object or a column's declared shape: a few PRAGMAs."""
    return bool(_missing_columns(db) or _rebuilds(db) or not db.execute(
        "SELECT 1 FROM sqlite_master WHERE name = ?", (NEWEST_OBJECT,)).fetchone())


def _migrate(db: sqlite3.Connection) -> None:
    """One transaction: the added columns (add_column), the tables whose columns changed type,
    NOT NULL or primary key (transform), then MIGRATION_SCHEMA. What is to be done is read again
    under the write lock, so two processes opening the same old file do not both alter it.
    Any error undoes all of it: the file stays as the older release left it."""
    utils = tools(db)
    try:
        with schema_change(db, "BEGIN IMMEDIATE"):
            for table, column, kind in _missing_columns(db):
                utils[table].add_column(column, kind)
            for table, changes in _rebuilds(db).items():
                utils[table].transform(**changes)
            for statement in MIGRATION_SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
    except sqlite3.OperationalError:
        raise       # locked, full, I/O: a fault the caller retries
    except Exception as e:
        raise MigrationFailed(f"the database could not be brought up to date, nothing was changed: "
                              f"{type(e).__name__}: {e}") from e


def _missing_columns(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return [(table, column, kind) for table, columns in ADDED_COLUMNS.items()
            for column, kind in columns.items() if column not in columns_of(db, table)]


def _rebuilds(db: sqlite3.Connection) -> dict[str, dict]:
    """Per table, the transform() arguments that give its shared columns the shape the schema
    declares now (type, NOT NULL, primary key). Columns are never dropped: one the schema no
    longer names keeps its data. None today: every change so far was an added column."""
    changes = {}
    for table, declared in declared_shape().items():
        found = shape_of(db, table)
        if not found:
            continue            # made by MIGRATION_SCHEMA below
        shared = [name for name in declared if name in found]
        change = {}
        types = {name: declared[name][0] for name in shared if declared[name][0] != found[name][0]}
        not_null = {name: declared[name][1] for name in shared if declared[name][1] != found[name][1]}
        if types:
            change["types"] = types
        if not_null:
            change["not_null"] = not_null
        if _primary_key(declared) != _primary_key(found) and set(_primary_key(declared)) <= set(found):
            change["pk"] = _primary_key(declared)
        if change:
            changes[table] = change
    return changes


@cache
def declared_shape() -> dict[str, dict[str, tuple[str, bool, int]]]:
    """The tables as SCHEMA and MIGRATION_SCHEMA declare them, read from an in-memory database."""
    reference = sqlite3.connect(":memory:")
    try:
        reference.executescript(SCHEMA + MIGRATION_SCHEMA)
        tables = [row[0] for row in reference.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: shape_of(reference, table) for table in tables}
    finally:
        reference.close()


def shape_of(db: sqlite3.Connection, table: str) -> dict[str, tuple[str, bool, int]]:
    """Each column's declared type, NOT NULL and place in the primary key (0: not in it)."""
    return {row[1]: (row[2].upper(), bool(row[3]), row[5]) for row in db.execute(f"PRAGMA table_info({table})")}


def _primary_key(shape: dict[str, tuple[str, bool, int]]) -> tuple[str, ...]:
    return tuple(name for name, (_, _, place) in sorted(shape.items(), key=lambda item: item[1][2]) if place)


# -- what the rest of the store and the ops page ask ---------------------------------------

def columns_of(db: sqlite3.Connection, table: str) -> set[str]:
    return {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}


def index_names(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def describe(path: Path, db: sqlite3.Connection) -> dict:
    """The database file as `importd status` shows it: where, its size and its WAL's (a WAL that
    keeps growing means a reader holds checkpoints back), the space VACUUM would give back, the
    free space on its disk, journal mode, schema version, SQLite's version. File sizes and
    PRAGMAs only: no table is read, so it costs the same on a database of any size."""
    utils = tools(db)
    wal = path.with_name(path.name + "-wal")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    return {
        "kind": "sqlite",
        "path": str(path),
        "size": path.stat().st_size,
        "wal_size": wal.stat().st_size if wal.exists() else 0,
        "reclaimable": db.execute("PRAGMA freelist_count").fetchone()[0] * page_size,
        "disk_free": shutil.disk_usage(path.parent).free,
        "journal_mode": utils.journal_mode,
        "schema_version": db.execute("PRAGMA user_version").fetchone()[0],
        "sqlite_version": ".".join(map(str, utils.sqlite_version)),
    }


def open_readonly(path: Path, busy_timeout: float) -> sqlite3.Connection | None:
    """A connection that cannot write (SQLite refuses it), or None when there is no database yet."""
    if not path.exists():
        return None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=busy_timeout,
                         isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    return db
