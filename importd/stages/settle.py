"""The settle stage: after the outcome is committed, the file leaves the spool.

Imported and duplicate files go to the archive; quarantined ones to
quarantine/<source>/ with a `.error.json` sidecar. An acknowledgement for the
upstream system goes to outbox/<source>/. Every step is safe to repeat, so a
crash anywhere here is finished by the next start.
"""

from __future__ import annotations

import csv
import json
import os
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from importd.config.config import Config
from importd.durable import atomic_text, fs_name, fsync_files, fsync_path, move_file, write_atomic
from importd.faults import TRANSIENT
from importd.store import Store


def archive_path(config: Config, source: str, name: str, file_id: int,
                 reserved: set[Path] | None = None) -> Path:
    return _free(_dated(config.archive, source, date.today()) / fs_name(name), file_id, reserved)


@lru_cache(maxsize=64)
def _dated(archive: Path, source: str, day: date) -> Path:
    """archive/<source>/<day>: built once a day, not once a file."""
    return archive / source / day.isoformat()


def quarantine_path(config: Config, source: str, name: str, file_id: int,
                    reserved: set[Path] | None = None) -> Path:
    return _free(config.quarantine / source / fs_name(name), file_id, reserved)


def rejects_path(config: Config, file_id: int) -> Path:
    """Where the rejected documents of a file wait, in the spool, until settle."""
    return config.spool / ".rejects" / f"{file_id}.csv"


def settle(config: Config, store: Store, rows: list) -> dict[int, OSError]:
    """Move files whose outcome is committed to their places, write sidecars and acks; then
    sync once for all of them and mark them settled in one transaction.

    Returns the files held back, by id, with the error (a folder unwritable):
    they stay in the spool and settle again later. A fault in the common part
    (the sync, the ledger) raises.
    """
    placed, held = place(config, rows)
    mark_settled(config, store, placed)
    return held


def place(config: Config, rows: list) -> tuple[list[int], dict[int, OSError]]:
    """The filesystem half of settle, safe on a thread of its own: put each file where its
    outcome says, write sidecars and acks, then sync them all at once. Returns the ids
    ready to be marked settled and the files held back (by id, with the error).

    Every step is safe to repeat: until the ledger says settled, a crash moves
    nothing twice and rewrites the acks from the committed outcome, which is why
    they are synced together here, not one by one.
    """
    held: dict[int, OSError] = {}
    placed: list[int] = []
    to_sync: set[Path] = set()           # acks and the folders that received a file
    made: set[Path] = set()              # folders known to exist
    for row in rows:
        try:
            to_sync |= _place(config, row, made)
        except TRANSIENT as e:
            held[row["id"]] = e
            continue
        placed.append(row["id"])
    fsync_files([path for path in to_sync if path not in made])      # the acks first, then the folders
    for folder in to_sync & made:
        fsync_path(folder)
    return placed, held


def mark_settled(config: Config, store: Store, file_ids: list[int]) -> None:
    """The ledger half of settle: the placed files leave the spool in one transaction."""
    if not file_ids:
        return
    with store.transaction():
        store.mark_settled(file_ids)
    drop_ack_lines(config, file_ids)


def drop_ack_lines(config: Config, file_ids: list[int]) -> None:
    """Once the files are marked settled (committed), their acks' working files go: only
    then, as until then a rerun rewrites an ack whole from them. One listing, not a try per file:
    most files keep their outcomes in the ledger and have none."""
    folder = config.spool / ".acks"
    try:
        present = set(os.listdir(folder))
    except FileNotFoundError:
        return
    for file_id in file_ids:
        if f"{file_id}.jsonl" in present:
            os.unlink(folder / f"{file_id}.jsonl")


def _place(config: Config, row, made: set[Path]) -> set[Path]:
    """Put one file where its outcome says; return what must be synced before it counts as settled."""
    target = config.path.parent / row["settled_path"]
    _make(target.parent, made)
    summary = json.loads(row["summary"] or "{}")
    if row["state"] == "quarantined":
        sidecar = {**summary.get("error", {}), "file": row["name"], "sha256": row["sha256"],
                   "received_at": row["received_at"], "file_id": row["id"],
                   "system": config.system_of(row["source"], row["name"])}
        write_atomic(target.with_name(target.name + ".error.json"), sidecar)
        rejects_path(config, row["id"]).unlink(missing_ok=True)     # the whole file failed: its sidecar says why
    elif summary.get("rejected"):
        _settle_rejects(config, row, summary, rejects_path(config, row["id"]))
    spooled = config.spool / row["spool_path"]
    try:
        move_file(spooled, target, sync=False)
    except FileNotFoundError:
        if spooled.exists():            # the target's folder vanished: try again later
            raise
        # else moved before a crash, which came before the ledger heard of it
    return {target.parent, *_write_acks(config, row, summary, made)}


