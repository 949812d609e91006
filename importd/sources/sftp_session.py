"""Opening an SFTP session we can trust, and naming what went wrong when we cannot.

The server's host key must be in the source's known_hosts file: an unknown or
changed key stops the connection before authentication, so no password or
signature is ever offered to an impostor and nothing is downloaded. Secrets are
read here, at connect time, and never leave this module.
"""

from __future__ import annotations

import errno
import logging
import socket

import paramiko

from importd.config.sftp import SecretUnavailable, SftpSettings

KEEPALIVE_S = 15

# paramiko prints its transport thread's errors on stderr; sftp.unavailable says what matters.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


class HostKeyUnknown(Exception):
    """The server presented a host key that known_hosts does not list for it."""

    def __init__(self, host: str, key: paramiko.PKey):
        super().__init__(host)
        self.host, self.key_type, self.fingerprint = host, key.get_name(), key.fingerprint


class KeyUnusable(Exception):
    """key_file cannot be read or decrypted (the message never holds the passphrase)."""


class _Refuse(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        raise HostKeyUnknown(hostname, key)


def open_session(settings: SftpSettings) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
    """Connect, check the host key, authenticate, start SFTP; raise on any failure."""
    pkey = _private_key(settings) if settings.key_file else None
    password = settings.password.read() if settings.password else None
    client = paramiko.SSHClient()
    client.load_host_keys(str(settings.known_hosts))     # only this file: no system-wide trust
    client.set_missing_host_key_policy(_Refuse())
    try:
        client.connect(settings.host, settings.port, username=settings.user, pkey=pkey, password=password,
                       allow_agent=False, look_for_keys=False, timeout=settings.timeout,
                       banner_timeout=settings.timeout, auth_timeout=settings.timeout,
                       channel_timeout=settings.timeout)
        client.get_transport().set_keepalive(KEEPALIVE_S)
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(settings.timeout)  # a silent server raises instead of hanging
    except BaseException:
        client.close()
        raise
    return client, sftp


def _private_key(settings: SftpSettings) -> paramiko.PKey:
    passphrase = settings.passphrase.read() if settings.passphrase else None
    try:
        # from_path hands the passphrase to `cryptography`, which wants bytes.
        return paramiko.PKey.from_path(settings.key_file, passphrase.encode() if passphrase else None)
    except paramiko.PasswordRequiredException:
        raise KeyUnusable(f"{settings.key_file} is encrypted and no passphrase is configured") from None
    except (paramiko.SSHException, ValueError, TypeError) as e:
        reason = "wrong passphrase or not a private key" if settings.passphrase else str(e) or type(e).__name__
        raise KeyUnusable(f"{settings.key_file}: cannot load the key ({reason})") from None
    except OSError as e:
        raise KeyUnusable(f"{settings.key_file}: {e.strerror}") from None


def describe(error: BaseException, settings: SftpSettings) -> tuple[str, str, str]:
    """(kind, message, hint) for a failure to reach or use the server; the kind is stable."""
    where = f"{settings.user}@{settings.host}:{settings.port}"
    host = settings.host if settings.port == 22 else f"[{settings.host}]:{settings.port}"
    scan = f"ssh-keyscan -p {settings.port} {settings.host}"
    if isinstance(error, HostKeyUnknown):
        return ("host_key_unknown",
                f"{error.host} presented a {error.key_type} host key {error.fingerprint} that "
                f"{settings.known_hosts.name} does not list; refused, nothing downloaded",
                f"confirm {error.fingerprint} with the server's administrator, then add it: "
                f"{scan} >> {settings.known_hosts.name}")
    if isinstance(error, paramiko.BadHostKeyException):
        return ("host_key_changed",
                f"{host} presented the {error.key.get_name()} host key {error.key.fingerprint}, but "
                f"{settings.known_hosts.name} expects {error.expected_key.fingerprint}; refused, nothing "
                f"downloaded (the connection may be intercepted)",
                f"only if the administrator confirms the key changed: ssh-keygen -R '{host}' -f "
                f"{settings.known_hosts.name}, then {scan} >> {settings.known_hosts.name}")
    if isinstance(error, paramiko.AuthenticationException):
        return ("auth_failed", f"{where} refused our login: {error}",
                "check user and key_file (its public key in the server's authorized_keys) or the password")
    if isinstance(error, (KeyUnusable, SecretUnavailable)):
        return ("credentials_unreadable", str(error), "fix key_file, passphrase_* or password_* in importd.toml")
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError) or (
            isinstance(error, OSError) and error.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH)):
        return ("connection_refused", f"nothing answers at {settings.host}:{settings.port}",
                "check host and port and that the SFTP server runs; importd keeps retrying")
    if isinstance(error, socket.gaierror):
        return ("host_unknown", f"cannot resolve {settings.host}: {error}", "check host in importd.toml")
    if isinstance(error, (socket.timeout, TimeoutError)):
        return ("timeout", f"{where} did not answer within {settings.timeout:g} s",
                "check the network and the server's load; importd keeps retrying")
    if isinstance(error, PermissionError) or getattr(error, "errno", None) == errno.EACCES:
        return ("permission_denied", f"{where}: permission denied on {settings.remote_dir}: {error}",
                "give the user read, rename and delete rights on remote_dir (and ack_dir)")
    if isinstance(error, FileNotFoundError):
        return ("remote_dir_missing", f"{where}: {settings.remote_dir} or a folder it names does not exist",
                "check remote_dir, on_success = \"move:…\" and ack_dir")
    return ("connection_lost", f"{where}: {type(error).__name__}: {error}",
            "importd reconnects and retries; a cut download is discarded and taken again whole")
