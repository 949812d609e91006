"""The management database's tables, defined once: what a new database is made of, and what
an older one gains when importd opens it. Column lists name the order of the values that
the writes pass.

Money and quantities are TEXT decimal strings (a NUMERIC column would turn them into REAL).
"""

# Identity and review; added to an existing database with MIGRATION_SCHEMA.
REVIEW_SCHEMA = """
CREATE INDEX IF NOT EXISTS external_refs_internal_key ON external_refs(source, entity, internal_key);
CREATE TABLE IF NOT EXISTS review_decisions (
    id INTEGER PRIMARY KEY, parked_id INTEGER NOT NULL, file_id INTEGER, source TEXT NOT NULL,
    entity TEXT NOT NULL, external_id TEXT, action TEXT NOT NULL, detail TEXT, reason TEXT,
    outcome TEXT NOT NULL, number TEXT, decided_by TEXT NOT NULL, decided_at TEXT NOT NULL,
    line INTEGER, acked_at TEXT, system TEXT);
CREATE TABLE IF NOT EXISTS do_not_sync (
    source TEXT NOT NULL, entity TEXT NOT NULL, external_id TEXT NOT NULL, reason TEXT NOT NULL,
    excluded_by TEXT NOT NULL, excluded_at TEXT NOT NULL, PRIMARY KEY (source, entity, external_id));
"""
NEWEST_REVIEW_OBJECT = "do_not_sync"

# Full snapshots; added to an existing database with MIGRATION_SCHEMA.
SNAPSHOT_COLUMNS = {"external_refs": {"absent_since": "TEXT", "absent_file_id": "INTEGER"}}
SNAPSHOT_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshot_holds (
    file_id INTEGER PRIMARY KEY, source TEXT NOT NULL, entity TEXT NOT NULL, known INTEGER NOT NULL,
    missing TEXT NOT NULL, held_at TEXT NOT NULL, confirmed_by TEXT, confirmed_at TEXT);
"""

# States that follow upstream (rules: [document] states): each change of an order's state,
# with the file and line that brought it; added to an existing database with MIGRATION_SCHEMA.
STATES_SCHEMA = """
CREATE TABLE IF NOT EXISTS state_history (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, entity TEXT NOT NULL, internal_key TEXT NOT NULL,
    external_ref TEXT, field TEXT NOT NULL, old_value TEXT, new_value TEXT, file_id INTEGER, line INTEGER,
    changed_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS state_history_key ON state_history(entity, internal_key);
"""
STATE_HISTORY_COLUMNS = ("source", "entity", "internal_key", "external_ref", "field", "old_value", "new_value",
                         "file_id", "line")
# Payments shared among invoices; added to an existing database with MIGRATION_SCHEMA.
PAYMENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS payment_allocations (
    payment_number TEXT NOT NULL, invoice_number TEXT NOT NULL, amount TEXT NOT NULL,
    balance_after TEXT, status_after TEXT, PRIMARY KEY (payment_number, invoice_number));
CREATE INDEX IF NOT EXISTS payment_allocations_invoice ON payment_allocations(invoice_number);
CREATE INDEX IF NOT EXISTS invoices_not_settled ON invoices(number)
    WHERE payment_status IN ('overpaid', 'partially_paid');
CREATE INDEX IF NOT EXISTS payments_unallocated ON payments(customer_code) WHERE unallocated IS NOT NULL;
"""
NEWEST_OBJECT = "payment_allocations"

# Upstream systems (README "Systems"). A reference belongs to the system that issued it: the
# `source` column of external_refs, do_not_sync and snapshot_holds (and of orders, invoices and
# payments) holds that system's name, which is the inbox's name where the route names none.
# A parked document and a reviewer's decision keep the inbox it came through in `source` (its
# acknowledgement and quarantine go there) and gain `system`; rows of an older database get the
# inbox's name, which is what their references were keyed by.
SYSTEM_COLUMNS = {"parked_records": {"system": "TEXT"}, "review_decisions": {"system": "TEXT"}}
SYSTEM_SCHEMA = """
UPDATE parked_records SET system = source WHERE system IS NULL;
UPDATE review_decisions SET system = source WHERE system IS NULL;
CREATE INDEX IF NOT EXISTS parked_records_system_ref ON parked_records(system, entity, external_id);
"""

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    code TEXT PRIMARY KEY, name TEXT, email TEXT, phone TEXT, address1 TEXT, address2 TEXT,
    postcode TEXT, city TEXT, country TEXT, vat_number TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, account TEXT, extra TEXT);
