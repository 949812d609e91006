"""The keys of an `sftp` source in importd.toml, checked like the rest of the file.

Secrets (a password, a key's passphrase) are named here — a file or an
environment variable — and read only when connecting, so they never sit in
the configuration object, its repr, a log line or an error message.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

SFTP_KEYS = {"host", "port", "user", "key_file", "passphrase_file", "passphrase_env", "password_file",
             "password_env", "known_hosts", "remote_dir", "on_success", "poll_interval", "done_marker",
             "ack_dir", "claim", "stale_claim", "timeout"}


class SecretUnavailable(Exception):
    """A password or passphrase file or variable cannot be read (the message names where, never what)."""


@dataclass(frozen=True, slots=True)
class Secret:
    """Where a secret lives: `file` (a path) or `env` (a variable name)."""

    kind: str
    where: str

    def read(self) -> str:
        if self.kind == "env":
            value = os.environ.get(self.where)
            if value is None:
                raise SecretUnavailable(f"environment variable {self.where} is not set")
            return value
        try:
            return Path(self.where).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise SecretUnavailable(f"cannot read {self.where}: {e.strerror}") from None

    def __str__(self) -> str:
        return f"${self.where}" if self.kind == "env" else self.where


@dataclass(frozen=True, slots=True)
class SftpSettings:
    host: str
    user: str
    known_hosts: Path
    remote_dir: str
    port: int = 22
    key_file: Path | None = None
    passphrase: Secret | None = None
    password: Secret | None = None
    on_success: str = "delete"          # delete | move | keep
    move_to: str | None = None          # with on_success = "move:<dir>"
    poll_interval: float = 30.0
    done_marker: str | None = None      # ".done": take x.csv once x.csv.done exists
    ack_dir: str | None = None          # push outbox acknowledgements here
    claim: bool = True                  # rename name → name.importd-<host>-<pid> before download
    stale_claim: float = 600.0          # seconds another claim may sit unchanged before we undo it
    timeout: float = 15.0               # connect, banner, authentication and channel timeouts

    def remote(self, name: str) -> str:
        return posixpath.join(self.remote_dir, name)


def sftp_settings(spec: dict, where: tuple, base: Path, problem) -> SftpSettings | None:
    """Check an sftp source's keys; report each problem through `problem(where, text)`."""
    ok = True

    def bad(key: str, text: str) -> None:
        nonlocal ok
        ok = False
        problem(where + (key,), text)

    def text(key: str, example: str, required: bool = True) -> str | None:
        value = spec.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            bad(key, f"{key} is missing or empty — write {key} = {example}")
            return None
        return value

    def seconds(key: str, default: float) -> float:
        value = spec.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            bad(key, f"{key} must be a positive number of seconds — e.g. {key} = {default:g}")
            return default
        return value            # seconds, int or float alike (never money)

    def secret(name: str) -> Secret | None:
        file_key, env_key = f"{name}_file", f"{name}_env"
        if file_key in spec and env_key in spec:
            bad(env_key, f"{file_key} and {env_key} are both given — keep one")
            return None
        if file_key in spec:
            value = text(file_key, f'"keys/{name}" (a file holding only the {name})')
            if value and not (base / value).is_file():
                bad(file_key, f"{file_key}: no file {value!r} — write the path of a file holding the {name}")
            return Secret("file", str(base / value)) if value else None
        if env_key in spec:
            value = text(env_key, f'"IMPORTD_SFTP_{name.upper()}" (an environment variable name)')
            if value and value not in os.environ:
                bad(env_key, f"{env_key}: the variable {value} is not set in importd's environment — "
                             f"set it (e.g. in the systemd unit) or use {file_key}")
            return Secret("env", value) if value else None
        return None

    host = text("host", '"sftp.example.com"')
    user = text("user", '"importd"')
    remote_dir = text("remote_dir", '"/outgoing" (the folder to collect from)')
    port = spec.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        bad("port", "port must be a TCP port number — e.g. port = 22")
    known_hosts = text("known_hosts", '"keys/known_hosts" (required: host keys are always checked)')
    if known_hosts and not (base / known_hosts).is_file():
        bad("known_hosts", f"known_hosts: no file {known_hosts!r} — create it with the server's key, "
                           f"checked with its administrator: ssh-keyscan -p {port} {host or 'HOST'} > {known_hosts}")
    key_file = text("key_file", '"keys/id_ed25519"', required=False)
    if key_file and not (base / key_file).is_file():
        bad("key_file", f"key_file: no file {key_file!r} — write the path of an ed25519 or RSA private key")
    passphrase, password = secret("passphrase"), secret("password")
    if key_file is None and password is None:
        bad("key_file", 'no credentials — write key_file = "keys/id_ed25519" or password_file / password_env')
    if key_file and password:
        bad("password_file" if "password_file" in spec else "password_env",
            "key_file and a password are both given — keep one")
    if passphrase and not key_file:
        bad("passphrase_file" if "passphrase_file" in spec else "passphrase_env",
            "a passphrase without a key — add key_file = \"keys/id_ed25519\"")

    on_success, move_to = spec.get("on_success", "delete"), None
    if isinstance(on_success, str) and on_success.startswith("move:") and len(on_success) > 5:
        on_success, move_to = "move", posixpath.join(remote_dir or "", on_success[5:])
    elif on_success not in ("delete", "keep"):
        bad("on_success", f'on_success {on_success!r} is not known — write "delete", "keep" or "move:done"')
    marker = spec.get("done_marker", False)
    if marker is True:
        marker = ".done"
    elif marker is False:
        marker = None
    elif not (isinstance(marker, str) and marker.startswith(".") and len(marker) > 1):
        bad("done_marker", f'done_marker {marker!r} — write true (x.csv waits for x.csv.done) or a suffix such as ".ok"')
        marker = None
    ack_dir = text("ack_dir", '"/incoming/acks" (a remote folder)', required=False)
    claim = spec.get("claim", True)
    if not isinstance(claim, bool):
        bad("claim", "claim must be true or false — write claim = true (rename a remote file before download)")
    numbers = {key: seconds(key, default) for key, default in
               (("poll_interval", 30.0), ("stale_claim", 600.0), ("timeout", 15.0))}
    if not ok:
        return None
    return SftpSettings(host=host, user=user, known_hosts=base / known_hosts, remote_dir=remote_dir, port=port,
                        key_file=base / key_file if key_file else None, passphrase=passphrase,
                        password=password, on_success=on_success, move_to=move_to, done_marker=marker,
                        ack_dir=ack_dir and posixpath.join(remote_dir, ack_dir), claim=claim, **numbers)
