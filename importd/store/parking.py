"""The SQL of parked documents (waiting for a reference, or held for a person), mixed into Store."""

from __future__ import annotations

import sqlite3

from importd.store.queries import rows_in
from importd.store.schema import PARKED_COLUMNS


class ParkingStore:
    db: sqlite3.Connection

    def park(self, row: dict) -> None:
        self.db.execute(f"INSERT INTO parked_records ({', '.join(PARKED_COLUMNS)})"
                        f" VALUES ({', '.join('?' * len(PARKED_COLUMNS))})", tuple(map(row.get, PARKED_COLUMNS)))

    def parked(self, *, include_review: bool = True) -> list[sqlite3.Row]:
        where = "" if include_review else " WHERE waiting_for <> 'review'"
        return self.db.execute(f"SELECT * FROM parked_records{where} ORDER BY id").fetchall()

    def parked_refs(self, system: str, entity: str, ids: list[str]) -> set[str]:
        """Those of these references of `system` that wait parked or held."""
        return {row[0] for row in rows_in(
            self.db, "SELECT external_id FROM parked_records WHERE system = ? AND entity = ?"
                     " AND external_id IN ({marks})", ids, system, entity)}

    def unpark(self, parked_id: int) -> None:
        self.db.execute("DELETE FROM parked_records WHERE id = ?", (parked_id,))

    def parked_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM parked_records").fetchone()[0]
