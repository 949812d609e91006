"""`make bench`: every benchmark, quick sizes by default, then one table.

    python bench/run_all.py [--full]

Each row times importd (the real CLI in a child process) and its floor in the
same run; ratio is importd's figure ÷ the floor's, in the row's unit (for
files/s and lines/s higher is better, for ms and s lower is better). Peak RSS
is the importd child's own high-water mark (VmHWM). The figures move with the machine's load:
run twice before trusting a difference of less than ~20 %.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import bulk
import latency
import scaling
import sftp
import small_files
import startup

QUICK = {"bulk": 100_000, "small": 2_000, "latency": 10, "startup": 10_000, "sftp": 1_000}
FULL = {"bulk": 1_000_000, "small": 10_000, "latency": 60, "startup": 100_000, "sftp": 1_000}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="the full sizes (about 15 minutes)")
    sizes = FULL if p.parse_args(argv).full else QUICK
    rows = [run_bulk(sizes["bulk"], "shopify"), run_bulk(sizes["bulk"], "french"), small_files.measure(sizes["small"]),
            latency.measure(sizes["latency"], 50), *startup.measure(sizes["startup"]),
            sftp.measure(sizes["sftp"]), *run_scaling(sizes)]
    print()
    print(table(rows))
    return 0 if all(row["ok"] for row in rows) else 1


def run_bulk(lines: int, export: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="importd-bench-"))
    try:
        return bulk.bench(SimpleNamespace(lines=lines, file=None, keep=False, format=export, rules=None), work)
    finally:
        shutil.rmtree(work)


def run_scaling(sizes: dict) -> list[dict]:
    """scaling.py's rows when a PostgreSQL server is named; a line saying why not otherwise."""
    url = os.environ.get("IMPORTD_TEST_POSTGRESQL")
    if not url:
        print("\nscaling.py skipped: IMPORTD_TEST_POSTGRESQL is not set (1, 2 and 4 instances on one "
              "PostgreSQL need a server; see bench/README.md)")
        return []
    rows = scaling.measure(url, sizes["small"], sizes["bulk"], [1, 2, 4])
    return [{**row, "work": f"{row['setup']}, ×{row['instances']} instances"} for row in rows]


def table(rows: list[dict]) -> str:
    out = [f"{'work':<52} {'unit':<8} {'importd':>10} {'floor':>10} {'ratio':>7} {'peak RSS':>9}"]
    for row in rows:
        extra = f"  (p99 {row['p99']:,.0f} ms, floor p99 {row['floor_p99']:,.0f} ms)" if "p99" in row else ""
        out.append(f"{row['work']:<52} {row['unit']:<8} {row['importd']:>10,.1f} {row['floor']:>10,.1f} "
                   f"{row['ratio']:>7.2f} {row['rss']:>6,.0f} MB{extra} {row['note']}".rstrip())
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
