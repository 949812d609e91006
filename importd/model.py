"""The canonical documents importd writes, and the type of each target field."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

# Target fields a rules file may fill, per section, with their value type.
# decimal → Decimal (money, quantities), date → ISO date, text → str.
TARGETS: dict[str, dict[str, str]] = {
    "customer": {
        "external_ref": "text", "name": "text", "email": "text", "phone": "text",
        "address1": "text", "address2": "text", "postcode": "text", "city": "text",
        "country": "text", "vat_number": "text",
        "account": "text",              # the customer's receivable account
    },
    "order": {
        "external_ref": "text", "order_date": "date", "currency": "text", "status": "text",
        "subtotal": "decimal", "shipping": "decimal", "discount": "decimal", "tax": "decimal",
        "total": "decimal",
        "duties": "decimal", "tip": "decimal",     # added to the total when [order_checks] total_adds names them
        "refunded": "decimal",                     # refunded since; the total stays what was ordered (refunds)
        "shipping_account": "text", "shipping_vat_code": "text",   # where the shipping is booked
    },
    "line": {
        "sku": "text", "description": "text", "quantity": "decimal", "unit_price": "decimal",
        "line_total": "decimal",
        "discount": "decimal",                                     # the line's own discount ([order_checks])
        "account": "text", "vat_code": "text",                     # the sales account and VAT code
    },
    "product": {
        "external_ref": "text", "sku": "text", "name": "text", "unit_price": "decimal", "vat_rate": "decimal",
        "account": "text", "vat_code": "text",                     # the product's own, for its lines
    },
    # EN 16931 business terms in brackets; see README "Invoices, payments and formats".
    "invoice": {
        "external_ref": "text",         # BT-1, the issuer's number
        "kind": "text",                 # invoice | credit_note (BT-3 through a map, or from type_code)
        "type_code": "text",            # BT-3 as sent (UNTDID 1001): kind follows from it when not mapped
        "corrects_ref": "text", "corrects_date": "date",    # BT-25, BT-26: the preceding invoice
        "issue_date": "date", "due_date": "date", "currency": "text",   # BT-2, BT-9, BT-5
        "seller_id": "text", "seller_name": "text",     # who issued it: VAT or legal id, else name
        "total_lines": "decimal", "allowance_total": "decimal", "charge_total": "decimal",  # BT-106..108
        "total_net": "decimal", "total_tax": "decimal", "total_gross": "decimal",          # BT-109, 110, 112
        "prepaid": "decimal", "rounding": "decimal", "amount_due": "decimal",             # BT-113, 114, 115
        "third_party_payment": "decimal",  # Σ BT-DEX-002 (XRechnung Extension): BR-DEX-09 adds it to BT-115
    },
    "invoice_line": {
        "line_id": "text", "sku": "text", "description": "text",        # BT-126, BT-155, BT-153
        "quantity": "decimal", "unit_code": "text",                      # BT-129, BT-130
        "unit_price": "decimal", "net_amount": "decimal",                # BT-146, BT-131
        "vat_category": "text", "vat_rate": "decimal",                   # BT-151, BT-152
        "account": "text", "vat_code": "text",
        "parent_line_id": "text",       # Factur-X EXTENDED sub-line: the group line it belongs to
    },
    "payment": {
        "external_ref": "text",         # the payment's id upstream
        "invoice_ref": "text",          # our invoice number, or the invoice's external reference
        "invoice_issuer": "text",       # optional: the seller id, when external references clash
        "paid_on": "date", "amount": "decimal", "currency": "text", "method": "text",
    },
}

# Every section also takes an `extra` table of custom fields, kept as one JSON text
# (keys sorted) under this name in the section's values and in its table's column.
EXTRA = "extra"

# The targets of digest version 2, frozen: a field added since is hashed by name
# (_others) and only when it has a value, so a document sent again after an upgrade
# hashes as it did and stays a duplicate.
DIGEST_TARGETS: dict[str, tuple[str, ...]] = {
    "customer": ("external_ref", "name", "email", "phone", "address1", "address2", "postcode", "city",
                 "country", "vat_number"),
    "order": ("external_ref", "order_date", "currency", "status", "subtotal", "shipping", "discount", "tax",
              "total"),
    "line": ("sku", "description", "quantity", "unit_price", "line_total"),
    "product": ("external_ref", "sku", "name", "unit_price", "vat_rate"),
    "invoice": ("external_ref", "kind", "issue_date", "due_date", "currency", "seller_id", "seller_name",
                "total_lines", "allowance_total", "charge_total", "total_net", "total_tax", "total_gross",
                "prepaid", "rounding", "amount_due"),
    "invoice_line": ("line_id", "sku", "description", "quantity", "unit_code", "unit_price", "net_amount",
                     "vat_category", "vat_rate"),
    "payment": ("external_ref", "invoice_ref", "invoice_issuer", "paid_on", "amount", "currency", "method"),
}
_DIGEST_TARGETS = {section: dict.fromkeys(names) for section, names in DIGEST_TARGETS.items()}
# The fields added since, in name order (the order _others hashes them in), and every
# field a section may hold: a document within those skips _others' set arithmetic.
_LATER = {section: tuple(sorted({*TARGETS[section], EXTRA} - set(names))) for section, names in DIGEST_TARGETS.items()}
_KNOWN = {section: {*names, *_LATER[section]} for section, names in DIGEST_TARGETS.items()}

# Document kinds a rules file may import, and the sections each one reads.
KINDS: dict[str, tuple[str, ...]] = {
    "customer": ("customer",),
    "order": ("order", "line", "customer"),
    "product": ("product",),
    "invoice": ("invoice", "invoice_line", "customer"),
    "payment": ("payment",),
}

# The section that holds a kind's lines.
LINE_SECTIONS = {"order": "line", "invoice": "invoice_line"}


@dataclass(slots=True)
class Document:
    """One business document mapped from one or more source records."""

    kind: str
    line: int                                   # first source line
    fields: dict                                # the document's own target fields
    lines: list[dict] = field(default_factory=list)
    customer: dict | None = None                # the referenced customer, for orders
    last_line: int = 0
    records: list = field(default_factory=list)   # the source records, for a rejects file
    line_numbers: list[int] = field(default_factory=list)   # the source line of each of `lines`, when one each
    warnings: list[str] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)   # what checks in report mode would have refused
    error: Exception | None = None              # why this document cannot be imported
    skip: str | None = None                     # why a [[skip]] of the rules leaves it out (no number)
    moment: str | None = None                   # its date as written, when it has a time of day (to sort one day)

    @property
    def external_ref(self) -> str:
        return self.fields.get("external_ref") or ""

    def digest(self) -> str:
        """A hash of the content: the same document again hashes the same.

        Built from the values in hand: each section's values in the fixed order of
        TARGETS (not the rules file's), the lengths of all of them first, so no two
        contents read alike. A kept value is never "" (mapping drops empty values),
        so "" stands for a missing one.
        """
        lines, customer = self.lines, self.customer
        texts = [self.kind, str(len(lines)), "1" if customer else "0"]
        _texts(texts, self.fields, self.kind)
        if lines:
            section = LINE_SECTIONS.get(self.kind, "line")
            line_targets, later, known = _DIGEST_TARGETS[section], _LATER[section], _KNOWN[section]
            for line in lines:
                texts += ["" if value is None else str(value) for value in map(line.get, line_targets)]
                if not line.keys() <= line_targets.keys():
                    _later(texts, line, line_targets, later, known)
        if customer:
            _texts(texts, customer, "customer")
        body = _lengths(len(texts)) % (*map(len, texts),) + "|" + "".join(texts)
        return DIGEST_VERSION + hashlib.sha256(body.encode()).hexdigest()

    def same_content(self, stored: str | None, digest: str) -> bool:
        """Whether this document (whose digest() is `digest`) is the one stored with `stored`.

        A digest stored before version 2 is compared with the fingerprint of that
        time, so a document sent again after an upgrade is a duplicate, not a change.
        """
        if stored is None:
            return False
        if stored.startswith(DIGEST_VERSION):
            if stored == digest:
                return True
        elif stored == self.fingerprint_v1():
            return True
        earlier = self._as_mapped_before()
        if earlier is None:
            return False
        return stored == (earlier.digest() if stored.startswith(DIGEST_VERSION) else earlier.fingerprint_v1())

    def _as_mapped_before(self) -> "Document | None":
        """This document without the fields the shipped rules map since BT-3 is kept (type code,
        preceding invoice, sub-line parent), or None when it has none of them."""
        added = _MAPPED_SINCE.get(self.kind)
        if not added:
            return None
        fields, line_fields = added
        if not (fields & self.fields.keys() or any(line_fields & line.keys() for line in self.lines)):
            return None
        return Document(self.kind, self.line, {k: v for k, v in self.fields.items() if k not in fields},
                        [{k: v for k, v in line.items() if k not in line_fields} for line in self.lines],
                        self.customer)

    def fingerprint_v1(self) -> str:
        """The digest importd stored before version 2 (a repr, sorted), read to compare old rows."""
        body = repr((sorted(self.fields.items()), [sorted(li.items()) for li in self.lines],
                     sorted((self.customer or {}).items())))
        return hashlib.sha256(body.encode()).hexdigest()

    def to_json(self) -> str:
        """The document as JSON (decimals as strings), to park it."""
        return json.dumps({"kind": self.kind, "line": self.line, "fields": self.fields, "lines": self.lines,
                           "customer": self.customer}, default=str, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Document":
        data = json.loads(text)
        kind = data["kind"]
        return cls(kind, data["line"], _typed(kind, data["fields"]),
                   [_typed(LINE_SECTIONS.get(kind, "line"), li) for li in data["lines"]],
                   _typed("customer", data["customer"]) if data["customer"] is not None else None,
                   last_line=data["line"])


DIGEST_VERSION = "v2:"      # stored digests without it are version 1's (fingerprint_v1)

# Fields the shipped invoice rules map since the type code is kept: an invoice imported before,
# sent again, is also compared without them, so it stays a duplicate (not a changed document).
_MAPPED_SINCE = {"invoice": (frozenset({"type_code", "corrects_ref", "corrects_date"}), frozenset({"parent_line_id"}))}


@lru_cache(maxsize=256)
def _lengths(count: int) -> str:
    """The format of `count` lengths, comma-separated ("%d,%d,%d"): faster than joining str()s."""
    return ",".join(["%d"] * count)


def _texts(texts: list[str], values: dict, section: str) -> None:
    targets = _DIGEST_TARGETS.get(section, _NO_TARGETS)
    texts += ["" if value is None else str(value) for value in map(values.get, targets)]
    if not values.keys() <= targets.keys():
        _later(texts, values, targets, _LATER.get(section, ()), _KNOWN.get(section, _NO_TARGETS))


def _later(texts: list[str], values: dict, targets: dict, later: tuple, known) -> None:
    """The fields outside the version 2 targets, as _others hashes them (named, in name order),
    walking the section's known later fields instead of sorting a set difference."""
    if values.keys() <= known:
        for key in later:
            if key in values:
                texts += [key, "" if values[key] is None else str(values[key])]
    else:
        _others(texts, values, targets)


def _others(texts: list[str], values: dict, targets: dict) -> None:
    """A field outside the targets: named, in name order."""
    for key in sorted(values.keys() - targets.keys()):
        texts += [key, "" if values[key] is None else str(values[key])]


_NO_TARGETS: dict[str, str] = {}


def _typed(section: str, values: dict) -> dict:
    types = TARGETS[section]
    return {k: Decimal(v) if types.get(k) == "decimal" and v is not None else v for k, v in values.items()}
