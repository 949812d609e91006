"""Three services on one PostgreSQL database, each with its own inbox and spool and all three
collecting from one shared SFTP folder, fed some 3,000 files while they are killed -9 at random
instants and restarted: nothing lost, nothing doubled, every series consecutive.

The test holds whatever the writers' locking (it was written against one lock per schema, and
holds with the rooms of importd/store/rooms.py): it checks only what must hold once all has drained.

After it, two small reproductions of what the scaling bench found on PostgreSQL (both fixed): a
bulk file's lookups ran from plans cached while its tables were empty, and a lock timeout as a
transaction began left the connection stuck."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from builders import order_rows
from conftest import SAMPLES, Setup, stop, use_database
from importd.service.instance import holder
from sshd import Sshd
from test_sftp import SOURCE, make_site, put

SITES = ("a", "b", "c")
CUSTOMERS = 23                    # e-mails the orders share: each customer is created by one file only
SCALE = float(os.environ.get("IMPORTD_TORTURE_SCALE", "1"))     # a quicker or longer run, by hand


def one_order(site: Setup, n: int) -> str:
    """Order #n, bought by one of CUSTOMERS customers: the first file naming one creates it,
    the others find it (and whoever creates it, the customer series stays gapless)."""
    text = order_rows(site, n, 1)
    return text.replace(f"c{n % 7}@example.fr", f"c{n % CUSTOMERS}@example.fr").replace(
        f"Client {n % 7},", f"Client {n % CUSTOMERS},")


def invoice(k: int) -> str:
    """The shipped UBL invoice under a number of its own (its buyer, Boutique Jeteste, the same in all)."""
    text = (SAMPLES / "ubl-invoice-FA1001.xml").read_text()
    return text.replace("<cbc:ID>F2026-1001</cbc:ID>", f"<cbc:ID>F-T{k:05d}</cbc:ID>", 1)


def payment(k: int) -> str:
    """The whole amount of invoice F-T<k>: parked when it comes first, booked when the invoice commits."""
    header = (SAMPLES / "payments-2026-11.csv").read_text().splitlines()[0]
    return f"{header}\nVIR-T{k:05d};F-T{k:05d};;2026-11-20;288.00;EUR;transfer\n"


class Instance:
    """One setup's service, started again each time it is killed; its log in a file."""

    def __init__(self, site: Setup):
        self.site, self.process, self.kills = site, None, 0
        self.log = site.root / "service.log"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "importd", "run", "-c", str(self.site.config)],
                                            stdout=log, stderr=log)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def running(self) -> bool:
        """Started and saying so in its lock file (its signal handlers are in place)."""
        state = holder(self.site.root / "spool") or {}
        return state.get("pid") == self.process.pid and state.get("state") in ("running", "degraded")

    def tail(self) -> str:
        return "".join(self.log.read_text(errors="replace").splitlines(True)[-40:])


def drained(sites: list[Setup], server: Sshd) -> bool:
    """Nothing waiting anywhere: inboxes, the server's folder (files or claims), spools, the
    ledger (every row decided and settled)."""
    if any(any(s.inbox.iterdir()) or s.spool_files() for s in sites) or any(server.remote.iterdir()):
        return False
    return sites[0].rows("SELECT count(*) AS n FROM import_files WHERE settled_at IS NULL"
                         " OR state NOT IN ('imported', 'duplicate', 'quarantined')") == [{"n": 0}]


