"""Every real e-invoice: the EN 16931 type codes, xs:date time zones, Factur-X PDFs with several
attachments, ZUGFeRD 1.0, EXTENDED sub-lines, XRechnung Extension third party payments, and the
MINIMUM and BASIC WL profiles, through the real service and the shipped rules.

The invoices are small hand-written files (tests/fixtures/einvoices/), each valid to its
syntax's schema (UBL 2.1, or the Factur-X / ZUGFeRD XSD of its profile); a type code is tried by
sending the same invoice with that code.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from builders import facturx_pdf, pdf_with_attachments
from importd.mapping.values import parse_date
from importd.resolve.invoice_types import CREDIT_NOTES, INVOICES, KINDS

BACKENDS = ("sqlite", "postgresql")     # the tests that take `setup` run on both

FIXTURES = Path(__file__).parent / "fixtures" / "einvoices"
CORRECTED = (FIXTURES / "ubl-corrected-384.xml").read_text()
CII_SAMPLE = (Path(__file__).parent.parent / "samples" / "cii-invoice-2026-118.xml").read_text()


def ubl_with_code(code: str, number: str) -> str:
    """The corrected invoice of the fixtures, with another type code (BT-3) and number (BT-1)."""
    return (CORRECTED.replace("<cbc:InvoiceTypeCode>384<", f"<cbc:InvoiceTypeCode>{code}<")
            .replace("<cbc:ID>F2026-2001<", f"<cbc:ID>{number}<"))


def invoice(setup, external_ref: str) -> dict:
    rows = setup.rows("SELECT * FROM invoices WHERE external_ref = ?", external_ref)
    assert len(rows) == 1, external_ref
    return rows[0]


def test_corrected_invoice_keeps_its_type_code_and_the_invoice_it_corrects(setup):
    """384 is an invoice of the invoice series; BT-25 and BT-26 say which invoice it corrects, and
    dates written with a time zone (2026-11-05+01:00, 2026-12-05Z) are stored as their day."""
    setup.drop("F2026-2001.xml", CORRECTED)
    assert setup.run_once().returncode == 0
    row = invoice(setup, "F2026-2001")
    assert (row["kind"], row["type_code"], row["corrects_ref"], str(row["corrects_date"])) == (
        "invoice", "384", "F2026-1001", "2026-10-28")
    assert (str(row["issue_date"]), str(row["due_date"])) == ("2026-11-05", "2026-12-05")
    assert row["number"].startswith("FA-")
    assert Decimal(row["amount_due"]) == Decimal("120.00")


def test_every_type_code_of_en16931_imports_as_what_it_is(setup):
    """Each UNTDID 1001 code of EN 16931's invoice and credit note lists (BR-CL-01) imports, in one
    run, with its code kept and its kind (invoice or credit note, own number series)."""
    for code in KINDS:
        setup.drop(f"code-{code}.xml", ubl_with_code(code, f"T-{code}"))
    assert setup.run_once().returncode == 0, setup.quarantined()
    rows = setup.rows("SELECT external_ref, kind, type_code, number FROM invoices")
    assert {r["external_ref"]: (r["kind"], r["type_code"]) for r in rows} == {
        f"T-{code}": (kind, code) for code, kind in KINDS.items()}
    assert all(r["number"].startswith("FA-" if r["kind"] == "invoice" else "AV-") for r in rows)
    credit_notes = sorted(int(r["number"].rsplit("-", 1)[1]) for r in rows if r["kind"] == "credit_note")
    assert credit_notes == list(range(1, len(CREDIT_NOTES) + 1))      # gapless, a series of their own
    assert len(rows) - len(credit_notes) == len(INVOICES)


@pytest.mark.parametrize("code, reason", [("325", "pro forma"), ("999", "is not an invoice or credit note type"),
                                          ("71", "is not an invoice or credit note type")])
def test_pro_forma_and_unknown_type_codes_are_refused_on_purpose(setup, code, reason):
    """A pro forma invoice, or a code outside EN 16931's lists, is quarantined unsupported_type_code
    with a hint saying how a rules file may take it anyway; it takes no number."""
    setup.drop("odd.xml", ubl_with_code(code, "T-odd"))
    assert setup.run_once().returncode != 0
    error = setup.sidecar("odd.xml")
    assert error["code"] == "unsupported_type_code" and reason in error["message"]
    assert error["field"] == "invoice.type_code" and "map kind" in error["hint"]
    assert setup.rows("SELECT * FROM invoices") == []
    setup.drop("next.xml", ubl_with_code("380", "T-next"))
    setup.run_once()
    assert invoice(setup, "T-next")["number"].endswith("-000001")


def test_self_billed_credit_note_in_creditnote_syntax_keeps_its_sign(setup):
    """261 (self billed credit note) is a credit note: AV series, amounts stored as sent (positive)."""
    setup.drop("AC-2026-17.xml", (FIXTURES / "ubl-creditnote-261.xml").read_bytes())
    assert setup.run_once().returncode == 0
    row = invoice(setup, "AC-2026-17")
    assert (row["kind"], row["type_code"], row["corrects_ref"]) == ("credit_note", "261", "F2026-1001")
    assert row["number"].startswith("AV-") and Decimal(row["amount_due"]) == Decimal("18.00")


def test_cii_type_codes_import_as_ubl_ones_do(setup):
    """The same table serves CII: a self-billed invoice (389) and a credit note (381) in CII."""
    for code in ("389", "381"):
        setup.drop(f"cii-{code}.xml", CII_SAMPLE.replace("<ram:TypeCode>380<", f"<ram:TypeCode>{code}<")
                   .replace("<ram:ID>2026-118<", f"<ram:ID>C-{code}<"))
    assert setup.run_once().returncode == 0
    assert (invoice(setup, "C-389")["kind"], invoice(setup, "C-381")["kind"]) == ("invoice", "credit_note")


def test_extended_sub_lines_count_as_the_profile_says(setup):
    """Factur-X EXTENDED / EXTENDED-CTC-FR: a GROUP line (a subtotal without quantity) and an
    INFORMATION line are not imported; DETAIL lines and plain lines are, BR-CO-10 holds on them,
    and a DETAIL line keeps the group it belongs to."""
    setup.drop("ext.xml", (FIXTURES / "cii-extended-sublines.xml").read_bytes())
    assert setup.run_once().returncode == 0, setup.quarantined()
    row = invoice(setup, "2026-EXT-7")
    lines = setup.rows("SELECT line_id, parent_line_id, net_amount, quantity FROM invoice_lines ORDER BY line_no")
    assert [(li["line_id"], li["parent_line_id"], Decimal(li["net_amount"])) for li in lines] == [
        ("1.1", "1", Decimal("200.00")), ("1.2", "1", Decimal("100.00")), ("3", None, Decimal("50.00"))]
    assert (Decimal(row["total_lines"]), Decimal(row["amount_due"])) == (Decimal("350.00"), Decimal("420.00"))


def test_extended_sub_lines_in_a_factur_x_pdf(setup):
    """The same invoice embedded in a Factur-X EXTENDED PDF imports the same lines."""
    xml = (FIXTURES / "cii-extended-sublines.xml").read_bytes()
    setup.drop("ext.pdf", facturx_pdf(xml, level="extended"))
    assert setup.run_once().returncode == 0, setup.quarantined()
    assert [li["line_id"] for li in setup.rows("SELECT line_id FROM invoice_lines ORDER BY line_no")] == [
        "1.1", "1.2", "3"]


def test_extended_ctc_fr_sub_lines_in_ubl_count_as_the_french_rules_say(setup):
    """UBL EXTENDED-CTC-FR: a line whose BillingReference names the invoice itself is a sub-line;
    the GROUP one does not count, the DETAIL ones do (BR-FREXT-CO-10), and BR-CO-10 holds."""
    setup.drop("F2026-3001.xml", (FIXTURES / "ubl-extended-ctc-fr-sublines.xml").read_bytes())
    assert setup.run_once().returncode == 0, setup.quarantined()
    assert Decimal(invoice(setup, "F2026-3001")["total_lines"]) == Decimal("100.00")
    assert [li["line_id"] for li in setup.rows("SELECT line_id FROM invoice_lines ORDER BY line_no")] == [
        "1.1", "1.2"]


def test_xrechnung_third_party_payments_add_to_the_amount_due(setup):
    """XRechnung Extension: two third party payments (BT-DEX-002, 12.50 + 3.20) are summed exactly
    and BR-DEX-09 (BT-115 = BT-112 − BT-113 + BT-114 + Σ BT-DEX-002) holds instead of BR-CO-16."""
    setup.drop("R-2026-0815.xml", (FIXTURES / "ubl-xrechnung-third-party.xml").read_bytes())
    assert setup.run_once().returncode == 0, setup.quarantined()
    row = invoice(setup, "R-2026-0815")
    assert (Decimal(row["third_party_payment"]), Decimal(row["amount_due"])) == (Decimal("15.70"), Decimal("134.70"))


def test_a_third_party_payment_left_out_of_the_amount_due_is_refused_by_br_dex_09(setup):
    """Stated amount due without the third party payments: refused BR-DEX-09, both values said."""
    text = (FIXTURES / "ubl-xrechnung-third-party.xml").read_text()
    setup.drop("bad.xml", text.replace('<cbc:PayableAmount currencyID="EUR">134.70<',
                                       '<cbc:PayableAmount currencyID="EUR">119.00<'))
    setup.run_once()
    error = setup.sidecar("bad.xml")
    assert error["code"] == "BR-DEX-09" and "134.70" in error["message"] and "119.00" in error["message"]


@pytest.mark.parametrize("name, profile", [("cii-minimum.xml", "MINIMUM"), ("cii-basicwl.xml", "BASIC WL")])
def test_minimum_and_basic_wl_are_refused_naming_the_profile(setup, name, profile):
    """MINIMUM and BASIC WL carry no lines by design: refused profile_without_lines, as XML and as
    a Factur-X PDF, with a hint naming the profile; nothing is numbered."""
    xml = (FIXTURES / name).read_bytes()
    setup.drop(name, xml)
    setup.drop(name.replace(".xml", ".pdf"), facturx_pdf(xml, level="minimum" if "MINIMUM" == profile else "basicwl"))
    setup.run_once()
    for dropped in (name, name.replace(".xml", ".pdf")):
        error = setup.sidecar(dropped)
        assert error["code"] == "profile_without_lines", dropped
        assert profile in error["message"] and profile in error["hint"]
    assert setup.rows("SELECT * FROM invoices") == []


def test_zugferd_1_0_is_refused_with_a_code_naming_the_version(setup):
    """ZUGFeRD 1.0, as its XML or in a PDF of its time (ZUGFeRD-invoice.xml, no XMP), is refused
    zugferd_1_0 — not no_records."""
    zf1 = (FIXTURES / "zugferd1-invoice.xml").read_bytes()
    setup.drop("zf1.xml", zf1)
    setup.drop("zf1.pdf", pdf_with_attachments({"ZUGFeRD-invoice.xml": zf1}))
    setup.run_once()
    for name in ("zf1.xml", "zf1.pdf"):
        error = setup.sidecar(name)
        assert error["code"] == "zugferd_1_0", name
        assert "ZUGFeRD 2" in error["hint"]


BOTH_VERSIONS_XMP = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:zf="urn:ferd:pdfa:CrossIndustryDocument:invoice:1p0#">
 <zf:DocumentType>INVOICE</zf:DocumentType><zf:DocumentFileName>ZUGFeRD-invoice.xml</zf:DocumentFileName>
 <zf:Version>1.0</zf:Version><zf:ConformanceLevel>BASIC</zf:ConformanceLevel></rdf:Description>
<rdf:Description rdf:about="" xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#">
 <fx:DocumentType>INVOICE</fx:DocumentType><fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>
 <fx:Version>1.0</fx:Version><fx:ConformanceLevel>EN 16931</fx:ConformanceLevel></rdf:Description>
</rdf:RDF></x:xmpmeta>"""


