"""The SQL of upstream systems: which systems hold references, and moving a system's
references to another name (`importd systems move`). A mixin of Store.

A reference's system is the `source` column of external_refs, do_not_sync, snapshot_holds
and of the business tables that keep one (orders, invoices, payments); parked documents and
reviewers' decisions say it in `system` (schema.py, SYSTEM_COLUMNS).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from importd.store.queries import rows_in, run_in

# (table, the column naming the system, the entity column or the one entity the table holds,
#  whether it has file_id): every row that belongs to a system's references.
MOVED: tuple[tuple[str, str, str, bool], ...] = (
    ("external_refs", "source", "entity", True),
    ("parked_records", "system", "entity", True),
    ("review_decisions", "system", "entity", True),
    ("snapshot_holds", "source", "entity", True),
    ("do_not_sync", "source", "entity", False),
    ("state_history", "source", "entity", True),
    ("orders", "source", "'order'", True),
    ("invoices", "source", "'invoice'", True),
    ("payments", "source", "'payment'", True),
)


class MoveConflict(Exception):
    """A reference already exists under the new name for another record: nothing was moved."""

    def __init__(self, conflicts: list[tuple]):
        self.conflicts = conflicts
        super().__init__(f"{len(conflicts)} reference(s) exist under both names for different records")


@dataclass
class Selection:
    """The rows of system `old` to move: all of them, or those of one entity, or those written
    by the files `file_ids` (None: any file; the do-not-sync list, which names no file, is
    then moved too)."""
    old: str
    entity: str | None = None
    file_ids: list[int] | None = None

    def where(self, namespace: str, entity: str, has_file: bool) -> tuple[str, list] | None:
        """The WHERE clause for one table (a `{marks}` for the file ids when they are given),
        or None when the table has none of these rows."""
        clause, params = f"{namespace} = ?", [self.old]
        if self.entity is not None:
            if entity.startswith("'"):
                if entity.strip("'") != self.entity:
                    return None
            else:
                clause += f" AND {entity} = ?"
                params.append(self.entity)
        if self.file_ids is not None:
            if not has_file:
                return None
            clause += " AND file_id IN ({marks})"
        return clause, params


def has_refs(db: sqlite3.Connection, system: str) -> bool:
    """Whether any reference or do-not-sync entry is keyed by `system` (index lookups); also for
    a read-only connection."""
    return any(db.execute(f"SELECT 1 FROM {table} WHERE source = ? LIMIT 1", (system,)).fetchone() is not None
               for table in ("external_refs", "do_not_sync"))


class SystemsStore:
    db: sqlite3.Connection

    def system_has_refs(self, system: str) -> bool:
        return has_refs(self.db, system)

    def refs_by_system(self) -> list[sqlite3.Row]:
        """How many references each system holds, per entity."""
        return self.db.execute("SELECT source AS system, entity, count(*) AS n FROM external_refs"
                               " GROUP BY source, entity ORDER BY source, entity").fetchall()

    def files_of_source(self, source: str | None) -> list[tuple[int, str]]:
        """(id, name) of every file the ledger has from `source` (None: from any)."""
        if source is None:
            return [(row[0], row[1]) for row in self.db.execute("SELECT id, name FROM import_files ORDER BY id")]
        return [(row[0], row[1]) for row in self.db.execute(
            "SELECT id, name FROM import_files WHERE source = ? ORDER BY id", (source,))]

    def _rows(self, selection: Selection, sql: str, params: list) -> list:
        """Rows of a SELECT whose WHERE came from the selection (chunked over its file ids)."""
        if selection.file_ids is None:
            return self.db.execute(sql, params).fetchall()
        return list(rows_in(self.db, sql, selection.file_ids, *params))

    def count_selection(self, selection: Selection) -> dict[str, int]:
        """How many rows of each table the move would change."""
        counts = {}
        for table, namespace, entity, has_file in MOVED:
            where = selection.where(namespace, entity, has_file)
            if where is None:
                continue
            clause, params = where
            total = sum(row[0] for row in self._rows(selection, f"SELECT count(*) FROM {table} WHERE {clause}",
                                                     params))
            if total:
                counts[table] = total
        return counts

    def move_conflicts(self, selection: Selection, new: str) -> list[tuple]:
        """(entity, external_id, old record, new record) of references the new name already
        holds for a different record."""
        where = selection.where("o.source", "o.entity", True)
        if where is None:
            return []
        clause, params = where
        sql = ("SELECT o.entity, o.external_id, o.internal_key, n.internal_key FROM external_refs o"
               " JOIN external_refs n ON n.source = ? AND n.entity = o.entity AND n.external_id = o.external_id"
               f" WHERE {clause.replace('file_id', 'o.file_id')} AND n.internal_key <> o.internal_key")
        return [tuple(row) for row in self._rows(selection, sql, [new, *params])]

    def move_selection(self, selection: Selection, new: str) -> None:
        """Give the selected rows the name `new`; call inside a transaction. A reference the new
        name already holds for the same record is kept once; one it holds for another record
        raises MoveConflict before anything changes."""
        conflicts = self.move_conflicts(selection, new)
        if conflicts:
            raise MoveConflict(conflicts)
        for table, namespace, entity, has_file in MOVED:
            where = selection.where(namespace, entity, has_file)
            if where is None:
                continue
            clause, params = where
            if table in ("external_refs", "do_not_sync"):       # keyed by the name: the same row twice is kept once
                self._run(selection, f"DELETE FROM {table} WHERE {clause} AND EXISTS (SELECT 1 FROM {table} n"
                                     f" WHERE n.source = ? AND n.entity = {table}.entity"
                                     f" AND n.external_id = {table}.external_id)", params, new, last=True)
            self._run(selection, f"UPDATE {table} SET {namespace} = ? WHERE {clause}", params, new)

    def _run(self, selection: Selection, sql: str, params: list, value, last: bool = False) -> None:
        """A statement with `value` first (or last) and the selection's params; chunked over file ids."""
        if selection.file_ids is None:
            self.db.execute(sql, (*params, value) if last else (value, *params))
            return
        if last:        # the file ids' marks come before the trailing value: one statement per chunk
            for start in range(0, len(selection.file_ids), 500):
                chunk = selection.file_ids[start:start + 500]
                self.db.execute(sql.format(marks=",".join("?" * len(chunk))), (*params, *chunk, value))
            return
        run_in(self.db, sql, selection.file_ids, value, *params)
