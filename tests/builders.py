"""Test inputs built on the spot: plain PDFs, Factur-X PDFs, XLSX workbooks, order exports."""

from __future__ import annotations

import io

from pypdf import PdfWriter


def plain_pdf() -> bytes:
    """A one-page PDF with nothing embedded."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def facturx_pdf(cii_xml: bytes, level: str = "en16931") -> bytes:
    """A Factur-X PDF of `level` carrying `cii_xml`, made by the factur-x library itself: its XMP
    metadata names factur-x.xml as the invoice."""
    from facturx import generate_from_binary

    return generate_from_binary(plain_pdf(), cii_xml, flavor="factur-x", level=level, check_xsd=False)


def pdf_with_attachments(attachments: dict[str, bytes], xmp: bytes | None = None) -> bytes:
    """A one-page PDF embedding `attachments` (name → bytes) in that order, with `xmp` as its
    XMP metadata stream when given: a PDF as other producers (ZUGFeRD 1.0, XRechnung tools) make it."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    for name, data in attachments.items():
        writer.add_attachment(name, data)
    if xmp is not None:
        writer.xmp_metadata = xmp
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def xlsx(sheets: dict[str, list[list]]) -> bytes:
    """A workbook with the named sheets and rows (dates, numbers, text as given)."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def order_rows(setup, first: int, count: int) -> str:
    """`count` single-line orders in the Shopify export's shape, names #first…"""
    header = (setup.root / "samples" / "orders_export_1.csv").read_text().splitlines()[0]
    columns = header.split(",")
    rows = [header]
    for n in range(first, first + count):
        row = dict.fromkeys(columns, "")
        row.update({"Name": f"#{n}", "Email": f"c{n % 7}@example.fr", "Currency": "EUR", "Subtotal": "10.00",
                    "Shipping": "0.00", "Taxes": "1.67", "Total": "10.00", "Discount Amount": "0.00",
                    "Created at": "2026-11-05 12:00:00 +0100", "Lineitem quantity": "1",
                    "Lineitem name": "Savon", "Lineitem price": "10.00", "Lineitem sku": "SAV",
                    "Billing Name": f"Client {n % 7}", "Billing Country": "FR"})
        rows.append(",".join(row[c] for c in columns))
    return "\n".join(rows) + "\n"


def ubl_invoice(number: str, issued: str, amount: str, buyer: str = "Boutique Jeteste",
                buyer_vat: str = "FR40303265045") -> str:
    """A one-line UBL 2.1 invoice of `amount` (VAT exempt, so net = gross = amount due)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>
  <cbc:ID>{number}</cbc:ID><cbc:IssueDate>{issued}</cbc:IssueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode><cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cac:AccountingSupplierParty><cac:Party>
    <cac:PartyTaxScheme><cbc:CompanyID>FR32123456789</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>Savonnerie des Tanneurs SARL</cbc:RegistrationName></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party>
    <cac:PartyTaxScheme><cbc:CompanyID>{buyer_vat}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>{buyer}</cbc:RegistrationName></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingCustomerParty>
  <cac:TaxTotal><cbc:TaxAmount currencyID="EUR">0.00</cbc:TaxAmount></cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="EUR">{amount}</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="EUR">{amount}</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="EUR">{amount}</cbc:TaxInclusiveAmount>
    <cbc:PayableAmount currencyID="EUR">{amount}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
  <cac:InvoiceLine>
    <cbc:ID>1</cbc:ID><cbc:InvoicedQuantity unitCode="C62">1</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="EUR">{amount}</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>Savons assortis</cbc:Name>
      <cac:ClassifiedTaxCategory><cbc:ID>E</cbc:ID><cbc:Percent>0</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="EUR">{amount}</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>
</Invoice>
"""
