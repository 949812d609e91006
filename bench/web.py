"""The ops page with a large ledger: how long `importd web` takes to answer GET /.

    python bench/web.py [--rows 1000000] [--days 90] [--requests 50] [--keep]

Fills a fresh setup's ledger with ROWS files settled over the last DAYS days
(94 % imported, 3 % duplicates, 3 % quarantined across ten error codes, with
sidecars for the newest), 2,000 parked documents and 3,000 counters, starts
the real `importd web` (which creates its indexes, timed), then times
REQUESTS page loads over loopback: p50, p95 and the slowest, end to end, and
the server's own figure (Server-Timing). The goal: under 200 ms. It times the
pages a reviewer opens before deciding the same way: a held order between two
candidate customers (GET /held/ID, with 5,000 decisions in the review log)
and a quarantined file (GET /file/ID).
`--days 1` puts the whole ledger in the last 24 hours (the chart's worst case).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import make_site, percentile

CODES = ["bad_number", "missing_columns", "bad_date", "no_route", "bad_encoding", "unknown_country",
         "missing_customer", "document_changed", "BR-CO-15", "bad_csv"]
SIDECARS = 100


def fill(config: Path, rows: int, days: float) -> None:
    """Make the schema with the service's own code, then write the ledger in bulk."""
    subprocess.run([sys.executable, "-m", "importd", "status", "-c", str(config)], check=True,
                   stdout=subprocess.DEVNULL)
    root, rng = config.parent, random.Random(13)
    now = datetime.now(timezone.utc)
    db = sqlite3.connect(root / "importd.db", isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    batch = []
    for i in range(rows):
        done = now - timedelta(seconds=days * 86400 * (rows - i) / rows)
        roll = rng.random()
        state = "imported" if roll < 0.94 else "duplicate" if roll < 0.97 else "quarantined"
        code = rng.choice(CODES) if state == "quarantined" else None
        stamp = done.isoformat(timespec="seconds")
        folder = "quarantine/inbox" if state == "quarantined" else f"archive/inbox/{done:%Y-%m-%d}"
        batch.append(("inbox", f"orders_export_{i}.csv", f"{i:064x}", 1200, state, stamp, stamp, code,
                      "line 2, order.subtotal: '59.8O' is not a number" if code else None,
                      f"{folder}/orders_export_{i}.csv", stamp, rng.randint(1, 20) if state == "imported" else None))
        if len(batch) == 50_000:
            _insert(db, batch)
            batch = []
    _insert(db, batch)
    expires = [(now + timedelta(hours=rng.uniform(-2, 168))).isoformat(timespec="seconds") for _ in range(2000)]
    db.executemany("INSERT INTO parked_records (file_id, source, entity, external_id, waiting_for, payload,"
                   " parked_at, rules, reason, line, expires_at) VALUES (?, 'inbox', 'payment', ?, ?, '{}', ?,"
                   " 'rules/payments.toml', 'invoice not there yet', 2, ?)",
                   [(i + 1, f"VIR-{i}", f"invoice:F-{i}", now.isoformat(timespec="seconds"), e)
                    for i, e in enumerate(expires)])
    db.executemany("INSERT INTO counters (series, scope, last_value, last_date) VALUES (?, ?, ?, ?)",
                   [("customer", f"{a}{b}{c}X{{seq}}", rng.randint(1, 99), None)
                    for a in "ABCDEFGHIJ" for b in "ABCDEFGHIJ" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:30]]
                   + [("order", "CMD-2026-{seq}", rows, "2026-11-30")])
    held_payload = json.dumps({"kind": "order", "line": 2, "fields": {"external_ref": "#1002", "total": "64.70"},
                               "lines": [], "customer": {"email": "marie.curie@example.fr", "name": "Marie Curie",
                                                         "city": "Paris"}})
    db.executemany("INSERT INTO customers (code, name, email, city, country, created_at, updated_at)"
                   " VALUES (?, ?, ?, ?, 'FR', ?, ?)",
                   [(code, "Marie Curie", "marie.curie@example.fr", city, now.isoformat(), now.isoformat())
                    for code, city in (("MARI001", "Paris"), ("MARI002", "Lyon"))])
    db.execute("INSERT INTO parked_records (file_id, source, entity, external_id, waiting_for, payload, parked_at,"
               " rules, reason, details, line, expires_at) VALUES (1, 'inbox', 'order', '#1002', 'review', ?, ?,"
               " 'rules/shopify-orders.toml', 'two customers match', ?, 2, '9999-12-31T00:00:00+00:00')",
               (held_payload, now.isoformat(timespec="seconds"), json.dumps({"candidates": ["MARI001", "MARI002"]})))
    db.executemany("INSERT INTO review_decisions (parked_id, file_id, source, entity, external_id, action, detail,"
                   " outcome, number, decided_by, decided_at, acked_at) VALUES (?, 1, 'inbox', 'order', ?, 'pick',"
                   " ?, 'created', ?, 'alice', ?, ?)",
                   [(10_000 + i, f"#{i}", json.dumps({"via": "web", "hash_before": f"{i:064x}",
                                                      "hash_after": f"{i + 1:064x}"}),
                     f"CMD-2026-{i:06d}", now.isoformat(timespec="seconds"), now.isoformat(timespec="seconds"))
                    for i in range(5000)])
    db.execute("COMMIT")
    newest = db.execute("SELECT id, settled_path, error_code FROM import_files WHERE state = 'quarantined'"
                        " ORDER BY id DESC LIMIT ?", (SIDECARS,)).fetchall()
    db.close()
    for file_id, settled, code in newest:
        target = root / settled
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("Name,Subtotal\n#1,59.8O\n")
        target.with_name(target.name + ".error.json").write_text(json.dumps({
            "code": code, "message": "line 2, order.subtotal: '59.8O' is not a number", "line": 2,
            "field": "order.subtotal", "rule": "shopify-orders.toml", "hint": "check the column", "file_id": file_id}))


