"""Keeping an SQLite file in shape: an older file is brought up to date in one transaction
(sqlite-utils' add_column, and transform for what ALTER TABLE cannot change), a file not in
WAL mode is switched to it, and `importd status` says what an operator checks of the file
(and, on PostgreSQL, names the database by its URL).
The database made by the previous release (tests/fixtures/release-5e48e29.db) is the start,
given here and there the shape an older release might have left a table in."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import SAMPLES, importd, use_database
from importd.store.sqlite import declared_shape, shapes
from test_migration import everything, release_database



def older_table(path: Path, table: str, declared: str, older: str, then: str = "") -> None:
    """Give `table` the design an older release might have left: its column declared `older`
    instead of `declared` (the rows copied over, values as they are); then run `then`."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        assert declared in sql
        old = sql.replace(declared, older).replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}_old", 1)
        db.executescript(f"BEGIN; {old}; INSERT INTO {table}_old SELECT * FROM {table}; DROP TABLE {table};"
                         f" ALTER TABLE {table}_old RENAME TO {table}; {then} COMMIT;")
    finally:
        db.close()


def older_counters(path: Path) -> None:
    """`counters` with last_value as TEXT, nullable, and its values stored as text."""
    older_table(path, "counters", "last_value INTEGER NOT NULL", "last_value TEXT",
                "UPDATE counters SET last_value = CAST(last_value AS TEXT);")


def design(path: Path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return sorted(db.execute("SELECT type, name, sql FROM sqlite_master"), key=repr)
    finally:
        db.close()


def test_a_column_whose_type_and_not_null_changed_is_rebuilt_keeping_every_row(setup):
    """A table whose columns differ from the schema in type and NOT NULL (which ALTER TABLE
    cannot change) is rebuilt: the declared shape, the same rows, the values now of the declared
    type, and the numbering goes on from where it was."""
    path = release_database(setup)
    older_counters(path)
    before = everything(path)["counters"][1]
    assert {row[2] for row in before} <= {str(n) for n in range(100)}      # stored as text
    result = importd("status", "-c", str(setup.config))
    assert result.returncode == 0, result.stderr
    db = sqlite3.connect(path)
    try:
        assert shapes(db)["counters"] == declared_shape()["counters"]
        after = sorted(db.execute("SELECT series, scope, last_value, last_date FROM counters"), key=repr)
        assert after == sorted(((s, c, int(v), d) for s, c, v, d in before), key=repr)
        assert {row[0] for row in db.execute("SELECT typeof(last_value) FROM counters")} == {"integer"}
    finally:
        db.close()
    other_orders = (SAMPLES / "orders_export_1.csv").read_text().replace("#100", "#900")
    setup.drop("orders_export_new.csv", other_orders)
    assert setup.run_once().returncode == 0
    numbers = [r["number"] for r in setup.rows("SELECT number FROM orders WHERE external_ref LIKE '#90%'"
                                                " ORDER BY number")]
    assert numbers == ["CMD-2026-000004", "CMD-2026-000005", "CMD-2026-000006"]    # the series goes on


def test_a_migration_that_fails_midway_leaves_the_older_database_untouched(setup):
    """The added columns come first, then `counters` is rebuilt, then the rebuild of
    `external_refs` fails (a row has no internal_key, which the schema declares NOT NULL): the
    whole migration is rolled back — sqlite-utils' steps did not commit on their own —, the file
    keeps its design and rows, and importd says what failed, without a traceback."""
    path = release_database(setup)
    older_counters(path)
    older_table(path, "external_refs", "internal_key TEXT NOT NULL", "internal_key TEXT",
                "INSERT INTO external_refs (source, entity, external_id) VALUES ('inbox', 'customer', 'lost');")
    rows, shape = everything(path), design(path)
    result = setup.run_once()
    assert result.returncode != 0
    assert "could not be brought up to date, nothing was changed" in result.stderr
    assert "rebuilding external_refs for internal_key TEXT NOT NULL: IntegrityError" in result.stderr
    assert "Traceback" not in result.stderr
    assert everything(path) == rows and design(path) == shape
    status = importd("status", "-c", str(setup.config))
    assert status.returncode != 0 and "what to do" in status.stderr


def test_two_processes_opening_an_older_database_at_once_both_succeed(setup):
    """While another program holds the write lock, two importd commands wait to migrate the same
    old file; the first alters it, the second finds it done (what to change is read again under
    the lock), and neither fails on a column that already exists."""
    path = release_database(setup)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    commands = [subprocess.Popen([sys.executable, "-m", "importd", "status", "-c", str(setup.config)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(2)        # both have read the file's design and wait for the lock
    holder.execute("COMMIT")
    holder.close()
    for command in commands:
        out, err = command.communicate(timeout=60)
        assert command.returncode == 0, err
    assert shapes(sqlite3.connect(path))["invoices"] == declared_shape()["invoices"]


def test_a_database_not_in_wal_mode_is_switched_to_it(setup):
    """A file restored in rollback-journal mode is put back in WAL when importd opens it."""
    path = release_database(setup)
    db = sqlite3.connect(path, isolation_level=None)
    assert db.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    db.close()
    assert importd("status", "-c", str(setup.config)).returncode == 0
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_status_describes_the_database_file(setup):
    """`importd status` names the file, its size and its WAL's, the journal mode, the schema
    version and the free disk; and the space a VACUUM would give back, once there is some."""
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    path = setup.root / "importd.db"
    data = json.loads(importd("status", "--json", "-c", str(setup.config)).stdout)["database"]
    assert data["kind"] == "sqlite" and Path(data["path"]) == path
    assert data["size"] == path.stat().st_size > 0
    assert data["journal_mode"] == "wal" and data["schema_version"] == 1 and data["disk_free"] > 0
    assert data["reclaimable"] == 0
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE scratch AS SELECT randomblob(200000) AS b FROM (SELECT 1 UNION SELECT 2)")
    db.execute("DROP TABLE scratch")
    db.close()
    text = importd("status", "-c", str(setup.config)).stdout
    line = next(line for line in text.splitlines() if line.startswith("database: "))
    assert str(path) in line and "(wal, schema 1, SQLite " in line and "free on its disk" in line
    assert "VACUUM gives it back" in line


def test_status_names_a_postgresql_database_by_its_url(tmp_path, postgresql):
    """On PostgreSQL the database line is the URL the setup names (it never holds a password)."""
    root = tmp_path / "site"
    assert importd("init", str(root)).returncode == 0
    use_database(root / "importd.toml", postgresql)
    result = importd("status", "--json", "-c", str(root / "importd.toml"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["database"] == {"kind": "postgresql", "url": postgresql.url}
