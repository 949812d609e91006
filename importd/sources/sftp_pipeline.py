"""Many SFTP requests written at once, every answer read before returning.

paramiko's SFTPClient sends one request, then waits for its answer: for a small
file, the claim, open, read, stat, close and remove are six round trips, each
its own SSH packet both ways. A Pipeline encodes a batch of requests (SFTP
version 3, the version paramiko and OpenSSH speak), writes them to the
session's channel in one go and reads the answers back; the server answers in
order, so the batch costs about one round trip.

Only the source's thread uses its session, and a batch is read to its end
before `send` returns (a failure on the way drops the session), so paramiko's
own requests never interleave with ours; our request ids start far above
paramiko's counter all the same.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

import paramiko

# Requests and answers (draft-ietf-secsh-filexfer-02).
_OPEN, _CLOSE, _READ, _REMOVE, _STAT, _RENAME = 3, 4, 5, 13, 17, 18
_STATUS, _HANDLE, _DATA, _ATTRS = 101, 102, 103, 105
_OK, _EOF, _NO_SUCH_FILE, _PERMISSION_DENIED = 0, 1, 2, 3
_READ_FLAG = 0x1
_FIRST_ID = 1 << 30
_U32, _U64 = struct.Struct(">I"), struct.Struct(">Q")

READ_SIZE = 32768        # bytes asked per read request: what every server grants (paramiko asks as much)


@dataclass(frozen=True, slots=True)
class Attrs:
    size: int | None
    mtime: int | None


def _string(value: str | bytes) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _U32.pack(len(data)) + data


class Pipeline:
    """Queue requests (each call returns its index), then `send()`: one result per request, in
    order — a value, or the OSError the server answered (never raised: the caller decides)."""

    def __init__(self, sftp: paramiko.SFTPClient):
        self.channel = sftp.get_channel()
        self._out: list[bytes] = []
        self._kinds: list[int] = []

    def __len__(self) -> int:
        return len(self._kinds)

    def _queue(self, kind: int, body: bytes) -> int:
        index = len(self._kinds)
        packet = bytes((kind,)) + _U32.pack(_FIRST_ID + index) + body
        self._out.append(_U32.pack(len(packet)) + packet)
        self._kinds.append(kind)
        return index

    def open(self, path: str) -> int:
        """→ the handle (bytes), for reading."""
        return self._queue(_OPEN, _string(path) + _U32.pack(_READ_FLAG) + _U32.pack(0))

    def read(self, handle: bytes, offset: int, length: int) -> int:
        """→ the bytes read (fewer than asked at the end of the file; b"" past it)."""
        return self._queue(_READ, _string(handle) + _U64.pack(offset) + _U32.pack(length))

    def close(self, handle: bytes) -> int:
        return self._queue(_CLOSE, _string(handle))

    def stat(self, path: str) -> int:
        """→ Attrs (size and mtime, following a symlink like SFTPClient.stat)."""
        return self._queue(_STAT, _string(path))

    def rename(self, old: str, new: str) -> int:
        return self._queue(_RENAME, _string(old) + _string(new))

    def remove(self, path: str) -> int:
        return self._queue(_REMOVE, _string(path))

    def send(self) -> list:
        """Write every queued request, read every answer; the pipeline is empty afterwards."""
        kinds, out = self._kinds, b"".join(self._out)
        self._kinds, self._out = [], []
        if not kinds:
            return []
        self.channel.sendall(out)
        results: list = [None] * len(kinds)
        waiting = len(kinds)
        buffer = bytearray()
        while waiting:
            chunk = self.channel.recv(1 << 16)
            if not chunk:
                raise paramiko.SSHException("the server closed the SFTP channel")
            buffer += chunk
            start = 0
            while len(buffer) - start >= 4:
                (size,) = _U32.unpack_from(buffer, start)
                if size > 1 << 24:
                    raise paramiko.SSHException("garbage in the SFTP stream")
                if len(buffer) - start - 4 < size:
                    break
                packet = bytes(buffer[start + 4:start + 4 + size])
                start += 4 + size
                (number,) = _U32.unpack_from(packet, 1)
                index = number - _FIRST_ID
                if not 0 <= index < len(kinds):
                    continue                # an answer to a request paramiko gave up on: not ours
                results[index] = _answer(kinds[index], packet[0], packet[5:])
                waiting -= 1
            del buffer[:start]
        return results


def _answer(kind: int, answer: int, body: bytes):
    if answer == _STATUS:
        (code,) = _U32.unpack_from(body, 0)
        if code == _OK:
            return None
        if code == _EOF and kind == _READ:
            return b""
        (length,) = _U32.unpack_from(body, 4)
        message = body[8:8 + length].decode("utf-8", "replace")
        number = {_NO_SUCH_FILE: errno.ENOENT, _PERMISSION_DENIED: errno.EACCES}.get(code)
        return OSError(number, message) if number else OSError(message or f"SFTP status {code}")
    if answer in (_HANDLE, _DATA):
        (length,) = _U32.unpack_from(body, 0)
        return body[4:4 + length]
    if answer == _ATTRS:
        return _attrs(body)
    raise paramiko.SSHException(f"unexpected SFTP answer {answer} to request {kind}")


def _attrs(body: bytes) -> Attrs:
    (flags,) = _U32.unpack_from(body, 0)
    at, size, mtime = 4, None, None
    if flags & 0x1:
        (size,) = _U64.unpack_from(body, at)
        at += 8
    if flags & 0x2:            # uid, gid
        at += 8
    if flags & 0x4:            # permissions
        at += 4
    if flags & 0x8:            # atime, mtime
        (mtime,) = _U32.unpack_from(body, at + 4)
    return Attrs(size, mtime)
