"""Scaling on PostgreSQL: 1, 2 and 4 importds on one database, each with its own inbox and spool.

    python bench/scaling.py [--url URL] [--full] [--files N] [--lines N] [--instances 1,2,4] [--keep]

Needs a PostgreSQL server: --url, or IMPORTD_TEST_POSTGRESQL (the role may create schemas; the
password from PGPASSWORD or ~/.pgpass). Each measurement runs in a fresh schema, dropped after.

small files: FILES one-order files split across the instances' inboxes, `importd run --once`
in each, all started together; files/s from the start until the last one exits. Floor: as
many worker processes, each doing per file what `common.Floor` does, with its one commit
on PostgreSQL (a row insert), on the same split.

bulk: the LINES-line Shopify export split into one file per instance (orders dealt out in
turn), `importd import` in each, started together. Floor: as many processes, each a
psycopg `COPY` of its part's rows, as is, into one table, in one transaction.

The series: every instance numbers the one `order` series (one counter row), or each its
own (`CMD<instance>-{year}-…`: a counter row each), at the largest instance count. And one
instance on SQLite against the same work on PostgreSQL, each against its own floor.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from common import _high_water_kib, make_site, one_order_files
from gen_orders import write_orders
from scaling_floors import counter_floor, floor_bulk, floor_small

QUICK = {"files": 2_000, "lines": 100_000}
FULL = {"files": 10_000, "lines": 1_000_000}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=os.environ.get("IMPORTD_TEST_POSTGRESQL"),
                   help="the PostgreSQL server (default: IMPORTD_TEST_POSTGRESQL)")
    p.add_argument("--full", action="store_true", help="10,000 files and 1,000,000 lines (quick: 2,000 and 100,000)")
    p.add_argument("--files", type=int, help="one-order files (overrides the size)")
    p.add_argument("--lines", type=int, help="bulk lines (overrides the size)")
    p.add_argument("--instances", default="1,2,4", help="instance counts (default 1,2,4)")
    p.add_argument("--only", choices=("small", "bulk", "counter"), help="one kind of work")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    args = p.parse_args(argv)
    if not args.url:
        print("scaling.py: no PostgreSQL server: set IMPORTD_TEST_POSTGRESQL or give --url", file=sys.stderr)
        return 2
    sizes = dict(FULL if args.full else QUICK)
    sizes.update({k: v for k, v in (("files", args.files), ("lines", args.lines)) if v})
    counts = [int(n) for n in args.instances.split(",")]
    rows = measure(args.url, sizes["files"], sizes["lines"], counts, args.only, args.keep)
    print()
    print(table(rows))
    return 0 if all(row["ok"] for row in rows) else 1


def measure(url: str, files: int, lines: int, counts: list[int], only: str | None = None,
            keep: bool = False) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="importd-bench-scaling-"))
    rows = []
    try:
        if only in (None, "small"):
            staged = work / "small-files"
            names = one_order_files(staged, files)
            rows.append(small_files(work, staged, names, None, 1))
            for n in counts:
                rows.append(small_files(work, staged, names, url, n))
            rows.append(small_files(work, staged, names, url, max(counts), own_series=True))
        if only in (None, "bulk"):
            source = work / "orders_export_bench.csv"
            write_orders(source, lines)
            rows.append(bulk(work, source, None, 1))
            for n in counts:
                rows.append(bulk(work, source, url, n))
            rows.append(bulk(work, source, url, max(counts), own_series=True))
        if only in (None, "counter"):
            print(counter_rows(url, counts, files))
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work)
    for row in rows:      # how far N instances went beyond one, each against the same work on PostgreSQL
        one = next((r for r in rows if r["kind"] == row["kind"] and r["backend"] == "postgresql"
                    and r["instances"] == 1 and not r["own_series"]), None)
        row["speedup"] = row["importd"] / one["importd"] if one else None
    return rows


# -- the setups ----------------------------------------------------------------------------------

@contextmanager
def fresh_schema(url: str):
    """A schema of its own in the server's database, dropped afterwards; yield the URL that uses it."""
    import psycopg
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def make_sites(root: Path, database: str | None, count: int, own_series: bool) -> list[Path]:
    """`count` setups (own inbox, spool, archive) on `database` (None: each its SQLite file);
    with own_series, instance i numbers its orders CMD<i>-{year}-…: a counter row of its own."""
    configs = []
    for i in range(count):
        config = make_site(root / f"site{i}")
        text = config.read_text()
        if database is not None:
            text = "".join(f'database = "{database}"\n' if line.startswith("database") else line
                           for line in text.splitlines(True))
        if own_series:
            text = text.replace('order       = "CMD-{year}', f'order       = "CMD{i}-{{year}}', 1)
        # instances importing into one room take turns: a part of the bulk file holds it longer
        # than the default 30 s, and the others must wait for it, not give up and retry
        config.write_text("busy_timeout = 600\n" + text)
        configs.append(config)
    for config in configs[:1] if database is not None else configs:     # the tables, before the clock starts
        subprocess.run(importd_cmd("run", "--once", "-c", str(config)), check=True, stdout=subprocess.DEVNULL)
    return configs


