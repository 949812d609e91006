"""Latency: files dropped by atomic rename into a running service's inbox, drop → acknowledged.

    python bench/latency.py [--seconds 10] [--rate 50] [--keep]

A running `importd run -c …` (the real CLI, a child process, the setup of
`importd init` as is: settle = 1.0). The bench renames one-order files from a
staging folder into the inbox at `--rate` files/s and times each file from its
rename to the rename of its acknowledgement into outbox/inbox/ — importd
writes it after the durable commit and the move to the archive. A raw
inotify watch on the outbox gives those instants to the microsecond (the
ledger's timestamps have whole seconds).

floor: a child process with a raw inotify watch on its inbox (moved-in
files) taking each file through `common.Floor` and writing the same kind of
acknowledgement, timed the same way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import (IN_MOVED_TO, Floor, Inotify, make_site, one_order_files, percentile, reap,
                    start_importd, states)

ACK = ".ack.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10, help="how long to drop files (default 10; full 60)")
    p.add_argument("--rate", type=float, default=50, help="files dropped per second (default 50)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    p.add_argument("--floor-worker", type=Path, help=argparse.SUPPRESS)     # the floor's child process
    args = p.parse_args(argv)
    if args.floor_worker:
        return floor_worker(args.floor_worker)
    row = measure(args.seconds, args.rate, keep=args.keep)
    print(f"importd p50 {row['importd']:.1f} ms p99 {row['p99']:.1f} ms, floor p50 {row['floor']:.1f} ms "
          f"p99 {row['floor_p99']:.1f} ms, peak RSS {row['rss']:,.0f} MB  {row['note']}")
    return 0 if row["ok"] else 1


def measure(seconds: float, rate: float, keep: bool = False) -> dict:
    work = Path(tempfile.mkdtemp(prefix="importd-bench-latency-"))
    count = int(seconds * rate)
    try:
        site = work / "site"
        config = make_site(site)
        names = one_order_files(work / "staging", count + 1, age=0)
        child = start_importd(config, work / "run.log")
        times = drop_and_time(work / "staging", site / "inbox", site / "outbox" / "inbox", names, rate)
        child.send_signal(signal.SIGTERM)
        code, rss = reap(child)
        done = states(site / "importd.db")

        floor_root = work / "floor"
        floor_names = one_order_files(work / "floor-staging", count + 1, age=0)
        (floor_root / "inbox").mkdir(parents=True)
        floor = subprocess.Popen([sys.executable, __file__, "--floor-worker", str(floor_root)])
        floor_times = drop_and_time(work / "floor-staging", floor_root / "inbox", floor_root / "outbox",
                                    floor_names, rate)
        floor.send_signal(signal.SIGTERM)
        floor.wait(timeout=30)
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work)
    ok = code == 0 and len(times) == count and done.get("imported", 0) == count + 1
    return {"work": f"drop → committed, {rate:g} files/s for {seconds:g} s", "unit": "ms p50",
            "importd": percentile(times, 50), "p99": percentile(times, 99),
            "floor": percentile(floor_times, 50), "floor_p99": percentile(floor_times, 99),
            "ratio": percentile(times, 50) / percentile(floor_times, 50), "rss": rss, "ok": ok,
            "note": "" if ok else f"CHECK FAILED: exit {code}, {len(times)}/{count} timed, states {done}"}


def drop_and_time(staging: Path, inbox: Path, outbox: Path, names: list[str], rate: float) -> list[float]:
    """Rename `names` into `inbox` at `rate` per second (the first one alone, to warm up);
    return each file's milliseconds from its rename to its acknowledgement."""
    outbox.mkdir(parents=True, exist_ok=True)
    watch = Inotify(outbox, IN_MOVED_TO)
    acked: dict[str, float] = {}
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            for _, name in watch.read(0.2):
                if name.endswith(ACK):
                    acked.setdefault(name[:-len(ACK)], time.perf_counter())

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    first, rest = names[0], names[1:]
    deadline = time.monotonic() + 60                   # the service starts, takes the first file
    while first not in acked and time.monotonic() < deadline:
        os.rename(staging / first, inbox / first) if (staging / first).exists() else None
        time.sleep(0.01)
    dropped: dict[str, float] = {}
    start = time.perf_counter()
    for i, name in enumerate(rest):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        os.utime(staging / name)                 # written just now, as upstream would
        dropped[name] = time.perf_counter()
        os.rename(staging / name, inbox / name)
    deadline = time.monotonic() + 30
    while len(acked) < len(names) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    listener.join()
    watch.close()
    return [(acked[name] - at) * 1000 for name, at in dropped.items() if name in acked]


def floor_worker(root: Path) -> int:
    """The floor's process: each moved-in file through Floor, then an acknowledgement."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    inbox, outbox = root / "inbox", root / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    floor, watch = Floor(root), Inotify(inbox, IN_MOVED_TO)
    events = [(IN_MOVED_TO, name) for name in sorted(os.listdir(inbox))]    # there before the watch
    while not stop:
        for _, name in events:
            floor.take(inbox / name)
            temp = outbox / f".{name}.tmp"
            with open(temp, "w") as f:
                f.write('{"state": "imported"}\n')
                f.flush()
                os.fsync(f.fileno())
            os.rename(temp, outbox / (name + ACK))
        try:
            events = watch.read(0.2)
        except InterruptedError:
            events = []
    floor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
