"""The canonical documents importd writes, and the type of each target field."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

# Target fields a rules file may fill, per section, with their value type.
# decimal → Decimal (money, quantities), date → ISO date, text → str.
TARGETS: dict[str, dict[str, str]] = {
    "customer": {
        "external_ref": "text", "name": "text", "email": "text", "phone": "text",
        "address1": "text", "address2": "text", "postcode": "text", "city": "text",
        "country": "text", "vat_number": "text",
    },
    "order": {
        "external_ref": "text", "order_date": "date", "currency": "text", "status": "text",
        "subtotal": "decimal", "shipping": "decimal", "discount": "decimal", "tax": "decimal",
        "total": "decimal",
    },
    "line": {
        "sku": "text", "description": "text", "quantity": "decimal", "unit_price": "decimal",
        "line_total": "decimal",
    },
    "product": {
        "external_ref": "text", "sku": "text", "name": "text", "unit_price": "decimal", "vat_rate": "decimal",
    },
}

# Document kinds a rules file may import, and the sections each one reads.
KINDS: dict[str, tuple[str, ...]] = {
    "customer": ("customer",),
    "order": ("order", "line", "customer"),
    "product": ("product",),
}


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
    warnings: list[str] = field(default_factory=list)
    error: Exception | None = None              # why this document cannot be imported

    @property
    def external_ref(self) -> str:
        return self.fields.get("external_ref") or ""

    def fingerprint(self) -> str:
        """A hash of the content: the same document again hashes the same."""
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
                   [_typed("line", li) for li in data["lines"]],
                   _typed("customer", data["customer"]) if data["customer"] is not None else None,
                   last_line=data["line"])


def _typed(section: str, values: dict) -> dict:
    types = TARGETS[section]
    return {k: Decimal(v) if types.get(k) == "decimal" and v is not None else v for k, v in values.items()}
