"""An upgrade never breaks a setup that worked.

tests/fixtures/upgrade/b5f57f9/ is a setup made by the previous release (its README says how):
its importd.toml, its own copies of that release's rules (no rules_version, no [order_checks]),
its database (customers, three Shopify orders whose prices include VAT, an invoice, two
payments booked and one parked waiting for its invoice) and the files it archived. Today's code,
as a real `importd` process, runs on a copy of it and is fed the same kinds of files
(tests/fixtures/upgrade/feed/). Refresh the fixture at each release.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, importd, log_lines, use_database
from importd.errors import ConfigError
from importd.mapping.rules_loader import load_rules
from importd.mapping.versions import RULES_VERSION
from webpage import start_web, stop_web

FIXTURE = REPO / "tests" / "fixtures" / "upgrade" / "b5f57f9"
FEED = REPO / "tests" / "fixtures" / "upgrade" / "feed"
ARCHIVED = "archive/inbox/2026-12-07"
BEFORE = {   # what the previous release did with the files it was given (its ledger)
    "clients-2026-11.csv": ("imported", {"created": 6}),
    "orders_export_1.csv": ("imported", {"created": 3}),
    "ubl-invoice-FA1001.xml": ("imported", {"created": 1}),
    "payments-2026-11.csv": ("imported", {"created": 2, "parked": 1}),
}


@pytest.fixture
def old_setup(tmp_path: Path) -> Path:
    """A copy of the previous release's setup, in a folder of its own (it was made in another)."""
    root = tmp_path / "setup"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("README.md"))
    (root / "inbox").mkdir()
    return root


def rows(root: Path, sql: str, *params) -> list[dict]:
    import sqlite3
    db = sqlite3.connect(root / "importd.db")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(sql, params)]
    finally:
        db.close()


def feed(root: Path) -> None:
    """The same kinds of files again: new customers, the next Shopify export (prices with VAT),
    the invoice the parked payment waits for, and two files the old release already took."""
    for name in ("clients-2026-12.csv", "orders_export_2.csv", "cii-invoice-2026-118.xml"):
        shutil.copy(FEED / name, root / "inbox" / name)
    for name in ("clients-2026-11.csv", "orders_export_1.csv"):
        shutil.copy(root / ARCHIVED / name, root / "inbox" / name)


def test_fixture_is_the_previous_releases_setup():
    """The fixture's rules predate rules_version and [order_checks]; its database has no column of today's."""
    shopify = (FIXTURE / "rules" / "shopify-orders.toml").read_text()
    assert "rules_version" not in shopify and "[order_checks]" not in shopify
    assert "reported" not in {r["name"] for r in rows(FIXTURE, "PRAGMA table_info(import_files)")}
    assert {r["name"]: r["state"] for r in rows(FIXTURE, "SELECT name, state FROM import_files")} == \
        {name: state for name, (state, _) in BEFORE.items()}


