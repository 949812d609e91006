"""The running service as a real process: readiness, signals, crashes and restarts."""

from __future__ import annotations

import json
import signal
import time

import pytest

from builders import order_rows
from conftest import importd, log_lines, stop

BACKENDS = ("sqlite", "postgresql")     # each test runs on both


def start_during_big_file(setup, orders: int):
    """Drop a file of `orders` orders, start the service, return it once the file is being imported."""
    setup.drop("orders_export_big.csv", order_rows(setup, 1, orders))
    service = setup.start()
    for line in service.stdout:
        if json.loads(line)["event"] == "file.processing":
            return service
    raise AssertionError("the service never started the file")


def test_slowly_written_file_is_taken_once_complete(setup):
    """A writer appending in chunks with pauses: the file is imported once, whole."""
    service = setup.start()
    try:
        data = order_rows(setup, 1, 40).encode()
        path = setup.inbox / "orders_export_slow.csv"
        with open(path, "wb") as f:
            for start in range(0, len(data), 400):
                f.write(data[start:start + 400])
                f.flush()
                time.sleep(0.1)        # shorter than settle (0.3 s), as a steady writer
        setup.wait_for(lambda: setup.archived() == ["orders_export_slow.csv"], what="the archive")
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    assert len(setup.rows("SELECT * FROM orders")) == 40
    assert setup.rows("SELECT count(*) n FROM import_files") == [{"n": 1}]


def test_temporary_names_are_never_taken(setup):
    """*.tmp, *.part, dot-files and a tmp/ folder stay in the inbox untouched."""
    for name in ("orders_export_1.csv.tmp", "orders_export_2.csv.part", ".orders_export_3.csv"):
        (setup.inbox / name).write_text("x")
    (setup.inbox / "tmp").mkdir()
    (setup.inbox / "tmp" / "orders_export_4.csv").write_text("x")
    assert setup.run_once().returncode == 0
    assert sorted(p.name for p in setup.inbox.iterdir()) == [
        ".orders_export_3.csv", "orders_export_1.csv.tmp", "orders_export_2.csv.part", "tmp"]
    assert setup.rows("SELECT * FROM import_files") == []


def test_sigterm_stops_cleanly_with_exit_0(setup):
    """SIGTERM while idle: the service logs its stop and exits 0."""
    service = setup.start_watching()
    code, out, err = stop(service, signal.SIGTERM)
    assert code == 0, err
    assert log_lines(out)[-1]["event"] == "service.stopped"


def test_sighup_with_a_broken_config_keeps_the_old_one(setup):
    """SIGHUP with a broken importd.toml is reported and the service keeps importing."""
    service = setup.start_watching()
    try:
        good = setup.config.read_text()
        setup.config.write_text(good + "\nbogus_key = 1\n")
        service.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        setup.config.write_text(good)
        setup.drop_sample("orders_export_1.csv")
        setup.wait_for(lambda: setup.archived() == ["orders_export_1.csv"], what="the archive")
    finally:
        code, out, err = stop(service)
    failed = [line for line in log_lines(out) if line["event"] == "config.reload_failed"]
    assert failed and "bogus_key" in failed[0]["problems"][0]


@pytest.mark.slow
def test_sigkill_during_a_stream_of_drops_loses_nothing(setup):
    """kill -9 mid-stream, then a restart: every file imported once, numbers consecutive, DB intact."""
    files = 30
    service = setup.start()
    try:
        for i in range(files):
            setup.drop(f"orders_export_{i:03d}.csv", order_rows(setup, 1000 + i * 50, 50))
            time.sleep(0.03)
            if i == files // 2:
                setup.wait_for(lambda: len(setup.archived()) >= 3, what="some imports")
                service.kill()
                service.wait()
    finally:
        if service.poll() is None:
            service.kill()
    assert setup.run_once().returncode == 0
    assert list(setup.inbox.iterdir()) == [] and setup.spool_files() == []
    assert len(setup.archived()) == files
    states = setup.rows("SELECT state, count(*) n FROM import_files GROUP BY state")
    assert states == [{"state": "imported", "n": files}]
    numbers = [r["number"] for r in setup.rows("SELECT number FROM orders ORDER BY number")]
    assert numbers == [f"CMD-2026-{n:06d}" for n in range(1, files * 50 + 1)]
    refs = setup.rows("SELECT count(DISTINCT external_id) n FROM external_refs WHERE entity = 'order'")
    assert refs == [{"n": files * 50}]
    if setup.backend == "sqlite":
        assert setup.rows("PRAGMA integrity_check") == [{"integrity_check": "ok"}]


def test_check_reports_every_config_and_rules_error_at_once(setup):
    """`check` lists all mistakes, each as file:line: what is wrong — what to write, and exits 2."""
    setup.config.write_text(setup.config.read_text().replace('log_format = "json"', 'log_format = "xml"')
                            + '\ntypo = 1\n')
    rules = setup.root / "rules" / "shopify-orders.toml"
    text = rules.read_text().replace('shipping     = "Shipping"', 'shiping = "Shipping"')
    rules.write_text(text.replace('kind = "order"', 'kind = "order"\ngroupby = "Name"'))
    result = importd("check", "-c", str(setup.config))
    assert result.returncode == 2
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 4, problems
    def line_of(path, start):
        return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith(start))

    expected = [
        (str(setup.config), line_of(setup.config, 'log_format = "xml"'), "log_format"),
        (str(setup.config), line_of(setup.config, "typo = 1"), "typo"),
        (str(rules), line_of(rules, 'groupby = "Name"'), "groupby"),
        (str(rules), line_of(rules, 'shiping = "Shipping"'), "shiping"),
    ]
    for path, line, word in expected:
        assert any(p.startswith(f"{path}:{line}: ") and word in p and " — " in p for p in problems), (path, line, problems)


def test_check_accepts_the_shipped_setup(setup):
    """The setup `init` writes passes `check`."""
    result = importd("check", "-c", str(setup.config))
    assert result.returncode == 0, result.stderr
    assert "orders_export*.csv → shopify-orders.toml" in result.stdout


@pytest.mark.slow
def test_second_sigterm_stops_at_once_and_a_restart_finishes_the_work(setup):
    """Two SIGTERMs during a big file: the service stops mid-file; the next run imports it once, no gap."""
    service = start_during_big_file(setup, 40000)
    service.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    service.send_signal(signal.SIGTERM)
    out, err = service.communicate(timeout=60)
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert "service.stop_forced" in events and "file.done" not in events, out + err
    assert setup.rows("SELECT count(*) n FROM orders") == [{"n": 0}]        # rolled back, nothing half-written
    assert setup.run_once().returncode == 0
    numbers = [r["number"] for r in setup.rows("SELECT number FROM orders ORDER BY number")]
    assert numbers == [f"CMD-2026-{n:06d}" for n in range(1, 40001)]
    assert setup.archived() == ["orders_export_big.csv"] and setup.spool_files() == []
