"""Row filters: `[[skip]]` leaves records out before any number is taken; they are counted,
logged and acknowledged as skipped, never errors."""

from __future__ import annotations

import json

import pytest

from conftest import log_lines
from importd.errors import ConfigError
from importd.mapping.rules_loader import load_rules

RULES = """\
[format]
delimiter = ";"
decimal_comma = true
date_format = "%d/%m/%Y"

[document]
kind = "order"
group_by = "Ref"
@ATOMICITY@

@SKIPS@

[order]
external_ref = { column = "Ref", required = true }
order_date = "Date"
status = "Etat"
total = "Total"

[line]
sku = "SKU"
quantity = "Qty"
unit_price = "Price"

[order_checks]
prices_include_tax = true
"""

FILE = """\
Ref;Date;Etat;Total;SKU;Qty;Price
A1;01/11/2026;Payé;10,00;S;1;10,00
A2;02/11/2026;Annulé;20,00;S;2;10,00
A2;02/11/2026;Annulé;20,00;T;zz;10,00
A3;03/11/2026;Erreur de paiement;5,00;S;1;5,00
A4;04/11/2026;Payé;7,00;S;1;7,00
"""

CANCELLED = '[[skip]]\ncolumn = "Etat"\nin = ["Annulé", "Erreur de paiement"]\nreason = "cancelled"\n'


def rules_text(skips: str, atomicity: str = "") -> str:
    return RULES.replace("@SKIPS@", skips).replace("@ATOMICITY@", atomicity)


def with_rules(setup, skips: str, atomicity: str = "") -> None:
    (setup.root / "rules" / "daily.toml").write_text(rules_text(skips, atomicity),
                                                     encoding="utf-8")
    config = setup.config.read_text()
    setup.config.write_text(config.replace("routes = [", 'routes = [\n  { match = "daily*.csv", rules = "rules/daily.toml" },', 1))


def ack(setup, name: str) -> dict:
    return json.loads((setup.root / "outbox" / "inbox" / f"{name}.ack.json").read_text())


def test_a_cancelled_order_is_skipped_and_takes_no_number(setup):
    """Orders whose state a [[skip]] lists are left out before numbering (even with a bad line
    value, which is never judged): the others are numbered without a gap, and the ledger
    summary, the ack and the log count the skipped ones with their reason."""
    with_rules(setup, CANCELLED)
    setup.drop("daily-1.csv", FILE)
    result = setup.run_once()
    assert result.returncode == 0, result.stdout + result.stderr
    assert setup.rows("SELECT number, external_ref FROM orders ORDER BY number") == [
        {"number": "CMD-2026-000001", "external_ref": "A1"}, {"number": "CMD-2026-000002", "external_ref": "A4"}]
    [row] = setup.rows("SELECT state, summary FROM import_files")
    assert row["state"] == "imported"
    summary = json.loads(row["summary"])
    assert summary["skipped"] == 2 and summary["counts"] == {"created": 2, "skipped": 2}
    acked = ack(setup, "daily-1.csv")
    assert acked["skipped"] == 2
    assert [(d["external_ref"], d["outcome"], d.get("reason")) for d in acked["documents"]] == [
        ("A1", "created", None), ("A2", "skipped", "cancelled"), ("A3", "skipped", "cancelled"),
        ("A4", "created", None)]
    skipped = [e for e in log_lines(result.stdout) if e["event"] == "document.skipped"]
    assert [(e["external_ref"], e["line"], e["reason"]) for e in skipped] == [("A2", 3, "cancelled"), ("A3", 5, "cancelled")]


def test_skip_by_mapped_field_equals_and_matches(setup):
    """A `field` skip reads the mapped value; `equals` and `matches` (a regex searched in the
    text) work like `in`; without a reason the ack says which value skipped."""
    with_rules(setup, '[[skip]]\nfield = "status"\nequals = "Annulé"\n\n'
                      '[[skip]]\ncolumn = "Etat"\nmatches = "^Erreur"\n', atomicity='atomicity = "document"')
    setup.drop("daily-2.csv", FILE)
    result = setup.run_once()
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r["external_ref"] for r in setup.rows("SELECT external_ref FROM orders ORDER BY number")] == ["A1", "A4"]
    reasons = {d["external_ref"]: d.get("reason") for d in ack(setup, "daily-2.csv")["documents"]}
    assert reasons["A3"] == "Etat is 'Erreur de paiement'"
    assert reasons["A2"] == "status is 'Annulé'"


def test_a_file_of_skipped_documents_only_is_imported(setup):
    """Nothing but cancelled orders: the file is imported (not a duplicate), no number taken."""
    with_rules(setup, CANCELLED)
    setup.drop("daily-3.csv", "Ref;Date;Etat;Total;SKU;Qty;Price\nB1;01/11/2026;Annulé;1,00;S;1;1,00\n")
    assert setup.run_once().returncode == 0
    assert setup.rows("SELECT state FROM import_files") == [{"state": "imported"}]
    assert setup.rows("SELECT count(*) n FROM orders") == [{"n": 0}]
    assert setup.rows("SELECT count(*) n FROM counters WHERE series = 'order'") == [{"n": 0}]


def test_check_dry_run_shows_skipped(setup):
    """`importd check RULES SAMPLE` lists a skipped document with its reason and no number."""
    with_rules(setup, CANCELLED)
    sample = setup.root / "daily-4.csv"
    sample.write_text(FILE, encoding="utf-8")
    from conftest import importd
    result = importd("check", "-c", str(setup.config), str(setup.root / "rules" / "daily.toml"), str(sample))
    assert result.returncode == 0, result.stdout + result.stderr
    assert any("skipped" in line and "A2" in line and "cancelled" in line for line in result.stdout.splitlines())


@pytest.mark.parametrize("skip, message", [
    ('[[skip]]\nin = ["x"]\n', "exactly one of column"),
    ('[[skip]]\ncolumn = "Etat"\n', "exactly one of in"),
    ('[[skip]]\ncolumn = "Etat"\nin = "x"\n', "in is a list"),
    ('[[skip]]\ncolumn = "Etat"\nmatches = "("\n', "bad regular expression"),
    ('[[skip]]\nfield = "nope"\nequals = "x"\n', "not mapped"),
    ('[[skip]]\nxpath = "a/b"\nequals = "x"\n', "xpath is for XML"),
    ('[[skip]]\ncolumn = "Etat"\nequals = "x"\nwhy = 1\n', "unknown key 'why'"),
])
def test_a_wrong_skip_is_reported_with_its_line(tmp_path, skip, message):
    """Each mistake in a [[skip]] table is a rules error naming its line."""
    path = tmp_path / "r.toml"
    path.write_text(rules_text(skip), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_rules(path)
    text = str(e.value)
    assert message in text, text
    first = rules_text(skip).splitlines().index("[[skip]]") + 1
    assert int(text.split(f"{path}:")[1].split(":")[0]) >= first, text