def _make(folder: Path, made: set[Path]) -> None:
    if folder not in made:
        folder.mkdir(parents=True, exist_ok=True)
        made.add(folder)


def _rejects_targets(config: Config, source: str, name: str, file_id: int) -> tuple[Path, Path]:
    """Where a file's rejects may go: `<name>` in quarantine (+ .rejects.csv or .rejects.xml, .error.json), or
    `<name>~<id>` when another file of that name is there."""
    base = config.quarantine / source / fs_name(name)
    return base, base.with_name(f"{base.stem}~{file_id}{base.suffix}")


def rejects_suffix(name: str) -> str:
    """An XML file's rejects are XML (its refused elements), so it is dropped again as one; the
    others' are delimited text."""
    return ".rejects.xml" if name.lower().endswith(".xml") else ".rejects.csv"


def _sidecar_id(target: Path) -> int | None:
    try:
        return json.loads(target.with_name(target.name + ".error.json").read_text(encoding="utf-8")).get("file_id")
    except (OSError, ValueError, AttributeError):
        return None


def rejects_file(config: Config, source: str, name: str, file_id: int) -> Path | None:
    """The `.rejects.csv` (`.rejects.xml`) where a file's rejected documents wait in quarantine; None once it is
    gone (fixed and dropped into an inbox again, or moved away)."""
    for target in _rejects_targets(config, source, name, file_id):
        rejects = target.with_name(target.name + rejects_suffix(name))
        if rejects.exists() and _sidecar_id(target) == file_id:
            return rejects
    return None


def waiting_rejects(config: Config, rows) -> list[dict]:
    """Of ledger rows of files with rejected documents (store.files_with_rejects), those whose
    rejects still wait in quarantine: id, source, name, how many, the first reason, the rejects file."""
    waiting = []
    for row in rows:
        path = rejects_file(config, row["source"], row["name"], row["id"])
        if path is None:
            continue
        listed = json.loads(row["summary"] or "{}").get("rejected") or [{}]
        first = listed[0]
        waiting.append({"id": row["id"], "source": row["source"], "name": row["name"], "rejected": row["rejected"],
                        "finished_at": row["finished_at"], "path": str(path), "code": first.get("code"),
                        "message": first.get("message"), "line": first.get("line"),
                        "external_ref": first.get("external_ref"), "hint": first.get("hint")})
    return waiting


def _settle_rejects(config: Config, row, summary: dict, rejects: Path) -> None:
    """Documents rejected one by one: their lines and reasons go to quarantine, the file to the archive."""
    base, own = _rejects_targets(config, row["source"], row["name"], row["id"])
    taken = os.path.lexists(base) or (os.path.lexists(base.with_name(base.name + ".error.json"))
                                      and _sidecar_id(base) != row["id"])
    target = own if taken else base
    listed = summary.get("rejected", [])
    write_atomic(target.with_name(target.name + ".error.json"), {
        "code": "rejected_documents", "message": f"{len(listed)} document(s) of the file were rejected; "
        f"the others were imported", "rejects": target.name + rejects_suffix(row["name"]), "documents": listed,
        "file": row["name"], "sha256": row["sha256"], "received_at": row["received_at"], "file_id": row["id"],
        "system": summary.get("system") or config.system_of(row["source"], row["name"]),
        "hint": "fix the lines in the rejects file and drop it again"})
    if rejects.exists():
        move_file(rejects, target.with_name(target.name + rejects_suffix(row["name"])))


def ack_lines_path(config: Config, file_id: int) -> Path:
    return config.spool / ".acks" / f"{file_id}.jsonl"


