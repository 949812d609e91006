"""Custom fields (`extra`) and accounting accounts, through the real service: the WooCommerce
example imports exactly, a line left with no account refuses the file before any number is
taken, and a product's own account in the catalogue wins with priority = "database"."""

from __future__ import annotations

import json

from conftest import SAMPLES, importd, stop
from test_rules import edit_rules, events

WOO = "woocommerce-orders-2026-11.csv"


def woo_sample() -> str:
    return (SAMPLES / WOO).read_text(encoding="utf-8")


def test_woocommerce_export_dropped_into_a_running_service_imports_exactly(setup):
    """Two orders, four lines: numbers, amounts to the cent, accounts, VAT codes and the
    custom fields' JSON are exactly as the export and the rules say; the ack echoes them."""
    service = setup.start_watching()
    try:
        setup.drop_sample(WOO)
        setup.wait_for(lambda: WOO in setup.archived(), what="the WooCommerce export to be archived")
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    orders = setup.rows("SELECT number, external_ref, customer_code, order_date, currency, status, subtotal,"
                        " shipping, discount, tax, total, shipping_account, shipping_vat_code, extra"
                        " FROM orders ORDER BY number")
    assert orders == [
        {"number": "CMD-2026-000001", "external_ref": "4101", "customer_code": "CAMI001",
         "order_date": "2026-11-28", "currency": "EUR", "status": "paid", "subtotal": "52.30",
         "shipping": "5.90", "discount": "0.00", "tax": "11.64", "total": "69.84",
         "shipping_account": "708500", "shipping_vat_code": "FR20",
         "extra": '{"channel":"woocommerce","note":"Livrer en point relais",'
                  '"payment_method":"Carte bancaire (Stripe)","shipping_method":"Colissimo"}'},
        {"number": "CMD-2026-000002", "external_ref": "4102", "customer_code": "ATEL001",
         "order_date": "2026-11-28", "currency": "EUR", "status": "paid", "subtotal": "68.00",
         "shipping": "0.00", "discount": "5.00", "tax": "12.60", "total": "75.60",
         "shipping_account": "708500", "shipping_vat_code": "FR20",
         "extra": '{"channel":"woocommerce","payment_method":"PayPal","shipping_method":"Livraison gratuite"}'},
    ]
    lines = setup.rows("SELECT order_number, line_no, sku, description, quantity, unit_price, line_total,"
                       " account, vat_code, extra FROM order_lines ORDER BY order_number, line_no")
    assert [tuple(li.values()) for li in lines] == [
        ("CMD-2026-000001", 1, "TS-LAV-M", "T-shirt Lavande M", "2", "19.90", "39.80", "706100", "FR20",
         '{"category":"T-shirts"}'),
        ("CMD-2026-000001", 2, "AFF-PRO-50", "Affiche Provence 50x70", "1", "12.50", "12.50", "707100", "FR20",
         '{"category":"Posters"}'),
        ("CMD-2026-000002", 1, "SW-OLI-L", "Sweat à capuche Olive L", "1", "44.00", "44.00", "706200", "FR20",
         '{"category":"Sweats"}'),
        ("CMD-2026-000002", 2, "TOTE-LIN", "Tote bag Lin", "3", "8.00", "24.00", "707200", "FR20",
         '{"category":"Accessoires"}'),
    ]
    customers = setup.rows("SELECT code, name, email, phone, postcode, city, country, account, extra"
                           " FROM customers ORDER BY code")
    assert customers == [
        {"code": "ATEL001", "name": "Atelier Petit SARL", "email": "thomas.petit@example.com",
         "phone": "+33556001122", "postcode": "33000", "city": "Bordeaux", "country": "FR", "account": "411000",
         "extra": '{"first_name":"Thomas","last_name":"Petit"}'},
        {"code": "CAMI001", "name": "Camille Martin", "email": "camille.martin@example.fr",
         "phone": "+33478421010", "postcode": "69002", "city": "Lyon", "country": "FR", "account": "411000",
         "extra": '{"first_name":"Camille","last_name":"Martin"}'},
    ]
    # What an accountant or a report asks of the custom fields, in SQL.
    assert setup.rows("SELECT number FROM orders WHERE json_extract(extra, '$.payment_method') = 'PayPal'") == [
        {"number": "CMD-2026-000002"}]
    ack = json.loads((setup.root / "outbox" / "inbox" / f"{WOO}.ack.json").read_text())
    assert [(d["external_ref"], d["number"], d["extra"]["payment_method"]) for d in ack["documents"]] == [
        ("4101", "CMD-2026-000001", "Carte bancaire (Stripe)"), ("4102", "CMD-2026-000002", "PayPal")]