@pytest.mark.slow
def test_three_instances_killed_at_random_on_one_postgresql_lose_nothing_and_double_nothing(tmp_path, postgresql,
                                                                                            sshd):
    """~3,000 one-order files (each inbox, the shared SFTP folder, some files sent to two inboxes,
    some orders sent twice in different files), and invoices with their payments in any order,
    while a random instance is killed -9 every second or so (at least 50 kills): afterwards each
    input is imported once (the other copy `duplicate`), each document has one number, every
    series runs 1..N without a gap, every payment is booked, every ledger row is settled and its
    file archived, and no file is left in an inbox, a spool or on the server."""
    sites = []
    for name in SITES:
        site = Setup(make_site(tmp_path / name, sshd, poll_interval=0.2, settle=0.3, stale_claim=2).root, postgresql)
        use_database(site.config, postgresql)
        sites.append(site)
    per_inbox, remote, twins, echoes, invoices = (int(x * SCALE) for x in (850, 360, 40, 40, 60))
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    # What goes where, and when: (site or None for the server, file name, content), shuffled.
    drops: list[tuple[Setup | None, str, str]] = []
    n = 0
    for site in sites:
        for _ in range(per_inbox):
            n += 1
            drops.append((site, f"orders_export_{site.root.name}{n:05d}.csv", one_order(site, n)))
    for _ in range(remote):
        n += 1
        drops.append((None, f"orders_export_r{n:05d}.csv", one_order(sites[0], n)))
    twin_names = []
    for _ in range(twins):        # the same file (same bytes) into two inboxes
        n += 1
        first, second = rng.sample(sites, 2)
        content = one_order(first, n)
        drops.append((first, f"orders_export_t{n:05d}.csv", content))
        drops.append((second, f"orders_export_u{n:05d}.csv", content))
        twin_names.append((f"orders_export_t{n:05d}.csv", f"orders_export_u{n:05d}.csv"))
    for _ in range(echoes):       # the same order in two files of different bytes, two inboxes
        n += 1
        first, second = rng.sample(sites, 2)
        drops.append((first, f"orders_export_e{n:05d}.csv", one_order(first, n)))
        drops.append((second, f"orders_export_f{n:05d}.csv", one_order(second, n).replace("\n", "\r\n")))
    orders = n
    for k in range(1, invoices + 1):     # an invoice and its payment, each to any inbox, in any order
        drops.append((rng.choice(sites), f"invoice-t{k:05d}.xml", invoice(k)))
        drops.append((rng.choice(sites), f"payments-t{k:05d}.csv", payment(k)))
    rng.shuffle(drops)

    instances = [Instance(site) for site in sites]
    for instance in instances:
        instance.start()
    feeding_done = threading.Event()

    def feed() -> None:             # ~40 s of arrivals, in bursts, while the killer works
        try:
            for at in range(0, len(drops), 25):
                for site, name, content in drops[at:at + 25]:
                    if site is None:
                        put(sshd, name, content.encode())
                    else:
                        site.drop(name, content)
                time.sleep(rng.uniform(0.1, 0.6))
        finally:
            feeding_done.set()

    feeder = threading.Thread(target=feed)
    feeder.start()
    started = time.monotonic()
    try:
        killer = random.Random(seed + 1)
        while not feeding_done.is_set() or sum(i.kills for i in instances) < 50:
            time.sleep(killer.uniform(0.2, 1.8))
            victim = killer.choice(instances)
            assert victim.process.poll() is None, f"{victim.site.root.name} exited by itself:\n{victim.tail()}"
            victim.kill()
            victim.start()
            assert time.monotonic() - started < 300, "the killer ran for five minutes"
        feeder.join()
        deadline = time.monotonic() + 120
        while not drained(sites, sshd):
            assert time.monotonic() < deadline, "not drained in two minutes after the last kill:\n" + "\n".join(
                f"--- {i.site.root.name}\n{i.tail()}" for i in instances)
            time.sleep(0.5)
        for instance in instances:      # one restarted last may still be starting: a SIGTERM would kill it
            instance.site.wait_for(instance.running, what=f"{instance.site.root.name} running")
    finally:
        feeder.join()
        outcomes = [stop(i.process) if i.process.poll() is None else (i.process.returncode, "", "")
                    for i in instances]
    kills = sum(i.kills for i in instances)
    print(f"seed {seed}: {len(drops)} files, {orders} orders, {kills} kills "
          f"({[i.kills for i in instances]}), {time.monotonic() - started:.0f} s")
    assert [code for code, _, _ in outcomes] == [0, 0, 0], [i.tail() for i in instances]
    assert kills >= 50

    a = sites[0]
    # No file left anywhere but in an archive; none quarantined.
    for site in sites:
        assert list(site.inbox.iterdir()) == [] and site.spool_files() == [] and site.quarantined() == []
    assert list(sshd.remote.iterdir()) == []
    ledger = a.rows("SELECT id, source, name, state, sha256, settled_at, spool_path, spool_owner FROM import_files")
    assert {r["state"] for r in ledger} <= {"imported", "duplicate"}
    assert all(r["settled_at"] is not None and r["spool_path"] is None for r in ledger)
    # Each ledger row's file is in exactly one archive; every archive file is a ledger row's.
    assert sum(len(site.archived()) for site in sites) == len(ledger)
    owners = Counter(r["spool_owner"] for r in ledger)
    for site in sites:
        owner = (site.root / "spool" / ".importd.owner").read_text().strip()
        assert len(site.archived()) == owners[owner], site.root.name
    # Each local file is in the ledger once; each file from the server imported once (a kill
    # between its spooling and its ledger row brings it again: `duplicate`, as test_sftp's).
    local = Counter(r["name"] for r in ledger if r["source"] == "inbox")
    assert local == Counter(name for site, name, _ in drops if site is not None)
    from_server = [r for r in ledger if r["source"] == SOURCE]
    assert sorted(r["name"] for r in from_server if r["state"] == "imported") == sorted(
        name for site, name, _ in drops if site is None)
    assert {r["name"] for r in from_server} == {name for site, name, _ in drops if site is None}
    # A file sent to two inboxes, an order sent in two files: one imported, the other duplicate.
    state = {r["name"]: r["state"] for r in ledger if r["source"] == "inbox"}
    for first, second in twin_names:
        assert sorted((state[first], state[second])) == ["duplicate", "imported"], (first, second)
    duplicates = [r for r in ledger if r["state"] == "duplicate" and r["source"] == "inbox"]
    assert sorted(r["name"] for r in ledger if r["name"].startswith(("invoice-", "payments-"))) == sorted(
        name for _, name, _ in drops if name.startswith(("invoice-", "payments-")))
    assert len(duplicates) == twins + echoes
    # One number per order, 1..N with no gap; one reference per order; the customers once each.
    numbers = [r["number"] for r in a.rows("SELECT number FROM orders ORDER BY number")]
    assert numbers == [f"CMD-2026-{k:06d}" for k in range(1, orders + 1)]
    assert a.rows("SELECT count(DISTINCT external_ref) AS d FROM orders") == [{"d": orders}]
    assert a.rows("SELECT count(*) AS n, count(DISTINCT external_id) AS d FROM external_refs"
                  " WHERE entity = 'order'") == [{"n": orders, "d": orders}]
    assert a.rows("SELECT count(*) AS n FROM order_lines") == [{"n": orders}]
    # Invoices and payments: each once, both series gapless, every payment booked against its
    # invoice (those parked by one instance released by the commit of another's), none left parked.
    assert [r["number"] for r in a.rows("SELECT number FROM invoices ORDER BY number")] == [
        f"FA-2026-{k:06d}" for k in range(1, invoices + 1)]
    paid = a.rows("SELECT p.number, p.external_ref, i.external_ref AS invoice FROM payments p"
                  " JOIN invoices i ON i.number = p.invoice_number ORDER BY p.number")
    assert [r["number"] for r in paid] == [f"RG-2026-{k:06d}" for k in range(1, invoices + 1)]
    assert sorted((r["external_ref"], r["invoice"]) for r in paid) == [
        (f"VIR-T{k:05d}", f"F-T{k:05d}") for k in range(1, invoices + 1)]
    assert a.rows("SELECT count(*) AS n FROM invoices WHERE payment_status <> 'paid'") == [{"n": 0}]
    assert a.rows("SELECT count(*) AS n FROM parked_records") == [{"n": 0}]
    assert any('"event": "document.parked"' in i.log.read_text(errors="replace") for i in instances)
    # Customers: each created once (by whichever file came first), each prefix's series gapless.
    customers = a.rows("SELECT code, email, name FROM customers ORDER BY code")
    assert [c["code"] for c in customers if c["code"].startswith("CLIE")] == [
        f"CLIE{k:03d}" for k in range(1, CUSTOMERS + 1)]
    assert sorted(c["email"] for c in customers if c["code"].startswith("CLIE")) == sorted(
        f"c{k}@example.fr" for k in range(CUSTOMERS))
    assert [c["code"] for c in customers if not c["code"].startswith("CLIE")] == ["BOUT001"]
    counters = {(r["series"], r["scope"]): r["last_value"] for r in a.rows("SELECT * FROM counters")}
    assert counters == {("order", "CMD-2026-{seq}"): orders, ("customer", "CLIE{seq}"): CUSTOMERS,
                        ("customer", "BOUT{seq}"): 1, ("invoice", "FA-2026-{seq}"): invoices,
                        ("payment", "RG-2026-{seq}"): invoices}
    assert a.rows("SELECT count(*) AS n FROM orders o LEFT JOIN customers c ON c.code = o.customer_code"
                  " WHERE c.code IS NULL") == [{"n": 0}]


