"""A database made by the previous release (tests/fixtures/release-5e48e29.db: `importd run --once`
of that release's shipped samples) opens with this code: the new columns are added in place,
every row is still there with its values, and the documents it holds, sent again, are duplicates."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import sqlite_utils

from conftest import SAMPLES, Setup, importd
from importd.store.schema import ACCOUNT_COLUMNS

RELEASE_DB = Path(__file__).parent / "fixtures" / "release-5e48e29.db"
FIXTURES = RELEASE_DB.parent


def release_database(setup) -> Path:
    """The fixture, copied into the setup, whose importd.toml names no system, as the release's
    did (`without_systems`). Its parked payment names its rules file by the path it had in the
    folder where the fixture was made: like a setup moved to another folder, the sweep finds the
    configured rules file of that name."""
    path = setup.root / "importd.db"
    shutil.copyfile(RELEASE_DB, path)
    without_systems(setup.config)
    return path


def without_systems(config: Path) -> None:
    """An importd.toml as releases before systems wrote it: no route names a system."""
    config.write_text(re.sub(r',\s*system = "[^"]*"', "", config.read_text()))


def everything(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order (the columns the table had then)."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        rows = {}
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            rows[table] = (columns, sorted(conn.execute(f"SELECT {', '.join(columns)} FROM {table}"), key=repr))
        return rows
    finally:
        conn.close()


def test_release_database_gains_the_new_columns_and_keeps_every_row(setup):
    """Opened by the service, the old database has extra, account and vat_code columns, NULL in
    old rows, and every table holds exactly the rows (and values) it held before."""
    before = everything(release_database(setup))
    assert sum(len(rows) for _, rows in before.values()) > 30      # the fixture is not empty
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    after = sqlite3.connect(setup.root / "importd.db")
    try:
        for table, (columns, rows) in before.items():
            kept = sorted(after.execute(f"SELECT {', '.join(columns)} FROM {table}"), key=repr)
            assert kept == rows, table
        for table, added in ACCOUNT_COLUMNS.items():
            present = {r[1] for r in after.execute(f"PRAGMA table_info({table})")}
            assert set(added) <= present, table
            assert after.execute(f"SELECT count(*) FROM {table} WHERE extra IS NOT NULL").fetchone()[0] == 0
    finally:
        after.close()
    assert setup.run_once().returncode == 0        # up to date: opening again changes nothing
    assert everything(setup.root / "importd.db")["orders"] == everything(setup.root / "importd.db")["orders"]


def test_documents_of_the_release_database_sent_again_are_duplicates(setup):
    """The fingerprints stored by the previous release still match: the same orders and
    customers again are duplicates, not changed documents."""
    release_database(setup)
    # The release imported the samples of its time (its orders export is kept beside its database).
    for sample, name in ((FIXTURES / "release-5e48e29-orders_export_1.csv", "orders_export_again.csv"),
                         (SAMPLES / "clients-2026-11.csv", "clients-again.csv")):
        data = sample.read_bytes()
        other = data.replace(b"\r\n", b"\n") if b"\r\n" in data else data.replace(b"\n", b"\r\n")
        setup.drop(name, other)         # other bytes (line ends), the same rows
    setup.run_once()
    files = setup.rows("SELECT name, state, summary FROM import_files WHERE id > 6 ORDER BY name")
    assert [(f["name"], f["state"]) for f in files] == [("clients-again.csv", "duplicate"),
                                                        ("orders_export_again.csv", "duplicate")]
    assert [json.loads(f["summary"])["counts"] for f in files] == [{"duplicate": 6}, {"duplicate": 3}]
    assert setup.quarantined() == []


def shape(path: Path) -> dict:
    """What sqlite-utils reads of a database's design: each table's columns (type, NOT NULL,
    place in the primary key), each index's and view's definition."""
    db = sqlite_utils.Database(path)
    try:
        tables = {name: {c.name: (c.type.upper(), bool(c.notnull), c.is_pk) for c in db[name].columns}
                  for name in db.table_names()}
        indexes = {i.name: (name, tuple(i.columns), i.unique, i.partial) for name in db.table_names()
                   for i in db[name].indexes}
        views = {view.name: view.schema for view in db.views}
        return {"tables": tables, "indexes": indexes, "views": views, "journal_mode": db.journal_mode}
    finally:
        db.close()


def test_release_database_ends_with_the_shape_of_a_new_one(setup, tmp_path):
    """Opened once, the old database has every column, index and view a new database has, with
    the same types, NOT NULLs and primary keys (column order aside): nothing is left half-migrated."""
    release_database(setup)
    assert importd("status", "-c", str(setup.config)).returncode == 0
    fresh = Setup(tmp_path / "fresh")
    assert importd("init", str(fresh.root)).returncode == 0
    assert importd("status", "-c", str(fresh.config)).returncode == 0
    assert shape(setup.root / "importd.db") == shape(fresh.root / "importd.db")
