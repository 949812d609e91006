"""Issue 10.1: a key match never merges two records the upstream system keeps apart."""

from __future__ import annotations

import json

from conftest import importd

BACKENDS = ("sqlite", "postgresql")     # each test runs on both
from test_rules import CATALOGUE, edit_rules, events
from test_walking import clients_csv

ALPHA = "C-2001;M.;Twin;Alpha;;;1 rue A;;75001;Paris;FR;;twins@example.fr"
BETA = "C-2002;Mme;Twin;Beta;;;2 rue B;;75002;Paris;FR;;twins@example.fr"


def refs(setup, entity: str = "customer") -> dict[str, str]:
    return {r["external_id"]: r["internal_key"] for r in setup.rows(
        "SELECT external_id, internal_key FROM external_refs WHERE entity = ?", entity)}


def test_two_shop_customers_sharing_an_email_stay_two_customers(setup):
    """Alpha Twin and Beta Twin share an e-mail but not a shop number: two customers, a warning, no merge."""
    setup.drop("clients-1.csv", clients_csv(ALPHA, BETA))
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    rows = setup.rows("SELECT code, name, address1 FROM customers ORDER BY code")
    assert [(r["name"], r["address1"]) for r in rows] == [("Alpha Twin", "1 rue A"), ("Beta Twin", "2 rue B")]
    assert refs(setup) == {"C-2001": rows[0]["code"], "C-2002": rows[1]["code"]}
    [warning] = events(result, "document.warning")
    assert warning["external_ref"] == "C-2002" and "twins@example.fr" in warning["warning"]
    assert "C-2001" in warning["warning"] and "not merged" in warning["warning"]


def test_shared_key_across_files_also_creates_apart(setup):
    """Beta Twin arriving in a later file is not merged into Alpha Twin either."""
    setup.drop("clients-1.csv", clients_csv(ALPHA))
    assert setup.run_once().returncode == 0
    setup.drop("clients-2.csv", clients_csv(BETA))
    assert setup.run_once().returncode == 0
    assert [r["name"] for r in setup.rows("SELECT name FROM customers ORDER BY code")] == ["Alpha Twin", "Beta Twin"]


def test_key_match_without_a_contradicting_reference_still_updates(setup):
    """The same shop number coming back, and a customer with no reference of this source, still match."""
    setup.drop("clients-1.csv", clients_csv(ALPHA))
    assert setup.run_once().returncode == 0
    with setup.db() as db:     # typed in by hand: no upstream reference
        db.execute("INSERT INTO customers (code, name, email, created_at, updated_at)"
                   " VALUES ('MANU001', 'Manual', 'manual@example.fr', '2026-01-01', '2026-01-01')")
    setup.drop("clients-2.csv", clients_csv(ALPHA.replace("1 rue A", "1 rue A bis"),
                                            "C-3000;M.;Manual;Man;;;;;;;FR;;manual@example.fr"))
    assert setup.run_once().returncode == 0
    assert len(setup.rows("SELECT * FROM customers")) == 2
    assert refs(setup)["C-3000"] == "MANU001"
    assert setup.rows("SELECT address1 FROM customers WHERE name = 'Alpha Twin'") == [{"address1": "1 rue A bis"}]


def test_shared_key_review_holds_the_second_customer_with_its_candidate(setup):
    """shared_key = "review": Beta Twin is held for a person with Alpha Twin as candidate; nothing merged."""
    edit_rules(setup, "customers-fr.toml", ('kind = "customer"\n', 'kind = "customer"\nshared_key = "review"\n'))
    setup.drop("clients-1.csv", clients_csv(ALPHA, BETA))
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    assert [r["name"] for r in setup.rows("SELECT name FROM customers")] == ["Alpha Twin"]
    [held] = events(result, "document.held")
    assert held["external_ref"] == "C-2002" and "C-2001" in held["reason"]
    listed = json.loads(importd("parked", "list", "--json", "-c", str(setup.config)).stdout)
    assert json.loads(listed[0]["details"])["candidates"] == ["ALPH001"]


def test_order_buyer_matching_a_customer_of_another_shop_number_gets_its_own_customer(setup):
    """An order's buyer with its own shop number is not taken for the customer who shares the e-mail."""
    edit_rules(setup, "shopify-orders.toml", ("[customer]\n", "[customer]\nexternal_ref = \"Email\"\n"))
    setup.drop("clients-1.csv", clients_csv(ALPHA.replace("twins@example.fr", "anna.schmidt@example.de")))
    assert setup.run_once().returncode == 0
    setup.drop_sample("orders_export_1.csv")
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    buyer = setup.rows("SELECT customer_code FROM orders WHERE external_ref = '#1003'")[0]["customer_code"]
    assert buyer != "ALPH001"
    assert any("not merged" in w["warning"] for w in events(result, "document.warning"))


def test_two_upstream_products_with_one_sku_are_held_not_merged(setup):
    """Products: the SKU is our key, so a second upstream product with it is held, never merged."""
    edit_rules(setup, "products.toml", ('sku        = {', 'external_ref = "Désignation"\nsku        = {'))
    setup.drop("catalogue-1.csv", CATALOGUE)
    assert setup.run_once().returncode == 0
    setup.drop("catalogue-2.csv", CATALOGUE.replace("Savon lavande 100 g", "Savon rose 100 g"))
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    assert setup.rows("SELECT name FROM products") == [{"name": "Savon lavande 100 g"}]
    [held] = events(result, "document.held")
    assert held["external_ref"] == "Savon rose 100 g" and "Savon lavande 100 g" in held["reason"]
