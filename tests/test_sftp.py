"""The sftp source against a real OpenSSH server on loopback, driven through the real `importd`."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SAMPLES, Setup, importd, log_lines, stop
from sshd import Sshd, keygen

SOURCE = "partner"


def make_site(root: Path, server: Sshd, **keys) -> Setup:
    """An `importd init` folder plus an sftp source on `server` (keys override the defaults)."""
    result = importd("init", str(root))
    assert result.returncode == 0, result.stderr
    (root / "keys").mkdir()
    shutil.copy(server.user_key, root / "keys" / "id_ed25519")
    (root / "keys" / "known_hosts").write_text(server.known_hosts_line())
    settings = {"host": "127.0.0.1", "port": server.port, "user": "root", "key_file": "keys/id_ed25519",
                "known_hosts": "keys/known_hosts", "remote_dir": str(server.remote), "on_success": "delete",
                "poll_interval": 0.3, "settle": 0.5, "timeout": 5, **keys}
    lines = ["", "[[sources]]", f'name = "{SOURCE}"', 'kind = "sftp"']
    lines += [f"{k} = {_toml(v)}" for k, v in settings.items() if v is not None]
    lines += ['routes = [', '  { match = "clients*.csv", rules = "rules/customers-fr.toml" },',
              '  { match = "orders_export*.csv", rules = "rules/shopify-orders.toml" },', "]", ""]
    config = root / "importd.toml"
    config.write_text(config.read_text().replace("settle = 1.0", "settle = 0.3") + "\n".join(lines))
    return Setup(root)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


@pytest.fixture
def site(tmp_path: Path, sshd: Sshd) -> Setup:
    return make_site(tmp_path / "site", sshd)


def put(server: Sshd, name: str, data: bytes, folder: str = "") -> Path:
    """Drop a file in the remote folder as an uploader does: a temp name, then a rename."""
    target = server.remote / folder / name
    temp = target.with_name(f".{name}.tmp")
    temp.write_bytes(data)
    os.rename(temp, target)
    return target


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def events(stdout: str, name: str) -> list[dict]:
    return [line for line in log_lines(stdout) if line["event"] == name]


def start_logging(site: Setup, log: Path) -> subprocess.Popen:
    """Start the service with its log in a file: a busy one would fill a pipe nobody reads yet."""
    return subprocess.Popen([sys.executable, "-m", "importd", "run", "-c", str(site.config)],
                            stdout=log.open("a"), stderr=subprocess.PIPE, text=True)


def one_customer_file(i: int) -> bytes:
    """A customers file holding one customer of its own (reference X0000i)."""
    header = sample("clients-2026-11.csv").split(b"\r\n")[0] + b"\r\n"
    row = f"X{i:05d};M.;Martin{i};Paul;;;{i} rue B;;75002;Paris;FR;;paul{i}@example.fr\r\n"
    return header + row.encode("cp1252")


def test_csv_over_sftp_is_imported_like_a_local_file(site, sshd):
    """Both shipped samples dropped on the server: imported, numbered, archived, deleted remotely."""
    for name in ("clients-2026-11.csv", "orders_export_1.csv"):
        put(sshd, name, sample(name))
    result = site.run_once()
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(sshd.remote.iterdir()) == []
    assert site.archived() == ["clients-2026-11.csv", "orders_export_1.csv"]
    numbers = [r["number"] for r in site.rows("SELECT number FROM orders ORDER BY number")]
    assert numbers == ["CMD-2026-000001", "CMD-2026-000002", "CMD-2026-000003"]
    ledger = site.rows("SELECT source, name, state, remote_path, remote_size, remote_mtime, size"
                       " FROM import_files ORDER BY name")
    assert [(r["source"], r["name"], r["state"]) for r in ledger] == [
        (SOURCE, "clients-2026-11.csv", "imported"), (SOURCE, "orders_export_1.csv", "imported")]
    for row in ledger:
        assert row["remote_path"] == f"{sshd.remote}/{row['name']}"
        assert row["remote_size"] == row["size"] == len(sample(row["name"]))
        assert isinstance(row["remote_mtime"], int)
    assert site.spool_files() == []


def test_xml_file_is_collected_and_routed(site, sshd):
    """An .xml file is collected like any other; with no XML route yet it is quarantined no_route."""
    put(sshd, "invoice-42.xml", b"<?xml version='1.0'?><Invoice><ID>42</ID></Invoice>\n")
    result = site.run_once()
    assert result.returncode == 1, result.stdout + result.stderr
    assert list(sshd.remote.iterdir()) == []
    assert site.quarantined() == ["invoice-42.xml", "invoice-42.xml.error.json"]
    assert site.sidecar("invoice-42.xml", SOURCE)["code"] == "no_route"
    assert site.rows("SELECT remote_path FROM import_files") == [{"remote_path": f"{sshd.remote}/invoice-42.xml"}]


def test_unknown_host_key_is_refused_naming_the_fingerprint(tmp_path, sshd):
    """known_hosts without the server: refused with host, fingerprint and how to add it; nothing taken."""
    site = make_site(tmp_path / "site", sshd)
    (site.root / "keys" / "known_hosts").write_text("")
    put(sshd, "orders_export_1.csv", sample("orders_export_1.csv"))
    result = site.run_once()
    refused = events(result.stdout, "sftp.unavailable")
    assert len(refused) == 1 and refused[0]["kind"] == "host_key_unknown", result.stdout
    assert f"[127.0.0.1]:{sshd.port}" in refused[0]["error"]
    assert sshd.host_fingerprint() in refused[0]["error"]
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1" in refused[0]["hint"]
    assert [p.name for p in sshd.remote.iterdir()] == ["orders_export_1.csv"]
    assert site.rows("SELECT * FROM import_files") == []


def test_changed_host_key_is_refused(tmp_path, sshd):
    """known_hosts holds another key for the server: refused, both fingerprints named; nothing taken."""
    site = make_site(tmp_path / "site", sshd)
    other = keygen(tmp_path / "other_host_key")
    (site.root / "keys" / "known_hosts").write_text(sshd.known_hosts_line(other.with_suffix(".pub")))
    put(sshd, "orders_export_1.csv", sample("orders_export_1.csv"))
    result = site.run_once()
    refused = events(result.stdout, "sftp.unavailable")
    assert len(refused) == 1 and refused[0]["kind"] == "host_key_changed", result.stdout
    assert sshd.host_fingerprint() in refused[0]["error"]
    assert [p.name for p in sshd.remote.iterdir()] == ["orders_export_1.csv"]
    assert site.rows("SELECT * FROM import_files") == []


def test_wrong_user_key_is_refused_and_secrets_never_show(tmp_path, sshd):
    """A key the server does not know (passphrase from the environment): auth_failed, no secret anywhere."""
    passphrase = "pass-PHRASE-never-logged-7f3a"
    site = make_site(tmp_path / "site", sshd, passphrase_env="PARTNER_KEY_PASSPHRASE")
    wrong = keygen(tmp_path / "wrong_key", passphrase=passphrase)
    shutil.copy(wrong, site.root / "keys" / "id_ed25519")
    put(sshd, "orders_export_1.csv", sample("orders_export_1.csv"))
    os.environ["PARTNER_KEY_PASSPHRASE"] = passphrase
    try:
        result = site.run_once()
        status = importd("status", "-c", str(site.config))
    finally:
        del os.environ["PARTNER_KEY_PASSPHRASE"]
    refused = events(result.stdout, "sftp.unavailable")
    assert len(refused) == 1 and refused[0]["kind"] == "auth_failed", result.stdout
    assert [p.name for p in sshd.remote.iterdir()] == ["orders_export_1.csv"]
    everything = result.stdout + result.stderr + status.stdout + status.stderr + "".join(
        p.read_text(errors="replace") for p in site.root.rglob("*") if p.is_file() and p.suffix != ".db")
    assert passphrase not in everything


def test_key_with_a_passphrase_from_a_file_logs_in(tmp_path, sshd):
    """An encrypted RSA user key, its passphrase in a file: the import works like with a plain key."""
    site = make_site(tmp_path / "site", sshd, passphrase_file="keys/passphrase")
    key = keygen(tmp_path / "rsa_key", passphrase="rsa-pass", kind="rsa")
    shutil.copy(key, site.root / "keys" / "id_ed25519")
    (sshd.root / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    (site.root / "keys" / "passphrase").write_text("rsa-pass\n")
    put(sshd, "orders_export_1.csv", sample("orders_export_1.csv"))
    result = site.run_once()
    assert result.returncode == 0, result.stdout
    assert site.archived() == ["orders_export_1.csv"]


def test_stale_claim_of_a_vanished_importd_is_given_back_and_imported(tmp_path, sshd):
    """A claim left by another host that stays unchanged for stale_claim seconds is undone, then imported."""
    site = make_site(tmp_path / "site", sshd, stale_claim=1)
    put(sshd, "orders_export_1.csv.importd-otherhost-4242", sample("orders_export_1.csv"))
    result = site.run_once()                       # sees the claim, judges it fresh: nothing taken
    assert site.rows("SELECT * FROM import_files") == [], result.stdout
    service = site.start()
    try:
        site.wait_for(lambda: site.archived() == ["orders_export_1.csv"], what="the recovered file")
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    assert [e["owner"] for e in events(out, "sftp.claim_recovered")] == ["otherhost-4242"]
    assert list(sshd.remote.iterdir()) == []


def test_password_is_never_logged(tmp_path, sshd):
    """A password from a file the server refuses: auth_failed, and the password appears nowhere."""
    password = "pw-SECRET-never-logged-41c9"
    site = make_site(tmp_path / "site", sshd, key_file=None, password_file="keys/password")
    (site.root / "keys" / "password").write_text(password + "\n")
    result = site.run_once()
    refused = events(result.stdout, "sftp.unavailable")
    assert len(refused) == 1 and refused[0]["kind"] == "auth_failed", result.stdout
    assert password not in result.stdout + result.stderr


def test_slow_upload_in_chunks_is_taken_once_complete(site, sshd):
    """An upload written in chunks with pauses shorter than settle is taken once, whole."""
    service = site.start()
    try:
        data = sample("orders_export_1.csv") * 1
        path = sshd.remote / "orders_export_slow.csv"
        with open(path, "wb") as f:
            for start in range(0, len(data), 120):
                f.write(data[start:start + 120])
                f.flush()
                time.sleep(0.25)       # shorter than settle (0.5 s): a steady uploader
        site.wait_for(lambda: site.archived() == ["orders_export_slow.csv"], what="the archive")
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    assert site.rows("SELECT name, state, size FROM import_files") == [
        {"name": "orders_export_slow.csv", "state": "imported", "size": len(data)}]
    assert len(site.rows("SELECT * FROM orders")) == 3


@pytest.mark.parametrize("on_success", ["delete", "move:done", "keep"])
def test_each_on_success_mode(tmp_path, sshd, on_success):
    """delete removes, move:<dir> moves, keep leaves the file — and keep never takes it twice."""
    site = make_site(tmp_path / "site", sshd, on_success=on_success)
    put(sshd, "orders_export_1.csv", sample("orders_export_1.csv"))
    assert site.run_once().returncode == 0
    remote = sorted(str(p.relative_to(sshd.remote)) for p in sshd.remote.rglob("*") if p.is_file())
    expected = {"delete": [], "move:done": ["done/orders_export_1.csv"], "keep": ["orders_export_1.csv"]}
    assert remote == expected[on_success]
    assert site.run_once().returncode == 0                         # nothing new: the ledger knows it
    assert site.rows("SELECT count(*) n FROM import_files") == [{"n": 1}]
    if on_success == "keep":                                       # a changed file, same name: taken again
        path = sshd.remote / "orders_export_1.csv"
        path.write_bytes(sample("orders_export_1.csv").replace(b"#1003", b"#1004"))
        os.utime(path, (time.time() + 5, time.time() + 5))
        assert site.run_once().returncode == 0
        assert [r["state"] for r in site.rows("SELECT state FROM import_files ORDER BY id")] == [
            "imported", "imported"]
        assert len(site.rows("SELECT * FROM orders")) == 4


def test_done_marker_mode_waits_for_the_marker(tmp_path, sshd):
    """With done_marker, x.csv waits for x.csv.done; both leave the server once imported."""
    site = make_site(tmp_path / "site", sshd, done_marker=True)
    put(sshd, "orders_export_1.csv", sample("orders_export_1.csv"))
    assert site.run_once().returncode == 0
    assert site.rows("SELECT * FROM import_files") == []
    put(sshd, "orders_export_1.csv.done", b"")
    assert site.run_once().returncode == 0
    assert site.archived() == ["orders_export_1.csv"]
    assert list(sshd.remote.iterdir()) == []


def test_acknowledgements_are_pushed_to_ack_dir(tmp_path, sshd):
    """ack_dir: each file's .ack.json lands on the server, whole, where upstream can read it."""
    site = make_site(tmp_path / "site", sshd, ack_dir="acks")     # created on the server if missing
    put(sshd, "orders_export_1.csv", sample("orders_export_1.csv"))
    assert site.run_once().returncode == 0
    acks = list((sshd.remote / "acks").iterdir())
    assert [p.name for p in acks] == ["orders_export_1.csv.ack.json"]
    assert '"outcome": "imported"' in acks[0].read_text()
    assert list((site.root / "outbox" / SOURCE).glob("*.ack.json")) == []


