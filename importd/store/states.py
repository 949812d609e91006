"""The SQL of states that follow upstream: an order's state columns updated, each change kept
in `state_history` (who changed it: the file and line; when), and read back. A mixin of Store."""

from __future__ import annotations

import sqlite3

from importd.store.queries import now
from importd.store.schema import STATE_HISTORY_COLUMNS

STATE_COLUMNS = ("status", "extra")     # the columns of `orders` a state change may set


class StateStore:
    db: sqlite3.Connection

    def update_states(self, updates: list[tuple[str, dict]]) -> None:
        """(order number, {column: value}) for each order whose states changed."""
        for number, columns in updates:
            names = [name for name in columns if name in STATE_COLUMNS]
            if names:
                self.db.execute(f"UPDATE orders SET {', '.join(f'{n} = ?' for n in names)} WHERE number = ?",
                                (*(columns[n] for n in names), number))

    def record_states(self, rows: list[tuple]) -> None:
        """Rows of STATE_HISTORY_COLUMNS but the time, which is now."""
        stamp = now()
        self.db.executemany(
            f"INSERT INTO state_history ({', '.join(STATE_HISTORY_COLUMNS)}, changed_at)"
            f" VALUES ({', '.join('?' * len(STATE_HISTORY_COLUMNS))}, ?)", [(*row, stamp) for row in rows])

    def set_ref_digests(self, rows: list[tuple]) -> None:
        """(digest, source, entity, external_id): the content a reference now stands for (its file
        stays the one that brought the document)."""
        self.db.executemany("UPDATE external_refs SET content_sha256 = ? WHERE source = ? AND entity = ?"
                            " AND external_id = ?", rows)

    def state_history(self, ref: str | None = None, limit: int = 200) -> list[sqlite3.Row]:
        """The changes of state, newest first; of one document when `ref` is its number or
        upstream reference."""
        if ref is None:
            return self.db.execute("SELECT * FROM state_history ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return self.db.execute("SELECT * FROM state_history WHERE internal_key = ? OR external_ref = ?"
                               " ORDER BY id", (ref, ref)).fetchall()
