"""The keys of the ops page in importd.toml: where `importd web` listens, and its token.

The page is read-only but tells a lot (file names, customers' errors), so it
listens on loopback unless the file says otherwise — and then it must name a
token file too. The token is read when `importd web` starts, never here: the
service loads this configuration and has no business with the secret.
"""

from __future__ import annotations

import ipaddress
import stat
from dataclasses import dataclass
from pathlib import Path

WEB_KEYS = {"web_port", "web_address", "web_token_file", "web_users_file", "web_session_idle", "web_session_max",
            "web_secure_cookie"}
USERS_FILE = "web-users.json"   # beside importd.toml: who may sign in to decide on the page
SESSION_IDLE = 30 * 60          # seconds a signed-in session lives without a request
SESSION_MAX = 12 * 3600         # seconds a session lives at most, however busy
DEFAULT_PORT = 9465          # beside the metrics' usual 9464
MIN_TOKEN = 16               # characters: a token a person could guess is no token


class TokenUnavailable(Exception):
    """The token file cannot be used (the message says why and what to do, never the token)."""


@dataclass(frozen=True, slots=True)
class WebSettings:
    port: int = DEFAULT_PORT
    address: str = "127.0.0.1"
    token_file: Path | None = None
    users_file: Path | None = None
    session_idle: int = SESSION_IDLE
    session_max: int = SESSION_MAX
    secure_cookie: bool = False


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:           # a host name: it may resolve anywhere
        return False


def exposure_problem(address: str, token_file: Path | None) -> str | None:
    """Why listening on `address` is refused, or None."""
    if is_loopback(address) or token_file is not None:
        return None
    return (f"web_address {address!r} is not a loopback address: the page would be open to the network — "
            f"add web_token_file = \"web.token\" (a file holding a long random token, e.g. from "
            f"`openssl rand -hex 32`), or listen on web_address = \"127.0.0.1\"")


def web_settings(data: dict, base: Path, problem) -> WebSettings:
    """Read and check the web_* keys; report each mistake through `problem((key,), text)`."""
    port = data.get("web_port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
        problem(("web_port",), f"web_port is a TCP port number, e.g. web_port = {DEFAULT_PORT}")
        port = DEFAULT_PORT
    address = data.get("web_address", "127.0.0.1")
    if not isinstance(address, str) or not address:
        problem(("web_address",), "web_address is an address to listen on, e.g. web_address = \"127.0.0.1\"")
        address = "127.0.0.1"
    token_file = data.get("web_token_file")
    if token_file is not None and (not isinstance(token_file, str) or not token_file):
        problem(("web_token_file",), "web_token_file is a path, e.g. web_token_file = \"web.token\"")
        token_file = None
    token_path = base / token_file if token_file else None
    if why := exposure_problem(address, token_path):
        problem(("web_address",), why)
    users = data.get("web_users_file", USERS_FILE)
    if not isinstance(users, str) or not users:
        problem(("web_users_file",), f"web_users_file is a path, e.g. web_users_file = \"{USERS_FILE}\"")
        users = USERS_FILE
    seconds = {}
    for key, default in (("web_session_idle", SESSION_IDLE), ("web_session_max", SESSION_MAX)):
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problem((key,), f"{key} is a number of seconds, e.g. {key} = {default}")
            value = default
        seconds[key] = value
    secure = data.get("web_secure_cookie", False)
    if not isinstance(secure, bool):
        problem(("web_secure_cookie",), "web_secure_cookie is true (the page is reached over HTTPS) or false")
        secure = False
    return WebSettings(port=port, address=address, token_file=token_path, users_file=base / users,
                       session_idle=seconds["web_session_idle"], session_max=seconds["web_session_max"],
                       secure_cookie=secure)


def read_token(path: Path) -> str:
    """The token in `path`: refused when unreadable, short, or readable by every user of the machine."""
    try:
        mode = path.stat().st_mode
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise TokenUnavailable(f"web_token_file {path}: cannot read it ({getattr(e, 'strerror', e)})") from None
    if mode & stat.S_IROTH:
        raise TokenUnavailable(f"web_token_file {path} is readable by every user: chmod 600 {path.name} "
                               f"(or 640 with the service's group)")
    if len(token) < MIN_TOKEN:
        raise TokenUnavailable(f"web_token_file {path} holds {len(token)} characters: write at least "
                               f"{MIN_TOKEN}, e.g. `openssl rand -hex 32 > {path.name}`")
    return token