def test_pdf_with_zugferd_1_and_factur_x_is_read_from_the_factur_x_attachment(setup):
    """A PDF carrying a ZUGFeRD 1.0 copy and the Factur-X XML, the ZUGFeRD 1.0 ones listed first
    (attachment and XMP description): the Factur-X name of the XMP wins, and that one is imported."""
    zf1 = (FIXTURES / "zugferd1-invoice.xml").read_bytes()
    pdf = pdf_with_attachments({"ZUGFeRD-invoice.xml": zf1, "factur-x.xml": CII_SAMPLE.encode()},
                               xmp=BOTH_VERSIONS_XMP)
    setup.drop("two.pdf", pdf)
    assert setup.run_once().returncode == 0, setup.quarantined()
    assert Decimal(invoice(setup, "2026-118")["amount_due"]) == Decimal("300.00")


XMP = b"""<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
 fx:DocumentType="INVOICE" fx:DocumentFileName="rechnung-2026-118.xml" fx:Version="1.0" fx:ConformanceLevel="EN 16931"/>
</rdf:RDF></x:xmpmeta><?xpacket end="w"?>"""


def test_xmp_document_file_name_picks_the_invoice_among_other_xml_attachments(setup):
    """The invoice attachment has a name of its own; another XML is listed before it. The XMP
    (written as attributes, as some producers do) names it, and it is imported."""
    delivery = b"<?xml version='1.0'?><deliveryNote><id>BL-9</id></deliveryNote>"
    attachments = {"a-delivery-note.xml": delivery, "rechnung-2026-118.xml": CII_SAMPLE.encode()}
    setup.drop("named.pdf", pdf_with_attachments(attachments, xmp=XMP))
    setup.drop("unnamed.pdf", pdf_with_attachments(attachments))
    setup.run_once()
    assert invoice(setup, "2026-118")["type_code"] == "380"
    assert setup.sidecar("unnamed.pdf")["code"] == "no_records"     # without the XMP: the first XML


