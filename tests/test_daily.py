"""A shop's daily exports, overlapping and changing (PrestaShop 8's back-office order export,
rules/prestashop-orders.toml): states that follow upstream while content stays frozen, orders
with no lines, cancelled orders filtered, rejected orders seen everywhere and imported again from
their rejects file, numbers in date order. Through the real service."""

from __future__ import annotations

import csv
import json
import re
import urllib.request

from conftest import SAMPLES, importd, log_lines
from test_ops import free_port
from test_web_http import request
from webpage import start_web, stop_web

BACKENDS = ("sqlite", "postgresql")
SAMPLE = "order_2026-11-27_184500.csv"
HEADER = "ID;Référence;Nouveau client;Livraison;Client;Total;Paiement;État;Date"
NB, NNB = "\u00a0", "\u202f"


def export(*rows: tuple) -> str:
    """A PrestaShop export: ';', PHP fputcsv quoting (a field with a space is quoted), '\\n'."""
    def field(value: str) -> str:
        return f'"{value}"' if any(c in value for c in ';" \t\r\n') else value
    return "\n".join([HEADER, *(";".join(field(v) for v in row) for row in rows)]) + "\n"


def order(id_: str, total: str, state: str, when: str, customer: str = "J. Dupont") -> tuple:
    return (id_, f"REF{id_}", "0", "France", customer, f"{total}{NB}€", "Carte bancaire", state, when)


def sample_row(id_: str, **changes) -> tuple:
    """A row of the shipped sample, with some columns changed (by their name in the header)."""
    rows = list(csv.reader(SAMPLES.joinpath(SAMPLE).read_text(encoding="utf-8").splitlines(), delimiter=";"))
    row = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == id_)))
    row.update({name.replace("_", " "): value for name, value in changes.items()})
    return tuple(row.values())


def orders(setup) -> dict[str, dict]:
    return {r["external_ref"]: r for r in setup.rows("SELECT * FROM orders ORDER BY number")}


def ack(setup, name: str) -> dict:
    return json.loads((setup.root / "outbox" / "inbox" / f"{name}.ack.json").read_text())


def test_prestashop_sample_imports_newest_first_numbered_in_date_order(setup):
    """The shipped sample (newest first, '1 234,56 €' totals with no-break spaces, quoted fields):
    six orders are numbered from the oldest to the newest, the cancelled one and the failed payment
    take no number, each order is stored without lines, and no customer is made from an abbreviated name."""
    setup.drop_sample(SAMPLE)
    result = setup.run_once()
    assert result.returncode == 0, result.stdout + result.stderr
    stored = orders(setup)
    assert [(r["number"], ref) for ref, r in stored.items()] == [
        ("CMD-2026-000001", "1201"), ("CMD-2026-000002", "1202"), ("CMD-2026-000003", "1203"),
        ("CMD-2026-000004", "1205"), ("CMD-2026-000005", "1207"), ("CMD-2026-000006", "1208")]
    assert {ref: (r["order_date"], r["total"], r["currency"], r["status"]) for ref, r in stored.items()} == {
        "1201": ("2026-11-20", "19.99", "EUR", "paid"), "1202": ("2026-11-21", "64.70", "EUR", "refunded"),
        "1203": ("2026-11-22", "2050.00", "EUR", "delivered"), "1205": ("2026-11-24", "12.50", "EUR", "shipped"),
        "1207": ("2026-11-26", "89.90", "EUR", "awaiting_payment"), "1208": ("2026-11-27", "1234.56", "EUR", "paid")}
    assert json.loads(stored["1208"]["extra"]) == {
        "customer": "J. Dupont", "delivery_country": "FR", "new_customer": "0", "payment": "Carte bancaire",
        "reference": "XKBKNABJK"}
    assert setup.rows("SELECT count(*) n FROM order_lines") == [{"n": 0}]
    assert setup.rows("SELECT count(*) n FROM customers") == [{"n": 0}]
    [row] = setup.rows("SELECT summary FROM import_files")
    assert json.loads(row["summary"])["skipped"] == 2
    skipped = {d["external_ref"]: d["reason"] for d in ack(setup, SAMPLE)["documents"] if d["outcome"] == "skipped"}
    assert skipped == {"1204": "cancelled or payment failed", "1206": "cancelled or payment failed"}
    assert not [e for e in log_lines(result.stdout) if "before the last numbered" in json.dumps(e)]


