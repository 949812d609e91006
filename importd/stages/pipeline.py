"""One claimed file through parse → map → resolve → commit → settle.

The only place that knows the order of the stages. A file that fails is data:
its reason is committed to the ledger, then settle puts it in quarantine.
"""

from __future__ import annotations

import json
import sqlite3
import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Iterator

import parsers
from importd import log
from importd.config.config import Config
from importd.errors import FileRejected
from importd.faults import TRANSIENT
from importd.mapping.mapping import check_columns, map_records
from importd.stages.commit import commit_file
from importd.stages.rejects import Rejects
from parsers import xml as xml_parser
from importd.stages.settle import (archive_path, drop_ack_lines, mark_settled, open_ack_lines, quarantine_path,
                            rejects_path, settle)
from importd.store import FINAL_STATES, Store, rooms


SHOWN_PROCESSING = 1 << 20     # bytes: a file this large shows as "processing" in status while it imports
GROUP_FILES = 64               # small files that share one commit and one settle
GROUP_BYTES = 4 << 20


class Transient(Exception):
    """Not the file's fault (database locked, disk full): leave it in the spool, retry later.

    `stage` says what waits: "process" (nothing of the file is committed) or
    "settle" (its outcome is committed, the file has not left the spool)."""

    def __init__(self, stage: str, error: BaseException):
        super().__init__(f"{type(error).__name__}: {error}")
        self.stage, self.error = stage, error


def process(config: Config, store: Store, file_id: int, progress=None) -> sqlite3.Row:
    """Import (or quarantine) the spooled file `file_id`, settle it; return its final ledger row.

    `progress(records, bytes_read)`, when given, is called now and then during a long file.
    A failure that is not the file's fault (database locked, disk full, a folder
    unwritable) raises Transient: the file stays in the spool, in the state it had.
    """
    started = time.monotonic()
    [row] = decide(config, store, [file_id], progress)
    try:
        held = settle(config, store, [row])
    except TRANSIENT as e:        # the outcome is committed: only the move, the ack or the ledger's last word wait
        raise Transient("settle", e) from e
    if file_id in held:
        raise Transient("settle", held[file_id])
    log_outcome(row, time.monotonic() - started)
    return row


def decide(config: Config, store: Store, file_ids: list[int], progress=None,
           reserved: set[Path] | None = None, settled: list[int] = ()) -> list[sqlite3.Row]:
    """Commit the outcome of each spooled file (imported, duplicate or quarantined) with one
    commit for all; return their ledger rows, to settle. Files already decided are left as they are.

    Every file is decided inside one transaction, in a savepoint of its own: a
    file that fails rolls back alone and commits its quarantine reason instead,
    and numbers stay gapless. A fault that is not a file's fault (database
    locked, disk full) rolls back the whole group and raises Transient("process").
    `reserved` holds the settle targets given to files not settled yet. `settled`: files
    settle has put in place, marked settled in the same commit (a commit saved per group;
    until it is durable, a rerun of their settle finds them placed and only rewrites their acks).
    """
    reserved = set() if reserved is None else reserved
    try:
        undecided = [row for row in store.files(file_ids) if row["state"] not in FINAL_STATES]
        if settled and len(undecided) <= 1:
            mark_settled(config, store, list(settled))
        # One file alone keeps its own commits, so a large one can show as "processing".
        with store.transaction() if len(undecided) > 1 else nullcontext():
            if len(undecided) > 1:
                store.lock(_rooms(config, undecided))    # all at once: groups never wait on each other in a circle
            if settled and len(undecided) > 1:
                store.mark_settled(list(settled))
            for row in undecided:
                _decide(config, store, row, _logger(row), progress, reserved)
                if not store.db.in_transaction and len(undecided) > 1:
                    raise sqlite3.OperationalError("the group's transaction was rolled back")
        if settled and len(undecided) > 1:
            drop_ack_lines(config, list(settled))
        return store.files(file_ids)
    except TRANSIENT as e:
        raise Transient("process", e) from e


def groups(rows: list) -> Iterator[list]:
    """Spooled files in their order, cut into groups that share a commit: small files
    together (at most GROUP_FILES and GROUP_BYTES), a file of SHOWN_PROCESSING bytes alone."""
    group: list = []
    size = 0
    for row in rows:
        if row["size"] >= SHOWN_PROCESSING:
            if group:
                yield group
            yield [row]
            group, size = [], 0
            continue
        if len(group) == GROUP_FILES or size + row["size"] > GROUP_BYTES:
            yield group
            group, size = [], 0
        group.append(row)
        size += row["size"]
    if group:
        yield group


def _rooms(config: Config, rows: list) -> list[str]:
    """The rooms (rooms.py) the files' documents may need: those of every route their names fit."""
    sources = {source.name: source for source in config.sources}
    return rooms.of_kinds(route.rules.kind for row in rows if row["source"] in sources
                          for route in sources[row["source"]].routes_for(row["name"]))


def _logger(row):
    return log.get(file_id=row["id"], source=row["source"], file=row["name"], sha256=row["sha256"][:16])