def test_an_invoice_imported_before_type_codes_were_kept_is_a_duplicate_when_sent_again(setup):
    """The previous rules mapped kind from BT-3 and nothing else; the same invoice sent again with
    today's rules (type_code, corrects_ref, corrects_date more) is a duplicate, not a changed document."""
    rules = setup.root / "rules" / "ubl-invoice.toml"
    today = rules.read_text()
    before = re.sub(r"type_code .*\n", 'kind = { xpath = "cbc:InvoiceTypeCode | cbc:CreditNoteTypeCode", '
                    'required = true, map = { "380" = "invoice", "381" = "credit_note", "384" = "invoice" } }\n', today)
    before = re.sub(r"corrects_(ref|date) .*\n", "", before)
    rules.write_text(before)
    setup.drop("first.xml", CORRECTED)
    assert setup.run_once().returncode == 0
    rules.write_text(today)
    setup.drop("again.xml", CORRECTED)
    assert setup.run_once().returncode == 0, setup.quarantined()
    files = setup.rows("SELECT name, state FROM import_files ORDER BY id")
    assert [(f["name"], f["state"]) for f in files] == [("first.xml", "imported"), ("again.xml", "duplicate")]


@pytest.mark.parametrize("text, day", [("2016-04-04+01:00", "2016-04-04"), ("2016-04-04Z", "2016-04-04"),
                                       ("2016-04-04-05:00", "2016-04-04"), ("2016-04-04+14:00", "2016-04-04")])
