"""What a rules file asks of its orders' arithmetic: the `[order_checks]` table, read and checked.
The checks themselves run in the resolve stage (importd.resolve.order_checks).

The `[order_checks]` table of a rules file (rules/README.md, where each vendor's formula is):
    enabled = true                  # default: orders are checked
    prices_include_tax = false      # true: Total already includes Taxes (a shop's TTC prices)
    allow_returns = false           # true: a negative quantity is a return line
    discount = "after_subtotal"     # the order's discount comes off after the subtotal (WooCommerce);
                                    # "in_subtotal": the subtotal is already after it (Shopify)
    line_discount = "off_line"      # a line's `discount` comes off its line total;
                                    # "in_order_discount": it is a share of the order's discount
    tax_parts = []                  # order fields whose sum is the order's tax (several tax columns)
    total_adds = []                 # order fields added to the total: ["duties", "tip", "extra.fees"]
    refunds = "outside_total"       # the total is what was ordered, refunds are beside it;
                                    # "off_total": the stated total is net of `refunded`
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KEYS = ("enabled", "prices_include_tax", "allow_returns", "discount", "line_discount", "tax_parts",
        "total_adds", "refunds")
CHOICES = {"discount": ("after_subtotal", "in_subtotal"),
           "line_discount": ("off_line", "in_order_discount"),
           "refunds": ("outside_total", "off_total")}
# Order amounts total_adds may name, besides custom fields (extra.NAME, a number held as text).
ADDABLE = ("duties", "tip")
_EXTRA = re.compile(r"extra\.[a-z_][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class OrderChecks:
    """What a rules file asks of its orders' arithmetic."""

    prices_include_tax: bool = False
    allow_returns: bool = False
    discount: str = "after_subtotal"
    line_discount: str = "off_line"
    tax_parts: tuple[str, ...] = ()
    total_adds: tuple[str, ...] = ()
    refunds: str = "outside_total"
    decimal_comma: bool = False         # how a custom field's number is written (the rules' [format])

    # Worked out once: (name, custom field's key or None) of tax_parts and total_adds, and whether
    # any is a custom field (then an order's custom fields are read, once per order).
    tax_keys: tuple = field(init=False, default=())
    add_keys: tuple = field(init=False, default=())
    reads_extra: bool = field(init=False, default=False)

    def __post_init__(self):
        def keys(names):
            return tuple((name, name[6:] if name.startswith("extra.") else None) for name in names)
        object.__setattr__(self, "tax_keys", keys(self.tax_parts))
        object.__setattr__(self, "add_keys", keys(self.total_adds))
        object.__setattr__(self, "reads_extra", any(key for _, key in (*self.tax_keys, *self.add_keys)))

    @property
    def line_formula(self) -> str:
        return "line_total = quantity × unit_price" + (" − discount" if self.line_discount == "off_line" else "")

    @property
    def subtotal_formula(self) -> str:
        return "subtotal = Σ line totals" + (" − discount" if self.discount == "in_subtotal" else "")

    @property
    def tax_formula(self) -> str:
        return "tax = " + " + ".join(self.tax_parts)

    @property
    def total_formula(self) -> str:
        terms = "total = subtotal + shipping"
        if not self.prices_include_tax:
            terms += " + tax"
        terms += "".join(f" + {name}" for name in self.total_adds)
        if self.discount == "after_subtotal":
            terms += " − discount"
        if self.refunds == "off_total":
            terms += " − refunded"
        return terms + (" (prices include tax)" if self.prices_include_tax else "")


def load_order_checks(table, kind: str | None, problem, decimal_comma: bool = False) -> OrderChecks | None:
    """The `[order_checks]` table (absent: the defaults, on); None when checks are off.

    `problem(where, text)` reports a mistake with its location in the rules file.
    """
    if table is None:
        return OrderChecks(decimal_comma=decimal_comma) if kind == "order" else None
    if not isinstance(table, dict):
        problem(("order_checks",), "order_checks must be a table: write [order_checks] on its own line")
        return None
    if kind != "order":
        problem(("order_checks",), f"[order_checks] applies to orders, not to kind {kind!r} "
                                   f"(invoices are checked against EN 16931 always)")
        return None
    values = {}
    for key, value in table.items():
        where = ("order_checks", key)
        if key not in KEYS:
            problem(where, f"unknown key {key!r} — known keys: {', '.join(KEYS)}")
        elif key in CHOICES:
            if value not in CHOICES[key]:
                problem(where, f"{key} must be one of {', '.join(map(repr, CHOICES[key]))}")
            else:
                values[key] = value
        elif key in ("tax_parts", "total_adds"):
            names = _amounts(key, value, where, problem)
            if names is not None:
                values[key] = names
        elif not isinstance(value, bool):
            problem(where, f"{key} must be true or false")
        else:
            values[key] = value
    if not values.pop("enabled", True):
        return None
    return OrderChecks(decimal_comma=decimal_comma, **values)


def _amounts(key: str, value, where: tuple, problem) -> tuple[str, ...] | None:
    """A list of order amounts: `duties`, `tip` (total_adds) or custom fields `extra.NAME`."""
    allowed = ADDABLE if key == "total_adds" else ()
    example = '["duties", "tip"]' if key == "total_adds" else '["extra.tax_1", "extra.tax_2"]'
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problem(where, f"{key} must be a list of order fields, e.g. {key} = {example}")
        return None
    bad = [v for v in value if v not in allowed and not _EXTRA.fullmatch(v)]
    if bad:
        known = " or ".join([*map(repr, allowed), "custom fields written extra.name"])
        problem(where, f"{key}: {', '.join(map(repr, bad))} cannot be summed here — name {known}")
        return None
    if len(set(value)) != len(value):
        problem(where, f"{key} names a field twice")
        return None
    return tuple(value)