def test_same_export_again_is_a_duplicate_and_a_changed_custom_field_is_a_changed_order(setup):
    """Custom fields are part of the fingerprint: the same rows again import nothing; the same
    order with another payment method is refused as document_changed, naming the field."""
    setup.drop_sample(WOO)
    setup.run_once()
    setup.drop_sample(WOO, as_name="woocommerce-orders-again.csv")
    setup.run_once()
    changed = woo_sample().replace("PayPal", "Virement")
    setup.drop("woocommerce-orders-changed.csv", changed)
    setup.run_once()
    assert setup.archived() == ["woocommerce-orders-2026-11.csv", "woocommerce-orders-again.csv"]
    states = {r["name"]: r["state"] for r in setup.rows("SELECT name, state FROM import_files")}
    assert states["woocommerce-orders-again.csv"] == "duplicate"
    error = setup.sidecar("woocommerce-orders-changed.csv")
    assert error["code"] == "document_changed"
    assert "extra" in error["message"] and "Virement" in error["message"]
    assert len(setup.rows("SELECT number FROM orders")) == 2


def test_line_with_no_account_quarantines_the_file_before_any_number_is_taken(setup):
    """A category the value table lacks (and no account in the catalogue), with require_accounts:
    the file goes to quarantine naming the line, the product and the table to extend; no order,
    no customer, no number — the next good file gets CMD-…-000001."""
    setup.drop("woocommerce-orders-bad.csv", woo_sample().replace(",Posters,", ",Bougies,"))
    setup.run_once()
    error = setup.sidecar("woocommerce-orders-bad.csv")
    assert (error["code"], error["line"], error["field"], error["rule"]) == (
        "missing_account", 3, "line.account", "woocommerce-orders.toml")
    assert "AFF-PRO-50" in error["message"] and "[line] account.map" in error["message"]
    assert "'Category'" in error["message"]
    assert setup.rows("SELECT count(*) AS n FROM orders") == [{"n": 0}]
    assert setup.rows("SELECT count(*) AS n FROM customers") == [{"n": 0}]
    setup.drop_sample(WOO)
    setup.run_once()
    assert [r["number"] for r in setup.rows("SELECT number FROM orders ORDER BY number")] == [
        "CMD-2026-000001", "CMD-2026-000002"]


CATALOGUE_RULES = """\
[format]
parser = "csv"
delimiter = ";"

[document]
kind = "product"

[product]
sku      = { column = "Référence", required = true }
name     = "Désignation"
account  = "Compte"
vat_code = "Code TVA"

[product.extra]
collection = "Collection"
"""


def test_catalogue_account_wins_over_the_category_with_database_priority(setup):
    """A product's own account in the catalogue is kept on its lines (priority = "database"),
    and fills a line whose category the value table does not know; the product keeps its
    custom fields in products.extra."""
    (setup.root / "rules" / "catalogue-accounts.toml").write_text(CATALOGUE_RULES, encoding="utf-8")
    setup.config.write_text(setup.config.read_text().replace(
        '  { match = "catalogue*.csv",',
        '  { match = "comptes*.csv", rules = "rules/catalogue-accounts.toml" },\n  { match = "catalogue*.csv",'))
    setup.drop("comptes-produits.csv", "Référence;Désignation;Compte;Code TVA;Collection\n"
                                       "TS-LAV-M;T-shirt Lavande M;706900;FR20;Été 2026\n"
                                       "AFF-PRO-50;Affiche Provence 50x70;707900;FR055;\n")
    setup.run_once()
    assert setup.rows("SELECT sku, account, vat_code, extra FROM products ORDER BY sku") == [
        {"sku": "AFF-PRO-50", "account": "707900", "vat_code": "FR055", "extra": None},
        {"sku": "TS-LAV-M", "account": "706900", "vat_code": "FR20", "extra": '{"collection":"Été 2026"}'}]
    setup.drop("woocommerce-orders-cat.csv", woo_sample().replace(",Posters,", ",Bougies,"))
    setup.run_once()
    assert setup.quarantined() == []
    lines = setup.rows("SELECT sku, account, vat_code FROM order_lines ORDER BY order_number, line_no")
    assert [tuple(li.values()) for li in lines] == [
        ("TS-LAV-M", "706900", "FR20"),        # the catalogue's, over the table's 706100
        ("AFF-PRO-50", "707900", "FR20"),      # filled from the catalogue: "Bougies" is in no table
        ("SW-OLI-L", "706200", "FR20"),
        ("TOTE-LIN", "707200", "FR20")]


def test_custom_field_names_are_checked_and_may_not_shadow_a_built_in_field(setup):
    """`importd check` reports each mistake with the rules file and line: a bad name, a name
    that is a built-in field, require_accounts on a customer file."""
    edit_rules(setup, "customers-fr.toml",
               ("[customer]\n", "[customer.extra]\n\"Civilité\" = \"Civilité\"\nemail = \"E-mail\"\n\n[customer]\n"),
               ("[document]\n", "[document]\nrequire_accounts = true\n"))
    result = importd("check", "-c", str(setup.config), str(setup.root / "rules" / "customers-fr.toml"))
    assert result.returncode != 0
    errors = result.stderr + result.stdout
    assert "customers-fr.toml:" in errors
    assert "[customer] extra.Civilité: a custom field's name is lower-case letters" in errors
    assert "[customer] extra.email shadows the built-in field 'email'" in errors
    assert "require_accounts = true is for order or invoice files" in errors


