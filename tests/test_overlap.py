"""The stages that overlap: the next batch is claimed on a thread of its own while the last is
committed, and a group's settled marks ride with the next group's commit. A kill -9 at any of
these points loses nothing and doubles nothing."""

from __future__ import annotations

import json
import random
import time

import pytest

from builders import order_rows


def places(setup) -> dict[str, int]:
    """How many files are in each place a file can be (the spool's working files aside)."""
    spooled = [p for p in setup.spool_files() if not p.parent.name.startswith(".")]
    return {"inbox": len(list(setup.inbox.iterdir())), "spool": len(spooled), "archive": len(setup.archived())}


@pytest.mark.slow
def test_sigkill_while_batches_are_claimed_and_committed_loses_nothing_and_doubles_nothing(setup):
    """A backlog several claim batches long, the service killed -9 at random instants (claims in
    flight, files spooled but not yet in the ledger, files placed but not yet marked settled):
    every file is always in exactly one place, and after a last run each is imported once,
    with its ack, the numbers without a gap."""
    files = 700
    for i in range(files):
        setup.drop(f"orders_export_{i:03d}.csv", order_rows(setup, 1 + i, 1))
    rng = random.Random()
    for _ in range(5):
        service = setup.start()
        try:
            time.sleep(rng.uniform(0.3, 1.5))
        finally:
            service.kill()
            service.wait()
        assert sum(places(setup).values()) == files, places(setup)
    assert setup.run_once().returncode == 0
    assert places(setup) == {"inbox": 0, "spool": 0, "archive": files}
    assert setup.spool_files() == []
    assert setup.rows("SELECT state, count(*) n, count(settled_at) settled FROM import_files GROUP BY state") == [
        {"state": "imported", "n": files, "settled": files}]
    numbers = [r["number"] for r in setup.rows("SELECT number FROM orders ORDER BY number")]
    assert numbers == [f"CMD-2026-{n:06d}" for n in range(1, files + 1)]
    assert len(list((setup.root / "outbox" / "inbox").glob("*.ack.json"))) == files
    assert setup.rows("PRAGMA integrity_check") == [{"integrity_check": "ok"}]


def test_files_placed_whose_settled_mark_was_lost_are_settled_once_more_and_only_once(setup):
    """A crash after settle put files in place but before the commit that marks them settled
    (it rides with the next group's): the next run finds them placed, rewrites their acks
    from the ledger and marks them, moving nothing twice and importing nothing again."""
    files = 20
    for i in range(files):
        setup.drop(f"orders_export_{i:02d}.csv", order_rows(setup, 1 + 3 * i, 3))
    assert setup.run_once().returncode == 0
    outbox = setup.root / "outbox" / "inbox"
    acks = {p.name: json.loads(p.read_text()) for p in outbox.glob("*.ack.json")}
    assert len(acks) == files
    lost = setup.rows("SELECT id, name FROM import_files ORDER BY id")[::2]
    with setup.db() as db:       # what the ledger says when the marking commit never happened
        db.executemany("UPDATE import_files SET settled_at = NULL, spool_path = 'inbox/' || ? WHERE id = ?",
                       [(f"000000000000-{row['name']}", row["id"]) for row in lost])
    for row in lost:
        (outbox / f"{row['name']}.ack.json").unlink()
    result = setup.run_once()
    assert result.returncode == 0, result.stdout + result.stderr
    assert places(setup) == {"inbox": 0, "spool": 0, "archive": files}
    assert setup.rows("SELECT count(*) n FROM import_files WHERE settled_at IS NULL OR spool_path IS NOT NULL") == [
        {"n": 0}]
    assert {p.name: json.loads(p.read_text()) for p in outbox.glob("*.ack.json")} == acks
    assert setup.rows("SELECT count(*) n FROM orders") == [{"n": 3 * files}]
    assert setup.rows("SELECT count(*) n FROM import_files") == [{"n": files}]
