"""Issue 23: one person, several upstream systems — a reference belongs to the system that issued it.

Through the real service, on SQLite and PostgreSQL: the member who is also a shop customer is
one customer with two references; two shop customers sharing an e-mail stay two; the same
order id from two systems is two orders; a shop's full export marks absent only the shop's
customers; naming systems on a live setup is refused until `importd systems move` has moved
its references, which is one transaction (kill -9 leaves the old state or the new one); a
database made by the current release migrates in place.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import SAMPLES, importd, log_lines, stop
from test_migration import without_systems
from test_rules import edit_rules, events
from test_walking import clients_csv

BACKENDS = ("sqlite", "postgresql")     # each test runs on both

MEMBERS_HEADER = "Code adhérent;Nom;Prénom;Numéro;Voie;CP Ville;Pays;Téléphone;Email"
FIXTURES = Path(__file__).parent / "fixtures"


def members_csv(*rows: str) -> bytes:
    """A members file as the membership platform writes it: UTF-8, `;`."""
    return ("\n".join([MEMBERS_HEADER, *rows]) + "\n").encode("utf-8")


def refs(setup, entity: str = "customer") -> dict[tuple[str, str], str]:
    """(system, upstream id) → our key."""
    return {(r["source"], r["external_id"]): r["internal_key"] for r in setup.rows(
        "SELECT source, external_id, internal_key FROM external_refs WHERE entity = ?", entity)}


def systems(setup, *extra: str) -> None:
    """Add routes to the setup's inbox (before the first, so they win)."""
    text = setup.config.read_text()
    setup.config.write_text(text.replace("routes = [\n", "routes = [\n" + "".join(f"  {r},\n" for r in extra), 1))


def counts(setup) -> dict[str, int]:
    return {table: setup.rows(f"SELECT count(*) AS n FROM {table}")[0]["n"]
            for table in ("customers", "orders", "payments", "external_refs", "parked_records")}


# -- references keyed by system --------------------------------------------------------------------

def test_member_who_is_also_a_shop_customer_is_one_customer_with_two_references(setup):
    """Marie is member A-0001 of the membership platform and customer C0009 of the shop (same
    e-mail): one customer, who carries both references; the shop's file sent again is a duplicate."""
    setup.drop("adherents-1.csv", members_csv(
        "A-0001;dupont;marie;12;rue des Lilas;75011 PARIS;France;01 43 55 12 12;marie.dupont@example.fr"))
    assert setup.run_once().returncode == 0
    setup.drop("clients-1.csv", clients_csv(
        "C0009;Mme;Dupont;Marie;;;12 rue des Lilas;;75011;Paris;France;01 43 55 12 12;marie.dupont@example.fr"))
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    [customer] = setup.rows("SELECT code, email FROM customers")
    assert refs(setup) == {("membership", "A-0001"): customer["code"], ("shop", "C0009"): customer["code"]}
    assert events(result, "document.warning") == []           # no "shared with" note: another system
    ack = json.loads((setup.root / "outbox" / "inbox" / "clients-1.csv.ack.json").read_text())
    assert (ack["system"], ack["documents"][0]["number"]) == ("shop", customer["code"])
    setup.drop("clients-2.csv", clients_csv(
        "C0009;Mme;Dupont;Marie;;;12 rue des Lilas;;75011;Paris;France;01 43 55 12 12;marie.dupont@example.fr"
        ).replace(b"\r\n", b"\n"))
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT state FROM import_files WHERE name = 'clients-2.csv'") == [{"state": "duplicate"}]


