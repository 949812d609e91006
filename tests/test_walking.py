"""The walking service end to end: the real CLI on a real folder and a real SQLite file."""

from __future__ import annotations

import json

from conftest import importd, log_lines

BACKENDS = ("sqlite", "postgresql")     # each test runs on both

CLIENTS_HEADER = ("N° client;Civilité;Nom;Prénom;Société;N° TVA;Adresse;Complément;Code postal;Ville;Pays;"
                  "Téléphone;E-mail")


def clients_csv(*rows: str) -> bytes:
    """A customers file as the French shop writes it: cp1252, `;`, CRLF."""
    return ("\r\n".join([CLIENTS_HEADER, *rows]) + "\r\n").encode("cp1252")


def test_shipped_samples_import_with_numbers_and_archive(setup):
    """`init` + `run --once` imports the shipped samples: rows, numbers, archive, exit 0."""
    for sample in ("clients-2026-11.csv", "orders_export_1.csv"):
        setup.drop_sample(sample)
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    assert setup.archived() == ["clients-2026-11.csv", "orders_export_1.csv"]
    assert not setup.spool_files() and not list(setup.inbox.iterdir())
    orders = setup.rows("SELECT * FROM orders ORDER BY number")
    assert [o["number"] for o in orders] == ["CMD-2026-000001", "CMD-2026-000002", "CMD-2026-000003"]
    assert [o["external_ref"] for o in orders] == ["#1001", "#1002", "#1003"]
    first = orders[0]
    assert (first["subtotal"], first["shipping"], first["tax"], first["total"]) == ("59.80", "4.90", "10.78", "64.70")
    assert first["customer_code"] == "JEAN001"        # found by e-mail among the imported customers
    assert first["order_date"] == "2026-11-02"
    lines = setup.rows("SELECT * FROM order_lines WHERE order_number = ? ORDER BY line_no", first["number"])
    assert [(li["sku"], li["quantity"], li["unit_price"], li["line_total"]) for li in lines] == [
        ("SAV-LAV-100", "2", "12.50", "25.00"), ("BOU-PAR-01", "1", "34.80", "34.80")]


def test_money_is_never_stored_as_real(setup):
    """Every amount and quantity lands as exact TEXT (NUMERIC on PostgreSQL), never as a float."""
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    if setup.backend == "postgresql":
        types = setup.rows("SELECT DISTINCT data_type FROM information_schema.columns WHERE table_schema ="
                           " current_schema() AND column_name IN ('subtotal', 'total', 'quantity', 'unit_price')")
        assert {t["data_type"] for t in types} == {"numeric"}
        assert setup.rows("SELECT subtotal, total FROM orders ORDER BY number")[0] == {"subtotal": "59.80",
                                                                                     "total": "64.70"}
        return
    types = setup.rows("SELECT DISTINCT typeof(subtotal) t FROM orders UNION "
                       "SELECT DISTINCT typeof(total) FROM orders UNION "
                       "SELECT DISTINCT typeof(quantity) FROM order_lines UNION "
                       "SELECT DISTINCT typeof(unit_price) FROM order_lines")
    assert {t["t"] for t in types} == {"text"}


def test_customers_get_codes_per_prefix_and_iso_countries(setup):
    """Countries in any spelling become ISO codes; codes count per 4-letter prefix; refs are kept."""
    setup.drop("clients-a.csv", clients_csv(
        "W1;M.;Jeteste;Jean;;;1 rue A;;75001;Paris;FRANCE;0102030405;jean@example.fr",
        "W2;M.;Jeanneau;Jean;;;2 rue B;;1000;Bruxelles;belgique;;jean2@example.be",
        "W3;Mme;Martin;Léa;Société Générale d'Œuvres;FR40303265045;3 rue C;;75002;Paris;Royaume-Uni;;lea@example.fr",
        "W4;M.;Doe;John;;;4 road;;10001;New York;ÉTATS-UNIS;;john@example.com",
        "W5;M.;Smith;Bob;;;5 road;;SW1;London;gb;;bob@example.co.uk"))
    assert setup.run_once().returncode == 0
    customers = {c["code"]: c for c in setup.rows("SELECT * FROM customers")}
    assert set(customers) == {"JEAN001", "JEAN002", "SOCI001", "JOHN001", "BOBS001"}
    assert [customers[c]["country"] for c in ("JEAN001", "JEAN002", "SOCI001", "JOHN001", "BOBS001")] == \
        ["FR", "BE", "GB", "US", "GB"]
    assert customers["SOCI001"]["name"] == "Société Générale d'Œuvres"
    assert customers["JEAN001"]["name"] == "Jean Jeteste"
    refs = setup.rows("SELECT external_id, internal_key FROM external_refs WHERE entity = 'customer' "
                      "ORDER BY external_id")
    assert [(r["external_id"], r["internal_key"]) for r in refs] == [
        ("W1", "JEAN001"), ("W2", "JEAN002"), ("W3", "SOCI001"), ("W4", "JOHN001"), ("W5", "BOBS001")]


