"""How a payment's money is shared among the invoices it names: exact, and said out loud.

One invoice: the whole amount goes to it, whatever its balance (paying too much shows as an
overpaid invoice, paying too little as partly paid; a negative amount, a refund, reduces what
was paid). Several invoices named by one payment with one amount: **oldest first** (issue
date, then our number), each up to what it still owes; what is left is an **unallocated
credit** on the customer, kept on the payment (`payments.unallocated`), never spread silently.
A refund naming several invoices takes back from the newest first, up to what each was paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from importd.mapping.values import minor_unit

ZERO = Decimal(0)


@dataclass(slots=True)
class Share:
    invoice: dict           # the invoice row (number, amount_due, amount_paid, issue_date, …)
    amount: Decimal         # the part of the payment booked to it


def split_refs(text: str | None) -> list[str]:
    """The references one payment names: a `find_all` field gives them space-separated."""
    return list(dict.fromkeys((text or "").split()))


def allocate(amount: Decimal, invoices: list[dict]) -> tuple[list[Share], Decimal]:
    """The shares of `amount` among `invoices` and what is left unallocated (see the module)."""
    if len(invoices) == 1:
        return [Share(invoices[0], amount)], ZERO
    oldest_first = sorted(invoices, key=lambda i: (i.get("issue_date") or "", i["number"]))
    shares, left = [], amount
    if amount >= ZERO:
        for invoice in oldest_first:
            owed = Decimal(invoice["amount_due"]) - paid(invoice)
            take = min(left, max(owed, ZERO))
            if take > ZERO:
                shares.append(Share(invoice, take))
                left -= take
    else:
        for invoice in reversed(oldest_first):
            take = min(-left, max(paid(invoice), ZERO))
            if take > ZERO:
                shares.append(Share(invoice, -take))
                left += take
    return shares, left


def paid(invoice: dict) -> Decimal:
    return Decimal(invoice.get("amount_paid") or 0)


def to_minor_unit(amount: Decimal, currency: str | None) -> Decimal:
    """`0.1` EUR → `0.10`: an amount written with fewer places than its currency's minor unit
    (a spreadsheet's number cell) gets them; more places are kept as they are, never rounded."""
    places = minor_unit(currency)
    if amount.as_tuple().exponent > -places:
        return amount.quantize(Decimal(1).scaleb(-places))
    return amount
