"""PostgreSQL as the management database: how importd.toml names it, that its password never
shows, that the stages read the same rows from it as from SQLite, and its faults' names."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from builders import order_rows
from conftest import Setup, importd, log_lines, stop, use_database

from importd.config.database import PostgresDatabase
from importd.faults import TRANSIENT, DatabaseFault, classify
from importd.service.instance import holder

SECRET = "importd_test"          # the test role's password (IMPORTD_TEST_POSTGRESQL's server)


def importd_python(code: str) -> str:
    import subprocess
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def with_database(setup: Setup, value: str, *extra: str) -> None:
    lines = setup.config.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("database"))
    lines[at:at + 1] = [f"database = {json.dumps(value)}\n", *(f"{line}\n" for line in extra)]
    setup.config.write_text("".join(lines))


@pytest.mark.parametrize("value", ["mysql://importd@db/importd", "postgres:/x", "sqlite:importd.db",
                                   "postgresql:importd"])
def test_a_database_url_importd_does_not_know_is_a_configuration_error(setup, value):
    with_database(setup, value)
    result = importd("check", "-c", str(setup.config))
    assert result.returncode == 2
    assert "importd knows SQLite (a plain path" in result.stderr
    assert not list(setup.root.glob("*:*"))      # no SQLite file under a folder named after a scheme


def test_a_password_in_the_url_is_refused_without_being_repeated(setup):
    with_database(setup, "postgresql://importd:hunter2@127.0.0.1/importd")
    result = importd("check", "-c", str(setup.config))
    assert result.returncode == 2
    assert "no password in the URL" in result.stderr and "hunter2" not in result.stderr + result.stdout


def test_a_password_file_others_may_read_is_refused(setup):
    secret = setup.root / "db-password"
    secret.write_text("hunter2\n")
    secret.chmod(0o644)
    with_database(setup, "postgresql://importd@127.0.0.1/importd", 'database_password_file = "db-password"')
    result = importd("check", "-c", str(setup.config))
    assert result.returncode == 2
    assert "can be read by other users" in result.stderr and "hunter2" not in result.stderr


def test_a_password_file_for_a_sqlite_database_is_a_mistake(setup):
    with_database(setup, "importd.db", 'database_password_file = "db-password"')
    result = importd("check", "-c", str(setup.config))
    assert result.returncode == 2 and "a SQLite file has no password" in result.stderr


def test_a_plain_path_stays_sqlite(setup):
    with_database(setup, "data/management.db")
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    assert (setup.root / "data" / "management.db").is_file()


def run_with_password_file(setup: Setup, database: PostgresDatabase):
    """The service on PostgreSQL with the password in a file (mode 600) and not in the environment."""
    secret = setup.root / "db-password"
    secret.write_text(f"{SECRET}\n")
    secret.chmod(0o600)
    use_database(setup.config, database)
    setup.config.write_text('database_password_file = "db-password"\n' + setup.config.read_text())
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    import subprocess
    return lambda *args: subprocess.run([sys.executable, "-m", "importd", *args, "-c", str(setup.config)],
                                        capture_output=True, text=True, timeout=120, env=env)


def test_password_from_a_file_is_used_and_never_logged_nor_shown(setup, postgresql):
    run = run_with_password_file(setup, postgresql)
    setup.drop_sample("orders_export_1.csv")
    result = run("run", "--once")
    assert result.returncode == 0, result.stderr
    started = next(line for line in log_lines(result.stdout) if line["event"] == "service.started")
    assert started["database"] == postgresql.url
    status = run("status", "--json")
    assert status.returncode == 0, status.stderr
    assert [c["last_value"] for c in json.loads(status.stdout)["counters"] if c["series"] == "order"] == [3]
    for output in (result.stdout, result.stderr, status.stdout, status.stderr, run("status").stdout):
        assert SECRET not in output.replace(f"{SECRET}@", "").replace(f"/{SECRET}", "")


def test_a_server_that_cannot_be_reached_is_a_fault_the_service_waits_out(setup):
    """Nothing listens there: the service says so (database_unavailable) and does not exit."""
    with_database(setup, "postgresql://importd@127.0.0.1:9/importd")
    service = setup.start()
    try:
        def degraded() -> bool:
            state = holder(setup.root / "spool") or {}
            return "database_unavailable" in {f["kind"] for f in state.get("faults", [])}
        setup.wait_for(degraded, timeout=30, what="the database_unavailable fault")
        assert service.poll() is None
        status = importd("status", "-c", str(setup.config))
        assert status.returncode == 2 and "database_unavailable" in status.stderr and "Traceback" not in status.stderr
    finally:
        service.kill()
        service.wait()


# -- the same rows on both backends -------------------------------------------------------------

TABLES = {"customers": "code", "products": "sku", "orders": "number", "order_lines": "order_number, line_no",
          "invoices": "number", "invoice_lines": "invoice_number, line_no", "payments": "number",
          "counters": "series, scope", "external_refs": "source, entity, external_id",
          "parked_records": "file_id, external_id", "import_files": "id"}
# Written by the clock or naming the setup's folders: they differ between two runs, whatever the backend.
STAMPS = {"created_at", "updated_at", "received_at", "finished_at", "settled_at", "parked_at", "expires_at",
          "summary", "spool_path", "settled_path", "rowid", "spool_owner"}
# A parked document's id: PostgreSQL's sequence is not rolled back with the savepoint of a file that
# parked and then failed, SQLite reuses the number; the ids differ, the documents do not.
OWN_IDS = {"parked_records"}


def imported_samples(root: Path, database: PostgresDatabase | None) -> dict:
    result = importd("init", str(root))
    assert result.returncode == 0, result.stderr
    setup = Setup(root, database)
    if database is not None:
        use_database(setup.config, database)
    for sample in sorted((root / "samples").iterdir()):
        setup.drop_sample(sample.name)
    assert setup.run_once().returncode == 0
    def own(value):         # a path inside the setup (a parked document's rules file) names its folder
        return value.replace(str(root), "SETUP") if isinstance(value, str) else value
    return {table: [{k: own(v) for k, v in row.items() if k not in STAMPS and not (k == "id" and table in OWN_IDS)}
                    for row in setup.rows(f"SELECT * FROM {table} ORDER BY {order}")]
            for table, order in TABLES.items()}


def test_the_stages_read_the_same_rows_from_both_backends(tmp_path, postgresql):
    """The shipped samples imported into SQLite and into PostgreSQL: every row the same, value for
    value — money as its exact text, dates as ISO text — though PostgreSQL stores NUMERIC and DATE."""
    on_sqlite = imported_samples(tmp_path / "sqlite", None)
    on_postgresql = imported_samples(tmp_path / "postgresql", postgresql)
    assert on_sqlite["orders"] and on_sqlite["payments"] and on_sqlite["invoices"]
    for table in TABLES:
        assert on_postgresql[table] == on_sqlite[table], table
    types = {(r["table_name"], r["column_name"]): r["data_type"] for r in Setup(tmp_path, postgresql).rows(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema()")}
    assert types["invoices", "amount_due"] == types["order_lines", "quantity"] == "numeric"
    assert types["payments", "paid_on"] == types["orders", "order_date"] == "date"
    assert types["import_files", "received_at"] == "timestamp with time zone"


# -- faults ------------------------------------------------------------------------------------

def test_postgresql_faults_are_transient_and_named(postgresql):
    """A lock held too long, a serialization failure, a deadlock, a lost connection: each a retry."""
    from psycopg import errors
    from importd.store.postgresql import Connection
    for error, kind in ((errors.LockNotAvailable("lock timeout"), "database_locked"),
                        (errors.SerializationFailure("could not serialize"), "database_conflict"),
                        (errors.DeadlockDetected("deadlock detected"), "database_conflict"),
                        (errors.QueryCanceled("statement timeout"), "database_timeout")):
        assert classify(DatabaseFault(error)) == kind
    with pytest.raises(TRANSIENT) as lost:
        Connection(PostgresDatabase("postgresql://importd@127.0.0.1:9/importd"), 1.0)
    assert classify(lost.value) == "database_unavailable"


def test_a_sqlite_site_does_not_load_psycopg():
    """psycopg costs a tenth of a second to import: a SQLite setup's commands never pay it."""
    code = "import sys, importd.commands.cli, importd.service.service, importd.web.server; print('psycopg' in sys.modules)"
    assert importd_python(code) == "False"