def test_reimported_changed_customer_is_updated_not_duplicated(setup):
    """The same upstream customer with a new phone updates the row and keeps its code."""
    setup.drop("clients-1.csv", clients_csv("W1;M.;Jeteste;Jean;;;1 rue A;;75001;Paris;FR;0102030405;jean@example.fr"))
    assert setup.run_once().returncode == 0
    setup.drop("clients-2.csv", clients_csv("W1;M.;Jeteste;Jean;;;1 rue A;;75001;Paris;FR;0611223344;jean@example.fr"))
    result = setup.run_once()
    assert result.returncode == 0
    customers = setup.rows("SELECT code, phone FROM customers")
    assert customers == [{"code": "JEAN001", "phone": "+33611223344"}]
    done = [line for line in log_lines(result.stdout) if line["event"] == "file.done"]
    assert done[0]["counts"] == {"updated": 1}


def test_same_file_again_even_renamed_is_a_duplicate(setup):
    """Dropping the same bytes under another name imports nothing new and says `duplicate`."""
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    setup.drop_sample("orders_export_1.csv", as_name="orders_export_again.csv")
    result = setup.run_once()
    assert result.returncode == 0
    assert len(setup.rows("SELECT * FROM orders")) == 3
    states = setup.rows("SELECT name, state FROM import_files ORDER BY id")
    assert states == [{"name": "orders_export_1.csv", "state": "imported"},
                      {"name": "orders_export_again.csv", "state": "duplicate"}]
    assert "orders_export_again.csv" in setup.archived()
    done = [line for line in log_lines(result.stdout) if line["event"] == "file.done"]
    assert done[0]["outcome"] == "duplicate"


def test_same_order_in_another_file_is_imported_once(setup):
    """An order already imported, met again in another file beside a new one, is not renumbered."""
    sample = (setup.root / "samples" / "orders_export_1.csv").read_text()
    header, *rows = sample.splitlines()
    first_order = [r for r in rows if r.startswith("#1001,")]
    setup.drop("orders_export_a.csv", "\n".join([header, *first_order]) + "\n")
    assert setup.run_once().returncode == 0
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    orders = setup.rows("SELECT number, external_ref FROM orders ORDER BY number")
    assert orders == [{"number": "CMD-2026-000001", "external_ref": "#1001"},
                      {"number": "CMD-2026-000002", "external_ref": "#1002"},
                      {"number": "CMD-2026-000003", "external_ref": "#1003"}]


def test_changed_order_after_numbering_is_quarantined_with_its_number(setup):
    """A new version of a numbered order is not applied: quarantine names the number it has."""
    sample = (setup.root / "samples" / "orders_export_1.csv").read_text()
    setup.drop("orders_export_1.csv", sample)
    assert setup.run_once().returncode == 0
    setup.drop("orders_export_2.csv", sample.replace("64.70", "65.70"))
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("orders_export_2.csv")
    assert sidecar["code"] == "document_changed"
    assert sidecar["number"] == "CMD-2026-000001"
    assert setup.rows("SELECT total FROM orders WHERE external_ref = '#1001'") == [{"total": "64.70"}]


def test_status_json_counts_files_by_state_and_shows_counters(setup):
    """`status --json` reports per source the files by state, the last files and the counters."""
    setup.drop_sample("orders_export_1.csv")
    setup.drop("unknown.txt", "hello")
    setup.run_once()
    result = importd("status", "--json", "-c", str(setup.config))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    [source] = report["sources"]
    assert (source["name"], source["states"], source["inbox"], source["spool"]) == (
        "inbox", {"imported": 1, "quarantined": 1}, 0, 0)
    assert source["last_success"] and report["quarantined"] == 1 and report["parked"] == 0
    assert {f["name"]: f["state"] for f in report["last_files"]} == {
        "orders_export_1.csv": "imported", "unknown.txt": "quarantined"}
    assert {"series": "order", "scope": "CMD-2026-{seq}", "last_value": 3, "last_date": "2026-11-04"} in report["counters"]
    text = importd("status", "-c", str(setup.config))
    assert "source inbox: imported 1, quarantined 1; 0 waiting in the inbox" in text.stdout


def test_log_lines_are_json_and_carry_the_file(setup):
    """Every log line is one JSON object; every line about a file names file_id, source and file."""
    setup.drop_sample("orders_export_1.csv")
    result = setup.run_once()
    lines = log_lines(result.stdout)
    about_file = [line for line in lines if line["event"].startswith("file.")]
    assert about_file and all({"file_id", "source", "file"} <= line.keys() for line in about_file)
    summary = next(line for line in lines if line["event"] == "file.done")
    assert summary["outcome"] == "imported" and summary["documents"] == 3 and summary["records"] == 6
    assert summary["numbers"]["order"] == ["CMD-2026-000001..CMD-2026-000003"]
    assert summary["duration_s"] >= 0


def test_import_verb_imports_named_files_and_keeps_them(setup, tmp_path):
    """`importd import FILE` runs the same pipeline on a named file and leaves the original in place."""
    named = tmp_path / "orders_export_manual.csv"
    named.write_bytes((setup.root / "samples" / "orders_export_1.csv").read_bytes())
    result = importd("import", "-c", str(setup.config), str(named))
    assert result.returncode == 0, result.stderr
    assert named.exists()
    assert len(setup.rows("SELECT * FROM orders")) == 3
    assert setup.archived() == ["orders_export_manual.csv"]


def test_import_verb_exits_1_when_a_file_is_quarantined(setup, tmp_path):
    """A one-shot import of a file no route matches exits 1 and quarantines it."""
    named = tmp_path / "mystery.dat"
    named.write_text("x")
    result = importd("import", "-c", str(setup.config), str(named))
    assert result.returncode == 1
    assert setup.quarantined() == ["mystery.dat", "mystery.dat.error.json"]
