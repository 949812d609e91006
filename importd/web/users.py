"""Who may sign in to the ops page to decide: a file of users, their role and their password hash.

The file (`web_users_file`, default `web-users.json` beside importd.toml) is the
admin's, written by `importd web user add|passwd|remove` with mode 0600 (temp
file + rename); the page reads it at each sign-in and each action, so a user
removed or a password changed takes effect at once. No file: the page is
read-only, as it always was.

Passwords are hashed with scrypt from the standard library (hashlib.scrypt,
RFC 7914) with a random 16-byte salt per password and n=2**15, r=8, p=1 (the
parameters OWASP's Password Storage Cheat Sheet lists for scrypt; 32 MiB and
about 0.1 s per check), stored with the hash so they can be raised later. A
check compares with hmac.compare_digest; an unknown user costs the same time
as a known one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

ROLES = ("viewer", "reviewer")       # viewer: signs in and reads; reviewer: decides
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2 ** 15, 8, 1, 32
SCRYPT_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD = 12                    # characters
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class UsersUnavailable(Exception):
    """The users file cannot be used; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    hash: str

    @property
    def fingerprint(self) -> str:
        """Changes with the password and the role: a session of the old one ends."""
        return hashlib.sha256(f"{self.role}\n{self.hash}".encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN,
                            maxmem=SCRYPT_MAXMEM)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        given = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                               dklen=len(expected), maxmem=SCRYPT_MAXMEM)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(given, expected)


_DUMMY = None


def check_login(path: Path | None, name: str, password: str) -> User | None:
    """The user when the name and password match, else None (in the same time either way)."""
    global _DUMMY
    users = read_users(path) if path is not None and path.exists() else {}
    user = users.get(name)
    if user is None:
        _DUMMY = _DUMMY or hash_password(secrets.token_hex(8))
        verify_password(password, _DUMMY)
        return None
    return user if verify_password(password, user.hash) else None


def read_users(path: Path) -> dict[str, User]:
    """The users of the file; {} when there is none. Refused when others may read it."""
    try:
        mode = path.stat().st_mode
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise UsersUnavailable(f"web_users_file {path}: cannot read it ({getattr(e, 'strerror', None) or e})") \
            from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO) & ~stat.S_IRGRP:
        raise UsersUnavailable(f"web_users_file {path} may be read or written by others: chmod 600 {path.name}")
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise UsersUnavailable(f"web_users_file {path}: not a users file (write it with `importd web user add`)")
    return {name: User(name, u.get("role"), u.get("hash")) for name, u in users.items()
            if isinstance(u, dict) and u.get("role") in ROLES and isinstance(u.get("hash"), str)}


def write_users(path: Path, users: dict[str, User]) -> None:
    """The file, whole, by temp file + rename, mode 0600 from its creation."""
    data = {"users": {u.name: {"role": u.role, "hash": u.hash} for u in sorted(users.values(), key=lambda u: u.name)}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_name(name: str) -> str | None:
    if not NAME.fullmatch(name):
        return "a user name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
    return None


def check_password(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"a password has at least {MIN_PASSWORD} characters"
    return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
