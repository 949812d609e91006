"""A local inbox folder: watchdog events are hints, a periodic os.scandir is the truth.

A file is ready when its size and mtime have stayed the same for `settle`
seconds on our monotonic clock (or its mtime is already that old: a file
renamed in whole). Temporary names are never taken.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from importd.config import Source

# watchdog logs its own shutdown races on stderr; the scan is the truth, our log says what matters.
logging.getLogger("watchdog").setLevel(logging.CRITICAL)

TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload", "~")


def is_temporary(name: str) -> bool:
    """Names that writers use while a file is incomplete (and dot-files)."""
    lowered = name.lower()
    return name.startswith(".") or lowered.endswith(TEMP_SUFFIXES)


class _Hint(FileSystemEventHandler):
    def __init__(self, wake: threading.Event):
        self.wake = wake

    def on_any_event(self, event) -> None:
        self.wake.set()


class LocalSource:
    def __init__(self, source: Source, wake: threading.Event):
        self.source = source
        self.wake = wake
        self.pending = 0                      # files seen but not yet settled
        self._seen: dict[str, tuple[int, int, float]] = {}   # name → (size, mtime_ns, since)
        self._observer: Observer | None = None

    @property
    def name(self) -> str:
        return self.source.name

    def start(self) -> None:
        self.source.path.mkdir(parents=True, exist_ok=True)
        self._observer = Observer()
        self._observer.schedule(_Hint(self.wake), str(self.source.path), recursive=False)
        self._observer.daemon = True
        self._observer.start()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)

    def ready(self) -> list[Path]:
        """The inbox files complete now, oldest first."""
        now, wall = time.monotonic(), time.time()
        settle = self.source.settle
        ready, seen = [], {}
        try:
            entries = list(os.scandir(self.source.path))
        except FileNotFoundError:
            self.source.path.mkdir(parents=True, exist_ok=True)
            entries = []
        for entry in entries:
            if is_temporary(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            signature = (st.st_size, st.st_mtime_ns)
            before = self._seen.get(entry.name)
            since = before[2] if before and before[:2] == signature else now
            if now - since >= settle or wall - st.st_mtime >= settle:
                ready.append((st.st_mtime_ns, entry.name))
            else:
                seen[entry.name] = (*signature, since)
        self._seen = seen
        self.pending = len(seen)
        return [self.source.path / name for _, name in sorted(ready)]

    def next_check(self) -> float | None:
        """Seconds until the first pending file may be settled, if any is pending."""
        if not self._seen:
            return None
        now = time.monotonic()
        return max(0.05, min(since + self.source.settle - now for _, _, since in self._seen.values()))
