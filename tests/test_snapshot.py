"""Issue 10.3: full exports reveal what disappeared — marked absent, never deleted, held when too many."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from conftest import importd

BACKENDS = ("sqlite", "postgresql")     # each test runs on both
from test_ops import free_port
from test_rules import edit_rules, events
from test_walking import clients_csv


def row(ref: str) -> str:
    return f"{ref};M.;Name{ref};Pat;;;;;;;FR;;{ref.lower()}@example.fr"


def snapshot_rules(setup, share: str = "0.5") -> None:
    edit_rules(setup, "customers-fr.toml",
               ('kind = "customer"\n', f'kind = "customer"\nsnapshot = true\nsnapshot_max_absent = {share}\n'))


def absent(setup) -> dict[str, tuple]:
    return {r["external_id"]: (r["absent_since"] is not None, r["absent_file_id"]) for r in setup.rows(
        "SELECT external_id, absent_since, absent_file_id FROM external_refs WHERE entity = 'customer'")}


def test_records_a_full_export_no_longer_lists_are_marked_absent_then_present_again(setup):
    """C3 missing from the second export: absent since that file (not deleted), logged, listed; back in the third."""
    snapshot_rules(setup)
    setup.drop("clients-1.csv", clients_csv(row("C1"), row("C2"), row("C3")))
    assert setup.run_once().returncode == 0
    setup.drop("clients-2.csv", clients_csv(row("C1"), row("C2")))
    result = setup.run_once()
    assert result.returncode == 0, result.stderr
    [missing] = events(result, "snapshot.missing")
    assert (missing["count"], missing["first"]) == (1, ["C3"])
    second = setup.rows("SELECT id FROM import_files WHERE name = 'clients-2.csv'")[0]["id"]
    assert absent(setup) == {"C1": (False, None), "C2": (False, None), "C3": (True, second)}
    assert len(setup.rows("SELECT * FROM customers")) == 3              # never deleted
    listed = importd("snapshot", "missing", "-c", str(setup.config))
    assert "shop customer C3" in listed.stdout and "clients-2.csv" in listed.stdout
    status = json.loads(importd("status", "--json", "-c", str(setup.config)).stdout)
    assert status["absent"] == [{"system": "shop", "entity": "customer", "n": 1}]
    assert "absent from full exports: shop customer 1" in importd("status", "-c", str(setup.config)).stdout
    setup.drop("clients-3.csv", clients_csv(row("C3"), row("C1"), row("C2")))     # not the bytes of file 1
    result = setup.run_once()
    assert events(result, "snapshot.present_again")[0]["count"] == 1
    assert not any(gone for gone, _ in absent(setup).values())


def test_a_snapshot_missing_too_many_is_held_until_confirmed(setup):
    """Two of three gone (over 50 %): nothing marked, held; `snapshot confirm` applies it."""
    snapshot_rules(setup)
    setup.drop("clients-1.csv", clients_csv(row("C1"), row("C2"), row("C3")))
    assert setup.run_once().returncode == 0
    setup.drop("clients-2.csv", clients_csv(row("C1")))
    result = setup.run_once()
    assert result.returncode == 0
    [held] = events(result, "snapshot.held")
    assert held["count"] == 2 and "importd snapshot confirm" in held["hint"]
    assert not any(gone for gone, _ in absent(setup).values())
    file_id = setup.rows("SELECT id FROM import_files WHERE name = 'clients-2.csv'")[0]["id"]
    assert f"file #{file_id}" in importd("snapshot", "held", "-c", str(setup.config)).stdout
    confirmed = importd("snapshot", "confirm", str(file_id), "-c", str(setup.config))
    assert confirmed.returncode == 0, confirmed.stderr
    assert {k for k, (gone, _) in absent(setup).items() if gone} == {"C2", "C3"}
    assert importd("snapshot", "confirm", str(file_id), "-c", str(setup.config)).returncode == 2


def test_absent_records_are_a_metric(setup):
    snapshot_rules(setup)
    port = free_port()
    setup.config.write_text(f"metrics_port = {port}\n" + setup.config.read_text())
    setup.drop("clients-1.csv", clients_csv(row("C1"), row("C2"), row("C3")))
    assert setup.run_once().returncode == 0
    setup.drop("clients-2.csv", clients_csv(row("C1"), row("C2")))
    service = setup.start()
    try:
        setup.wait_for(lambda: len(setup.archived()) == 2, what="the import")

        def scrape() -> str:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()

        setup.wait_for(lambda: re.search(r'importd_absent_records\{entity="customer",system="shop"\} 1\.0',
                                         scrape()), what="the absent gauge")
    finally:
        service.terminate()
        service.communicate(timeout=30)


def test_snapshot_key_is_checked(setup):
    edit_rules(setup, "shopify-orders.toml", ('match_customer', 'snapshot = true\nmatch_customer'))
    result = importd("check", "-c", str(setup.config))
    assert result.returncode == 2 and "snapshot = true is for customer or product files" in result.stderr


@pytest.mark.sqlite_only      # a SQLite file an older importd left
def test_a_database_from_before_issue_10_is_brought_up_to_date_in_place(setup):
    """The new columns and tables are added to an existing database when importd opens it."""
    setup.drop("clients-1.csv", clients_csv(row("C1"), row("C2")))
    assert setup.run_once().returncode == 0
    with setup.db() as db:       # as an importd from before issue 10 left it
        db.executescript("DROP TABLE review_decisions; DROP TABLE do_not_sync; DROP TABLE snapshot_holds;"
                         " DROP INDEX external_refs_internal_key;"
                         " ALTER TABLE external_refs DROP COLUMN absent_since;"
                         " ALTER TABLE external_refs DROP COLUMN absent_file_id;")
    snapshot_rules(setup, "0.9")
    setup.drop("clients-2.csv", clients_csv(row("C1")))
    assert setup.run_once().returncode == 0
    assert absent(setup)["C2"][0] is True
    assert importd("review", "excluded", "-c", str(setup.config)).returncode == 0
