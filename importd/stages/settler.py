"""The settle stage on a thread of its own: one group's moves, acks and syncs overlap the
decisions about the next group.

The service commits a group's outcomes, hands the rows here and goes on; this
thread places the files (`settle.place`: the filesystem only, no database)
and hands back which were placed and which are held. The service then marks
them settled in its own connection, so the ledger says "settled" only once a
file's place is on disk. At most DEPTH groups wait: a backlog of any size
costs no more memory than that.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

from importd import log
from importd.config.config import Config
from importd.stages.settle import place

DEPTH = 2


@dataclass
class Placed:
    """A group back from the thread."""
    rows: list
    started: float                                          # when the group's decisions began
    placed: list[int] = field(default_factory=list)         # ready to be marked settled
    held: dict[int, BaseException] = field(default_factory=dict)    # by id: why the file waits


class Settler:
    def __init__(self, wake: threading.Event):
        self._wake = wake
        self._todo: queue.Queue = queue.Queue(maxsize=DEPTH)
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self.in_flight: set[int] = set()        # handed over, not collected: the spool walk skips them
        self._thread = threading.Thread(target=self._run, name="settle", daemon=True)
        self._thread.start()

    def submit(self, config: Config, rows: list, started: float) -> None:
        """Hand over decided rows; waits while DEPTH groups are already waiting."""
        self.in_flight.update(row["id"] for row in rows)
        self._todo.put((config, rows, started))

    def collect(self, wait: bool = False) -> list[Placed]:
        """The groups the thread has finished (with `wait`, every group handed over)."""
        finished = []
        while self.in_flight:
            try:
                group = self._done.get(timeout=1.0) if wait else self._done.get_nowait()
            except queue.Empty:
                if wait and self._thread.is_alive():
                    continue
                break
            self.in_flight.difference_update(row["id"] for row in group.rows)
            finished.append(group)
        return finished

    def stop(self, wait: bool = True) -> None:
        """End the thread once the groups handed over are placed; without `wait` (a forced stop)
        leave it: it dies with the process, and the next start settles what it did not."""
        if not wait:
            return
        try:
            self._todo.put(None, timeout=30)
        except queue.Full:          # still busy after 30 s: it is a daemon thread, the next start settles
            return
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while (item := self._todo.get()) is not None:
            config, rows, started = item
            group = Placed(rows, started)
            try:
                group.placed, group.held = place(config, rows)
            except Exception as e:      # the common sync failed (or a bug): the whole group waits
                if not isinstance(e, OSError):
                    log.get().exception("settle.internal_error")
                group.held = {row["id"]: e for row in rows}
            self._done.put(group)
            self._wake.set()


def seconds_each(group: Placed) -> float:
    """A file's share of its group's time, from its decision to its place on disk."""
    return (time.monotonic() - group.started) / len(group.rows)