def test_unreachable_server_is_logged_once_and_local_inbox_keeps_working(tmp_path, sshd):
    """sshd down: one error line with a hint, retried with backoff; the local inbox still imports."""
    site = make_site(tmp_path / "site", sshd)
    sshd.stop()
    service = site.start()
    try:
        site.drop_sample("orders_export_1.csv")
        site.wait_for(lambda: site.archived() == ["orders_export_1.csv"], what="the local import")
        time.sleep(3)
    finally:
        code, out, err = stop(service)
    assert code == 0, err
    refused = events(out, "sftp.unavailable")
    assert len(refused) == 1 and refused[0]["kind"] == "connection_refused", out
    assert refused[0]["hint"]


def test_sftp_config_errors_are_reported_with_their_lines(tmp_path, sshd):
    """check names each wrong sftp key with its line and what to write."""
    site = make_site(tmp_path / "site", sshd, on_success="shred", known_hosts="keys/nope", password_env="NOPE_X")
    result = importd("check", "-c", str(site.config))
    assert result.returncode == 2
    problems = result.stderr.strip().splitlines()
    text = site.config.read_text().splitlines()
    for key in ("on_success", "known_hosts", "password_env"):
        line = next(n for n, t in enumerate(text, 1) if t.startswith(f"{key} ="))
        assert any(p.startswith(f"{site.config}:{line}: {key}") and " — " in p for p in problems), (key, problems)
    assert len(problems) == 4, problems             # and: key_file and a password both given
    assert any("both given — keep one" in p for p in problems), problems