def test_two_shop_customers_sharing_an_email_stay_two_even_when_a_member_shares_it(setup):
    """Member A-0007, then shop customers C-1 and C-2 with the one e-mail: C-1 joins the member's
    record; C-2, another customer of the same shop, gets a customer of its own (with the note)."""
    email = "famille.martin@example.fr"
    setup.drop("adherents-1.csv", members_csv(f"A-0007;martin;paul;1;rue A;69001 LYON;FR;;{email}"))
    assert setup.run_once().returncode == 0
    setup.drop("clients-1.csv", clients_csv(f"C-1;M.;Martin;Paul;;;1 rue A;;69001;Lyon;FR;;{email}",
                                            f"C-2;Mme;Martin;Anne;;;1 rue A;;69001;Lyon;FR;;{email}"))
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    found = refs(setup)
    assert found[("shop", "C-1")] == found[("membership", "A-0007")]
    assert found[("shop", "C-2")] != found[("shop", "C-1")]
    assert len(setup.rows("SELECT code FROM customers")) == 2
    [warning] = events(result, "document.warning")
    assert warning["external_ref"] == "C-2" and "not merged" in warning["warning"]


def test_the_same_order_id_from_two_systems_is_two_orders(setup):
    """The shop's #1001 and a partner's #1001 (same rules, another system) are two orders, numbered
    in turn; each sent again is a duplicate, within its own system."""
    systems(setup, '{ match = "partner-orders*.csv", rules = "rules/shopify-orders.toml", system = "partner" }')
    data = (SAMPLES / "orders_export_1.csv").read_bytes()
    setup.drop("orders_export_1.csv", data)
    assert setup.run_once().returncode == 0
    setup.drop("partner-orders-1.csv", data)       # the very same bytes, from another system
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    orders = setup.rows("SELECT number, source, external_ref FROM orders ORDER BY number")
    assert [(o["source"], o["external_ref"]) for o in orders] == [
        ("shop", "#1001"), ("shop", "#1002"), ("shop", "#1003"),
        ("partner", "#1001"), ("partner", "#1002"), ("partner", "#1003")]
    assert [o["number"][-6:] for o in orders] == ["000001", "000002", "000003", "000004", "000005", "000006"]
    assert set(refs(setup, "order")) == {(s, f"#100{i}") for s in ("shop", "partner") for i in (1, 2, 3)}
    setup.drop("partner-orders-2.csv", data.replace(b"\r\n", b"\n") if b"\r\n" in data else data.replace(b"\n", b"\r\n"))
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT state FROM import_files WHERE name = 'partner-orders-2.csv'") == [{"state": "duplicate"}]
    assert len(setup.rows("SELECT number FROM orders")) == 6


def test_a_shop_snapshot_marks_absent_only_the_shops_customers(setup):
    """The shop's full customers export no longer lists C2: C2 is absent; the members, which the
    shop never listed, are not; `snapshot missing --system membership` lists none."""
    edit_rules(setup, "customers-fr.toml",
               ('kind = "customer"\n', 'kind = "customer"\nsnapshot = true\nsnapshot_max_absent = 0.5\n'))
    setup.drop("adherents-1.csv", members_csv("A-0001;dupont;marie;1;rue A;69001 LYON;FR;;marie@example.fr",
                                              "A-0002;martin;paul;2;rue B;69002 LYON;FR;;paul@example.fr"))
    assert setup.run_once().returncode == 0
    row = "{0};M.;Name{0};Pat;;;;;;;FR;;{1}@example.fr"
    setup.drop("clients-1.csv", clients_csv(row.format("C1", "c1"), row.format("C2", "c2"), row.format("C3", "c3")))
    assert setup.run_once().returncode == 0
    setup.drop("clients-2.csv", clients_csv(row.format("C1", "c1"), row.format("C3", "c3")))
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    [missing] = events(result, "snapshot.missing")
    assert (missing["system"], missing["count"], missing["known"]) == ("shop", 1, 3)
    absent = setup.rows("SELECT source, external_id FROM external_refs WHERE absent_since IS NOT NULL")
    assert absent == [{"source": "shop", "external_id": "C2"}]
    listed = importd("snapshot", "missing", "--system", "membership", "-c", str(setup.config))
    assert listed.returncode == 0 and "0 record(s) absent" in listed.stdout
    status = json.loads(importd("status", "--json", "-c", str(setup.config)).stdout)
    assert status["absent"] == [{"system": "shop", "entity": "customer", "n": 1}]


