"""What a rules file asks of its orders' arithmetic: the `[order_checks]` table, read and checked.
The checks themselves run in the resolve stage (importd.resolve.order_checks).

The `[order_checks]` table of a rules file (rules/README.md):
    enabled = true               # default: orders are checked
    prices_include_tax = false   # true: Total already includes Taxes (a shop's TTC prices)
    allow_returns = false        # true: a negative quantity is a return line
"""

from __future__ import annotations

from dataclasses import dataclass

KEYS = ("enabled", "prices_include_tax", "allow_returns")


@dataclass(frozen=True, slots=True)
class OrderChecks:
    """What a rules file asks of its orders' arithmetic."""

    prices_include_tax: bool = False
    allow_returns: bool = False


def load_order_checks(table, kind: str | None, problem) -> OrderChecks | None:
    """The `[order_checks]` table (absent: the defaults, on); None when checks are off.

    `problem(where, text)` reports a mistake with its location in the rules file.
    """
    if table is None:
        return OrderChecks() if kind == "order" else None
    if not isinstance(table, dict):
        problem(("order_checks",), "order_checks must be a table: write [order_checks] on its own line")
        return None
    if kind != "order":
        problem(("order_checks",), f"[order_checks] applies to orders, not to kind {kind!r} "
                                   f"(invoices are checked against EN 16931 always)")
        return None
    values = {}
    for key, value in table.items():
        if key not in KEYS:
            problem(("order_checks", key), f"unknown key {key!r} — known keys: {', '.join(KEYS)}")
        elif not isinstance(value, bool):
            problem(("order_checks", key), f"{key} must be true or false")
        else:
            values[key] = value
    if not values.pop("enabled", True):
        return None
    return OrderChecks(**values)
