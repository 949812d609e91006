"""Payments: matched by our number or the issuer's, parked until their invoice arrives, exact balances."""

from __future__ import annotations

import json
from datetime import date

from builders import xlsx
from conftest import importd, log_lines

BACKENDS = ("sqlite", "postgresql")     # each test runs on both

HEADER = "Payment ID;Invoice;Seller;Paid on;Amount;Currency;Method"


def payments_csv(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def balance(setup, external_ref: str) -> dict:
    return setup.rows("SELECT amount_due, amount_paid, balance, payment_status FROM invoice_balances"
                      " WHERE external_ref = ?", external_ref)[0]


def test_payment_before_its_invoice_is_parked_then_booked_when_it_arrives(setup):
    """A payment for an invoice not there yet is parked (no number), then booked in the invoice's transaction."""
    setup.drop("payments-1.csv", payments_csv("VIR-1;F2026-1001;;2026-11-20;200.00;EUR;transfer"))
    result = setup.run_once()
    assert result.returncode == 0
    assert setup.rows("SELECT * FROM payments") == []
    parked = setup.rows("SELECT entity, external_id, waiting_for FROM parked_records")
    assert parked == [{"entity": "payment", "external_id": "VIR-1", "waiting_for": "invoice:F2026-1001"}]
    assert [line["counts"] for line in log_lines(result.stdout) if line["event"] == "file.done"] == [{"parked": 1}]

    setup.drop_sample("ubl-invoice-FA1001.xml")
    result = setup.run_once()
    assert result.returncode == 0
    assert setup.rows("SELECT * FROM parked_records") == []
    payments = setup.rows("SELECT number, external_ref, invoice_number, amount FROM payments")
    assert payments == [{"number": "RG-2026-000001", "external_ref": "VIR-1", "invoice_number": "FA-2026-000001",
                         "amount": "200.00"}]
    assert balance(setup, "F2026-1001") == {"amount_due": "288.00", "amount_paid": "200.00", "balance": "88.00",
                                           "payment_status": "partially_paid"}


def test_partial_then_overpayment_moves_the_balance_exactly(setup):
    """Payments by the issuer's number and by ours add up exactly; paying too much shows a negative balance."""
    setup.drop_sample("ubl-invoice-FA1001.xml")
    assert setup.run_once().returncode == 0
    setup.drop("payments-1.csv", payments_csv("VIR-1;F2026-1001;;2026-11-20;100.10;EUR;transfer",
                                              "VIR-2;FA-2026-000001;;2026-11-21;0.20;EUR;card"))
    assert setup.run_once().returncode == 0
    assert balance(setup, "F2026-1001") == {"amount_due": "288.00", "amount_paid": "100.30", "balance": "187.70",
                                           "payment_status": "partially_paid"}
    setup.drop("payments-2.csv", payments_csv("VIR-3;F2026-1001;;2026-11-30;200.00;EUR;transfer"))
    assert setup.run_once().returncode == 0
    assert balance(setup, "F2026-1001") == {"amount_due": "288.00", "amount_paid": "300.30", "balance": "-12.30",
                                           "payment_status": "overpaid"}
    numbers = [p["number"] for p in setup.rows("SELECT number FROM payments ORDER BY number")]
    assert numbers == ["RG-2026-000001", "RG-2026-000002", "RG-2026-000003"]


def test_same_payment_again_is_a_duplicate_and_a_changed_one_is_held(setup):
    """A payment met again is not booked twice; a different amount under the same id is held for a person."""
    setup.drop_sample("ubl-invoice-FA1001.xml")
    setup.drop("payments-1.csv", payments_csv("VIR-1;F2026-1001;;2026-11-20;288.00;EUR;transfer"))
    assert setup.run_once().returncode == 0
    setup.drop("payments-2.csv", payments_csv("VIR-1;F2026-1001;;2026-11-20;288.00;EUR;transfer"))
    setup.drop("payments-3.csv", payments_csv("VIR-1;F2026-1001;;2026-11-20;28.80;EUR;transfer"))
    assert setup.run_once().returncode == 1
    states = {r["name"]: r["state"] for r in setup.rows("SELECT name, state FROM import_files")}
    assert states["payments-2.csv"] == "duplicate" and states["payments-3.csv"] == "quarantined"
    assert setup.sidecar("payments-3.csv")["code"] == "document_changed"
    assert balance(setup, "F2026-1001")["payment_status"] == "paid"


def test_parked_payment_met_again_is_not_parked_twice(setup):
    """The same not-yet-matched payment in a second file stays one parked record."""
    setup.drop("payments-1.csv", payments_csv("VIR-9;NOPE-1;;2026-11-20;10.00;EUR;transfer"))
    assert setup.run_once().returncode == 0
    setup.drop("payments-2.csv", payments_csv("VIR-9;NOPE-1;;2026-11-20;10.00;EUR;transfer",
                                              "VIR-10;NOPE-2;;2026-11-20;5.00;EUR;transfer"))
    assert setup.run_once().returncode == 0
    assert [r["external_id"] for r in setup.rows("SELECT external_id FROM parked_records ORDER BY id")] == \
        ["VIR-9", "VIR-10"]


def test_payment_in_another_currency_is_refused(setup):
    """A USD payment for a EUR invoice is not booked: quarantined with currency_mismatch."""
    setup.drop_sample("ubl-invoice-FA1001.xml")
    setup.drop("payments-1.csv", payments_csv("VIR-1;F2026-1001;;2026-11-20;288.00;USD;transfer"))
    assert setup.run_once().returncode == 1
    assert setup.sidecar("payments-1.csv")["code"] == "currency_mismatch"
    assert setup.rows("SELECT * FROM payments") == []


def test_json_and_xlsx_payments_are_exact(setup):
    """JSON decimals and Excel doubles arrive exactly (0.1 is 0.1, never 0.1000000000000000055), stored to the
    currency's minor unit (0.10 EUR), dates from date cells."""
    setup.drop_sample("cii-invoice-2026-118.xml")
    setup.drop("payments-a.json", json.dumps([
        {"id": "pi_1", "invoice": "2026-118", "paid_at": "2026-12-09", "amount": 0.1, "currency": "eur",
         "method": {"type": "card"}}]).replace('"amount": 0.1', '"amount": 0.10'))
    setup.drop("payments-b.json", '{"id": "pi_2", "invoice": "2026-118", "paid_at": "2026-12-10", "amount": 99.9}\n'
                                  '{"id": "pi_3", "invoice": "2026-118", "paid_at": "2026-12-11", "amount": 1e2}\n')
    setup.drop("payments-c.xlsx", xlsx({"Paiements": [
        ["Référence", "Facture", "Date", "Montant", "Devise", "Mode"],
        ["CHQ-1", "2026-118", date(2026, 12, 12), 0.1, "EUR", "chèque"],
        ["CHQ-2", "2026-118", date(2026, 12, 13), 99.9, "EUR", "chèque"]]}))
    result = setup.run_once()
    assert result.returncode == 0, result.stdout
    payments = {p["external_ref"]: (p["amount"], p["paid_on"], p["method"])
                for p in setup.rows("SELECT * FROM payments")}
    assert payments == {"pi_1": ("0.10", "2026-12-09", "card"), "pi_2": ("99.90", "2026-12-10", None),
                        "pi_3": ("100.00", "2026-12-11", None), "CHQ-1": ("0.10", "2026-12-12", "chèque"),
                        "CHQ-2": ("99.90", "2026-12-13", "chèque")}
    assert balance(setup, "2026-118") == {"amount_due": "300.00", "amount_paid": "300.00", "balance": "0.00",
                                         "payment_status": "paid"}


def test_parked_list_shows_waiting_payments(setup):
    """`importd parked list` counts what waits."""
    setup.drop("payments-1.csv", payments_csv("VIR-1;F2026-1001;;2026-11-20;200.00;EUR;transfer"))
    setup.run_once()
    assert "1 parked" in importd("parked", "list", "-c", str(setup.config)).stdout


def test_payment_twice_in_one_file_before_its_invoice_is_booked_once(setup):
    """The same parked payment listed twice is parked once and booked once when the invoice comes."""
    setup.drop("payments-dup.csv", payments_csv("P1;F2026-1001;;2026-11-20;200.00;EUR;transfer",
                                                "P1;F2026-1001;;2026-11-20;200.00;EUR;transfer"))
    assert setup.run_once().returncode == 0
    assert len(setup.rows("SELECT * FROM parked_records")) == 1
    setup.drop_sample("ubl-invoice-FA1001.xml")
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT external_ref, number FROM payments") == [{"external_ref": "P1",
                                                                         "number": "RG-2026-000001"}]
    assert balance(setup, "F2026-1001")["amount_paid"] == "200.00"


def test_a_bad_parked_payment_does_not_block_its_invoice(setup):
    """A parked payment in the wrong currency: the invoice imports, the payment goes to quarantine alone."""
    setup.drop("payments-usd.csv", payments_csv("P9;F2026-1001;;2026-11-20;200.00;USD;transfer"))
    assert setup.run_once().returncode == 0
    setup.drop_sample("ubl-invoice-FA1001.xml")
    result = setup.run_once()
    assert result.returncode == 0, result.stdout[-1500:]
    assert setup.rows("SELECT number FROM invoices") == [{"number": "FA-2026-000001"}]
    assert setup.rows("SELECT * FROM payments") == [] and setup.rows("SELECT * FROM parked_records") == []
    sidecar = json.loads(next((setup.root / "quarantine" / "inbox").glob("parked-*.error.json")).read_text())
    assert sidecar["code"] == "currency_mismatch"
