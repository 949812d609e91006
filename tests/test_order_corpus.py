"""Real-shaped order exports, one small file per case in tests/fixtures/orders/<vendor>/, each in its
vendor's column layout (Shopify's orders export; WooCommerce's one row per line item): through the
real service with the shipped rules, each imports with exact amounts, or is refused with the
arithmetic (stated, computed, the rules file's formula) in its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_rules import edit_rules

FIXTURES = Path(__file__).parent / "fixtures" / "orders"
RULES = {"shopify": "shopify-orders.toml", "woocommerce": "woocommerce-orders.toml"}
ROUTED = {"shopify": "orders_export_{}.csv", "woocommerce": "woocommerce-orders-{}.csv"}
BEFORE_TAX = ("prices_include_tax = true", "prices_include_tax = false")   # a shop showing prices before tax
ORDER = ("currency", "status", "subtotal", "shipping", "discount", "tax", "total", "duties", "tip", "refunded")

# case: (edits of the shipped rules, the order's amounts in ORDER's order, its lines (quantity, unit price,
# line total, discount), custom fields)
IMPORTED = {
    ("shopify", "percent-code"): ((), ("EUR", "paid", "72.00", "4.90", "8.00", "12.82", "76.90", None, None, "0.00"),
                                  [("2", "25.00", "50.00", "5.00"), ("1", "30.00", "30.00", "3.00")],
                                  '{"discount_code":"AUTOMNE10","tax_1":"12.82"}'),
    ("shopify", "fixed-code"): ((), ("EUR", "paid", "24.80", "3.90", "5.00", "4.78", "28.70", None, None, "0.00"),
                                [("1", "19.90", "19.90", "3.34"), ("1", "9.90", "9.90", "1.66")],
                                '{"discount_code":"MOINS5","tax_1":"4.78"}'),
    ("shopify", "free-shipping-code"): ((), ("EUR", "paid", "30.00", "0.00", "0.00", "5.00", "30.00", None, None,
                                             "0.00"), [("2", "15.00", "30.00", "0.00")],
                                        '{"discount_code":"FREESHIP","tax_1":"5.00"}'),
    ("shopify", "line-discount"): ((), ("EUR", "paid", "47.00", "5.00", "3.00", "8.67", "52.00", None, None, "0.00"),
                                   [("3", "10.00", "30.00", "3.00"), ("1", "20.00", "20.00", "0.00")],
                                   '{"tax_1":"8.67"}'),
    ("shopify", "gift-line"): ((), ("EUR", "paid", "25.00", "4.90", "0.00", "4.98", "29.90", None, None, "0.00"),
                               [("1", "25.00", "25.00", "0.00"), ("1", "0.00", "0.00", "0.00")], '{"tax_1":"4.98"}'),
    ("shopify", "us-tax-exclusive-several-taxes"): (
        (BEFORE_TAX,), ("USD", "paid", "39.98", "5.00", "0.00", "3.99", "48.97", None, None, "0.00"),
        [("2", "19.99", "39.98", "0.00")], '{"tax_1":"1.80","tax_2":"2.02","tax_3":"0.17"}'),
    ("shopify", "ca-gst-pst"): ((BEFORE_TAX,), ("CAD", "paid", "100.00", "10.00", "0.00", "12.50", "122.50", None,
                                               None, "0.00"),
                                [("1", "100.00", "100.00", "0.00")], '{"tax_1":"5.50","tax_2":"7.00"}'),
    ("shopify", "duties"): ((), ("CHF", "paid", "80.00", "15.00", "0.00", "0.00", "101.24", "6.24", None, "0.00"),
                            [("1", "80.00", "80.00", "0.00")], None),
    ("shopify", "partly-refunded"): ((), ("EUR", "partially refunded", "59.80", "4.90", "0.00", "10.78", "64.70", None,
                                          None, "12.50"),
                                     [("2", "12.50", "25.00", "0.00"), ("1", "34.80", "34.80", "0.00")],
                                     '{"tax_1":"10.78"}'),
    ("shopify", "cancelled"): ((), ("EUR", "refunded", "34.80", "4.90", "0.00", "6.62", "39.70", None, None, "39.70"),
                               [("1", "34.80", "34.80", "0.00")], '{"tax_1":"6.62"}'),
    ("shopify", "jpy"): ((), ("JPY", "paid", "3000", "500", "0", "318", "3500", None, None, "0.00"),
                         [("2", "1500", "3000", "0")], '{"tax_1":"318"}'),
    ("woocommerce", "percent-coupon"): ((), ("EUR", "paid", "52.30", "5.90", "5.23", "10.59", "63.56", None, None, None),
                                        [("2", "19.90", "39.80", "3.98"), ("1", "12.50", "12.50", "1.25")],
                                        '{"channel":"woocommerce","coupon":"automne10",'
                                        '"payment_method":"Carte bancaire (Stripe)","shipping_method":"Colissimo"}'),
    ("woocommerce", "fixed-coupon"): ((), ("EUR", "paid", "68.00", "0.00", "5.00", "12.60", "75.60", None, None, None),
                                      [("1", "44.00", "44.00", "3.24"), ("3", "8.00", "24.00", "1.76")], None),
    ("woocommerce", "free-shipping-coupon"): ((), ("EUR", "paid", "52.30", "0.00", "0.00", "10.46", "62.76", None, None,
                                                   None),
                                              [("2", "19.90", "39.80", "0.00"), ("1", "12.50", "12.50", "0.00")], None),
    ("woocommerce", "tip-as-fee"): ((), ("EUR", "paid", "52.30", "5.90", "0.00", "11.64", "72.84", None, None, None),
                                    [("2", "19.90", "39.80", "0.00"), ("1", "12.50", "12.50", "0.00")],
                                    '{"channel":"woocommerce","fees":"3.00","payment_method":"Carte bancaire (Stripe)",'
                                    '"shipping_method":"Colissimo"}'),
    ("woocommerce", "partly-refunded"): ((), ("EUR", "paid", "52.30", "5.90", "0.00", "11.64", "69.84", None, None,
                                              "15.00"),
                                         [("2", "19.90", "39.80", "0.00"), ("1", "12.50", "12.50", "0.00")], None),
    ("woocommerce", "cancelled"): ((), ("EUR", "cancelled", "52.30", "5.90", "0.00", "11.64", "69.84", None, None, None),
                                   [("2", "19.90", "39.80", "0.00"), ("1", "12.50", "12.50", "0.00")], None),
    ("woocommerce", "gbp"): ((), ("GBP", "paid", "52.30", "4.50", "0.00", "11.36", "68.16", None, None, None),
                             [("2", "19.90", "39.80", "0.00"), ("1", "12.50", "12.50", "0.00")], None),
}

# case: (edits, code, field, stated, computed, the formula the rules file uses)
REFUSED = {
    ("shopify", "subtotal-before-discount"): ((), "ORD-SUBTOTAL", "order.subtotal", "80.00", "72.00",
                                              "subtotal = Σ line totals − discount"),
    ("shopify", "tax-lines-do-not-add-up"): ((BEFORE_TAX,), "ORD-TAX", "order.tax", "3.99", "3.82",
                                             "tax = extra.tax_1 + extra.tax_2 + extra.tax_3 + extra.tax_4 + extra.tax_5"),
    ("shopify", "refund-above-total"): ((), "ORD-REFUND", "order.refunded", "300.00", "30.00", "refunded ≤ total"),
    ("shopify", "line-discounts-above-discount"): ((), "ORD-DISCOUNT", "order.discount", "3.00", "5.00",
                                                   "Σ line discounts ≤ discount"),
    ("shopify", "total-does-not-add-up"): ((), "ORD-TOTAL", "order.total", "30.00", "34.90",
                                           "total = subtotal + shipping + duties + tip (prices include tax)"),
    ("shopify", "us-tax-exclusive-several-taxes"): ((), "ORD-TOTAL", "order.total", "48.97", "44.98",
                                                    "total = subtotal + shipping + duties + tip (prices include tax)"),
    ("woocommerce", "total-does-not-add-up"): ((), "ORD-TOTAL", "order.total", "58.20", "69.84",
                                               "total = subtotal + shipping + tax + extra.fees − discount"),
    ("woocommerce", "fee-not-an-amount"): ((), "ORD-AMOUNT", "order.extra.fees", "trois euros", None,
                                           "extra.fees is an amount"),
}


def test_every_fixture_is_a_case():
    """Each file of the corpus has its expectation here, and each expectation its file."""
    files = {(p.parent.name, p.stem) for p in FIXTURES.glob("*/*.csv")}
    assert files == set(IMPORTED) | {case for case in REFUSED if case not in IMPORTED}


@pytest.mark.parametrize("vendor, case", sorted(IMPORTED), ids=lambda v: v)
def test_export_imports_with_exact_amounts(setup, vendor, case):
    """The order of the file is numbered with every amount exact, as the vendor wrote it."""
    edits, amounts, lines, extra = IMPORTED[vendor, case]
    if edits:
        edit_rules(setup, RULES[vendor], *edits)
    setup.drop(ROUTED[vendor].format(case), (FIXTURES / vendor / f"{case}.csv").read_bytes())
    result = setup.run_once()
    assert result.returncode == 0, (result.stdout[-2000:], setup.quarantined())
    orders = setup.rows(f"SELECT number, {', '.join(ORDER)}, extra FROM orders")
    assert [tuple(o[c] for c in ORDER) for o in orders] == [amounts]
    assert orders[0]["number"] == "CMD-2026-000001"
    if extra is not None:
        assert orders[0]["extra"] == extra
    stored = setup.rows("SELECT quantity, unit_price, line_total, discount FROM order_lines ORDER BY line_no")
    assert [(li["quantity"], li["unit_price"], li["line_total"], li["discount"]) for li in stored] == lines


@pytest.mark.parametrize("vendor, case", sorted(REFUSED), ids=lambda v: v)
def test_export_that_does_not_add_up_is_refused_with_its_arithmetic(setup, vendor, case):
    """Quarantined before any number is taken; the reason gives the code, the field, the stated and
    computed amounts, and the formula of the rules file."""
    edits, code, field, stated, computed, check = REFUSED[vendor, case]
    if edits:
        edit_rules(setup, RULES[vendor], *edits)
    name = ROUTED[vendor].format(case)
    setup.drop(name, (FIXTURES / vendor / f"{case}.csv").read_bytes())
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar(name)
    assert (sidecar["code"], sidecar["field"], sidecar["rule"]) == (code, field, RULES[vendor])
    assert (sidecar["stated"], sidecar["computed"], sidecar["check"]) == (stated, computed, check)
    assert stated in sidecar["message"] and (computed is None or computed in sidecar["message"])
    assert setup.rows("SELECT * FROM orders") == [] and setup.rows("SELECT * FROM counters") == []
