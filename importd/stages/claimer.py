"""The filesystem half of the claim stage on a thread of its own: while the service decides
and commits the files it has, the next batch moves from the local inboxes into the spool.

The service begins a round (the local sources to claim from) and takes its
result at its next turn, before it begins another: one round at a time. The
thread renames, syncs the spool folder once and hashes (`spool.spool_in`);
the service records the files in the ledger (`spool.record`) in its own
connection, so the two never wait for each other's write lock. Between the
two, the files are in the spool and not in the ledger, as a claim has always
been for an instant: a kill -9 there leaves them to the next start's
recovery, which registers them.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

from importd.config.config import Config
from importd.durable import ledger_name
from importd.faults import TRANSIENT
from importd.stages.spool import Unregistered, record, register, spool_in


@dataclass
class Round:
    """What one round did, per source name."""
    spooled: dict[str, list[tuple[Path, str, str, int]]] = field(default_factory=dict)   # see spool_in
    failed: dict[str, BaseException] = field(default_factory=dict)    # Unregistered, a fault or a bug


class Claimer:
    def __init__(self, wake: threading.Event):
        self._wake = wake
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self.busy = False                 # a round begun and not taken yet
        self._thread = threading.Thread(target=self._run, name="claim", daemon=True)
        self._thread.start()

    def begin(self, config: Config, sources: list) -> None:
        """Spool the ready files of these local sources in the background; `take` hands them back."""
        assert not self.busy, "one round at a time"
        self.busy = True
        self._todo.put((config, list(sources)))

    def take(self) -> Round | None:
        """The result of the round begun (waiting for its end), or None when none was begun."""
        if not self.busy:
            return None
        result = self._done.get()
        self.busy = False
        return result

    def stop(self, wait: bool = True) -> None:
        """End the thread after its round; without `wait` (a forced stop) leave it to die with
        the process: the next start's recovery registers what it spooled."""
        self._todo.put(None)
        if wait:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while (item := self._todo.get()) is not None:
            config, sources = item
            result = Round()
            for source in sources:
                try:
                    paths = source.ready()
                    result.spooled[source.name] = spool_in(config, source.name, paths) if paths else []
                except BaseException as e:      # handed to the service, which decides as for its own claims
                    result.failed[source.name] = e
            self._done.put(result)
            if any(result.spooled.values()):
                self._wake.set()


class Claims:
    """The service's side of the claim stage (a part of Service, kept here beside its thread)."""

    def _claim_ready(self) -> int:
        """Take what the sources have ready. Local inboxes are claimed on the claim thread: the
        round begun last turn is taken; when it found nothing (the inbox may have changed since
        it looked), a fresh round runs now. When files came, the next round begins at once and
        runs while this turn processes them."""
        claimed = self._register_unregistered()
        for source in self.sources:
            if source.source.kind == "sftp":
                claimed += source.arrivals()      # its thread downloads and registers them
        taken = self._take_claims()
        if not taken and self._begin_claims():
            taken = self._take_claims()
        if taken:
            self._begin_claims()
        return claimed + taken

    def _begin_claims(self) -> bool:
        """A claim round on the local sources that may claim now; False when none may."""
        sources = [source for source in self.sources if source.source.kind != "sftp"
                   and not self._shared_fault and self.backoff.ready(("claim", source.name))]
        if sources:
            self.claimer.begin(self.config, sources)
        return bool(sources)

    def _take_claims(self) -> int:
        """Record in the ledger the files of the round begun (waiting for its end); log them,
        handle its faults. Files spooled that the ledger cannot take now wait in _unregistered."""
        result = self.claimer.take()
        if result is None:
            return 0
        claimed = 0
        for name, spooled in result.spooled.items():
            try:
                ids = record(self.config, self.store, name, spooled)
            except Unregistered as e:
                result.failed[name] = e
                continue
            for file_id, (_, file, _, _) in zip(ids, spooled):
                self.logger.debug("file.claimed", file_id=file_id, source=name, file=ledger_name(file))
            if ids:
                self.logger.info("files.claimed", source=name, count=len(ids), first_id=ids[0], last_id=ids[-1])
            claimed += len(ids)
            self.faults.ok("claim", name)
            self.backoff.ok(("claim", name))
        for name, error in result.failed.items():
            if isinstance(error, Unregistered):
                self._unregistered.append(error)
                self._fault("claim", error.__cause__, name)
            elif isinstance(error, TRANSIENT):
                self._fault("claim", error, name)
            else:
                raise error       # a bug: as when the loop claimed itself
            self.backoff.failed(("claim", name))
        return claimed

    def _finish_claims(self) -> None:
        """Wait for the round in flight and log what it claimed: those files wait in the spool."""
        try:
            self._claimed += self._take_claims()
        except Exception as e:      # stopping: the next start's recovery finishes what this round began
            self.logger.warning("claim.unfinished", error=f"{type(e).__name__}: {e}")

    def _register_unregistered(self) -> int:
        """Files moved into the spool whose ledger insert failed: the ledger takes them now."""
        done = 0
        while self._unregistered and not self._shared_fault:
            waiting = self._unregistered[0]
            try:
                ids = register(self.config, self.store, waiting.source, waiting.files)
            except TRANSIENT as e:
                self._fault("claim", e, waiting.source)
                return done
            self._unregistered.pop(0)
            for file_id, (_, name) in zip(ids, waiting.files):
                self.logger.info("file.claimed", file_id=file_id, source=waiting.source, file=ledger_name(name))
            done += len(ids)
        return done
