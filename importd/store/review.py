"""The SQL of identity and review: which upstream references a record carries, reviewers'
decisions, and the do-not-sync list. A mixin of Store, like InvoiceStore.
"""

from __future__ import annotations

import json
import sqlite3

from importd.store.queries import rows_in



class ReviewStore:
    db: sqlite3.Connection
    skip_locked: str                  # " FOR UPDATE SKIP LOCKED" where the backend has it

    # -- identity ---------------------------------------------------------------------

    def refs_of(self, system: str, entity: str, keys: list[str]) -> dict[str, set[str]]:
        """The upstream references of `system` each of these records carries."""
        found: dict[str, set[str]] = {}
        for row in rows_in(self.db, "SELECT internal_key, external_id FROM external_refs WHERE source = ?"
                                    " AND entity = ? AND internal_key IN ({marks})", keys, system, entity):
            found.setdefault(row[0], set()).add(row[1])
        return found

    # -- held documents -----------------------------------------------------------------

    def parked_one(self, parked_id: int, skip_locked: bool = False) -> sqlite3.Row | None:
        """The parked document; with skip_locked, None also while another instance holds it."""
        lock = self.skip_locked if skip_locked else ""
        return self.db.execute(f"SELECT * FROM parked_records WHERE id = ?{lock}", (parked_id,)).fetchone()

    def held_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM parked_records WHERE waiting_for = 'review'").fetchone()[0]

    def record_decision(self, row: dict) -> int:
        columns = ("parked_id", "file_id", "source", "entity", "external_id", "action", "detail", "reason",
                   "outcome", "number", "decided_by", "decided_at", "line", "acked_at", "system")
        values = [json.dumps(row[c], default=str, ensure_ascii=False) if c == "detail" else row.get(c)
                  for c in columns]
        return self.db.execute(f"INSERT INTO review_decisions ({', '.join(columns)})"
                               f" VALUES ({', '.join('?' * len(columns))}) RETURNING id", values).fetchone()[0]

    def decision_on(self, parked_id: int | None = None, file_id: int | None = None,
                    action: str | None = None) -> sqlite3.Row | None:
        """The last decision on a held document (parked_id) or on a file (file_id, of one action)."""
        if parked_id is not None:
            return self.db.execute("SELECT * FROM review_decisions WHERE parked_id = ? ORDER BY id DESC LIMIT 1",
                                   (parked_id,)).fetchone()
        return self.db.execute("SELECT * FROM review_decisions WHERE file_id = ? AND action = ?"
                               " ORDER BY id DESC LIMIT 1", (file_id, action)).fetchone()

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
