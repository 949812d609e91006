"""Opening and migrating an SQLite database: what the schema check and sqlite-utils cost.

    python bench/migrate.py [--files 1000000] [--keep]

open: `store.sqlite.connect` of an up-to-date database (median of 300, in the bench process),
against a floor: sqlite3.connect and the same PRAGMAs, no check of the file's design.

rebuild: opening a database whose ledger (`import_files`, N rows, its five indexes) has a
column declared differently from `schema.py` (state without NOT NULL): sqlite-utils'
`transform` in importd's migration transaction, against a floor: the same rebuild in
hand-written SQL (create, copy, drop, rename, indexes; one transaction).

import: `import sqlite_utils` in a fresh interpreter, what importd pays only when it changes a
file, against a floor: the interpreter starting with nothing to import.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from importd.store import sqlite as store_sqlite

FILE_ROW = ("INSERT INTO import_files (source, name, sha256, size, state, received_at) "
            "VALUES ('inbox', ?, ?, 100, 'imported', '2026-11-01T00:00:00+00:00')")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=1_000_000, help="ledger rows (default 1,000,000)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    args = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="importd-bench-migrate-"))
    try:
        for row in measure(root, args.files):
            print(f"{row['work']}: importd {row['importd']:,.2f} {row['unit']}, floor {row['floor']:,.2f}, "
                  f"ratio {row['importd'] / row['floor']:.2f}")
    finally:
        if args.keep:
            print(root)
        else:
            shutil.rmtree(root)
    return 0


def measure(root: Path, files: int) -> list[dict]:
    path = root / "importd.db"
    db = store_sqlite.connect(path, 30)
    db.execute("BEGIN")
    db.executemany(FILE_ROW, ((f"f{i}.csv", f"{i:064x}") for i in range(files)))
    db.execute("COMMIT")
    db.close()
    opened, floor = [], []
    for _ in range(300):            # interleaved: the machine's load moves both alike
        opened.append(_timed(lambda: store_sqlite.connect(path, 30).close()))
        floor.append(_timed(lambda: _bare_open(path).close()))
    rows = [{"work": f"open: an up-to-date database ({files:,} files)", "unit": "ms",
             "importd": statistics.median(opened) * 1e3, "floor": statistics.median(floor) * 1e3}]
    shutil.copyfile(path, root / "floor.db")
    for copy in (path, root / "floor.db"):
        _relax_state(copy)
    rebuild = _timed(lambda: store_sqlite.connect(path, 30).close())
    rows.append({"work": f"rebuild: import_files, {files:,} rows", "unit": "s",
                 "importd": rebuild, "floor": _timed(lambda: _rebuild_by_hand(root / "floor.db"))})
    rows.append({"work": "import sqlite_utils (a fresh interpreter)", "unit": "ms",
                 "importd": _interpreter("import sqlite_utils") * 1e3, "floor": _interpreter("pass") * 1e3})
    return rows


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _bare_open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "temp_store=MEMORY", "user_version"):
        db.execute(f"PRAGMA {pragma}")
    return db


def _relax_state(path: Path) -> None:
    """The ledger as an older design might have declared it: `state` without NOT NULL."""
    db = sqlite3.connect(path, isolation_level=None)
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'import_files'").fetchone()[0]
    db.execute("PRAGMA writable_schema=ON")
    db.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'import_files'",
               (sql.replace("state TEXT NOT NULL", "state TEXT"),))
    db.execute("PRAGMA writable_schema=OFF")
    db.close()


def _rebuild_by_hand(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    table = db.execute("SELECT sql FROM sqlite_master WHERE name = 'import_files'").fetchone()[0]
    indexes = [row[0] for row in db.execute("SELECT sql FROM sqlite_master WHERE type = 'index'"
                                            " AND tbl_name = 'import_files' AND sql IS NOT NULL")]
    db.execute("BEGIN IMMEDIATE")
    db.execute(table.replace("import_files", "import_files_new", 1).replace("state TEXT", "state TEXT NOT NULL"))
    db.execute("INSERT INTO import_files_new SELECT * FROM import_files")
    db.execute("DROP TABLE import_files")
    db.execute("ALTER TABLE import_files_new RENAME TO import_files")
    for index in indexes:
        db.execute(index)
    db.execute("COMMIT")
    db.close()


def _interpreter(code: str) -> float:
    """The median of 7 fresh interpreters running `code`."""
    return statistics.median(_timed(lambda: subprocess.run([sys.executable, "-c", code], check=True))
                             for _ in range(7))


if __name__ == "__main__":
    sys.exit(main())
