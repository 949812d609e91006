"""Many small files: N one-order files waiting in the inbox, `importd run --once`.

    python bench/small_files.py [--files 2000] [--keep]

importd: the real CLI in a child process; files/s over its whole run (start,
recovery, scans, claims, imports, archive, acks) and its peak RSS.

floor: in the bench process, the same files one by one through `common.Floor`:
rename into a spool, fsync it, sha256, one durable SQLite commit, rename into
an archive, fsync it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import Floor, make_site, one_order_files, reap, start_importd, states


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=2000, help="files to drop (default 2,000; full 10,000)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    args = p.parse_args(argv)
    row = measure(args.files, keep=args.keep)
    print(f"importd {row['importd']:,.0f} files/s, floor {row['floor']:,.0f} files/s, "
          f"ratio {row['ratio']:.2f}, peak RSS {row['rss']:,.0f} MB  {row['note']}")
    return 0 if row["ok"] else 1


def measure(files: int, keep: bool = False) -> dict:
    work = Path(tempfile.mkdtemp(prefix="importd-bench-small-"))
    try:
        config = make_site(work / "site")
        one_order_files(work / "site" / "inbox", files)
        start = time.perf_counter()
        code, rss = reap(start_importd(config, work / "run.log", "--once"))
        seconds = time.perf_counter() - start
        done = states(work / "site" / "importd.db")

        one_order_files(work / "floor" / "inbox", files)
        floor = Floor(work / "floor")
        start = time.perf_counter()
        for path in sorted((work / "floor" / "inbox").iterdir()):
            floor.take(path)
        floor_seconds = time.perf_counter() - start
        floor.close()
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work)
    ok = code == 0 and done.get("imported", 0) == files
    return {"work": f"{files:,} one-order files, run --once", "unit": "files/s",
            "importd": files / seconds, "floor": files / floor_seconds,
            "ratio": (files / seconds) / (files / floor_seconds), "rss": rss, "ok": ok,
            "note": "" if ok else f"CHECK FAILED: exit {code}, states {done}"}


if __name__ == "__main__":
    sys.exit(main())