def run_together(commands: list[list[str]], logs: list[Path]) -> tuple[float, list[int], float]:
    """Start the commands at once; wall seconds until the last exits, exit codes, the largest
    peak RSS of one of them in MB (each child's VmHWM, read until it exits)."""
    start = time.perf_counter()
    children = []
    for command, log in zip(commands, logs):
        with open(log, "wb") as out:
            children.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT))
    codes, peak = {}, {}
    while len(codes) < len(children):
        for child in children:
            if child.pid in codes:
                continue
            peak[child.pid] = max(peak.get(child.pid, 0), _high_water_kib(child.pid))
            pid, status = os.waitpid(child.pid, os.WNOHANG)
            if pid:
                codes[child.pid] = child.returncode = os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    return time.perf_counter() - start, [codes[c.pid] for c in children], max(peak.values()) / 1024


def importd_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "importd", *args]


# -- many small files ----------------------------------------------------------------------------

def small_files(work: Path, staged: Path, names: list[str], url: str | None, count: int,
                own_series: bool = False) -> dict:
    backend = "postgresql" if url else "sqlite"
    label = f"small files, {backend}" + (", a series each" if own_series else "")
    root = work / f"small-{backend}-{count}{'-own' if own_series else ''}"
    with (fresh_schema(url) if url else _no_schema()) as database:
        configs = make_sites(root, database, count, own_series)
        parts = deal(names, count)
        for config, part in zip(configs, parts):
            for name in part:
                shutil.copy2(staged / name, config.parent / "inbox" / name)
        seconds, codes, rss = run_together([importd_cmd("run", "--once", "-c", str(c)) for c in configs],
                                           [c.parent / "run.log" for c in configs])
        problems = [f"exit {code}" for code in codes if code]
        problems += check_small(configs, database, len(names))
        floor_seconds = floor_small(root / "floor", staged, parts, url and database)
    return row("small", backend, count, own_series, label, "files/s", len(names) / seconds,
               len(names) / floor_seconds, rss, problems)


def deal(items: list, count: int) -> list[list]:
    return [items[i::count] for i in range(count)]


@contextmanager
def _no_schema():
    yield None


def check_small(configs: list[Path], database: str | None, files: int) -> list[str]:
    """Each file imported once, one order each, numbered without a gap."""
    if database is None:
        found = [sqlite_counts(c.parent / "importd.db") for c in configs]
        imported, orders = sum(f[0] for f in found), sum(f[1] for f in found)
        top = sum(f[2] for f in found)
    else:
        imported, orders, top = postgresql_counts(database)
    problems = []
    if imported != files:
        problems.append(f"{imported} files imported of {files}")
    if orders != files or top != files:
        problems.append(f"{orders} orders, counters at {top}, for {files} files")
    return problems


SUMS = ("SELECT (SELECT count(*) FROM import_files WHERE state = 'imported'), (SELECT count(*) FROM orders),"
        " (SELECT coalesce(sum(last_value), 0) FROM counters WHERE series = 'order')")


def sqlite_counts(path: Path, sql: str = SUMS) -> tuple:
    import sqlite3
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchone()
    finally:
        db.close()


def postgresql_counts(database: str, sql: str = SUMS) -> tuple:
    import psycopg
    with psycopg.connect(database) as db:
        return db.execute(sql).fetchone()


# -- one large file per instance -----------------------------------------------------------------

def bulk(work: Path, source: Path, url: str | None, count: int, own_series: bool = False) -> dict:
    backend = "postgresql" if url else "sqlite"
    label = f"bulk, {backend}" + (", a series each" if own_series else "")
    root = work / f"bulk-{backend}-{count}{'-own' if own_series else ''}"
    root.mkdir()
    parts = split_orders(source, root, count)
    lines = sum(part[1] for part in parts)
    with (fresh_schema(url) if url else _no_schema()) as database:
        configs = make_sites(root, database, count, own_series)
        seconds, codes, rss = run_together(
            [importd_cmd("import", "-c", str(c), str(path)) for c, (path, _) in zip(configs, parts)],
            [c.parent / "import.log" for c in configs])
        problems = [f"exit {code}" for code in codes if code]
        problems += check_bulk(configs, database, source, lines)
        floor_seconds = floor_bulk(root, [path for path, _ in parts], database)
    return row("bulk", backend, count, own_series, label, "lines/s", lines / seconds, lines / floor_seconds,
               rss, problems)


