"""What the file-count benchmarks share: a setup, one-order files, a raw inotify, the floor.

The floor is the least any importer must do per file to keep importd's
durability: rename the file out of the inbox, fsync that folder's target,
hash it, one SQLite commit (WAL, synchronous=FULL), rename it to the archive
and fsync that folder — no parsing, mapping or numbering.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import os
import select
import sqlite3
import struct
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from gen_orders import write_orders

HERE = Path(__file__).resolve().parent

IN_CLOSE_WRITE, IN_MOVED_TO, IN_Q_OVERFLOW, IN_ONLYDIR = 0x8, 0x80, 0x4000, 0x1000000
_EVENT = struct.Struct("iIII")        # wd, mask, cookie, len; then the name, NUL-padded


def make_site(root: Path, **source_keys) -> Path:
    """`importd init ROOT` with the first source's keys set; return the config path."""
    subprocess.run([sys.executable, "-m", "importd", "init", str(root)], check=True, stdout=subprocess.DEVNULL)
    config = root / "importd.toml"
    text = config.read_text()
    lines = "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in source_keys.items())
    for key in source_keys:          # drop the keys init wrote, then add ours after `path`
        text = "\n".join(line for line in text.splitlines() if not line.startswith(f"{key} ")) + "\n"
    config.write_text(text.replace('path = "inbox"\n', 'path = "inbox"\n' + lines, 1))
    return config


def one_order_files(folder: Path, count: int, *, seed: int = 1, age: float = 3600) -> list[str]:
    """Write `count` files, one Shopify order each, into `folder`; mtimes `age` seconds old
    (files that have waited: settle does not count). Return their names in order."""
    folder.mkdir(parents=True, exist_ok=True)
    big = folder / ".all-orders.csv"
    write_orders(big, count * 4, seed)           # ~3 lines per order: more than enough orders
    groups: dict[str, list[list[str]]] = defaultdict(list)
    with open(big, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        for row in rows:
            if len(groups) == count and row[0] not in groups:
                break
            groups[row[0]].append(row)
    big.unlink()
    names, stamp = [], time.time() - age
    for i, rows in enumerate(groups.values()):
        name = f"orders_export_{i:06d}.csv"
        with open(folder / name, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        os.utime(folder / name, (stamp, stamp))
        names.append(name)
    return names


class Inotify:
    """A raw inotify(7) watch on one folder, through libc: no buffering, no move pairing."""

    def __init__(self, folder: Path, mask: int):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, os.fsencode(folder), mask | IN_ONLYDIR) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {folder}")
        self.overflowed = False

    def read(self, timeout: float | None = None) -> list[tuple[int, str]]:
        """(mask, name) of the events waiting, after at most `timeout` seconds."""
        if not select.select([self.fd], [], [], timeout)[0]:
            return []
        data, events, at = os.read(self.fd, 1 << 20), [], 0
        while at < len(data):
            _, mask, _, size = _EVENT.unpack_from(data, at)
            name = data[at + _EVENT.size: at + _EVENT.size + size].rstrip(b"\0")
            at += _EVENT.size + size
            self.overflowed |= bool(mask & IN_Q_OVERFLOW)
            events.append((mask, os.fsdecode(name)))
        return events

    def close(self) -> None:
        os.close(self.fd)


class Floor:
    """The per-file floor: rename, hash, one durable commit, rename, two folder fsyncs."""

    def __init__(self, root: Path):
        self.spool, self.archive = root / "spool", root / "archive"
        self.spool.mkdir(parents=True, exist_ok=True)
        self.archive.mkdir(parents=True, exist_ok=True)
        self.db = self.open_database(root)

    def open_database(self, root: Path):
        db = sqlite3.connect(root / "floor.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE IF NOT EXISTS files (name TEXT, sha256 TEXT, size INTEGER, at REAL)")
        return db

    def commit(self, row: tuple) -> None:
        """The file's one durable commit: a row (name, sha256, size, time)."""
        self.db.execute("BEGIN")
        self.db.execute("INSERT INTO files VALUES (?, ?, ?, ?)", row)
        self.db.execute("COMMIT")

    def take(self, path: Path) -> None:
        spooled = self.spool / path.name
        os.rename(path, spooled)
        fsync_dir(self.spool)
        data = spooled.read_bytes()
        self.commit((path.name, hashlib.sha256(data).hexdigest(), len(data), time.time()))
        os.rename(spooled, self.archive / path.name)
        fsync_dir(self.archive)

    def close(self) -> None:
        self.db.close()


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def start_importd(config: Path, log: Path, *args: str) -> subprocess.Popen:
    """The real CLI as a child process, its JSON log to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "importd", "run", "-c", str(config), *args],
                                stdout=out, stderr=subprocess.STDOUT)


def reap(child: subprocess.Popen) -> tuple[int, float]:
    """Wait for `child`; its exit code and peak RSS in MB.

    The peak is the kernel's high-water mark of the child's own memory (VmHWM),
    read until it exits: wait4's ru_maxrss would count the pages of this bench
    process that the child shared between fork and exec.
    """
    peak_kib = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak_kib = max(peak_kib, _high_water_kib(child.pid))
        time.sleep(0.02)
    child.returncode = os.waitstatus_to_exitcode(status)      # reaped here, not by Popen
    if not peak_kib:                  # no /proc (macOS counts ru_maxrss in bytes)
        peak_kib = usage.ru_maxrss / 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return child.returncode, peak_kib / 1024


def _high_water_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def states(db_path: Path) -> dict[str, int]:
    db = sqlite3.connect(db_path)
    try:
        return dict(db.execute("SELECT state, count(*) FROM import_files GROUP BY state"))
    finally:
        db.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
