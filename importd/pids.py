"""Whether a process still lives: for pidfiles and for remote-file claims."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True when `pid` runs on this host (a process of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
