"""The canonical documents importd writes, and the type of each target field."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

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
}

# Document kinds a rules file may import, and the sections each one reads.
KINDS: dict[str, tuple[str, ...]] = {
    "customer": ("customer",),
    "order": ("order", "line", "customer"),
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

    @property
    def external_ref(self) -> str:
        return self.fields.get("external_ref") or ""

    def fingerprint(self) -> str:
        """A hash of the content: the same document again hashes the same."""
        body = {"fields": self.fields, "lines": self.lines, "customer": self.customer}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