def test_orders_of_one_day_listed_newest_first_take_numbers_in_time_order(setup):
    """A day's export, newest first, all on one date: the time of day orders them."""
    setup.drop("order_day.csv", export(order("31", "3,00", "Paiement accepté", "2026-11-28 18:00:00"),
                                       order("30", "2,00", "Paiement accepté", "2026-11-28 12:30:00"),
                                       order("29", "1,00", "Paiement accepté", "2026-11-28 09:15:00")))
    assert setup.run_once().returncode == 0
    assert [(ref, r["number"]) for ref, r in orders(setup).items()] == [
        ("29", "CMD-2026-000001"), ("30", "CMD-2026-000002"), ("31", "CMD-2026-000003")]


def test_a_state_change_is_applied_and_logged_while_a_change_of_amount_is_refused(setup):
    """Tomorrow's overlapping export moves orders through their states: each change is applied to
    the numbered order, logged with the old value, acknowledged and kept as a history; a newly
    cancelled order already numbered is cancelled, not skipped; a changed total is still refused
    (document_changed), the order keeping its number, amount and state."""
    setup.drop_sample(SAMPLE)
    assert setup.run_once().returncode == 0
    day2 = "order_2026-11-28_184500.csv"
    setup.drop(day2, export(order("1209", "10,00", "Paiement accepté", "2026-11-28 10:00:00"),
                            sample_row("1208", État="Expédié"), sample_row("1207", État="Paiement accepté"),
                            sample_row("1206")))
    result = setup.run_once()
    assert result.returncode == 0, result.stdout + result.stderr
    stored = orders(setup)
    assert (stored["1208"]["number"], stored["1208"]["status"]) == ("CMD-2026-000006", "shipped")
    assert stored["1207"]["status"] == "paid"
    assert stored["1209"]["number"] == "CMD-2026-000007" and "1206" not in stored
    changed = [e for e in log_lines(result.stdout) if e["event"] == "document.state_changed"]
    assert {e["external_ref"]: e["states"] for e in changed} == {
        "1208": {"status": {"old": "paid", "new": "shipped"}},
        "1207": {"status": {"old": "awaiting_payment", "new": "paid"}}}
    outcomes = {d["external_ref"]: d for d in ack(setup, day2)["documents"]}
    assert outcomes["1208"]["outcome"] == "state_changed" and outcomes["1208"]["number"] == "CMD-2026-000006"
    assert outcomes["1208"]["states"] == {"status": {"old": "paid", "new": "shipped"}}
    assert outcomes["1206"]["outcome"] == "skipped"

    day3 = "order_2026-11-29_184500.csv"
    setup.drop(day3, export(sample_row("1208", État="Livré"), sample_row("1207", État="Annulé"),
                            sample_row("1205", Total=f"15,00{NB}€", État="Livré")))
    result = setup.run_once()
    assert result.returncode == 1, "a rejected document makes the one-shot run exit 1"
    stored = orders(setup)
    assert stored["1208"]["status"] == "delivered" and stored["1207"]["status"] == "cancelled"
    assert (stored["1205"]["total"], stored["1205"]["status"]) == ("12.50", "shipped")
    [rejected] = json.loads(setup.rows("SELECT summary FROM import_files WHERE name = ?", day3)[0]["summary"])["rejected"]
    assert (rejected["external_ref"], rejected["code"]) == ("1205", "document_changed")
    assert "total: '12.50' → '15.00'" in rejected["message"]

    history = json.loads(importd("states", "-c", str(setup.config), "1208", "--json").stdout)
    assert [(h["internal_key"], h["field"], h["old_value"], h["new_value"]) for h in history] == [
        ("CMD-2026-000006", "status", None, "paid"), ("CMD-2026-000006", "status", "paid", "shipped"),
        ("CMD-2026-000006", "status", "shipped", "delivered")]
    files = {r["name"]: r["id"] for r in setup.rows("SELECT id, name FROM import_files")}
    assert [h["file_id"] for h in history] == [files[SAMPLE], files[day2], files[day3]]
    text = importd("states", "-c", str(setup.config), "CMD-2026-000005").stdout
    assert "awaiting_payment → paid" in text and "paid → cancelled" in text
    assert setup.rows("SELECT count(*) n FROM counters WHERE last_value = 7") == [{"n": 1}]


