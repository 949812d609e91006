"""What administrators write in rules files, applied exactly: each rule kind through the real CLI."""

from __future__ import annotations

import json

from conftest import importd, log_lines

BACKENDS = ("sqlite", "postgresql")     # each test runs on both
from test_walking import clients_csv

CATALOGUE = "Référence;Désignation;Prix HT;Taux TVA\nSAV-LAV-100;Savon lavande 100 g;10,00;20,0\n"


def edit_rules(setup, name: str, *pairs: tuple[str, str]) -> None:
    path = setup.root / "rules" / name
    text = path.read_text(encoding="utf-8")
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def shopify(setup, edit=lambda text: text) -> str:
    return edit((setup.root / "samples" / "orders_export_1.csv").read_text())


def events(result, name: str) -> list[dict]:
    return [line for line in log_lines(result.stdout) if line["event"] == name]


def test_members_file_joins_street_splits_postcode_city_and_normalises(setup):
    """Template join, postcode/city split, title case, E.164 phone, country: the members sample."""
    setup.drop_sample("adherents-2026-11.csv")
    assert setup.run_once().returncode == 0
    member = setup.rows("SELECT * FROM customers WHERE name = 'Marie Dupont'")[0]
    assert (member["address1"], member["postcode"], member["city"]) == \
        ("936 B Chemin De La Forest", "38200", "VILLETTE DE VIENNE")
    assert (member["phone"], member["country"], member["code"]) == ("+33474000000", "FR", "MARI001")


def test_value_table_maps_and_keeps_unknown_with_a_warning(setup):
    """A mapped status is translated; one not in the table is kept as is and logged (on_unknown = keep)."""
    setup.drop("orders_export_1.csv", shopify(setup, lambda t: t.replace("anna.schmidt@example.de,pending,", "anna.schmidt@example.de,on_hold,")))
    result = setup.run_once()
    assert result.returncode == 0
    statuses = {r["external_ref"]: r["status"] for r in setup.rows("SELECT external_ref, status FROM orders")}
    assert statuses == {"#1001": "paid", "#1002": "paid", "#1003": "on_hold"}
    warnings = events(result, "document.warning")
    assert any("on_hold" in w["warning"] and w["external_ref"] == "#1003" for w in warnings)


def test_unknown_value_is_an_error_by_default_naming_line_field_and_value(setup):
    """Without on_unknown, a value outside the table quarantines the file with line, field and value."""
    edit_rules(setup, "shopify-orders.toml", ('on_unknown = "keep", map = {', 'map = {'))
    setup.drop("orders_export_1.csv", shopify(setup, lambda t: t.replace("anna.schmidt@example.de,pending,", "anna.schmidt@example.de,on_hold,")))
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("orders_export_1.csv")
    assert (sidecar["code"], sidecar["line"], sidecar["field"]) == ("unknown_value", 5, "order.status")
    assert "'on_hold'" in sidecar["message"]


def test_on_unknown_default_uses_the_default(setup):
    """on_unknown = "default" puts the rule's default in place of a value that does not correspond."""
    edit_rules(setup, "shopify-orders.toml",
               ('on_unknown = "keep", map = {', 'on_unknown = "default", default = "pending", map = {'))
    setup.drop("orders_export_1.csv", shopify(setup, lambda t: t.replace("anna.schmidt@example.de,pending,", "anna.schmidt@example.de,on_hold,")))
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT status FROM orders WHERE external_ref = '#1003'") == [{"status": "pending"}]


def test_extract_takes_the_first_group_of_a_pattern(setup):
    """extract = '(regex)' keeps the first group: the digits of a shop's 'N° client'."""
    edit_rules(setup, "customers-fr.toml",
               ('external_ref = { column = "N° client", required = true }',
                "external_ref = { column = \"N° client\", required = true, extract = '(\\d+)$' }"))
    setup.drop("clients-1.csv", clients_csv("WEB-00042;M.;Jeteste;Jean;;;1 rue A;;75001;Paris;FR;;jean@example.fr"))
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT external_id FROM external_refs") == [{"external_id": "00042"}]


