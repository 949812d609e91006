"""Files of many batches: what one batch learns and the next one finds, through the real CLI."""

from __future__ import annotations

import pytest

RULES = """[format]
parser = "csv"
delimiter = ";"
decimal_comma = true
date_format = "%d/%m/%Y"

[document]
kind = "order"
group_by = "Commande"
match_customer = ["email"]
missing_customer = "create"

[order]
external_ref = { column = "Commande", required = true }
order_date   = { column = "Date", required = true }
total        = { column = "Total", required = true }

[line]
sku        = "Article"
quantity   = { column = "Qté", required = true }
unit_price = { column = "Prix", required = true }

[customer]
external_ref = "Client"
name         = "Nom"
email        = { column = "E-mail", transform = "email" }
"""


def orders(first: int, count: int, buyers: int) -> str:
    """`count` two-line orders; order n is bought by client n % buyers (and a new client from n = 1200 on)."""
    rows = ["Commande;Date;Client;Nom;E-mail;Article;Qté;Prix;Total"]
    for n in range(first, first + count):
        buyer = n % buyers if n < 1200 else 99
        head = f"CF{n:05d};05/11/2026;C{buyer:02d};Client {buyer};c{buyer}@exemple.fr"
        rows += [f"{head};SAV;1;1 000,50;1 001,50", f"{head};BOU;1;1,00;1 001,50"]
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("found_by", ["reference", "email"])
def test_buyers_seen_in_one_batch_are_the_same_customers_in_the_next_ones(setup, found_by):
    """1,300 orders (three batches) then 600 more in a second file, buyers found by their reference or
    by e-mail: each is created once, the first time, and every later order of theirs, in any batch or
    file, has that customer's code."""
    rules = RULES if found_by == "reference" else RULES.replace('external_ref = "Client"\n', "")
    (setup.root / "rules" / "commandes.toml").write_text(rules, encoding="utf-8")
    config = setup.root / "importd.toml"
    config.write_text(config.read_text().replace(
        "routes = [", 'routes = [\n  { match = "commandes*.csv", rules = "rules/commandes.toml" },', 1))
    setup.drop("commandes_1.csv", orders(1, 1300, 7))
    assert setup.run_once().returncode == 0
    setup.drop("commandes_2.csv", orders(1300, 600, 7))
    assert setup.run_once().returncode == 0
    assert [f["state"] for f in setup.rows("SELECT state FROM import_files ORDER BY id")] == ["imported"] * 2
    customers = setup.rows("SELECT code, email FROM customers")
    assert sorted(c["email"] for c in customers) == sorted([f"c{b}@exemple.fr" for b in range(7)] + ["c99@exemple.fr"])
    code_of = {c["email"]: c["code"] for c in customers}

    def buyer(order_ref: str) -> str:
        n = int(order_ref[2:])
        return f"c{n % 7 if n < 1200 else 99}@exemple.fr"

    bought = setup.rows("SELECT external_ref, customer_code FROM orders")
    assert len(bought) == 1899
    assert all(o["customer_code"] == code_of[buyer(o["external_ref"])] for o in bought)
    references = setup.rows("SELECT external_id FROM external_refs WHERE entity = 'customer'")
    assert len(references) == (8 if found_by == "reference" else 0)
    assert setup.rows("SELECT DISTINCT line_total FROM order_lines ORDER BY 1") == [
        {"line_total": "1.00"}, {"line_total": "1000.50"}]