def test_a_lost_connection_is_reopened_at_the_next_statement(postgresql):
    from importd.store import Store
    store = Store(postgresql, 5.0)
    pid = store.db.execute("SELECT pg_backend_pid()").fetchone()[0]
    Setup(Path("."), postgresql).rows("SELECT pg_terminate_backend(?)", pid)
    with pytest.raises(TRANSIENT):
        store.counts_by_state()
    assert store.counts_by_state() == []          # a new connection, no human action
    store.close()


# -- several instances, one database -----------------------------------------------------------

def two_setups(tmp_path: Path, postgresql) -> list[Setup]:
    """Setups a and b, each its own inbox and spool, on one PostgreSQL database."""
    sites = []
    for name in ("a", "b"):
        assert importd("init", str(tmp_path / name)).returncode == 0
        site = Setup(tmp_path / name, postgresql)
        use_database(site.config, postgresql)
        sites.append(site)
    return sites


def run_once_together(sites: list[Setup]) -> None:
    """`run --once` in every setup, all started at once; each must exit 0."""
    runs = [site.start("--once") for site in sites]
    for run in runs:
        out, err = run.communicate(timeout=240)
        assert run.returncode == 0, err[-3000:]


def test_two_instances_on_one_database_keep_one_gapless_series(tmp_path, postgresql):
    """Two setups (each its own inbox and spool) import at the same time into one PostgreSQL:
    one order series, consecutive; a file dropped into both, and an order sent in two files,
    are imported once; neither instance touches the other's spooled files."""
    a, b = sites = two_setups(tmp_path, postgresql)
    files = 15
    for i in range(files):
        a.drop(f"orders_export_a{i:02d}.csv", order_rows(a, 1000 + i * 3, 3))
        b.drop(f"orders_export_b{i:02d}.csv", order_rows(b, 5000 + i * 3, 3))
    shared = order_rows(a, 9000, 3)
    a.drop("orders_export_shared.csv", shared)
    b.drop("orders_export_shared.csv", shared)
    a.drop("orders_export_one.csv", order_rows(a, 9500, 1))       # the same order, in two files
    b.drop("orders_export_same.csv", order_rows(b, 9500, 1))
    run_once_together(sites)
    services = [site.start_watching() for site in sites]     # then file by file, as they arrive
    try:
        for i in range(files):
            a.drop(f"orders_export_c{i:02d}.csv", order_rows(a, 2000 + i * 3, 3))
            b.drop(f"orders_export_d{i:02d}.csv", order_rows(b, 6000 + i * 3, 3))
            time.sleep(0.05)
        for site in sites:
            site.wait_for(lambda: len(site.archived()) == files * 2 + 2, what="every file archived")
    finally:
        for service in services:
            code, out, err = stop(service)
            assert code == 0, err[-3000:]
    files *= 2
    total = files * 3 * 2 + 3 + 1
    numbers = [r["number"] for r in a.rows("SELECT number FROM orders ORDER BY number")]
    assert numbers == [f"CMD-2026-{n:06d}" for n in range(1, total + 1)]
    assert a.rows("SELECT external_ref FROM orders GROUP BY external_ref HAVING count(*) > 1") == []
    # the two services took turns: the series passes from one's files to the other's (how often is timing)
    owners = [r["spool_owner"] for r in a.rows(
        "SELECT f.spool_owner FROM orders o JOIN import_files f ON f.id = o.file_id ORDER BY o.number")]
    assert sum(1 for x, y in zip(owners, owners[1:]) if x != y) >= 2
    states = {r["state"]: r["n"] for r in a.rows("SELECT state, count(*) AS n FROM import_files GROUP BY state")}
    assert states == {"imported": files * 2 + 2, "duplicate": 2}
    for site in sites:
        assert not site.spool_files() and not site.quarantined()
        assert len(site.archived()) == files + 2


