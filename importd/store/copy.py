"""Copying a SQLite management database into an empty PostgreSQL one (`importd db copy`).

Every table is read in one SQLite read transaction (one consistent snapshot) and written in
one PostgreSQL transaction, streamed with COPY in batches: memory does not grow with the
database. Before COMMIT the copy is checked inside that transaction — rows per table, the
exact sum of every NUMERIC column, the last number and date of every counter, the identity
sequences — against figures taken from the SQLite rows as they were read; on any mismatch
or error everything is rolled back and the target stays as it was.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation, localcontext

import psycopg

from importd.faults import DatabaseFault
from importd.store.postgresql import Connection
from importd.store.queries import transaction
from importd.store.schema import MIGRATION_SCHEMA, SCHEMA

BATCH = 5000            # rows fetched from SQLite at a time
# The tables schema.py defines: those a target must not hold rows in (another program's may share a schema).
IMPORTD_TABLES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA + MIGRATION_SCHEMA))


class CopyRefused(Exception):
    """Nothing was copied: the target holds rows, or the source cannot be copied as it is."""


class CopyFailed(Exception):
    """The copy was rolled back: PostgreSQL refused a row, or a check did not hold."""

    def __init__(self, message: str, checks: list[Check] | None = None):
        super().__init__(message)
        self.checks = checks or []


@dataclass(slots=True)
class Check:
    """One figure compared between the two databases."""

    what: str
    source: str
    target: str
    same: bool | None = None        # compared by value (sums: 0.30 is 0.3); else as shown

    @property
    def ok(self) -> bool:
        return self.source == self.target if self.same is None else self.same


@dataclass(slots=True)
class Copied:
    checks: list[Check] = field(default_factory=list)
    rows: int = 0
    not_copied: list[str] = field(default_factory=list)   # SQLite tables that are not importd's


@dataclass(slots=True)
class _Table:
    name: str
    columns: list[str]
    numeric: list[str]
    identity: list[str]
    rows: int = 0
    sums: dict[str, Decimal | None] = field(default_factory=dict)


def copy_database(source: sqlite3.Connection, target: Connection, spool_owner: str | None) -> Copied:
    """Copy `source` into the empty `target` (its tables made), checked, in one transaction.
    `spool_owner`: the name the setup's spool has on a shared database, given to every file of the
    ledger, so that setup processes those still in the spool after the move and retries its
    quarantined ones (None: refuse files in the spool)."""
    source.execute("BEGIN")           # a read transaction: one snapshot for every table
    try:
        with transaction(target):
            # no importd writes meanwhile (readers go on): an instance started now waits, then finds rows
            target.execute(f"LOCK TABLE {', '.join(IMPORTD_TABLES)} IN EXCLUSIVE MODE")
            return _copy(source, target, spool_owner)
    finally:
        source.execute("ROLLBACK")


def _copy(source: sqlite3.Connection, target: Connection, spool_owner: str | None) -> Copied:
    _refuse_unless_empty(target)
    tables, copied = _plan(source, target)
    spooled = source.execute("SELECT count(*) FROM import_files WHERE spool_path IS NOT NULL").fetchone()[0]
    if spooled and spool_owner is None:
        raise CopyRefused(f"{spooled} file(s) are still in the setup's spool: copy with -c importd.toml of that "
                          f"setup, so they stay its own to import after the move")
    for table in tables:
        _stream(source, target, table)
        copied.rows += table.rows
    if spool_owner is not None:
        target.execute("UPDATE import_files SET spool_owner = ?", (spool_owner,))
    for table in tables:
        for column in table.identity:           # new rows must not take an id the copy wrote
            target.execute(f"SELECT setval(pg_get_serial_sequence(?, ?), max({column})) FROM {table.name}"
                           f" HAVING max({column}) IS NOT NULL", (table.name, column))
    copied.checks = _checks(source, target, tables, spooled, spool_owner)
    if bad := [c for c in copied.checks if not c.ok]:
        raise CopyFailed("the copy does not match: " + "; ".join(f"{c.what}: {c.source} ≠ {c.target}" for c in bad),
                         copied.checks)
    return copied


def _plan(source: sqlite3.Connection, target: Connection) -> tuple[list[_Table], Copied]:
    """The tables to copy: importd's that SQLite has (connect made them all on the target), each
    with the columns SQLite has."""
    types: dict[str, dict[str, str]] = {}
    for row in target.execute("SELECT c.table_name, c.column_name, c.data_type, c.is_identity"
                              " FROM information_schema.columns c JOIN information_schema.tables t"
                              " ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
                              " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"):
        types.setdefault(row[0], {})[row[1]] = "identity" if row[3] == "YES" else row[2]
    copied = Copied()
    tables = []
    for (name,) in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                  " AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall():
        if name not in IMPORTD_TABLES:
            copied.not_copied.append(name)
            continue
        columns = [row[1] for row in source.execute(f"PRAGMA table_info({name})")]
        if missing := [c for c in columns if c not in types[name]]:
            raise CopyRefused(f"table {name}: the PostgreSQL database has no column {', '.join(missing)}")
        tables.append(_Table(name, columns, [c for c in columns if types[name][c] == "numeric"],
                             [c for c in columns if types[name][c] == "identity"]))
    return tables, copied


def _refuse_unless_empty(target: Connection) -> None:
    held = [f"{name} ({count} rows)" for name in IMPORTD_TABLES
            if (count := target.execute(f"SELECT count(*) FROM {name}").fetchone()[0])]
    if held:
        raise CopyRefused(f"the PostgreSQL database already holds importd rows: {', '.join(held)}. "
                          f"db copy fills an empty database only (a new database, or a new schema)")


def _stream(source: sqlite3.Connection, target: Connection, table: _Table) -> None:
    """COPY the table's rows in SQLite's rowid order (external_refs keeps the order documents
    were recorded in), summing its NUMERIC columns exactly on the way, a batch at a time."""
    reader = source.cursor()
    reader.row_factory = None
    reader.execute(f"SELECT {', '.join(table.columns)} FROM {table.name} ORDER BY rowid")
    at = [table.columns.index(c) for c in table.numeric]
    sums: list[Decimal | None] = [None] * len(at)
    try:
        with localcontext() as exact, target.copy_in(table.name, table.columns) as copy:
            exact.prec = 200               # sums of money never rounded
            while batch := reader.fetchmany(BATCH):
                for k, i in enumerate(at):
                    if values := [row[i] for row in batch if row[i] is not None]:
                        total = _sum(table, table.columns[i], values)
                        sums[k] = total if sums[k] is None else sums[k] + total
                for row in batch:
                    copy.write_row(row)
                table.rows += len(batch)
    except (psycopg.Error, DatabaseFault) as e:
        raise CopyFailed(f"table {table.name}: PostgreSQL refused a row: {str(e).strip()}") from e
    finally:
        reader.close()
    table.sums = dict(zip(table.numeric, sums))


def _sum(table: _Table, column: str, values: list) -> Decimal:
    """The exact sum of a column's values (text, as importd writes them; str() of anything else)."""
    try:
        return sum(map(Decimal, map(str, values)), Decimal(0))
    except InvalidOperation:
        bad = next(v for v in values if not _is_number(str(v)))
        raise CopyFailed(f"table {table.name}, column {column}: {bad!r} is not a number") from None


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
        return True
    except InvalidOperation:
        return False


