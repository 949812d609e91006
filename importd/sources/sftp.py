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
"""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from pathlib import Path

import paramiko

from importd import log
from importd.config import Config, Source
from importd.durable import fsync_dir
from importd.sources.local import is_temporary
from importd.sources.sftp_acks import push_acks, unpushed_acks
from importd.sources.sftp_session import describe, open_session
from importd.spool import register, spool_path
from importd.pids import alive
from importd.store import Store

CLAIM_MARK = ".importd-"
CHUNK = 1 << 20
RETRY_MIN, RETRY_MAX = 2.0, 300.0


class FileChanged(Exception):
    """The remote file vanished, grew or shrank between the listing and the end of its download."""


class _Stopping(Exception):
    """The service is stopping: abandon the download in hand (it is taken again next start)."""


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
        self._claim_refused = False

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
        store = Store(self.config.database, self.config.busy_timeout)
        try:
            while not self._stop.is_set():
                self._stop.wait(self._poll_once(store))
        finally:
            self._disconnect()
            store.close()

    def _poll_once(self, store: Store) -> float:
        """One listing (and the downloads it allows); return the seconds until the next."""
        try:
            if self._sftp is None:
                self._client, self._sftp = open_session(self.settings)
                self.logger.info("sftp.connected", host=self.settings.host, port=self.settings.port,
                                 remote_dir=self.settings.remote_dir)
            waiting = self._poll(self._sftp, store)
            if self.settings.ack_dir:
                push_acks(self._sftp, self.config, self.name, self.settings.ack_dir, self.logger)
        except _Stopping:
            return 0
        except Exception as e:  # every failure to reach or use the server is retried, never fatal
            self._disconnect()
            return self._failed(e)
        if self._failure is not None:
            self.logger.info("sftp.recovered", after=self._failure)
            self._failure, self.failure, self._delay = None, None, RETRY_MIN
        with self._lock:
            self._idle = not waiting
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

    def _poll(self, sftp: paramiko.SFTPClient, store: Store) -> bool:
        """List the folder, fetch what is complete; return whether files are still settling."""
        now = time.monotonic()
        listing = {a.filename: a for a in sftp.listdir_attr(self.settings.remote_dir)
                   if a.st_mode is not None and stat.S_ISREG(a.st_mode)}
        marker = self.settings.done_marker
        ready, seen = [], {}
        for name, attr in sorted(listing.items()):
            if CLAIM_MARK in name:
                self._watch_claim(sftp, store, name, attr, now)
                continue
            if is_temporary(name) or (marker and (name.endswith(marker) or name + marker not in listing)):
                continue
            signature = (attr.st_size, attr.st_mtime)
            known = store.remote_file_id(self.name, self.settings.remote(name), *signature)
            if known is not None:      # fetched before: with keep, leave it; else a crash cut on_success
                if self.settings.on_success != "keep":
                    self._on_success(sftp, name, self.settings.remote(name), known)
                continue
            before = self._seen.get(name)
            since = before[2] if before and before[:2] == signature else now
            if marker or now - since >= self.source.settle:
                ready.append((name, signature))
            else:
                seen[name] = (*signature, since)
        self._seen = seen
        self._claims = {k: v for k, v in self._claims.items() if k in listing}
        for name, signature in ready:
            if self._stop.is_set():
                raise _Stopping()
            self._fetch(sftp, store, name, signature)
        return bool(self._seen) or bool(ready)

    def _fetch(self, sftp: paramiko.SFTPClient, store: Store, name: str, signature: tuple[int, int]) -> None:
        path = self.settings.remote(name)
        taken = self._claim(sftp, path)
        if taken is None:
            return
        try:
            attr = sftp.stat(taken)
            if (attr.st_size, attr.st_mtime) != signature:
                raise FileChanged("size or mtime changed after the listing")
            started = time.monotonic()
            spooled = self._download(sftp, taken, name, attr.st_size)
            after = sftp.stat(taken)
            if (after.st_size, after.st_mtime) != signature:    # rewritten in place while we read
                spooled.unlink()
                raise FileChanged("size or mtime changed during the download")
        except (FileChanged, FileNotFoundError) as e:
            self.logger.info("sftp.file_changed", file=name, detail=str(e) or "vanished",
                             hint="taken again once it stays unchanged for settle seconds")
            self._give_back(sftp, taken, path)
            return
        except _Stopping:
            self._give_back(sftp, taken, path)
            raise
        try:
            (file_id,) = register(self.config, store, self.name, [(spooled, name)], remote=(path, *signature))
        except Exception:
            # Not in the ledger: the copy must not stay in the spool while the file goes back.
            spooled.unlink(missing_ok=True)
            self._give_back(sftp, taken, path)
            raise
        with self._lock:
            self._arrived += 1
        self.wake.set()
        seconds = time.monotonic() - started
        self.logger.info("sftp.fetched", file_id=file_id, file=name, remote_path=path, size=signature[0],
                         duration_s=round(seconds, 3))
        self._on_success(sftp, name, taken, file_id)

    def _claim(self, sftp: paramiko.SFTPClient, path: str) -> str | None:
        """Rename the file to our claim name; None if another importd took it first."""
        if not self.settings.claim or self._claim_refused:
            return path
        taken = path + self.claim_suffix
        try:
            sftp.rename(path, taken)
        except FileNotFoundError:
            self.logger.info("sftp.taken_elsewhere", remote_path=path)
            return None
        except PermissionError as e:
            self._claim_refused = True    # "where the server allows": download in place from now on
            self.logger.warning("sftp.claim_refused", error=str(e),
                                hint="the server forbids renames here; only one importd may collect "
                                     "from this folder (or set claim = false to silence this)")
            return path
        return taken

    def _give_back(self, sftp: paramiko.SFTPClient, taken: str, path: str) -> None:
        self._seen.pop(path.rsplit("/", 1)[-1], None)
        if taken != path:
            try:
                sftp.rename(taken, path)
            except FileNotFoundError:
                pass

    def _download(self, sftp: paramiko.SFTPClient, remote: str, name: str, size: int) -> Path:
        """Stream to spool/<source>/<id>-<name>.partial, fsync, rename; return the spooled path."""
        target = spool_path(self.config, self.name, name)
        folder = target.parent
        partial = target.with_name(target.name + ".partial")
        try:
            copied = 0
            with sftp.open(remote, "rb") as source, open(partial, "wb") as local:
                if size > CHUNK:      # pipelined reads pay off; for small files the extra thread does not
                    source.prefetch(size)
                while chunk := source.read(CHUNK):
                    if self._stop.is_set():
                        raise _Stopping()
                    local.write(chunk)
                    copied += len(chunk)
                local.flush()
                os.fsync(local.fileno())
            if copied != size:
                raise FileChanged(f"{copied} bytes read, {size} listed")
            os.rename(partial, target)
            fsync_dir(folder)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return target

    # -- after the ledger has it ---------------------------------------------------------------

    def _on_success(self, sftp: paramiko.SFTPClient, name: str, taken: str, file_id: int) -> None:
        """delete, move or give back the remote file (and its done-marker) now that it is ours."""
        settings, path = self.settings, self.settings.remote(name)
        if settings.on_success == "delete":
            sftp.remove(taken)
            action = "deleted"
        elif settings.on_success == "move":
            action = self._move(sftp, taken, name, file_id)
        else:
            if taken != path:
                sftp.rename(taken, path)
            action = "kept"
        if settings.done_marker and settings.on_success != "keep":
            try:
                sftp.remove(path + settings.done_marker)
            except FileNotFoundError:
                pass
        self.logger.info("sftp.on_success", file_id=file_id, file=name, action=action)

    def _move(self, sftp: paramiko.SFTPClient, taken: str, name: str, file_id: int) -> str:
        folder = self.settings.move_to
        try:
            sftp.stat(folder)
        except FileNotFoundError:
            sftp.mkdir(folder)
        target = f"{folder}/{name}"
        try:
            sftp.rename(taken, target)
        except OSError:           # that name is taken (a file of the same name moved before)
            target = f"{folder}/{file_id}-{name}"
            sftp.rename(taken, target)
        return f"moved to {target}"

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
        known = store.remote_file_id(self.name, path, attr.st_size, attr.st_mtime)
        self.logger.warning("sftp.claim_recovered", claim=name, owner=owner, in_ledger=known is not None)
        try:
            if known is not None:
                self._on_success(sftp, original, taken, known)
            else:
                sftp.rename(taken, path)
        except FileNotFoundError:
            pass                  # another importd recovered it first
