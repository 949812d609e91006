"""importd.toml: the service's folders, numbering series and sources, checked at once.

Paths are relative to the file that names them. Every problem is reported in
one ConfigError, each as `file:line: what is wrong — what to write`; the rules
files the routes name are loaded and checked here too.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

from importd.config.database import DATABASE_KEYS, Database, database_setting
from importd.config.owner import spool_owner
from importd.config.series import check_format
from importd.config.sftp import SFTP_KEYS, SftpSettings, sftp_settings
from importd.config.web import WEB_KEYS, WebSettings, web_settings
from importd.errors import ConfigError
from importd.mapping.rules import Rules
from importd.mapping.rules_loader import load_rules
from importd.tomlfile import TomlFile

DEFAULT_NUMBERING = {
    "order": "CMD-{year}-{seq:06d}",
    "invoice": "FA-{year}-{seq:06d}",
    "credit_note": "AV-{year}-{seq:06d}",
    "payment": "RG-{year}-{seq:06d}",
    "customer": "{name4}{seq:03d}",
}
TOP_KEYS = DATABASE_KEYS | {"spool", "archive", "quarantine", "outbox", "log_format", "numbering", "sources",
            "metrics_port", "metrics_address", "ack_formats", "busy_timeout"} | WEB_KEYS
ACK_FORMATS = ("json", "csv")
SOURCE_KEYS = {"name", "kind", "path", "routes", "settle", "scan_interval", "ready"}
READY_MODES = ("rename", "close", "quiet")   # which events say a local file is complete
SFTP_SOURCE_KEYS = {"name", "kind", "routes", "settle"} | SFTP_KEYS
LOG_FORMATS = ("json", "console")


ROUTE_KEYS = {"match", "rules", "system"}


@dataclass(slots=True)
class Route:
    match: str
    rules: Rules
    system: str                  # the upstream system that issued the files' references (default: the source's name)


@dataclass(slots=True)
class Source:
    name: str
    kind: str
    path: Path | None            # the inbox folder (local sources)
    routes: list[Route]
    settle: float = 1.0          # seconds a file must stay unchanged before it is taken
    scan_interval: float = 2.0   # seconds between full scans (events only hint)
    ready: str = "rename"        # taken at once when: renamed in | also closed after writing | never (quiet)
    sftp: SftpSettings | None = None   # the server and its folder (sftp sources)
    _matchers: list | None = field(default=None, compare=False, repr=False)   # the routes' globs, compiled once

    def routes_for(self, filename: str) -> list[Route]:
        """The routes whose pattern fits `filename` (a glob, case-insensitive), in order."""
        if self._matchers is None:
            self._matchers = [(re.compile(fnmatch.translate(r.match.lower())).match, r) for r in self.routes]
        lowered = filename.lower()
        return [route for match, route in self._matchers if match(lowered)]

    def route(self, filename: str) -> Route | None:
        return next(iter(self.routes_for(filename)), None)

    def system_of(self, filename: str) -> str:
        """The system of the first route that fits `filename`; the source's name when none does."""
        route = self.route(filename)
        return route.system if route is not None else self.name


@dataclass(slots=True)
class Config:
    path: Path
    database: Database           # a Path (SQLite) or a PostgresDatabase
    spool: Path
    archive: Path
    quarantine: Path
    outbox: Path
    log_format: str
    numbering: dict[str, str]
    sources: list[Source] = field(default_factory=list)
    metrics_port: int | None = None         # the Prometheus endpoint, off by default
    metrics_address: str = "127.0.0.1"
    ack_formats: tuple[str, ...] = ("json",)
    busy_timeout: float = 30.0              # seconds to wait for another program's database lock
    web: WebSettings = field(default_factory=WebSettings)   # `importd web`: the ops page

    def source(self, name: str) -> Source:
        return next(s for s in self.sources if s.name == name)

    @property
    def systems(self) -> list[str]:
        """The upstream systems the routes name, in the order they first appear."""
        return list(dict.fromkeys(route.system for source in self.sources for route in source.routes))

    def system_of(self, source: str, filename: str) -> str:
        """The system a file of `source` belongs to (its route's); the source's name when the
        source is no longer configured."""
        found = next((s for s in self.sources if s.name == source), None)
        return found.system_of(filename) if found is not None else source

    @property
    def spool_owner(self) -> str | None:
        """The name of this setup's spool in a database several setups share (see instance.py)."""
        return spool_owner(self.spool, shared=not isinstance(self.database, Path))


