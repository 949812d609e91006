"""The management database: every SQL statement importd runs lives in this package.

`schema` defines the tables once; `core` holds the connection, transactions, the ledger and
the writes of customers, products and orders; the other modules are the SQL of one part each
(invoices, parking, review, snapshots), mixed into `Store`, and `web` the read-only queries of
the ops page.
"""

from importd.store.core import Store
from importd.store.queries import now
from importd.store.schema import CUSTOMER_FIELDS, FINAL_STATES, PRODUCT_FIELDS

__all__ = ["Store", "now", "CUSTOMER_FIELDS", "FINAL_STATES", "PRODUCT_FIELDS"]
