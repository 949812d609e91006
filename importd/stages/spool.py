"""The claim stage: a ready file moves from its inbox into the spool and into the ledger.

From the rename on, the file is ours: it is in the spool until settle moves it
to the archive or to quarantine. A crash between the rename and the ledger
insert leaves an unregistered spool file, which `recover` registers.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import uuid
from pathlib import Path
from typing import Iterator

from importd.config.config import Config
from importd.durable import copy_file, fs_name, fsync_dir, ledger_name, move_file
from importd.faults import TRANSIENT
from importd.store import Store

_PREFIX = re.compile(r"^[0-9a-f]{12}-")


class Unregistered(Exception):
    """Files are in the spool, but the ledger could not take them now: register them later."""

    def __init__(self, source: str, files: list[tuple[Path, str]]):
        super().__init__(f"{len(files)} file(s) spooled but not registered")
        self.source, self.files = source, files      # files: (spooled path, original name)


def claim(config: Config, store: Store, source: str, paths: list[Path], *,
          copy: bool = False) -> list[tuple[int, str]]:
    """Take ready files into the spool and record them; (id, name) of those taken (a file
    that vanished first is skipped).

    Inbox files are renamed, and the spool folder is synced once for the batch;
    `copy` (for `importd import FILE`) leaves the user's named files where they
    are. All are recorded in one transaction. Any name the filesystem allows
    fits: the spool name is derived from a shortened text form, the ledger
    keeps the whole name as text. A fault after some files moved raises
    Unregistered with those files.
    """
    spooled = spool_in(config, source, paths, copy=copy)
    return list(zip(record(config, store, source, spooled), (name for _, name, _, _ in spooled)))


def spool_in(config: Config, source: str, paths: list[Path], *,
             copy: bool = False) -> list[tuple[Path, str, str, int]]:
    """The filesystem half of claim, with no database: move (or copy) the files into the
    spool, sync its folder once, hash them. Returns (spooled path, name, sha256, size) of
    each file taken; a fault after some files moved raises Unregistered with those."""
    moved: list[tuple[Path, str]] = []
    try:
        folder = spool_folder(config, source)
        for path in paths:
            target = folder / _unique(path.name)
            try:
                if copy:
                    copy_file(path, target)
                else:
                    move_file(path, target, sync=False)
            except FileNotFoundError:
                continue
            moved.append((target, path.name))
        if moved:
            fsync_dir(moved[0][0].parent)
        return [(target, name, *file_digest(target)) for target, name in moved]
    except TRANSIENT as e:
        if not moved:
            raise
        raise Unregistered(source, moved) from e


def record(config: Config, store: Store, source: str, spooled: list[tuple[Path, str, str, int]]) -> list[int]:
    """The ledger half of claim: files spool_in took, in one transaction; their ids. A fault
    raises Unregistered with the files, to record later."""
    if not spooled:
        return []
    try:
        return store.add_files(source, [(ledger_name(name), sha256, size, str(path.relative_to(config.spool)))
                                        for path, name, sha256, size in spooled])
    except TRANSIENT as e:
        raise Unregistered(source, [(path, name) for path, name, _, _ in spooled]) from e


def spool_path(config: Config, source: str, name: str) -> Path:
    """A new, unique place in the spool for a file named `name`."""
    return spool_folder(config, source) / _unique(name)


def spool_folder(config: Config, source: str) -> Path:
    folder = config.spool / source
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _unique(name: str) -> str:
    return f"{uuid.uuid4().hex[:12]}-{fs_name(name)}"


def register(config: Config, store: Store, source: str, files: list[tuple[Path, str | None]],
             remote: tuple[str, int, int] | list[tuple[str, int, int]] | None = None) -> list[int]:
    """Record spooled files in the ledger, in one transaction, under their original names
    (None: the spool name without its prefix); `remote` is (path, size, mtime) on an sftp server
    (a list: one per file)."""
    rows = []
    for spooled, name in files:
        sha256, size = file_digest(spooled)
        name = ledger_name(name if name is not None else _PREFIX.sub("", spooled.name))
        rows.append((name, sha256, size, str(spooled.relative_to(config.spool))))
    return store.add_files(source, rows, remote)


def recover(config: Config, store: Store) -> list[int]:
    """At start, before any source runs: register spool files a crash left out of the ledger
    (returning their ids), drop half-copied `.partial` files (their original is still at
    the source), and drop the working files of files already settled. The spool is read
    in batches: a backlog of any size needs no more memory than one batch."""
    found: list[int] = []
    if not config.spool.is_dir():
        return found
    for folder in sorted(p for p in config.spool.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for batch in _batches(folder):
            relative = {f"{folder.name}/{entry.name}": entry for entry in batch}
            known = store.spooled(list(relative))
            for path, entry in relative.items():
                if entry.name.endswith(".partial"):
                    os.unlink(entry.path)
                elif path not in known and entry.is_file(follow_symlinks=False):
                    found += register(config, store, folder.name, [(Path(entry.path), None)])
    for folder in (config.spool / ".acks", config.spool / ".rejects"):    # see settle.py
        for batch in _batches(folder):
            working = {entry: int(entry.name.split(".")[0]) for entry in batch if entry.name.split(".")[0].isdigit()}
            live = store.unsettled_ids(list(working.values()))
            for entry, file_id in working.items():
                if file_id not in live:
                    os.unlink(entry.path)
    return found


def _batches(folder: Path, size: int = 500) -> Iterator[list[os.DirEntry]]:
    """The entries of `folder`, a few hundred at a time (none if it does not exist)."""
    if not folder.is_dir():
        return
    with os.scandir(folder) as entries:
        while batch := list(itertools.islice(entries, size)):
            yield batch


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