def test_invalid_vat_number_is_refused_by_its_check_digits(setup):
    """A VAT number whose check digits are wrong is an error on its line (python-stdnum)."""
    setup.drop("clients-1.csv", clients_csv("W1;M.;Jeteste;Jean;ACME;FR41303265045;1 rue A;;75001;Paris;FR;;a@example.fr"))
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("clients-1.csv")
    assert (sidecar["code"], sidecar["line"], sidecar["field"]) == ("bad_vat", 2, "customer.vat_number")


def test_priorities_source_fill_and_database_each_apply_and_are_logged(setup):
    """Phone (source) is overwritten, VAT (fill) is kept, the catalogue's VAT rate (database) never changes."""
    setup.drop("clients-1.csv", clients_csv("W1;M.;Jeteste;Jean;ACME;FR40303265045;1 rue A;;75001;Paris;FR;0102030405;a@example.fr"))
    setup.drop("catalogue-1.csv", CATALOGUE)
    assert setup.run_once().returncode == 0
    setup.drop("clients-2.csv", clients_csv("W1;M.;Jeteste;Jean;ACME;BE0403019261;1 rue A;;75001;Paris;FR;0611223344;a@example.fr"))
    setup.drop("catalogue-2.csv", CATALOGUE.replace("20,0", "5,5").replace("10,00", "11,00"))
    result = setup.run_once()
    assert result.returncode == 0
    assert setup.rows("SELECT phone, vat_number FROM customers") == [{"phone": "+33611223344", "vat_number": "FR40303265045"}]
    assert setup.rows("SELECT unit_price, vat_rate FROM products") == [{"unit_price": "11.00", "vat_rate": "20.0"}]
    differences = {(d["field"], d["kept"]): (d["stored"], d["incoming"]) for d in events(result, "field.difference")}
    assert differences == {("phone", "incoming"): ("+33102030405", "+33611223344"),
                           ("vat_number", "stored"): ("FR40303265045", "BE0403019261"),
                           ("unit_price", "incoming"): ("10.00", "11.00"),
                           ("vat_rate", "stored"): ("20.0", "5.5")}


def test_review_priority_holds_the_record_with_both_values(setup):
    """priority = "review": a changed phone holds the customer for a person; nothing is overwritten."""
    edit_rules(setup, "customers-fr.toml", ('transform = "phone", priority = "source"', 'transform = "phone", priority = "review"'))
    setup.drop("clients-1.csv", clients_csv("W1;M.;Jeteste;Jean;;;1 rue A;;75001;Paris;FR;0102030405;a@example.fr"))
    assert setup.run_once().returncode == 0
    setup.drop("clients-2.csv", clients_csv("W1;M.;Jeteste;Jean;;;1 rue A;;75001;Paris;FR;0611223344;a@example.fr"))
    result = setup.run_once()
    assert result.returncode == 0
    assert setup.rows("SELECT phone FROM customers") == [{"phone": "+33102030405"}]
    held = events(result, "field.difference")
    assert held == [{**held[0], "field": "phone", "stored": "+33102030405", "incoming": "+33611223344", "kept": "held"}]
    listed = json.loads(importd("parked", "list", "--json", "-c", str(setup.config)).stdout)
    assert [(p["entity"], p["external_id"], p["waiting_for"]) for p in listed] == [("customer", "W1", "review")]


def test_two_matching_customers_hold_the_order_for_review_not_a_merge(setup):
    """An order whose e-mail matches two customers is held with both candidates; none is guessed."""
    setup.drop("clients-1.csv", clients_csv(
        "W1;M.;Curie;Marie;;;;;;;FR;;marie.curie@example.fr",
        "W2;Mme;Curie;Marie;;;;;;;FR;;other@example.fr"))
    assert setup.run_once().returncode == 0
    with setup.db() as db:      # a data-entry slip upstream: two records now share the address
        db.execute("UPDATE customers SET email = 'marie.curie@example.fr'")
    setup.drop_sample("orders_export_1.csv")
    result = setup.run_once()
    assert result.returncode == 0
    assert [o["external_ref"] for o in setup.rows("SELECT external_ref FROM orders ORDER BY 1")] == ["#1001", "#1003"]
    held = events(result, "document.held")
    assert len(held) == 1 and held[0]["external_ref"] == "#1002"
    assert "MARI001" in held[0]["reason"] and "MARI002" in held[0]["reason"]
    assert len(setup.rows("SELECT * FROM customers")) == 2 + 2          # no merge, no new Marie


