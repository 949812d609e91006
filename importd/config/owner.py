"""Which spool a setup's files belong to, when several setups share one database."""

from __future__ import annotations

import os
import socket
from pathlib import Path

OWNER_NAME = ".importd.owner"


def spool_owner(spool: Path, shared: bool) -> str | None:
    """Which spool the ledger's unsettled rows of this setup belong to, when several setups share
    one database (PostgreSQL): a random name kept in the spool, so it moves with the folder and
    survives a new hostname. None for a database of one setup (SQLite), as before."""
    if not shared:
        return None
    path = spool / OWNER_NAME
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    spool.mkdir(parents=True, exist_ok=True)
    temp = spool / f"{OWNER_NAME}.{os.getpid()}.tmp"
    with open(temp, "w", encoding="ascii") as f:
        f.write(f"{socket.gethostname()}-{os.urandom(8).hex()}\n")
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(temp, path)              # the first writer wins; a second start reads its name
    except FileExistsError:
        pass
    finally:
        os.unlink(temp)
    return path.read_text(encoding="ascii").strip()
