"""Small files share a commit: a bad one rolls back alone, a kill -9 loses and doubles nothing."""

from __future__ import annotations

import json
import random
import time

import pytest

from builders import order_rows


def orders_file(setup, first: int, count: int, bad_at: int | None = None) -> str:
    """`count` orders from #first; the order at position `bad_at` has a total that is not a number."""
    text = order_rows(setup, first, count)
    if bad_at is None:
        return text
    lines = text.splitlines()
    lines[bad_at + 1] = lines[bad_at + 1].replace(",10.00,", ",ten euros,", 1)
    return "\n".join(lines) + "\n"


def test_a_bad_file_in_a_group_rolls_back_alone(setup):
    """Files waiting together are committed together; one that fails after 500 of its orders were
    written keeps none of them, gets its own quarantine reason, and the numbers of the others
    stay consecutive."""
    for i in range(9):
        setup.drop(f"orders_export_{i}.csv", orders_file(setup, 1000 * (i + 1), 20))
    setup.drop("orders_export_bad.csv", orders_file(setup, 100_000, 600, bad_at=550))
    setup.drop("orders_export_empty.csv", "")
    result = setup.run_once()
    assert result.returncode == 1, result.stderr        # quarantined files make `run --once` exit 1

    states = {r["name"]: r["state"] for r in setup.rows("SELECT name, state FROM import_files")}
    assert states.pop("orders_export_bad.csv") == "quarantined"
    assert states.pop("orders_export_empty.csv") == "quarantined"
    assert set(states.values()) == {"imported"} and len(states) == 9
    sidecar = setup.sidecar("orders_export_bad.csv")
    assert sidecar["line"] == 552 and sidecar["code"] != "internal_error", sidecar
    assert setup.rows("SELECT count(*) n FROM external_refs WHERE external_id LIKE '#1_____'") == [{"n": 0}]
    numbers = [r["number"] for r in setup.rows("SELECT number FROM orders ORDER BY number")]
    assert numbers == [f"CMD-2026-{n:06d}" for n in range(1, 9 * 20 + 1)]
    acks = {p.name: json.loads(p.read_text()) for p in (setup.root / "outbox" / "inbox").glob("*.ack.json")}
    assert len(acks) == 11
    assert acks["orders_export_bad.csv.ack.json"]["outcome"] == "quarantined"
    assert len(acks["orders_export_3.csv.ack.json"]["documents"]) == 20
    assert setup.spool_files() == []


@pytest.mark.slow
def test_sigkill_during_group_commits_loses_nothing_and_doubles_nothing(setup):
    """Hundreds of small files waiting, the service killed -9 at random instants while it commits
    them in groups: after a last run every file is imported once, numbers without a gap."""
    files, orders = 600, 3
    for i in range(files):
        setup.drop(f"orders_export_{i:03d}.csv", orders_file(setup, 1 + i * orders, orders))
    rng = random.Random()
    for _ in range(4):
        service = setup.start()
        try:
            setup.wait_for(lambda: (setup.root / "archive").exists(), what="a first group settled")
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            service.kill()
            service.wait()
    assert setup.run_once().returncode == 0
    assert list(setup.inbox.iterdir()) == [] and setup.spool_files() == []
    assert len(setup.archived()) == files
    assert setup.rows("SELECT state, count(*) n FROM import_files GROUP BY state") == [
        {"state": "imported", "n": files}]
    numbers = [r["number"] for r in setup.rows("SELECT number FROM orders ORDER BY number")]
    assert numbers == [f"CMD-2026-{n:06d}" for n in range(1, files * orders + 1)]
    assert len(list((setup.root / "outbox" / "inbox").glob("*.ack.json"))) == files
    assert setup.rows("PRAGMA integrity_check") == [{"integrity_check": "ok"}]