@pytest.mark.slow
def test_sshd_killed_mid_download_then_restarted_imports_the_file_once(site, sshd):
    """sshd dies during a large download: nothing half-taken; after a restart the file arrives once, whole."""
    data = os.urandom(1 << 20) * 150                       # 150 MB, no route: it ends in quarantine
    digest = hashlib.sha256(data).hexdigest()
    put(sshd, "big.dat", data)
    service = site.start()
    try:
        def partial_started():
            return any(p.name.endswith(".partial") and p.stat().st_size > (8 << 20) for p in site.spool_files())
        site.wait_for(partial_started, what="the download to start")
        sshd.kill()
        time.sleep(2)
        assert not any(p.name.endswith(".partial") for p in site.spool_files())
        assert site.rows("SELECT * FROM import_files") == []
        sshd.start()
        site.wait_for(lambda: "big.dat" in site.quarantined(), timeout=60, what="the file after the restart")
    finally:
        code, out, err = stop(service)
    assert code == 0, err                                   # a clean stop, whatever was quarantined
    assert site.rows("SELECT name, sha256, size FROM import_files") == [
        {"name": "big.dat", "sha256": digest, "size": len(data)}]
    assert list(sshd.remote.iterdir()) == []
    kinds = [e["kind"] for e in events(out, "sftp.unavailable")]
    assert kinds[0] == "connection_lost" and len(kinds) == len(set(kinds)), kinds   # each kind logged once
    assert events(out, "sftp.claim_recovered")               # our cut claim was given back, then taken whole


