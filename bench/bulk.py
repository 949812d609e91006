"""Bulk import: a large Shopify orders export through importd, against a hand-written floor.

    python bench/bulk.py [--lines 1000000] [--file PATH] [--keep]

importd: the real CLI in a child process (`python -m importd import`), wall
time and that child's peak RSS. Its time includes copying the file into the
spool and hashing it, as a user's `importd import` would.

floor: csv.reader + sqlite3 executemany of every row, as is, into one table
with importd's database settings (WAL, synchronous=FULL, one transaction):
what reading the file and writing it to SQLite costs without mapping,
lookups, numbering or the ledger.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gen_orders import write_orders

# The config `importd init` writes routes orders_export*.csv to the Shopify rules.
BENCH_NAME = "orders_export_bench.csv"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=1_000_000, help="lines to generate (default 1,000,000)")
    p.add_argument("--file", type=Path, help="use this orders export instead of generating one")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="importd-bench-"))
    try:
        return 0 if bench(args, work)["ok"] else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work)


def bench(args, work: Path) -> dict:
    """Run both, print the figures; return them as a row of `make bench`'s table."""
    source = work / BENCH_NAME
    if args.file:
        source.symlink_to(args.file.resolve())      # the link's name is what routes the file
    else:
        start = time.perf_counter()
        write_orders(source, args.lines)
        print(f"generated {source.name}: {args.lines:,} lines in {time.perf_counter() - start:.1f} s")

    setup = work / "importd"
    subprocess.run([sys.executable, "-m", "importd", "init", str(setup)], check=True,
                   stdout=subprocess.DEVNULL)
    log = work / "import.log"
    seconds, code, peak_mb = run_importd(setup / "importd.toml", source, log)
    floor_db = work / "floor.db"
    floor_seconds = floor(source, floor_db)

    lines, orders, customers = expected(floor_db)
    print(f"lines                  {lines:>10,}   ({orders:,} orders, {customers:,} customers)")
    print(f"importd                {seconds:>10.1f} s {lines / seconds:>10,.0f} lines/s   peak RSS {peak_mb:,.0f} MB")
    print(f"floor (csv + sqlite3)  {floor_seconds:>10.1f} s {lines / floor_seconds:>10,.0f} lines/s")
    print(f"importd / floor        {seconds / floor_seconds:>10.1f} x")
    problems = check(setup / "importd.db", floor_db, code)
    row = {"work": f"bulk: one CSV of {lines:,} order lines", "unit": "lines/s", "importd": lines / seconds,
           "floor": lines / floor_seconds, "ratio": floor_seconds / seconds, "rss": peak_mb,
           "ok": not problems, "note": "CHECK FAILED: " + "; ".join(problems) if problems else ""}
    if problems:
        print("check                  FAILED: " + "; ".join(problems))
        print(f"last lines of {log.name}:")
        print("".join(log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-5:]), end="")
        return row
    print(f"check                  ok: importd.db has {orders:,} orders, {lines:,} order lines, "
          f"{customers:,} customers; line totals match the subtotals")
    return row


def run_importd(config: Path, source: Path, log: Path) -> tuple[float, int, float]:
    """Run `importd import`; return wall seconds, exit code and the child's peak RSS in MB."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "importd", "import", "-c", str(config), str(source)],
                                 stdout=out, stderr=subprocess.STDOUT)
        # wait4 gives the resources of this child alone (RUSAGE_CHILDREN would be
        # the maximum over every child, `importd init` included).
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)      # reaped here, not by Popen
    kib = usage.ru_maxrss / 1024 if sys.platform == "darwin" else usage.ru_maxrss   # macOS counts bytes
    return seconds, child.returncode, kib / 1024


def floor(source: Path, db_path: Path) -> float:
    """Load every row of `source` into one table; return the seconds it took."""
    start = time.perf_counter()
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    with open(source, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        db.execute("BEGIN")
        db.execute(f"CREATE TABLE lines ({', '.join(_quoted(name) for name in header)})")
        db.executemany(f"INSERT INTO lines VALUES ({', '.join('?' * len(header))})", rows)  # streams
        db.execute("COMMIT")
    db.close()
    return time.perf_counter() - start


def expected(floor_db: Path) -> tuple[int, int, int]:
    """Lines, orders (distinct Name) and customers (distinct e-mail) in the file."""
    return one(floor_db, 'SELECT count(*), count(DISTINCT "Name"), count(DISTINCT lower("Email")) FROM lines')


def check(importd_db: Path, floor_db: Path, code: int) -> list[str]:
    """What is wrong with importd's result, compared with the file as the floor loaded it."""
    problems = [] if code == 0 else [f"importd exited with {code}"]
    state, = one(importd_db, "SELECT group_concat(state) FROM import_files")
    if state != "imported":
        problems.append(f"file state {state!r}, expected 'imported'")
    lines, orders, customers = expected(floor_db)
    # Amounts in cents: the file's Σ Subtotal must equal Σ line_total that importd computed.
    subtotals, = one(floor_db, """SELECT sum(round("Subtotal" * 100)) FROM lines WHERE "Subtotal" <> ''""")
    wanted = {
        "orders": ("SELECT count(*) FROM orders", orders),
        "order lines": ("SELECT count(*) FROM order_lines", lines),
        "customers": ("SELECT count(*) FROM customers", customers),
        "line totals in cents": ("SELECT sum(round(line_total * 100)) FROM order_lines", subtotals),
    }
    for what, (sql, want) in wanted.items():
        have, = one(importd_db, sql)
        if have != want:
            problems.append(f"{what}: {have} in importd.db, {want} in the file")
    return problems


def one(db_path: Path, sql: str) -> tuple:
    db = sqlite3.connect(db_path)
    try:
        return db.execute(sql).fetchone()
    finally:
        db.close()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


if __name__ == "__main__":
    sys.exit(main())
