"""One setup, one service: an OS lock on the spool, and what its holder is doing.

The verbs that write (`run`, `run --once`, `import`) hold an exclusive flock on
`spool/.importd.lock`. The kernel drops it when the process ends, however it
ends, so kill -9 leaves no stale lock behind. The file says who holds it and
the service's state (running, or degraded and why). That state is rewritten in
place at a fixed size: on a full disk the update needs no new block.
Read-only verbs never take the lock; `status` reads the holder from it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from importd import __version__

LOCK_NAME = ".importd.lock"
SIZE = 4096
CONTENDED_FOR = 1.0     # seconds: a `status` probing the lock holds it for an instant


class SetupInUse(Exception):
    """Another importd holds this setup."""

    def __init__(self, holder: dict, path: Path):
        self.holder = holder
        pid, host, verb = holder.get("pid", "?"), holder.get("host", "?"), holder.get("verb", "importd")
        super().__init__(
            f"importd is already running with pid {pid} on {host} ({verb}, since "
            f"{holder.get('started_at', '?')}) on this setup (lock {path}). Stop it first, or let it do "
            f"the work: status, check, quarantine list and parked list work beside it")


class InstanceLock:
    def __init__(self, spool: Path, verb: str):
        self.path = spool / LOCK_NAME
        self.verb = verb
        self._fd: int | None = None
        self._head = {"pid": os.getpid(), "host": socket.gethostname(), "verb": verb, "version": __version__,
                      "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def acquire(self) -> None:
        """Take the lock or raise SetupInUse; OSError when the spool cannot be written."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + CONTENDED_FOR
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = _read(fd)
                    os.close(fd)
                    raise SetupInUse(holder, self.path) from None
                time.sleep(0.05)
        self._fd = fd
        if os.fstat(fd).st_size < SIZE:
            try:                                  # reserve the blocks now, while there is room
                os.pwrite(fd, b" " * SIZE, 0)
            except OSError:
                pass
        self.update({"state": "starting"})

    def update(self, state: dict) -> None:
        """Say what the service is doing; never fails (this is information, not the work)."""
        if self._fd is None:
            return
        data = json.dumps({**self._head, **state}, default=str).encode()[: SIZE - 1]
        try:
            os.pwrite(self._fd, data + b"\n" + b" " * (SIZE - len(data) - 1), 0)
        except OSError:
            pass

    def release(self) -> None:
        if self._fd is not None:
            self.update({"state": "stopped"})
            os.close(self._fd)           # closing drops the flock; the file stays (unlinking it races)
            self._fd = None


def holder(spool: Path) -> dict | None:
    """What the importd holding this setup says of itself, or None when none runs."""
    try:
        fd = os.open(spool / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(fd: int) -> dict:
    for _ in range(5):              # a read may meet a write halfway: read again
        try:
            return json.loads(os.pread(fd, SIZE, 0).decode() or "{}")
        except ValueError:
            time.sleep(0.01)
    return {}
