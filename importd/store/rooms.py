"""What an import locks, so that several importd instances can share one PostgreSQL database.

A room is a part of the management data that one transaction reads and then writes on
what it read: a customer looked up by reference or e-mail and then created, an order
reference looked up and then numbered, an invoice's balance read and then paid down. Two
instances must not interleave in the same room, or an order is imported twice and a
number given twice. Each transaction takes every room it will need at its start, in one
sorted call, so two transactions never wait for each other in a circle; the rooms stay
taken until COMMIT. Files of different rooms commit side by side; files of the same room
(one number series is one room) take turns.

On SQLite the whole database is one room: BEGIN IMMEDIATE already takes it.
"""

from __future__ import annotations

from typing import Iterable

# The rooms a document kind reads and writes (and those of the series it numbers in).
ROOMS: dict[str, tuple[str, ...]] = {
    "customer": ("customer",),
    "product": ("product",),
    "order": ("customer", "order", "product"),      # an order makes its customer, reads the catalogue
    "invoice": ("customer", "invoice"),             # an invoice makes its buyer, releases parked payments
    "payment": ("invoice",),                        # a payment pays down an invoice's balance
}

# The room of each number series: its counter is read and written by that room's documents alone.
SERIES = {"customer": "customer", "order": "order", "invoice": "invoice", "credit_note": "invoice",
          "payment": "invoice"}


def of_kinds(kinds: Iterable[str | None]) -> list[str]:
    """The rooms documents of these kinds need, sorted (the order every transaction takes them in).
    An unknown kind (a rules file that failed to load) needs none: it imports nothing."""
    return sorted({room for kind in kinds for room in ROOMS.get(kind or "", ())})


def of_series(series: str) -> str:
    return SERIES.get(series, f"series:{series}")