def split_orders(source: Path, root: Path, count: int) -> list[tuple[Path, int]]:
    """The export dealt out, order by order, into `count` files; (path, lines) of each."""
    paths = [root / f"orders_export_part{i}.csv" for i in range(count)]
    files = [open(p, "w", encoding="utf-8", newline="") for p in paths]
    lines = [0] * count
    try:
        writers = [csv.writer(f, lineterminator="\n") for f in files]
        with open(source, encoding="utf-8", newline="") as f:
            rows = csv.reader(f)
            header = next(rows)
            for writer in writers:
                writer.writerow(header)
            order, turn = None, -1
            for line in rows:
                if line[0] != order:
                    order, turn = line[0], (turn + 1) % count
                writers[turn].writerow(line)
                lines[turn] += 1
    finally:
        for f in files:
            f.close()
    return list(zip(paths, lines))


def check_bulk(configs: list[Path], database: str | None, source: Path, lines: int) -> list[str]:
    """Every line imported, one order per order number of the file, numbered without a gap."""
    with open(source, encoding="utf-8", newline="") as f:
        orders = len({row[0] for row in csv.reader(f)}) - 1
    sql = ("SELECT (SELECT count(*) FROM order_lines), (SELECT count(*) FROM orders),"
           " (SELECT coalesce(sum(last_value), 0) FROM counters WHERE series = 'order')")
    if database is None:
        found = [sqlite_counts(config.parent / "importd.db", sql) for config in configs]
        have = tuple(sum(f[i] for f in found) for i in range(3))
    else:
        have = postgresql_counts(database, sql)
    if have != (lines, orders, orders):
        return [f"{have[0]} lines, {have[1]} orders, counters at {have[2]}; the file has {lines} lines, "
                f"{orders} orders"]
    return []


# -- the counter row alone -----------------------------------------------------------------------

def counter_rows(url: str, counts: list[int], commits: int) -> str:
    """The database alone: transactions that each number one row, on one counter row shared by
    all the processes or on one each; commits/s of both, as a table."""
    out = ["", f"counter row alone: {commits:,} transactions (next number FOR UPDATE, insert, commit)",
           f"{'processes':>9} {'one row':>10} {'a row each':>11} {'each ÷ one':>10}"]
    for n in counts:
        with fresh_schema(url) as database:
            shared = counter_floor(database, n, commits, own_rows=False)
            own = counter_floor(database, n, commits, own_rows=True)
        out.append(f"{n:>9} {shared:>10,.0f} {own:>11,.0f} {own / shared:>10.2f}")
    return "\n".join(out)


# -- the table -----------------------------------------------------------------------------------

def row(kind: str, backend: str, count: int, own_series: bool, label: str, unit: str, importd: float,
        floor: float, rss: float, problems: list[str]) -> dict:
    result = {"kind": kind, "backend": backend, "instances": count, "own_series": own_series, "setup": label,
              "unit": unit, "importd": importd, "floor": floor, "ratio": importd / floor, "rss": rss,
              "ok": not problems, "note": "CHECK FAILED: " + "; ".join(problems) if problems else ""}
    print(f"{label:<40} {count} instance(s)  {importd:>9,.0f} {unit}  floor {floor:>9,.0f}  "
          f"ratio {importd / floor:.2f}  peak RSS {rss:,.0f} MB  {result['note']}", flush=True)
    return result


def table(rows: list[dict]) -> str:
    out = [f"{'setup':<38} {'instances':>9} {'unit':<8} {'importd':>9} {'×1':>5} {'floor':>9} {'ratio':>6}"
           f" {'peak RSS':>9}"]
    for r in rows:
        speedup = "-" if r["speedup"] is None else f"{r['speedup']:.2f}"
        out.append(f"{r['setup']:<38} {r['instances']:>9} {r['unit']:<8} {r['importd']:>9,.0f} {speedup:>5} "
                   f"{r['floor']:>9,.0f} {r['ratio']:>6.2f} {r['rss']:>6,.0f} MB {r['note']}".rstrip())
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
