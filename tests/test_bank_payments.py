"""Money in from banks (ISO 20022 camt.053, .001.02 and .001.08, one rules file) and from Stripe's payments
export, booked to the right invoice through the real service: per transaction, signed, split, parked."""

from __future__ import annotations

import json
import urllib.request
from datetime import date

import pytest

from builders import ubl_invoice, xlsx
from conftest import SAMPLES, importd
from webpage import start_web, stop_web

BACKENDS = ("sqlite", "postgresql")     # each test runs on both

STATEMENTS = {"v02": "camt053-2026-12-06.v02.xml", "v08": "camt053-2026-12-06.v08.xml"}
INVOICES = [("F2026-1001", "2026-11-05", "288.00"), ("F2026-1002", "2026-11-10", "50.00"),
            ("F2026-1003", "2026-11-12", "138.00")]


def with_invoices(setup, invoices=INVOICES) -> None:
    for number, issued, amount in invoices:
        setup.drop(f"invoice-{number}.xml", ubl_invoice(number, issued, amount))
    result = setup.run_once()
    assert result.returncode == 0, result.stdout[-2000:]


def balances(setup) -> dict:
    return {r["external_ref"]: (r["amount_paid"], r["balance"], r["payment_status"])
            for r in setup.rows("SELECT external_ref, amount_paid, balance, payment_status FROM invoice_balances")}


def ack(setup, name: str) -> dict:
    return json.loads((setup.root / "outbox" / "inbox" / f"{name}.ack.json").read_text())


@pytest.mark.parametrize("version", sorted(STATEMENTS))
def test_statement_books_each_transaction_to_its_invoice(setup, version):
    """Both camt.053 versions through one rules file: a batch credit split per transaction, a refund debit,
    the bank's fee skipped, a payment for a missing invoice parked then booked, a re-sent statement a duplicate."""
    with_invoices(setup)
    setup.drop_sample(STATEMENTS[version])
    result = setup.run_once()
    assert result.returncode == 0, result.stdout[-2000:]
    assert balances(setup) == {"F2026-1001": ("288.00", "0.00", "paid"),           # 288.10 in, 0.10 refunded
                               "F2026-1002": ("50.00", "0.00", "paid"),
                               "F2026-1003": ("38.00", "100.00", "partially_paid")}
    payments = setup.rows("SELECT number, external_ref, invoice_number, paid_on, amount, currency, customer_code"
                          " FROM payments ORDER BY number")
    assert payments == [
        {"number": "RG-2026-000001", "external_ref": "ENT-0001/1", "invoice_number": "FA-2026-000001",
         "paid_on": "2026-12-01", "amount": "288.10", "currency": "EUR", "customer_code": "BOUT001"},
        {"number": "RG-2026-000002", "external_ref": "TX-0002-1", "invoice_number": "FA-2026-000003",
         "paid_on": "2026-12-02", "amount": "38.00", "currency": "EUR", "customer_code": "BOUT001"},
        {"number": "RG-2026-000003", "external_ref": "TX-0002-2", "invoice_number": "FA-2026-000002",
         "paid_on": "2026-12-02", "amount": "50.00", "currency": "EUR", "customer_code": "BOUT001"},
        {"number": "RG-2026-000004", "external_ref": "ENT-0003/1", "invoice_number": "FA-2026-000001",
         "paid_on": "2026-12-03", "amount": "-0.10", "currency": "EUR", "customer_code": "BOUT001"}]
    # The 12.50 bank fee is nowhere among customer payments; F2026-1099's payment waits for its invoice.
    assert not any("12.50" in p["amount"] for p in payments)
    assert setup.rows("SELECT external_id, waiting_for FROM parked_records") == [
        {"external_id": "ENT-0005/1", "waiting_for": "invoice:F2026-1099"}]
    statement = ack(setup, STATEMENTS[version])
    assert statement["counts"] == {"created": 4, "skipped": 1, "parked": 1}
    split = {d["external_ref"]: d.get("allocations") for d in statement["documents"]}
    assert split["TX-0002-1"] == [{"invoice": "FA-2026-000003", "amount": "38.00", "balance_after": "100.00",
                                   "status": "partially_paid"}]
    assert split["ENT-0001/1"][0]["status"] == "overpaid"         # the over-payment shows in the ack

    setup.drop("invoice-F2026-1099.xml", ubl_invoice("F2026-1099", "2026-12-04", "75.00",
                                                      buyer="Atelier Lumiere", buyer_vat="FR83404833048"))
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT * FROM parked_records") == []
    assert balances(setup)["F2026-1099"] == ("75.00", "0.00", "paid")
    assert setup.rows("SELECT number FROM payments WHERE external_ref = 'ENT-0005/1'") == [
        {"number": "RG-2026-000005"}]

    setup.drop_sample(STATEMENTS[version], as_name="again-" + STATEMENTS[version])
    setup.drop("again-2-" + STATEMENTS[version],
               (SAMPLES / STATEMENTS[version]).read_text().replace("STMT-2026-12-", "STMT-RESENT-"))
    assert setup.run_once().returncode == 0
    states = {r["name"]: r["state"] for r in setup.rows("SELECT name, state FROM import_files")}
    assert states["again-" + STATEMENTS[version]] == "duplicate"          # the same bytes
    assert states["again-2-" + STATEMENTS[version]] == "duplicate"        # the same entries, by the bank's refs
    assert len(setup.rows("SELECT number FROM payments")) == 5
    assert balances(setup)["F2026-1003"] == ("38.00", "100.00", "partially_paid")


