"""Issue 10.2: held documents have a way out — list, show, accept, keep, pick, drop, do-not-sync."""

from __future__ import annotations

import getpass
import json

from conftest import importd, log_lines

BACKENDS = ("sqlite", "postgresql")     # each test runs on both
from test_identity import ALPHA, BETA
from test_rules import edit_rules, events
from test_walking import clients_csv


def review(setup, *args: str):
    return importd("review", *args, "-c", str(setup.config))


def held(setup) -> list[dict]:
    return json.loads(review(setup, "list", "--json").stdout)


def hold_a_phone_change(setup) -> int:
    """W1's phone changes under priority = "review": held; returns the held id."""
    edit_rules(setup, "customers-fr.toml", ('transform = "phone", priority = "source"',
                                            'transform = "phone", priority = "review"'),
               ('address1   = "Adresse"', 'address1   = { column = "Adresse", priority = "review" }'))
    setup.drop("clients-1.csv", clients_csv("W1;M.;Jeteste;Jean;;;1 rue A;;75001;Paris;FR;0102030405;a@example.fr"))
    assert setup.run_once().returncode == 0
    setup.drop("clients-2.csv", clients_csv("W1;M.;Jeteste;Jean;;;9 rue Z;;75001;Paris;FR;0611223344;a@example.fr"))
    assert setup.run_once().returncode == 0
    [row] = held(setup)
    return row["id"]


def acks(setup, prefix: str = "review-") -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((setup.root / "outbox" / "inbox").glob(f"{prefix}*.ack.json"))]


def test_show_lists_the_differing_fields_stored_and_incoming(setup):
    """`review show` puts stored and incoming values side by side; `status` counts the held document."""
    held_id = hold_a_phone_change(setup)
    shown = review(setup, "show", str(held_id))
    assert shown.returncode == 0, shown.stderr
    assert "+33102030405" in shown.stdout and "+33611223344" in shown.stdout and "9 rue Z" in shown.stdout
    view = json.loads(review(setup, "show", str(held_id), "--json").stdout)
    assert {(d["field"], d["stored"], d["incoming"]) for d in view["differences"]} == {
        ("phone", "+33102030405", "+33611223344"), ("address1", "1 rue A", "9 rue Z")}
    status = json.loads(importd("status", "--json", "-c", str(setup.config)).stdout)
    assert status["held_for_review"] == 1
    assert "1 held for review" in importd("status", "-c", str(setup.config)).stdout


def test_accept_applies_the_incoming_values_and_logs_who_and_when(setup):
    """accept: incoming values win, the document leaves the hold, the decision is logged, recorded and acked."""
    held_id = hold_a_phone_change(setup)
    result = review(setup, "accept", str(held_id))
    assert result.returncode == 0, result.stderr
    assert setup.rows("SELECT phone, address1 FROM customers") == [{"phone": "+33611223344", "address1": "9 rue Z"}]
    assert held(setup) == []
    logged = log_lines("\n".join(x for x in result.stdout.splitlines() if x.startswith("{")))
    [line] = [e for e in logged if e["event"] == "review.decided"]
    assert "updated as JEAN001" in result.stdout
    assert (line["action"], line["by"], line["outcome"]) == ("accept", getpass.getuser(), "updated")
    [decision] = setup.rows("SELECT * FROM review_decisions")
    assert (decision["decided_by"], decision["external_id"]) == (getpass.getuser(), "W1")
    [ack] = acks(setup)
    assert ack["action"] == "accept" and ack["documents"][0]["outcome"] == "updated"


def test_keep_and_field_by_field(setup):
    """keep with one field taken from the incoming record: the stored phone stays, the new address wins."""
    held_id = hold_a_phone_change(setup)
    result = review(setup, "keep", str(held_id), "--field", "address1=incoming")
    assert result.returncode == 0, result.stderr
    assert setup.rows("SELECT phone, address1 FROM customers") == [{"phone": "+33102030405", "address1": "9 rue Z"}]


def test_a_field_the_hold_is_not_about_is_refused_and_nothing_changes(setup):
    held_id = hold_a_phone_change(setup)
    result = review(setup, "accept", str(held_id), "--field", "city=incoming")
    assert result.returncode == 2 and "not a field this document is held for" in result.stderr
    assert len(held(setup)) == 1 and not setup.rows("SELECT * FROM review_decisions")