@pytest.mark.slow
def test_file_growing_during_its_download_is_taken_again_whole(site, sshd):
    """The uploader appends while we download: the copy is discarded, the file re-settles, arrives whole."""
    data = os.urandom(1 << 20) * 80
    upload = open(sshd.remote / "grows.dat", "wb")          # the uploader's handle follows the claim rename
    upload.write(data)
    upload.flush()
    service = site.start()
    try:
        def partial_started():
            return any(p.name.endswith(".partial") and p.stat().st_size > (4 << 20) for p in site.spool_files())
        site.wait_for(partial_started, what="the download to start")
        upload.write(b"tail")
        upload.close()
        site.wait_for(lambda: "grows.dat" in site.quarantined(), timeout=60, what="the whole file")
    finally:
        code, out, err = stop(service)
    assert code == 0, err                                   # a clean stop, whatever was quarantined
    assert site.rows("SELECT sha256, size FROM import_files") == [
        {"sha256": hashlib.sha256(data + b"tail").hexdigest(), "size": len(data) + 4}]
    assert [e["file"] for e in events(out, "sftp.file_changed")] == ["grows.dat"]


@pytest.mark.slow
def test_two_importd_processes_on_one_remote_folder_take_each_file_once(tmp_path, sshd):
    """Two services (own databases) collect from one folder, batches racing: every file is imported exactly once."""
    sites = [make_site(tmp_path / f"site{i}", sshd, poll_interval=0.1, settle=0.2) for i in (1, 2)]
    names = [f"clients-{i:03d}.csv" for i in range(250)]
    for i, name in enumerate(names):
        put(sshd, name, one_customer_file(i))
    services = [start_logging(s, tmp_path / f"site{i}.log") for i, s in enumerate(sites)]
    try:
        sites[0].wait_for(lambda: sum(len(s.archived()) for s in sites) >= len(names), timeout=90,
                          what="every file archived")
        time.sleep(1)
    finally:
        results = [stop(s) for s in services]
    assert all(code == 0 for code, _, _ in results), [err for _, _, err in results]
    taken = sorted(name for s in sites for name in s.archived())
    assert taken == names
    assert list(sshd.remote.iterdir()) == []
    assert all(s.rows("SELECT count(*) n FROM import_files WHERE state <> 'imported'") == [{"n": 0}] for s in sites)


