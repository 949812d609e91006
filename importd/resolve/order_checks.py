"""Orders add up: their arithmetic, checked on a mapped order before anything is written.

Like invoices (importd.resolve.invoice_checks), exact decimals and no tolerance beyond the
currency's minor unit: a line's total is its quantity × unit price rounded
there, half up (importd.mapping.values.round_money, the one place money is rounded).
The rules file says where each amount stands ([order_checks], importd.mapping.order_rules);
the formulas below are the defaults, each key changes one term:

ORD-QTY       quantity > 0 (< 0 too with allow_returns; 0 never)
ORD-LINE      line_total = round(quantity × unit_price) − discount
              (line_discount = "in_order_discount": the line's discount is not taken off it)
ORD-DISCOUNT  Σ line discounts ≤ discount  (line_discount = "in_order_discount": they are part of it)
ORD-SUBTOTAL  subtotal   = Σ line totals  (discount = "in_subtotal": − discount)
ORD-TAX       tax        = Σ tax_parts   (when the rules name tax parts)
ORD-TOTAL     total      = subtotal + shipping + tax + Σ total_adds − discount
              (prices_include_tax: no + tax, the tax being the part of the prices that is VAT;
              discount = "in_subtotal": no − discount; refunds = "off_total": − refunded)
ORD-REFUND    refunded   ≤ total
ORD-AMOUNT    a custom field the arithmetic names (extra.NAME) holds a number

Absent amounts count as 0; an absent subtotal is the lines' sum (less the discount
when it stands in the subtotal); an absent total, or a line with neither a line total nor both
quantity and unit price, leaves nothing to compare. An order without lines has
its total checked from its stated subtotal. A failure rejects the
order (the file, unless atomicity = "document") with the order, its line and
the rule, before any number is taken. explain_order() gives the same arithmetic as text
for `importd check`.
"""

from __future__ import annotations

import json
from decimal import Context, Decimal, InvalidOperation
from functools import lru_cache

from importd.errors import FileRejected, ValueRejected
from importd.mapping.order_rules import OrderChecks
from importd.mapping.values import parse_decimal, round_money
from importd.model import Document

ZERO = Decimal(0)
_EXACT = Context(prec=80)       # sums and products of amounts in range never round before round_money
_ADD_UP = "the sender's totals do not add up: ask for a corrected export"


def check_order(doc: Document, checks: OrderChecks, rule_file: str) -> None:
    """Raise FileRejected(code="ORD-…") if `doc`'s quantities or totals do not add up."""
    _arithmetic(doc, checks, rule_file, None)


def explain_order(doc: Document, checks: OrderChecks, rule_file: str) -> str:
    """The arithmetic checked on `doc`, one line for a person: amounts, the formula's terms, ✓ or ✗."""
    ref = doc.external_ref
    try:
        steps = _arithmetic(doc, checks, rule_file, [])
    except FileRejected as e:
        return (f"{ref}: {e.code}: {e.extra.get('check')}: stated {e.extra.get('stated')}, "
                f"computed {e.extra.get('computed')} ✗")
    return f"{ref}: " + "; ".join(steps) if steps else f"{ref}: nothing to check (no total, lines not summable)"