def test_stripe_export_books_only_money_received(setup):
    """Failed and fully refunded charges are not booked, a partly refunded one is booked net, fees stay
    out of the amount: F2026-1003's balance moves by exactly what was received (50.00 + 30.00)."""
    with_invoices(setup)
    setup.drop_sample("unified_payments-2026-12.csv")
    result = setup.run_once()
    assert result.returncode == 0, result.stdout[-2000:]
    assert balances(setup)["F2026-1003"] == ("80.00", "58.00", "partially_paid")
    payments = setup.rows("SELECT external_ref, amount, method, extra FROM payments ORDER BY number")
    assert [(p["external_ref"], p["amount"], p["method"]) for p in payments] == [
        ("ch_3QaA1001", "50.00", "card"), ("ch_3QaA1004", "30.00", "card")]
    assert json.loads(payments[0]["extra"])["fee"] == "1.15"
    skipped = [d for d in ack(setup, "unified_payments-2026-12.csv")["documents"] if d["outcome"] == "skipped"]
    assert [d["external_ref"] for d in skipped] == ["ch_3QaA1002", "ch_3QaA1003"]
    assert setup.rows("SELECT last_value FROM counters WHERE series = 'payment'") == [{"last_value": 2}]


def statement(*entries: str, version: str = "08") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
            f'camt.053.001.{version}"><BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-12-06T06:00:00'
            f'</CreDtTm></GrpHdr><Stmt><Id>S1</Id>' + "".join(entries) + '</Stmt></BkToCstmrStmt></Document>\n')


def entry(ref: str, amount: str, text: str, indicator: str = "CRDT") -> str:
    return (f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>'
            f'<BookgDt><Dt>2026-12-06</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>'
            f'<NtryDtls><TxDtls><RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>')


def test_one_amount_for_several_invoices_goes_oldest_first_and_the_rest_is_a_visible_credit(setup):
    """200.00 naming F2026-1003 and F2026-1002 pays the older one (1002, 50.00) then 1003 (138.00); the
    12.00 left is an unallocated credit on the customer, shown by check, status and the ack."""
    with_invoices(setup)
    setup.drop("camt053-multi.xml", statement(entry("M-1", "200.00", "Factures F2026-1003 et F2026-1002")))
    check = importd("check", str(setup.root / "rules" / "camt053-payments.toml"),
                    str(setup.inbox / "camt053-multi.xml"), "-c", str(setup.config))
    assert ("200.00: 50.00 to FA-2026-000002 (balance after 0.00, paid); 138.00 to FA-2026-000003 (balance "
            "after 0.00, paid); 12.00 unallocated: a credit on customer BOUT001") in check.stdout, check.stdout
    assert setup.run_once().returncode == 0
    assert balances(setup) == {"F2026-1001": ("0", "288.00", "unpaid"), "F2026-1002": ("50.00", "0.00", "paid"),
                               "F2026-1003": ("138.00", "0.00", "paid")}
    assert setup.rows("SELECT invoice_number, amount FROM payment_allocations ORDER BY invoice_number") == [
        {"invoice_number": "FA-2026-000002", "amount": "50.00"},
        {"invoice_number": "FA-2026-000003", "amount": "138.00"}]
    assert setup.rows("SELECT amount, unallocated, customer_code FROM payments") == [
        {"amount": "200.00", "unallocated": "12.00", "customer_code": "BOUT001"}]
    status = json.loads(importd("status", "--json", "-c", str(setup.config)).stdout)
    assert status["payments"]["credits"] == [{"customer": "BOUT001", "amount": "12.00"}]
    assert "unallocated credit: customer BOUT001 12.00" in importd("status", "-c", str(setup.config)).stdout
    [document] = ack(setup, "camt053-multi.xml")["documents"]
    assert document["unallocated"] == "12.00" and document["customer"] == "BOUT001"
    section = payments_section(setup)
    assert '<tr data-credit="BOUT001">' in section and "12.00" in section and "unallocated credit" in section
    assert "data-invoice" not in section          # no invoice is over- or under-paid


def payments_section(setup) -> str:
    """The ops page's "Payments that do not match" section, as a browser gets it."""
    web, url = start_web(setup.config)
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            page = response.read().decode()
    finally:
        stop_web(web)
    section = page[page.index('<section id="payments">'):]
    return section[:section.index("</section>")]


