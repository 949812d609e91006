"""Bulk import: a large orders export through importd, against a hand-written floor.

    python bench/bulk.py [--format shopify|french] [--lines 1000000] [--file PATH] [--rules PATH] [--keep]

importd: the real CLI in a child process (`python -m importd import`), wall
time and that child's peak RSS. Its time includes copying the file into the
spool and hashing it, as a user's `importd import` would.

floor, with importd's database settings (WAL, synchronous=FULL, one
transaction), in the same run:
- shopify (default): a Shopify export; csv.reader + sqlite3 executemany of
  every row, as is, into one table: what reading the file and writing it to
  SQLite costs without mapping, lookups, numbering or the ledger.
- french: a `;`-separated Windows-1252 export with decimal commas and
  dd/mm/yyyy dates (gen_commandes.py, rules bench/commandes-fr.toml);
  csv.reader + the amounts as Decimal and the dates as ISO by hand +
  executemany into one table.
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Callable

from common import reap
from gen_commandes import write_commandes
from gen_orders import write_orders

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Case:
    file_name: str             # routed to `rules` by the config `importd init` writes (plus `route`)
    write: Callable             # write(path, lines): the generator
    floor: Callable             # floor(source, db_path): the hand-written loader
    order: str                  # the floor table's column for an order, a customer, a line's amount
    customer: str
    amount: str
    route: str | None = None    # a bench rules file to add to the config's routes


def floor_shopify(source: Path, db_path: Path) -> None:
    """Every row, as is, into one table."""
    with open(source, encoding="utf-8", newline="") as f, FloorDb(db_path) as db:
        rows = csv.reader(f)
        header = next(rows)
        db.execute(f"CREATE TABLE lines ({', '.join(_quoted(name) for name in header)})")
        db.executemany(f"INSERT INTO lines VALUES ({', '.join('?' * len(header))})", rows)  # streams


def floor_french(source: Path, db_path: Path) -> None:
    """Every row into one table, amounts as exact decimals (text), dates as ISO."""
    amounts = ("Quantité", "Prix unitaire HT", "Montant HT", "Total HT", "TVA", "Total TTC")

    def typed(rows, header):
        money = [header.index(name) for name in amounts]
        day = header.index("Date")
        for row in rows:
            for i in money:
                row[i] = str(Decimal(row[i].replace(" ", "").replace(",", ".")))
            d = row[day]                                   # dd/mm/yyyy
            row[day] = f"{d[6:10]}-{d[3:5]}-{d[0:2]}"
            yield row

    with open(source, encoding="cp1252", newline="") as f, FloorDb(db_path) as db:
        rows = csv.reader(f, delimiter=";")
        header = next(rows)
        db.execute(f"CREATE TABLE lines ({', '.join(_quoted(name) for name in header)})")
        db.executemany(f"INSERT INTO lines VALUES ({', '.join('?' * len(header))})", typed(rows, header))


CASES = {
    "shopify": Case("orders_export_bench.csv", write_orders, floor_shopify, "Name", "Email", "Subtotal"),
    "french": Case("commandes_bench.csv", write_commandes, floor_french, "N° commande", "E-mail", "Montant HT",
                   route="commandes*.csv"),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--format", choices=CASES, default="shopify", help="which export (default shopify)")
    p.add_argument("--lines", type=int, default=1_000_000, help="lines to generate (default 1,000,000)")
    p.add_argument("--file", type=Path, help="use this orders export instead of generating one")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    p.add_argument("--rules", type=Path, help="use this rules file in place of the shipped one the export is "
                                              "routed to (e.g. bench/shopify-orders-extra.toml: custom fields "
                                              "and accounts mapped)")
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
    case = CASES[args.format]
    source = work / case.file_name
    if args.file:
        source.symlink_to(args.file.resolve())      # the link's name is what routes the file
    else:
        start = time.perf_counter()
        case.write(source, args.lines)
        print(f"generated {source.name}: {args.lines:,} lines in {time.perf_counter() - start:.1f} s")

    setup = work / "importd"
    subprocess.run([sys.executable, "-m", "importd", "init", str(setup)], check=True,
                   stdout=subprocess.DEVNULL)
    if case.route:
        add_route(setup, case)
    if args.rules:
        shutil.copy(args.rules, setup / "rules" / ("shopify-orders.toml" if not case.route else "commandes-fr.toml"))
    log = work / "import.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, code, peak_mb = run_importd(setup / "importd.toml", source, log)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)      # the import's own CPU: steadier than wall time
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    floor_db = work / "floor.db"
    start = time.perf_counter()
    case.floor(source, floor_db)
    floor_seconds = time.perf_counter() - start

    lines, orders, customers = expected(floor_db, case)
    print(f"lines                  {lines:>10,}   ({orders:,} orders, {customers:,} customers)")
    print(f"importd                {seconds:>10.1f} s {lines / seconds:>10,.0f} lines/s   peak RSS {peak_mb:,.0f} MB"
          f"   CPU {cpu:.2f} s")
    print(f"floor ({args.format + ')':<15}{floor_seconds:>10.1f} s {lines / floor_seconds:>10,.0f} lines/s")
    print(f"importd / floor        {floor_seconds / seconds:>10.2f} x the floor's speed "
          f"({seconds / floor_seconds:.1f} x its time)")
    problems = check(setup / "importd.db", floor_db, code, case)
    row = {"work": f"bulk ({args.format}): one CSV of {lines:,} order lines", "unit": "lines/s",
           "importd": lines / seconds, "floor": lines / floor_seconds, "ratio": floor_seconds / seconds,
           "rss": peak_mb, "ok": not problems, "note": "CHECK FAILED: " + "; ".join(problems) if problems else ""}
    if problems:
        print("check                  FAILED: " + "; ".join(problems))
        print(f"last lines of {log.name}:")
        print("".join(log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-5:]), end="")
        return row
    print(f"check                  ok: importd.db has {orders:,} orders, {lines:,} order lines, "
          f"{customers:,} customers; line totals match the file's")
    return row


def add_route(setup: Path, case: Case) -> None:
    """Copy the case's bench rules file into the setup and route its files to it, first."""
    rules = HERE / "commandes-fr.toml"
    shutil.copy(rules, setup / "rules" / rules.name)
    config = setup / "importd.toml"
    text = config.read_text(encoding="utf-8")
    route = f'routes = [\n  {{ match = "{case.route}", rules = "rules/{rules.name}" }},'
    config.write_text(text.replace("routes = [", route, 1), encoding="utf-8")


