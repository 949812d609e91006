"""The settle stage: after the outcome is committed, the file leaves the spool.

Imported and duplicate files go to the archive; quarantined ones to
quarantine/<source>/ with a `.error.json` sidecar. An acknowledgement for the
upstream system goes to outbox/<source>/. Every step is safe to repeat, so a
crash anywhere here is finished by the next start.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from importd.config import Config
from importd.spool import fsync_dir
from importd.store import Store


def archive_path(config: Config, source: str, name: str, file_id: int) -> Path:
    return _free(config.archive / source / date.today().isoformat() / name, file_id)


def quarantine_path(config: Config, source: str, name: str, file_id: int) -> Path:
    return _free(config.quarantine / source / name, file_id)


def rejects_path(config: Config, file_id: int) -> Path:
    """Where the rejected documents of a file wait, in the spool, until settle."""
    return config.spool / ".rejects" / f"{file_id}.csv"


def settle(config: Config, store: Store, row) -> Path:
    """Move a file whose outcome is committed to its place; write sidecar and ack."""
    base = config.path.parent
    spooled = config.spool / row["spool_path"]
    target = base / row["settled_path"]
    target.parent.mkdir(parents=True, exist_ok=True)
    summary = json.loads(row["summary"] or "{}")
    if row["state"] == "quarantined":
        sidecar = {**summary.get("error", {}), "file": row["name"], "sha256": row["sha256"],
                   "received_at": row["received_at"], "file_id": row["id"]}
        write_atomic(target.with_name(target.name + ".error.json"), sidecar)
    rejects = rejects_path(config, row["id"])
    if summary.get("rejected") or rejects.exists():
        _settle_rejects(config, row, summary, rejects)
    if spooled.exists():
        os.rename(spooled, target)
        fsync_dir(target.parent)
    ack = {"file": row["name"], "source": row["source"], "file_id": row["id"], "sha256": row["sha256"],
           "outcome": row["state"], "received_at": row["received_at"], "finished_at": row["finished_at"],
           **{k: v for k, v in summary.items() if k in ("documents", "counts", "numbers", "error")}}
    write_atomic(config.outbox / row["source"] / f"{row['name']}.ack.json", ack)
    with store.transaction():
        store.mark_settled(row["id"])
    return target


def _settle_rejects(config: Config, row, summary: dict, rejects: Path) -> None:
    """Documents rejected one by one: their lines and reasons go to quarantine, the file to the archive."""
    target = quarantine_path(config, row["source"], row["name"], row["id"])
    listed = summary.get("rejected", [])
    write_atomic(target.with_name(target.name + ".error.json"), {
        "code": "rejected_documents", "message": f"{len(listed)} document(s) of the file were rejected; "
        f"the others were imported", "rejects": target.name + ".rejects.csv", "documents": listed,
        "file": row["name"], "sha256": row["sha256"], "received_at": row["received_at"], "file_id": row["id"],
        "hint": "fix the lines in the rejects file and drop it again"})
    if rejects.exists():
        os.rename(rejects, target.with_name(target.name + ".rejects.csv"))
        fsync_dir(target.parent)


def write_atomic(path: Path, data: dict) -> None:
    """Write JSON by temp file + fsync + rename: readers see all of it or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(temp, path)


def _free(path: Path, file_id: int) -> Path:
    """`path`, or `name~<file_id>.ext` beside it when that name is taken."""
    if not path.exists():
        return path
    return path.with_name(f"{path.stem}~{file_id}{path.suffix}")
