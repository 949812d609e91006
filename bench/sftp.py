"""SFTP collection throughput against OpenSSH's own `sftp` client, in the same run, on loopback.

    .venv/bin/python bench/sftp.py [--files 1000] [--mb 200]

1. a remote folder of N small CSV files (each a distinct customers file):
   `sftp -b` batch `get` of all of them, then `importd run --once` collecting
   them (claim, download, fsync, register, delete remotely) and importing them.
2. one large file (random bytes, no route: it ends in quarantine — what is
   timed is the transfer): `sftp get`, then `importd run --once`. `--mb 0`
   skips it.

importd figures: "collect" spans the start of the first download (the first
`sftp.fetched` line's time less its `duration_s`, the time of its batch) to the
last `sftp.on_success` line (the last remote delete), while the main loop
imports in parallel; "run" is the whole `run --once` process, connecting and
the settle wait included. `measure()` gives run_all.py its row: importd's
collect rate against the `sftp -b get` floor.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from common import reap, start_importd, states  # noqa: E402
from sshd import Sshd  # noqa: E402  (the test suite's loopback OpenSSH server)

ROW = "X{i:05d};M.;Martin{i};Paul;;;{i} rue B;;75002;Paris;FR;;paul{i}@example.fr\r\n"


def importd_site(root: Path, server: Sshd) -> Path:
    subprocess.run([sys.executable, "-m", "importd", "init", str(root)], check=True, capture_output=True)
    (root / "keys").mkdir()
    shutil.copy(server.user_key, root / "keys" / "id_ed25519")
    (root / "keys" / "known_hosts").write_text(server.known_hosts_line())
    config = root / "importd.toml"
    config.write_text(config.read_text() + f"""
[[sources]]
name = "partner"
kind = "sftp"
host = "127.0.0.1"
port = {server.port}
user = "root"
key_file = "keys/id_ed25519"
known_hosts = "keys/known_hosts"
remote_dir = "{server.remote}"
on_success = "delete"
settle = 0.2
poll_interval = 1
routes = [ {{ match = "clients*.csv", rules = "rules/customers-fr.toml" }} ]
""")
    return config


def sftp_get(server: Sshd, pattern: str, into: Path) -> float:
    """Seconds OpenSSH's sftp takes to `get` the matching remote files into `into`."""
    into.mkdir(parents=True, exist_ok=True)
    batch = into.parent / "batch"
    batch.write_text(f"get {server.remote}/{pattern} {into}/\n")
    known = into.parent / "known_hosts"
    known.write_text(server.known_hosts_line())
    started = time.perf_counter()
    subprocess.run(["sftp", "-q", "-b", str(batch), "-P", str(server.port), "-i", str(server.user_key),
                    "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
                    "root@127.0.0.1"], check=True, capture_output=True)
    return time.perf_counter() - started


def importd_once(config: Path, log: Path) -> tuple[float, float, list[dict], float]:
    """(run seconds, collect seconds, fetched log lines, peak RSS MB) of one `importd run --once`."""
    started = time.perf_counter()
    _, rss = reap(start_importd(config, log, "--once"))
    run = time.perf_counter() - started
    lines = []
    for text in log.read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue                     # a stderr line
    fetched = [line for line in lines if line["event"] == "sftp.fetched"]
    tidied = [line for line in lines if line["event"] == "sftp.on_success"]
    if not fetched or not tidied:
        return run, 0.0, fetched, rss
    first = min(_stamp(line) - timedelta(seconds=line["duration_s"]) for line in fetched)
    collect = (max(_stamp(line) for line in tidied) - first).total_seconds()
    return run, collect, fetched, rss


def _header() -> bytes:
    return (REPO / "samples" / "clients-2026-11.csv").read_bytes().split(b"\r\n")[0] + b"\r\n"


def _stamp(line: dict) -> datetime:
    return datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))


def measure(files: int) -> dict:
    """run_all.py's row: `files` small files, importd's collect rate against `sftp -b get`."""
    with tempfile.TemporaryDirectory(prefix="importd-bench-sftp-") as tmp:
        tmp = Path(tmp)
        server = Sshd(tmp / "sshd")
        server.start()
        try:
            get_s, run_s, collect_s, fetched, rss = small_files(server, tmp, files)
            done = states(tmp / "site-small" / "importd.db")
        finally:
            server.stop()
    ok = len(fetched) == files and done.get("imported", 0) == files and collect_s > 0
    return {"work": f"sftp: {files:,} small files collected (loopback)", "unit": "files/s",
            "importd": files / collect_s if collect_s else 0.0, "floor": files / get_s,
            "ratio": get_s / collect_s if collect_s else 0.0, "rss": rss, "ok": ok,
            "note": f"(run --once {files / run_s:,.0f} files/s, import included)" if ok
                    else f"CHECK FAILED: {len(fetched)} fetched, states {done}"}


def small_files(server: Sshd, tmp: Path, files: int) -> tuple[float, float, float, list[dict], float]:
    """(sftp get s, importd run s, importd collect s, fetched lines, importd peak RSS MB)."""
    for i in range(files):
        (server.remote / f"clients-{i:05d}.csv").write_bytes(_header() + ROW.format(i=i).encode("cp1252"))
    get_s = sftp_get(server, "clients-*.csv", tmp / "got-small")
    config = importd_site(tmp / "site-small", server)
    run_s, collect_s, fetched, rss = importd_once(config, tmp / "small.log")
    return get_s, run_s, collect_s, fetched, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="importd-bench-sftp-") as tmp:
        tmp = Path(tmp)
        server = Sshd(tmp / "sshd")
        server.start()
        try:
            get_s, run_s, collect_s, fetched, _ = small_files(server, tmp, args.files)
            assert len(fetched) == args.files, f"importd fetched {len(fetched)} of {args.files}"
            print(f"{args.files} small files ({len(_header()) + 60} B each), loopback sshd:")
            print(f"  sftp -b get           {get_s:7.2f} s  {args.files / get_s:8.1f} files/s")
            print(f"  importd collect       {collect_s:7.2f} s  {args.files / collect_s:8.1f} files/s"
                  f"   (download, fsync, ledger, remote delete)   ratio {get_s / collect_s:.2f}")
            print(f"  importd run --once    {run_s:7.2f} s  {args.files / run_s:8.1f} files/s"
                  f"   (whole process: connect, settle, collect and import)")
            if not args.mb:
                return

            size = args.mb << 20
            with open(server.remote / "big.dat", "wb") as f:
                for _ in range(args.mb):
                    f.write(os.urandom(1 << 20))
            get_s = sftp_get(server, "big.dat", tmp / "got-big")
            config = importd_site(tmp / "site-big", server)
            run_s, _, fetched, _ = importd_once(config, tmp / "big.log")
            assert len(fetched) == 1
            download_s = fetched[0]["duration_s"]
            print(f"one {args.mb} MB file:")
            print(f"  sftp get              {get_s:7.2f} s  {size / get_s / 1e6:8.1f} MB/s")
            print(f"  importd download      {download_s:7.2f} s  {size / download_s / 1e6:8.1f} MB/s"
                  f"   (stream to .partial, fsync, rename, hash, ledger)")
            print(f"  importd run --once    {run_s:7.2f} s  {size / run_s / 1e6:8.1f} MB/s"
                  f"   (whole process, quarantine move included)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