def test_an_order_whose_state_moves_twice_in_one_file_is_numbered_once(setup):
    """The same order twice in one export, its state moved on between the rows: numbered once,
    then its state follows — not refused as a changed document."""
    setup.drop("order_2026-11-30_184500.csv", export(order("1300", "10,00", "Paiement accepté", "2026-11-30 10:00:00"),
                                                     order("1300", "10,00", "Expédié", "2026-11-30 10:00:00")))
    assert setup.run_once().returncode == 0
    stored = orders(setup)
    assert (stored["1300"]["number"], stored["1300"]["status"]) == ("CMD-2026-000001", "shipped")
    assert [d["outcome"] for d in ack(setup, "order_2026-11-30_184500.csv")["documents"]] == ["created", "state_changed"]


def test_rules_without_states_keep_every_change_frozen(setup):
    """Existing rules files keep their meaning: with no states declared, Shopify's order whose
    financial status changed is still a changed document, quarantined with its number."""
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    text = (SAMPLES / "orders_export_1.csv").read_text()
    assert ",paid," in text
    setup.drop("orders_export_2.csv", text.replace(",paid,", ",refunded,", 1))
    assert setup.run_once().returncode == 1
    assert setup.sidecar("orders_export_2.csv")["code"] == "document_changed"
    assert setup.rows("SELECT count(*) n FROM state_history") == [{"n": 0}]


def test_a_rejected_order_is_seen_and_its_rejects_file_imports_once_fixed(setup):
    """A total with a letter in it: the order is rejected, the others imported. The run exits 1;
    status, status --json, quarantine list and the ops page count and list it; its rejects file is
    the export's own lines (UTF-8, ';', the same quoting); once the value is fixed in it and it is
    dropped back, it imports — and nothing is listed any more."""
    bad = SAMPLES.joinpath(SAMPLE).read_text(encoding="utf-8").replace(f"12,50{NB}€", f"12,5O{NB}€")
    setup.drop(SAMPLE, bad)
    result = setup.run_once()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1205" not in orders(setup) and len(orders(setup)) == 5
    status = json.loads(importd("status", "-c", str(setup.config), "--json").stdout)
    assert status["rejected"]["documents"] == 1
    assert "rejected documents: 1 in 1 file(s)" in importd("status", "-c", str(setup.config)).stdout
    listed = importd("quarantine", "list", "-c", str(setup.config)).stdout
    assert "1 rejected" in listed and f"{SAMPLE}.rejects.csv" in listed
    web, url = start_web(setup.config)
    try:
        code, _, page = request(url)
        assert code == 200 and 'id="rejects-1"' in page and f"{SAMPLE}.rejects.csv" in page
    finally:
        assert stop_web(web) == 0
    rejects = setup.root / "quarantine" / "inbox" / f"{SAMPLE}.rejects.csv"
    lines = bad.splitlines(keepends=True)
    assert rejects.read_bytes() == (lines[0] + next(li for li in lines if li.startswith("1205;"))).encode()

    fixed = rejects.read_text(encoding="utf-8").replace("12,5O", "12,50")
    rejects.unlink()
    setup.drop(rejects.name, fixed)
    result = setup.run_once()
    assert result.returncode == 0, result.stdout + result.stderr
    assert (orders(setup)["1205"]["number"], orders(setup)["1205"]["total"]) == ("CMD-2026-000006", "12.50")
    assert json.loads(importd("status", "-c", str(setup.config), "--json").stdout)["rejected"]["documents"] == 0
    assert "rejected documents" not in importd("quarantine", "list", "-c", str(setup.config)).stdout


