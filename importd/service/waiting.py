"""What waits in a local inbox, seen from outside the service: how many files, and the oldest's age.

The ops page and the alert figures read the folder itself (the ledger only
knows files once claimed), skipping what the source would never take:
temporary names, dot-files, sub-folders.
"""

from __future__ import annotations

import os
from pathlib import Path

from importd.sources.local import is_temporary


def inbox_waiting(path: Path | None) -> tuple[int, float | None]:
    """Files waiting in the folder and the oldest one's mtime (Unix time); (0, None) for none
    or for a source without a local folder (sftp)."""
    if path is None:
        return 0, None
    count, oldest = 0, None
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if is_temporary(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:      # claimed while we looked
                    continue
                count += 1
                oldest = mtime if oldest is None else min(oldest, mtime)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return 0, None
    return count, oldest
