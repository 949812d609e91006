"""Acknowledgements pushed back to the server, where the upstream system dropped its files.

settle writes outbox/<source>/<name>.ack.json; the source's thread uploads it
under a dot-name in ack_dir, renames it into place (readers never see half of
it), then moves the local copy to outbox/<source>/pushed/. A crash in between
only uploads the same acknowledgement again.
"""

from __future__ import annotations

import os
from pathlib import Path

import paramiko

from importd.config.config import Config


def unpushed_acks(config: Config, source: str) -> list[Path]:
    folder = config.outbox / source
    return sorted(folder.glob("*.ack.json")) if folder.is_dir() else []


def push_acks(sftp: paramiko.SFTPClient, config: Config, source: str, ack_dir: str, logger) -> int:
    acks = unpushed_acks(config, source)
    if not acks:
        return 0
    pushed = config.outbox / source / "pushed"
    pushed.mkdir(exist_ok=True)
    try:
        sftp.stat(ack_dir)
    except FileNotFoundError:
        sftp.mkdir(ack_dir)
    for ack in acks:
        temp, final = f"{ack_dir}/.{ack.name}.tmp", f"{ack_dir}/{ack.name}"
        sftp.put(str(ack), temp)
        try:
            sftp.posix_rename(temp, final)     # replaces an older ack of the same name
        except OSError:                        # a server without the posix-rename extension
            try:
                sftp.remove(final)
            except FileNotFoundError:
                pass
            sftp.rename(temp, final)
        os.replace(ack, pushed / ack.name)
        logger.info("sftp.ack_pushed", ack=ack.name, remote_path=final)
    return len(acks)