CREATE INDEX IF NOT EXISTS customers_email ON customers(email);
CREATE INDEX IF NOT EXISTS customers_vat_number ON customers(vat_number);
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY, name TEXT, unit_price TEXT, vat_rate TEXT, account TEXT, vat_code TEXT, extra TEXT);
CREATE TABLE IF NOT EXISTS orders (
    number TEXT PRIMARY KEY, source TEXT NOT NULL, external_ref TEXT NOT NULL, customer_code TEXT,
    order_date TEXT, currency TEXT, status TEXT, subtotal TEXT, shipping TEXT, discount TEXT,
    tax TEXT, total TEXT, file_id INTEGER NOT NULL, shipping_account TEXT, shipping_vat_code TEXT, extra TEXT,
    duties TEXT, tip TEXT, refunded TEXT);
CREATE TABLE IF NOT EXISTS order_lines (
    order_number TEXT NOT NULL, line_no INTEGER NOT NULL, sku TEXT, description TEXT,
    quantity TEXT, unit_price TEXT, line_total TEXT, account TEXT, vat_code TEXT, extra TEXT, discount TEXT,
    PRIMARY KEY (order_number, line_no));
CREATE TABLE IF NOT EXISTS invoices (
    number TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    source TEXT NOT NULL, external_ref TEXT NOT NULL, customer_code TEXT, issue_date TEXT,
    due_date TEXT, currency TEXT, total_net TEXT, total_tax TEXT, total_gross TEXT,
    amount_due TEXT, file_id INTEGER, seller_id TEXT, seller_name TEXT, total_lines TEXT,
    allowance_total TEXT, charge_total TEXT, prepaid TEXT, rounding TEXT,
    amount_paid TEXT, balance TEXT, payment_status TEXT, extra TEXT,
    type_code TEXT, corrects_ref TEXT, corrects_date TEXT, third_party_payment TEXT);
CREATE TABLE IF NOT EXISTS invoice_lines (
    invoice_number TEXT NOT NULL, line_no INTEGER NOT NULL, sku TEXT, description TEXT,
    quantity TEXT, unit_code TEXT, unit_price TEXT, net_amount TEXT, vat_rate TEXT,
    vat_category TEXT, line_id TEXT, account TEXT, vat_code TEXT, extra TEXT, parent_line_id TEXT,
    PRIMARY KEY (invoice_number, line_no));
CREATE TABLE IF NOT EXISTS payments (
    number TEXT PRIMARY KEY, source TEXT NOT NULL, external_ref TEXT NOT NULL,
    invoice_number TEXT, paid_on TEXT, amount TEXT, currency TEXT, method TEXT, file_id INTEGER, extra TEXT,
    customer_code TEXT, unallocated TEXT);

CREATE TABLE IF NOT EXISTS import_files (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, state TEXT NOT NULL, received_at TEXT NOT NULL, finished_at TEXT,
    error_code TEXT, error_message TEXT, rules TEXT, spool_path TEXT, settled_path TEXT,
    settled_at TEXT, records INTEGER, documents INTEGER, summary TEXT,
    remote_path TEXT, remote_size INTEGER, remote_mtime INTEGER);
CREATE INDEX IF NOT EXISTS import_files_sha256 ON import_files(sha256);
CREATE INDEX IF NOT EXISTS import_files_source_state ON import_files(source, state);
CREATE TABLE IF NOT EXISTS counters (
    series TEXT NOT NULL, scope TEXT NOT NULL, last_value INTEGER NOT NULL, last_date TEXT,
    PRIMARY KEY (series, scope));