def test_custom_fields_follow_each_ones_priority_when_a_customer_comes_back(setup):
    """A custom field with priority = "database" keeps the stored value, one with "source"
    takes the file's: the stored JSON is rewritten with both, and the kept difference is logged."""
    edit_rules(setup, "customers-fr.toml", ("[customer]\n", "[customer.extra]\n"
               "civility = { column = \"Civilité\", map = { \"M.\" = \"Mr\", \"Mme\" = \"Mrs\" }, priority = \"database\" }\n"
               "customer_group = { column = \"Société\", default = \"retail\" }\n"
               "\n[customer]\n"))
    setup.drop_sample("clients-2026-11.csv")
    setup.run_once()
    stored = setup.rows("SELECT code, extra FROM customers WHERE email = 'jean.jeteste@example.fr'")[0]
    assert json.loads(stored["extra"]) == {"civility": "Mr", "customer_group": "retail"}
    sample = (SAMPLES / "clients-2026-11.csv").read_text(encoding="cp1252")
    changed = sample.replace("C0001;M.;Jeteste;Jean;;", "C0001;Mme;Jeteste;Jean;Jeteste SA;")
    setup.drop("clients-2026-12.csv", changed, encoding="cp1252")
    result = setup.run_once()
    after = setup.rows("SELECT name, extra FROM customers WHERE code = ?", stored["code"])[0]
    assert after["name"] == "Jeteste SA"
    assert json.loads(after["extra"]) == {"civility": "Mr", "customer_group": "Jeteste SA"}
    kept = [e for e in events(result, "field.difference") if e["field"] == "extra.civility"]
    assert [(e["stored"], e["incoming"], e["kept"]) for e in kept] == [("Mr", "Mrs", "stored")]


def test_check_shows_custom_fields_in_its_dry_run(setup):
    """`importd check RULES SAMPLE` lists each order with its custom fields and writes nothing."""
    result = importd("check", "-c", str(setup.config), str(setup.root / "rules" / "woocommerce-orders.toml"),
                     str(SAMPLES / WOO))
    assert result.returncode == 0, result.stderr
    assert "payment_method='PayPal'" in result.stdout and "CMD-2026-000002" in result.stdout
    assert "2 document(s), 0 error(s)" in result.stdout


def test_invoice_lines_carry_accounts_and_invoices_custom_fields(setup):
    """A UBL invoice: a custom field on the invoice, accounts and VAT codes by value table on its
    lines; with require_accounts a line left without one quarantines the file, numbering nothing."""
    edit_rules(setup, "ubl-invoice.toml",
               ("[document]\n", "[document]\nrequire_accounts = true\n"),
               ("[invoice_line]\n", "[invoice_line.extra]\nunit = { xpath = \"cbc:InvoicedQuantity/@unitCode\" }\n"
                "\n[invoice.extra]\nchannel = { value = \"peppol\" }\n\n[invoice_line]\n"
                "account  = { xpath = \"cac:Item/cac:SellersItemIdentification/cbc:ID\", "
                "map = { \"SAV-LAV-100\" = \"607100\" }, on_unknown = \"empty\" }\n"
                "vat_code = { xpath = \"cac:Item/cac:ClassifiedTaxCategory/cbc:ID\", map = { \"S\" = \"FR20\" } }\n"))
    setup.drop_sample("ubl-invoice-FA1001.xml")
    setup.run_once()
    error = setup.sidecar("ubl-invoice-FA1001.xml")
    assert (error["code"], error["field"]) == ("missing_account", "invoice_line.account")
    assert "'BOU-PAR-01'" in error["message"] and "[invoice_line] account.map" in error["message"]
    assert setup.rows("SELECT count(*) AS n FROM invoices") == [{"n": 0}]
    edit_rules(setup, "ubl-invoice.toml", ("\"SAV-LAV-100\" = \"607100\"", "\"SAV-LAV-100\" = \"607100\", \"BOU-PAR-01\" = \"607200\""))
    setup.drop_sample("ubl-invoice-FA1001.xml", as_name="FA1001-again.xml")
    setup.run_once()
    assert setup.rows("SELECT number, extra FROM invoices") == [{"number": "FA-2026-000001",
                                                                  "extra": '{"channel":"peppol"}'}]
    assert setup.rows("SELECT sku, account, vat_code, extra FROM invoice_lines ORDER BY line_no") == [
        {"sku": "SAV-LAV-100", "account": "607100", "vat_code": "FR20", "extra": '{"unit":"C62"}'},
        {"sku": "BOU-PAR-01", "account": "607200", "vat_code": "FR20", "extra": '{"unit":"C62"}'}]
