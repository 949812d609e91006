"""Reviewers' decisions on held and parked documents, and the do-not-sync list.

A decision re-resolves the held document with the reviewer's answer in place of
the question that held it: `review` priorities become `source` (accept the
incoming value) or `database` (keep the stored one), field by field when asked;
a chronology hold is numbered; the customer is the one picked among the
candidates. Each decision is one transaction: the document, its number (taken
only now, so the series stays gapless), the parked row gone and the decision
recorded with who and when. The source's acknowledgement follows in outbox/.
"""

from __future__ import annotations

import json
import os
import pwd
from dataclasses import replace
from pathlib import Path

from importd.config.config import Config
from importd.durable import fs_name, write_atomic
from importd.errors import FileRejected, Hold
from importd.mapping.rules import Rules
from importd.mapping.rules_loader import load_rules
from importd.model import Document
from importd.resolve.numbering import Numbering
from importd.stages.commit import apply_plan, resolver_for
from importd.store import rooms
from importd.store import Store, now

CHOICES = ("incoming", "stored")


class DecisionRefused(Exception):
    """The decision does not fit the document (unknown id, a field it does not hold, …)."""


def reviewer() -> str:
    """The OS user running the command (and who ran sudo, when it was sudo)."""
    user = pwd.getpwuid(os.geteuid()).pw_name
    via = os.environ.get("SUDO_USER")
    return f"{user} (sudo by {via})" if via and via != user else user


def held_view(store: Store, row) -> dict:
    """A held document for a person: the question, the candidates, the differing fields side by side."""
    details = json.loads(row["details"] or "{}")
    doc = Document.from_json(row["payload"])
    incoming = doc.fields if row["entity"] == "customer" else (doc.customer or {})
    view = {"id": row["id"], "entity": row["entity"], "external_id": row["external_id"], "source": row["source"],
            "system": row["system"] or row["source"],
            "waiting_for": row["waiting_for"], "reason": row["reason"], "file_id": row["file_id"],
            "line": row["line"], "parked_at": row["parked_at"],
            "differences": [{k: d.get(k) for k in ("field", "stored", "incoming", "priority")}
                            for d in details.get("differences", [])]}
    if details.get("candidates"):
        stored = {code: (store.customer(code) if row["entity"] != "product" else store.products([code]).get(code))
                  or {} for code in details["candidates"]}
        names = sorted({k for s in stored.values() for k in s if k not in ("code", "sku", "created_at",
                                                                             "updated_at")})
        view["candidates"] = list(stored)
        view["side_by_side"] = [{"field": name, "incoming": _text((incoming if row["entity"] != "product"
                                                                   else doc.fields).get(name)),
                                 **{code: _text(s.get(name)) for code, s in stored.items()}} for name in names]
    return view


def decide(config: Config, store: Store, parked_id: int, action: str, logger, *, pick: str | None = None,
           fields: dict[str, str] | None = None) -> dict:
    """accept | keep | pick a held document; the decision as recorded. DecisionRefused when
    it does not fit; Hold (nothing changed) when the document still cannot be resolved."""
    who, fields = reviewer(), fields or {}
    with store.transaction():
        row = _row(store, parked_id)
        details = json.loads(row["details"] or "{}")
        candidates = details.get("candidates") or []
        chosen = _chosen(row["entity"], action, pick, candidates)
        rules = _decided(_rules_of(config, row), action, _field_choices(details, fields))
        numbering = Numbering(store, config.numbering)
        system = row["system"] or row["source"]
        resolver = resolver_for(store, rules, system, numbering, row["file_id"], releasing=True)
        resolver.find.chosen = chosen
        plan = resolver.plan([Document.from_json(row["payload"])])
        if plan.parked:
            raise plan.parked[0][1]
        apply_plan(store, plan, rules, system, row["file_id"], source=row["source"])
        numbering.save()
        store.unpark(parked_id)
        outcome = plan.outcomes[0]
        decision = _record(store, row, action, who, outcome=outcome["outcome"], number=outcome["number"],
                           detail={"pick": pick, "fields": fields, "was": row["reason"]})
    acknowledge(config, store, decision)
    logger.info("review.decided", **_log_fields(decision))
    return decision


def drop(config: Config, store: Store, parked_id: int, reason: str, logger) -> dict:
    """Drop a held or parked document for good: its reference goes on the do-not-sync list."""
    who = reviewer()
    with store.transaction():
        row = _row(store, parked_id)
        store.unpark(parked_id)
        if row["external_id"]:
            store.exclude(row["system"] or row["source"], row["entity"], row["external_id"], reason, who, now())
        decision = _record(store, row, "drop", who, outcome="dropped", reason=reason,
                           detail={"was": row["reason"], "waiting_for": row["waiting_for"]})
    acknowledge(config, store, decision)
    logger.info("review.decided", **_log_fields(decision))
    return decision


def exclude(store: Store, system: str, entity: str, external_id: str, reason: str, logger) -> None:
    """Put a reference of `system` on the do-not-sync list."""
    who = reviewer()
    with store.transaction():
        store.exclude(system, entity, external_id, reason, who, now())
    logger.info("review.excluded", system=system, entity=entity, external_ref=external_id, reason=reason, by=who)


