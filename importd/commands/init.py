"""`importd init DIR`: a working setup to copy — importd.toml, inbox/, rules, samples."""

from __future__ import annotations

import shutil
from pathlib import Path

CONFIG = """\
# importd configuration. Paths are relative to this file.
database   = "importd.db"
spool      = "spool"
archive    = "archive"
quarantine = "quarantine"
outbox     = "outbox"
log_format = "json"            # json (one object per line, for journald) | console
# web_port = 9465              # the ops page: `importd web` serves it on http://127.0.0.1:9465/

[numbering]                     # one gapless series per document kind
order       = "CMD-{year}-{seq:06d}"
invoice     = "FA-{year}-{seq:06d}"
credit_note = "AV-{year}-{seq:06d}"
payment     = "RG-{year}-{seq:06d}"
customer    = "{name4}{seq:03d}"  # JEAN001, MART001: a counter per 4-letter prefix

[[sources]]
name = "inbox"
kind = "local"
path = "inbox"
settle = 1.0                    # seconds a file must stay unchanged before it is taken
# Each route names the upstream system that issued its files' references (README "Systems"):
# the shop's customer C0009 and the membership platform's member A-0001 are references of two
# systems, so the same person (same e-mail) is one customer who carries both. Without `system`
# a route's references belong to the source (here "inbox").
routes = [
  { match = "clients*.csv",       rules = "rules/customers-fr.toml",     system = "shop" },
  { match = "orders_export*.csv", rules = "rules/shopify-orders.toml",   system = "shop" },
  { match = "woocommerce-orders*.csv", rules = "rules/woocommerce-orders.toml", system = "woocommerce" },
  { match = "order_*.csv",        rules = "rules/prestashop-orders.toml", system = "prestashop" },  # its back office export
  { match = "catalogue*.csv",     rules = "rules/products.toml",         system = "shop" },
  { match = "adherents*.csv",     rules = "rules/members-fr.toml",       system = "membership" },
  { match = "payments*.csv",      rules = "rules/payments.toml",         system = "bank" },
  { match = "payments*.json",     rules = "rules/payments-json.toml",    system = "bank" },
  { match = "payments*.xlsx",     rules = "rules/payments-xlsx.toml",    system = "bank" },
  { match = "unified_payments*.csv", rules = "rules/stripe-payments.toml", system = "stripe" },  # Stripe's payments export
  # E-invoices (EN 16931) and bank statements: an XML file goes to the rules whose record
  # is its root element — UBL Invoice/CreditNote, CII CrossIndustryInvoice or an ISO 20022
  # camt.053 Document — whatever its name; a PDF is read as Factur-X / ZUGFeRD (CII inside).
  { match = "*.xml",              rules = "rules/ubl-invoice.toml",      system = "accounting" },
  { match = "*.xml",              rules = "rules/cii-invoice.toml",      system = "accounting" },
  { match = "*.xml",              rules = "rules/camt053-payments.toml", system = "bank" },
  { match = "*.pdf",              rules = "rules/facturx-invoice.toml",  system = "accounting" },
]
"""


def shipped(kind: str) -> Path:
    """The shipped `rules` or `samples` folder: inside the wheel, or the source checkout."""
    package = Path(__file__).parent.parent          # importd/
    packaged = package / "shipped" / kind
    return packaged if packaged.is_dir() else package.parent / kind


def init(target: Path) -> list[str]:
    """Write a working setup into `target`; never overwrite. Returns what was written."""
    written = []
    target.mkdir(parents=True, exist_ok=True)
    config = target / "importd.toml"
    if not config.exists():
        config.write_text(CONFIG, encoding="utf-8")
        written.append("importd.toml")
    (target / "inbox").mkdir(exist_ok=True)
    for kind in ("rules", "samples"):
        folder = target / kind
        folder.mkdir(exist_ok=True)
        for item in sorted(shipped(kind).iterdir()):
            if item.is_file() and not (folder / item.name).exists():
                shutil.copy2(item, folder / item.name)
                written.append(f"{kind}/{item.name}")
    return written
