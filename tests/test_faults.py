"""Faults that are not a file's fault, against the real service: it stays up, waits, and finishes the work.

Each test proves the same four things: the service is alive during the fault
(and says it is degraded), nothing is lost or doubled, no number is skipped,
and everything is done once the fault clears. The disk faults mount a small
tmpfs, which needs root: without it they are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from builders import order_rows
from conftest import importd, log_lines, stop

BACKENDS = ("sqlite", "postgresql")     # each test runs on both, but those about SQLite's own disk


@pytest.fixture
def mount(tmp_path):
    """mount(folder, size="8m", ro=False) mounts a fresh tmpfs there; all are unmounted after the test."""
    mounted: list[Path] = []

    def _mount(folder: Path, size: str = "8m") -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root (CI runs as root)")
        folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield _mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)


def remount(folder: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(folder)], check=True)


def set_keys(setup, **keys) -> None:
    """Top-level keys of importd.toml (they must come before the first table)."""
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    setup.config.write_text(lines + setup.config.read_text())


def drop_orders(setup, files: int, first_file: int = 0, per_file: int = 3) -> None:
    for i in range(first_file, first_file + files):
        setup.drop(f"orders_export_{i:03d}.csv", order_rows(setup, 1000 + i * per_file, per_file))


def service_state(setup) -> dict:
    result = importd("status", "--json", "-c", str(setup.config))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["service"]


def wait_degraded(setup, kind: str, timeout: float = 30) -> dict:
    found = {}

    def degraded():
        found.update(service_state(setup))
        return found.get("state") == "degraded" and kind in {f["kind"] for f in found.get("faults", [])}

    setup.wait_for(degraded, timeout=timeout, what=f"status to say degraded by {kind}")
    return found


def assert_all_done_once(setup, files: int, per_file: int = 3) -> None:
    """Every file archived once, every order once, numbers 1…N with no gap, the database intact."""
    assert setup.rows("SELECT state, count(*) n FROM import_files GROUP BY state") == [
        {"state": "imported", "n": files}]
    assert len(setup.archived()) == files
    assert not setup.spool_files() and not [p for p in setup.inbox.iterdir() if not p.name.startswith(".")]
    numbers = [r["number"] for r in setup.rows("SELECT number FROM orders ORDER BY number")]
    assert numbers == [f"CMD-2026-{n:06d}" for n in range(1, files * per_file + 1)]
    if setup.backend == "sqlite":
        assert setup.rows("PRAGMA integrity_check") == [{"integrity_check": "ok"}]


class WriteLock:
    """Another program holding a write lock on the database: an open write transaction on
    SQLite, a table locked against writes on PostgreSQL (as an admin's maintenance would)."""

    def __init__(self, setup):
        self.db = setup.db() if setup.backend == "postgresql" else sqlite3.connect(
            setup.root / "importd.db", isolation_level=None)
        self.db.execute("BEGIN IMMEDIATE" if setup.backend == "sqlite" else "BEGIN")
        if setup.backend == "postgresql":
            self.db.execute("LOCK TABLE import_files IN EXCLUSIVE MODE")

    def release(self) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()


def wait_archived(setup, files: int, timeout: float = 60) -> None:
    setup.wait_for(lambda: len(setup.archived()) >= files, timeout=timeout, what=f"{files} files archived")


def test_database_locked_longer_than_the_busy_timeout_then_released(setup):
    """An admin's open write transaction: files wait in inbox or spool, the service stays up, then imports all."""
    set_keys(setup, busy_timeout=0.3)
    service = setup.start_watching()
    try:
        admin = WriteLock(setup)
        drop_orders(setup, 4)
        state = wait_degraded(setup, "database_locked")
        assert service.poll() is None
        assert any(f["hint"] for f in state["faults"])
        time.sleep(2)
        assert service.poll() is None
        admin.release()
        wait_archived(setup, 4)
        setup.wait_for(lambda: service_state(setup)["state"] == "running", what="the fault to clear")
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    events = [line for line in log_lines(out) if line["event"].startswith("fault.")]
    started = [e for e in events if e["event"] == "fault.started"]
    assert started and all(e["kind"] == "database_locked" for e in started)
    assert len(started) == len({(e["stage"], e["source"]) for e in started})     # one line per kind and stage
    assert any(e["event"] == "fault.cleared" for e in events)
    assert_all_done_once(setup, 4)


def test_sigkill_while_the_database_is_locked_loses_nothing(setup):
    """kill -9 while files are spooled but not yet in the ledger: the restart registers and imports them once."""
    set_keys(setup, busy_timeout=0.3)
    service = setup.start_watching()
    admin = WriteLock(setup)
    try:
        drop_orders(setup, 3)
        wait_degraded(setup, "database_locked")
        service.kill()
        service.wait()
    finally:
        admin.release()
        if service.poll() is None:
            service.kill()
    assert setup.run_once().returncode == 0
    assert_all_done_once(setup, 3)


def test_second_instance_is_refused_and_read_only_verbs_work_beside_it(setup):
    """run, run --once and import refuse a held setup, naming the holder; status, check and lists still work."""
    service = setup.start_watching()
    try:
        config = str(setup.config)
        sample = setup.root / "samples" / "orders_export_1.csv"
        for verb in (["run"], ["run", "--once"], ["import", str(sample)]):
            result = importd(*verb, "-c", config, timeout=30)
            assert result.returncode == 2, (verb, result.stdout, result.stderr)
            assert f"already running with pid {service.pid}" in result.stderr
        for verb in (["status"], ["check"], ["quarantine", "list"], ["parked", "list"]):
            result = importd(*verb, "-c", config)
            assert result.returncode == 0, (verb, result.stderr)
        assert f"pid {service.pid}" in importd("status", "-c", config).stdout
        service.kill()                # kill -9 leaves no stale lock: the kernel drops it
        service.wait()
        assert "not running" in importd("status", "-c", config).stdout
        drop_orders(setup, 2)
        assert setup.run_once().returncode == 0
    finally:
        if service.poll() is None:
            service.kill()
    assert_all_done_once(setup, 2)


@pytest.mark.sqlite_only       # the database's own disk full; a PostgreSQL server's disk is its own
def test_disk_full_the_service_waits_and_a_restart_on_a_full_disk_waits_too(setup, tmp_path, mount):
    """Spool, database and archive on a full disk: claims wait; restarted still full, it waits; freed, all is done."""
    site = mount(tmp_path / "full", size="16m")
    for item in setup.root.iterdir():
        subprocess.run(["cp", "-a", str(item), str(site)], check=True)
    setup.root, setup.config = site, site / "importd.toml"
    outside = tmp_path / "inbox"          # upstream drops on another disk, as a shared inbox would
    outside.mkdir()
    setup.inbox = outside
    setup.config.write_text(setup.config.read_text().replace('path = "inbox"', f'path = "{outside}"'))
    service = setup.start_watching()
    filler = site / "filler"
    try:
        drop_orders(setup, 1)
        wait_archived(setup, 1)
        # Fill the disk to the last block; unbuffered, so closing has nothing left to flush.
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 16))
                    f.flush()
            except OSError:
                pass
        drop_orders(setup, 3, first_file=1)
        wait_degraded(setup, "disk_full")
        code, out, err = stop(service)
        assert code == 0, err
        service = setup.start()
        wait_degraded(setup, "disk_full")
        time.sleep(1)
        assert service.poll() is None, service.stderr.read()
        filler.unlink()
        wait_archived(setup, 4)
    finally:
        filler.unlink(missing_ok=True)
        code, out, err = stop(service)
    assert code == 0, err
    assert_all_done_once(setup, 4)


