"""A real OpenSSH server on a free loopback port, with throw-away host and user keys.

Debian's openssh-server (`.ci/run` installs it); the SFTP subsystem is
sshd's internal-sftp. We run as root, so the user is root with key login only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")


def keygen(path: Path, passphrase: str = "", kind: str = "ed25519") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "importd-test", "-f", str(path)],
                   check=True)
    return path


def fingerprint(public_key: Path) -> str:
    """OpenSSH's own SHA256 fingerprint of a public key file."""
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(public_key)], check=True, capture_output=True, text=True)
    return out.stdout.split()[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    def __init__(self, root: Path):
        assert SSHD.exists(), f"{SSHD} is missing: apt-get install openssh-server (.ci/run does)"
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.remote = root / "remote"          # the folder importd collects from
        self.remote.mkdir()
        self.host_key = keygen(root / "ssh_host_ed25519_key")
        self.user_key = keygen(root / "id_ed25519")
        (root / "authorized_keys").write_text((root / "id_ed25519.pub").read_text())
        self.port = free_port()
        self.log = root / "sshd.log"
        self.config = root / "sshd_config"
        self.config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"PidFile {root / 'sshd.pid'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
            "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nSubsystem sftp internal-sftp\nMaxStartups 100\n"
            "LogLevel ERROR\n")
        self.process: subprocess.Popen | None = None

    def known_hosts_line(self, public_key: Path | None = None) -> str:
        kind, blob = (public_key or self.host_key.with_suffix(".pub")).read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"

    def host_fingerprint(self) -> str:
        return fingerprint(self.host_key.with_suffix(".pub"))

    def start(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)     # sshd's privilege-separation folder
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(self.config)],
                                            stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not start: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL sshd and every session it forked (they live in their own sessions)."""
        if self.process is None:
            return
        for pid in [*_descendants(self.process.pid), self.process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self.process = None

    stop = kill


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
