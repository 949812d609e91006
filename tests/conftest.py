"""Shared helpers: a real importd setup under tmp_path, the real CLI as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
CORPUS = REPO / "tests" / "corpus"   # copies of the EN 16931 examples, with their licence


def importd(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `importd` command and wait for it."""
    return subprocess.run([sys.executable, "-m", "importd", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def log_lines(stdout: str) -> list[dict]:
    """The JSON log objects a run printed (every stdout line must be one)."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


class Setup:
    """A folder made by `importd init`, with helpers to drop files and read the results."""

    def __init__(self, root: Path):
        self.root = root
        self.config = root / "importd.toml"
        self.inbox = root / "inbox"

    def run_once(self) -> subprocess.CompletedProcess:
        return importd("run", "--once", "-c", str(self.config))

    def drop(self, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
        """Write a file atomically into the inbox (temp name, then rename) as upstream should."""
        if isinstance(data, str):
            data = data.encode(encoding)
        temp = self.inbox / f".{name}.tmp"
        temp.write_bytes(data)
        os.rename(temp, self.inbox / name)
        return self.inbox / name

    def drop_sample(self, name: str, as_name: str | None = None) -> Path:
        return self.drop(as_name or name, (SAMPLES / name).read_bytes())

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.root / "importd.db")
        conn.row_factory = sqlite3.Row
        return conn

    def rows(self, sql: str, *params) -> list[dict]:
        with self.db() as conn:
            return [dict(r) for r in conn.execute(sql, params)]

    def archived(self) -> list[str]:
        return sorted(p.name for p in (self.root / "archive").rglob("*") if p.is_file())

    def quarantined(self) -> list[str]:
        folder = self.root / "quarantine"
        return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []

    def sidecar(self, name: str, source: str = "inbox") -> dict:
        return json.loads((self.root / "quarantine" / source / f"{name}.error.json").read_text())

    def spool_files(self) -> list[Path]:
        """Files in the spool (not the lock the service holds there)."""
        folder = self.root / "spool"
        return [p for p in folder.rglob("*") if p.is_file() and p.name != ".importd.lock"] if folder.exists() else []

    def start(self, *extra: str) -> subprocess.Popen:
        """Start the service in the background; the test stops it."""
        return subprocess.Popen([sys.executable, "-m", "importd", "run", "-c", str(self.config), *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def start_watching(self, *extra: str) -> subprocess.Popen:
        """Start the service and give it the moment it needs to open the database and watch."""
        service = self.start(*extra)
        self.wait_for(lambda: (self.root / "importd.db").exists(), what="the database")
        time.sleep(0.5)
        return service

    def wait_for(self, predicate, timeout: float = 30, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str, str]:
    process.send_signal(sig)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    """A fresh `importd init` folder with a short settle time."""
    root = tmp_path / "site"
    result = importd("init", str(root))
    assert result.returncode == 0, result.stderr
    config = root / "importd.toml"
    config.write_text(config.read_text().replace("settle = 1.0", "settle = 0.3"))
    return Setup(root)
