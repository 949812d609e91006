"""The SQLite backend: the embedded default, one file, no server.

WAL mode with synchronous=FULL: a COMMIT that returned is on disk, which is what lets
settle move a file to the archive afterwards. The stages talk to the sqlite3 connection
itself — no layer between them and SQLite on the hot path.

A new database is made from schema.SCHEMA, the DDL text PostgreSQL's tables are derived
from too. Changing an older file goes through sqlite-utils: `add_column`, and `transform`
(the create-copy-drop-rename rebuild of a table, keeping its indexes and CHECKs, for the
changes ALTER TABLE cannot make), inside our one migration transaction; `enable_wal` for a
file not yet in WAL. It is imported only then (its imports cost ~80 ms, which every
`importd` command would otherwise pay): whether anything is to be done is one query over
sqlite_master and pragma_table_info, compared with the tables SCHEMA declares.
"""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal
from functools import cache
from pathlib import Path

from importd.errors import MigrationFailed
from importd.store.queries import transaction
from importd.store.schema import ADDED_COLUMNS, ADDED_INDEXES, MIGRATION_SCHEMA, NEWEST_OBJECT, SCHEMA, SCHEMA_VERSION

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
    """Whether the file lacks a column, an object or a column's declared shape: one query."""
    tables = shapes(db)
    return bool(_missing_columns(tables) or _rebuilds(tables) or NEWEST_OBJECT not in tables)


def _migrate(db: sqlite3.Connection) -> None:
    """One transaction: the added columns (add_column), the tables whose columns changed type,
    NOT NULL or primary key (transform), then MIGRATION_SCHEMA. What is to be done is read again
    under the write lock, so two processes opening the same old file do not both alter it.
    Any error undoes all of it: the file stays as the older release left it."""
    utils = tools(db)
    step = "starting"
    try:
        with transaction(db, "BEGIN IMMEDIATE"):
            for table, column, kind in _missing_columns(shapes(db)):
                step = f"adding {table}.{column}"
                utils[table].add_column(column, kind)
            for table, changes in _rebuilds(shapes(db)).items():
                step = f"rebuilding {table} for {_declarations(table, changes)}"
                utils[table].transform(**changes)
            for statement in (MIGRATION_SCHEMA + ADDED_INDEXES).split(";"):
                if statement.strip():
                    step = " ".join(statement.split())[:80]
                    db.execute(statement)
    except sqlite3.OperationalError:
        raise       # locked, full, I/O: a fault the caller retries
    except Exception as e:
        raise MigrationFailed(f"the database could not be brought up to date, nothing was changed:"
                              f" {step}: {type(e).__name__}: {e}") from e


def _declarations(table: str, changes: dict) -> str:
    """What a rebuild gives the table, as its DDL says it: "last_value INTEGER NOT NULL"."""
    declared = declared_shape()[table]
    columns = sorted({*changes.get("types", ()), *changes.get("not_null", ())})
    return ", ".join([f"{name} {declared[name][0]}{' NOT NULL' * declared[name][1]}" for name in columns]
                     + ([f"PRIMARY KEY ({', '.join(changes['pk'])})"] if "pk" in changes else []))


def _missing_columns(tables: dict[str, dict]) -> list[tuple[str, str, str]]:
    """Added columns the file's tables lack (a table MIGRATION_SCHEMA makes is made whole)."""
    return [(table, column, kind) for table, columns in ADDED_COLUMNS.items() if table in tables
            for column, kind in columns.items() if column not in tables[table]]


def _rebuilds(tables: dict[str, dict]) -> dict[str, dict]:
    """Per table, the transform() arguments that give its shared columns the shape the schema
    declares now (type, NOT NULL, primary key). Columns are never dropped: one the schema no
    longer names keeps its data. None today: every change so far was an added column."""
    changes = {}
    for table, declared in declared_shape().items():
        found = tables.get(table)
        if not found:
            continue            # made by MIGRATION_SCHEMA
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
        return shapes(reference)
    finally:
        reference.close()


def shapes(db: sqlite3.Connection) -> dict[str, dict[str, tuple[str, bool, int]]]:
    """Per table, each column's declared type, NOT NULL and place in the primary key (0: not in
    it); a view or an index appears with no columns."""
    tables: dict[str, dict] = {}
    for table, column, type_, not_null, pk in db.execute(
            "SELECT m.name, c.name, c.type, c.\"notnull\", c.pk FROM sqlite_master AS m"
            " LEFT JOIN pragma_table_info(m.name) AS c ON m.type = 'table'"
            " WHERE m.type IN ('table', 'view', 'index') AND m.name NOT LIKE 'sqlite_%'"):
        columns = tables.setdefault(table, {})
        if column is not None:
            columns[column] = (type_.upper(), bool(not_null), pk)
    return tables


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
    PRAGMAs only: no table is read, so it costs the same on a database of any size (and no
    sqlite-utils, whose imports would add a tenth of a second to every `importd status`)."""
    def pragma(name: str):
        return db.execute(f"PRAGMA {name}").fetchone()[0]
    wal = path.with_name(path.name + "-wal")
    return {
        "kind": "sqlite",
        "path": str(path),
        "size": path.stat().st_size,
        "wal_size": wal.stat().st_size if wal.exists() else 0,
        "reclaimable": pragma("freelist_count") * pragma("page_size"),
        "disk_free": shutil.disk_usage(path.parent).free,
        "journal_mode": pragma("journal_mode"),
        "schema_version": pragma("user_version"),
        "sqlite_version": sqlite3.sqlite_version,
    }


def open_readonly(path: Path, busy_timeout: float) -> sqlite3.Connection | None:
    """A connection that cannot write (SQLite refuses it), or None when there is no database yet."""
    if not path.exists():
        return None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=busy_timeout,
                         isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    return db
