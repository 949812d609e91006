"""Orders add up ([order_checks]): every failure names the order, the line and the rule, and takes no number."""

from __future__ import annotations

from conftest import importd

BACKENDS = ("sqlite", "postgresql")     # each test runs on both
from test_rules import edit_rules, events

HEADER_FIELDS = ("Name,Email,Financial Status,Currency,Subtotal,Shipping,Taxes,Total,Discount Amount,"
                 "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Billing Name,Billing Country")


def export(setup, *orders: tuple[str, str, str, str, str, list[tuple[str, str]]]) -> str:
    """A Shopify export: each order is (name, subtotal, shipping, taxes, total, [(quantity, price), …])
    with no discount; columns the rules read and the sample's header order."""
    header = (setup.root / "samples" / "orders_export_1.csv").read_text().splitlines()[0].split(",")
    rows = [",".join(header)]
    for name, subtotal, shipping, taxes, total, lines in orders:
        for i, (quantity, price) in enumerate(lines):
            row = dict.fromkeys(header, "")
            row.update({"Name": name, "Email": "ada@example.fr", "Lineitem quantity": quantity,
                        "Lineitem price": price, "Lineitem name": f"Article {i + 1}", "Lineitem sku": f"ART-{i + 1}"})
            if i == 0:
                row.update({"Financial Status": "paid", "Currency": "EUR", "Subtotal": subtotal, "Shipping": shipping,
                            "Taxes": taxes, "Total": total, "Discount Amount": "0.00",
                            "Created at": "2026-11-05 12:00:00 +0100", "Billing Name": "Ada Lovelace",
                            "Billing Country": "FR"})
            rows.append(",".join(row[c] for c in header))
    return "\n".join(rows) + "\n"


def numbers(setup) -> list[str]:
    return [r["number"] for r in setup.rows("SELECT number FROM orders ORDER BY number")]


def test_absurd_total_rejects_the_file_before_any_number_is_taken(setup):
    """Total 99999999999999999999.99 (past 10^16: refused as read) or 9999999999999999.99 (in range: ORD-TOTAL)
    for a subtotal of 10.00: quarantined, no order, no customer, no number used."""
    setup.drop("orders_export_8.csv", export(setup, ("#9001", "10.00", "0.00", "0.00", "99999999999999999999.99",
                                                     [("1", "10.00")])))
    setup.drop("orders_export_9.csv", export(setup, ("#9001", "10.00", "0.00", "0.00", "9999999999999999.99",
                                                     [("1", "10.00")])))
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("orders_export_8.csv")
    assert (sidecar["code"], sidecar["line"], sidecar["field"]) == ("number_out_of_range", 2, "order.total")
    sidecar = setup.sidecar("orders_export_9.csv")
    assert (sidecar["code"], sidecar["line"], sidecar["field"], sidecar["rule"]) == \
        ("ORD-TOTAL", 2, "order.total", "shopify-orders.toml")
    assert sidecar["message"] == ("order '#9001': total is 9999999999999999.99 but "
                                  "subtotal + shipping + duties + tip (prices include tax) is 10.00")
    assert sidecar["check"] == "total = subtotal + shipping + duties + tip (prices include tax)"
    assert (sidecar["stated"], sidecar["computed"]) == ("9999999999999999.99", "10.00")
    assert setup.rows("SELECT * FROM orders") == [] and setup.rows("SELECT * FROM customers") == []
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    assert numbers(setup)[0] == "CMD-2026-000001"          # the rejected files consumed no number
    assert setup.rows("SELECT MIN(code) AS code FROM customers") == [{"code": "ANNA001"}]


def test_line_with_quantity_zero_is_rejected_naming_the_order_and_its_line(setup):
    """A second line with quantity 0: ORD-QTY, the file line of that line, field line.quantity."""
    setup.drop("orders_export_9.csv", export(setup, ("#9001", "10.00", "0.00", "0.00", "10.00",
                                                     [("1", "10.00"), ("0", "5.00")])))
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("orders_export_9.csv")
    assert (sidecar["code"], sidecar["line"], sidecar["field"], sidecar["check"]) == \
        ("ORD-QTY", 3, "line.quantity", "quantity > 0")
    assert sidecar["message"].startswith("order '#9001', line 2: quantity is 0")


def test_lines_that_do_not_add_up_to_the_subtotal_are_rejected(setup):
    """2 × 12.50 + 1 × 5.00 = 30.00, the export says 31.00: ORD-SUBTOTAL with both values."""
    setup.drop("orders_export_9.csv", export(setup, ("#9001", "31.00", "0.00", "0.00", "31.00",
                                                     [("2", "12.50"), ("1", "5.00")])))
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("orders_export_9.csv")
    assert (sidecar["code"], sidecar["field"], sidecar["stated"], sidecar["computed"]) == \
        ("ORD-SUBTOTAL", "order.subtotal", "31.00", "30.00")