def test_previous_release_setup_keeps_importing_its_files_with_a_warning_naming_the_check(old_setup):
    """Upgraded in place, the old setup imports the next Shopify export (prices with VAT) with one
    check.would_refuse warning per order naming order_checks and the line that turns it on; nothing
    is quarantined, the parked payment is released by its invoice, every series goes on without a
    gap, and files sent again are duplicates."""
    feed(old_setup)
    result = importd("run", "--once", "-c", str(old_setup / "importd.toml"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert not (old_setup / "quarantine").exists() or not any((old_setup / "quarantine").rglob("*"))

    ledger = {r["name"] + ("" if r["id"] <= 4 else f"@{r['id']}"): r
              for r in rows(old_setup, "SELECT * FROM import_files ORDER BY id")}
    for name, (state, counts) in BEFORE.items():        # the old files' outcomes stand
        assert ledger[name]["state"] == state and json.loads(ledger[name]["summary"])["counts"] == counts
    [said] = [e for e in log_lines(result.stdout) if e["event"] == "rules.checks_reporting"]
    assert (said["rules"], said["rules_version"], said["checks"]) == ("shopify-orders.toml", 1, ["order_checks"])
    new = {r["name"]: r for r in rows(old_setup, "SELECT * FROM import_files WHERE id > 4")}
    assert {name: r["state"] for name, r in new.items()} == {
        "clients-2026-12.csv": "imported", "orders_export_2.csv": "imported", "cii-invoice-2026-118.xml": "imported",
        "clients-2026-11.csv": "duplicate", "orders_export_1.csv": "duplicate"}
    assert json.loads(new["cii-invoice-2026-118.xml"]["summary"])["counts"] == {"created": 1, "released": 1}

    # The warnings: one per order of the export, naming the check, the code, the figures and the opt-in.
    warnings = [e for e in log_lines(result.stdout) if e["event"] == "check.would_refuse"]
    assert [(w["external_ref"], w["check"], w["code"], w["stated"], w["computed"]) for w in warnings] == [
        ("#1004", "order_checks", "ORD-TOTAL", "64.70", "75.48"),
        ("#1005", "order_checks", "ORD-TOTAL", "25.00", "29.17")]
    assert all(w["level"] == "warning" and w["file"] == "orders_export_2.csv" and
               w["opt_in"] == "[order_checks] / enabled = true" and "prices_include_tax" in w["hint"]
               for w in warnings)
    assert new["orders_export_2.csv"]["reported"] == 2
    assert json.loads(new["orders_export_2.csv"]["summary"])["would_refuse"]["checks"] == \
        {"order_checks": {"ORD-TOTAL": 2}}
    ack = json.loads((old_setup / "outbox" / "inbox" / "orders_export_2.csv.ack.json").read_text())
    assert ack["outcome"] == "imported" and ack["would_refuse"]["count"] == 2
    assert [d["would_refuse"][0]["code"] for d in ack["documents"]] == ["ORD-TOTAL", "ORD-TOTAL"]

    # Gapless series, going on from the old release's numbers; the parked payment booked.
    assert [r["number"] for r in rows(old_setup, "SELECT number FROM orders ORDER BY number")] == \
        [f"CMD-2026-{n:06d}" for n in range(1, 6)]
    assert [r["number"] for r in rows(old_setup, "SELECT number FROM invoices ORDER BY number")] == \
        ["FA-2026-000001", "FA-2026-000002"]
    payments = rows(old_setup, "SELECT number, external_ref, invoice_number FROM payments ORDER BY number")
    assert [p["number"] for p in payments] == ["RG-2026-000001", "RG-2026-000002", "RG-2026-000003"]
    assert payments[-1]["external_ref"] == "VIR-20261201-03" and payments[-1]["invoice_number"] == "FA-2026-000002"
    assert rows(old_setup, "SELECT * FROM parked_records") == []
    orders = {r["external_ref"]: r for r in rows(old_setup, "SELECT * FROM orders")}
    assert (orders["#1004"]["total"], orders["#1004"]["tax"]) == ("64.70", "10.78")     # as the shop stated

    # status, as text and JSON, counts them and says how to see them and turn the check on.
    status = importd("status", "-c", str(old_setup / "importd.toml"))
    assert ("check order_checks reports without refusing for source inbox: 2 document(s) in 1 file(s)"
            in status.stdout), status.stdout
    assert "importd check --replay inbox" in status.stdout and "[order_checks] / enabled = true" in status.stdout
    data = json.loads(importd("status", "--json", "-c", str(old_setup / "importd.toml")).stdout)
    assert data["would_refuse"] == [{"source": "inbox", "check": "order_checks", "files": 1, "documents": 2,
                                     "codes": {"ORD-TOTAL": 2}, "opt_in": "[order_checks] / enabled = true",
                                     "last_file": "orders_export_2.csv",
                                     "last_file_id": new["orders_export_2.csv"]["id"]}]

    # The ops page shows them too.
    web, url = start_web(old_setup / "importd.toml")
    try:
        page = urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        stop_web(web)
    section = page[page.index('id="would-refuse"'):page.index('id="parked"')]
    assert 'data-check="order_checks"' in section and "ORD-TOTAL 2" in section
    assert "[order_checks] / enabled = true" in section


def test_an_order_parked_under_old_rules_is_released_with_its_warning(old_setup):
    """An order parked for its buyer under the old rules is released when the buyer arrives: it is
    imported, and the check it could opt into is named then (it was held, not imported, before)."""
    rules = old_setup / "rules" / "shopify-orders.toml"
    rules.write_text(rules.read_text().replace('missing_customer = "create"', 'missing_customer = "park"'))
    config = str(old_setup / "importd.toml")
    shutil.copy(FEED / "orders_export_2.csv", old_setup / "inbox")
    result = importd("run", "--once", "-c", config)
    assert result.returncode == 0
    assert [e["external_ref"] for e in log_lines(result.stdout) if e["event"] == "check.would_refuse"] == ["#1004"]
    parked = rows(old_setup, "SELECT external_id FROM parked_records WHERE entity = 'order'")
    assert [r["external_id"] for r in parked] == ["#1005"]
    clients = (FEED / "clients-2026-12.csv").read_bytes().replace(b"paul.martin@", b"claire.dubois@")
    (old_setup / "inbox" / "clients-2026-12.csv").write_bytes(clients)
    result = importd("run", "--once", "-c", config)
    assert result.returncode == 0
    events = log_lines(result.stdout)
    assert [e["number"] for e in events if e["event"] == "parked.released"] == ["CMD-2026-000005"]
    assert [(e["external_ref"], e["check"], e["code"]) for e in events if e["event"] == "check.would_refuse"] == \
        [("#1005", "order_checks", "ORD-TOTAL")]


def replay(root: Path, *extra: str):
    result = importd("check", "--replay", "inbox", "--json", *extra, "-c", str(root / "importd.toml"))
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, {f["name"] + ("" if f["ledger"] != "duplicate" else "@again"): f
                               for f in json.loads(result.stdout)}


def test_replay_shows_what_turning_the_check_on_would_refuse(old_setup):
    """After the upgrade, --replay runs the archive again writing nothing: the old Shopify files are
    imported as the ledger says, with what order_checks would refuse once on; a draft rules file
    with the check on shows those files quarantined; with prices_include_tax = true, nothing."""
    feed(old_setup)
    assert importd("run", "--once", "-c", str(old_setup / "importd.toml")).returncode == 0
    digest = hashlib.sha256((old_setup / "importd.db").read_bytes()).hexdigest()
    counters = rows(old_setup, "SELECT * FROM counters ORDER BY series, scope")

    code, files = replay(old_setup)
    assert code == 1          # something would be refused once a check is on
    assert not any(f["differs"] for f in files.values())
    assert files["orders_export_1.csv"]["would_refuse"] == {"order_checks": {"ORD-TOTAL": 3}}
    assert files["orders_export_2.csv"]["would_refuse"] == {"order_checks": {"ORD-TOTAL": 2}}
    assert files["orders_export_1.csv@again"]["now"] == "duplicate"
    assert files["cii-invoice-2026-118.xml"]["counts"] == {"created": 1, "released": 1}
    assert all(f["refused"] == {} for f in files.values())

    draft = old_setup / "drafts" / "shopify-orders.toml"
    draft.parent.mkdir()
    draft.write_text((old_setup / "rules" / "shopify-orders.toml").read_text() + "\n[order_checks]\nenabled = true\n")
    code, files = replay(old_setup, "--rules", str(draft))
    assert code == 1
    for name, orders in (("orders_export_1.csv", 3), ("orders_export_2.csv", 2)):
        assert (files[name]["ledger"], files[name]["now"]) == ("imported", "quarantined") and files[name]["differs"]
        assert files[name]["refused"] == {"order_checks": {"ORD-TOTAL": orders}}
    assert not files["clients-2026-11.csv"]["differs"] and not files["payments-2026-11.csv"]["differs"]
    text = importd("check", "--replay", "inbox", "--rules", str(draft), "-c", str(old_setup / "importd.toml")).stdout
    assert "order_checks: refuses 8 document(s) now (ORD-TOTAL 8)" in text, text

    draft.write_text(draft.read_text() + "prices_include_tax = true\n")
    code, files = replay(old_setup, "--rules", str(draft))
    assert code == 0 and all(not f["differs"] and not f["refused"] and not f["would_refuse"] for f in files.values())

    code, files = replay(old_setup, "--since", "2999-01-01")
    assert (code, files) == (0, {})
    # Nothing of the setup was written, no number taken.
    assert hashlib.sha256((old_setup / "importd.db").read_bytes()).hexdigest() == digest
    assert rows(old_setup, "SELECT * FROM counters ORDER BY series, scope") == counters


def test_replay_of_a_setup_not_yet_upgraded_writes_nothing(old_setup):
    """--replay reads the ledger of a database the new release has not opened yet, and leaves it as it
    was; a file no longer in the archive is said to be missing, not counted as a difference."""
    digest = hashlib.sha256((old_setup / "importd.db").read_bytes()).hexdigest()
    code, files = replay(old_setup)
    assert code == 1 and files["orders_export_1.csv"]["would_refuse"] == {"order_checks": {"ORD-TOTAL": 3}}
    assert [f["now"] for f in files.values()] == ["imported"] * 4
    assert hashlib.sha256((old_setup / "importd.db").read_bytes()).hexdigest() == digest
    (old_setup / ARCHIVED / "clients-2026-11.csv").unlink()       # removed by hand since: nothing to compare
    code, files = replay(old_setup)
    assert (files["clients-2026-11.csv"]["now"], files["clients-2026-11.csv"]["differs"]) == ("missing", False)
    assert files["orders_export_1.csv"]["counts"] == {"created": 3}


def test_upgraded_setup_moved_to_postgresql_still_counts_and_replays(old_setup, postgresql):
    """The old setup, upgraded and fed, moves to PostgreSQL with `importd db copy`: status reads the
    counts there, the replay reads the ledger there, and the next export is still imported."""
    feed(old_setup)
    config = old_setup / "importd.toml"
    assert importd("run", "--once", "-c", str(config)).returncode == 0
    copied = importd("db", "copy", "-c", str(config), "--to", postgresql.url)
    assert copied.returncode == 0, copied.stdout + copied.stderr
    use_database(config, postgresql)
    data = json.loads(importd("status", "--json", "-c", str(config)).stdout)
    assert [(r["check"], r["documents"], r["codes"]) for r in data["would_refuse"]] == \
        [("order_checks", 2, {"ORD-TOTAL": 2})]
    code, files = replay(old_setup)
    assert code == 1 and not any(f["differs"] for f in files.values())
    assert files["orders_export_2.csv"]["would_refuse"] == {"order_checks": {"ORD-TOTAL": 2}}
    (old_setup / "inbox" / "orders_export_3.csv").write_text(
        (FEED / "orders_export_2.csv").read_text().replace("#1004", "#1006").replace("#1005", "#1007"))
    result = importd("run", "--once", "-c", str(config))
    assert result.returncode == 0, result.stdout[-3000:]
    assert [e["external_ref"] for e in log_lines(result.stdout) if e["event"] == "check.would_refuse"] == \
        ["#1006", "#1007"]


def test_replay_usage_errors(old_setup, tmp_path):
    """An unknown source, a stand-in no route names, a date that is not one: exit 2 with what to write."""
    config = str(old_setup / "importd.toml")
    result = importd("check", "--replay", "nope", "-c", config)
    assert result.returncode == 2 and "no source named 'nope'" in result.stderr
    other = tmp_path / "other.toml"
    shutil.copy(old_setup / "rules" / "shopify-orders.toml", other)
    result = importd("check", "--replay", "inbox", "--rules", str(other), "-c", config)
    assert result.returncode == 2 and "stands in for the configured rules file of the same name" in result.stderr
    result = importd("check", "--replay", "inbox", "--since", "07/12/2026", "-c", config)
    assert result.returncode == 2 and "YYYY-MM-DD" in result.stderr


def write_rules(tmp_path: Path, head: str, tail: str = "") -> Path:
    path = tmp_path / "shop.toml"
    path.write_text(head + (FIXTURE / "rules" / "shopify-orders.toml").read_text() + tail)
    return path


def test_rules_version_decides_the_mode_of_a_check_the_file_does_not_mention(tmp_path):
    """No rules_version (1) and no [order_checks]: report; rules_version = 2, or the table: enforce."""
    assert load_rules(write_rules(tmp_path, "")).check_modes == {"order_checks": "report"}
    assert load_rules(write_rules(tmp_path, "rules_version = 1\n")).check_modes == {"order_checks": "report"}
    assert load_rules(write_rules(tmp_path, f"rules_version = {RULES_VERSION}\n")).check_modes == \
        {"order_checks": "enforce"}
    assert load_rules(write_rules(tmp_path, "", "\n[order_checks]\nprices_include_tax = true\n")).check_modes == \
        {"order_checks": "enforce"}
    assert load_rules(write_rules(tmp_path, "", "\n[order_checks]\nenabled = false\n")).order_checks is None
    for bad in ("rules_version = 3\n", "rules_version = \"2\"\n", "rules_version = 0\n"):
        with pytest.raises(ConfigError, match="rules_version must be a whole number from 1 to 2"):
            load_rules(write_rules(tmp_path, bad))


def test_new_setup_has_every_check_on(tmp_path):
    """`importd init` of this release writes rules files of this release's meaning: nothing only reports."""
    assert importd("init", str(tmp_path / "new")).returncode == 0
    for path in sorted((tmp_path / "new" / "rules").glob("*.toml")):
        rules = load_rules(path)
        assert rules.version == RULES_VERSION, path.name
        assert "report" not in rules.check_modes.values(), path.name
    result = importd("check", "-c", str(tmp_path / "new" / "importd.toml"))
    assert result.returncode == 0 and "reporting without refusing" not in result.stdout
