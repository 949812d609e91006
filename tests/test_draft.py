"""`importd rules draft`: rules drafted from samples written for the purpose, checked field by
field, accepted by the real `importd check`, and every ambiguity the file cannot settle left
as a TODO that check refuses.

The samples (tests/fixtures/draft/): French orders in cp1252 with `;`, decimal commas with
thousands dots and a day-first date settled by another column; German customers in UTF-8
with a byte-order mark, with an IBAN and a customer group nobody asked for; Spanish products
in cp1252 separated by tabs; French invoices, one row per line; Spanish payments whose dates are settled by the titles'
language; US payments with month-first dates and thousands commas; payments whose every day
is 12 or less, in English: the TODO.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from importd.errors import ConfigError
from importd.mapping.draft import DraftError, draft_rules
from importd.mapping.rules_loader import load_rules
from tests.conftest import SAMPLES, importd

FIXTURES = Path(__file__).parent / "fixtures" / "draft"
PROVED = ["commandes.csv", "kunden.csv", "productos.tsv", "pagos.csv", "payments-us.csv", "factures.csv"]


def drafted(name: str, kind: str | None = None) -> tuple[object, dict]:
    draft = draft_rules(FIXTURES / name, kind)
    return draft, tomllib.loads(draft.text)


def comments_before(text: str, key_line: str) -> str:
    """The comment lines just above the line that starts with `key_line`."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(key_line))
    above = []
    for line in reversed(lines[:at]):
        if not line.startswith("#"):
            break
        above.append(line)
    return "\n".join(reversed(above))


def test_french_orders_in_cp1252_with_decimal_commas_are_drafted_field_by_field():
    """cp1252 (told by its 96 byte), `;`, 1.249,00 read with a decimal comma, rows grouped into orders."""
    draft, rules = drafted("commandes.csv")
    assert rules["format"] == {"parser": "csv", "encoding": "cp1252", "delimiter": ";", "decimal_comma": True,
                               "date_format": "%d/%m/%Y"}
    assert "96 is '–' in cp1252" in comments_before(draft.text, "encoding")
    assert "thousands '.'" in comments_before(draft.text, "decimal_comma")
    assert rules["document"] == {"kind": "order", "group_by": "N° commande", "match_customer": ["email"],
                                 "default_region": "FR"}
    assert rules["order_checks"] == {"prices_include_tax": True}
    assert rules["order"] == {
        "external_ref": {"column": "N° commande", "required": True},
        "order_date": {"column": "Date", "required": True},
        "currency": {"column": "Devise", "transform": "upper"},
        "subtotal": "Sous-total", "shipping": "Frais de port", "tax": "TVA",
        "total": {"column": "Total TTC", "required": True},
        "extra": {"date_de_livraison": "Date de livraison", "mode_de_paiement": "Mode de paiement"},
    }
    assert rules["line"] == {"sku": {"column": "Référence", "required": True}, "description": "Désignation",
                             "quantity": {"column": "Quantité", "required": True},
                             "unit_price": {"column": "Prix unitaire", "required": True},
                             "line_total": "Total ligne"}
    assert rules["customer"] == {
        "name": "Client", "email": {"column": "E-mail", "transform": "email"},
        "phone": {"column": "Téléphone", "transform": "phone", "on_unknown": "keep"},
        "postcode": "Code postal", "city": "Ville", "country": {"column": "Pays", "transform": "country"}}
    assert not draft.todos and not draft.unused


def test_invoice_rows_are_grouped_and_line_amounts_told_from_invoice_totals():
    """`Montant HT` changes between the rows of one invoice: a line's net amount; `Total HT` does not: the
    invoice's; with no amount-due column the gross total is the amount due (required, as check wants)."""
    draft, rules = drafted("factures.csv")
    assert rules["document"] == {"kind": "invoice", "group_by": "N° facture", "match_customer": ["email"]}
    assert rules["invoice"] == {
        "external_ref": {"column": "N° facture", "required": True},
        "issue_date": {"column": "Date facture", "required": True}, "due_date": "Échéance",
        "currency": {"column": "Devise", "transform": "upper"},
        "total_net": "Total HT", "total_tax": "TVA", "total_gross": "Total TTC",
        "amount_due": {"column": "Total TTC", "required": True}}
    assert rules["invoice_line"] == {"description": "Désignation",
                                     "quantity": {"column": "Quantité", "required": True},
                                     "unit_price": {"column": "Prix unitaire", "required": True},
                                     "net_amount": "Montant HT", "vat_rate": "Taux TVA"}
    assert "a line's" in comments_before(draft.text, "net_amount")


