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

from importd.config import Config
from importd.faults import TRANSIENT
from importd.durable import copy_file, fs_name, fsync_dir, ledger_name, move_file
from importd.store import Store

_PREFIX = re.compile(r"^[0-9a-f]{12}-")


class Unregistered(Exception):
    """The file is in the spool, but the ledger could not take it now: register it later."""

    def __init__(self, source: str, spooled: Path, name: str):
        super().__init__(f"{spooled.name} is spooled but not registered")
        self.source, self.spooled, self.name = source, spooled, name


def claim(config: Config, store: Store, source: str, path: Path, *, copy: bool = False) -> int | None:
    """Take `path` into the spool and record it; None if it vanished first.

    Inbox files are moved; `copy` (for `importd import FILE`) leaves the
    user's named file where it is. Any name the filesystem allows fits: the
    spool name is derived from a shortened text form, the ledger keeps the
    whole name as text.
    """
    target = spool_path(config, source, path.name)
    if copy:
        copy_file(path, target)
        fsync_dir(target.parent)
    else:
        try:
            move_file(path, target)
        except FileNotFoundError:
            return None
    try:
        return register(config, store, source, target, name=path.name)
    except TRANSIENT as e:
        raise Unregistered(source, target, path.name) from e


def spool_path(config: Config, source: str, name: str) -> Path:
    """A new, unique place in the spool for a file named `name`."""
    folder = config.spool / source
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4().hex[:12]}-{fs_name(name)}"


def register(config: Config, store: Store, source: str, spooled: Path,
             remote: tuple[str, int, int] | None = None, name: str | None = None) -> int:
    """Record a spooled file in the ledger under its original `name` (by default the spool
    name without its prefix); `remote` is (path, size, mtime) on an sftp server."""
    sha256, size = file_digest(spooled)
    name = ledger_name(name if name is not None else _PREFIX.sub("", spooled.name))
    return store.add_file(source, name, sha256, size, str(spooled.relative_to(config.spool)), remote)


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
                    found.append(register(config, store, folder.name, Path(entry.path)))
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
