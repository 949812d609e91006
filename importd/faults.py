"""Faults that are not a file's fault: a database locked or full, a disk full, a folder unwritable.

Every stage that touches the database or the disk reports its failures here.
A fault is logged once when it starts (with a hint a person can act on) and
once when it clears, counted in the metrics, and shown by /health and
`importd status` while it lasts. What failed is retried with a capped backoff;
the service itself never stops for one.
"""

from __future__ import annotations

import errno
import sqlite3
import time
from dataclasses import dataclass, field

RETRY_MIN, RETRY_MAX = 2.0, 300.0


class DatabaseFault(Exception):
    """A PostgreSQL error that is no file's fault — a lost connection, a lock held too long, a
    serialization failure, a deadlock (psycopg's OperationalError) — as store/postgresql.py
    raises it, so that nothing here imports psycopg (a tenth of a second at every start)."""

    def __init__(self, error: BaseException):
        super().__init__(str(error).strip())
        self.sqlstate = getattr(error, "sqlstate", None)


TRANSIENT = (sqlite3.OperationalError, OSError, DatabaseFault)     # what a stage turns into a retry

# Kinds that hit every file alike: while one lasts, the stage waits as a whole.
SHARED_KINDS = {"database_locked", "disk_full", "read_only", "io_error", "database_unavailable",
                "database_conflict", "database_timeout"}

HINTS = {
    "database_locked": "another program holds a write lock on the database (a backup, an open sqlite3 shell,"
                       " another service); importd retries until it is released",
    "disk_full": "free space on the disk that holds the database, spool, archive or outbox; importd retries",
    "read_only": "the filesystem is mounted read-only; remount it read-write, importd retries",
    "io_error": "the disk reported an I/O error: check it (dmesg, SMART); importd retries",
    "permission_denied": "importd's user cannot write there: fix the folder's owner or mode; importd retries",
    "database_unavailable": "the database cannot be opened or reached (its file's path and folder; a PostgreSQL"
                            " server's address, its role, password and pg_hba.conf); importd retries",
    "database_conflict": "another importd instance changed the same rows at the same time (a serialization"
                         " failure or deadlock, which PostgreSQL undoes); importd retries",
    "database_timeout": "PostgreSQL cancelled a statement that ran too long (statement_timeout); importd retries",
}

def hint(kind: str) -> str:
    """What a person can do about a fault of this kind."""
    return HINTS.get(kind, "importd retries; see the error")


_ERRNO_KINDS = {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full", errno.EROFS: "read_only",
                errno.EIO: "io_error", errno.EACCES: "permission_denied", errno.EPERM: "permission_denied"}


def classify(error: BaseException) -> str:
    """A stable name for what went wrong, the same for the same cause."""
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        for needle, kind in (("locked", "database_locked"), ("busy", "database_locked"),
                             ("full", "disk_full"), ("readonly", "read_only"), ("read-only", "read_only"),
                             ("i/o", "io_error"), ("unable to open", "database_unavailable")):
            if needle in text:
                return kind
        return "database_error"
    if isinstance(error, DatabaseFault):
        return _postgresql_kind(error)
    if isinstance(error, OSError):
        name = errno.errorcode.get(error.errno, str(error.errno)).lower()
        return _ERRNO_KINDS.get(error.errno, f"os_error_{name}")
    return type(error).__name__


# PostgreSQL's SQLSTATE classes and codes: https://www.postgresql.org/docs/current/errcodes-appendix.html
_SQLSTATE_KINDS = {"40001": "database_conflict", "40P01": "database_conflict", "55P03": "database_locked",
                   "57014": "database_timeout", "53100": "disk_full", "58030": "io_error", "25006": "read_only"}


def _postgresql_kind(error: DatabaseFault) -> str:
    state = error.sqlstate
    if state in _SQLSTATE_KINDS:
        return _SQLSTATE_KINDS[state]
    if state is None or state.startswith(("08", "57P", "28", "3D")):
        # no answer from a server (lost connection, refused, shut down), or it refused us
        return "database_unavailable"
    return "database_error"


@dataclass(slots=True)
class Fault:
    stage: str
    source: str | None
    kind: str
    error: str
    since: float = field(default_factory=time.time)
    count: int = 1

    def as_dict(self) -> dict:
        return {"stage": self.stage, "source": self.source, "kind": self.kind, "error": self.error, "count": self.count,
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since)),
                "hint": hint(self.kind)}


class Backoff:
    """When each key (a stage, a file) may be tried again: 2 s doubling to 5 min."""

    def __init__(self):
        self._due: dict[object, tuple[float, float]] = {}

    def failed(self, key) -> float:
        _, delay = self._due.get(key, (0.0, RETRY_MIN / 2))
        delay = min(delay * 2, RETRY_MAX)
        self._due[key] = (time.monotonic() + delay, delay)
        return delay

    def ok(self, key) -> None:
        self._due.pop(key, None)

    def ready(self, key) -> bool:
        return time.monotonic() >= self._due.get(key, (0.0, 0.0))[0]

    def waits(self) -> list[float]:
        """Seconds until each key may be tried again."""
        now = time.monotonic()
        return [when - now for when, _ in self._due.values()]


class Faults:
    """The faults that last now, one per stage, source and kind."""

    def __init__(self, logger, on_fault=None):
        self.logger = logger
        self.active: dict[tuple, Fault] = {}
        self._on_fault = on_fault          # metrics: called with (stage, kind) at every failure

    def failed(self, stage: str, error: BaseException, source: str | None = None, **context) -> str:
        """Record a failure of `stage`; logs only when this kind of fault starts. Returns its kind."""
        kind = classify(error)
        fault = self.active.get((stage, source, kind))
        if fault is None:
            fault = self.active[(stage, source, kind)] = Fault(stage, source, kind, str(error))
            self.logger.error("fault.started", **fault.as_dict(), **context)
        else:
            fault.count += 1
            fault.error = str(error)
            self.logger.debug("fault.again", stage=stage, source=source, kind=kind, count=fault.count, **context)
        if self._on_fault is not None:
            self._on_fault(stage, kind)
        return kind

    def ok(self, stage: str, source: str | None = None) -> None:
        """`stage` worked (for `source`): its faults are over."""
        for key in [k for k in self.active if k[:2] == (stage, source)]:
            fault = self.active.pop(key)
            self.logger.info("fault.cleared", stage=stage, source=source, kind=fault.kind,
                             failures=fault.count, lasted_s=round(time.time() - fault.since, 1))

    @property
    def degraded(self) -> bool:
        return bool(self.active)

    def summary(self) -> list[dict]:
        return [f.as_dict() for f in self.active.values()]
