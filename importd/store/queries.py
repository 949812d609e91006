"""Small helpers every part of the store uses."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def rows_in(db: sqlite3.Connection, sql: str, values: list, *params) -> Iterator[sqlite3.Row]:
    """Run `sql`, whose `IN ({marks})` takes `values`, in slices of 500: a batch's lookups stay
    one query each without passing SQLite's parameter limit. `params` come before the values."""
    for start in range(0, len(values), 500):
        chunk = values[start:start + 500]
        yield from db.execute(sql.format(marks=",".join("?" * len(chunk))), (*params, *chunk))


def run_in(db, sql: str, values: list, *params) -> None:
    """As rows_in, for a statement that returns no rows (an UPDATE, a DELETE)."""
    for start in range(0, len(values), 500):
        chunk = values[start:start + 500]
        db.execute(sql.format(marks=",".join("?" * len(chunk))), (*params, *chunk))


@contextmanager
def transaction(db, begin: str = "BEGIN") -> Iterator[None]:
    """`begin` … COMMIT on a connection (SQLite's or postgresql.Connection), rolled back on any
    error: the Store's transactions, creating or migrating the tables, `importd db copy`."""
    db.execute(begin)
    try:
        yield
    except BaseException:
        if db.in_transaction:       # SQLite may have rolled back already (a full disk)
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