def _arithmetic(doc: Document, checks: OrderChecks, rule_file: str, steps: list[str] | None) -> list[str] | None:
    """Check `doc` (raises FileRejected on the first step that fails); with a list, append each
    step checked to it as text (the import itself passes None: it formats nothing)."""
    f = doc.fields
    currency = f.get("currency")
    ref = doc.external_ref
    sum_known = bool(doc.lines)     # a header-only order ([document] lines = "none"): no sum to compare
    lines_sum = line_discounts = ZERO
    allow_returns = checks.allow_returns
    off_line = checks.line_discount == "off_line"
    line_no = 0
    for line in doc.lines:
        line_no += 1
        get = line.get
        quantity, price, stated = get("quantity"), get("unit_price"), get("line_total")
        if quantity is not None and not (quantity > ZERO or (quantity < ZERO and allow_returns)):
            raise _bad_quantity(doc, line_no, quantity, rule_file)
        discount = get("discount")
        computed = _line_amount(quantity, price, currency) if quantity is not None and price is not None else None
        if discount is not None:
            line_discounts = _EXACT.add(line_discounts, discount)
            if computed is not None and off_line:
                computed = _EXACT.subtract(computed, discount)
        if stated is not None and computed is not None and stated != computed:
            shown = f"{quantity} × {price}" + (f" − {discount}" if discount is not None and off_line else "")
            raise _failed("ORD-LINE", f"order {ref!r}, line {line_no}: line total is {stated} but quantity × "
                          f"unit price{' − discount' * (discount is not None and off_line)} is {shown} = {computed}", _line_where(doc, line_no),
                          "line.line_total", rule_file,
                          checks.line_formula if discount is not None else "line_total = quantity × unit_price",
                          stated, computed,
                          "the sender's line does not add up: ask for a corrected export")
        amount = stated if stated is not None else computed
        if amount is None:
            sum_known = False
        else:
            lines_sum = _EXACT.add(lines_sum, amount)
    discount = _amount(f, "discount")
    if not off_line and line_discounts and f.get("discount") is not None and line_discounts > discount:
        raise _failed("ORD-DISCOUNT", f"order {ref!r}: its lines' discounts add up to {line_discounts} but the "
                      f"order's discount, which holds them, is {discount}", doc.line, "order.discount", rule_file,
                      "Σ line discounts ≤ discount", discount, line_discounts, _ADD_UP)
    in_subtotal = checks.discount == "in_subtotal"
    subtotal = f.get("subtotal")
    if sum_known:
        expected = _EXACT.subtract(lines_sum, discount) if in_subtotal else lines_sum
        if subtotal is None:
            subtotal = expected
        elif subtotal != expected:
            raise _failed("ORD-SUBTOTAL", f"order {ref!r}: subtotal is {subtotal} but its {len(doc.lines)} line(s) "
                          f"add up to {lines_sum}" + (f", less the discount {discount}: {expected}" if in_subtotal
                                                       else ""),
                          doc.line, "order.subtotal", rule_file, checks.subtotal_formula, subtotal, expected,
                          _ADD_UP + _subtotal_hint(checks, lines_sum, discount, subtotal))
        if steps is not None:
            steps.append(f"subtotal {subtotal} = Σ lines {lines_sum}" + (f" − discount {discount} ✓" if in_subtotal
                                                                          else " ✓"))
    tax = f.get("tax")
    extra = _extra(f) if checks.reads_extra else {}
    if extra and checks.tax_keys:      # tax parts are custom fields (order_rules: extra.name only)
        parts = [(name, _number(doc, name, text, checks, rule_file)) for name, key in checks.tax_keys
                 if (text := extra.get(key))]
        if parts:       # a file without its tax lines (an older layout) is not checked on them
            parts_sum = ZERO
            for _, value in parts:
                parts_sum = _EXACT.add(parts_sum, value)
            if tax is None:
                tax = parts_sum
            elif tax != parts_sum:
                raise _failed("ORD-TAX", f"order {ref!r}: tax is {tax} but its parts add up to {parts_sum}",
                              doc.line, "order.tax", rule_file, checks.tax_formula, tax, parts_sum, _ADD_UP)
            if steps is not None:
                steps.append(f"tax {tax} = " + " + ".join(f"{name} {value}" for name, value in parts) + " ✓")
    total = f.get("total")
    if total is None or subtotal is None:
        return steps
    shipping = f.get("shipping")
    computed = subtotal if shipping is None else _EXACT.add(subtotal, shipping)
    include_tax = checks.prices_include_tax
    if not include_tax and tax is not None:
        computed = _EXACT.add(computed, tax)
    adds = [(name, _amount(f, name) if key is None else _number(doc, name, extra.get(key), checks, rule_file))
            for name, key in checks.add_keys]
    for _, value in adds:
        computed = _EXACT.add(computed, value)
    if not in_subtotal:
        computed = _EXACT.subtract(computed, discount)
    off_total = checks.refunds == "off_total"
    if off_total:
        computed = _EXACT.subtract(computed, _amount(f, "refunded"))
    if total != computed:
        formula = checks.total_formula
        raise _failed("ORD-TOTAL", f"order {ref!r}: total is {total} but {formula.split(' = ')[1]} is {computed}",
                      doc.line, "order.total", rule_file, formula, total, computed,
                      _ADD_UP + ("" if include_tax else
                                 "; if the export's prices include tax, set prices_include_tax = true in "
                                 "[order_checks]"))
    if steps is not None:
        terms = [("subtotal", subtotal), ("shipping", _amount(f, "shipping")),
                 *([] if include_tax else [("tax", tax if tax is not None else ZERO)]), *adds]
        minus = [*([] if in_subtotal else [("discount", discount)]),
                 *([("refunded", _amount(f, "refunded"))] if off_total else [])]
        shown = " + ".join(f"{name} {value}" for name, value in terms) + "".join(
            f" − {name} {value}" for name, value in minus)
        if include_tax:
            shown += f" (tax {tax if tax is not None else 0} included)"
        steps.append(f"total {total} = {shown} ✓")
    refunded = f.get("refunded")
    if refunded is not None and checks.refunds == "outside_total" and refunded > abs(total):
        raise _failed("ORD-REFUND", f"order {ref!r}: {refunded} refunded, more than its total {total}", doc.line,
                      "order.refunded", rule_file, "refunded ≤ total", refunded, total,
                      "the refunded amount cannot exceed what was paid: check the column mapped to refunded")
    if refunded and steps is not None:
        steps.append(f"refunded {refunded} ≤ total {total} ✓")
    return steps