def test_unwritable_archive_keeps_files_in_the_spool_until_it_is_writable(setup, mount):
    """A read-only archive: documents commit, files wait in the spool, then settle once it is writable."""
    archive = mount(setup.root / "archive")
    remount(archive, "ro")
    service = setup.start_watching()
    try:
        drop_orders(setup, 3)
        wait_degraded(setup, "read_only")
        setup.wait_for(lambda: len(setup.rows("SELECT 1 FROM import_files WHERE state = 'imported'")) == 3,
                       what="the three commits")
        assert len(list((setup.root / "spool" / "inbox").iterdir())) == 3 and service.poll() is None
        remount(archive, "rw")
        wait_archived(setup, 3)
    finally:
        remount(archive, "rw")
        code, out, err = stop(service)
    assert code == 0, err
    assert_all_done_once(setup, 3)


def test_archive_and_quarantine_on_another_filesystem(setup, mount):
    """Settling across filesystems copies, syncs and renames: files arrive whole, none stays behind."""
    mount(setup.root / "archive")
    mount(setup.root / "quarantine")
    drop_orders(setup, 3)
    setup.drop("orders_export_bad.csv", "not,an,orders,export\n1,2,3,4\n")
    assert setup.run_once().returncode == 1
    assert_all_done_once_with_one_bad(setup, 3)


def test_sigkill_while_settling_across_filesystems_leaves_each_file_in_one_place(setup, mount):
    """kill -9 during a stream settling onto another filesystem: after a restart, every file once, no partial."""
    mount(setup.root / "archive", size="64m")
    service = setup.start_watching()
    files = 20
    try:
        for i in range(files):
            drop_orders(setup, 1, first_file=i, per_file=40)
            time.sleep(0.02)
            if i == files // 2:
                setup.wait_for(lambda: len(setup.archived()) >= 2, what="some settled files")
                os.kill(service.pid, signal.SIGKILL)
                service.wait()
    finally:
        if service.poll() is None:
            service.kill()
    assert setup.run_once().returncode == 0
    assert not [p for p in (setup.root / "archive").rglob("*.partial")]
    assert_all_done_once(setup, files, per_file=40)


def assert_all_done_once_with_one_bad(setup, good: int) -> None:
    states = setup.rows("SELECT state, count(*) n FROM import_files GROUP BY state ORDER BY state")
    assert states == [{"state": "imported", "n": good}, {"state": "quarantined", "n": 1}]
    assert len(setup.archived()) == good
    assert "orders_export_bad.csv" in setup.quarantined()
    assert not setup.spool_files() and not list(setup.inbox.iterdir())
