"""An SFTP folder: list, wait until complete, claim, download into the spool, register, then tidy.

One thread per sftp source does the network work, with its own database
connection, so a slow or dead server never holds up the other sources; the
service loop only learns that files arrived and processes them from the spool
like any other.

A remote file is complete when its size and mtime are unchanged across two
listings at least `settle` seconds apart on *our* monotonic clock (the server's
clock is never compared with ours), or, in done-marker mode, when `x.csv.done`
sits beside `x.csv`. The order that makes a crash harmless: claim (rename to
`name.importd-<host>-<pid>`), download to `.partial`, fsync, rename into the
spool, record in the ledger with the remote path, size and mtime — and only
then delete, move or give back the remote file. A claim left behind is
recognised: already in the ledger → finish on_success; otherwise give it back.

Small files take these steps together, up to 100 at a time (sftp_fetch.py):
one exchange of pipelined requests per step for the whole batch, one sync of
the spool folder, one ledger transaction. A crash between a batch's rename into
the spool and its ledger commit leaves copies that start-up registers without
their remote identity; their claims go back and the files come again, as
duplicates of what was imported.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import paramiko

from importd import log
from importd.config.config import Config, Source
from importd.faults import TRANSIENT, Backoff, Faults
from importd.pids import alive
from importd.sources.local import is_temporary
from importd.sources.sftp_acks import push_acks, unpushed_acks
from importd.sources.sftp_fetch import (SMALL, FileChanged, Stopping, batches, download, read_small,
                                        spool_all)
from importd.sources.sftp_pipeline import Pipeline
from importd.sources.sftp_session import describe, open_session
from importd.sources.sftp_tidy import on_success
from importd.stages.spool import register
from importd.store import Store

CLAIM_MARK = ".importd-"
RETRY_MIN, RETRY_MAX = 2.0, 300.0

class _LocalFault(Exception):
    """Our database or disk failed, not the server: the session stays, the work is tried again later."""


@contextmanager
def _local():
    try:
        yield
    except TRANSIENT as e:
        raise _LocalFault() from e


def _host_tag() -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in socket.gethostname()) or "host"


class SftpSource:
    def __init__(self, config: Config, source: Source, wake: threading.Event, *, once: bool = False,
                 on_error=None):
        self.config, self.source, self.settings = config, source, source.sftp
        self.wake, self.once = wake, once
        self.on_error = on_error                            # (source, kind) → None: counts for /metrics
        self.host = _host_tag()
        self.claim_suffix = f"{CLAIM_MARK}{self.host}-{os.getpid()}"
        self.logger = log.get(source=source.name)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._arrived = 0                                   # registered, not yet reported to the loop
        self._idle = False                                  # last poll left nothing waiting (for --once)
        self._seen: dict[str, tuple[int, int, float]] = {}  # name → (size, mtime, since)
        self._claims: dict[str, tuple[int, int, float]] = {}  # others' claims, watched for staleness
        self._failure: str | None = None
        self.failure: dict | None = None     # kind, error, hint, since: while the server cannot be used
        self._delay = RETRY_MIN
        self._client = self._sftp = None
        self._store: Store | None = None
        self._claim_refused = False
        self._faults = Faults(self.logger, on_fault=lambda stage, kind: on_error and on_error(self.name, kind))
        self._backoff = Backoff()

    def faults(self) -> list[dict]:
        """Database and disk faults of this source's thread that last now (for status and /health)."""
        with self._lock:
            return self._faults.summary()

    @property
    def pending(self) -> int:
        """Remote files seen, not settled yet (for the backlog figure)."""
        return len(self._seen)

    @property
    def name(self) -> str:
        return self.source.name

    # -- the service's side ------------------------------------------------------------------

    def start(self) -> None:
        folder = self.config.spool / self.name
        if folder.is_dir():       # downloads a crash cut short: the remote file is taken again
            for partial in folder.glob("*.partial"):
                partial.unlink()
        self._thread = threading.Thread(target=self._run, name=f"sftp-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.timeout + 5)

    def ready(self) -> list[Path]:
        return []                 # our thread registers files itself; see arrivals()

    def arrivals(self) -> int:
        """How many files were registered since the last call (the loop processes them)."""
        with self._lock:
            count, self._arrived = self._arrived, 0
        return count

    def next_check(self) -> float | None:
        """With --once: keep the service running until a poll found nothing more to do."""
        if not self.once:
            return None
        with self._lock:
            busy = self._arrived or not self._idle
        if busy or (self.settings.ack_dir and self._failure is None and unpushed_acks(self.config, self.name)):
            return 0.2
        return None

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._stop.wait(self._poll_once())
        finally:
            self._disconnect()
            if self._store is not None:
                self._store.close()

    def _poll_once(self) -> float:
        """One listing (and the downloads it allows); return the seconds until the next."""
        try:
            if self._store is None:
                with _local():
                    self._store = Store(self.config.database, self.config.busy_timeout, owner=self.config.spool_owner)
            if self._sftp is None:
                self._client, self._sftp = open_session(self.settings)
                self.logger.info("sftp.connected", host=self.settings.host, port=self.settings.port,
                                 remote_dir=self.settings.remote_dir)
            taken = self._poll(self._sftp, self._store)
            if self.settings.ack_dir:
                push_acks(self._sftp, self.config, self.name, self.settings.ack_dir, self.logger)
        except Stopping:
            return 0
        except _LocalFault as e:  # a database locked or a disk full: logged once, retried with backoff
            with self._lock:
                self._faults.failed("collect", e.__cause__, self.name)
                self._idle = True     # --once leaves the files on the server for the next run
            return self._backoff.failed("collect")
        except Exception as e:  # every failure to reach or use the server is retried, never fatal
            self._disconnect()
            return self._failed(e)
        if self._failure is not None:
            self.logger.info("sftp.recovered", after=self._failure)
            self._failure, self.failure, self._delay = None, None, RETRY_MIN
        self._backoff.ok("collect")
        with self._lock:
            self._faults.ok("collect", self.name)
            self._idle = not (taken or self._seen)
        if taken:                 # more may have come while we fetched: look again at once
            return 0.05
        now = time.monotonic()
        until_settled = [since + self.source.settle - now for _, _, since in self._seen.values()]
        return max(0.05, min([self.settings.poll_interval, *until_settled]))

    def _failed(self, error: Exception) -> float:
        kind, message, hint = describe(error, self.settings)
        if self.on_error is not None:
            self.on_error(self.name, kind)
        if kind != self._failure:
            self.logger.error("sftp.unavailable", kind=kind, error=message, hint=hint, retry_in_s=self._delay)
            self._failure = kind
            self.failure = {"kind": kind, "error": message[:300], "hint": hint,
                            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        delay, self._delay = self._delay, min(self._delay * 2, RETRY_MAX)
        with self._lock:
            self._idle = True     # --once does not wait for a server that does not answer
        return delay

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = self._sftp = None

    # -- one listing ---------------------------------------------------------------------------

    def _poll(self, sftp: paramiko.SFTPClient, store: Store) -> int:
        """List the folder, fetch what is complete; return how many files were taken."""
        now = time.monotonic()
        listing = {a.filename: a for a in sftp.listdir_attr(self.settings.remote_dir)
                   if a.st_mode is not None and stat.S_ISREG(a.st_mode)}
        marker = self.settings.done_marker
        ready, seen, finish = [], {}, []
        for name, attr in sorted(listing.items()):
            if CLAIM_MARK in name:
                self._watch_claim(sftp, store, name, attr, now)
                continue
            if is_temporary(name) or (marker and (name.endswith(marker) or name + marker not in listing)):
                continue
            signature = (attr.st_size, attr.st_mtime)
            with _local():
                known = store.remote_file_id(self.name, self.settings.remote(name), *signature)
            if known is not None:      # fetched before: with keep, leave it; else a crash cut on_success
                if self.settings.on_success != "keep":
                    finish.append((name, self.settings.remote(name), known))
                continue
            before = self._seen.get(name)
            since = before[2] if before and before[:2] == signature else now
            if marker or now - since >= self.source.settle:
                ready.append((name, signature))
            else:
                seen[name] = (*signature, since)
        self._seen = seen
        self._claims = {k: v for k, v in self._claims.items() if k in listing}
        on_success(sftp, self.settings, self.logger, finish)
        taken = 0
        for batch in batches(ready):
            if self._stop.is_set():
                raise Stopping()
            taken += self._fetch(sftp, store, batch)
        return taken

    def _fetch(self, sftp: paramiko.SFTPClient, store: Store, files: list[tuple[str, tuple[int, int]]]) -> int:
        """Claim, download, make durable in the spool, register, then tidy on the server; how many
        files the ledger took.

        Small files go together: a few exchanges of requests for the whole batch,
        one sync of the spool folder, one ledger transaction. A file the server
        cut short of what was asked is read on its own (`download`).
        """
        started = time.monotonic()
        held = self._claim(sftp, files)
        if len(held) == 1 and held[0][1][0] > SMALL:
            contents = [None]
        else:
            contents = read_small(sftp, [(taken, signature) for _, signature, _, taken in held])
        fetched, alone, back = [], [], []
        for item, content in zip(held, contents):
            if isinstance(content, FileChanged):
                self._changed(item[0], content)
                back.append(item)
            else:
                (fetched if content is not None else alone).append((*item, content))
        self._give_back(sftp, back)
        spooled = []
        try:
            with _local():
                spooled = spool_all(self.config, self.name, [(name, content) for name, *_, content in fetched])
            fetched = [(name, signature, path, taken, target)
                       for (name, signature, path, taken, _), target in zip(fetched, spooled)]
            for name, signature, path, taken, _ in alone:
                target = self._download(sftp, name, signature, path, taken)
                if target is not None:
                    fetched.append((name, signature, path, taken, target))
                    spooled.append(target)
            with _local():
                ids = self._register(store, fetched)
        except BaseException:
            # Not in the ledger: the copies must not stay in the spool while the files go back.
            for target in spooled:
                target.unlink(missing_ok=True)
            self._give_back(sftp, [item[:4] for item in fetched + alone])
            raise
        with self._lock:
            self._arrived += len(ids)
        self.wake.set()
        seconds = round(time.monotonic() - started, 3)
        for file_id, (name, signature, path, _, _) in zip(ids, fetched):
            self.logger.info("sftp.fetched", file_id=file_id, file=name, remote_path=path, size=signature[0],
                             duration_s=seconds)
        done = [(name, taken, file_id) for file_id, (name, _, _, taken, _) in zip(ids, fetched)]
        on_success(sftp, self.settings, self.logger, done)
        return len(ids)

    def _download(self, sftp: paramiko.SFTPClient, name: str, signature: tuple[int, int], path: str,
                  taken: str) -> Path | None:
        """Stream one file into the spool; None (the claim given back) if it changed meanwhile."""
        try:
            target = download(sftp, taken, self.config, self.name, name, signature[0], self._stop)
            after = sftp.stat(taken)
            if (after.st_size, after.st_mtime) != signature:    # rewritten in place while we read
                target.unlink()
                raise FileChanged("size or mtime changed during the download")
        except (FileChanged, FileNotFoundError) as e:
            self._changed(name, e)
            self._give_back(sftp, [(name, signature, path, taken)])
            return None
        return target

    def _register(self, store: Store, fetched: list) -> list[int]:
        """Record the spooled files in the ledger, in one transaction, with their remote path, size and mtime."""
        return register(self.config, store, self.name, [(target, name) for name, *_, target in fetched],
                        remote=[(path, *signature) for _, signature, path, *_ in fetched]) if fetched else []

    def _changed(self, name: str, error: Exception) -> None:
        self.logger.info("sftp.file_changed", file=name, detail=str(error) or "vanished",
                         hint="taken again once it stays unchanged for settle seconds")

    def _claim(self, sftp: paramiko.SFTPClient, files: list[tuple[str, tuple[int, int]]]) -> list[tuple]:
        """Rename each file to our claim name, in one exchange; (name, signature, path, taken) of
        those we hold (taken is the path itself where the server forbids renames)."""
        paths = [self.settings.remote(name) for name, _ in files]
        if not self.settings.claim or self._claim_refused:
            return [(name, signature, path, path) for (name, signature), path in zip(files, paths)]
        pipe = Pipeline(sftp)
        for path in paths:
            pipe.rename(path, path + self.claim_suffix)
        held = []
        for (name, signature), path, answer in zip(files, paths, pipe.send()):
            if isinstance(answer, FileNotFoundError):
                self.logger.info("sftp.taken_elsewhere", remote_path=path)
            elif isinstance(answer, PermissionError):
                if not self._claim_refused:   # "where the server allows": download in place from now on
                    self.logger.warning("sftp.claim_refused", error=str(answer),
                                        hint="the server forbids renames here; only one importd may collect "
                                             "from this folder (or set claim = false to silence this)")
                self._claim_refused = True
                held.append((name, signature, path, path))
            elif answer is not None:
                raise answer
            else:
                held.append((name, signature, path, path + self.claim_suffix))
        return held

    def _give_back(self, sftp: paramiko.SFTPClient, held: list[tuple]) -> None:
        """Undo claims (name, signature, path, taken): the files settle again before they are taken."""
        pipe = Pipeline(sftp)
        for name, _, path, taken in held:
            self._seen.pop(name, None)
            if taken != path:
                pipe.rename(taken, path)
        for answer in pipe.send():
            if answer is not None and not isinstance(answer, FileNotFoundError):
                raise answer

    # -- claims left behind ----------------------------------------------------------------------

    def _watch_claim(self, sftp, store: Store, name: str, attr, now: float) -> None:
        """Finish or give back a claim whose owner is gone (or silent for stale_claim seconds)."""
        original, _, owner = name.rpartition(CLAIM_MARK)
        host, _, pid = owner.rpartition("-")
        if not original or not pid.isdigit():
            return
        if host == self.host and (int(pid) == os.getpid() or not alive(int(pid))):
            stale = True          # ours, from a lost connection or a previous run
        else:
            signature = (attr.st_size, attr.st_mtime)
            before = self._claims.get(name)
            since = before[2] if before and before[:2] == signature else now
            self._claims[name] = (*signature, since)
            stale = now - since >= self.settings.stale_claim
        if not stale:
            return
        self._claims.pop(name, None)
        path, taken = self.settings.remote(original), self.settings.remote(name)
        with _local():
            known = store.remote_file_id(self.name, path, attr.st_size, attr.st_mtime)
        self.logger.warning("sftp.claim_recovered", claim=name, owner=owner, in_ledger=known is not None)
        try:
            if known is not None:
                on_success(sftp, self.settings, self.logger, [(original, taken, known)])
            else:
                sftp.rename(taken, path)
        except FileNotFoundError:
            pass                  # another importd recovered it first