def test_a_rejects_file_keeps_a_cp1252_export_as_it_was(setup):
    """A sender writing cp1252, CRLF, a quoted value holding the delimiter and a line break: the
    rejects file holds its header and the rejected record's lines byte for byte."""
    rules = (setup.root / "rules" / "prestashop-orders.toml").read_text(encoding="utf-8")
    (setup.root / "rules" / "prestashop-orders.toml").write_text(
        rules.replace('encoding = "utf-8"', 'encoding = "cp1252"'), encoding="utf-8")
    rows = [HEADER,
            '7;AAA;0;France;"J. Dupont";9,00 €;"Carte; bancaire";"Paiement accepté";"2026-11-20 10:00:00"',
            '8;BBB;0;France;"L. Lefèvre\r\nbis";x €;Chèque;Livré;"2026-11-21 10:00:00"']
    data = ("\r\n".join(rows) + "\r\n").encode("cp1252")
    setup.drop("order_cp.csv", data)
    assert setup.run_once().returncode == 1
    rejects = (setup.root / "quarantine" / "inbox" / "order_cp.csv.rejects.csv").read_bytes()
    assert rejects == (HEADER + "\r\n" + rows[2] + "\r\n").encode("cp1252")


def test_check_warns_of_a_weak_match_key_and_shows_an_orders_total_state_and_date(setup):
    """`importd check` accepts match_customer = ["email", "name"] but warns that name is weak,
    naming the line; its dry run shows each order's date, total, currency and state."""
    shopify = setup.root / "rules" / "shopify-orders.toml"
    shopify.write_text(shopify.read_text().replace('match_customer = ["email"]', 'match_customer = ["email", "name"]'))
    result = importd("check", "-c", str(setup.config), str(shopify))
    assert result.returncode == 0
    line = next(n for n, text in enumerate(shopify.read_text().splitlines(), 1) if text.startswith("match_customer"))
    assert f"{shopify}:{line}: warning: match_customer 'name' is a weak key" in result.stdout
    assert "warning:" not in importd("check", "-c", str(setup.config), str(setup.root / "rules" / "customers-fr.toml")).stdout
    dry = importd("check", "-c", str(setup.config), str(setup.root / "rules" / "prestashop-orders.toml"),
                  str(SAMPLES / SAMPLE)).stdout
    assert any("1208" in line and "2026-11-27 1234.56 EUR paid" in line for line in dry.splitlines()), dry


HEADER_ONLY = """\
[format]
delimiter = ";"
decimal_comma = true
date_format = "%d/%m/%Y"

[document]
kind = "order"
lines = "none"
atomicity = "document"

[order]
external_ref = { column = "N", required = true }
order_date = "Date"
subtotal = "HT"
shipping = "Port"
tax = "TVA"
total = { column = "TTC", required = true }

[order_checks]
prices_include_tax = false
"""


def test_a_header_only_order_is_stored_and_its_total_checked_alone(setup):
    """`lines = "none"`: an order of totals only is a document, stored without lines; its total is
    checked against its own subtotal, shipping and tax (ORD-TOTAL), with no sum of lines to compare."""
    (setup.root / "rules" / "totaux.toml").write_text(HEADER_ONLY, encoding="utf-8")
    config = setup.config.read_text()
    setup.config.write_text(config.replace("routes = [", 'routes = [\n  { match = "totaux*.csv", rules = "rules/totaux.toml" },', 1))
    setup.drop("totaux-1.csv", "N;Date;HT;Port;TVA;TTC\nH1;02/11/2026;100,00;5,00;21,00;126,00\n"
                               "H2;03/11/2026;100,00;5,00;21,00;127,00\nH3;04/11/2026;;;;40,00\n")
    result = setup.run_once()
    assert result.returncode == 1, result.stdout + result.stderr
    assert [(r["number"], r["external_ref"], r["subtotal"], r["total"]) for r in orders(setup).values()] == [
        ("CMD-2026-000001", "H1", "100.00", "126.00"), ("CMD-2026-000002", "H3", None, "40.00")]
    assert setup.rows("SELECT count(*) n FROM order_lines") == [{"n": 0}]
    [rejected] = json.loads(setup.rows("SELECT summary FROM import_files")[0]["summary"])["rejected"]
    assert (rejected["external_ref"], rejected["code"], rejected["computed"]) == ("H2", "ORD-TOTAL", "126.00")


