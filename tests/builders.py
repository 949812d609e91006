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


MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PACKAGE_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        '</Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN_NS}" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Paiements" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'sharedStrings" Target="sharedStrings.xml"/></Relationships>'),
}


def raw_xlsx(path, rows: list[str], shared: list[str] = (), extra_shared=None, extra_rows=None) -> None:
    """A workbook written part by part, as a hostile sender could: sheet "Paiements" whose rows
    are the given `<c>` XML (one string per row) and whatever `extra_rows(write)` writes after them,
    a shared-strings table of `shared` and then whatever `extra_shared(write)` writes (streamed:
    millions of strings never sit in memory)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in PACKAGE_PARTS.items():
            book.writestr(name, text)
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN_NS}"><sheetData>'.encode())
            sheet.write("".join(f'<row r="{n}">{cells}</row>' for n, cells in enumerate(rows, 1)).encode())
            if extra_rows:
                extra_rows(sheet.write)
            sheet.write(b"</sheetData></worksheet>")
        with book.open("xl/sharedStrings.xml", "w") as table:
            table.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN_NS}">'.encode())
            for text in shared:
                table.write(f"<si><t>{text}</t></si>".encode())
            if extra_shared:
                extra_shared(table.write)
            table.write(b"</sst>")