def test_document_atomicity_rejects_the_bad_order_alone_and_numbers_stay_gapless(setup):
    """atomicity = "document": the order that does not add up goes to the rejects file; the others are numbered 1, 2."""
    edit_rules(setup, "shopify-orders.toml", ('atomicity = "file" ', 'atomicity = "document" '))
    setup.drop("orders_export_9.csv", export(
        setup, ("#9001", "10.00", "0.00", "0.00", "10.00", [("1", "10.00")]),
        ("#9002", "10.00", "0.00", "0.00", "9999999999999999.99", [("1", "10.00")]),
        ("#9003", "20.00", "4.90", "4.15", "24.90", [("2", "10.00")])))
    result = setup.run_once()
    assert result.returncode == 0
    orders = setup.rows("SELECT number, external_ref FROM orders ORDER BY number")
    assert orders == [{"number": "CMD-2026-000001", "external_ref": "#9001"},
                      {"number": "CMD-2026-000002", "external_ref": "#9003"}]
    sidecar = setup.sidecar("orders_export_9.csv")
    assert [(d["external_ref"], d["code"], d["line"]) for d in sidecar["documents"]] == [("#9002", "ORD-TOTAL", 3)]
    rejected = events(result, "document.rejected")
    assert [(r["external_ref"], r["error_code"]) for r in rejected] == [("#9002", "ORD-TOTAL")]


def test_prices_before_tax_add_the_tax_to_the_total(setup):
    """prices_include_tax = false: subtotal + shipping + tax = total imports; the TTC sample is refused, with a hint."""
    edit_rules(setup, "shopify-orders.toml", ("prices_include_tax = true", "prices_include_tax = false"))
    setup.drop("orders_export_9.csv", export(setup, ("#9001", "20.00", "5.00", "4.00", "29.00", [("2", "10.00")])))
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 1
    assert numbers(setup) == ["CMD-2026-000001"]
    sidecar = setup.sidecar("orders_export_1.csv")
    assert (sidecar["code"], sidecar["check"]) == ("ORD-TOTAL", "total = subtotal + shipping + tax + duties + tip")
    assert "prices_include_tax = true" in sidecar["hint"]


def test_returns_are_refused_unless_the_rules_allow_them(setup):
    """A line of −1 is refused by default; with allow_returns = true the credit order imports with its negative total."""
    refund = export(setup, ("#9001", "-10.00", "0.00", "0.00", "-10.00", [("-1", "10.00")]))
    setup.drop("orders_export_9.csv", refund)
    assert setup.run_once().returncode == 1
    assert "allow_returns = true" in setup.sidecar("orders_export_9.csv")["hint"]
    edit_rules(setup, "shopify-orders.toml", ("allow_returns = false", "allow_returns = true"))
    setup.drop("orders_export_10.csv", refund)
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT total FROM orders") == [{"total": "-10.00"}]
    assert setup.rows("SELECT quantity, line_total FROM order_lines") == [{"quantity": "-1", "line_total": "-10.00"}]


def test_a_stated_line_total_is_quantity_times_price_rounded_half_up(setup):
    """3 × 0.335 = 1.005 → 1.01 (half up, to the cent): a line stating 1.00 is refused (ORD-LINE), 1.01 imports."""
    (setup.root / "rules" / "lignes.toml").write_text(
        '[format]\nparser = "csv"\ndelimiter = ";"\ndate_format = "%Y-%m-%d"\n'
        '[document]\nkind = "order"\ngroup_by = "Commande"\n'
        '[order]\nexternal_ref = "Commande"\norder_date = "Date"\ncurrency = { value = "EUR" }\n'
        'subtotal = "Sous-total"\ntotal = "Total"\n'
        '[line]\nquantity = "Qté"\nunit_price = "Prix"\nline_total = "Montant"\n', encoding="utf-8")
    config = setup.config.read_text()
    setup.config.write_text(config.replace("routes = [", 'routes = [\n  { match = "lignes*.csv", rules = "rules/lignes.toml" },', 1))
    header = "Commande;Date;Sous-total;Total;Qté;Prix;Montant\n"
    setup.drop("lignes-1.csv", header + "A1;2026-11-05;1.00;1.00;3;0.335;1.00\n")
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("lignes-1.csv")
    assert (sidecar["code"], sidecar["field"], sidecar["stated"], sidecar["computed"]) == \
        ("ORD-LINE", "line.line_total", "1.00", "1.01")
    assert sidecar["check"] == "line_total = quantity × unit_price"
    setup.drop("lignes-2.csv", header + "A1;2026-11-05;1.01;1.01;3;0.335;1.01\n")
    assert setup.run_once().returncode == 0


def test_checks_can_be_turned_off_and_their_keys_are_checked(setup):
    """enabled = false imports what does not add up; a misspelt key or [order_checks] on customers is a config error."""
    edit_rules(setup, "shopify-orders.toml", ("[order_checks]\n", "[order_checks]\nenabled = false\n"))
    setup.drop("orders_export_9.csv", export(setup, ("#9001", "10.00", "0.00", "0.00", "11.00", [("1", "10.00")])))
    assert setup.run_once().returncode == 0
    edit_rules(setup, "shopify-orders.toml", ("enabled = false\n", "allow_return = true\n"))
    with open(setup.root / "rules" / "customers-fr.toml", "a", encoding="utf-8") as rules:
        rules.write("\n[order_checks]\nprices_include_tax = true\n")
    result = importd("check", "-c", str(setup.config))
    assert result.returncode == 2
    assert "shopify-orders.toml" in result.stderr and "unknown key 'allow_return'" in result.stderr
    assert "customers-fr.toml" in result.stderr and "[order_checks] applies to orders" in result.stderr