CREATE TABLE IF NOT EXISTS external_refs (
    source TEXT NOT NULL, entity TEXT NOT NULL, external_id TEXT NOT NULL,
    internal_key TEXT NOT NULL, content_sha256 TEXT, file_id INTEGER,
    PRIMARY KEY (source, entity, external_id));
CREATE TABLE IF NOT EXISTS parked_records (
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, source TEXT NOT NULL, entity TEXT NOT NULL,
    external_id TEXT, waiting_for TEXT NOT NULL, payload TEXT NOT NULL, parked_at TEXT NOT NULL,
    rules TEXT NOT NULL, reason TEXT NOT NULL, details TEXT, line INTEGER, expires_at TEXT NOT NULL,
    system TEXT);
CREATE INDEX IF NOT EXISTS parked_records_ref ON parked_records(source, entity, external_id);
"""

PRODUCT_FIELDS = ("name", "unit_price", "vat_rate", "account", "vat_code", "extra")
# Added after schema version 1: an existing database gets them when importd opens it.
# Invoice balances are computed in Python with exact decimals and stored, because
# SQLite's SUM over TEXT would go through floating point.
MIGRATION_SCHEMA = """
CREATE INDEX IF NOT EXISTS invoices_external_ref ON invoices(external_ref);
CREATE INDEX IF NOT EXISTS parked_records_waiting_for ON parked_records(waiting_for);
CREATE INDEX IF NOT EXISTS import_files_remote ON import_files(source, remote_path);
CREATE INDEX IF NOT EXISTS import_files_spool_path ON import_files(spool_path) WHERE spool_path IS NOT NULL;
CREATE INDEX IF NOT EXISTS import_files_unsettled ON import_files(id) WHERE spool_path IS NOT NULL;
CREATE VIEW IF NOT EXISTS invoice_balances AS
    SELECT number, kind, external_ref, seller_id, customer_code, currency, amount_due,
           coalesce(amount_paid, '0') AS amount_paid, coalesce(balance, amount_due) AS balance,
           coalesce(payment_status, 'unpaid') AS payment_status
    FROM invoices;