def test_lines_none_with_a_line_section_is_a_rules_error(setup):
    """A rules file cannot both say its orders have no lines and map them."""
    path = setup.root / "rules" / "totaux.toml"
    path.write_text(HEADER_ONLY + '\n[line]\nquantity = "Q"\n', encoding="utf-8")
    result = importd("check", str(path))
    assert result.returncode == 2 and 'lines = "none" says the orders have no lines' in result.stderr


def test_orders_numbered_before_the_rules_named_states_follow_them_once_named(setup):
    """Shopify orders imported with rules that named no states; the admin adds states = ["status"]:
    the next export's refund is applied to the numbered order (its history starting there), and a
    changed line is still refused."""
    setup.drop_sample("orders_export_1.csv")
    assert setup.run_once().returncode == 0
    shopify = setup.root / "rules" / "shopify-orders.toml"
    shopify.write_text(shopify.read_text().replace('atomicity = "file"', 'atomicity = "document"\nstates = ["status"]'))
    text = (SAMPLES / "orders_export_1.csv").read_text()
    setup.drop("orders_export_2.csv", text.replace(",paid,", ",refunded,", 1))
    result = setup.run_once()
    assert result.returncode == 0, result.stdout + result.stderr
    first = setup.rows("SELECT number, status FROM orders ORDER BY number")[0]
    assert first == {"number": "CMD-2026-000001", "status": "refunded"}
    assert [(h["old_value"], h["new_value"]) for h in setup.rows("SELECT * FROM state_history")] == [("paid", "refunded")]
    setup.drop("orders_export_3.csv", text.replace(",paid,", ",voided,", 1).replace("12.50", "13.50"))
    assert setup.run_once().returncode == 1
    assert setup.rows("SELECT status FROM orders WHERE number = 'CMD-2026-000001'") == [{"status": "refunded"}]


def test_a_long_newest_first_export_is_numbered_oldest_first_without_a_gap(setup):
    """1,200 orders over several days, newest first (more than one chunk of the sort): numbers run
    with the dates and times, consecutive, each order once."""
    rows = [order(str(5000 - i), "1,00", "Paiement accepté",
                  f"2026-11-{20 - i // 300:02d} {23 - (i % 300) // 60:02d}:{59 - i % 60:02d}:00") for i in range(1200)]
    setup.drop("order_long.csv", export(*rows))
    result = setup.run_once()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    stored = setup.rows("SELECT number, external_ref FROM orders ORDER BY number")
    assert [r["number"] for r in stored] == [f"CMD-2026-{n:06d}" for n in range(1, 1201)]
    assert [r["external_ref"] for r in stored] == [str(5000 - i) for i in reversed(range(1200))]


def test_rejected_documents_are_a_metric(setup):
    """importd_rejected_documents counts the documents whose rejects file waits in quarantine."""
    port = free_port()
    setup.config.write_text(f"metrics_port = {port}\n" + setup.config.read_text())
    setup.drop(SAMPLE, SAMPLES.joinpath(SAMPLE).read_text(encoding="utf-8").replace(f"12,50{NB}€", f"12,5O{NB}€"))
    service = setup.start()
    try:
        setup.wait_for(lambda: len(setup.archived()) == 1, what="the import")

        def scrape() -> str:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()

        setup.wait_for(lambda: re.search(r"^importd_rejected_documents 1\.0$", scrape(), re.M), what="the gauge")
    finally:
        service.terminate()
        service.communicate(timeout=30)
