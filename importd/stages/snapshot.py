"""Full exports reveal what disappeared.

A rules file with `snapshot = true` says each of its files lists every record of
its kind the upstream system has. After such a file is committed (in its transaction),
the records of that system and entity importd knows but the file no longer lists
are marked absent — since when, by which file — and never deleted: invoices may
point at them. A record listed again is present again. When more than
`snapshot_max_absent` of the known records would go absent at once (a truncated
export), nothing is marked: the snapshot is held until `importd snapshot confirm`.
"""

from __future__ import annotations

import json

from importd.mapping.rules import Rules
from importd.store import Store, now, rooms

SHOWN = 10      # references named in the log line


def apply_snapshot(store: Store, rules: Rules, system: str, file_id: int, listed: set[str], logger) -> dict:
    """Mark absent and present again, among the references of `system` (the system of the
    file's route: a shop's export says nothing of the members); the figures for the file's summary."""
    entity = rules.kind
    known = store.present_refs(system, entity)
    missing = sorted(ext for ext in known if ext not in listed)
    again = store.mark_present(system, entity, sorted(listed))
    figures = {"entity": entity, "known": len(known), "missing": len(missing), "present_again": again}
    if again:
        logger.info("snapshot.present_again", entity=entity, count=again)
    if not missing:
        return figures
    if len(missing) > rules.snapshot_max_absent * len(known):
        store.hold_snapshot(file_id, system, entity, len(known), missing, now())
        logger.warning("snapshot.held", entity=entity, count=len(missing), known=len(known),
                       first=missing[:SHOWN], max_share=rules.snapshot_max_absent,
                       hint=f"a truncated export? if not: importd snapshot confirm {file_id}")
        return {**figures, "held": True}
    store.mark_absent(system, entity, missing, now(), file_id)
    logger.warning("snapshot.missing", system=system, entity=entity, count=len(missing), known=len(known),
                   first=missing[:SHOWN],
                   hint="marked absent, not deleted: `importd snapshot missing` lists them")
    return figures


def confirm(store: Store, file_id: int, who: str, logger) -> int:
    """Apply a held snapshot: mark absent what it did not list (and no later file brought back)."""
    with store.transaction():
        store.lock(rooms.of_kinds(["customer", "product"]))      # the kinds a snapshot may list
        hold = store.snapshot_hold(file_id)
        if hold is None or hold["confirmed_at"]:
            raise LookupError(f"no snapshot of file #{file_id} waits for confirmation (`importd snapshot held`)")
        still = set(store.present_refs(hold["source"], hold["entity"]))
        missing = [ext for ext in json.loads(hold["missing"]) if ext in still]
        store.mark_absent(hold["source"], hold["entity"], missing, now(), file_id)
        store.confirm_snapshot_hold(file_id, who, now())
    logger.warning("snapshot.missing", entity=hold["entity"], system=hold["source"], count=len(missing),
                   first=missing[:SHOWN], confirmed_by=who, file_id=file_id)
    return len(missing)