def _insert(db: sqlite3.Connection, batch: list) -> None:
    db.executemany("INSERT INTO import_files (source, name, sha256, size, state, received_at, finished_at,"
                   " error_code, error_message, settled_path, settled_at, documents)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)


def measure(config: Path, requests: int, path: str = "/", expect: bytes = b"orders_export_") -> dict:
    started = time.perf_counter()
    web = subprocess.Popen([sys.executable, "-m", "importd", "web", "-c", str(config), "--port", "0"],
                           stdout=subprocess.PIPE, text=True)
    try:
        url = next(json.loads(line)["url"] for line in web.stdout if '"web.listening"' in line)
        ready = time.perf_counter() - started
        port = int(url.rsplit(":", 1)[1].strip("/"))
        totals, server = [], []
        for i in range(requests + 3):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t0 = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - t0) * 1000
            conn.close()
            assert response.status == 200 and expect in body, (path, response.status)
            if i >= 3:        # the first loads warm the page cache and the templates
                totals.append(elapsed)
                timing = response.getheader("Server-Timing")
                server.append(float(timing.split("dur=")[1]) if timing else elapsed)
        return {"ready_s": ready, "p50": percentile(totals, 50), "p95": percentile(totals, 95),
                "max": max(totals), "server_p50": percentile(server, 50), "bytes": len(body)}
    finally:
        web.terminate()
        web.communicate(timeout=10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--days", type=float, default=90)
    p.add_argument("--requests", type=int, default=50)
    p.add_argument("--keep", action="store_true", help="keep the setup (its path is printed)")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="importd-bench-web-"))
    try:
        config = make_site(work / "site")
        t0 = time.perf_counter()
        fill(config, args.rows, args.days)
        print(f"ledger: {args.rows:,} files over {args.days:g} days written in {time.perf_counter() - t0:.1f} s")
        r = measure(config, args.requests)
        print(f"importd web ready in {r['ready_s']:.1f} s (indexes created on first start)")
        print(f"GET / with {args.rows:,} ledger rows: p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, "
              f"max {r['max']:.1f} ms (server p50 {r['server_p50']:.1f} ms, {r['bytes']:,} bytes) — goal < 200 ms")
        if args.keep:
            print(f"kept: {work}")
        slow = r["p95"] >= 200
        db = sqlite3.connect(config.parent / "importd.db")
        held_id = db.execute("SELECT id FROM parked_records WHERE waiting_for = 'review'").fetchone()[0]
        file_id = db.execute("SELECT id FROM import_files WHERE state = 'quarantined' ORDER BY id DESC").fetchone()[0]
        db.close()
        for path, expect in ((f"/held/{held_id}", b"MARI002"), (f"/file/{file_id}", b"is not a number")):
            d = measure(config, args.requests, path, expect)
            print(f"GET {path.rsplit('/', 1)[0]}/ID with {args.rows:,} ledger rows: p50 {d['p50']:.1f} ms, "
                  f"p95 {d['p95']:.1f} ms, max {d['max']:.1f} ms — goal < 200 ms")
            slow = slow or d["p95"] >= 200
        return 1 if slow else 0
    finally:
        if not args.keep:
            shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