def test_xs_date_time_zones_give_the_written_day(text, day):
    """An xs:date time zone is set aside: the calendar day as the issuer wrote it."""
    assert parse_date(text, "%Y-%m-%d") == day


@pytest.mark.parametrize("text", ["2016-04-04+15:00", "2016-04-04+0100", "2016-04-04 Z", "2016-04-31+01:00"])
def test_what_is_no_xs_date_time_zone_stays_a_bad_date(text):
    """An offset past ±14:00, without its colon, after a space, or on a day that does not exist: bad_date."""
    from importd.errors import ValueRejected
    with pytest.raises(ValueRejected) as caught:
        parse_date(text, "%Y-%m-%d")
    assert caught.value.code == "bad_date"


HOSTILE_XMP = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "a-delivery-note.xml">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#">
<fx:DocumentFileName>&e;</fx:DocumentFileName></rdf:Description></rdf:RDF></x:xmpmeta>"""


@pytest.mark.parametrize("xmp", [HOSTILE_XMP, b"\x00 not XML at all"], ids=["entity", "garbage"])
def test_xmp_with_entities_or_damage_is_not_followed(setup, xmp):
    """XMP metadata declaring an entity (which would name the delivery note) or not XML at all is
    not followed: the attachment named factur-x.xml is the invoice."""
    delivery = b"<?xml version='1.0'?><deliveryNote><id>BL-9</id></deliveryNote>"
    setup.drop("odd-xmp.pdf", pdf_with_attachments({"a-delivery-note.xml": delivery,
                                                    "factur-x.xml": CII_SAMPLE.encode()}, xmp=xmp))
    assert setup.run_once().returncode == 0, setup.quarantined()
    assert invoice(setup, "2026-118")["type_code"] == "380"


def test_sum_is_for_an_amount_read_by_xpath(tmp_path):
    """`sum = true` on a text field is a rules error saying what it is for."""
    from importd.errors import ConfigError
    from importd.mapping.rules_loader import load_rules
    rules = (Path(__file__).parent.parent / "rules" / "ubl-invoice.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(rules.replace('currency     = { xpath = "cbc:DocumentCurrencyCode", required = true',
                                 'currency     = { xpath = "cbc:DocumentCurrencyCode", sum = true, required = true'))
    with pytest.raises(ConfigError) as caught:
        load_rules(bad)
    assert "sum = true adds up every node the xpath selects" in str(caught.value)


def test_a_database_without_the_new_columns_gains_them(setup):
    """A database of the previous release (the invoice columns of this change dropped) gains them
    when importd opens it — NUMERIC and DATE on PostgreSQL — old rows keep NULL, new ones fill them."""
    from importd.store.queries import transaction
    from importd.store.schema import INVOICE_TYPE_COLUMNS
    setup.drop_sample("ubl-invoice-FA1001.xml")
    assert setup.run_once().returncode == 0
    conn = setup.db()
    try:
        with transaction(conn):
            for table, columns in INVOICE_TYPE_COLUMNS.items():
                for column in columns:
                    conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    finally:
        conn.close()
    setup.drop("F2026-2001.xml", CORRECTED)
    assert setup.run_once().returncode == 0, setup.quarantined()
    assert invoice(setup, "F2026-1001")["type_code"] is None
    corrected = invoice(setup, "F2026-2001")
    assert (corrected["type_code"], corrected["corrects_ref"]) == ("384", "F2026-1001")
    if setup.backend == "postgresql":
        types = {r["column_name"]: r["data_type"] for r in setup.rows(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND column_name IN ('third_party_payment', 'corrects_date', 'type_code')")}
        assert types == {"third_party_payment": "numeric", "corrects_date": "date", "type_code": "text"}
