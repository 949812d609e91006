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
    assert result.returncode == 1       # a rejected document: the one-shot run says so
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
        'rules_version = 2\n'       # written for this release: its orders are checked (rules/README.md)
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


def test_check_shows_the_arithmetic_of_each_order(setup):
    """`importd check RULES SAMPLE` prints, per order, the formula's terms with their amounts and ✓,
    and for an order that does not add up its code, formula, stated and computed amounts with ✗."""
    rules = str(setup.root / "rules" / "shopify-orders.toml")
    result = importd("check", rules, str(setup.root / "samples" / "orders_export_1.csv"), "-c", str(setup.config))
    assert result.returncode == 0, result.stderr
    assert ("  #1002: subtotal 110.00 = Σ lines 120.00 − discount 10.00 ✓; tax 18.33 = extra.tax_1 18.33 ✓; "
            "total 110.00 = subtotal 110.00 + shipping 0.00 + duties 0 + tip 0 (tax 18.33 included) ✓") \
        in result.stdout.splitlines()
    assert "  #1001: subtotal 59.80 = Σ lines 59.80 − discount 0.00 ✓" in result.stdout
    bad = setup.root / "orders_export_bad.csv"
    bad.write_text(export(setup, ("#9001", "10.00", "0.00", "0.00", "11.00", [("1", "10.00")])), encoding="utf-8")
    result = importd("check", rules, str(bad), "-c", str(setup.config))
    assert ("  #9001: ORD-TOTAL: total = subtotal + shipping + duties + tip (prices include tax): "
            "stated 11.00, computed 10.00 ✗") in result.stdout.splitlines()
    assert setup.rows("SELECT * FROM orders") == []


def test_price_with_vat_against_catalogue_before_vat_is_no_difference(setup):
    """The sample's 12.50 with 20 % VAT is the catalogue's 10.42 before it: no field.difference; a catalogue
    price of 10.00 is a real difference, logged with both bases. The sample's new amounts are stored."""
    setup.drop_sample("catalogue-2026.csv")
    setup.drop_sample("orders_export_1.csv")
    result = setup.run_once()
    assert result.returncode == 0
    assert events(result, "field.difference") == []
    orders = setup.rows("SELECT external_ref, subtotal, discount, tax, total, duties, refunded, extra FROM orders"
                        " ORDER BY number")
    assert [(o["external_ref"], o["subtotal"], o["discount"], o["tax"], o["total"], o["refunded"]) for o in orders] == [
        ("#1001", "59.80", "0.00", "10.78", "64.70", "0.00"), ("#1002", "110.00", "10.00", "18.33", "110.00", "0.00"),
        ("#1003", "31.50", "6.00", "5.25", "31.50", "0.00")]
    lines = setup.rows("SELECT l.sku, l.quantity, l.unit_price, l.line_total, l.discount FROM order_lines l"
                       " JOIN orders o ON o.number = l.order_number WHERE o.external_ref = '#1003' ORDER BY l.line_no")
    assert [tuple(li.values()) for li in lines] == [("SAV-LAV-100", "1", "12.50", "12.50", "0.00"),
                                                    ("SAV-ROS-100", "2", "12.50", "25.00", "6.00"),
                                                    ("ECH-SAV", "1", "0.00", "0.00", "0.00")]
    setup.drop("catalogue-2.csv", "Référence;Désignation;Prix HT;Taux TVA\nSAV-LAV-100;Savon lavande 100 g;10,00;20,0\n")
    again = export(setup, ("#9001", "25.00", "0.00", "4.17", "25.00", [("2", "12.50")]))
    setup.drop("orders_export_2.csv", again.replace("ART-1", "SAV-LAV-100"))
    result = setup.run_once()
    assert result.returncode == 0
    [difference] = [d for d in events(result, "field.difference") if d["entity"] == "order"]
    assert (difference["external_ref"], difference["stored"], difference["incoming"]) == ("#9001", "10.00", "12.50")
    assert (difference["incoming_before_tax"], difference["stored_with_tax"]) == ("10.42", "12.00")
    assert difference["basis"] == "incoming includes 20.0 % VAT, stored excludes it"