# -- moving a live setup ----------------------------------------------------------------------------

def live_setup_without_systems(setup) -> dict:
    """A setup that ran before systems: customers, members, orders, payments and a parked payment,
    all keyed by the inbox's name. Returns the counts and counters it ended with."""
    named = setup.config.read_text()
    without_systems(setup.config)
    for sample in ("clients-2026-11.csv", "adherents-2026-11.csv", "orders_export_1.csv", "payments-2026-11.csv"):
        setup.drop_sample(sample)
    setup.drop("payments-late.csv", "Payment ID;Invoice;Seller;Paid on;Amount;Currency;Method\n"
                                    "VIR-20261205-09;F2026-9999;;2026-12-05;50.00;EUR;transfer\n")
    assert setup.run_once().returncode == 0
    assert {r["source"] for r in setup.rows("SELECT DISTINCT source FROM external_refs")} == {"inbox"}
    setup.config.write_text(named)                  # the admin names the systems
    return {"counts": counts(setup), "counters": setup.rows("SELECT * FROM counters ORDER BY series, scope")}


def test_naming_systems_on_a_live_setup_is_refused_until_the_references_are_moved(setup):
    """check, run and import refuse (exit 2, saying what to run) and import nothing; the dry run
    says what would move and changes nothing; the move follows the routes; a second move finds
    nothing; the samples sent again are duplicates: nothing re-created, numbering untouched."""
    before = live_setup_without_systems(setup)
    check = importd("check", "-c", str(setup.config))
    assert check.returncode == 2 and "references of 'inbox'" in check.stderr
    assert "importd systems move" in check.stderr
    first_client = b"\r\n".join((SAMPLES / "clients-2026-11.csv").read_bytes().split(b"\r\n")[:2]) + b"\r\n"
    setup.drop("clients-again.csv", first_client)     # waits in the inbox while the service refuses
    refused = setup.run_once()
    assert refused.returncode == 2 and "references of 'inbox'" in refused.stderr
    assert counts(setup) == before["counts"]
    assert importd("import", "-c", str(setup.config), str(SAMPLES / "clients-2026-11.csv")).returncode == 2

    listed = importd("systems", "--json", "-c", str(setup.config))
    assert listed.returncode == 1 and "references of 'inbox'" in json.loads(listed.stdout)["problems"][0]
    dry = importd("systems", "move", "--dry-run", "-c", str(setup.config))
    assert dry.returncode == 0, dry.stderr
    assert "inbox → shop" in dry.stdout and "inbox → membership" in dry.stdout and "nothing changed" in dry.stdout
    assert {r["source"] for r in setup.rows("SELECT DISTINCT source FROM external_refs")} == {"inbox"}

    moved = importd("systems", "move", "-c", str(setup.config))
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "moved in one transaction" in moved.stdout
    assert refs(setup)[("membership", "A-0001")] and refs(setup)[("shop", "C0001")]
    assert setup.rows("SELECT DISTINCT system FROM parked_records") == [{"system": "bank"}]
    assert {r["source"] for r in setup.rows("SELECT source FROM orders")} == {"shop"}
    again = importd("systems", "move", "-c", str(setup.config))
    assert again.returncode == 0 and "nothing to move" in again.stdout
    assert importd("check", "-c", str(setup.config)).returncode == 0
    listed = json.loads(importd("systems", "--json", "-c", str(setup.config)).stdout)
    assert listed["problems"] == [] and {"system": "membership", "entity": "customer", "n": 2} in listed["references"]

    for sample, name in (("orders_export_1.csv", "orders_export_again.csv"), ("adherents-2026-11.csv", "adherents-again.csv")):
        data = (SAMPLES / sample).read_bytes()
        setup.drop(name, data.replace(b"\r\n", b"\n") if b"\r\n" in data else data.replace(b"\n", b"\r\n"))
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    states = {r["name"]: r["state"] for r in setup.rows("SELECT name, state FROM import_files")}
    assert [states[n] for n in ("clients-again.csv", "orders_export_again.csv", "adherents-again.csv")] == [
        "duplicate", "duplicate", "duplicate"]
    assert counts(setup) == before["counts"]
    assert setup.rows("SELECT * FROM counters ORDER BY series, scope") == before["counters"]


