"""EN 16931 arithmetic, checked on a mapped invoice before anything is written.

Exact decimals, no tolerance: the standard's totals are stated to the cent and
its rules are equalities. A violation rejects the file with the rule's code,
the two values and the business terms involved.

BR-CO-10  Σ line net amounts (BT-131)               = BT-106
BR-CO-13  BT-106 − BT-107 + BT-108                  = BT-109
BR-CO-15  BT-109 + BT-110                           = BT-112
BR-CO-16  BT-112 − BT-113 + BT-114                  = BT-115
BR-DEX-09 BT-112 − BT-113 + BT-114 + Σ BT-DEX-002     = BT-115, in its stead when the invoice has a
          third party payment (XRechnung Extension, KoSIT's schematron: `third_party_payment`)
Absent optional totals (allowances, charges, prepaid, rounding, VAT, third party) count as 0.

The lines summed are the lines the rules file selects: the shipped CII rules leave out
Factur-X EXTENDED group (subtotal) and information lines, which do not count.
"""

from __future__ import annotations

from decimal import Decimal

from importd.errors import FileRejected
from importd.model import Document

ZERO = Decimal(0)


def check_invoice(doc: Document, rule_file: str) -> None:
    """Raise FileRejected(code="BR-CO-…") if `doc`'s totals do not add up."""
    f = doc.fields

    def get(name: str) -> Decimal:
        return f.get(name) if f.get(name) is not None else ZERO

    lines_sum = sum((line.get("net_amount", ZERO) for line in doc.lines), ZERO)
    total_lines = f.get("total_lines", lines_sum)
    checks = [
        ("BR-CO-10", "invoice.total_lines", "BT-106 (sum of line net amounts)", total_lines,
         "Σ BT-131 over the lines", lines_sum),
        ("BR-CO-13", "invoice.total_net", "BT-109 (total without VAT)", get("total_net"),
         "BT-106 − BT-107 + BT-108", total_lines - get("allowance_total") + get("charge_total")),
        ("BR-CO-15", "invoice.total_gross", "BT-112 (total with VAT)", get("total_gross"),
         "BT-109 + BT-110", get("total_net") + get("total_tax")),
        ("BR-CO-16", "invoice.amount_due", "BT-115 (amount due)", get("amount_due"),
         "BT-112 − BT-113 + BT-114", get("total_gross") - get("prepaid") + get("rounding"))
        if f.get("third_party_payment") is None else
        ("BR-DEX-09", "invoice.amount_due", "BT-115 (amount due)", get("amount_due"),
         "BT-112 − BT-113 + BT-114 + Σ BT-DEX-002 (third party payments)",
         get("total_gross") - get("prepaid") + get("rounding") + get("third_party_payment")),
    ]
    for code, field, stated_name, stated, computed_name, computed in checks:
        if stated != computed:
            raise FileRejected(
                code, f"invoice {doc.external_ref!r}: {stated_name} is {stated} but {computed_name} is {computed}",
                line=doc.line, field=field, rule=rule_file, stated=str(stated), computed=str(computed),
                hint="the sender's totals do not add up: ask for a corrected invoice")