def test_parked_order_is_released_when_its_customer_arrives(setup):
    """missing_customer = "park": the order waits, then imports by itself when the customers file comes."""
    edit_rules(setup, "shopify-orders.toml", ('missing_customer = "create"', 'missing_customer = "park"'))
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT * FROM orders") == []
    listed = importd("parked", "list", "-c", str(setup.config)).stdout
    assert "3 parked document(s)" in listed and "jean.jeteste@example.fr" in listed
    setup.drop_sample("clients-2026-11.csv")
    result = setup.run_once()
    released = events(result, "parked.released")
    assert [r["external_ref"] for r in released] == ["#1001"]        # Jean is a customer now; the others wait
    assert setup.rows("SELECT number, customer_code FROM orders") == [{"number": "CMD-2026-000001",
                                                                       "customer_code": "JEAN001"}]
    assert setup.rows("SELECT count(*) n FROM parked_records") == [{"n": 2}]


def test_parked_order_waiting_too_long_goes_to_quarantine(setup):
    """After park_timeout_hours the parked document is reported and moved to quarantine."""
    edit_rules(setup, "shopify-orders.toml", ('missing_customer = "create"', 'missing_customer = "park"\npark_timeout_hours = 0.0001'))
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    import time
    time.sleep(2)       # expiry times are stored to the second: 2 s is always past 0.36 s after parking
    result = importd("parked", "retry", "-c", str(setup.config))
    assert "expired 3" in result.stdout
    names = setup.quarantined()
    assert len([n for n in names if n.endswith(".error.json")]) == 3
    sidecar = json.loads(next((setup.root / "quarantine" / "inbox").glob("parked-*.error.json")).read_text())
    assert sidecar["code"] == "parked_too_long"


def test_missing_customer_reject_quarantines_the_file(setup):
    """missing_customer = "reject": an unknown buyer rejects the file, naming the order's line."""
    edit_rules(setup, "shopify-orders.toml", ('missing_customer = "create"', 'missing_customer = "reject"'))
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 1
    assert setup.sidecar("orders_export_1.csv")["code"] == "missing_customer"


def test_price_conflict_under_each_policy(setup):
    """Order 12.50 (VAT included) vs catalogue 10.00 before 20 % VAT: source keeps 12.50, database takes the
    catalogue's price on the order's basis (12.00), review holds the order."""
    for policy, expected in (("source", "12.50"), ("database", "12.00"), ("review", None)):
        edit_rules(setup, "shopify-orders.toml", ('priority = "source"', f'priority = "{policy}"'))
        setup.drop("catalogue-1.csv", CATALOGUE)
        setup.drop("orders_export_1.csv", shopify(setup))
        result = setup.run_once()
        assert result.returncode == 0
        price = setup.rows("SELECT l.unit_price, l.line_total FROM order_lines l JOIN orders o ON o.number = l.order_number"
                           " WHERE o.external_ref = '#1003' AND l.sku = 'SAV-LAV-100'")
        if expected is None:
            assert price == [] and [h["external_ref"] for h in events(result, "document.held")] == ["#1001", "#1003"]
        else:
            assert price == [{"unit_price": expected, "line_total": expected}]
        kept = {d["kept"] for d in events(result, "field.difference")}
        assert kept == {"incoming": {"incoming"}, "database": {"stored"}, None: {"held"}}[expected and (
            "incoming" if policy == "source" else "database")]
        # start again for the next policy
        edit_rules(setup, "shopify-orders.toml", (f'priority = "{policy}"', 'priority = "source"'))
        for table in ("orders", "order_lines", "external_refs", "counters", "parked_records", "import_files", "products"):
            with setup.db() as db:
                db.execute(f"DELETE FROM {table}")


