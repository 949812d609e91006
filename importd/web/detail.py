"""What the page shows before a decision: a held document (the question, stored and incoming
values side by side, the candidate customers), a quarantined file (its reason and hint, and
whether the file changed since), the do-not-sync list and the review log.

Read over the page's read-only connection; the decisions themselves go through
importd.stages.review, the code the command line calls.
"""

from __future__ import annotations

import hashlib
import json

from importd.config.config import Config
from importd.stages import review
from importd.store import web as store_web
from importd.web.views import _parse, _quarantined

LOG_SHOWN = 50               # decisions shown on the page, the latest first
EXCLUDED_SHOWN = 100


def held(db, parked_id: int) -> dict | None:
    """A parked or held document for a person about to decide it; None when it is not there."""
    row = store_web.parked_one(db, parked_id)
    if row is None:
        return None
    view = review.held_view(store_web.Lookups(db), row)
    view.setdefault("candidates", [])
    view.setdefault("side_by_side", [])
    view["seen"] = review.content_hash(row)
    view["review"] = row["waiting_for"] == "review"
    view["rules"] = row["rules"]
    view["parked_at"] = _parse(row["parked_at"])
    view["expires_at"] = _parse(row["expires_at"])
    view["can_keep"] = len(view.get("candidates") or []) <= 1
    return view


def decided(db, parked_id: int) -> dict | None:
    """The decision that took a document away, for "already decided by … at …"."""
    if not store_web.has_review_tables(db):
        return None
    row = db.execute("SELECT * FROM review_decisions WHERE parked_id = ? ORDER BY id DESC LIMIT 1",
                     (parked_id,)).fetchone()
    return review.audit_line(row) if row else None


def quarantined(config: Config, db, file_id: int) -> dict | None:
    """A quarantined file with its reason, its hint, and whether the file there changed since."""
    row = store_web.quarantined_file(db, file_id)
    if row is None or row["state"] != "quarantined" or row["spool_owner"] != config.spool_owner:
        return None
    view = _quarantined(config, row)
    path = review.quarantined_path(config, row)
    view["sha256"] = row["sha256"]
    view["now_sha256"] = _digest(path) if view["where"] == "in quarantine" else None
    view["changed"] = view["now_sha256"] is not None and view["now_sha256"] != row["sha256"]
    return view


def log(db) -> list[dict]:
    if not store_web.has_review_tables(db):
        return []
    return [review.audit_line(d) for d in store_web.decisions(db, LOG_SHOWN)]


def excluded(db) -> list[dict]:
    if not store_web.has_review_tables(db):
        return []
    return [dict(r) for r in store_web.excluded(db, EXCLUDED_SHOWN)]


def _digest(path) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def ack_of(config: Config, decision: dict) -> dict | None:
    """The acknowledgement a decision wrote for upstream, as upstream reads it."""
    from importd.durable import fs_name
    name = f"review-{decision['id']}-{fs_name(decision['external_id'] or decision['entity'])}.ack.json"
    try:
        return json.loads((config.outbox / decision["source"] / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