""" + REVIEW_SCHEMA + SNAPSHOT_SCHEMA + STATES_SCHEMA + PAYMENT_SCHEMA + SYSTEM_SCHEMA + """
-- `importd states REF`, and a decision looked up before it is made again
CREATE INDEX IF NOT EXISTS state_history_internal_key ON state_history(internal_key);
CREATE INDEX IF NOT EXISTS state_history_external_ref ON state_history(external_ref);
CREATE INDEX IF NOT EXISTS review_decisions_parked ON review_decisions(parked_id);
CREATE INDEX IF NOT EXISTS review_decisions_file ON review_decisions(file_id, action);
"""
# On added columns, so made after them (not part of the declared shape): the files with rejected
# or reported documents, read by status, the metrics and the ops page.
ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS import_files_rejected ON import_files(id) WHERE rejected > 0;
CREATE INDEX IF NOT EXISTS import_files_reported ON import_files(id) WHERE reported IS NOT NULL;
"""
ADDED_COLUMNS = {
    "invoices": dict.fromkeys(("seller_id", "seller_name", "total_lines", "allowance_total", "charge_total",
                               "prepaid", "rounding", "amount_paid", "balance", "payment_status"), "TEXT"),
    "invoice_lines": {"line_id": "TEXT"},
    # Where an sftp file came from.
    "import_files": {"remote_path": "TEXT", "remote_size": "INTEGER", "remote_mtime": "INTEGER",
                     "spool_owner": "TEXT",     # whose spool holds the file, when setups share a database
                     # documents of the file a check in report mode would have refused (mapping/versions.py)
                     "reported": "INTEGER",
                     "rejected": "INTEGER"},    # documents rejected one by one (atomicity = "document")
    **SNAPSHOT_COLUMNS,      # a record a full export no longer lists: absent since when, by which file
    **SYSTEM_COLUMNS,        # the upstream system of a parked document and of a decision on one
    # Whose payment it is, and what of it no invoice took (a credit on the customer).
    "payments": {"customer_code": "TEXT", "unallocated": "TEXT"},
}
# What an e-invoice is (BT-3, the invoice a corrective one corrects: BT-25, BT-26), its third party
# payments (Σ BT-DEX-002, XRechnung Extension), a sub-line's group (Factur-X EXTENDED ParentLineID).
INVOICE_TYPE_COLUMNS = {
    "invoices": {"type_code": "TEXT", "corrects_ref": "TEXT", "corrects_date": "TEXT", "third_party_payment": "TEXT"},
    "invoice_lines": {"parent_line_id": "TEXT"},
}
# Accounting and custom fields: `extra` holds a record's custom fields as one JSON text
# (read with json_extract(extra, '$.name')); a server database would make it jsonb.
ACCOUNT_COLUMNS = {
    "customers": {"account": "TEXT", "extra": "TEXT"},
    "products": {"account": "TEXT", "vat_code": "TEXT", "extra": "TEXT"},
    "orders": {"shipping_account": "TEXT", "shipping_vat_code": "TEXT", "extra": "TEXT"},
    "order_lines": {"account": "TEXT", "vat_code": "TEXT", "extra": "TEXT"},
    "invoices": {"extra": "TEXT"},
    "invoice_lines": {"account": "TEXT", "vat_code": "TEXT", "extra": "TEXT"},
    "payments": {"extra": "TEXT"},
}
# Order arithmetic (rules/README.md, [order_checks]): duties and a tip added to the total, the
# amount refunded since, a line's own discount.
ORDER_AMOUNT_COLUMNS = {
    "orders": {"duties": "TEXT", "tip": "TEXT", "refunded": "TEXT"},
    "order_lines": {"discount": "TEXT"},
}
ADDED_COLUMNS = {table: {**ADDED_COLUMNS.get(table, {}), **ACCOUNT_COLUMNS.get(table, {}),
                         **INVOICE_TYPE_COLUMNS.get(table, {}), **ORDER_AMOUNT_COLUMNS.get(table, {})}
                 for table in (*ADDED_COLUMNS, *ACCOUNT_COLUMNS, *INVOICE_TYPE_COLUMNS, *ORDER_AMOUNT_COLUMNS)}

CUSTOMER_FIELDS = ("name", "email", "phone", "address1", "address2", "postcode", "city",
                   "country", "vat_number", "account", "extra")
ORDER_COLUMNS = ("number", "source", "external_ref", "customer_code", "order_date", "currency",
                 "status", "subtotal", "shipping", "discount", "tax", "total", "file_id",
                 "shipping_account", "shipping_vat_code", "extra", "duties", "tip", "refunded")
LINE_COLUMNS = ("order_number", "line_no", "sku", "description", "quantity", "unit_price", "line_total",
                "account", "vat_code", "extra", "discount")
FINAL_STATES = ("imported", "duplicate", "quarantined")

INVOICE_COLUMNS = ("number", "kind", "source", "external_ref", "customer_code", "issue_date", "due_date",
                   "currency", "total_net", "total_tax", "total_gross", "amount_due", "file_id",
                   "seller_id", "seller_name", "total_lines", "allowance_total", "charge_total", "prepaid",
                   "rounding", "amount_paid", "balance", "payment_status", "extra",
                   "type_code", "corrects_ref", "corrects_date", "third_party_payment")
INVOICE_LINE_COLUMNS = ("invoice_number", "line_no", "line_id", "sku", "description", "quantity", "unit_code",
                        "unit_price", "net_amount", "vat_rate", "vat_category", "account", "vat_code", "extra",
                        "parent_line_id")
PAYMENT_COLUMNS = ("number", "source", "external_ref", "invoice_number", "paid_on", "amount", "currency",
                   "method", "file_id", "extra", "customer_code", "unallocated")
ALLOCATION_COLUMNS = ("payment_number", "invoice_number", "amount", "balance_after", "status_after")
PARKED_COLUMNS = ("file_id", "source", "entity", "external_id", "waiting_for", "payload", "parked_at",
                  "rules", "reason", "details", "line", "expires_at", "system")
