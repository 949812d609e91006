"""`importd db copy`: a SQLite site moves into an empty PostgreSQL database without losing a
number — every row copied and checked, numbering and duplicates go on from where they were,
parked documents and files still in the spool are taken up by the same setup after the move;
a target that holds rows, a running service, a difference or a refused row: nothing written."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from builders import order_rows
from conftest import CORPUS, SAMPLES, Setup, importd, stop, use_database

from importd.config.config import load_config
from importd.stages.spool import claim
from importd.store import Store

RELEASE_DB = Path(__file__).parent / "fixtures" / "release-5e48e29.db"
PAYMENTS = "Payment ID;Invoice;Seller;Paid on;Amount;Currency;Method\n"
# Columns only one side has: the owner of spooled files (set by the copy), PostgreSQL's rowid.
ONE_SIDED = {"spool_owner", "rowid"}


def copy(setup: Setup, target):
    return importd("db", "copy", "-c", str(setup.config), "--to", target.url)


def shows(stdout: str, what: str, source: str, target: str, verdict: str = "ok") -> bool:
    """The check table has this line."""
    return re.search(rf"^{re.escape(what)} +{re.escape(source)} +{re.escape(target)}  {verdict}$", stdout,
                     re.MULTILINE) is not None


def sqlite_rows(path: Path) -> dict[str, list]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: _sorted(dict(r) for r in conn.execute(f"SELECT * FROM {t}")) for t in tables}
    finally:
        conn.close()


def postgresql_rows(target, tables) -> dict[str, list]:
    pg = Setup(Path("."), target)
    return {t: _sorted(pg.rows(f"SELECT * FROM {t}")) for t in tables}


def _sorted(rows) -> list[dict]:
    return sorted(({k: v for k, v in row.items() if k not in ONE_SIDED} for row in rows), key=repr)


def counts(target) -> dict[str, int]:
    """Rows per table of the PostgreSQL database (no tables: {})."""
    pg = Setup(Path("."), target)
    tables = [r["table_name"] for r in pg.rows("SELECT table_name FROM information_schema.tables"
                                               " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")]
    return {t: pg.rows(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in tables}


def invoice(external_ref: str) -> bytes:
    return (SAMPLES / "ubl-invoice-FA1001.xml").read_bytes().replace(b"F2026-1001", external_ref.encode())


def test_a_site_moves_to_postgresql_and_goes_on_where_it_stopped(setup, postgresql):
    """Orders, invoices, payments, a parked payment, a quarantined file and a file still in the
    spool, on SQLite; copied; every row equal on PostgreSQL. Then the setup runs on PostgreSQL:
    the spooled file is imported, numbers follow the last copied ones with no gap, a file sent
    again is a duplicate, the parked payment is booked when its invoice arrives."""
    setup.drop_sample("orders_export_1.csv")
    setup.drop_sample("ubl-invoice-FA1001.xml")
    setup.drop("invoice-example1.xml", (CORPUS / "en16931" / "ubl" / "ubl-tc434-example1.xml").read_bytes())
    setup.drop("payments-1.csv", PAYMENTS + "VIR-1;F2026-1001;;2026-11-20;0.10;EUR;transfer\n"
                                            "VIR-2;F2026-1001;;2026-11-21;0.20;EUR;transfer\n"
                                            "VIR-9;F2026-7777;;2026-11-22;12.34;EUR;transfer\n")
    setup.drop("orders_export_bad.csv", (SAMPLES / "orders_export_1.csv").read_text().replace("59.80", "59.8O"))
    assert setup.run_once().returncode == 1                      # one file quarantined
    assert setup.rows("SELECT external_id FROM parked_records") == [{"external_id": "VIR-9"}]
    config = load_config(setup.config)
    (setup.root / "later").mkdir()
    waiting = setup.root / "later" / "orders_export_waiting.csv"
    waiting.write_text(order_rows(setup, 7000, 2))
    store = Store(config.database)
    try:                  # claimed, not yet processed: as a stop between the two leaves it
        ((spooled_id, _),) = claim(config, store, "inbox", [waiting])
    finally:
        store.close()
    before = sqlite_rows(setup.root / "importd.db")
    last_order = setup.rows("SELECT max(number) AS n FROM orders")[0]["n"]

    result = copy(setup, postgresql)
    assert result.returncode == 0, result.stderr
    owner = (setup.root / "spool" / ".importd.owner").read_text().strip()
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["checked", "SQLite", "PostgreSQL"]
    assert shows(result.stdout, "order_lines: rows", "6", "6")     # the sample's; the waiting file is not read yet
    assert shows(result.stdout, "payments: sum of amount", "0.30", "0.30")
    last = setup.rows("SELECT last_value, last_date FROM counters WHERE series = 'order'")[0]
    assert shows(result.stdout, "counter order CMD-2026-{seq}: last", *[f"{last['last_value']} ({last['last_date']})"] * 2)
    assert shows(result.stdout, "import_files.id: next new id", str(spooled_id + 1), str(spooled_id + 1))
    assert shows(result.stdout, f"files in the spool, now owned by {owner}", "1", "1")
    assert not any(line.endswith("DIFFERENT") for line in lines)
    assert "copied" in result.stdout and "next: in importd.toml" in result.stdout

    after = postgresql_rows(postgresql, before)
    for table in before:
        assert after[table] == before[table], table             # value for value: money, dates, timestamps
    moved = Setup(setup.root, postgresql)
    recorded = "SELECT entity, external_id, internal_key FROM external_refs ORDER BY rowid"
    assert moved.rows(recorded) == setup.rows(recorded)         # the order documents were recorded in
    assert moved.rows("SELECT id, spool_owner FROM import_files WHERE spool_path IS NOT NULL") == [
        {"id": spooled_id, "spool_owner": owner}]
    assert moved.rows("SELECT DISTINCT spool_owner FROM import_files") == [{"spool_owner": owner}]

    use_database(setup.config, postgresql)
    (bad,) = moved.rows("SELECT id FROM import_files WHERE state = 'quarantined'")
    assert f"#{bad['id']}" in importd("quarantine", "list", "-c", str(setup.config)).stdout     # still the setup's
    moved.drop_sample("orders_export_1.csv", "orders_export_again.csv")      # the same bytes again
    moved.drop("orders_export_new.csv", order_rows(moved, 8000, 1))
    moved.drop("invoice-7777.xml", invoice("F2026-7777"))
    result = moved.run_once()
    assert result.returncode == 0, result.stderr
    states = {r["name"]: r["state"] for r in moved.rows("SELECT name, state FROM import_files WHERE id >= ?",
                                                        spooled_id)}
    assert states == {"orders_export_waiting.csv": "imported", "orders_export_again.csv": "duplicate",
                      "orders_export_new.csv": "imported", "invoice-7777.xml": "imported"}
    numbers = [r["number"] for r in moved.rows("SELECT number FROM orders ORDER BY number")]
    assert numbers == [f"CMD-2026-{n:06d}" for n in range(1, len(numbers) + 1)]
    assert len(numbers) == int(last_order[-6:]) + 3             # the waiting file's 2, the new one
    assert moved.rows("SELECT * FROM parked_records") == []
    booked = moved.rows("SELECT p.number, i.external_ref FROM payments p JOIN invoices i"
                        " ON i.number = p.invoice_number WHERE p.external_ref = 'VIR-9'")
    assert booked == [{"number": "RG-2026-000003", "external_ref": "F2026-7777"}]
    assert not moved.spool_files()


def test_sums_of_money_stay_exact(setup, postgresql):
    """Ten orders of two lines, 0.10 and 0.20: the lines add up to 3.00 on both sides, exactly
    (in floating point 0.1 + 0.2 is 0.30000000000000004)."""
    header = (SAMPLES / "orders_export_1.csv").read_text().splitlines()[0]
    columns = header.split(",")
    rows = [header]
    for n in range(10):
        for price, sku, first in (("0.10", "A", True), ("0.20", "B", False)):
            row = dict.fromkeys(columns, "")
            row.update({"Name": f"#{n}", "Email": "c@example.fr", "Lineitem quantity": "1", "Lineitem price": price,
                        "Lineitem name": sku, "Lineitem sku": sku})
            if first:
                row.update({"Currency": "EUR", "Subtotal": "0.30", "Shipping": "0.00", "Taxes": "0.05",
                            "Total": "0.30", "Discount Amount": "0.00", "Created at": "2026-11-05 12:00:00 +0100",
                            "Billing Name": "Client", "Billing Country": "FR"})
            rows.append(",".join(row[c] for c in columns))
    setup.drop("orders_export_cents.csv", "\n".join(rows) + "\n")
    assert setup.run_once().returncode == 0, setup.rows("SELECT error_message FROM import_files")
    result = copy(setup, postgresql)
    assert result.returncode == 0, result.stderr
    assert shows(result.stdout, "order_lines: sum of line_total", "3.00", "3.00")
    assert shows(result.stdout, "orders: sum of total", "3.00", "3.00")
    on_postgresql = Setup(Path("."), postgresql).rows("SELECT sum(line_total) AS s, sum(unit_price) AS p FROM order_lines")
    assert on_postgresql == [{"s": "3.00", "p": "3.00"}]


def test_text_is_copied_as_written(setup, postgresql):
    """What COPY's text format escapes — tab, newline, backslash, a literal \\N — and what it does
    not need to: every character arrives as it was, and NULL stays NULL, not the text."""
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    awkward = "Ł\tÉ\\N \\ \"quoted\"\nnext line\r\n😀"
    conn = sqlite3.connect(setup.root / "importd.db")
    with conn:
        conn.execute("UPDATE customers SET name = ?, address2 = NULL, extra = ? WHERE rowid = 1",
                     (awkward, '{"note": "a\\tb"}'))
        (code,) = conn.execute("SELECT code FROM customers WHERE rowid = 1").fetchone()
    conn.close()
    assert copy(setup, postgresql).returncode == 0
    rows = Setup(Path("."), postgresql).rows("SELECT name, address2, extra FROM customers WHERE code = ?", code)
    assert rows == [{"name": awkward, "address2": None, "extra": '{"note": "a\\tb"}'}]


def test_a_target_that_holds_rows_is_refused_and_left_as_it_was(setup, postgresql):
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    assert copy(setup, postgresql).returncode == 0
    held = counts(postgresql)
    result = copy(setup, postgresql)
    assert result.returncode == 2
    assert "refused: the PostgreSQL database already holds importd rows: customers (" in result.stderr
    assert "Nothing was copied" in result.stderr
    other = shutil.copyfile(RELEASE_DB, setup.root / "other.db")
    result = importd("db", "copy", "--from", str(other), "--to", postgresql.url)
    assert result.returncode == 2 and "already holds importd rows" in result.stderr
    assert counts(postgresql) == held


def test_the_copy_is_refused_while_the_service_runs(setup, postgresql):
    service = setup.start_watching()
    try:
        result = copy(setup, postgresql)
    finally:
        code, _, err = stop(service)
    assert code == 0, err
    assert result.returncode == 2
    assert "importd is already running with pid" in result.stderr and "Stop it first" in result.stderr
    assert not any(counts(postgresql).values())


def test_a_database_of_an_older_release_copies(tmp_path, postgresql):
    """The previous release's database is brought up to date as the service would, then copied whole."""
    path = tmp_path / "importd.db"
    shutil.copyfile(RELEASE_DB, path)
    result = importd("db", "copy", "--from", str(path), "--to", postgresql.url)
    assert result.returncode == 0, result.stderr
    before = sqlite_rows(path)
    assert sum(map(len, before.values())) > 30
    after = postgresql_rows(postgresql, before)
    for table in before:
        assert after[table] == before[table], table
    assert shows(result.stdout, "counter order CMD-2026-{seq}: last", "3 (2026-11-04)", "3 (2026-11-04)")