def run_importd(config: Path, source: Path, log: Path) -> tuple[float, int, float]:
    """Run `importd import`; return wall seconds, exit code and the child's peak RSS in MB."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "importd", "import", "-c", str(config), str(source)],
                                 stdout=out, stderr=subprocess.STDOUT)
        code, rss = reap(child)
        seconds = time.perf_counter() - start
    return seconds, code, rss


class FloorDb:
    """The floor's database with importd's settings, one transaction committed on exit."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN")
        return self.db

    def __exit__(self, *exc) -> None:
        self.db.execute("COMMIT")
        self.db.close()


def expected(floor_db: Path, case: Case) -> tuple[int, int, int]:
    """Lines, orders (distinct order column) and customers (distinct e-mail) in the file."""
    return one(floor_db, f"SELECT count(*), count(DISTINCT {_quoted(case.order)}), "
                         f"count(DISTINCT lower({_quoted(case.customer)})) FROM lines")


def check(importd_db: Path, floor_db: Path, code: int, case: Case) -> list[str]:
    """What is wrong with importd's result, compared with the file as the floor loaded it."""
    problems = [] if code == 0 else [f"importd exited with {code}"]
    state, = one(importd_db, "SELECT group_concat(state) FROM import_files")
    if state != "imported":
        problems.append(f"file state {state!r}, expected 'imported'")
    lines, orders, customers = expected(floor_db, case)
    # Amounts in cents: the file's Σ amount (Shopify's Subtotal, a French line's Montant HT)
    # must equal Σ line_total in importd.db.
    amount = _quoted(case.amount)
    subtotals, = one(floor_db, f"SELECT sum(round({amount} * 100)) FROM lines WHERE {amount} <> ''")
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
