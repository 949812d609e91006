"""Shared helpers: a real importd setup under tmp_path, the real CLI as a subprocess.

A test module that sets `BACKENDS = ("sqlite", "postgresql")` runs its tests that use the
`setup` fixture on both: on PostgreSQL each test gets a schema of its own in the database
IMPORTD_TEST_POSTGRESQL names (see postgresql_url below).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from importd.config.database import PostgresDatabase

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

    def __init__(self, root: Path, database: PostgresDatabase | None = None):
        self.root = root
        self.config = root / "importd.toml"
        self.inbox = root / "inbox"
        self.database = database          # None: SQLite, importd.db in the setup

    @property
    def backend(self) -> str:
        return "sqlite" if self.database is None else "postgresql"

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

    def db(self):
        """A connection to the setup's database (sqlite3's, or importd's PostgreSQL one, which
        takes the same SQL and gives the same rows)."""
        if self.database is not None:
            from importd.store.postgresql import Connection
            return Connection(self.database, 5.0)
        conn = sqlite3.connect(self.root / "importd.db")
        conn.row_factory = sqlite3.Row
        return conn

    def database_exists(self) -> bool:
        if self.database is None:
            return (self.root / "importd.db").exists()
        from importd.store import postgresql
        db = postgresql.open_readonly(self.database, 5.0)
        if db is not None:
            db.close()
        return db is not None

    def rows(self, sql: str, *params) -> list[dict]:
        conn = self.db()
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

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
        return ([p for p in folder.rglob("*") if p.is_file() and p.name not in (".importd.lock", ".importd.owner")]
                if folder.exists() else [])

    def start(self, *extra: str) -> subprocess.Popen:
        """Start the service in the background; the test stops it."""
        return subprocess.Popen([sys.executable, "-m", "importd", "run", "-c", str(self.config), *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def start_watching(self, *extra: str) -> subprocess.Popen:
        """Start the service and give it the moment it needs to open the database and watch."""
        service = self.start(*extra)
        self.wait_for(self.database_exists, what="the database")
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


def pytest_generate_tests(metafunc):
    backends = getattr(metafunc.module, "BACKENDS", None)
    if backends and "backend" in metafunc.fixturenames:
        if metafunc.definition.get_closest_marker("sqlite_only"):
            backends = ("sqlite",)
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request) -> str:
    """The management database's kind: "sqlite" unless the module asks for both (BACKENDS)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgresql_url() -> str:
    """The test server, from IMPORTD_TEST_POSTGRESQL (a role that may create schemas in its
    database; the password in PGPASSWORD or ~/.pgpass). Without it the PostgreSQL tests are
    skipped, saying why — except in CI (CI=true), where they must run, so the run fails."""
    url = os.environ.get("IMPORTD_TEST_POSTGRESQL")
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    why = None
    if not url:
        why = ("IMPORTD_TEST_POSTGRESQL is not set: the PostgreSQL tests need a server"
               " (see the README, \"Testing on PostgreSQL\")")
    else:
        try:
            import psycopg
            psycopg.connect(url, connect_timeout=5).close()
        except Exception as e:          # not installed, refused, wrong password: all say why
            why = f"the PostgreSQL test server {url} cannot be used: {type(e).__name__}: {e}"
    if why:
        if in_ci:
            pytest.fail(f"{why} (CI=true: the PostgreSQL tests may not be skipped)", pytrace=False)
        pytest.skip(why)
    return url


@pytest.fixture
def postgresql(postgresql_url: str):
    """A PostgreSQL database of this test's own: an empty schema, dropped afterwards."""
    import psycopg
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgresql_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in postgresql_url else "?"
    yield PostgresDatabase(f"{postgresql_url}{separator}options=-csearch_path%3D{schema}")
    with psycopg.connect(postgresql_url, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def sshd(tmp_path: Path):
    """A real OpenSSH server on loopback (sshd.py), for the SFTP sources."""
    from sshd import Sshd
    server = Sshd(tmp_path / "sshd")
    server.start()
    yield server
    server.stop()


def use_database(config: Path, database: PostgresDatabase) -> None:
    """Point an importd.toml at `database` instead of its SQLite file."""
    lines = config.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("database"))
    lines[at] = f'database = "{database.url}"\n'
    config.write_text("".join(lines))


@pytest.fixture
def setup(tmp_path: Path, backend: str, request) -> Setup:
    """A fresh `importd init` folder with a short settle time, on the test's backend."""
    root = tmp_path / "site"
    result = importd("init", str(root))
    assert result.returncode == 0, result.stderr
    config = root / "importd.toml"
    config.write_text(config.read_text().replace("settle = 1.0", "settle = 0.3"))
    database = request.getfixturevalue("postgresql") if backend == "postgresql" else None
    if database is not None:
        use_database(config, database)
    return Setup(root, database)