def _checks(source: sqlite3.Connection, target: Connection, tables: list[_Table], spooled: int,
            spool_owner: str | None) -> list[Check]:
    """What the two databases say, figure by figure; read on the target inside the copy's transaction."""
    checks = []
    for table in tables:
        sums = "".join(f", sum({c})" for c in table.numeric)
        counted = target.execute(f"SELECT count(*){sums} FROM {table.name}").fetchone()
        checks.append(Check(f"{table.name}: rows", str(table.rows), str(counted[0])))
        for column, value in zip(table.numeric, counted[1:]):
            before, after = table.sums[column], None if value is None else Decimal(value)
            checks.append(Check(f"{table.name}: sum of {column}", _shown(before), _shown(after), before == after))
    counters = "SELECT series, scope, last_value, last_date FROM counters ORDER BY series, scope"
    before = {(r[0], r[1]): _last(r) for r in source.execute(counters)}
    after = {(r[0], r[1]): _last(r) for r in target.execute(counters)}
    for key in sorted(before.keys() | after.keys()):
        checks.append(Check(f"counter {key[0]} {key[1] or '(one series)'}: last", before.get(key, "none"),
                            after.get(key, "none")))
    for table in tables:
        for column in table.identity:
            highest = source.execute(f"SELECT max({column}) FROM {table.name}").fetchone()[0]
            sequence = target.execute("SELECT pg_get_serial_sequence(?, ?)", (table.name, column)).fetchone()[0]
            last, called = target.execute(f"SELECT last_value, is_called FROM {sequence}").fetchone()
            checks.append(Check(f"{table.name}.{column}: next new id", str((highest or 0) + 1),
                                str(last + 1 if called else last)))
    if spooled:
        owned = target.execute("SELECT count(*) FROM import_files WHERE spool_path IS NOT NULL AND spool_owner = ?",
                               (spool_owner,)).fetchone()[0]
        checks.append(Check(f"files in the spool, now owned by {spool_owner}", str(spooled), str(owned)))
    return checks


def _last(counter) -> str:
    """A counter's last number, and the date of the document that got it when the series keeps one."""
    return f"{counter[2]} ({counter[3]})" if counter[3] is not None else str(counter[2])


def _shown(value: Decimal | None) -> str:
    """A sum as its exact digits, never in exponent form (none: the column holds no value)."""
    return "none" if value is None else f"{value:f}"