def test_a_day_first_date_is_settled_by_another_column():
    """Every day of `Date` is ≤ 12; `Date de livraison` writes 18/11/2026: day first, and it says so."""
    draft, _ = drafted("commandes.csv")
    said = comments_before(draft.text, "date_format")
    assert "'Date': AMBIGUOUS" in said
    assert "column 'Date de livraison' writes '18/11/2026' (line 4): day first" in said


def test_german_customers_in_utf8_with_a_bom_keep_the_columns_nobody_asked_for():
    """UTF-8 with EF BB BF; the name joined from Firma or Vorname Nachname; IBAN and Kundengruppe kept as extra."""
    draft, rules = drafted("kunden.csv")
    assert rules["format"] == {"parser": "csv", "encoding": "utf-8", "delimiter": ";"}
    assert "starts with EF BB BF" in comments_before(draft.text, "encoding")
    assert rules["document"] == {"kind": "customer", "match_customer": ["email", "vat_number"],
                                 "default_region": "DE"}
    customer = rules["customer"]
    assert customer.pop("extra") == {"first_name": "Vorname", "last_name": "Nachname", "civility": "Anrede",
                                     "iban": "IBAN", "kundengruppe": "Kundengruppe"}
    assert customer == {
        "external_ref": {"column": "Kundennummer", "required": True},
        "email": {"column": "E-Mail", "transform": "email"},
        "phone": {"column": "Telefon", "transform": "phone", "on_unknown": "keep"},
        "address1": "Straße", "postcode": "PLZ", "city": "Ort",
        "country": {"column": "Land", "transform": "country"},
        "vat_number": {"column": "USt-IdNr.", "transform": "vat"},
        "name": {"template": ["{Firma}", "{Vorname} {Nachname}"], "required": True},
    }
    assert "IBANs (check digits valid)" in comments_before(draft.text, "iban =")
    assert "3 of 4 rows of 'Land' are DE" in comments_before(draft.text, "default_region")


def test_spanish_products_separated_by_tabs_in_cp1252():
    """Tab-separated, cp1252 told by its € (80); 1.234,50 is a decimal comma with a thousands dot."""
    draft, rules = drafted("productos.tsv")
    assert rules["format"] == {"parser": "csv", "encoding": "cp1252", "delimiter": "\t", "decimal_comma": True}
    assert "80 is '€' in cp1252" in comments_before(draft.text, "encoding")
    assert rules["document"] == {"kind": "product"}
    assert rules["product"] == {"sku": {"column": "Referencia", "required": True}, "name": "Descripción",
                                "unit_price": {"column": "Precio", "required": True}, "vat_rate": "Tipo IVA",
                                "extra": {"existencias": "Existencias"}}


def test_month_first_dates_and_thousands_commas():
    """11/25/2026 can only be month first; "1,234.50" is a decimal point with a thousands comma."""
    draft, rules = drafted("payments-us.csv")
    assert rules["format"]["date_format"] == "%m/%d/%Y"
    assert rules["format"]["decimal_comma"] is False
    assert "'11/25/2026' (line 2) can only be read this way" in comments_before(draft.text, "date_format")
    assert rules["payment"] == {
        "external_ref": {"column": "Payment ID", "required": True},
        "invoice_ref": {"column": "Invoice Number", "required": True},
        "paid_on": {"column": "Payment Date", "required": True},
        "amount": {"column": "Amount", "required": True},
        "currency": {"column": "Currency", "transform": "upper"},
        "method": "Payment Method",
        "extra": {"notes": "Notes"},
    }


def test_an_ambiguous_date_is_settled_by_the_titles_language():
    """Spanish titles, every day ≤ 12: day first, and the comment says it leaned on the language."""
    draft, rules = drafted("pagos.csv")
    assert rules["format"]["date_format"] == "%d/%m/%Y"
    assert rules["format"]["decimal_comma"] is True
    assert "the titles are Spanish" in comments_before(draft.text, "date_format")
    assert draft.doubts == ["'Fecha de pago': %d/%m/%Y because the titles are Spanish"]
    assert not draft.todos


