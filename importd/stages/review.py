"""Reviewers' decisions on held and parked documents, and the do-not-sync list.

A decision re-resolves the held document with the reviewer's answer in place of
the question that held it: `review` priorities become `source` (accept the
incoming value) or `database` (keep the stored one), field by field when asked;
a chronology hold is numbered; the customer is the one picked among the
candidates. Each decision is one transaction: the document, its number (taken
only now, so the series stays gapless), the parked row gone and the decision
recorded with who and when. The source's acknowledgement follows in outbox/.

The command line and the ops page call these same functions: whoever decides, a
decision is the same transaction. The document is read again inside it, under
the write lock: one decided meanwhile (by another person, or on the other side)
is refused with who decided it and when (AlreadyDecided), and a page that showed
an older version of it (`seen`, its content hash) is refused too. Every decision
is an audit line in review_decisions.detail: the document's content hash before
and after, the rules file in force (path and sha256) and where it was made from.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
from dataclasses import replace
from pathlib import Path

from importd.config.config import Config
from importd.durable import fs_name, move_file, write_atomic
from importd.mapping.rules import Rules
from importd.mapping.rules_loader import load_rules
from importd.model import Document
from importd.resolve.numbering import Numbering
from importd.stages.commit import apply_plan, resolver_for
from importd.stages.spool import register, spool_path
from importd.store import Store, now, rooms

CHOICES = ("incoming", "stored")


class DecisionRefused(Exception):
    """The decision does not fit the document (unknown id, a field it does not hold, …)."""


class AlreadyDecided(DecisionRefused):
    """Someone decided the document (or retried the file) first; the message says who and when."""


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
           fields: dict[str, str] | None = None, who: str | None = None, via: str = "cli",
           seen: str | None = None) -> dict:
    """accept | keep | pick a held document; the decision as recorded. DecisionRefused when
    it does not fit (AlreadyDecided when someone was first); Hold (nothing changed) when the
    document still cannot be resolved. `who`: the person (default: the OS user); `seen`:
    the content hash of the version the person looked at."""
    who, fields = who or reviewer(), fields or {}
    with store.transaction():
        row = _row(store, parked_id, seen)
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
                           detail={"pick": pick, "fields": fields, "was": row["reason"],
                                   **_audit(row, via, _plan_hash(plan), rules.path)})
    acknowledge(config, store, decision)
    logger.info("review.decided", **_log_fields(decision))
    return decision


def drop(config: Config, store: Store, parked_id: int, reason: str, logger, *, who: str | None = None,
         via: str = "cli", seen: str | None = None) -> dict:
    """Drop a held or parked document for good: its reference goes on the do-not-sync list."""
    who = who or reviewer()
    with store.transaction():
        row = _row(store, parked_id, seen)
        store.unpark(parked_id)
        if row["external_id"]:
            store.exclude(row["system"] or row["source"], row["entity"], row["external_id"], reason, who, now())
        decision = _record(store, row, "drop", who, outcome="dropped", reason=reason,
                           detail={"was": row["reason"], "waiting_for": row["waiting_for"],
                                   **_audit(row, via, None, _rules_path(row))})
    acknowledge(config, store, decision)
    logger.info("review.decided", **_log_fields(decision))
    return decision


def known_system(config: Config, system: str) -> None:
    """A reference belongs to a system a route names: a do-not-sync entry for another never matches."""
    if system not in config.systems:
        raise DecisionRefused(f"no route names system {system!r}: a reference belongs to one of "
                              f"{', '.join(config.systems)} (README \"Systems\")")


def exclude(store: Store, system: str, entity: str, external_id: str, reason: str, logger, *,
            who: str | None = None, via: str = "cli") -> dict:
    """Put a reference of `system` on the do-not-sync list; the audit line as recorded."""
    who = who or reviewer()
    with store.transaction():
        store.exclude(system, entity, external_id, reason, who, now())
        decision = _record_plain(store, system, entity, external_id, "exclude", who, "excluded", reason,
                                 {"via": via}, system=system)
    logger.info("review.excluded", system=system, entity=entity, external_ref=external_id, reason=reason, by=who,
                review_id=decision["id"])
    return decision


def lift(store: Store, system: str, entity: str, external_id: str, logger, *, who: str | None = None,
         via: str = "cli") -> dict | None:
    """Take a reference of `system` off the do-not-sync list; the audit line, or None when it was not on it."""
    who = who or reviewer()
    with store.transaction():
        if not store.lift(system, entity, external_id):
            return None
        decision = _record_plain(store, system, entity, external_id, "lift", who, "lifted", None, {"via": via},
                                 system=system)
    logger.info("review.lifted", system=system, entity=entity, external_ref=external_id, by=who,
                review_id=decision["id"])
    return decision


def retry(config: Config, store: Store, file_id: int, logger, *, who: str | None = None, via: str = "cli") -> dict:
    """A quarantined file back through the pipeline (its cause fixed): moved into the spool and
    registered as a new arrival, in one transaction with its audit line (the content hash it was
    quarantined with, and the file's now). A file already retried is refused with who and when."""
    who = who or reviewer()
    with store.transaction():
        row = store.file(file_id)
        if row is None or row["state"] != "quarantined":
            raise DecisionRefused(f"file #{file_id} is not in quarantine (see `importd quarantine list`)")
        if row["spool_owner"] != store.owner:
            raise DecisionRefused(f"file #{file_id} was quarantined by another setup sharing the database (spool "
                                  f"{row['spool_owner'] or 'of a single setup'}): retry it with that setup's "
                                  f"configuration")
        if (prior := store.decision_on(file_id=file_id, action="retry")) is not None:
            raise AlreadyDecided(f"file #{file_id} was already retried by {prior['decided_by']} at "
                                 f"{prior['decided_at']} (now file #{_json(prior['detail']).get('new_file_id')})")
        settled = quarantined_path(config, row)
        if settled is None or not settled.exists():
            raise DecisionRefused(f"file #{file_id} is no longer in quarantine (moved by hand?)")
        target = spool_path(config, row["source"], row["name"])
        move_file(settled, target)      # a rollback after this leaves it in the spool: the next start registers it
        settled.with_name(settled.name + ".error.json").unlink(missing_ok=True)
        (new_id,) = register(config, store, row["source"], [(target, row["name"])])
        after = store.file(new_id)["sha256"]
        decision = _record_plain(store, row["source"], "file", row["name"], "retry", who, "requeued", None,
                                 {"via": via, "hash_before": row["sha256"], "hash_after": after,
                                  "new_file_id": new_id, "was": row["error_code"],
                                  "rules": _rules_in_force(row["rules"])}, file_id=file_id,
                                 system=config.system_of(row["source"], row["name"]))
    logger.info("quarantine.retried", file_id=file_id, new_file_id=new_id, by=who, review_id=decision["id"],
                changed=row["sha256"] != after)
    return decision


def quarantined_path(config: Config, row) -> Path | None:
    """Where a quarantined file lies (settled_path is relative to the configuration's folder)."""
    return config.path.parent / row["settled_path"] if row["settled_path"] else None


def content_hash(row) -> str:
    """A held document's content hash: what a person saw is what is decided."""
    return hashlib.sha256(f"{row['payload']}\n{row['details'] or ''}".encode()).hexdigest()


# -- the pieces ------------------------------------------------------------------------------

def _row(store: Store, parked_id: int, seen: str | None = None):
    """The parked document, its rooms taken (read again then: another instance may have released it,
    another person decided it)."""
    row = _parked(store, parked_id)
    store.lock(rooms.of_kinds([row["entity"]]))
    row = _parked(store, parked_id)
    if seen is not None and content_hash(row) != seen:
        raise AlreadyDecided(f"document #{parked_id} changed since you looked at it: look again before deciding")
    return row


def _parked(store: Store, parked_id: int):
    row = store.parked_one(parked_id)
    if row is None:
        prior = store.decision_on(parked_id=parked_id)
        if prior is not None:
            raise AlreadyDecided(f"document #{parked_id} was already decided by {prior['decided_by']} at "
                                 f"{prior['decided_at']} ({prior['action']}: {prior['outcome']}"
                                 f"{' ' + prior['number'] if prior['number'] else ''})")
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


def _rules_path(row) -> str:
    return row["rules"]


def _audit(row, via: str, after: str | None, rules_path) -> dict:
    """The audit fields of a decision on a held document."""
    return {"via": via, "hash_before": content_hash(row), "hash_after": after,
            "rules": _rules_in_force(str(rules_path) if rules_path else row["rules"])}


def _rules_in_force(path: str | None) -> dict | None:
    """The rules file as it is now: its path and the sha256 of its bytes (None when unreadable)."""
    if not path:
        return None
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        digest = None
    return {"path": path, "sha256": digest}


def _plan_hash(plan) -> str:
    """The content hash of what a decision writes: the rows, their references and numbers."""
    written = {name: getattr(plan, name) for name in ("new_customers", "customer_updates", "new_products",
                                                      "product_updates", "orders", "order_lines", "refs",
                                                      "outcomes")}
    return hashlib.sha256(json.dumps(written, default=str, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _json(text) -> dict:
    return json.loads(text) if isinstance(text, str) and text else (text or {})


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


def _record_plain(store: Store, source: str, entity: str, external_id: str, action: str, who: str, outcome: str,
                  reason: str | None, detail: dict, file_id: int | None = None, system: str | None = None) -> dict:
    """An audit line of an act on no held document (exclude, lift, retry): nothing to acknowledge."""
    when = now()
    decision = {"parked_id": 0, "file_id": file_id, "source": source, "entity": entity, "external_id": external_id,
                "action": action, "decided_by": who, "decided_at": when, "number": None, "reason": reason,
                "line": None, "outcome": outcome, "detail": detail, "acked_at": when, "system": system or source}
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


def audit_line(decision) -> dict:
    """A recorded decision as the review log shows it (CLI and page): who, when, what, the
    content hashes before and after, the rules file in force."""
    d = dict(decision)
    detail = _json(d.get("detail"))
    rules = detail.get("rules") or {}
    return {**{k: d.get(k) for k in ("id", "parked_id", "file_id", "source", "entity", "external_id", "action",
                                     "outcome", "number", "reason", "decided_by", "decided_at")},
            "system": d.get("system") or d.get("source"),
            "via": detail.get("via", "cli"), "hash_before": detail.get("hash_before"),
            "hash_after": detail.get("hash_after"), "rules_path": rules.get("path"),
            "rules_sha256": rules.get("sha256")}


def _log_fields(decision: dict) -> dict:
    return {"review_id": decision["id"], "parked_id": decision["parked_id"], "action": decision["action"],
            "system": decision["system"] or decision["source"],
            "entity": decision["entity"], "external_ref": decision["external_id"], "outcome": decision["outcome"],
            "number": decision["number"], "by": decision["decided_by"], "at": decision["decided_at"],
            "reason": decision["reason"], "detail": decision.get("detail")}


def _text(value) -> str:
    return "" if value is None else str(value)
