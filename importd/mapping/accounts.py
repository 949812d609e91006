"""Accounts and VAT codes of lines: the catalogue's own, and the check that every line has one.

A line's account comes from the rules file (a column, a value table keyed by the
category, a default); a product's own account in the catalogue fills a line that
has none, and wins over the file when the line's rule says priority = "database".
With `[document] require_accounts = true` a line (or a shipping amount) left with
no account refuses the file, before any number is taken.
"""

from __future__ import annotations

from importd.errors import FileRejected
from importd.mapping.rules import Rules
from importd.model import Document, LINE_SECTIONS

BOOKED = ("account", "vat_code")


def line_priorities(rules: Rules) -> tuple[tuple[str, str], ...]:
    """(field, priority) of a line's account and VAT code, read once per file."""
    section = LINE_SECTIONS.get(rules.kind, "line")
    return tuple((name, rules.priority(section, name)) for name in BOOKED)


def from_catalogue(line: dict, product: dict, priorities: tuple[tuple[str, str], ...]) -> None:
    """Give `line` the stored product's account and VAT code where the rules let them in."""
    for name, priority in priorities:
        own = product.get(name)
        if own and (priority == "database" or not line.get(name)):
            line[name] = own


def check_accounts(doc: Document, rules: Rules) -> None:
    """Refuse a document with a line (or shipping) that ended with no account."""
    section = LINE_SECTIONS[doc.kind]
    for no, line in enumerate(doc.lines, 1):
        if line.get("account"):
            continue
        at = doc.line_numbers[no - 1] if no <= len(doc.line_numbers) else doc.line
        sku = line.get("sku")
        product = f"product {sku!r}" if sku else "no product"
        raise FileRejected("missing_account",
                           f"line {at}: {doc.kind} {doc.external_ref!r}, line {no} ({product}) has no account; "
                           f"{_where_to_add(rules, section)}",
                           line=at, field=f"{section}.account", rule=rules.name,
                           hint=(f"or give product {sku!r} its account in the catalogue" if sku else
                                 "or set a default account for the lines")
                                + " — require_accounts = true in [document] asks every line for one")
    shipping = doc.fields.get("shipping")
    if doc.kind == "order" and shipping and not doc.fields.get("shipping_account"):
        raise FileRejected("missing_account",
                           f"line {doc.line}: order {doc.external_ref!r} has shipping {shipping} and no "
                           f"shipping_account; {_where_to_add(rules, 'order', 'shipping_account')}",
                           line=doc.line, field="order.shipping_account", rule=rules.name,
                           hint="e.g. shipping_account = { value = \"708500\" } in [order]")


def _where_to_add(rules: Rules, section: str, name: str = "account") -> str:
    """What to extend in the rules file: the value table of the rule, or the rule itself."""
    rule = rules.rule(section, name)
    if rule is None:
        return f"map [{section}] {name} in {rules.name} (a column, a map by category, or a default)"
    columns = ", ".join(repr(c) for c in sorted(rule.columns))
    if rule.table is not None:
        return (f"extend the value table [{section}] {name}.map in {rules.name} with this line's "
                f"{columns or 'value'}, or give the rule a default")
    return f"fill {columns or 'the column'} or give [{section}] {name} a default in {rules.name}"
