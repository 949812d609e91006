"""Factur-X / ZUGFeRD: a PDF carrying CII XML; the XML is read like any XML file.

The invoice is the attachment the PDF's XMP metadata names (`fx:DocumentFileName`,
Factur-X 1.0 / ZUGFeRD 2.x; `zf:DocumentFileName`, ZUGFeRD 1.0): a PDF may carry other
XML files too (an older ZUGFeRD 1.0 copy, a delivery note). Without such a name the
attachment is found by the names the specifications give it (factur-x.xml, xrechnung.xml,
zugferd-invoice.xml), then any .xml attachment. A PDF without one, or a file that is
not a PDF, is refused with a reason. The XMP is read with the same hardened settings as
every XML; the extracted XML then goes through the hardened XML parser.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from lxml import etree

from parsers import ParseError
from parsers.xml import _PARSER_SAFETY, XmlRecords

# pypdf logs what it repairs in a damaged PDF; ours carry the reason to quarantine instead.
logging.getLogger("pypdf").setLevel(logging.CRITICAL)

# The names the specifications give the invoice attachment, most recent first.
KNOWN_NAMES = ("factur-x.xml", "xrechnung.xml", "zugferd-invoice.xml")
# ZUGFeRD 1.0's XMP schema: its name comes after any other (a PDF may carry both versions).
_ZUGFERD_1_XMP = "urn:ferd:pdfa:CrossIndustryDocument:invoice:1p0#"


def extract_xml(path: Path) -> bytes:
    """The XML invoice embedded in the PDF at `path`, or ParseError."""
    from pypdf import PdfReader

    with open(path, "rb") as f:
        if f.read(5) != b"%PDF-":
            raise ParseError("bad_pdf", "the file is not a PDF (it does not start with %PDF-)",
                             hint="Factur-X invoices are PDF files with embedded XML")
        f.seek(0)
        try:
            reader = PdfReader(f)
            attachments = {a.name: a for a in reader.attachment_list}
            chosen = _choose(list(attachments), document_file_names(reader))
            xml = attachments[chosen].content if chosen else None
        except ParseError:
            raise
        except Exception as e:  # pypdf raises anything from a broken PDF
            raise ParseError("bad_pdf", f"the PDF cannot be read: {type(e).__name__}: {e}",
                             hint="the file may be truncated or damaged") from None
    if not xml:
        raise ParseError("facturx_no_xml", "the PDF carries no Factur-X / ZUGFeRD XML invoice",
                         hint="a plain PDF cannot be imported: ask the sender for a Factur-X PDF or the XML")
    return xml


def document_file_names(reader) -> list[str]:
    """The attachment names the PDF's XMP metadata gives as the invoice, Factur-X's first."""
    try:
        metadata = reader.root_object.get("/Metadata")
        if metadata is None:
            return []
        root = etree.fromstring(metadata.get_object().get_data(), etree.XMLParser(**_PARSER_SAFETY))
    except Exception:               # pypdf raises anything from a damaged stream; lxml a syntax error
        return []                   # unreadable metadata: the attachment names decide
    if root.getroottree().docinfo.doctype:
        return []                   # a DTD in XMP is never legitimate: ignore it, do not read it
    found = []                      # (is ZUGFeRD 1.0, name): a property is an element or an attribute
    for element in root.iter(etree.Element):
        tag = etree.QName(element)
        if tag.localname == "DocumentFileName" and (element.text or "").strip():
            found.append((tag.namespace == _ZUGFERD_1_XMP, element.text.strip()))
        for key, value in element.attrib.items():
            name = etree.QName(key)
            if name.localname == "DocumentFileName" and value.strip():
                found.append((name.namespace == _ZUGFERD_1_XMP, value.strip()))
    return [name for _, name in sorted(found, key=lambda item: item[0])]


def _choose(names: list[str], named: list[str]) -> str | None:
    """The attachment that is the invoice: the one the metadata names, else a known name, else any .xml."""
    for name in named:
        if name in names:
            return name
    folded = {name.lower(): name for name in reversed(names)}
    for known in KNOWN_NAMES:
        if known in folded:
            return folded[known]
    return next((name for name in names if name.lower().endswith(".xml")), None)


def open_records(path: Path, options: dict) -> XmlRecords:
    return XmlRecords(io.BytesIO(extract_xml(path)), options)