def test_an_ambiguous_date_is_settled_by_the_country_column(tmp_path):
    """English titles, every day ≤ 12, customers in the US: month first, said with the rows that showed it."""
    sample = tmp_path / "orders.csv"
    sample.write_text("Order Number,Order Date,Email,Country,SKU,Quantity,Unit Price\n"
                      "A-1,03/04/2026,a@example.com,US,S1,1,10.00\nA-2,05/06/2026,b@example.com,United States,S2,2,5.00\n",
                      encoding="utf-8")
    draft = draft_rules(sample)
    assert tomllib.loads(draft.text)["format"]["date_format"] == "%m/%d/%Y"
    assert "2 of 2 rows of 'Country' are US, where dates are written month first" in \
        comments_before(draft.text, "date_format")


def test_an_ambiguous_date_nothing_settles_is_a_todo_that_check_refuses(tmp_path):
    """English titles, one date column, every day ≤ 12: a TODO; `importd check` refuses it until a person writes
    the format, and then reads the dates that way."""
    out = tmp_path / "payments.toml"
    drafted_run = importd("rules", "draft", str(FIXTURES / "payments-ambiguous.csv"), "-o", str(out), cwd=tmp_path)
    assert drafted_run.returncode == 1, drafted_run.stderr
    assert "1 decision(s) left to a person" in drafted_run.stdout
    rules = tomllib.loads(out.read_text(encoding="utf-8"))
    assert rules["format"]["date_format"].startswith("TODO: '03/04/2026' (line 2) is day/month or month/day")
    refused = importd("check", str(out), cwd=tmp_path)
    assert refused.returncode == 2
    assert "format.date_format is still a TODO, a decision left to a person" in refused.stderr
    out.write_text(out.read_text(encoding="utf-8").replace(rules["format"]["date_format"], "%m/%d/%Y"),
                   encoding="utf-8")
    checked = importd("check", str(out), str(FIXTURES / "payments-ambiguous.csv"), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "3 document(s), 0 error(s)" in checked.stdout


@pytest.mark.parametrize("name", PROVED)
def test_the_command_writes_a_draft_check_accepts_and_proves_it(tmp_path, name):
    """The real command: the draft is written, passes `importd check`, and its dry run refuses nothing."""
    out = tmp_path / "draft.toml"
    run = importd("rules", "draft", str(FIXTURES / name), "-o", str(out), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "as they would be written" in run.stdout and "would be refused: none" in run.stdout
    checked = importd("check", str(out), str(FIXTURES / name), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert " 0 error(s)" in checked.stdout


def test_the_proof_shows_numbers_and_dates_read_exactly(tmp_path):
    """1.234,50 → 1234.50 and 12/01/2026 (month first) → 2026-12-01, as the dry run would write them."""
    products = importd("rules", "draft", str(FIXTURES / "productos.tsv"), "-o", str(tmp_path / "p.toml"),
                       cwd=tmp_path)
    assert "sku=CAF-EXP-01, name=Cafetera exprés de acero, unit_price=1234.50, vat_rate=21" in products.stdout
    payments = importd("rules", "draft", str(FIXTURES / "payments-us.csv"), "-o", str(tmp_path / "u.toml"),
                       cwd=tmp_path)
    assert "paid_on=2026-12-01, amount=980.00" in payments.stdout
    assert "amount=12500.00" in payments.stdout
    assert "would be written: 3 parked" in payments.stdout      # payments wait for their invoices


def test_refused_documents_are_counted_with_their_reason(tmp_path):
    """A sample with a bad e-mail: the draft is written, the dry run counts the refusal and says why."""
    sample = tmp_path / "kunden-bad.csv"
    data = (FIXTURES / "kunden.csv").read_bytes().replace(b"marie.schulz@example.de", b"marie.schulz at example")
    sample.write_bytes(data)
    run = importd("rules", "draft", str(sample), "-o", str(tmp_path / "k.toml"), cwd=tmp_path)
    assert run.returncode == 1
    assert "would be written: 3 created" in run.stdout
    assert "would be refused: 1 — bad_email × 1" in run.stdout
    assert "line 5" in run.stdout


@pytest.mark.parametrize("sample, shipped", [("orders_export_1.csv", "shopify-orders.toml"),
                                             ("woocommerce-orders-2026-11.csv", "woocommerce-orders.toml")])
def test_a_shopify_or_woocommerce_export_gets_the_shipped_rules(tmp_path, sample, shipped):
    """Recognised by its columns: the draft proposes the shipped rules file as it is."""
    draft = draft_rules(SAMPLES / sample)
    assert draft.shipped == shipped
    assert draft.text.endswith((Path(__file__).parent.parent / "rules" / shipped).read_text(encoding="utf-8"))
    run = importd("rules", "draft", str(SAMPLES / sample), "-o", str(tmp_path / "r.toml"), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"the shipped {shipped}, recognised by its columns" in run.stdout


def test_a_kind_the_titles_do_not_make_clear_is_asked_for(tmp_path):
    (tmp_path / "mystery.csv").write_text("Alpha,Beta\nx,1\ny,2\n", encoding="utf-8")
    run = importd("rules", "draft", "mystery.csv", cwd=tmp_path)
    assert run.returncode == 2
    assert "say it with --kind" in run.stderr
    assert not (tmp_path / "mystery.toml").exists()


@pytest.mark.parametrize("values, expected", [
    (["1.250", "2.500"], "TODO"),                     # a dot and three digits, nothing else: 1.25 or 1250
    (["1.250", "12,50"], True),                       # the comma shows the mark: 1.250 is 1250
    (["1.250", "12.50"], False),                      # the point shows it: 1.250 is 1.25
])
def test_a_decimal_mark_the_file_does_not_show_is_a_todo(tmp_path, values, expected):
    sample = tmp_path / "catalogue.csv"
    sample.write_text("Référence;Désignation;Prix\n" + "".join(f"R{i};Article {i};{v}\n" for i, v in enumerate(values)),
                      encoding="utf-8")
    draft = draft_rules(sample)
    comma = tomllib.loads(draft.text)["format"]["decimal_comma"]
    if expected == "TODO":
        assert str(comma).startswith("TODO: '1.250' (line 2, column 'Prix') is 1.250 or 1250")
        with pytest.raises(ConfigError) as refused:
            load_rules(_written(tmp_path, draft.text))
        assert "format.decimal_comma is still a TODO" in str(refused.value)
    else:
        assert comma is expected


def test_a_column_with_two_decimal_marks_is_not_taken_for_a_price(tmp_path):
    """12.50 beside 3,40 in one column: no price is read from it; it is kept as text and the comment says why."""
    sample = tmp_path / "catalogue.csv"
    sample.write_text("Référence;Désignation;Prix\nR1;A;12.50\nR2;B;3,40\n", encoding="utf-8")
    draft = draft_rules(sample)
    product = tomllib.loads(draft.text)["product"]
    assert "unit_price" not in product and product["extra"] == {"prix": "Prix"}
    assert "'3,40' at line 3 contradicts the column's other numbers" in comments_before(draft.text, "prix =")


def test_a_todo_anywhere_in_a_rules_file_is_a_rules_error(tmp_path):
    """A field's own format left as a TODO is refused with its line, like date_format."""
    path = _written(tmp_path, '[document]\nkind = "payment"\n[payment]\nexternal_ref = "Ref"\n'
                              'paid_on = { column = "Date", format = "TODO: day or month first?" }\n')
    with pytest.raises(ConfigError) as refused:
        load_rules(path)
    assert f"{path}:5: payment.paid_on.format is still a TODO, a decision left to a person: day or month " \
           f"first? — replace the TODO with the answer" in refused.value.problems


def test_a_draft_writes_nothing_but_its_rules_file(tmp_path):
    """Run inside a setup: no database, nothing in the inbox, the setup's files as they were."""
    assert importd("init", str(tmp_path / "site")).returncode == 0
    site = tmp_path / "site"
    before = sorted(p.relative_to(site) for p in site.rglob("*"))
    shutil.copy(FIXTURES / "commandes.csv", tmp_path / "commandes.csv")
    run = importd("rules", "draft", str(tmp_path / "commandes.csv"), "-o", "rules/commandes.toml", cwd=site)
    assert run.returncode == 0, run.stdout + run.stderr
    after = sorted(p.relative_to(site) for p in site.rglob("*"))
    assert set(after) - set(before) == {Path("rules/commandes.toml")}
    assert not (site / "importd.db").exists() and not any((site / "inbox").iterdir())


def test_a_secret_or_a_card_number_is_never_kept(tmp_path):
    """password_hash and card.number are listed as unused, never made custom fields."""
    sample = tmp_path / "customers.csv"
    sample.write_text("email,firstname,lastname,password_hash,card.number,segment\n"
                      "a@example.com,Ann,Lee,9a2b:3:1,4242424242424242,retail\n"
                      "b@example.com,Bob,Ray,7c3d:3:1,4000056655665556,pro\n", encoding="utf-8")
    draft = draft_rules(sample)
    customer = tomllib.loads(draft.text)["customer"]
    assert customer["external_ref"] == {"column": "email", "required": True}
    assert customer["extra"] == {"first_name": "firstname", "last_name": "lastname", "segment": "segment"}
    assert "'password_hash': its title says 'hash', a secret or a card number: never imported" in draft.unused
    assert "'card.number': its title says 'card number', a secret or a card number: never imported" in draft.unused


def test_an_existing_rules_file_is_not_overwritten(tmp_path):
    (tmp_path / "kunden.toml").write_text("# mine\n", encoding="utf-8")
    run = importd("rules", "draft", str(FIXTURES / "kunden.csv"), cwd=tmp_path)
    assert run.returncode == 2 and "exists" in run.stderr
    assert (tmp_path / "kunden.toml").read_text(encoding="utf-8") == "# mine\n"


@pytest.mark.parametrize("sample", ["payments-2026-12.xlsx", "payments-2026-12.json", "ubl-invoice-FA1001.xml"])
def test_a_sample_that_is_not_delimited_text_is_refused_with_what_it_is(tmp_path, sample):
    run = importd("rules", "draft", str(SAMPLES / sample), cwd=tmp_path)
    assert run.returncode == 2
    assert "drafts are made from delimited text (CSV)" in run.stderr


def test_title_lines_above_the_header_are_named(tmp_path):
    (tmp_path / "export.csv").write_text("Export des clients du 02/11/2026\n\nCode client;Nom;E-mail\n"
                                         "C1;Dupont;d@example.fr\nC2;Martin;m@example.fr\n", encoding="utf-8")
    with pytest.raises(DraftError, match=r"line 3 looks like the header \(3 fields separated by ';'"):
        draft_rules(tmp_path / "export.csv")


def test_a_sample_without_rows_cannot_be_drafted(tmp_path):
    (tmp_path / "empty.csv").write_text("Name,Email\n", encoding="utf-8")
    with pytest.raises(DraftError, match="no rows"):
        draft_rules(tmp_path / "empty.csv")


def test_a_code_page_whose_bytes_mean_the_same_in_latin_1_is_written_cp1252(tmp_path):
    """é and è (E9, E8) read alike in cp1252, latin-1 and iso-8859-15: cp1252, and the comment says why."""
    sample = tmp_path / "clients.csv"
    sample.write_bytes("Code client;Prénom;Nom;Ville;E-mail\nC1;Hélène;Lefèvre;Besançon;h@example.fr\n"
                       "C2;Zoé;Brémond;Nîmes;z@example.fr\n".encode("latin-1"))
    draft = draft_rules(sample)
    rules = tomllib.loads(draft.text)
    assert rules["format"]["encoding"] == "cp1252"
    assert "mean the same in cp1252, latin-1 and iso-8859-15" in comments_before(draft.text, "encoding")


def test_a_dos_code_page_is_read_and_said_to_be_uncertain(tmp_path):
    """cp850 (a DOS export): charset-normalizer reads it, the accents come out right, and the draft says it is
    not sure, in the file and on the terminal."""
    sample = tmp_path / "clients.csv"
    sample.write_bytes("Code client;Prénom;Nom;Ville;E-mail\nC1;Éloïse;Lefèvre;Besançon;e@example.fr\n"
                       "C2;Zoé;Brémond;Nîmes;z@example.fr\n".encode("cp850"))
    run = importd("rules", "draft", str(sample), "-o", str(tmp_path / "c.toml"), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "encoding cp850: charset-normalizer's best reading, not certain" in run.stdout
    assert "name=Éloïse Lefèvre" in run.stdout and "city=Besançon" in run.stdout
    assert "NOT SURE" in (tmp_path / "c.toml").read_text(encoding="utf-8")


def test_orders_whose_rows_are_not_consecutive_are_flagged(tmp_path):
    """group_by reads consecutive rows: an order number that comes back later is said, not ignored."""
    sample = tmp_path / "orders.csv"
    sample.write_text("Order Number,Order Date,Email,SKU,Quantity,Unit Price\n"
                      "A-1,2026-11-02,a@example.com,S1,1,10.00\nA-2,2026-11-02,b@example.com,S2,1,5.00\n"
                      "A-1,2026-11-02,a@example.com,S3,2,1.00\n", encoding="utf-8")
    draft = draft_rules(sample)
    assert draft.doubts == ["group_by: 'A-1' comes back at line 4"]
    assert "NOT consecutive in the sample: 'A-1' comes back at line 4" in comments_before(draft.text, "group_by")


def _written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path