def _subtotal_hint(checks: OrderChecks, lines_sum: Decimal, discount: Decimal, subtotal: Decimal) -> str:
    """When the other place of the discount would add up, say so."""
    if not discount:
        return ""
    if checks.discount == "after_subtotal" and _EXACT.subtract(lines_sum, discount) == subtotal:
        return "; the subtotal is after the discount here: set discount = \"in_subtotal\" in [order_checks]"
    if checks.discount == "in_subtotal" and lines_sum == subtotal:
        return "; the subtotal is before the discount here: set discount = \"after_subtotal\" in [order_checks]"
    return ""


# A bulk export repeats its quantities and prices: an equal product rounds the same, whatever its spelling.
@lru_cache(maxsize=4096)
def _line_amount(quantity: Decimal, price: Decimal, currency: str | None) -> Decimal:
    return round_money(_EXACT.multiply(quantity, price), currency)


def _amount(fields: dict, name: str) -> Decimal:
    value = fields.get(name)
    return ZERO if value is None else value


def _extra(fields: dict) -> dict:
    """The order's custom fields (one JSON text in the document), read once per order."""
    text = fields.get("extra")
    return json.loads(text) if text else {}


def _number(doc: Document, name: str, text: str | None, checks: OrderChecks, rule_file: str) -> Decimal:
    """A custom field the arithmetic names (`extra.NAME`), read as a number; 0 when empty."""
    if not text:
        return ZERO
    try:
        return _parsed(text, checks.decimal_comma)
    except ValueRejected as e:
        raise FileRejected("ORD-AMOUNT", f"order {doc.external_ref!r}: {name} is {text!r}, not an amount: "
                           f"{e.message}", line=doc.line, field=f"order.{name}", rule=rule_file,
                           check=f"{name} is an amount", stated=text, computed=None,
                           hint="the [order_checks] arithmetic names this custom field: map a column of "
                                "amounts to it") from None


@lru_cache(maxsize=4096)         # tax lines and fees repeat across a bulk export
def _parsed(text: str, decimal_comma: bool) -> Decimal:
    return parse_decimal(text, decimal_comma=decimal_comma)


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


def catalogue_price(price: Decimal, catalogue, vat_rate, include_tax: bool, currency: str | None) -> tuple:
    """The catalogue's price on the order's basis, and whether the order's `price` is that price.

    The catalogue holds prices before tax (products.unit_price, with vat_rate in %). When the
    order's prices include tax, the two are compared like with like: the same price when the
    catalogue's with its VAT, or the order's without it, rounds to the other (either way, so a
    cent lost in one rounding is not a difference). Without a VAT rate they cannot be converted
    and are compared as they are. Returns (catalogue price on the order's basis, same, before_tax):
    `before_tax` is the order's price without its VAT (None when not converted).
    """
    try:
        stored = Decimal(str(catalogue))
    except InvalidOperation:         # a price typed into the database by hand that is not a number
        return catalogue, False, None
    if not include_tax or vat_rate in (None, ""):
        return stored, price == stored, None
    try:
        factor = _EXACT.add(1, _EXACT.divide(Decimal(str(vat_rate)), 100))
        if not factor:
            raise InvalidOperation
    except InvalidOperation:         # a rate typed into the database by hand that is not a usable number
        return stored, price == stored, None
    with_tax = round_money(_EXACT.multiply(stored, factor), currency)
    before_tax = round_money(_EXACT.divide(price, factor), currency)
    return with_tax, price == with_tax or before_tax == stored, before_tax