def _decide(config: Config, store: Store, row, logger, progress, reserved: set[Path]) -> None:
    """Import the file, or commit the reason it goes to quarantine."""
    try:
        _import(config, store, row, logger, progress, reserved)
    except FileRejected as e:
        _quarantine(config, store, row, e, reserved)
    except TRANSIENT:
        raise
    except Exception as e:  # a bug must not stop the service: the file is kept with the trace
        logger.exception("file.internal_error")
        _quarantine(config, store, row, FileRejected(
            "internal_error", f"{type(e).__name__}: {e}", hint="report this to the importd maintainers",
            trace=traceback.format_exc(limit=5)), reserved)


def _import(config: Config, store: Store, row, logger, progress, reserved: set[Path]) -> None:
    source = config.source(row["source"])
    route = route_for(source, row["name"], config.spool / row["spool_path"])
    if route is None:
        raise FileRejected("no_route", f"no route of source {source.name!r} matches {row['name']!r}",
                           hint="rename the file or add a route { match = ..., rules = ... } to importd.toml")
    rules = route.rules
    twin = _twin(config, store, row, route.system)
    if twin is not None:
        with store.transaction():
            store.finish_file(row["id"], "duplicate", rules=rules.name,
                              settled_path=str(archive_path(config, source.name, row["name"], row["id"],
                                                            reserved)),
                              documents=0, summary={"duplicate_of": twin["id"],
                                                    "counts": {}, "documents": 0})
        logger.info("file.duplicate", duplicate_of=twin["id"], first_name=twin["name"])
        return
    if row["size"] >= SHOWN_PROCESSING:     # a commit and a line of its own: worth it for a file that takes a while
        store.set_state(row["id"], "processing")
        logger.info("file.processing", rules=rules.name, size=row["size"])
    else:
        logger.debug("file.processing", rules=rules.name, size=row["size"])
    try:
        records = parsers.open_records(rules.parser, config.spool / row["spool_path"], rules.options)
    except parsers.ParseError as e:
        raise _rejected(e, rules.name) from None
    counter = _Counter(records, progress)
    rejects = (Rejects(rejects_path(config, row["id"]), records.columns, config.spool / row["spool_path"],
                       rules.parser, rules.options) if rules.atomicity == "document" else None)
    try:
        check_columns(rules, records.columns)
        with open_ack_lines(config, row["id"]) as ack_lines:
            commit_file(store, rules, source.name, row["id"], map_records(counter, rules), config.numbering,
                        str(archive_path(config, source.name, row["name"], row["id"], reserved)),
                        lambda: counter.count,
                        logger=logger, rejects=rejects, ack_lines=ack_lines, system=route.system)
    except parsers.ParseError as e:
        raise _rejected(e, rules.name) from None
    finally:
        records.close()
        if rejects is not None:
            rejects.close()


def _twin(config: Config, store: Store, row, system: str):
    """An earlier file with the same bytes imported for the same system (the same bytes from
    another system are other references: README "Systems")."""
    for twin in store.imported_twins(row["sha256"], row["id"]):
        recorded = json.loads(twin["summary"] or "{}").get("system")
        if (recorded or config.system_of(twin["source"], twin["name"])) == system:
            return twin
    return None


def route_for(source, name: str, path):
    """The first route that fits the name; among XML rules, the one that reads the file's root element."""
    routes = source.routes_for(name)
    xml_routes = [r for r in routes if r.rules.parser == "xml"]
    if len(routes) > 1 and xml_routes:
        root = xml_parser.root_tag(path)
        for route in xml_routes:
            if root in xml_parser.record_roots(route.rules.options):
                return route
    return routes[0] if routes else None


def _quarantine(config: Config, store: Store, row, error: FileRejected, reserved: set[Path]) -> None:
    target = quarantine_path(config, row["source"], row["name"], row["id"], reserved)
    with store.transaction():
        store.finish_file(row["id"], "quarantined", settled_path=str(target), error_code=error.code,
                          error_message=error.message, rules=error.rule,
                          summary={"error": error.as_dict(), "counts": {}, "documents": 0})


def _rejected(error: parsers.ParseError, rule: str) -> FileRejected:
    return FileRejected(error.code, error.message, line=error.line, field=error.field, rule=rule,
                        hint=error.hint)


def log_outcome(row, seconds: float) -> None:
    """The file.done line of a settled file."""
    logger = _logger(row)
    summary = json.loads(row["summary"] or "{}")
    fields = {"outcome": row["state"], "records": row["records"], "documents": row["documents"],
              "counts": summary.get("counts"), "numbers": summary.get("numbers"),
              "duration_s": round(seconds, 3), "settled_path": row["settled_path"]}
    if summary.get("system", row["source"]) != row["source"]:      # the upstream system, when its route names one
        fields["system"] = summary["system"]
    if row["state"] == "quarantined":
        error = summary.get("error", {})
        logger.warning("file.done", **fields, error_code=row["error_code"], error=row["error_message"],
                       line=error.get("line"), field=error.get("field"), rule=error.get("rule"),
                       hint=error.get("hint"))
    else:
        logger.info("file.done", **fields)


class _Counter:
    """Counts the records that flow past, for the ledger, the summary line and progress."""

    EVERY = 5000

    def __init__(self, records, progress=None):
        self._records = records
        self._progress = progress
        self.count = 0

    def __iter__(self):
        for record in self._records:
            self.count += 1
            if self._progress is not None and self.count % self.EVERY == 0:
                self._progress(self.count, getattr(self._records, "bytes_read", 0))
            yield record
