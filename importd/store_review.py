"""The SQL of identity and review: which upstream references a record carries, reviewers'
decisions, and the do-not-sync list. A mixin of Store, like InvoiceStore.
"""

from __future__ import annotations

import json
import sqlite3

from importd.store_invoices import rows_in

# Added to an existing database by Store._migrate (part of its MIGRATION_SCHEMA).
REVIEW_SCHEMA = """
CREATE INDEX IF NOT EXISTS external_refs_internal_key ON external_refs(source, entity, internal_key);
CREATE TABLE IF NOT EXISTS review_decisions (
    id INTEGER PRIMARY KEY, parked_id INTEGER NOT NULL, file_id INTEGER, source TEXT NOT NULL,
    entity TEXT NOT NULL, external_id TEXT, action TEXT NOT NULL, detail TEXT, reason TEXT,
    outcome TEXT NOT NULL, number TEXT, decided_by TEXT NOT NULL, decided_at TEXT NOT NULL,
    line INTEGER, acked_at TEXT);
CREATE TABLE IF NOT EXISTS do_not_sync (
    source TEXT NOT NULL, entity TEXT NOT NULL, external_id TEXT NOT NULL, reason TEXT NOT NULL,
    excluded_by TEXT NOT NULL, excluded_at TEXT NOT NULL, PRIMARY KEY (source, entity, external_id));
"""
NEWEST_REVIEW_OBJECT = "do_not_sync"


class ReviewStore:
    db: sqlite3.Connection

    # -- identity ---------------------------------------------------------------------

    def refs_of(self, source: str, entity: str, keys: list[str]) -> dict[str, set[str]]:
        """The upstream references of `source` each of these records carries."""
        found: dict[str, set[str]] = {}
        for row in rows_in(self.db, "SELECT internal_key, external_id FROM external_refs WHERE source = ?"
                                    " AND entity = ? AND internal_key IN ({marks})", keys, source, entity):
            found.setdefault(row[0], set()).add(row[1])
        return found

    # -- held documents -----------------------------------------------------------------

    def parked_one(self, parked_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM parked_records WHERE id = ?", (parked_id,)).fetchone()

    def held_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM parked_records WHERE waiting_for = 'review'").fetchone()[0]

    def record_decision(self, row: dict) -> int:
        columns = ("parked_id", "file_id", "source", "entity", "external_id", "action", "detail", "reason",
                   "outcome", "number", "decided_by", "decided_at", "line")
        values = [json.dumps(row[c], default=str, ensure_ascii=False) if c == "detail" else row.get(c)
                  for c in columns]
        return self.db.execute(f"INSERT INTO review_decisions ({', '.join(columns)})"
                               f" VALUES ({', '.join('?' * len(columns))})", values).lastrowid

    def decisions_unacked(self) -> list[sqlite3.Row]:
        """Decisions whose acknowledgement may not have been written (a crash right after them)."""
        return self.db.execute("SELECT * FROM review_decisions WHERE acked_at IS NULL ORDER BY id").fetchall()

    def decision_acked(self, decision_id: int, when: str) -> None:
        self.db.execute("UPDATE review_decisions SET acked_at = ? WHERE id = ?", (when, decision_id))

    def decisions(self, limit: int = 100) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM review_decisions ORDER BY id DESC LIMIT ?", (limit,)).fetchall()

    # -- do not sync ----------------------------------------------------------------------

    def exclude(self, source: str, entity: str, external_id: str, reason: str, who: str, when: str) -> None:
        self.db.execute("INSERT INTO do_not_sync (source, entity, external_id, reason, excluded_by, excluded_at)"
                        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, entity, external_id) DO UPDATE SET"
                        " reason = excluded.reason, excluded_by = excluded.excluded_by,"
                        " excluded_at = excluded.excluded_at", (source, entity, external_id, reason, who, when))

    def lift(self, source: str, entity: str, external_id: str) -> bool:
        return self.db.execute("DELETE FROM do_not_sync WHERE source = ? AND entity = ? AND external_id = ?",
                               (source, entity, external_id)).rowcount > 0

    def excluded(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM do_not_sync ORDER BY source, entity, external_id").fetchall()

    def excluded_refs(self, source: str, entity: str, ids: list[str]) -> set[str]:
        return {row[0] for row in rows_in(
            self.db, "SELECT external_id FROM do_not_sync WHERE source = ? AND entity = ?"
                     " AND external_id IN ({marks})", ids, source, entity)}
