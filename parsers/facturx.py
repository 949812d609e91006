"""Factur-X / ZUGFeRD: a PDF carrying CII XML; the XML is read like any XML file.

The `factur-x` library finds the embedded file (factur-x.xml, zugferd-invoice.xml,
xrechnung.xml); a PDF without one, or a file that is not a PDF, is refused with
a reason. The extracted XML then goes through the same hardened parser.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from parsers import ParseError
from parsers.xml import XmlRecords

# The library logs its own errors; ours carry the reason to quarantine instead.
logging.getLogger("factur-x").setLevel(logging.CRITICAL)


def extract_xml(path: Path) -> bytes:
    """The XML embedded in the PDF at `path`, or ParseError."""
    from facturx import get_xml_from_pdf

    with open(path, "rb") as f:
        if f.read(5) != b"%PDF-":
            raise ParseError("bad_pdf", "the file is not a PDF (it does not start with %PDF-)",
                             hint="Factur-X invoices are PDF files with embedded XML")
        f.seek(0)
        try:
            _, xml = get_xml_from_pdf(f, check_xsd=False)
        except Exception as e:  # the library raises anything from a broken PDF
            raise ParseError("bad_pdf", f"the PDF cannot be read: {type(e).__name__}: {e}",
                             hint="the file may be truncated or damaged") from None
    if not xml:
        raise ParseError("facturx_no_xml", "the PDF carries no Factur-X / ZUGFeRD XML invoice",
                         hint="a plain PDF cannot be imported: ask the sender for a Factur-X PDF or the XML")
    return xml


def open_records(path: Path, options: dict) -> XmlRecords:
    return XmlRecords(io.BytesIO(extract_xml(path)), options)
