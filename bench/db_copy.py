"""`importd db copy` of a large SQLite database into PostgreSQL, against a floor.

    python bench/db_copy.py [--lines 100000] [--url postgresql://user@host/dbname] [--keep]

Needs a PostgreSQL server: --url, or IMPORTD_BENCH_POSTGRESQL, or IMPORTD_TEST_POSTGRESQL (the
password in PGPASSWORD or ~/.pgpass); the role must be allowed to create schemas. The bench
makes two schemas of its own and drops them afterwards.

1. `gen_orders.py` writes an orders export of --lines lines; `importd import` brings it into
   a setup's SQLite database (not timed).
2. importd: the real CLI in a child process, `python -m importd db copy -c … --to URL`, into
   an empty schema: wall time and the child's peak RSS. It includes what the command does
   besides copying: opening the SQLite file as the service would, making the tables, the
   checks before COMMIT.
3. The floor, in the bench process: the same tables made (importd's DDL), then every table
   read from SQLite in batches and written with psycopg's COPY in one transaction, nothing
   checked: the least any copier must do with the same guarantee (all or nothing).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import reap
from gen_orders import write_orders

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=100_000)
    p.add_argument("--url", default=os.environ.get("IMPORTD_BENCH_POSTGRESQL") or os.environ.get(
        "IMPORTD_TEST_POSTGRESQL"))
    p.add_argument("--keep", action="store_true", help="keep the work folder (its path is printed)")
    args = p.parse_args(argv)
    if not args.url:
        p.error("give --url postgresql://user@host/dbname (or set IMPORTD_BENCH_POSTGRESQL)")
    work = Path(tempfile.mkdtemp(prefix="importd-bench-"))
    try:
        row = bench(args.lines, args.url, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            subprocess.run(["rm", "-rf", str(work)], check=True)
    return 0 if row["ok"] else 1


def bench(lines: int, url: str, work: Path) -> dict:
    import psycopg
    setup = work / "importd"
    subprocess.run([sys.executable, "-m", "importd", "init", str(setup)], check=True, stdout=subprocess.DEVNULL)
    export = work / "orders_export_bench.csv"
    write_orders(export, lines, seed=1)
    subprocess.run([sys.executable, "-m", "importd", "import", "-c", str(setup / "importd.toml"), str(export)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    database = setup / "importd.db"
    rows = sum(count for _, count in source_tables(database))
    schemas = [f"bench_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with psycopg.connect(url, autocommit=True) as admin:
        for schema in schemas:
            admin.execute(f"CREATE SCHEMA {schema}")
    try:
        target = in_schema(url, schemas[0])
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "importd", "db", "copy", "-c", str(setup / "importd.toml"),
                                  "--to", target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = child.stdout.read().decode()
        code, peak_mb = reap(child)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        floor(database, in_schema(url, schemas[1]))
        floor_seconds = time.perf_counter() - started
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            for schema in schemas:
                admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    ok = code == 0 and "DIFFERENT" not in output
    print(f"database               {lines:,} order lines, {rows:,} rows in all, "
          f"{database.stat().st_size / 1e6:,.0f} MB")
    print(f"importd db copy        {seconds:>8.2f} s {rows / seconds:>10,.0f} rows/s   peak RSS {peak_mb:,.0f} MB")
    print(f"floor (COPY, no check) {floor_seconds:>8.2f} s {rows / floor_seconds:>10,.0f} rows/s")
    print(f"importd / floor        {seconds / floor_seconds:>8.2f} x its time")
    print("check                  " + ("ok: copied and checked" if ok else f"FAILED (exit {code}):\n{output}"))
    return {"work": f"db copy: SQLite of {lines:,} order lines to PostgreSQL", "unit": "rows/s",
            "importd": rows / seconds, "floor": rows / floor_seconds, "ratio": floor_seconds / seconds,
            "rss": peak_mb, "ok": ok, "note": "" if ok else "CHECK FAILED"}


def in_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def source_tables(database: Path) -> list[tuple[str, int]]:
    db = sqlite3.connect(database)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                          " AND name NOT LIKE 'sqlite_%'")]
        return [(name, db.execute(f"SELECT count(*) FROM {name}").fetchone()[0]) for name in names]
    finally:
        db.close()


def floor(database: Path, url: str) -> None:
    """importd's tables made, then each SQLite table COPYed in batches, one transaction."""
    import psycopg
    from importd.config.database import PostgresDatabase
    from importd.store import postgresql
    postgresql.connect(PostgresDatabase(url), 30).close()
    source = sqlite3.connect(database)
    try:
        with psycopg.connect(url) as target, target.cursor() as cursor:
            for name, _ in source_tables(database):
                columns = [r[1] for r in source.execute(f"PRAGMA table_info({name})")]
                reader = source.execute(f"SELECT {', '.join(columns)} FROM {name} ORDER BY rowid")
                with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                    while batch := reader.fetchmany(5000):
                        for row in batch:
                            copy.write_row(row)
            target.commit()
    finally:
        source.close()


if __name__ == "__main__":
    sys.exit(main())
