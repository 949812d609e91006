"""The floors of scaling.py: what N processes at once can do on the same work, with importd's
durability and nothing else, on PostgreSQL (or SQLite, for the one-instance comparison).

- floor_small: per file what `common.Floor` does, its one commit on PostgreSQL (a row insert);
- floor_bulk: a psycopg `COPY … FROM STDIN` of each part's rows, as is, in one transaction
  (on SQLite, bulk.py's executemany);
- counter_floor: transactions that each take the next number from a counter row and insert one
  row, every process on one counter row or each on its own: the hot row's limit, measured.
"""

from __future__ import annotations

import csv
import multiprocessing
import shutil
import time
from pathlib import Path

from bulk import _quoted, floor_shopify
from common import Floor


def floor_small(root: Path, staged: Path, parts: list[list[str]], database: str | None) -> float:
    """The files through the floor, one worker process per part, all at once; wall seconds."""
    folders = []
    for i, part in enumerate(parts):
        inbox = root / f"worker{i}" / "inbox"
        inbox.mkdir(parents=True)
        for name in part:
            shutil.copy2(staged / name, inbox / name)
        folders.append(root / f"worker{i}")
    if database is not None:
        import psycopg
        with psycopg.connect(database) as db:
            db.execute("CREATE TABLE files (name TEXT, sha256 TEXT, size INTEGER, at DOUBLE PRECISION)")
    return _together(_floor_worker, [(folder, database) for folder in folders])


def _floor_worker(folder: Path, database: str | None) -> None:
    floor = Floor(folder) if database is None else PostgresFloor(folder, database)
    for path in sorted((folder / "inbox").iterdir()):
        floor.take(path)
    floor.close()


class PostgresFloor(Floor):
    """`common.Floor` with its one commit per file on PostgreSQL (synchronous_commit as the
    server has it: on by default, the WAL flushed before COMMIT returns)."""

    def __init__(self, root: Path, database: str):
        self.database = database
        super().__init__(root)

    def open_database(self, root: Path):
        import psycopg
        return psycopg.connect(self.database)

    def commit(self, row: tuple) -> None:
        self.db.execute("INSERT INTO files VALUES (%s, %s, %s, %s)", row)
        self.db.commit()


def floor_bulk(root: Path, parts: list[Path], database: str | None) -> float:
    """Each part loaded as is into one table by a process of its own, all at once: SQLite's
    floor (bulk.py's executemany) or a psycopg COPY; wall seconds."""
    if database is not None:
        import psycopg
        with open(parts[0], encoding="utf-8", newline="") as f:
            header = next(csv.reader(f))
        with psycopg.connect(database) as db:
            db.execute(f"CREATE TABLE floor_lines ({', '.join(_quoted(h) + ' TEXT' for h in header)})")
    return _together(_bulk_worker, [(part, root / f"floor{i}.db", database) for i, part in enumerate(parts)])


def _bulk_worker(part: Path, sqlite_path: Path, database: str | None) -> None:
    if database is None:
        floor_shopify(part, sqlite_path)
        return
    import psycopg
    with open(part, encoding="utf-8", newline="") as f, psycopg.connect(database) as db:
        rows = csv.reader(f)
        next(rows)
        with db.cursor().copy("COPY floor_lines FROM STDIN") as copy:
            for line in rows:
                copy.write_row(line)
        # leaving the connection's block commits: one transaction, the WAL flushed


def counter_floor(database: str, count: int, commits: int, own_rows: bool) -> float:
    """`commits` transactions split between `count` processes at once, each taking the next
    number from a counter row (SELECT … FOR UPDATE, UPDATE) and inserting a row numbered so;
    one counter row for all, or one each. Commits per second."""
    import psycopg
    with psycopg.connect(database) as db:
        db.execute("CREATE TABLE floor_counters (series TEXT PRIMARY KEY, last_value INTEGER NOT NULL)")
        db.execute("CREATE TABLE floor_documents (series TEXT, number INTEGER)")
        db.execute("INSERT INTO floor_counters VALUES ('order', 0)")
        if own_rows:
            db.cursor().executemany("INSERT INTO floor_counters VALUES (%s, 0)", [(f"order{i}",) for i in range(count)])
    series = [f"order{i}" if own_rows else "order" for i in range(count)]
    seconds = _together(_counter_worker, [(database, s, commits // count) for s in series])
    with psycopg.connect(database) as db:
        db.execute("DROP TABLE floor_counters, floor_documents")
    return commits // count * count / seconds


def _counter_worker(database: str, series: str, commits: int) -> None:
    import psycopg
    with psycopg.connect(database) as db:
        for _ in range(commits):
            number, = db.execute("SELECT last_value + 1 FROM floor_counters WHERE series = %s FOR UPDATE",
                                 (series,)).fetchone()
            db.execute("UPDATE floor_counters SET last_value = %s WHERE series = %s", (number, series))
            db.execute("INSERT INTO floor_documents VALUES (%s, %s)", (series, number))
            db.commit()


def _together(target, arguments: list[tuple]) -> float:
    """One process per argument tuple, all started at once; wall seconds until the last ends."""
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=target, args=args) for args in arguments]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    if any(worker.exitcode for worker in workers):
        raise RuntimeError(f"a floor worker ({target.__name__}) failed")
    return seconds
