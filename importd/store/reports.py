"""What checks in report mode would have refused, per source and check, from the ledger
(import_files.reported and the summary's `would_refuse`; importd.mapping.versions).
Read by `importd status` and the ops page."""

from __future__ import annotations

import json

FILES_READ = 200       # the newest files with reports whose summaries are added up (each is parsed: the page waits)


def reported_checks(db, limit: int = FILES_READ) -> list[dict]:
    """Per source and check: files, documents, documents per code, the line that turns it on,
    the newest file; from the newest `limit` files that have reports."""
    rows = db.execute("SELECT id, source, name, summary FROM import_files WHERE reported IS NOT NULL"
                      " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    out: dict[tuple[str, str], dict] = {}
    for row in rows:
        summary = json.loads(row["summary"] or "{}").get("would_refuse") or {}
        for check, codes in summary.get("checks", {}).items():
            entry = out.setdefault((row["source"], check), {
                "source": row["source"], "check": check, "files": 0, "documents": 0, "codes": {},
                "opt_in": summary.get("opt_in", {}).get(check, ""), "last_file": row["name"],
                "last_file_id": row["id"]})
            entry["files"] += 1
            for code, n in codes.items():
                entry["codes"][code] = entry["codes"].get(code, 0) + n
                entry["documents"] += n
    return sorted(out.values(), key=lambda e: (e["source"], e["check"]))


def settled_files(db) -> list:
    """Every file the ledger has settled (imported, duplicate, quarantined), in the order they
    were received: what `importd check --replay` goes through again. Only the columns every
    release's ledger has, so a database not brought up to date yet reads too."""
    return db.execute(
        "SELECT id, source, name, state, received_at, rules, settled_path, documents, error_code, error_message,"
        " summary FROM import_files WHERE state IN ('imported', 'duplicate', 'quarantined') ORDER BY id").fetchall()