def load_config(path: Path) -> Config:
    """Read and check importd.toml and every rules file its routes name."""
    path = path.resolve()
    toml = TomlFile(path)
    data, base = toml.data, path.parent
    problems: list[str] = []

    def problem(where: tuple, text: str, near: str | None = None) -> None:
        problems.append(f"{toml.where(*where, near=near)}: {text}")

    for key in data.keys() - TOP_KEYS:
        problem((key,), f"unknown key {key!r} — known keys: {', '.join(sorted(TOP_KEYS))}")

    def folder(key: str, default: str) -> Path:
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            problem((key,), f"{key} must be a path, e.g. {key} = \"{default}\"")
            value = default
        return base / value

    log_format = data.get("log_format", "json")
    if log_format not in LOG_FORMATS:
        problem(("log_format",), f"log_format {log_format!r} — write one of: {', '.join(LOG_FORMATS)}")
    numbering = dict(DEFAULT_NUMBERING)
    given = data.get("numbering", {})
    if not isinstance(given, dict):
        problem(("numbering",), "numbering must be a table: [numbering] then order = \"CMD-{year}-{seq:06d}\"")
        given = {}
    for series, fmt in given.items():
        if series not in DEFAULT_NUMBERING:
            problem(("numbering", series), f"unknown series {series!r} — series: {', '.join(DEFAULT_NUMBERING)}")
        elif not isinstance(fmt, str) or (why := check_format(fmt)):
            problem(("numbering", series), f"{series}: {why if isinstance(fmt, str) else 'must be a string'}")
        else:
            numbering[series] = fmt

    config = Config(path=path, database=database_setting(data, base, problem), spool=folder("spool", "spool"),
                    archive=folder("archive", "archive"), quarantine=folder("quarantine", "quarantine"),
                    outbox=folder("outbox", "outbox"), log_format=log_format, numbering=numbering)
    port = data.get("metrics_port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536):
        problem(("metrics_port",), "metrics_port is a TCP port number, e.g. metrics_port = 9464")
    else:
        config.metrics_port = port
    address = data.get("metrics_address", "127.0.0.1")
    if not isinstance(address, str):
        problem(("metrics_address",), "metrics_address is an address to listen on, e.g. \"127.0.0.1\"")
    else:
        config.metrics_address = address
    busy = data.get("busy_timeout", 30.0)
    if isinstance(busy, bool) or not isinstance(busy, (int, float)) or busy < 0:
        problem(("busy_timeout",), "busy_timeout is a number of seconds, e.g. busy_timeout = 30")
    else:
        config.busy_timeout = busy
    config.web = web_settings(data, base, problem)
    acks = data.get("ack_formats", ["json"])
    if not (isinstance(acks, list) and "json" in acks and set(acks) <= set(ACK_FORMATS)):
        problem(("ack_formats",), "ack_formats lists json and optionally csv: ack_formats = [\"json\", \"csv\"]")
    else:
        config.ack_formats = tuple(acks)
    sources = data.get("sources", [])
    if not isinstance(sources, list) or not sources:
        problem(("sources",), "no [[sources]] — add one: [[sources]] name = \"inbox\" kind = \"local\" "
                              "path = \"inbox\" routes = [...]")
        sources = []
    loaded: dict[Path, Rules] = {}
    for index, spec in enumerate(sources):
        source = _source(spec, index, base, loaded, problem, problems)
        if source:
            if any(s.name == source.name for s in config.sources):
                problem(("sources", index, "name"), f"two sources are named {source.name!r} — names must differ")
            config.sources.append(source)
    if problems:
        raise ConfigError(problems)
    return config


def _source(spec: dict, index: int, base: Path, loaded: dict, problem, problems: list) -> Source | None:
    where = ("sources", index)
    if not isinstance(spec, dict):
        problem(where, "each source is a [[sources]] table")
        return None
    kind = spec.get("kind", "local")
    known = SFTP_SOURCE_KEYS if kind == "sftp" else SOURCE_KEYS
    for key in spec.keys() - known:
        problem(where + (key,), f"unknown key {key!r} — known keys: {', '.join(sorted(known))}")
    name = spec.get("name")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        problem(where + ("name",), "each source needs a name (a word, no slash), e.g. name = \"inbox\"")
        return None
    sftp = None
    if kind not in ("local", "sftp"):
        problem(where + ("kind",), f"kind {kind!r} is not known — write kind = \"local\" or kind = \"sftp\"")
    elif kind == "sftp":
        sftp = sftp_settings(spec, where, base, problem)
    elif not isinstance(spec.get("path"), str):
        problem(where + ("path",), f"source {name!r} needs path = \"inbox\" (the folder to watch)")
        return None
    routes = []
    for route in spec.get("routes", []):
        if not (isinstance(route, dict) and isinstance(route.get("match"), str)
                and isinstance(route.get("rules"), str)):
            problem(where + ("routes",), "a route is { match = \"clients*.csv\", rules = \"rules/customers-fr.toml\" }")
            continue
        system = route.get("system", name)
        for key in sorted(route.keys() - ROUTE_KEYS):
            problem(where + ("routes",), f"route {route['match']!r}: unknown key {key!r} — known keys: "
                                         f"{', '.join(sorted(ROUTE_KEYS))}", near=route["match"])
        if not isinstance(system, str) or not system.strip() or "/" in system or system[0] in ". " \
                or system != system.strip():
            problem(where + ("routes",), f"route {route['match']!r}: system names the upstream system its files "
                                         f"come from, a word with no slash, e.g. system = \"shop\"",
                    near=route["match"])
            system = name
        rules_path = (base / route["rules"]).resolve()
        if rules_path not in loaded:
            try:
                loaded[rules_path] = load_rules(rules_path)
            except ConfigError as e:
                problems.extend(e.problems)
                loaded[rules_path] = None
        if loaded[rules_path] is not None:
            routes.append(Route(route["match"], loaded[rules_path], system))
    if not spec.get("routes"):
        problem(where + ("routes",), f"source {name!r} has no routes — add routes = [{{ match = \"*.csv\", "
                                     f"rules = \"rules/....toml\" }}]")
    numbers = {}
    for key, default in (("settle", 2.0 if kind == "sftp" else 1.0), ("scan_interval", 2.0)):
        value = spec.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            problem(where + (key,), f"{key} must be a number of seconds, e.g. {key} = {default}")
            value = default
        numbers[key] = value
    ready = spec.get("ready", "rename")
    if ready not in READY_MODES:
        problem(where + ("ready",), f"ready {ready!r} — write one of: {', '.join(map(repr, READY_MODES))} "
                                    f"(rename: files renamed into the folder are taken at once)")
        ready = "rename"
    path = base / spec["path"] if kind == "local" else None
    return Source(name=name, kind=kind, path=path, routes=routes, sftp=sftp, ready=ready, **numbers)