def test_the_arithmetic_keys_are_checked(setup):
    """A misspelt choice, a list naming what cannot be summed, an optional required column: config errors."""
    edit_rules(setup, "shopify-orders.toml", ('discount = "in_subtotal"', 'discount = "inside"'),
               ('total_adds = ["duties", "tip"]', 'total_adds = ["duties", "shipping"]'),
               ('{ column = "Duties", optional = true }', '{ column = "Duties", optional = true, required = true }'))
    result = importd("check", "-c", str(setup.config))
    assert result.returncode == 2
    assert "discount must be one of 'after_subtotal', 'in_subtotal'" in result.stderr
    assert "total_adds: 'shipping' cannot be summed here" in result.stderr
    assert "duties: optional = true is for a column an older layout of the export lacks" in result.stderr


def test_an_order_without_lines_has_its_total_checked_from_its_subtotal():
    """No lines (a header-only order): the subtotal is taken as stated, the total still checked."""
    from importd.errors import FileRejected
    from importd.mapping.order_rules import OrderChecks
    from importd.model import Document
    from importd.resolve.order_checks import check_order, explain_order
    from decimal import Decimal as D
    checks = OrderChecks(prices_include_tax=True, discount="in_subtotal", total_adds=("duties", "tip"))
    doc = Document("order", 2, {"external_ref": "#1", "currency": "EUR", "subtotal": D("59.70"),
                                "shipping": D("5.00"), "tax": D("10.78"), "total": D("64.70")})
    assert explain_order(doc, checks, "r.toml") == \
        "#1: total 64.70 = subtotal 59.70 + shipping 5.00 + duties 0 + tip 0 (tax 10.78 included) ✓"
    doc.fields["total"] = D("64.71")
    try:
        check_order(doc, checks, "r.toml")
    except FileRejected as e:
        assert (e.code, e.extra["stated"], e.extra["computed"]) == ("ORD-TOTAL", "64.71", "64.70")
    else:
        raise AssertionError("a total that does not add up passed")


def test_a_line_discount_comes_off_its_line_by_default(setup):
    """line_discount = "off_line" (the default): 3 × 10.00 − 2.50 = 27.50 is the line's total, stored so;
    a stated line total that forgets the discount is refused (ORD-LINE) with the formula."""
    (setup.root / "rules" / "lignes.toml").write_text(
        'rules_version = 2\n[format]\nparser = "csv"\ndelimiter = ";"\ndate_format = "%Y-%m-%d"\n'
        '[document]\nkind = "order"\ngroup_by = "Commande"\n'
        '[order]\nexternal_ref = "Commande"\norder_date = "Date"\ncurrency = { value = "EUR" }\n'
        'subtotal = "Sous-total"\ntotal = "Total"\n'
        '[line]\nquantity = "Qté"\nunit_price = "Prix"\ndiscount = "Remise"\n'
        'line_total = { column = "Montant", optional = true }\n', encoding="utf-8")
    config = setup.config.read_text()
    setup.config.write_text(config.replace("routes = [", 'routes = [\n  { match = "lignes*.csv", rules = "rules/lignes.toml" },', 1))
    setup.drop("lignes-1.csv", "Commande;Date;Sous-total;Total;Qté;Prix;Remise\nA1;2026-11-05;27.50;27.50;3;10.00;2.50\n")
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT line_total, discount FROM order_lines") == [{"line_total": "27.50", "discount": "2.50"}]
    setup.drop("lignes-2.csv", "Commande;Date;Sous-total;Total;Qté;Prix;Remise;Montant\n"
                               "A2;2026-11-05;30.00;30.00;3;10.00;2.50;30.00\n")
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("lignes-2.csv")
    assert (sidecar["code"], sidecar["stated"], sidecar["computed"], sidecar["check"]) == \
        ("ORD-LINE", "30.00", "27.50", "line_total = quantity × unit_price − discount")
    assert sidecar["message"] == ("order 'A2', line 1: line total is 30.00 but quantity × unit price − discount "
                                  "is 3 × 10.00 − 2.50 = 27.50")
