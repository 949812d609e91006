"""`importd run --detach`: a well-behaved Unix daemon without systemd (python-daemon).

Double fork, new session, umask, working directory, standard streams to the
log file, and a pidfile lock that refuses a second instance. Under systemd use
the unit files instead (Type=notify, no --detach).
"""

from __future__ import annotations

import os
from pathlib import Path

import daemon
from daemon.pidfile import TimeoutPIDLockFile

from importd.pids import alive


class AlreadyRunning(Exception):
    """Another importd holds the pidfile."""


def detach(pidfile: Path, log_file: Path, working_directory: Path, run) -> int:
    """Run `run()` in a detached daemon; the calling process returns 0 once it is forked."""
    lock = TimeoutPIDLockFile(str(pidfile.resolve()), acquire_timeout=0)
    holder = lock.read_pid()
    if holder is not None:
        if alive(holder):
            raise AlreadyRunning(f"importd is already running with pid {holder} ({pidfile})")
        lock.break_lock()                      # a crashed daemon's pidfile: take it over
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "a", buffering=1, encoding="utf-8")
    pid = os.fork()
    if pid:                                     # the caller: the daemon carries on alone
        out.close()
        return 0
    context = daemon.DaemonContext(pidfile=lock, working_directory=str(working_directory), umask=0o027,
                                   stdout=out, stderr=out, files_preserve=[out],
                                   signal_map={},          # the service installs its own handlers
                                   detach_process=True)
    with context:
        code = run()
    os._exit(code)