def test_a_difference_rolls_everything_back_and_is_named(setup, postgresql):
    """A counter's date with a time of day: PostgreSQL's DATE keeps the day, the check sees it."""
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    conn = sqlite3.connect(setup.root / "importd.db")
    with conn:
        conn.execute("UPDATE counters SET last_date = last_date || ' 10:00' WHERE series = 'order'")
    conn.close()
    result = copy(setup, postgresql)
    assert result.returncode == 1
    assert "counter order CMD-2026-{seq}: last" in result.stderr and "Rolled back" in result.stderr
    assert [line for line in result.stdout.splitlines() if line.endswith("DIFFERENT")] != []
    assert not any(counts(postgresql).values())


@pytest.mark.parametrize("table, column, value, said", [
    ("orders", "order_date", "soon", "table orders: PostgreSQL refused a row"),
    ("order_lines", "line_total", "1,50", "table order_lines, column line_total: '1,50' is not a number")])
def test_a_value_that_cannot_be_copied_rolls_everything_back(setup, postgresql, table, column, value, said):
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    conn = sqlite3.connect(setup.root / "importd.db")
    with conn:
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = 2", (value,))
    conn.close()
    result = copy(setup, postgresql)
    assert result.returncode == 1
    assert said in result.stderr and value in result.stderr and "Rolled back" in result.stderr
    assert not any(counts(postgresql).values())