def test_two_instances_paying_one_invoice_keep_its_balance_exact(tmp_path, postgresql):
    """Payments for one invoice reach two instances at once: each is booked once, numbered in one
    gapless series, and the balance is their exact sum; a payment parked by one instance is booked
    once, when the invoice arrives at the other."""
    a, b = sites = two_setups(tmp_path, postgresql)
    header = "Payment ID;Invoice;Seller;Paid on;Amount;Currency;Method"
    b.drop("payments-parked.csv", f"{header}\nVIR-P;F2026-1001;;2026-11-20;10.00;EUR;transfer\n")
    assert b.run_once().returncode == 0
    assert len(a.rows("SELECT * FROM parked_records")) == 1
    a.drop_sample("ubl-invoice-FA1001.xml")
    for site in sites:
        for i in range(12):
            rows = [f"VIR-{site.root.name}{i}-{k};F2026-1001;;2026-11-21;1.10;EUR;card" for k in range(3)]
            site.drop(f"payments-{i:02d}.csv", "\n".join([header, *rows]) + "\n")
    run_once_together(sites)
    payments = a.rows("SELECT number, external_ref FROM payments ORDER BY number")
    assert [p["number"] for p in payments] == [f"RG-2026-{n:06d}" for n in range(1, 74)]
    assert len({p["external_ref"] for p in payments}) == 73
    assert a.rows("SELECT * FROM parked_records") == []
    assert a.rows("SELECT amount_paid, balance FROM invoices") == [{"amount_paid": "89.20", "balance": "198.80"}]


