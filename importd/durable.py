"""Moving and writing files so that a crash at any instant leaves each file in one place.

A rename within one filesystem is atomic. Across filesystems (an archive on a
NAS mount) a move becomes: copy under a `.partial` name, fsync, rename into
place, fsync the folder, unlink the source. A crash between the last two steps
leaves the file in both places; the ledger still names the source, so the next
settle repeats the move over the identical copy. A half-copied target keeps
its `.partial` name and is never taken for the real file.

Names come from upstream systems: `ledger_name` turns any name the filesystem
allowed (undecodable bytes included) into text, `fs_name` shortens it so that
it fits beside our prefixes and suffixes in 255 bytes.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

NAME_BYTES = 180        # room left for a spool prefix, `~<id>`, `.error.json`, `.partial` in 255 bytes
FSYNC_THREADS = 8       # fsyncs in flight at once when a group's acks are flushed


def fsync_dir(folder: Path) -> None:
    fsync_path(folder)


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_files(files: list[Path]) -> None:
    """Flush the data of `files` to disk, each with its own fsync. Several at once go to a few
    threads: the filesystem's journal commits concurrent fsyncs together, where one after the
    other would each wait for a commit of their own (64 acks: ~10 ms, not ~50 to 200)."""
    if len(files) < 2:
        for path in files:
            fsync_path(path)
        return
    for _ in _fsync_pool().map(fsync_path, files):      # the first error raises
        pass


@lru_cache(maxsize=1)
def _fsync_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=FSYNC_THREADS, thread_name_prefix="fsync")


def move_file(source: Path, target: Path, sync: bool = True) -> None:
    """Move `source` to `target` durably, on one filesystem or across two. With `sync`
    False, a rename within one filesystem leaves the target folder for the caller to sync."""
    try:
        os.rename(source, target)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        copy_file(source, target)
        fsync_dir(target.parent)
        os.unlink(source)
        fsync_dir(source.parent)
        return
    if sync:
        fsync_dir(target.parent)


def copy_file(source: Path, target: Path) -> None:
    """Copy under `<target>.partial`, fsync, then rename into place (the folder is not fsynced)."""
    partial = target.with_name(target.name + ".partial")
    try:
        with open(source, "rb") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)      # a full disk must not keep half a copy
        raise
    os.rename(partial, target)


@contextmanager
def atomic_text(path: Path, newline: str | None = None, sync: bool = True) -> Iterator:
    """A text file written under a dot-name, fsynced, then renamed into place. With `sync`
    False the caller syncs it later (readers still never see half of it)."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        f = open(temp, "w", encoding="utf-8", newline=newline)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(temp, "w", encoding="utf-8", newline=newline)
    with f:
        yield f
        if sync:
            f.flush()
            os.fsync(f.fileno())
    os.rename(temp, path)


def write_atomic(path: Path, data: dict) -> None:
    """Write JSON so that readers see all of it or nothing."""
    with atomic_text(path) as f:
        json.dump(data, f, ensure_ascii=False, indent=2, default=str)
        f.write("\n")


def ledger_name(name: str) -> str:
    """A file name as text we can store and log: bytes that are not UTF-8 (an old
    Windows or FTP client) arrive from the filesystem as surrogates and become `\\xe9`."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def fs_name(name: str) -> str:
    """The ledger name, short enough to build other file names from: a name longer
    than NAME_BYTES keeps its start and its ending (the extension routes it)."""
    text = ledger_name(name)
    encoded = text.encode("utf-8")
    if len(encoded) <= NAME_BYTES:
        return text
    tail = encoded[-40:].decode("utf-8", "ignore")
    head = encoded[: NAME_BYTES - len(tail.encode("utf-8")) - 3].decode("utf-8", "ignore")
    return f"{head}…{tail}"
