"""Bytes from the SFTP server into the spool, each file durable before the ledger hears of it.

Small files travel in batches: every file of a batch is opened in one exchange
of requests, then read, checked (size and mtime still the listed ones) and
closed in a second; their copies are written under `.partial` names, fsynced
together, renamed into the spool, and the spool folder is synced once. A large
file is streamed on its own, with pipelined reads.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko

from importd.config.config import Config
from importd.durable import fsync_dir
from importd.sources.sftp_pipeline import READ_SIZE, Attrs, Pipeline
from importd.stages.spool import spool_path

CHUNK = 1 << 20
SMALL = 1 << 20                           # files up to this size are fetched in batches
BATCH_FILES, BATCH_BYTES = 100, 8 << 20   # a batch: at most this many files, this many bytes
SYNC_THREADS = 4                          # fsyncs in flight at once: the filesystem commits them together


class FileChanged(Exception):
    """The remote file vanished, grew or shrank between the listing and the end of its download."""


class Stopping(Exception):
    """The service is stopping: abandon the download in hand (it is taken again next start)."""


def batches(ready: list[tuple[str, tuple[int, int]]]):
    """The ready files in batches of small ones (BATCH_FILES, BATCH_BYTES at most); a large one alone."""
    batch, size = [], 0
    for name, signature in ready:
        if batch and (signature[0] > SMALL or len(batch) == BATCH_FILES or size + signature[0] > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        if signature[0] > SMALL:
            yield [(name, signature)]
        else:
            batch.append((name, signature))
            size += signature[0]
    if batch:
        yield batch


def read_small(sftp: paramiko.SFTPClient, files: list[tuple[str, tuple[int, int]]]) -> list:
    """Read whole files (remote path, listed (size, mtime)) in two exchanges of requests.

    Per file: its bytes; a FileChanged if it is gone or its size or mtime is no
    longer the listed one (checked after the read, so a rewrite during it counts);
    None if the server sent less than asked of an unchanged file (read it with
    `download`). Any other error of the server is raised.
    """
    pipe = Pipeline(sftp)
    for path, _ in files:
        pipe.open(path)
    handles = pipe.send()
    asked = []
    for (path, (size, _)), handle in zip(files, handles):
        if isinstance(handle, OSError):
            asked.append(None)
            continue
        reads = [(pipe.read(handle, offset, min(READ_SIZE, size - offset)), min(READ_SIZE, size - offset))
                 for offset in range(0, size, READ_SIZE)]
        asked.append((reads, pipe.stat(path), pipe.close(handle)))
    answers = pipe.send()
    results = []
    for (path, signature), handle, requests in zip(files, handles, asked):
        if requests is None:
            results.append(_changed(handle, "vanished before it was opened"))
            continue
        reads, stat, close = requests
        problems = [answers[i] for i, _ in reads if isinstance(answers[i], OSError)]
        problems += [answers[i] for i in (stat, close) if isinstance(answers[i], OSError)]
        after: Attrs = answers[stat]
        if problems:
            results.append(_changed(problems[0], "vanished during the download"))
        elif (after.size, after.mtime) != signature:
            results.append(FileChanged("size or mtime changed since the listing"))
        elif any(len(answers[i]) < length for i, length in reads):
            ended = any(answers[i] == b"" for i, _ in reads)
            results.append(FileChanged("ended early") if ended else None)
        else:
            results.append(b"".join(answers[i] for i, _ in reads))
    return results


def _changed(error: OSError, what: str) -> FileChanged:
    if isinstance(error, FileNotFoundError):
        return FileChanged(what)
    raise error


def spool_all(config: Config, source: str, files: list[tuple[str, bytes]]) -> list[Path]:
    """Write each (name, bytes) into spool/<source>/, durably; their spool paths.

    Each goes to `<id>-<name>.partial`, all are fsynced (several at a time),
    renamed into place, and the folder is synced once. On a failure nothing of
    the batch stays in the spool.
    """
    targets = [spool_path(config, source, name) for name, _ in files]
    partials = [t.with_name(t.name + ".partial") for t in targets]
    done: list[Path] = []
    try:
        descriptors = []
        try:
            for partial, (_, data) in zip(partials, files):
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                descriptors.append(fd)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            with ThreadPoolExecutor(SYNC_THREADS) as pool:
                list(pool.map(os.fsync, descriptors))
        finally:
            for fd in descriptors:
                os.close(fd)
        for partial, target in zip(partials, targets):
            os.rename(partial, target)
            done.append(target)
        if targets:
            fsync_dir(targets[0].parent)
    except BaseException:
        for path in partials + done:
            path.unlink(missing_ok=True)
        raise
    return targets


def download(sftp: paramiko.SFTPClient, remote: str, config: Config, source: str, name: str, size: int,
             stop: threading.Event) -> Path:
    """Stream to spool/<source>/<id>-<name>.partial, fsync, rename; return the spooled path."""
    target = spool_path(config, source, name)
    folder = target.parent
    partial = target.with_name(target.name + ".partial")
    try:
        copied = 0
        with sftp.open(remote, "rb") as remote_file, open(partial, "wb") as local:
            if size > CHUNK:      # pipelined reads pay off; for small files the extra thread does not
                remote_file.prefetch(size)
            while chunk := remote_file.read(CHUNK):
                if stop.is_set():
                    raise Stopping()
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