def test_a_database_file_alone_with_files_in_its_spool_is_refused(setup, postgresql):
    """Without its setup the copy cannot know whose spool holds them: -c is the way."""
    config = load_config(setup.config)
    waiting = setup.root / "orders_export_waiting.csv"
    waiting.write_text(order_rows(setup, 7000, 1))
    store = Store(config.database)
    try:
        claim(config, store, "inbox", [waiting])
    finally:
        store.close()
    result = importd("db", "copy", "--from", str(setup.root / "importd.db"), "--to", postgresql.url)
    assert result.returncode == 2 and "still in the setup's spool" in result.stderr
    assert not any(counts(postgresql).values())


def test_the_target_must_be_a_postgresql_url_without_a_password(setup):
    result = importd("db", "copy", "-c", str(setup.config), "--to", "other.db")
    assert result.returncode == 2 and "is not a PostgreSQL URL" in result.stderr
    result = importd("db", "copy", "-c", str(setup.config), "--to", "postgresql://u:hunter2@127.0.0.1/x")
    assert result.returncode == 2 and "no password in the URL" in result.stderr and "hunter2" not in result.stderr


def test_the_password_can_come_from_a_file(setup, postgresql):
    """--to-password-file, as database_password_file: read when connecting, never shown."""
    import os
    import subprocess
    import sys
    assert setup.run_once().returncode == 0          # the database, empty
    secret = setup.root / "db-password"
    secret.write_text(os.environ["PGPASSWORD"] + "\n")
    secret.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    result = subprocess.run([sys.executable, "-m", "importd", "db", "copy", "-c", str(setup.config), "--to",
                             postgresql.url, "--to-password-file", str(secret)], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    secret.chmod(0o644)
    result = importd("db", "copy", "-c", str(setup.config), "--to", postgresql.url, "--to-password-file", str(secret))
    assert result.returncode == 2 and "--to-password-file: " in result.stderr and "chmod 600" in result.stderr