def test_move_by_hand_of_one_entity_and_a_conflict_moves_nothing(setup):
    """--from/--to/--entity moves that entity alone (exit 1 while references are left); a reference
    the target already holds for another record is a conflict: exit 1, named, nothing moved; a
    system no route names is refused."""
    live_setup_without_systems(setup)
    moved = importd("systems", "move", "--from", "inbox", "--to", "shop", "--entity", "order", "-c", str(setup.config))
    assert moved.returncode == 1 and "moved in one transaction" in moved.stdout     # 1: customers still to move
    assert "references of 'inbox'" in moved.stderr
    assert {(r["source"], r["entity"]) for r in setup.rows("SELECT DISTINCT source, entity FROM external_refs")} == {
        ("inbox", "customer"), ("shop", "order")}
    with setup.db() as db:          # the shop already knows C0001 as another customer
        db.execute("INSERT INTO external_refs (source, entity, external_id, internal_key) VALUES"
                   " ('shop', 'customer', 'C0001', 'OTHER001')")
    before = setup.rows("SELECT source, entity, external_id, internal_key FROM external_refs ORDER BY 1, 2, 3")
    conflict = importd("systems", "move", "--from", "inbox", "--to", "shop", "-c", str(setup.config))
    assert conflict.returncode == 1 and "nothing was moved" in conflict.stderr and "C0001" in conflict.stderr
    unknown = importd("systems", "move", "--from", "inbox", "--to", "shopp", "-c", str(setup.config))
    assert unknown.returncode == 2 and "no route names system 'shopp'" in unknown.stderr
    assert setup.rows("SELECT source, entity, external_id, internal_key FROM external_refs ORDER BY 1, 2, 3") == before