def test_pick_a_customer_among_the_candidates_numbers_the_order_then(setup):
    """An order held between two customers is numbered only when a person picks one: no gap."""
    setup.drop("clients-1.csv", clients_csv("W1;M.;Curie;Marie;;;;;;;FR;;marie.curie@example.fr",
                                            "W2;Mme;Curie;Marie;;;;;;;FR;;other@example.fr"))
    assert setup.run_once().returncode == 0
    with setup.db() as db:
        db.execute("UPDATE customers SET email = 'marie.curie@example.fr'")
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    [row] = held(setup)
    shown = review(setup, "show", str(row["id"]))
    assert "MARI001" in shown.stdout and "MARI002" in shown.stdout
    refused = review(setup, "pick", str(row["id"]), "NOPE001")
    assert refused.returncode == 2 and "pick one of MARI001, MARI002" in refused.stderr
    result = review(setup, "pick", str(row["id"]), "MARI002")
    assert result.returncode == 0, result.stderr
    orders = setup.rows("SELECT number, external_ref, customer_code FROM orders ORDER BY number")
    assert [o["external_ref"] for o in orders] == ["#1001", "#1003", "#1002"]
    assert orders[-1]["customer_code"] == "MARI002"
    assert [o["number"][-6:] for o in orders] == ["000001", "000002", "000003"]
    assert acks(setup)[0]["documents"][0]["number"] == orders[-1]["number"]


def test_accept_on_a_shared_key_hold_creates_a_customer_of_its_own(setup):
    edit_rules(setup, "customers-fr.toml", ('kind = "customer"\n', 'kind = "customer"\nshared_key = "review"\n'))
    setup.drop("clients-1.csv", clients_csv(ALPHA, BETA))
    assert setup.run_once().returncode == 0
    [row] = held(setup)
    assert review(setup, "accept", str(row["id"])).returncode == 0
    assert [r["name"] for r in setup.rows("SELECT name FROM customers ORDER BY code")] == ["Alpha Twin", "Beta Twin"]


def test_drop_removes_for_good_with_its_reason_and_exclude_lift(setup):
    """drop: the document leaves, its reference is not synced again until lifted; the reason is kept."""
    held_id = hold_a_phone_change(setup)
    assert review(setup, "drop", str(held_id)).returncode == 2          # a reason is required
    result = review(setup, "drop", str(held_id), "--reason", "member asked to be forgotten")
    assert result.returncode == 0, result.stderr
    assert held(setup) == []
    excluded = review(setup, "excluded").stdout
    assert "shop customer W1" in excluded and "member asked to be forgotten" in excluded
    assert acks(setup)[0]["reason"] == "member asked to be forgotten"
    setup.drop("clients-3.csv", clients_csv("W1;M.;Jeteste;Jean;;;7 rue Q;;75001;Paris;FR;0611223344;a@example.fr"))
    result = setup.run_once()
    assert result.returncode == 0
    assert setup.rows("SELECT address1 FROM customers") == [{"address1": "1 rue A"}]
    assert review(setup, "lift", "shop", "customer", "W1").returncode == 0
    assert review(setup, "lift", "shop", "customer", "W1").returncode == 2
    edit_rules(setup, "customers-fr.toml", ('{ column = "Adresse", priority = "review" }', '"Adresse"'))
    setup.drop("clients-4.csv", clients_csv("W1;M.;Jeteste;Jean;;;7 rue Q;;75001;Paris;FR;0102030405;a@example.fr"))
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT address1 FROM customers") == [{"address1": "7 rue Q"}]
    log = review(setup, "log").stdout
    assert "drop shop customer W1 → dropped" in log


def test_exclude_keeps_a_new_reference_out_of_the_database(setup):
    assert review(setup, "exclude", "shop", "customer", "W9", "--reason", "test account").returncode == 0
    setup.drop("clients-1.csv", clients_csv("W9;M.;Test;Test;;;;;;;FR;;t@example.fr",
                                            "W1;M.;Jeteste;Jean;;;;;;;FR;;a@example.fr"))
    assert setup.run_once().returncode == 0
    assert [r["name"] for r in setup.rows("SELECT name FROM customers")] == ["Jean Jeteste"]
    ack = json.loads((setup.root / "outbox" / "inbox" / "clients-1.csv.ack.json").read_text())
    assert [d["outcome"] for d in ack["documents"]] == ["excluded", "created"]


def test_unknown_id_is_a_usage_error(setup):
    result = review(setup, "accept", "42")
    assert result.returncode == 2 and "no held or parked document #42" in result.stderr


def test_a_decision_cut_off_before_its_ack_is_acknowledged_later(setup):
    """A crash between a decision's commit and its ack (the state it leaves: the decision recorded,
    not marked acknowledged, no ack file): the next start of the service writes the ack."""
    held_id = hold_a_phone_change(setup)
    assert review(setup, "accept", str(held_id)).returncode == 0
    [ack] = acks(setup)
    for path in (setup.root / "outbox" / "inbox").glob("review-*.ack.json"):
        path.unlink()
    with setup.db() as db:
        db.execute("UPDATE review_decisions SET acked_at = NULL")
    assert setup.run_once().returncode == 0
    assert acks(setup) == [ack]
    assert setup.rows("SELECT count(*) n FROM review_decisions WHERE acked_at IS NULL") == [{"n": 0}]
