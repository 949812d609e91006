"""The page's decisions: what a form asks, shown first, then done through importd.stages.review.

A POST to /act without `confirm=yes` changes nothing: it answers with what the
action will do (the documents, their stored and incoming values, the customer
picked, the file and its reason; for several, their count) and one button
that sends the same request confirmed. Confirmed, each document or file is
one call of the very function the command line calls, each its own
transaction: the page never holds the write lock longer than one decision.
"""

from __future__ import annotations

from importd.config.config import Config
from importd.errors import ConfigError, FileRejected, Hold
from importd.stages import review
from importd.store import Store
from importd.store import web as store_web
from importd.web import detail

HELD_ACTIONS = ("accept", "keep", "pick", "drop")
ACTIONS = HELD_ACTIONS + ("exclude", "lift", "retry")
MAX_BULK = 200               # documents or files in one request
TEXT_MAX = 500               # characters of a reason


class BadForm(Exception):
    """The form does not say a decision the page can make (the message says what is wrong)."""


def read_form(form: dict) -> dict:
    """The decision a form asks for, checked; BadForm when it is not one."""
    action = _one(form, "action")
    if action not in ACTIONS:
        raise BadForm(f"unknown action {action!r}")
    ask = {"action": action, "ids": [], "seen": {}, "fields": {}, "pick": None, "reason": None, "ref": None}
    if action in HELD_ACTIONS or action == "retry":
        ids = form.get("id", [])
        if not ids or len(ids) > MAX_BULK or not all(i.isdigit() and len(i) < 19 for i in ids):
            raise BadForm(f"say which documents or files (1 to {MAX_BULK})")
        ask["ids"] = list(dict.fromkeys(int(i) for i in ids))
        ask["seen"] = {i: _one(form, f"seen-{i}") for i in ask["ids"] if form.get(f"seen-{i}")}
    if action == "pick":
        ask["pick"] = _one(form, "code")
        if not ask["pick"] or len(ask["ids"]) != 1:
            raise BadForm("pick one customer for one document")
    if action in ("accept", "keep"):
        ask["fields"] = {key[6:]: values[0] for key, values in form.items()
                         if key.startswith("field-") and values and values[0] in review.CHOICES}
        if ask["fields"] and len(ask["ids"]) != 1:
            raise BadForm("field by field is for one document at a time")
    if action in ("drop", "exclude"):
        ask["reason"] = (_one(form, "reason") or "").strip()[:TEXT_MAX]
        if not ask["reason"]:
            raise BadForm(f"{action} needs a reason: it is kept with the decision")
    if action in ("exclude", "lift"):
        ref = tuple((_one(form, k) or "").strip() for k in ("system", "entity", "ref"))
        if not all(ref) or any(len(v) > TEXT_MAX for v in ref):
            raise BadForm("say the system, the entity and the reference")
        ask["ref"] = ref
    return ask


def preview(config: Config, db, ask: dict) -> dict:
    """What the decision will do, for the confirmation page (nothing changes)."""
    items = []
    for i in ask["ids"]:
        if ask["action"] == "retry":
            items.append({"id": i, "file": detail.quarantined(config, db, i)})
        else:
            items.append({"id": i, "held": detail.held(db, i), "decided": detail.decided(db, i)})
    return {"ask": ask, "items": items, "count": len(items) if items else 1}


def perform(config: Config, ask: dict, who: str, logger) -> list[dict]:
    """Do it, one transaction per document or file; per item what became of it."""
    results = []
    store = Store(config.database, config.busy_timeout, owner=config.spool_owner)
    try:
        try:
            review.acknowledge_pending(config, store)
        except OSError as e:            # the outbox cannot be written: the decisions still can
            logger.warning("web.ack_pending", error=str(e))
        if ask["action"] in ("exclude", "lift"):
            return [_one_result(config, store, ask, None, who, logger)]
        for i in ask["ids"]:
            results.append(_one_result(config, store, ask, i, who, logger))
    finally:
        store.close()
    return results


def _one_result(config: Config, store: Store, ask: dict, item: int | None, who: str, logger) -> dict:
    action, result = ask["action"], {"id": item, "ok": False}
    try:
        if action in ("accept", "keep", "pick"):
            decision = review.decide(config, store, item, action, logger, pick=ask["pick"], fields=ask["fields"],
                                     who=who, via="web", seen=ask["seen"].get(item))
        elif action == "drop":
            decision = review.drop(config, store, item, ask["reason"], logger, who=who, via="web",
                                   seen=ask["seen"].get(item))
        elif action == "retry":
            decision = review.retry(config, store, item, logger, who=who, via="web")
        elif action == "exclude":
            review.known_system(config, ask["ref"][0])
            decision = review.exclude(store, *ask["ref"], ask["reason"], logger, who=who, via="web")
        else:
            decision = review.lift(store, *ask["ref"], logger, who=who, via="web")
            if decision is None:
                raise review.DecisionRefused(f"{' '.join(ask['ref'])} is not on the do-not-sync list")
    except review.AlreadyDecided as e:
        return {**result, "already": True, "message": str(e)}
    except review.DecisionRefused as e:
        return {**result, "message": str(e)}
    except Hold as e:
        return {**result, "message": f"still held, nothing changed: {e.reason}"}
    except FileRejected as e:
        return {**result, "message": f"cannot be imported, nothing changed: {e.code}: {e.message}"}
    except store_web.ERRORS as e:
        logger.warning("web.decision_failed", action=action, id=item, error=str(e))
        return {**result, "message": f"the database cannot be written now ({e}); nothing changed, try again"}
    except ConfigError as e:            # the held document's rules file is gone or broken
        logger.warning("web.decision_failed", action=action, id=item, error=str(e))
        return {**result, "message": f"its rules file cannot be read, nothing changed: {e}"}
    except OSError as e:                # decided and committed; only the acknowledgement is left to write
        logger.warning("web.ack_pending", action=action, id=item, error=str(e))
        return {**result, "message": f"decided; its acknowledgement could not be written yet ({e}): "
                                     f"it is written at the next action or by `importd review`"}
    logger.info("web.action", user=who, action=action, id=item, review_id=decision["id"],
                outcome=decision["outcome"], number=decision["number"])
    return {**result, "ok": True, "decision": review.audit_line(decision),
            "ack": detail.ack_of(config, decision) if action in HELD_ACTIONS else None,
            "new_file_id": (decision.get("detail") or {}).get("new_file_id") if action == "retry" else None}


def _one(form: dict, key: str) -> str | None:
    values = form.get(key)
    return values[0] if values else None
