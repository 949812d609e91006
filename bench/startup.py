"""Startup with a backlog: N one-order files waiting when `importd run` starts.

    python bench/startup.py [--files 10000] [--keep]

importd: the real CLI as a child process (`importd run -c …`, not --once);
seconds from its start to the first acknowledgement in outbox/inbox/ (written
after the file's durable commit and archive), the drain rate from then to the
last one, and the child's peak RSS over the whole run (its VmHWM, until it exits).

floor: the same files through `common.Floor` in the bench process, after an
os.scandir of the inbox sorted by mtime (oldest first, as importd takes them).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import IN_MOVED_TO, Floor, Inotify, make_site, one_order_files, reap, start_importd, states


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=10_000, help="files waiting (default 10,000; full 100,000)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    args = p.parse_args(argv)
    first, drain = measure(args.files, keep=args.keep)
    for row in (first, drain):
        print(f"{row['work']}: importd {row['importd']:,.2f} {row['unit']}, floor {row['floor']:,.2f}, "
              f"peak RSS {row['rss']:,.0f} MB  {row['note']}")
    return 0 if first["ok"] else 1


def measure(files: int, keep: bool = False) -> tuple[dict, dict]:
    work = Path(tempfile.mkdtemp(prefix="importd-bench-startup-"))
    try:
        site = work / "site"
        config = make_site(site)
        one_order_files(site / "inbox", files)
        outbox = site / "outbox" / "inbox"
        outbox.mkdir(parents=True)
        acks = AckCounter(outbox)
        start = time.perf_counter()
        child = start_importd(config, work / "run.log")
        acks.wait(files, timeout=max(120, files / 50))
        child.send_signal(signal.SIGTERM)
        code, rss = reap(child)
        done = states(site / "importd.db")
        first, last = acks.first - start, acks.last - start

        one_order_files(work / "floor" / "inbox", files)
        floor = Floor(work / "floor")
        start = time.perf_counter()
        entries = sorted((e.stat().st_mtime_ns, e.name) for e in os.scandir(work / "floor" / "inbox"))
        for i, (_, name) in enumerate(entries):
            floor.take(work / "floor" / "inbox" / name)
            if i == 0:
                floor_first = time.perf_counter() - start
        floor_last = time.perf_counter() - start
        floor.close()
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work)
    ok = done.get("imported", 0) == files and acks.count == files
    note = "" if ok else f"CHECK FAILED: exit {code}, {acks.count}/{files} acks, states {done}"
    rate = (files - 1) / (last - first) if last > first else 0.0
    floor_rate = (files - 1) / (floor_last - floor_first)
    return ({"work": f"{files:,} files waiting → first committed", "unit": "s", "importd": first,
             "floor": floor_first, "ratio": first / floor_first, "rss": rss, "ok": ok, "note": note},
            {"work": f"{files:,} files waiting → drain", "unit": "files/s", "importd": rate,
             "floor": floor_rate, "ratio": rate / floor_rate, "rss": rss, "ok": ok, "note": note})


class AckCounter:
    """Counts acknowledgements renamed into a folder, with the instants of the first and last."""

    def __init__(self, folder: Path):
        self.folder, self.count, self.first, self.last = folder, 0, 0.0, 0.0
        self.watch = Inotify(folder, IN_MOVED_TO)
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.done = threading.Event()
        self.thread.start()

    def _listen(self) -> None:
        while not self.done.is_set():
            for _, name in self.watch.read(0.2):
                if name.endswith(".ack.json"):
                    self.last = time.perf_counter()
                    self.first = self.first or self.last
                    self.count += 1

    def wait(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.1)
            if self.watch.overflowed:        # events lost: count the folder instead
                self.count = sum(1 for n in os.listdir(self.folder) if n.endswith(".ack.json"))
        self.done.set()
        self.thread.join()
        self.watch.close()


if __name__ == "__main__":
    sys.exit(main())
