"""Parked documents: tried again when new records arrive, reported when they wait too long.

A document parked for a missing reference (a customer, a product) is tried
again, in the order it was parked, after every file that imported something.
One transaction per document: if it still cannot be resolved, nothing changes.
After its rules' park_timeout_hours it goes to quarantine as a JSON file.
Documents held for review wait for `importd parked retry`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from importd.config.config import Config
from importd.durable import write_atomic
from importd.errors import FileRejected, Hold
from importd.faults import TRANSIENT
from importd.mapping.rules import Rules
from importd.mapping.rules_loader import load_rules
from importd.model import Document
from importd.resolve.numbering import Numbering
from importd.stages.commit import apply_plan, resolver_for
from importd.stages.settle import quarantine_path
from importd.store import Store, rooms


def release(config: Config, store: Store, logger, *, include_review: bool = False) -> dict[str, int]:
    """Try every parked document again; return counts of released, still parked, expired."""
    counts = {"released": 0, "waiting": 0, "expired": 0, "rejected": 0, "gone": 0}
    configured = [r.rules for s in config.sources for r in s.routes]
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for row in store.parked(include_review=include_review):
        log = logger.bind(parked_id=row["id"], entity=row["entity"], external_ref=row["external_id"])
        if row["expires_at"] < stamp:
            _expire(config, store, row, log)
            counts["expired"] += 1
            continue
        try:
            rules = _rules_of(row["rules"], configured)
            outcome = _try(config, store, rules, row, log)
        except TRANSIENT:
            raise                       # the database or the disk, not the document: the sweep is retried
        except Exception as error:      # one bad parked document must not stop the others
            log.exception("parked.internal_error")
            _to_quarantine(config, store, row, {"code": "internal_error", "message": f"{type(error).__name__}: "
                           f"{error}", "line": row["line"], "rule": Path(row["rules"]).name,
                           "hint": "check the rules file this document was parked with"}, log)
            outcome = "rejected"
        counts[outcome] += 1
    return counts


def _try(config: Config, store: Store, rules: Rules, row, log) -> str:
    doc = Document.from_json(row["payload"])
    try:
        with store.transaction():
            store.lock(rooms.of_kinds([rules.kind]))
            if store.parked_one(row["id"], skip_locked=True) is None:    # decided meanwhile: review, another sweep
                log.debug("parked.gone")
                return "gone"
            numbering = Numbering(store, config.numbering)
            system = row["system"] or row["source"]
            plan = resolver_for(store, _strict(rules), system, numbering, row["file_id"],
                                releasing=True).plan([doc])
            if plan.parked:
                raise Hold(plan.parked[0][1].waiting_for, plan.parked[0][1].reason)
            apply_plan(store, plan, rules, system, row["file_id"], source=row["source"])
            numbering.save()
            store.unpark(row["id"])
    except Hold as hold:
        log.debug("parked.waiting", waiting_for=hold.waiting_for)
        return "waiting"
    except FileRejected as error:
        _to_quarantine(config, store, row, error.as_dict(), log)
        return "rejected"
    outcome = plan.outcomes[0]
    log.info("parked.released", number=outcome["number"], outcome=outcome["outcome"])
    for report in doc.reports:          # a check in report mode would refuse it (mapping/versions.py)
        log.warning("check.would_refuse", **report)
    return "released"


def _rules_of(path: str, configured: list[Rules]) -> Rules:
    """The rules file a document was parked with: the configured one at that path, else the file
    itself, else (the setup moved to another folder) the configured rules file of that name."""
    for rules in configured:
        if str(rules.path) == path:
            return rules
    if not Path(path).exists():
        for rules in configured:
            if rules.path.name == Path(path).name:
                return rules
    return load_rules(Path(path))


def _strict(rules: Rules) -> Rules:
    """A parked document is resolved alone: its own failure must raise, not be listed."""
    return rules if rules.atomicity == "file" else replace(rules, atomicity="file")


def _expire(config: Config, store: Store, row, log) -> None:
    error = {"code": "parked_too_long", "message": f"waited since {row['parked_at']} for {row['waiting_for']}: "
             f"{row['reason']}", "line": row["line"], "rule": Path(row["rules"]).name,
             "hint": "import the missing record, then drop the document again"}
    _to_quarantine(config, store, row, error, log)


def _to_quarantine(config: Config, store: Store, row, error: dict, log) -> None:
    with store.transaction():
        if store.parked_one(row["id"], skip_locked=True) is None:
            return                      # another instance's sweep took it
        target = quarantine_path(config, row["source"], f"parked-{row['id']}-{_safe(row['external_id'])}.json",
                                 row["file_id"])
        write_atomic(target, json.loads(row["payload"]))
        write_atomic(target.with_name(target.name + ".error.json"),
                     {**error, "parked_id": row["id"], "file_id": row["file_id"], "parked_at": row["parked_at"]})
        store.unpark(row["id"])
    log.warning("parked.quarantined", error_code=error["code"], error=error["message"], path=str(target))


def _safe(text: str | None) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in (text or ""))[:40]
