"""Test inputs built on the spot: plain PDFs, Factur-X PDFs, XLSX workbooks."""

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


def facturx_pdf(cii_xml: bytes) -> bytes:
    """A Factur-X PDF carrying `cii_xml`, made by the factur-x library itself."""
    from facturx import generate_from_binary

    return generate_from_binary(plain_pdf(), cii_xml, flavor="factur-x", level="en16931", check_xsd=False)


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
