"""A local inbox folder: watchdog events are hints, a periodic os.scandir is the truth.

A file is ready when its size and mtime have stayed the same for `settle`
seconds on our monotonic clock (or its mtime is already that old: a file
renamed in whole). A file whose last event says it is complete — renamed
into the inbox, or (with `ready = "close"`) closed after writing — is taken
at the next scan without waiting. Temporary names are never taken.

A backlog is handed out in batches, oldest first, from one scan: the service
claims and imports a batch before the next, so the first file of a large
backlog is committed in about a second and memory stays flat.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
from collections import deque
from pathlib import Path

from watchdog.events import (FileClosedEvent, FileCreatedEvent, FileDeletedEvent, FileModifiedEvent,
                             FileMovedEvent, FileSystemEventHandler)
from watchdog.observers import Observer

from importd.config.config import Source

# watchdog logs its own shutdown races on stderr; the scan is the truth, our log says what matters.
logging.getLogger("watchdog").setLevel(logging.CRITICAL)

TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload", "~")
BATCH = 128          # files handed out per ready() while a backlog lasts


def is_temporary(name: str) -> bool:
    """Names that writers use while a file is incomplete (and dot-files)."""
    lowered = name.lower()
    return name.startswith(".") or lowered.endswith(TEMP_SUFFIXES)


def _without_move_pairing_delay() -> None:
    """watchdog holds every unpaired IN_MOVED_FROM for 0.5 s to pair it with an IN_MOVED_TO,
    and the events behind it wait too: our own rename of each claimed file out of the inbox
    would delay the next file's event by half a second. We tell moved-in files apart without
    pairing (full events), so pairing may give up at once."""
    for module, name in (("watchdog.observers.inotify_move_event_grouper", "InotifyMoveEventGrouper"),
                         ("watchdog.observers.inotify_buffer", "InotifyBuffer")):     # watchdog 7 / < 7
        try:
            grouper = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        grouper.delay = 0.0
        return


def _observer():
    """On Linux, an inotify observer that reports a move into the folder as a move even
    when its source is elsewhere (elsewhere it would be a plain creation)."""
    if sys.platform.startswith("linux"):
        from watchdog.observers.inotify import InotifyObserver
        _without_move_pairing_delay()
        return InotifyObserver(generate_full_events=True)
    return Observer()


class _Hint(FileSystemEventHandler):
    """Wakes the service on any event; tells the source which files an event says are complete."""

    def __init__(self, source: LocalSource):
        self.source = source

    def on_any_event(self, event) -> None:
        if not event.is_directory:
            self.source._note(event)
        self.source.wake.set()


class LocalSource:
    failure = None                            # a local folder has no server to lose (see SftpSource)

    def __init__(self, source: Source, wake: threading.Event, watch: bool = True):
        self.source = source
        self.wake = wake
        self.watch = watch                    # `run --once` scans only: it never waits for an event
        self.pending = 0                      # files seen but not yet handed out
        self._seen: dict[str, tuple[int, int, float]] = {}   # name → (size, mtime_ns, since)
        self._complete: set[str] = set()     # names whose last event says they are whole
        self._lock = threading.Lock()        # _complete is written by the observer's thread
        self._backlog: deque[tuple[str, int, int]] = deque()     # (name, size, mtime_ns), oldest first
        self._observer = None

    @property
    def name(self) -> str:
        return self.source.name

    def faults(self) -> list[dict]:
        """Faults met on this source's own thread: none, the service's loop does its work."""
        return []

    def start(self) -> None:
        self.source.path.mkdir(parents=True, exist_ok=True)
        if not self.watch:
            return
        self._observer = _observer()
        self._observer.schedule(_Hint(self), str(self.source.path), recursive=False)
        self._observer.daemon = True
        self._observer.start()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)

    def _note(self, event) -> None:
        """Keep `_complete` true to the last event of each name (events come in order)."""
        mode, folder = self.source.ready, str(self.source.path)
        if mode == "quiet":
            return
        with self._lock:
            if isinstance(event, FileMovedEvent):
                if event.src_path:
                    self._complete.discard(os.path.basename(event.src_path))
                if event.dest_path and os.path.dirname(event.dest_path) == folder:
                    self._complete.add(os.path.basename(event.dest_path))
            elif isinstance(event, FileClosedEvent) and mode == "close":
                self._complete.add(os.path.basename(event.src_path))
            elif isinstance(event, (FileCreatedEvent, FileModifiedEvent, FileDeletedEvent)):
                self._complete.discard(os.path.basename(event.src_path))   # being written (again)

    def ready(self) -> list[Path]:
        """The inbox files complete now, oldest first: up to BATCH of them; when more are
        ready, the wake event is set so the service comes back for them at once."""
        if not self._backlog:
            self._scan()
        batch = []
        while self._backlog and len(batch) < BATCH:
            name, size, mtime_ns = self._backlog.popleft()
            try:
                st = os.stat(self.source.path / name, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if (st.st_size, st.st_mtime_ns) == (size, mtime_ns):     # changed since the scan: the next scan decides
                batch.append(self.source.path / name)
        if self._backlog:
            self.wake.set()
        self.pending = len(self._seen) + len(self._backlog)
        return batch

    def _scan(self) -> None:
        now, wall = time.monotonic(), time.time()
        settle = self.source.settle
        with self._lock:
            complete, self._complete = self._complete, set()
        ready, seen = [], {}
        try:
            entries = os.scandir(self.source.path)
        except FileNotFoundError:
            self.source.path.mkdir(parents=True, exist_ok=True)
            return
        with entries:
            for entry in entries:
                if is_temporary(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                signature = (st.st_size, st.st_mtime_ns)
                before = self._seen.get(entry.name)
                since = before[2] if before and before[:2] == signature else now
                if entry.name in complete or now - since >= settle or wall - st.st_mtime >= settle:
                    ready.append((st.st_mtime_ns, entry.name, st.st_size))
                else:
                    seen[entry.name] = (*signature, since)
        self._seen = seen
        ready.sort()
        self._backlog = deque((name, size, mtime_ns) for mtime_ns, name, size in ready)

    def next_check(self) -> float | None:
        """Seconds until the first pending file may be taken, if any is pending."""
        if self._backlog:
            return 0.0
        if not self._seen:
            return None
        now = time.monotonic()
        return max(0.05, min(since + self.source.settle - now for _, _, since in self._seen.values()))
