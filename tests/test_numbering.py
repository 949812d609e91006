"""Numbering keeps each series' scope per day for speed; the numbers are what the format says."""

from __future__ import annotations

from datetime import date

from importd.resolve.numbering import Numbering
from importd.store import Store

FORMATS = {"order": "CMD-{year}-{month:02d}-{seq:04d}", "customer": "{name4}{seq:03d}"}


def test_numbers_follow_each_documents_own_day_across_months_and_years(tmp_path):
    """Days come back in any order: each finds its own scope (year and month), gapless within it."""
    store = Store(tmp_path / "importd.db")
    days = ["2025-12-31", "2026-01-02", "2025-12-31T23:59:00", "2026-01-02", "2026-02-01", "2025-12-30"]
    with store.transaction():
        numbering = Numbering(store, FORMATS)
        got = [numbering.next("order", on=day) for day in days]
        numbering.save()
    assert got == ["CMD-2025-12-0001", "CMD-2026-01-0001", "CMD-2025-12-0002", "CMD-2026-01-0002",
                   "CMD-2026-02-0001", "CMD-2025-12-0003"]
    assert numbering.dated_before("order", "2025-12-01") == "2025-12-31"
    assert numbering.dated_before("order", "2026-03-01") is None
    with store.transaction():        # the next transaction reads the counters back
        numbering = Numbering(store, FORMATS)
        assert numbering.next("order", on="2026-01-15") == "CMD-2026-01-0003"
        assert numbering.next("customer", name4="JEAN") == "JEAN001"
        assert numbering.next("customer", name4="MALO") == "MALO001"
        assert numbering.next("customer", name4="JEAN") == "JEAN002"
        assert numbering.next("order").startswith(f"CMD-{date.today():%Y-%m}-")     # undated: today's scope
