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

from importd.config import Config
from importd.spool import spool_in


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