class AckLines:
    """The per-document outcomes of a file, gathered while it is committed, for its ack.

    A few are kept in the ledger (the file's summary, committed with it: a small
    file needs no working file of its own); past KEPT they go to
    spool/.acks/<id>.jsonl, so a file of a million documents needs no memory.
    Either way a crash before settle finds them again, and a retry rewrites them.
    """

    KEPT = 100

    def __init__(self, path: Path):
        self.path = path
        self.kept: list[dict] = []
        self._file = None

    def extend(self, outcomes: list[dict]) -> None:
        """A batch's outcomes, written at once when they go to the working file."""
        if self._file is None and len(self.kept) + len(outcomes) <= self.KEPT:
            self.kept += outcomes
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8")
            outcomes, self.kept = self.kept + outcomes, []
        self._file.write("\n".join(map(_json_text, outcomes)) + "\n")

    def for_summary(self) -> list[dict] | None:
        """The outcomes to keep in the ledger, or None when they went to the working file."""
        return self.kept if self._file is None else None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


_json_text = json.JSONEncoder(ensure_ascii=False, default=str).encode     # one outcome, one line of JSON


@contextmanager
def open_ack_lines(config: Config, file_id: int) -> Iterator[AckLines]:
    lines = AckLines(ack_lines_path(config, file_id))
    try:
        yield lines
    finally:
        lines.close()


def _documents(row, summary: dict, lines: Path) -> Iterator[str]:
    """The JSON text of each document's outcome, from the ledger or the working file."""
    if row["state"] == "quarantined":
        return
    if "outcomes" in summary:
        for outcome in summary["outcomes"]:
            yield _json_text(outcome)
    elif lines.exists():
        with open(lines, encoding="utf-8") as f:
            for line in f:
                yield line.rstrip("\n")


def _write_acks(config: Config, row, summary: dict, made: set[Path]) -> list[Path]:
    """outbox/<source>/<name>.ack.json (and .ack.csv): what became of the file and each document.

    Written by temp file + rename, not synced (settle syncs them with the rest);
    the per-document list is streamed from the lines the commit stage wrote, so
    a file of a million documents needs no memory. Returns the files and their folder.
    """
    folder = config.outbox / row["source"]
    _make(folder, made)
    head = {"file": row["name"], "source": row["source"],
            "system": summary.get("system") or config.system_of(row["source"], row["name"]),
            "file_id": row["id"], "sha256": row["sha256"],
            "outcome": row["state"], "received_at": row["received_at"], "finished_at": row["finished_at"],
            **{k: v for k, v in summary.items()
               if k in ("counts", "skipped", "numbers", "error", "duplicate_of", "would_refuse")}}
    lines = ack_lines_path(config, row["id"])
    written = [folder / f"{fs_name(row['name'])}.ack.json", folder]
    with atomic_text(written[0], sync=False) as out:
        # One key a line, each value compact: json's indent would take its slow pure-Python path.
        out.write("{\n" + "".join(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False, default=str)},\n"
                                   for key, value in head.items()) + '  "documents": [')
        first = True
        for line in _documents(row, summary, lines):
            out.write(("\n    " if first else ",\n    ") + line)
            first = False
        out.write("\n  ]\n}\n")
    if "csv" in config.ack_formats:
        written.append(folder / f"{fs_name(row['name'])}.ack.csv")
        _write_csv_ack(written[-1], row, summary, lines)
    return written


def _write_csv_ack(path: Path, row, summary: dict, lines: Path) -> None:
    with atomic_text(path, newline="", sync=False) as out:
        writer = csv.writer(out)
        writer.writerow(["file", "outcome", "line", "entity", "external_ref", "number", "document_outcome", "message"])
        if row["state"] == "quarantined":
            error = summary.get("error", {})
            writer.writerow([row["name"], row["state"], error.get("line"), "", "", "", "",
                             f"{error.get('code')}: {error.get('message')}"])
        else:
            for line in _documents(row, summary, lines):
                o = json.loads(line)
                writer.writerow([row["name"], row["state"], o["line"], o["entity"], o["external_ref"],
                                     o["number"], o["outcome"], o.get("reason", "")])


def _free(path: Path, file_id: int, reserved: set[Path] | None = None) -> Path:
    """`path`, or `name~<file_id>.ext` beside it when that name is taken, on disk or
    in `reserved` (the targets given to other files of the same group)."""
    if (reserved is not None and path in reserved) or os.path.lexists(path):
        path = path.with_name(f"{path.stem}~{file_id}{path.suffix}")
    if reserved is not None:
        reserved.add(path)
    return path