def test_document_atomicity_imports_the_good_and_sets_aside_the_bad(setup):
    """atomicity = "document": good members are imported; the bad one goes to a rejects file with its reason."""
    setup.drop("adherents-x.csv", "Code adhérent;Nom;Prénom;Numéro;Voie;CP Ville;Pays;Téléphone;Email\n"
                                  "A1;Un;Anne;1;rue A;75001 PARIS;FR;;anne@example.fr\n"
                                  "A2;Deux;Bob;2;rue B;75002 PARIS;Atlantide;;bob@example.fr\n"
                                  "A3;Trois;Chloé;3;rue C;75003 PARIS;FR;;chloe@example.fr\n")
    assert setup.run_once().returncode == 1       # a rejected document: the one-shot run says so
    assert {c["name"] for c in setup.rows("SELECT name FROM customers")} == {"Anne Un", "Chloé Trois"}
    assert "adherents-x.csv" in setup.archived()
    rejects = (setup.root / "quarantine" / "inbox" / "adherents-x.csv.rejects.csv").read_text().splitlines()
    assert rejects == ["Code adhérent;Nom;Prénom;Numéro;Voie;CP Ville;Pays;Téléphone;Email",       # the source's own lines
                       "A2;Deux;Bob;2;rue B;75002 PARIS;Atlantide;;bob@example.fr"]
    sidecar = setup.sidecar("adherents-x.csv")
    assert sidecar["code"] == "rejected_documents"
    assert [(d["line"], d["code"]) for d in sidecar["documents"]] == [(3, "unknown_country")]


def test_changed_order_is_quarantined_with_a_field_by_field_diff(setup):
    """A numbered order that comes back changed lists each differing field with both values."""
    setup.drop("orders_export_1.csv", shopify(setup))
    assert setup.run_once().returncode == 0
    setup.drop("orders_export_2.csv", shopify(setup, lambda t: t.replace("64.70", "65.70").replace(",2,Savon", ",3,Savon")))
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("orders_export_2.csv")
    assert sidecar["number"] == "CMD-2026-000001"
    assert {"field": "total", "stored": "64.70", "incoming": "65.70"} in sidecar["diff"]
    assert {"field": "line 1 quantity", "stored": "2", "incoming": "3"} in sidecar["diff"]


def test_year_restarts_the_series_and_chronology_warns_or_holds(setup):
    """{year} gives each year its own counter; an order dated before the last numbered one warns or is held."""
    setup.drop("orders_export_1.csv", shopify(setup, lambda t: t.replace("2026-11-03", "2025-12-30")))
    result = setup.run_once()
    numbers = {r["external_ref"]: r["number"] for r in setup.rows("SELECT external_ref, number FROM orders")}
    assert numbers == {"#1001": "CMD-2026-000001", "#1002": "CMD-2025-000001", "#1003": "CMD-2026-000002"}
    assert events(result, "document.warning") == []
    late = shopify(setup).replace("#1001", "#2001").replace("#1002", "#2002").replace("#1003", "#2003")
    setup.drop("orders_export_2.csv", late.replace("2026-11-04", "2026-10-01"))
    result = setup.run_once()
    assert any("before the last numbered order" in w["warning"] for w in events(result, "document.warning"))
    edit_rules(setup, "shopify-orders.toml", ('chronology = "warn"', 'chronology = "review"'))
    later = late.replace("#2", "#3").replace("2026-11-02", "2026-12-02").replace("2026-11-03", "2026-12-03")
    setup.drop("orders_export_3.csv", later.replace("2026-11-04", "2026-10-01"))
    result = setup.run_once()
    assert [h["external_ref"] for h in events(result, "document.held")] == ["#3003"]