def lift(store: Store, system: str, entity: str, external_id: str, logger) -> bool:
    with store.transaction():
        lifted = store.lift(system, entity, external_id)
    if lifted:
        logger.info("review.lifted", system=system, entity=entity, external_ref=external_id, by=reviewer())
    return lifted


# -- the pieces ------------------------------------------------------------------------------

def _row(store: Store, parked_id: int):
    """The parked document, its rooms taken (read again then: another instance may have released it)."""
    row = _parked(store, parked_id)
    store.lock(rooms.of_kinds([row["entity"]]))
    return _parked(store, parked_id)


def _parked(store: Store, parked_id: int):
    row = store.parked_one(parked_id)
    if row is None:
        raise DecisionRefused(f"no held or parked document #{parked_id} (see `importd review list`)")
    return row


def _chosen(entity: str, action: str, pick: str | None, candidates: list[str]) -> str | None:
    """The customer the document is for: None lets the rules find it, "" makes a new one."""
    if action == "pick":
        if pick not in candidates or entity == "product":
            raise DecisionRefused(f"{pick!r} is not a candidate of this document"
                                  + (f": pick one of {', '.join(candidates)}" if candidates and entity != "product"
                                     else " (it is held for fields, not for a choice of customer)"))
        return pick
    if not candidates or entity == "product":
        return None
    if action == "accept":
        return ""          # the incoming record is a customer of its own
    if len(candidates) == 1:
        return candidates[0]
    raise DecisionRefused(f"several candidates ({', '.join(candidates)}): say which with `pick`")


def _field_choices(details: dict, fields: dict[str, str]) -> dict[str, str]:
    """--field name=incoming|stored, checked against the fields the hold is about; by target name."""
    held = {d["field"]: d["field"].split()[-1] for d in details.get("differences", [])}
    targets = {}
    for name, choice in fields.items():
        if choice not in CHOICES:
            raise DecisionRefused(f"{name}={choice}: write {name}=incoming or {name}=stored")
        target = held.get(name) or (name if name in held.values() else None)
        if target is None:
            raise DecisionRefused(f"{name!r} is not a field this document is held for"
                                  + (f" ({', '.join(held)})" if held else ""))
        targets[target] = choice
    return targets


def _decided(rules: Rules, action: str, choices: dict[str, str]) -> Rules:
    """The rules with the reviewer's answers in place of the questions that held the document."""
    default = "stored" if action == "keep" else "incoming"

    def answered(rule):
        if rule.priority != "review":
            return rule
        side = choices.get(rule.target, default)
        return replace(rule, priority="source" if side == "incoming" else "database")

    sections = {name: [answered(r) for r in section] for name, section in rules.sections.items()}
    return replace(rules, sections=sections, chronology="warn", atomicity="file",
                   shared_key="merge" if rules.kind == "product" else "create")


def _rules_of(config: Config, row) -> Rules:
    for source in config.sources:
        for route in source.routes:
            if str(route.rules.path) == row["rules"]:
                return route.rules
    return load_rules(Path(row["rules"]))


def _record(store: Store, row, action: str, who: str, **values) -> dict:
    decision = {"parked_id": row["id"], "file_id": row["file_id"], "source": row["source"],
                "system": row["system"] or row["source"], "entity": row["entity"],
                "external_id": row["external_id"], "action": action, "decided_by": who, "decided_at": now(),
                "number": None, "reason": None, "line": row["line"], **values}
    decision["id"] = store.record_decision(decision)
    return decision


def acknowledge(config: Config, store: Store, decision) -> None:
    """outbox/<source>/review-<id>-<ref>.ack.json: upstream learns what became of the document.

    Built from the recorded decision alone, then marked written: a decision whose ack a
    crash cut off is acknowledged by the next `acknowledge_pending`."""
    detail = decision["detail"]
    detail = json.loads(detail) if isinstance(detail, str) else (detail or {})
    name = f"review-{decision['id']}-{fs_name(decision['external_id'] or decision['entity'])}.ack.json"
    write_atomic(config.outbox / decision["source"] / name, {
        "review": decision["id"], "source": decision["source"],
        "system": decision["system"] or decision["source"], "file_id": decision["file_id"],
        "action": decision["action"], "decided_by": decision["decided_by"], "decided_at": decision["decided_at"],
        "reason": decision["reason"], "held_because": detail.get("was"),
        "documents": [{"entity": decision["entity"], "external_ref": decision["external_id"],
                       "number": decision["number"] or "", "outcome": decision["outcome"],
                       "line": decision["line"]}]})
    with store.transaction():
        store.decision_acked(decision["id"], now())


def acknowledge_pending(config: Config, store: Store) -> int:
    """Write the acknowledgements of decisions a crash left without one; how many."""
    pending = store.decisions_unacked()
    for decision in pending:
        acknowledge(config, store, decision)
    return len(pending)


def _log_fields(decision: dict) -> dict:
    return {"review_id": decision["id"], "parked_id": decision["parked_id"], "action": decision["action"],
            "system": decision["system"] or decision["source"],
            "entity": decision["entity"], "external_ref": decision["external_id"], "outcome": decision["outcome"],
            "number": decision["number"], "by": decision["decided_by"], "at": decision["decided_at"],
            "reason": decision["reason"], "detail": decision.get("detail")}


def _text(value) -> str:
    return "" if value is None else str(value)
