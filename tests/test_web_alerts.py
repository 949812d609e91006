"""The alert rules and the figures they read; the chart's geometry."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import REPO, stop
from test_ops import free_port
from test_web import PAYMENT
from importd.web.chart import nice_step, stacked_bars

RULES = REPO / "deploy" / "prometheus"
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool is not installed (.ci/run installs Debian's prometheus)")


@needs_promtool
def test_alert_rules_pass_promtool_check():
    """`promtool check rules` accepts the shipped alerts file."""
    result = subprocess.run(["promtool", "check", "rules", str(RULES / "importd-alerts.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


@needs_promtool
def test_each_alert_fires_on_its_series_and_not_before():
    """`promtool test rules`: every alert fires when it should and stays quiet before."""
    result = subprocess.run(["promtool", "test", "rules", "importd-alerts.test.yml"], cwd=RULES,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    fired = set(re.findall(r"alertname: (\w+)", (RULES / "importd-alerts.test.yml").read_text()))
    assert fired == set(re.findall(r"alert: (\w+)", (RULES / "importd-alerts.yml").read_text()))


def test_alert_figures_come_from_the_ledger_right_after_a_restart(setup):
    """A service started on an existing ledger exports the last import, the next parked expiry,
    the oldest waiting file and each source's health before it imports anything."""
    setup.drop_sample("orders_export_1.csv")
    setup.drop("payments-1.csv", PAYMENT)
    assert setup.run_once().returncode == 0
    port = free_port()
    setup.config.write_text(f"metrics_port = {port}\n" + setup.config.read_text())
    service = setup.start()
    try:
        def scrape() -> str:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            except OSError:
                return ""
        setup.wait_for(lambda: "importd_source_up{" in scrape(), what="the figures")
        text = scrape()
    finally:
        code, _, err = stop(service)
    assert code == 0, err
    assert 'importd_source_up{source="inbox"} 1.0' in text
    assert 'importd_oldest_waiting_seconds{source="inbox"} 0.0' in text
    last = float(re.search(r'importd_last_success_timestamp_seconds\{source="inbox"\} (\S+)', text).group(1))
    assert time.time() - 120 < last <= time.time()
    expiry = float(re.search(r"\nimportd_parked_next_expiry_timestamp_seconds (\S+)", text).group(1))
    assert abs(expiry - (time.time() + 168 * 3600)) < 300         # the rules' park_timeout_hours


def test_nice_steps_are_round():
    assert [nice_step(v) for v in (0, 3, 9, 40, 130, 999, 12_000)] == [1, 1, 5, 10, 50, 500, 5000]


def test_bars_stack_inside_the_plot_and_say_what_they_count():
    """Each bar sits in the plotting area; stacked heights add up; the tooltip names the count."""
    chart = stacked_bars("Files", ["00:00", "01:00", "02:00"], {"imported": [4, 0, 10], "quarantined": [1, 0, 0]},
                         "files", ["h0", "h1", "h2"])
    left, top, right, bottom = chart.plot
    assert chart.total == 15 and len(chart.bars) == 3
    for bar in chart.bars:
        assert left <= bar.x and bar.x + bar.width <= right and top <= bar.y and bar.y + bar.height <= bottom + 0.01
    first = [b for b in chart.bars if b.title.startswith("h0")]
    assert [b.title for b in first] == ["h0: 4 files imported", "h0: 1 files quarantined"]
    assert first[1].y + first[1].height == pytest.approx(first[0].y)        # quarantined sits on imported
    assert chart.y_ticks[0][1] == "0" and chart.x_labels[0][1] == "00:00"
    assert chart.x_labels[0][0] == pytest.approx(chart.bars[0].x + chart.bars[0].width / 2, abs=0.01)
    assert stacked_bars("Empty", ["a"], {"imported": [0]}, "files").bars == []
