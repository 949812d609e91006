"""E-invoice XML that importd refuses on purpose, recognised while the XML is read.

- ZUGFeRD 1.0 (root `rsm:CrossIndustryDocument`, namespace
  urn:ferd:CrossIndustryDocument:invoice:1p0, 2014–2019): `zugferd_1_0`. It predates
  EN 16931 (its own element names and code usage, no business terms), and it was
  withdrawn when ZUGFeRD 2.0 / Factur-X replaced it; see rules/README.md.
- Factur-X / ZUGFeRD MINIMUM and BASIC WL (the profile is named in
  rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID):
  `profile_without_lines`. Their XML carries header totals only, no invoice lines (by
  design, as the Factur-X specification says): the invoice is the PDF, and EN 16931 asks
  for at least one line (BR-16).
"""

from __future__ import annotations

from parsers import ParseError

ZUGFERD_1_ROOT = "{urn:ferd:CrossIndustryDocument:invoice:1p0}CrossIndustryDocument"
CII_ROOT = "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice"
_RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
_RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
_PROFILE_ID = (f"{{{_RSM}}}ExchangedDocumentContext", f"{{{_RAM}}}GuidelineSpecifiedDocumentContextParameter",
               f"{{{_RAM}}}ID")
# The last part of the guideline ID (urn:factur-x.eu:1p0:minimum, urn:zugferd.de:2p0:basicwl, …).
LINELESS_PROFILES = {"minimum": "MINIMUM", "basicwl": "BASIC WL"}


def refuse_root(tag: str) -> None:
    """Refuse, from its root element alone, an XML invoice of a version importd does not take."""
    if tag == ZUGFERD_1_ROOT:
        raise ParseError("zugferd_1_0", "this is a ZUGFeRD 1.0 invoice (urn:ferd:CrossIndustryDocument:invoice:1p0), "
                                        "a format from before EN 16931 that importd does not read", line=1,
                         hint="ask the sender for ZUGFeRD 2 / Factur-X (or XRechnung, UBL): every invoicing "
                              "program of today writes them")


def refuse_record(element) -> None:
    """Refuse a CII invoice whose Factur-X / ZUGFeRD profile carries no lines."""
    if element.tag != CII_ROOT:
        return
    node = element
    for tag in _PROFILE_ID:
        node = node.find(tag)
        if node is None:
            return
    guideline = (node.text or "").strip()
    profile = LINELESS_PROFILES.get(guideline.split("#")[0].rsplit(":", 1)[-1].lower())
    if profile:
        raise ParseError("profile_without_lines",
                         f"the invoice is of the Factur-X / ZUGFeRD {profile} profile ({guideline}): its XML has "
                         "the header totals only, no invoice lines", line=node.sourceline,
                         hint=f"a {profile} XML only helps read the PDF, which is the invoice: ask the sender "
                              "for the BASIC, EN 16931 (COMFORT) or EXTENDED profile, or enter the invoice by hand")