def test_over_and_under_paid_invoices_are_on_the_ops_page(setup):
    """An invoice paid in part and one paid too much are listed with their balances on the ops page."""
    with_invoices(setup)
    setup.drop("camt053-odd.xml", statement(entry("O-1", "20.00", "F2026-1002"), entry("O-2", "140.00", "F2026-1003")))
    assert setup.run_once().returncode == 0
    section = payments_section(setup)
    assert "1 overpaid, 1 partially paid" in section
    row = section[section.index('data-invoice="FA-2026-000003"'):]
    assert "-2.00" in row[:row.index("</tr>")] and "overpaid" in row[:row.index("</tr>")]
    row = section[section.index('data-invoice="FA-2026-000002"'):]
    assert "30.00" in row[:row.index("</tr>")] and "partially paid" in row[:row.index("</tr>")]


def test_a_payment_naming_an_invoice_not_there_waits_for_all_it_names(setup):
    """A payment naming F2026-1002 and a missing F2026-1098 is parked, not booked whole to the one found."""
    with_invoices(setup)
    setup.drop("camt053-two.xml", statement(entry("M-2", "80.00", "F2026-1002 F2026-1098")))
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT waiting_for FROM parked_records") == [{"waiting_for": "invoice:F2026-1098"}]
    assert setup.rows("SELECT * FROM payments") == []
    setup.drop("invoice-F2026-1098.xml", ubl_invoice("F2026-1098", "2026-11-01", "30.00"))
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT * FROM parked_records") == []
    assert balances(setup)["F2026-1098"] == ("30.00", "0.00", "paid")       # the older one first
    assert balances(setup)["F2026-1002"] == ("50.00", "0.00", "paid")


def test_xml_rejects_file_holds_the_refused_entries(setup):
    """A transfer whose text names no invoice goes to the rejects file as the bank's <Ntry> (an XML
    file, `.rejects.xml`, to fix and drop again); the others book."""
    with_invoices(setup)
    setup.drop("camt053-rej.xml", statement(entry("R-1", "50.00", "Facture F2026-1002"),
                                            entry("R-2", "20.00", "Acompte commande sans numero")))
    assert setup.run_once().returncode == 1          # a rejected document: the one-shot verbs say so
    text = (setup.root / "quarantine" / "inbox" / "camt053-rej.xml.rejects.xml").read_text()
    assert "<rejects>" in text and "<AcctSvcrRef>R-2</AcctSvcrRef>" in text and "R-1" not in text
    assert "{}" not in text
    assert setup.rows("SELECT external_ref FROM payments") == [{"external_ref": "R-1/1"}]


def test_xlsx_amount_is_stored_to_the_currencys_minor_unit(setup):
    """A 0.1 number cell is stored 0.10 (EUR has cents), 99.9 as 99.90."""
    with_invoices(setup)
    setup.drop("payments-c.xlsx", xlsx({"Paiements": [
        ["Référence", "Facture", "Date", "Montant", "Devise", "Mode"],
        ["CHQ-1", "F2026-1002", date(2026, 12, 12), 0.1, "EUR", "chèque"],
        ["CHQ-2", "F2026-1002", date(2026, 12, 13), 49.9, "EUR", "chèque"]]}))
    assert setup.run_once().returncode == 0
    assert [p["amount"] for p in setup.rows("SELECT amount FROM payments ORDER BY number")] == ["0.10", "49.90"]
    assert balances(setup)["F2026-1002"] == ("50.00", "0.00", "paid")


@pytest.mark.parametrize("old, new, message", [
    ('record = "/c:Document/c:BkToCstmrStmt/c:Stmt/c:Ntry"',
     'record = "/c:Document/c:BkToCstmrStmt/c:Stmt/c:Ntry[c:CdtDbtInd=\'CRDT\']"',
     "is not an element name: record and skip name elements, one per step"),
    ('"../../c:Amt[', '"../../../c:Amt[', "leaves its record: it climbs 3 level(s) with '..'"),
    ('method       = { value = "transfer" }', 'method       = { template = "{c:RmtInf}" }',
     "a template joins columns, and an XML record has none"),
], ids=["filter in record", "xpath leaving its record", "template in XML"])
def test_rules_mistakes_say_what_is_wrong(setup, old, new, message):
    """A filter in `record`, an XPath that climbs out of its record and a template in an XML rules file are
    each reported as what they are, not as a namespace prefix, an empty value or a format spec."""
    rules = setup.root / "rules" / "camt053-payments.toml"
    text = rules.read_text()
    assert old in text
    rules.write_text(text.replace(old, new))
    result = importd("check", str(rules), "-c", str(setup.config))
    output = result.stdout + result.stderr
    assert result.returncode == 2 and message in output, output
    assert "not declared" not in output and "format spec" not in output


def test_a_camt_version_the_rules_do_not_list_is_not_read(setup):
    """camt.053.001.09 is not in the rules' namespace list: the file is quarantined no_records, nothing booked."""
    with_invoices(setup)
    setup.drop("camt053-v09.xml", statement(entry("N-1", "50.00", "Facture F2026-1002"), version="09"))
    assert setup.run_once().returncode == 1
    assert setup.rows("SELECT * FROM payments") == []