def test_check_with_a_sample_shows_numbers_without_consuming_them(setup):
    """`check RULES SAMPLE` prints the documents with the numbers they would get; nothing is written."""
    rules, sample = setup.root / "rules" / "shopify-orders.toml", setup.root / "samples" / "orders_export_1.csv"
    result = importd("check", str(rules), str(sample), "-c", str(setup.config))
    assert result.returncode == 0, result.stderr
    assert "CMD-2026-000001" in result.stdout and "#1003" in result.stdout and "created" in result.stdout
    assert "nothing was written" in result.stdout
    assert setup.rows("SELECT * FROM counters") == [] and setup.rows("SELECT * FROM orders") == []


def test_check_with_a_bad_sample_lists_every_error_with_its_line(setup, tmp_path):
    """Every bad document of the sample is listed with its line, not only the first; exit 1."""
    bad = tmp_path / "orders_export_bad.csv"
    bad.write_text(shopify(setup, lambda t: t.replace("64.70", "x").replace("31.50", "y")))
    result = importd("check", str(setup.root / "rules" / "shopify-orders.toml"), str(bad), "-c", str(setup.config))
    assert result.returncode == 1
    assert "line 2: bad_number" in result.stdout and "line 5: bad_number" in result.stdout
    assert "#1002" in result.stdout and "created" in result.stdout


def test_rules_file_with_mistakes_reports_all_of_them(setup):
    """Unknown keys, a bad policy, an unknown transform and a bad priority: four lines, one run."""
    path = setup.root / "rules" / "broken.toml"
    path.write_text('[format]\nparser = "csv"\nencodng = "utf-8"\n\n[document]\nkind = "customer"\n'
                    'missing_customer = "maybe"\n\n[customer]\nexternal_ref = "Id"\n'
                    'name = { column = "Nom", transform = "shout" }\nphone = { column = "Tel", priority = "me" }\n')
    result = importd("check", str(path))
    assert result.returncode == 2
    problems = result.stderr.strip().splitlines()
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in problems] == ["3", "7", "11", "12"], problems
    assert all(" — " in p for p in problems)


def test_file_failing_after_rejected_documents_keeps_the_files_own_reason(setup):
    """atomicity = "document", a rejected member, then a bad byte: the sidecar says bad_encoding, no rejects file."""
    rows = ["A0;Zero;Ann;1;rue A;75001 PARIS;Atlantide;;a0@example.fr"]
    rows += [f"A{i};Nom;Bob;{i};rue B;75002 PARIS;FR;;b{i}@example.fr" for i in range(1, 700)]
    data = ("Code adhérent;Nom;Prénom;Numéro;Voie;CP Ville;Pays;Téléphone;Email\n" + "\n".join(rows) + "\n").encode()
    setup.drop("adherents-y.csv", data + b"A9;\xff;;;;;;;\n")
    assert setup.run_once().returncode == 1
    assert setup.sidecar("adherents-y.csv")["code"] == "bad_encoding"
    assert not (setup.root / "quarantine" / "inbox" / "adherents-y.csv.rejects.csv").exists()
    assert setup.rows("SELECT count(*) n FROM customers") == [{"n": 0}]


def test_chronology_warnings_of_one_file_are_bounded_to_a_few_examples_and_a_count(setup):
    """Twelve late orders in one file: five warnings logged one by one, then one line with the count."""
    lines = shopify(setup).splitlines(keepends=True)
    late_order = [line for line in lines if line.startswith("#1002,")]
    late = "".join(line.replace("#1002", f"#{2000 + n}").replace("2026-11-03", "2026-10-01")
                   for n in range(12) for line in late_order)
    setup.drop("orders_export_1.csv", shopify(setup))
    assert setup.run_once().returncode == 0
    setup.drop("orders_export_2.csv", lines[0] + late)
    result = setup.run_once()
    assert result.returncode == 0
    one_by_one = events(result, "document.warning")
    assert [w["external_ref"] for w in one_by_one] == [f"#{2000 + n}" for n in range(5)]
    summary, = events(result, "document.warnings")
    assert summary["count"] == 12 and len(summary["examples"]) == 5
    assert "before the last numbered order" in summary["examples"][0]
