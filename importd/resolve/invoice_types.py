"""What an e-invoice is: its type code (BT-3, UNTDID 1001) → invoice or credit note.

EN 16931 takes BT-3 from UNTDID 1001 and restricts it with rule BR-CL-01 (the CEN
validation artefacts, EN16931-UBL-codes.sch / EN16931-CII-codes.sch), which split the
allowed codes into an invoice list (UBL `InvoiceTypeCode`) and a credit note list (UBL
`CreditNoteTypeCode`). importd follows that split: a code of the credit note list is a
credit note (its own number series, amounts kept as sent), every other allowed code is an
invoice. The code itself is kept (`invoices.type_code`), so a corrected invoice (384), a
self-billed one (389), a prepayment invoice (386) … stay what they are.

Refused on purpose (`unsupported_type_code`): a pro forma invoice (325), which EN 16931
lets through BR-CL-01 but which claims no payment and books nothing, and any code outside
the standard's lists. A rules file that maps `kind` itself decides instead of this table.
"""

from __future__ import annotations

from importd.errors import FileRejected
from importd.model import Document

# BR-CL-01, credit note list (UBL CreditNoteTypeCode).
CREDIT_NOTES = {
    "81": "credit note related to goods or services",
    "83": "credit note related to financial adjustments",
    "261": "self billed credit note",
    "262": "consolidated credit note - goods and services",
    "296": "credit note for price variation",
    "308": "delcredere credit note",
    "381": "credit note",
    "396": "factored credit note",
    "420": "optical character reading (OCR) payment credit note",
    "458": "reversal of credit",
    "532": "forwarder's credit note",
}
# BR-CL-01, invoice list (UBL InvoiceTypeCode), with the codes later code lists added
# (218, 219, 331, 382, 553, 817, 870, 875, 876, 877).
INVOICES = {
    "80": "debit note related to goods or services",
    "82": "metered services invoice",
    "84": "debit note related to financial adjustments",
    "130": "invoicing data sheet",
    "202": "direct payment valuation",
    "203": "provisional payment valuation",
    "204": "payment valuation",
    "211": "interim application for payment",
    "218": "final payment request based on completion of work",
    "219": "payment request for completed units",
    "295": "price variation invoice",
    "326": "partial invoice",
    "331": "commercial invoice which includes a packing list",
    "380": "commercial invoice",
    "382": "commission note",
    "383": "debit note",
    "384": "corrected invoice",
    "385": "consolidated invoice",
    "386": "prepayment invoice",
    "387": "hire invoice",
    "388": "tax invoice",
    "389": "self-billed invoice",
    "390": "delcredere invoice",
    "393": "factored invoice",
    "394": "lease invoice",
    "395": "consignment invoice",
    "456": "debit advice",
    "457": "reversal of debit",
    "527": "self billed debit note",
    "553": "forwarder's invoice discrepancy report",
    "575": "insurer's invoice",
    "623": "forwarder's invoice",
    "633": "port charges documents",
    "751": "invoice information for accounting purposes",
    "780": "freight invoice",
    "817": "claim notification",
    "870": "consular invoice",
    "875": "partial construction invoice",
    "876": "partial final construction invoice",
    "877": "final construction invoice",
    "935": "customs invoice",
}
REFUSED = {
    "325": "a pro forma invoice (325) claims no payment and is not booked: import the invoice that follows it",
}
KINDS = {**dict.fromkeys(INVOICES, "invoice"), **dict.fromkeys(CREDIT_NOTES, "credit_note")}


def kind_of(doc: Document, rule_file: str) -> str:
    """The document's kind: as the rules mapped it, else from its type code, else invoice.

    Sets `kind` in `doc.fields` when it follows from the type code; refuses a type code
    that is not an invoice or credit note of EN 16931 (`unsupported_type_code`).
    """
    fields = doc.fields
    if fields.get("kind"):
        return fields["kind"]
    code = fields.get("type_code")
    if code is None:
        return "invoice"
    if code in KINDS:
        fields["kind"] = KINDS[code]
        return fields["kind"]
    reason = REFUSED.get(code) or (f"{code!r} is not an invoice or credit note type code of EN 16931 "
                                   f"(UNTDID 1001 as restricted by BR-CL-01)")
    raise FileRejected("unsupported_type_code", f"invoice {doc.external_ref!r}: type code (BT-3) {reason}",
                       line=doc.line, field="invoice.type_code", rule=rule_file,
                       hint="importd takes the invoice and credit note codes of EN 16931 (rules/README.md, "
                            "\"Invoice type codes\"); to take this one anyway, map kind in the rules file: "
                            "kind = { xpath = …, map = { \"" + code + "\" = \"invoice\" } }")