@pytest.mark.slow
def test_kill_9_while_collecting_batches_loses_nothing_and_doubles_nothing(tmp_path, sshd):
    """importd killed -9 again and again while batches are claimed, read, registered and deleted:
    after a final run every file is imported once, none is left on the server or in the spool."""
    site = make_site(tmp_path / "site", sshd, poll_interval=0.1, settle=0.2)
    count = 400
    for i in range(count):
        put(sshd, f"clients-{i:03d}.csv", one_customer_file(i))
    for delay in (0.0, 0.003, 0.01, 0.03, 0.06, 0.1):
        service = start_logging(site, tmp_path / "service.log")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and service.poll() is None:    # this one's claims: a batch in flight
            if any(p.name.endswith(f"-{service.pid}") for p in sshd.remote.iterdir()):
                break
            time.sleep(0.002)
        time.sleep(delay)
        os.kill(service.pid, signal.SIGKILL)
        service.wait()
        service.stderr.close()
    for _ in range(3):
        result = site.run_once()
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        if not list(sshd.remote.iterdir()):
            break
    assert list(sshd.remote.iterdir()) == []
    assert site.spool_files() == []
    # A kill between a batch's rename into the spool and its ledger commit: start-up registers the
    # copies without their remote identity, the claims go back, the files come again as duplicates.
    imported = site.rows("SELECT name, count(*) n FROM import_files WHERE state = 'imported' GROUP BY name")
    assert len(imported) == count and {r["n"] for r in imported} == {1}
    assert site.rows("SELECT state FROM import_files WHERE state NOT IN ('imported', 'duplicate')") == []
    references = site.rows("SELECT count(*) n, count(DISTINCT external_id) d FROM external_refs"
                           " WHERE entity = 'customer'")
    assert references == [{"n": count, "d": count}]


def test_database_locked_while_collecting_is_a_fault_of_the_source_not_of_the_server(site, sshd):
    """Another program holds the database's write lock: the sftp thread logs fault.started once
    (database_locked, with its hint), keeps its session, leaves the file on the server; once the
    lock goes, fault.cleared and the file is imported."""
    site.config.write_text("busy_timeout = 0.5\n" + site.config.read_text())
    service = start_logging(site, site.root / "service.log")
    try:
        site.wait_for(lambda: (site.root / "importd.db").exists(), what="the database")
        time.sleep(0.5)
        with site.db() as holder:
            holder.execute("BEGIN IMMEDIATE")
            put(sshd, "orders_export_1.csv", sample("orders_export_1.csv"))
            time.sleep(3)
            assert [p.name for p in sshd.remote.iterdir()] == ["orders_export_1.csv"]   # not claimed, given back
            holder.execute("ROLLBACK")
        site.wait_for(lambda: site.archived() == ["orders_export_1.csv"], what="the file after the lock")
    finally:
        code, _, err = stop(service)
    assert code == 0, err
    out = (site.root / "service.log").read_text()
    started = [e for e in events(out, "fault.started") if e["stage"] == "collect"]
    assert [(e["source"], e["kind"]) for e in started] == [(SOURCE, "database_locked")], out
    assert "another program holds a write lock" in started[0]["hint"]
    assert [e["kind"] for e in events(out, "fault.cleared") if e["stage"] == "collect"] == ["database_locked"]
    assert events(out, "sftp.unavailable") == [] and len(events(out, "sftp.connected")) == 1