def test_quarantine_commands_keep_to_their_own_setup(tmp_path, postgresql):
    """Setups sharing a database list and retry their own quarantined files: another setup's
    copy is in its own folder, perhaps on another machine."""
    a, b = two_setups(tmp_path, postgresql)
    a.drop("orders_export_bad.csv", "not,an,order\n1,2,3\n")
    assert a.run_once().returncode != 0
    (file_id,) = [r["id"] for r in a.rows("SELECT id FROM import_files WHERE state = 'quarantined'")]
    mine = importd("quarantine", "list", "-c", str(a.config))
    assert f"#{file_id}" in mine.stdout
    assert f"#{file_id}" not in importd("quarantine", "list", "-c", str(b.config)).stdout
    refused = importd("quarantine", "retry", str(file_id), "-c", str(b.config))
    assert refused.returncode != 0 and "another setup" in refused.stderr
    assert a.quarantined() == ["orders_export_bad.csv", "orders_export_bad.csv.error.json"]
    retried = importd("quarantine", "retry", str(file_id), "-c", str(a.config))
    assert retried.returncode == 0, retried.stderr


def test_instances_take_turns_in_a_room_and_never_across_schemas(postgresql, postgresql_url):
    """Two transactions of one schema wait for each other in the same room (rooms.py), not in
    different rooms; a setup in another schema of the database never waits (advisory locks are
    database-wide: the key includes the schema). A savepoint rolled back gives its rooms back."""
    import psycopg
    from importd.store import Store
    other = PostgresDatabase(postgresql.url.replace("search_path%3D", "search_path%3Dother_"))
    schema = other.url.rsplit("%3D", 1)[1]
    with psycopg.connect(postgresql_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    first, same, elsewhere = Store(postgresql, 0.3), Store(postgresql, 0.3), Store(other, 0.3)
    try:
        with first.transaction(), same.transaction(), elsewhere.transaction():
            first.lock(["order"])
            elsewhere.lock(["order"])                  # at once
            same.lock(["customer", "product"])         # at once
            with pytest.raises(DatabaseFault) as waited:
                same.lock(["order"])                   # waits busy_timeout, then a fault to retry
            assert classify(waited.value) == "database_locked"
        with first.transaction():
            with pytest.raises(ZeroDivisionError), first.transaction():      # a savepoint
                first.lock(["invoice"])
                1 / 0
            with same.transaction():
                same.lock(["invoice"])                 # given back with the savepoint
            first.lock(["invoice"])                    # and taken again, not taken for granted
            with pytest.raises(DatabaseFault), same.transaction():
                same.lock(["invoice"])
    finally:
        for store in (first, same, elsewhere):
            store.close()
        with psycopg.connect(postgresql_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
