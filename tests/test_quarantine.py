"""Bad input ends in quarantine with a reason a person can act on; the next file is taken."""

from __future__ import annotations

import pytest

from conftest import log_lines

BACKENDS = ("sqlite", "postgresql")     # each test runs on both
from test_walking import CLIENTS_HEADER, clients_csv

GOOD_ROW = "W1;M.;Jeteste;Jean;;;1 rue A;;75001;Paris;FR;0102030405;jean@example.fr"
SIDECAR_KEYS = {"code", "message", "line", "field", "rule", "hint", "sha256", "received_at"}


def orders_csv(setup, edit=lambda text: text) -> str:
    return edit((setup.root / "samples" / "orders_export_1.csv").read_text())


def test_cp1252_file_with_accents_euro_and_nbsp_decodes_exactly(setup):
    """é, è, œ, € and NBSP in a cp1252 file arrive as the same characters in the database."""
    setup.drop("clients-x.csv", clients_csv(
        "W9;M.;Lèvre;Zoé;Cœur\u00a0€uro;;7 allée;;75001;Paris;France;;zoe@example.fr"))
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT name FROM customers") == [{"name": "Cœur\u00a0€uro"}]


def test_cp1252_bytes_declared_utf8_are_refused_with_line_and_byte(setup):
    """The French shop's cp1252 bytes under a UTF-8 rules file: quarantined at the exact line and byte."""
    rules = setup.root / "rules" / "customers-fr.toml"
    rules.write_text(rules.read_text(encoding="utf-8").replace('encoding = "cp1252"', 'encoding = "utf-8"'),
                     encoding="utf-8")
    data = clients_csv(GOOD_ROW, "W2;M.;Lefèvre;Paul;;;;;;;FR;;paul@example.fr")
    setup.drop("clients-x.csv", data)
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("clients-x.csv")
    assert SIDECAR_KEYS <= sidecar.keys()
    assert sidecar["code"] == "bad_encoding"
    # The header's "°" (0xB0) is the first byte that is not UTF-8: line 1, byte 1.
    assert sidecar["line"] == 1
    assert "byte %d" % data.index(b"\xb0") in sidecar["message"]
    assert sidecar["rule"] == "customers-fr.toml"
    assert setup.rows("SELECT * FROM customers") == []


def test_bad_byte_deep_in_a_file_is_located(setup):
    """A file that is UTF-8 until line 3 reports line 3 and the byte offset of the bad byte."""
    rules = setup.root / "rules" / "customers-fr.toml"
    rules.write_text(rules.read_text(encoding="utf-8").replace('encoding = "cp1252"', 'encoding = "utf-8"'),
                     encoding="utf-8")
    good = "\r\n".join([CLIENTS_HEADER, GOOD_ROW]).encode("utf-8") + b"\r\n"
    data = good + "W2;M.;L\xe9vre;;;;;;;;FR;;x@example.fr\r\n".encode("latin-1")
    setup.drop("clients-y.csv", data)
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("clients-y.csv")
    assert sidecar["code"] == "bad_encoding" and sidecar["line"] == 3
    assert "byte %d" % data.index(b"\xe9") in sidecar["message"]


@pytest.mark.parametrize("name, edit, code, line, field", [
    ("orders_export_cols.csv", lambda t: t.replace("Lineitem price", "Price", 1), "missing_columns", 1, None),
    ("orders_export_num.csv", lambda t: t.replace("59.80", "59.8O"), "bad_number", 2, "order.subtotal"),
    ("orders_export_date.csv", lambda t: t.replace("2026-11-03 16:42:11 +0100", "03/11/2026"), "bad_date", 4,
     "order.order_date"),
    ("orders_export_req.csv", lambda t: t.replace(",no,EUR,110.00", ",no,,110.00"),
     "missing_value", 4, "order.currency"),
])
def test_bad_values_are_quarantined_with_code_line_and_field(setup, name, edit, code, line, field):
    """Missing columns, a bad number, a bad date, a missing required value: each named precisely."""
    setup.drop(name, orders_csv(setup, edit))
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar(name)
    assert (sidecar["code"], sidecar["line"], sidecar["field"]) == (code, line, field)
    assert sidecar["rule"] == "shopify-orders.toml" and sidecar["hint"]
    assert setup.rows("SELECT * FROM orders") == []


def test_unknown_country_is_an_error_on_that_line(setup):
    """A country we do not know is refused on its line, not guessed; nothing of the file is written."""
    setup.drop("clients-c.csv", clients_csv(GOOD_ROW, "W2;M.;Nemo;Capitaine;;;;;;;Atlantide;;nemo@example.fr"))
    assert setup.run_once().returncode == 1
    sidecar = setup.sidecar("clients-c.csv")
    assert (sidecar["code"], sidecar["line"], sidecar["field"]) == ("unknown_country", 3, "customer.country")
    assert "Atlantide" in sidecar["message"]
    assert setup.rows("SELECT * FROM customers") == []


def test_file_no_route_matches_is_quarantined_not_left(setup):
    """A file no route matches goes to quarantine with `no_route` instead of lying in the inbox."""
    setup.drop("invoice.odt", b"PK\x03\x04")
    assert setup.run_once().returncode == 1
    assert setup.sidecar("invoice.odt")["code"] == "no_route"
    assert list(setup.inbox.iterdir()) == []


def test_bad_file_does_not_stop_the_next_one_and_burns_no_number(setup):
    """After a rejected file the next file is imported, and its numbers start at 1: no gap."""
    setup.drop("orders_export_0bad.csv", orders_csv(setup, lambda t: t.replace("31.50", "trente")))
    setup.drop_sample("orders_export_1.csv")
    result = setup.run_once()
    assert result.returncode == 1
    outcomes = {line["file"]: line["outcome"] for line in log_lines(result.stdout) if line["event"] == "file.done"}
    assert outcomes == {"orders_export_0bad.csv": "quarantined", "orders_export_1.csv": "imported"}
    numbers = [r["number"] for r in setup.rows("SELECT number FROM orders ORDER BY number")]
    assert numbers == ["CMD-2026-000001", "CMD-2026-000002", "CMD-2026-000003"]


def test_quarantined_file_retried_after_fixing_the_rules_is_imported(setup):
    """`quarantine retry` sends the file back through the pipeline once the admin fixed the cause."""
    from conftest import importd
    setup.drop("orders_export_x.csv", orders_csv(setup, lambda t: t.replace("Lineitem sku", "SKU", 1)))
    assert setup.run_once().returncode == 1
    file_id = setup.rows("SELECT id FROM import_files")[0]["id"]
    shown = importd("quarantine", "show", str(file_id), "-c", str(setup.config))
    assert "missing_columns" in shown.stdout
    rules = setup.root / "rules" / "shopify-orders.toml"
    rules.write_text(rules.read_text().replace('sku         = "Lineitem sku"', 'sku         = "SKU"'))
    assert importd("quarantine", "retry", str(file_id), "-c", str(setup.config)).returncode == 0
    assert setup.run_once().returncode == 0
    assert len(setup.rows("SELECT * FROM orders")) == 3
    assert setup.quarantined() == []
