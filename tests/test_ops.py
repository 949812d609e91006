"""Operations: systemd notify, daemon mode, signals mid-file, metrics, acknowledgements, unit hardening."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import REPO, importd, log_lines, stop
from test_service import start_during_big_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_notify_socket_gets_ready_watchdog_and_stopping(setup, tmp_path):
    """Under NOTIFY_SOCKET the service says READY=1, pings WATCHDOG=1 and says STOPPING=1 on SIGTERM."""
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(10)
    env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}
    service = subprocess.Popen([sys.executable, "-m", "importd", "run", "-c", str(setup.config)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    messages: list[str] = []
    try:
        while not any("READY=1" in m for m in messages) or messages.count("WATCHDOG=1") < 2:
            messages.append(listener.recv(4096).decode())
    finally:
        code, out, err = stop(service)
    listener.settimeout(2)
    try:
        while "STOPPING=1" not in messages:
            messages.append(listener.recv(4096).decode())
    finally:
        listener.close()
    assert code == 0, err
    assert messages.index(next(m for m in messages if m.startswith("READY=1"))) < messages.index("STOPPING=1")


def test_detach_writes_the_pidfile_and_refuses_a_second_instance(setup):
    """`run --detach --pidfile` daemonises; a second start is refused; SIGTERM stops it and frees the pidfile."""
    pidfile = setup.root / "importd.pid"
    first = importd("run", "--detach", "--pidfile", str(pidfile), "-c", str(setup.config))
    assert first.returncode == 0, first.stderr
    setup.wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the pidfile")
    pid = int(pidfile.read_text())
    try:
        second = importd("run", "--detach", "--pidfile", str(pidfile), "-c", str(setup.config))
        assert second.returncode == 2 and f"already running with pid {pid}" in second.stderr
        setup.drop_sample("orders_export_1.csv")
        setup.wait_for(lambda: setup.archived() == ["orders_export_1.csv"], what="the daemon to import")
    finally:
        os.kill(pid, signal.SIGTERM)
    setup.wait_for(lambda: not pidfile.exists(), what="the pidfile to go")
    lines = log_lines((setup.root / "importd.log").read_text())
    assert lines[-1]["event"] == "service.stopped"


@pytest.mark.slow
def test_sigterm_during_a_large_file_settles_it_then_exits_0(setup):
    """SIGTERM while a big file is being imported: that file is finished and archived, then exit 0."""
    service = start_during_big_file(setup, 40000)
    service.send_signal(signal.SIGTERM)
    out, err = service.communicate(timeout=120)
    assert service.returncode == 0, err
    assert setup.archived() == ["orders_export_big.csv"]
    assert setup.rows("SELECT count(*) n FROM orders") == [{"n": 40000}]
    assert log_lines(out)[-1]["event"] == "service.stopped"


def test_sighup_with_a_good_config_takes_the_new_route(setup):
    """SIGHUP reloads importd.toml: a route added while running applies to the next file."""
    service = setup.start_watching()
    try:
        text = setup.config.read_text()
        setup.config.write_text(text.replace('{ match = "orders_export*.csv"',
                                             '{ match = "commandes*.csv", rules = "rules/shopify-orders.toml" },\n'
                                             '  { match = "orders_export*.csv"'))
        service.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        setup.drop_sample("orders_export_1.csv", as_name="commandes-1.csv")
        setup.wait_for(lambda: setup.archived() == ["commandes-1.csv"], what="the archive")
    finally:
        code, out, err = stop(service)
    assert any(line["event"] == "config.reloaded" for line in log_lines(out))
    assert len(setup.rows("SELECT * FROM orders")) == 3


def test_acknowledgements_for_imported_duplicate_and_quarantined_files(setup):
    """outbox/<source>/<name>.ack.json tells the outcome and, per document, its reference and our number."""
    setup.config.write_text('ack_formats = ["json", "csv"]\n' + setup.config.read_text())
    setup.drop_sample("orders_export_1.csv")
    setup.run_once()
    setup.drop_sample("orders_export_1.csv", as_name="orders_export_again.csv")
    setup.drop("orders_export_bad.csv", setup.root.joinpath("samples", "orders_export_1.csv").read_text()
               .replace("31.50", "lots"))
    setup.run_once()
    outbox = setup.root / "outbox" / "inbox"
    imported = json.loads((outbox / "orders_export_1.csv.ack.json").read_text())
    assert imported["outcome"] == "imported" and len(imported["sha256"]) == 64
    assert [(d["external_ref"], d["entity"], d["number"], d["outcome"]) for d in imported["documents"]] == [
        ("#1001", "order", "CMD-2026-000001", "created"), ("#1002", "order", "CMD-2026-000002", "created"),
        ("#1003", "order", "CMD-2026-000003", "created")]
    duplicate = json.loads((outbox / "orders_export_again.csv.ack.json").read_text())
    assert duplicate["outcome"] == "duplicate" and duplicate["duplicate_of"] == imported["file_id"]
    bad = json.loads((outbox / "orders_export_bad.csv.ack.json").read_text())
    assert bad["outcome"] == "quarantined" and bad["documents"] == []
    assert (bad["error"]["code"], bad["error"]["line"]) == ("bad_number", 5)
    rows = (outbox / "orders_export_1.csv.ack.csv").read_text().splitlines()
    assert rows[0] == "file,outcome,line,entity,external_ref,number,document_outcome,message"
    assert rows[1].startswith("orders_export_1.csv,imported,2,order,#1001,CMD-2026-000001,created")
    assert not list(outbox.glob(".*.tmp"))


def test_metrics_endpoint_is_scraped_over_loopback_during_imports(setup):
    """metrics_port serves Prometheus figures and a JSON health answer on 127.0.0.1."""
    port = free_port()
    setup.config.write_text(f"metrics_port = {port}\n" + setup.config.read_text())
    service = setup.start()
    try:
        setup.drop_sample("orders_export_1.csv")
        setup.drop("mystery.bin", b"?")
        setup.wait_for(lambda: len(setup.archived()) + len(setup.quarantined()) == 3, what="the imports")

        def scrape() -> str:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()

        setup.wait_for(lambda: 'importd_files_total{outcome="imported",source="inbox"} 1.0' in scrape(),
                       what="the imported counter")
        text = scrape()
        assert 'importd_files_total{outcome="quarantined",source="inbox"} 1.0' in text
        assert re.search(r'importd_import_duration_seconds_count\{source="inbox"\} 2\.0', text)
        assert 'importd_records_total{outcome="imported",source="inbox"} 6.0' in text     # the sample's 6 rows
        assert "importd_quarantined_files 1.0" in text
        assert re.search(r'importd_last_success_timestamp_seconds\{source="inbox"\} \d', text)
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read())
        assert health["status"] == "ok" and health["sources"] == ["inbox"]
    finally:
        code, out, err = stop(service)
    assert code == 0, err          # a clean stop: quarantining a file is normal work for the service


@pytest.mark.parametrize("unit", ["importd.service", "importd@.service"])
def test_systemd_units_expose_at_most_2(unit):
    """`systemd-analyze security --offline=yes` scores each shipped unit's exposure at 2.0 or less."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                             str(REPO / "deploy" / "systemd" / unit)], capture_output=True, text=True)
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert score, result.stdout + result.stderr
    assert float(score.group(1)) <= 2.0, result.stdout
