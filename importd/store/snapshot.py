"""The SQL of full snapshots: records a source no longer lists are marked absent, never deleted.
A mixin of Store; `absent_counts` also serves the metrics' read-only connection."""

from __future__ import annotations

import json
import sqlite3

from importd.store.queries import rows_in, run_in



def absent_counts(db: sqlite3.Connection) -> list[sqlite3.Row]:
    """Records marked absent, per system (the column `source` holds it) and entity."""
    return db.execute("SELECT source AS system, entity, count(*) AS n FROM external_refs"
                      " WHERE absent_since IS NOT NULL GROUP BY source, entity ORDER BY source, entity").fetchall()


class SnapshotStore:
    db: sqlite3.Connection

    def present_refs(self, source: str, entity: str) -> list[str]:
        """The references of a source and entity not marked absent."""
        return [row[0] for row in self.db.execute(
            "SELECT external_id FROM external_refs WHERE source = ? AND entity = ? AND absent_since IS NULL",
            (source, entity))]

    def mark_absent(self, source: str, entity: str, ids: list[str], since: str, file_id: int) -> None:
        run_in(self.db, "UPDATE external_refs SET absent_since = ?, absent_file_id = ?"
                        " WHERE source = ? AND entity = ? AND external_id IN ({marks})", ids, since, file_id, source, entity)

    def mark_present(self, source: str, entity: str, ids: list[str]) -> int:
        """Those of `ids` marked absent are present again; how many were."""
        again = [row[0] for row in rows_in(
            self.db, "SELECT external_id FROM external_refs WHERE source = ? AND entity = ?"
                     " AND absent_since IS NOT NULL AND external_id IN ({marks})", ids, source, entity)]
        run_in(self.db, "UPDATE external_refs SET absent_since = NULL, absent_file_id = NULL"
                        " WHERE source = ? AND entity = ? AND external_id IN ({marks})", again, source, entity)
        return len(again)

    def absent(self, source: str | None = None, entity: str | None = None) -> list[sqlite3.Row]:
        # the filters written out, not `? IS NULL OR …`: PostgreSQL cannot type an untyped NULL
        where = [f" AND r.{name} = ?" for name, value in (("source", source), ("entity", entity)) if value is not None]
        return self.db.execute(
            "SELECT r.source AS system, r.entity, r.external_id, r.internal_key, r.absent_since, r.absent_file_id,"
            " f.name AS file_name FROM external_refs r LEFT JOIN import_files f ON f.id = r.absent_file_id"
            f" WHERE r.absent_since IS NOT NULL{''.join(where)}"
            " ORDER BY r.source, r.entity, r.absent_since, r.external_id",
            [value for value in (source, entity) if value is not None]).fetchall()

    def absent_counts(self) -> list[sqlite3.Row]:
        return absent_counts(self.db)

    def hold_snapshot(self, file_id: int, source: str, entity: str, known: int, missing: list[str],
                      when: str) -> None:
        self.db.execute("INSERT INTO snapshot_holds (file_id, source, entity, known, missing, held_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)", (file_id, source, entity, known, json.dumps(missing), when))

    def snapshot_holds(self, pending_only: bool = True) -> list[sqlite3.Row]:
        where = " WHERE confirmed_at IS NULL" if pending_only else ""
        return self.db.execute(f"SELECT * FROM snapshot_holds{where} ORDER BY file_id").fetchall()

    def snapshot_hold(self, file_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM snapshot_holds WHERE file_id = ?", (file_id,)).fetchone()

    def confirm_snapshot_hold(self, file_id: int, who: str, when: str) -> None:
        self.db.execute("UPDATE snapshot_holds SET confirmed_by = ?, confirmed_at = ? WHERE file_id = ?",
                        (who, when, file_id))