def test_kill_9_during_the_move_leaves_the_old_state_or_the_new(setup):
    """A real `importd systems move`, SIGKILLed while its transaction is open: every reference still
    carries the old name; the move run again completes; nothing is lost or doubled."""
    named = setup.config.read_text()
    without_systems(setup.config)
    setup.drop_sample("clients-2026-11.csv")
    assert setup.run_once().returncode == 0
    setup.config.write_text(named)
    many = 150_000
    with setup.db() as db:          # a large live setup: the move takes a while
        series = ("SELECT generate_series(1, ?) AS i" if setup.backend == "postgresql" else
                  "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) SELECT i FROM s")
        db.execute("INSERT INTO external_refs (source, entity, external_id, internal_key, file_id)"
                   f" SELECT 'inbox', 'order', 'X' || i, 'CMD-' || i, 1 FROM ({series}) AS n", (many,))
    total = setup.rows("SELECT count(*) AS n FROM external_refs")[0]["n"]
    mover = subprocess.Popen([sys.executable, "-m", "importd", "systems", "move", "--from", "inbox", "--to", "shop",
                              "-c", str(setup.config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        setup.wait_for(lambda: moving(setup), timeout=60, what="the move's open transaction")
        mover.send_signal(signal.SIGKILL)
        out, _ = mover.communicate(timeout=30)
    finally:
        if mover.poll() is None:
            mover.kill()
    assert mover.returncode == -signal.SIGKILL and "moved" not in out
    after = setup.rows("SELECT source, count(*) AS n FROM external_refs GROUP BY source")
    assert after == [{"source": "inbox", "n": total}]           # the old state, whole
    done = importd("systems", "move", "--from", "inbox", "--to", "shop", "-c", str(setup.config))
    assert done.returncode == 0, done.stderr
    assert setup.rows("SELECT source, count(*) AS n FROM external_refs GROUP BY source") == [
        {"source": "shop", "n": total}]


def moving(setup) -> bool:
    """Whether a transaction that changes external_refs is open (SQLite: the write lock is taken)."""
    if setup.backend == "postgresql":
        return bool(setup.rows("SELECT 1 AS x FROM pg_stat_activity WHERE state = 'active'"
                               " AND query LIKE 'UPDATE external_refs SET source%'"))
    db = sqlite3.connect(setup.root / "importd.db", timeout=0, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        db.close()


# -- the current release's database -------------------------------------------------------------------

# The Shopify sample as that release shipped it (the sample has since gained discount codes).
RELEASE_ORDERS = FIXTURES / "release-5e48e29-orders_export_1.csv"


def current_release_database(setup) -> None:
    """The database the current release made (`importd run --once` of every shipped sample, a
    parked payment, a do-not-sync entry): the SQLite file, or the PostgreSQL dump loaded into the
    test's schema. The setup's importd.toml names no system, as that release's did."""
    without_systems(setup.config)
    if setup.backend == "sqlite":
        shutil.copyfile(FIXTURES / "release-1b6d32f.db", setup.root / "importd.db")
        return
    import psycopg
    with psycopg.connect(setup.database.url, autocommit=True) as conn:
        conn.execute((FIXTURES / "release-1b6d32f.pg.sql").read_text(encoding="utf-8"))


def test_the_current_release_database_migrates_in_place_and_its_documents_stay_duplicates(setup):
    """Opened by this release, the parked payment and the decisions gain their system (the inbox's
    name, which keyed their references); the samples sent again are duplicates; then naming the
    systems is refused until the move, after which they are still duplicates and nothing is numbered."""
    current_release_database(setup)
    before = counts(setup)
    counters = setup.rows("SELECT * FROM counters ORDER BY series, scope")
    for sample, name in ((RELEASE_ORDERS, "orders_export_again.csv"), (SAMPLES / "clients-2026-11.csv", "clients-again.csv")):
        data = sample.read_bytes()
        setup.drop(name, data.replace(b"\r\n", b"\n") if b"\r\n" in data else data.replace(b"\n", b"\r\n"))
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    assert setup.rows("SELECT source, system, external_id FROM parked_records") == [
        {"source": "inbox", "system": "inbox", "external_id": "VIR-20261205-09"}]
    states = {r["name"]: r["state"] for r in setup.rows("SELECT name, state FROM import_files")}
    assert (states["orders_export_again.csv"], states["clients-again.csv"]) == ("duplicate", "duplicate")

    (setup.root / "importd.toml").write_text(re.sub(r"\n\[\[sources\]\][\s\S]*", "", setup.config.read_text())
                                             + named_sources(setup))
    assert importd("check", "-c", str(setup.config)).returncode == 2
    moved = importd("systems", "move", "-c", str(setup.config))
    assert moved.returncode == 1 and "do_not_sync" not in moved.stdout       # C0099 names no file: left, said
    assert "references of 'inbox'" in moved.stderr
    by_hand = importd("systems", "move", "--from", "inbox", "--to", "shop", "--entity", "customer",
                      "-c", str(setup.config))
    assert by_hand.returncode == 0, by_hand.stderr
    assert setup.rows("SELECT source FROM do_not_sync") == [{"source": "shop"}]
    assert importd("check", "-c", str(setup.config)).returncode == 0
    setup.drop("orders_export_3.csv", RELEASE_ORDERS.read_bytes() + b"\n")
    setup.drop("clients-3.csv", (SAMPLES / "clients-2026-11.csv").read_bytes() + b"\r\n")
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    states = {r["name"]: r["state"] for r in setup.rows("SELECT name, state FROM import_files")}
    assert (states["orders_export_3.csv"], states["clients-3.csv"]) == ("duplicate", "duplicate")
    assert counts(setup) == before
    assert setup.rows("SELECT * FROM counters ORDER BY series, scope") == counters


def named_sources(setup) -> str:
    """The [[sources]] of a fresh `importd init`, which name the systems."""
    fresh = importd("init", str(setup.root.parent / "fresh"))
    assert fresh.returncode == 0
    text = (setup.root.parent / "fresh" / "importd.toml").read_text()
    return "\n" + text[text.index("[[sources]]"):].replace("settle = 1.0", "settle = 0.3")


def test_sighup_naming_systems_that_would_orphan_references_keeps_the_old_configuration(setup):
    """A running service told to reload a configuration that names systems over live references
    refuses it (config.reload_failed, saying what to run) and goes on keying by the inbox."""
    named = setup.config.read_text()
    without_systems(setup.config)
    setup.drop_sample("clients-2026-11.csv")
    assert setup.run_once().returncode == 0
    service = setup.start_watching()
    try:        # the database exists already: wait until the service says it runs (its handlers are set)
        setup.wait_for(lambda: json.loads(importd("status", "--json", "-c", str(setup.config)).stdout)["service"]
                       .get("state") == "running", what="the service")
        setup.config.write_text(named)
        service.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        setup.drop_sample("adherents-2026-11.csv")
        setup.wait_for(lambda: "adherents-2026-11.csv" in setup.archived(), what="the archive")
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    failed = [line for line in log_lines(out) if line["event"] == "config.reload_failed"]
    assert failed and "importd systems move" in failed[0]["problems"][0]
    assert {r["source"] for r in setup.rows("SELECT DISTINCT source FROM external_refs")} == {"inbox"}


def test_a_bad_system_or_an_unknown_route_key_is_named_with_its_line(setup):
    """`system = "sh/op"` and a misspelt `sytem`: two problems, each with the route's own line."""
    text = setup.config.read_text()
    text = text.replace('rules = "rules/customers-fr.toml",     system = "shop"',
                        'rules = "rules/customers-fr.toml",     system = "sh/op"')
    text = text.replace('rules = "rules/members-fr.toml",       system = "membership"',
                        'rules = "rules/members-fr.toml",       sytem = "membership"')
    setup.config.write_text(text)
    lines = text.splitlines()
    at = {name: next(i for i, line in enumerate(lines, 1) if name in line) for name in ("clients*", "adherents*")}
    result = importd("check", "-c", str(setup.config))
    assert result.returncode == 2
    assert f"importd.toml:{at['clients*']}: route 'clients*.csv': system names the upstream system" in result.stderr
    assert f"importd.toml:{at['adherents*']}: route 'adherents*.csv': unknown key 'sytem'" in result.stderr


def test_exclude_names_a_system_and_skips_that_systems_reference_only(setup):
    """`review exclude shop customer C0009`: the shop's C0009 is skipped; the member A-0009 of the
    same person is not; a name no route gives as a system is refused (the inbox's, after systems)."""
    refused = importd("review", "exclude", "inbox", "customer", "C0009", "--reason", "test", "-c", str(setup.config))
    assert refused.returncode == 2 and "no route names system 'inbox'" in refused.stderr
    assert importd("review", "exclude", "shop", "customer", "C0009", "--reason", "test account",
                   "-c", str(setup.config)).returncode == 0
    setup.drop("clients-1.csv", clients_csv("C0009;M.;Test;Test;;;;;;;FR;;t@example.fr"))
    setup.drop("adherents-1.csv", members_csv("C0009;test;test;1;rue A;69001 LYON;FR;;t@example.fr"))
    assert setup.run_once().returncode == 0
    assert set(refs(setup)) == {("membership", "C0009")}
    ack = json.loads((setup.root / "outbox" / "inbox" / "clients-1.csv.ack.json").read_text())
    assert (ack["system"], [d["outcome"] for d in ack["documents"]]) == ("shop", ["excluded"])