def test_reference_lookups_in_a_growing_transaction_are_planned_for_the_rows_there(postgresql):
    """A bulk file's batches look their external references up in the table its earlier batches
    filled, in one transaction: each lookup must be planned for the table as it is then (an index
    scan once it is large), never run from a plan cached while it was empty."""
    from importd.store import Store
    store = Store(postgresql, 5.0)
    db = store.db
    try:
        store.counts_by_state()                          # the tables exist
        db.execute("BEGIN")
        for batch in range(20):
            ids = [f"#{batch * 500 + i}" for i in range(500)]
            assert store.external_refs("inbox", "order", ids) == {}
            db.executemany("INSERT INTO external_refs (source, entity, external_id, internal_key) VALUES (?, ?, ?, ?)",
                           [("inbox", "order", i, f"CMD-{i}") for i in ids])
        cached = db.execute("SELECT statement, generic_plans FROM pg_prepared_statements"
                            " WHERE generic_plans > 0 AND statement LIKE 'SELECT%FROM external_refs%'").fetchall()
        db.execute("ROLLBACK")
    finally:
        store.close()
    assert [row[1] for row in cached] == []


def test_a_lock_timeout_in_a_transaction_leaves_the_connection_usable(postgresql):
    """Another instance holds what a transaction needs (its room, a row) longer than busy_timeout:
    the wait ends in a fault importd retries, and the connection is ready for the next statement,
    not stuck in a failed transaction."""
    from importd.faults import TRANSIENT
    from importd.store import Store
    holder_store, waiter = Store(postgresql, 5.0), Store(postgresql, 1.0)
    try:
        holder_store.counts_by_state()                   # the tables exist
        with holder_store.transaction():
            holder_store.db.execute("INSERT INTO counters (series, scope, last_value) VALUES ('order', 'X{seq}', 1)")
            holder_store.lock(["order"])
            with pytest.raises(TRANSIENT), waiter.transaction():
                waiter.lock(["order"])
            assert not waiter.db.in_transaction and waiter.counts_by_state() == []
            with pytest.raises(TRANSIENT), waiter.transaction():
                waiter.db.execute("INSERT INTO counters (series, scope, last_value) VALUES ('order', 'X{seq}', 1)")
        assert not waiter.db.in_transaction
        assert waiter.counts_by_state() == []
    finally:
        holder_store.close()
        waiter.close()
