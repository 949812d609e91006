"""When a local inbox file counts as complete: renamed in at once, written in place after a quiet period."""

from __future__ import annotations

import os
import time

from conftest import stop
from test_service import order_rows


def with_source_keys(setup, **keys) -> None:
    """Set keys of the inbox source in importd.toml (settle, ready…)."""
    text = setup.config.read_text()
    for key in keys:
        text = "\n".join(line for line in text.splitlines() if not line.startswith(f"{key} ")) + "\n"
    lines = "".join(f'{key} = {value!r}\n'.replace("'", '"') for key, value in keys.items())
    setup.config.write_text(text.replace('path = "inbox"\n', 'path = "inbox"\n' + lines, 1))


def archived_within(setup, name: str, seconds: float) -> float:
    """Seconds until `name` reached the archive; fails after `seconds`."""
    start = time.monotonic()
    setup.wait_for(lambda: name in setup.archived(), timeout=seconds, what=f"{name} in the archive")
    return time.monotonic() - start


def test_renamed_in_file_is_taken_at_once_while_a_slow_writer_waits(setup, tmp_path):
    """With settle = 3 s: a file renamed into the inbox is archived well within a second, while a
    file written in place in chunks is never taken half-written."""
    with_source_keys(setup, settle=3.0)
    service = setup.start_watching()
    try:
        data = order_rows(setup, 1, 30).encode()
        slow = setup.inbox / "orders_export_slow.csv"
        with open(slow, "wb") as f:
            for i, start in enumerate(range(0, len(data), len(data) // 5 + 1)):
                f.write(data[start:start + len(data) // 5 + 1])
                f.flush()
                if i == 1:       # mid-write, a complete file arrives by rename from outside the inbox
                    staged = tmp_path / "orders_export_fast.csv"
                    staged.write_text(order_rows(setup, 100, 1))
                    os.rename(staged, setup.inbox / staged.name)
                    assert archived_within(setup, staged.name, 1.5) < 1.5
                time.sleep(0.5)
                assert slow.exists(), "the slow file was taken while being written"
        archived_within(setup, slow.name, 15)
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    assert len(setup.rows("SELECT * FROM orders")) == 31


def test_file_without_a_rename_event_is_taken_by_the_scan_after_the_quiet_period(setup, tmp_path):
    """A file hard-linked into the inbox (no moved-in event, as if the event were lost) still
    arrives through the scan, once it has been quiet for `settle`."""
    with_source_keys(setup, settle=1.5, scan_interval=0.5)
    service = setup.start_watching()
    try:
        staged = tmp_path / "orders_export_linked.csv"
        staged.write_text(order_rows(setup, 1, 1))
        os.link(staged, setup.inbox / staged.name)
        taken = archived_within(setup, staged.name, 15)
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    assert taken >= 1.0, f"taken after {taken:.2f} s, before its quiet period"


def test_ready_close_takes_a_file_closed_after_writing_at_once(setup):
    """ready = "close": a file written in place and closed is taken without the quiet period."""
    with_source_keys(setup, settle=5.0, ready="close")
    service = setup.start_watching()
    try:
        (setup.inbox / "orders_export_closed.csv").write_text(order_rows(setup, 1, 1))
        taken = archived_within(setup, "orders_export_closed.csv", 4)
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    assert taken < 2.0


def test_ready_quiet_waits_even_for_a_renamed_file(setup, tmp_path):
    """ready = "quiet" keeps the old rule: a fresh file waits `settle` however it arrived."""
    with_source_keys(setup, settle=1.5, ready="quiet")
    service = setup.start_watching()
    try:
        staged = tmp_path / "orders_export_quiet.csv"
        staged.write_text(order_rows(setup, 1, 1))
        os.rename(staged, setup.inbox / staged.name)
        taken = archived_within(setup, staged.name, 15)
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    assert taken >= 1.0


def test_renamed_in_symlink_and_fifo_are_never_taken(setup, tmp_path):
    """Only regular files are complete files: a symlink or FIFO renamed in stays where it is."""
    target = tmp_path / "orders_export_target.csv"
    target.write_text(order_rows(setup, 1, 1))
    (tmp_path / "orders_export_link.csv").symlink_to(target)
    os.mkfifo(tmp_path / "orders_export_fifo.csv")
    service = setup.start_watching()
    try:
        for name in ("orders_export_link.csv", "orders_export_fifo.csv"):
            os.rename(tmp_path / name, setup.inbox / name)
        time.sleep(1.5)
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    assert sorted(p.name for p in setup.inbox.iterdir()) == ["orders_export_fifo.csv", "orders_export_link.csv"]
    assert setup.rows("SELECT * FROM import_files") == []


def test_unknown_ready_mode_is_a_config_error(setup):
    """A typo in `ready` names the file, the line and the values to write."""
    with_source_keys(setup, ready="renamed")
    result = setup.run_once()
    assert result.returncode == 2
    assert "ready 'renamed'" in result.stderr and "'rename', 'close', 'quiet'" in result.stderr
