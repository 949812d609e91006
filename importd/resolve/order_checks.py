"""Orders add up: their arithmetic, checked on a mapped order before anything is written.

Like invoices (importd.resolve.invoice_checks), exact decimals and no tolerance beyond the
currency's minor unit: a line's total is its quantity × unit price rounded
there, half up (importd.mapping.values.round_money, the one place money is rounded).

ORD-QTY       quantity > 0 (< 0 too with allow_returns; 0 never)
ORD-LINE      line_total          = round(quantity × unit_price)
ORD-SUBTOTAL  subtotal            = Σ line totals
ORD-TOTAL     total               = subtotal + shipping + tax − discount
              (prices_include_tax: total = subtotal + shipping − discount;
              the tax is the part of the prices that is VAT, not added)

Absent amounts: shipping, tax and discount count as 0; an absent subtotal is
the lines' sum; an absent total, or a line with neither a line total nor both
quantity and unit price, leaves nothing to compare. A failure rejects the
order (the file, unless atomicity = "document") with the order, its line and
the rule, before any number is taken.
"""

from __future__ import annotations

from decimal import Context, Decimal
from functools import lru_cache

from importd.errors import FileRejected
from importd.mapping.order_rules import OrderChecks
from importd.mapping.values import round_money
from importd.model import Document

ZERO = Decimal(0)
_EXACT = Context(prec=80)       # sums and products of amounts in range never round before round_money


def check_order(doc: Document, checks: OrderChecks, rule_file: str) -> None:
    """Raise FileRejected(code="ORD-…") if `doc`'s quantities or totals do not add up."""
    f = doc.fields
    currency = f.get("currency")
    ref = doc.external_ref
    sum_known = bool(doc.lines)     # a header-only order ([document] lines = "none"): no sum to compare
    lines_sum = ZERO
    allow_returns = checks.allow_returns
    line_no = 0
    for line in doc.lines:
        line_no += 1
        get = line.get
        quantity, price, stated = get("quantity"), get("unit_price"), get("line_total")
        if quantity is not None and not (quantity > ZERO or (quantity < ZERO and allow_returns)):
            raise _bad_quantity(doc, line_no, quantity, rule_file)
        computed = _line_amount(quantity, price, currency) if quantity is not None and price is not None else None
        if stated is not None and computed is not None and stated != computed:
            raise _failed("ORD-LINE", f"order {ref!r}, line {line_no}: line total is {stated} but quantity × "
                          f"unit price is {quantity} × {price} = {computed}", _line_where(doc, line_no),
                          "line.line_total", rule_file, "line_total = quantity × unit_price", stated, computed,
                          "the sender's line does not add up: ask for a corrected export")
        amount = stated if stated is not None else computed
        if amount is None:
            sum_known = False
        else:
            lines_sum = _EXACT.add(lines_sum, amount)
    subtotal = f.get("subtotal")
    if subtotal is None:
        if not sum_known:
            return
        subtotal = lines_sum
    elif sum_known and subtotal != lines_sum:
        raise _failed("ORD-SUBTOTAL", f"order {ref!r}: subtotal is {subtotal} but its {len(doc.lines)} line(s) "
                      f"add up to {lines_sum}", doc.line, "order.subtotal", rule_file,
                      "subtotal = Σ line totals", subtotal, lines_sum,
                      "the sender's totals do not add up: ask for a corrected export")
    total = f.get("total")
    if total is None:
        return
    computed = _EXACT.subtract(_EXACT.add(subtotal, _amount(f, "shipping")), _amount(f, "discount"))
    if checks.prices_include_tax:
        formula = "total = subtotal + shipping − discount (prices include tax)"
    else:
        computed = _EXACT.add(computed, _amount(f, "tax"))
        formula = "total = subtotal + shipping + tax − discount"
    if total != computed:
        raise _failed("ORD-TOTAL", f"order {ref!r}: total is {total} but {formula.split(' = ')[1]} is {computed}",
                      doc.line, "order.total", rule_file, formula, total, computed,
                      "the sender's totals do not add up: ask for a corrected export"
                      + ("" if checks.prices_include_tax else
                         "; if the export's prices include tax, set prices_include_tax = true in [order_checks]"))


# A bulk export repeats its quantities and prices: an equal product rounds the same, whatever its spelling.
@lru_cache(maxsize=4096)
def _line_amount(quantity: Decimal, price: Decimal, currency: str | None) -> Decimal:
    return round_money(_EXACT.multiply(quantity, price), currency)


def _amount(fields: dict, name: str) -> Decimal:
    value = fields.get(name)
    return ZERO if value is None else value


def _bad_quantity(doc: Document, line_no: int, quantity: Decimal, rule_file: str) -> FileRejected:
    if quantity == ZERO:
        what, hint = "a line of nothing", "remove the line from the export, or fix its quantity"
    else:
        what, hint = ("a return, and this rules file allows none",
                      "fix the export, or set allow_returns = true in [order_checks] for return lines")
    return _failed("ORD-QTY", f"order {doc.external_ref!r}, line {line_no}: quantity is {quantity}, {what}",
                   _line_where(doc, line_no), "line.quantity", rule_file, "quantity > 0", quantity, None, hint)


def _line_where(doc: Document, line_no: int) -> int:
    """The file line of the order's line `line_no`: its own record in a grouped CSV, else the order's."""
    if len(doc.line_numbers) == len(doc.lines):
        return doc.line_numbers[line_no - 1]
    return doc.line


def _failed(code: str, message: str, line: int, field: str, rule_file: str, check: str,
            stated, computed, hint: str) -> FileRejected:
    return FileRejected(code, message, line=line, field=field, rule=rule_file, check=check,
                        stated=str(stated), computed=None if computed is None else str(computed), hint=hint)
