"""What the ops page shows, gathered from the ledger, the lock file, the inboxes and the sidecars.

Nothing comes from a running service's memory: the page is right after a
restart, and right when the service is stopped. Every figure here is plain
data; the template turns it into HTML and escapes every text it prints.
"""

from __future__ import annotations

import json
import shlex
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from importd import __version__
from importd.config.config import Config
from importd.resolve.numbering import render_number
from importd.service.instance import holder
from importd.service.waiting import inbox_waiting
from importd.stages.settle import waiting_rejects
from importd.store import web as store_web
from importd.web.chart import stacked_bars

QUARANTINE_PAGE = 25         # quarantined files per page, newest first
PARKED_SHOWN = 50            # parked documents listed, the first to expire first
SIDECAR_MAX = 256 * 1024     # bytes: a sidecar listing thousands of rejects is shown from the ledger alone
SIDECAR_FIELDS = ("message", "line", "field", "rule", "hint")
HOURS = 24
SCOPES_SHOWN = 8             # counters listed per series


@dataclass(frozen=True, slots=True)
class Query:
    """What the address asks for: one error code, and a page of older files."""

    code: str | None = None
    before: int | None = None


def page(config: Config, db: sqlite3.Connection | None, query: Query, now: datetime | None = None) -> dict:
    """Everything the page shows. `db` is None while the database does not exist yet."""
    now = now or datetime.now(timezone.utc)
    service = _service(config, now)
    data = {"now": now, "service": service, "config_path": str(config.path), "database": str(config.database),
            "web_version": __version__, "has_database": db is not None, "query": query,
            "sources": [], "charts": [], "totals": dict.fromkeys(("imported", "duplicate", "quarantined", "documents"), 0),
            "quarantine": _no_quarantine(), "rejected": {"documents": 0, "files": []},
            "parked": {"waiting": 0, "held": 0, "rows": []}, "counters": [], "would_refuse": [],
            "payments": {"totals": {}, "invoices": [], "credits": []}}
    per_source = {}
    if db is not None:
        since = (now - timedelta(hours=HOURS - 1)).replace(minute=0, second=0, microsecond=0)
        rows = store_web.throughput(db, since.isoformat(timespec="seconds"))
        data["charts"], data["totals"], per_source = _throughput(rows, since)
        data["quarantine"] = _quarantine(config, db, query)
        data["rejected"] = _rejected(config, db)
        data["parked"] = _parked(db, now)
        data["would_refuse"] = store_web.would_refuse(db)
        data["payments"] = _payments(db)
        data["counters"] = _counters(config, db)
    data["sources"] = _sources(config, db, service, per_source, now)
    return data


# -- the service and its sources ---------------------------------------------------------------

def _service(config: Config, now: datetime) -> dict:
    held = holder(config.spool)
    if held is None or held.get("state") == "stopped":
        return {"state": "stopped", "faults": [], "source_failures": {}}
    started = _parse(held.get("started_at"))
    return {"state": held.get("state", "running"), "pid": held.get("pid"), "host": held.get("host"),
            "verb": held.get("verb", "run"), "version": held.get("version"), "started_at": started,
            "uptime": _duration(now - started) if started else None, "faults": held.get("faults") or [],
            "source_failures": held.get("sources") or {}}


def _sources(config: Config, db, service: dict, per_source: dict, now: datetime) -> list[dict]:
    spooled = store_web.spool_waiting(db) if db is not None else {}
    out = []
    for source in config.sources:
        inbox_count, inbox_oldest = inbox_waiting(source.path)
        spool_count, spool_oldest = spooled.get(source.name, (0, None))
        oldest = [t for t in (inbox_oldest, _timestamp(spool_oldest)) if t is not None]
        last = store_web.last_imported(db, source.name) if db is not None else None
        state, reason, hint = _source_state(source.name, service)
        out.append({
            "name": source.name, "kind": source.kind, "state": state, "reason": reason, "hint": hint,
            "inbox": inbox_count if source.kind == "local" else None, "spool": spool_count,
            "oldest_age": _duration(timedelta(seconds=now.timestamp() - min(oldest))) if oldest else None,
            "last_file": last["name"] if last else None, "last_id": last["id"] if last else None,
            "last_at": _parse(last["finished_at"]) if last else None,
            "last_ago": _ago(now, _parse(last["finished_at"])) if last else None,
            "day": per_source.get(source.name, {}),
            "systems": [system for system in dict.fromkeys(route.system for route in source.routes)
                        if system != source.name],      # the upstream systems its routes name
        })
    return out


def _source_state(name: str, service: dict) -> tuple[str, str | None, str | None]:
    """running, degraded (with the reason and what to do) or stopped."""
    if service["state"] == "stopped":
        return "stopped", "no importd runs on this setup", "start it: systemctl start importd (or importd run)"
    failure = service["source_failures"].get(name)
    if failure:
        return "degraded", f"{failure.get('kind')} since {failure.get('since')}: {failure.get('error')}", \
            failure.get("hint")
    for fault in service["faults"]:
        if fault.get("source") in (None, name):
            return "degraded", f"{fault.get('kind')} in {fault.get('stage')} since {fault.get('since')} " \
                               f"({fault.get('count')} failures): {fault.get('error')}", fault.get("hint")
    return "running", None, None


# -- throughput ----------------------------------------------------------------------------------

def _throughput(rows: list, since: datetime) -> tuple[list, dict, dict]:
    """The two charts (files per hour by outcome, documents per hour), the 24 h totals, and the
    totals per source."""
    hours = [since + timedelta(hours=i) for i in range(HOURS)]
    slot = {h.strftime("%Y-%m-%dT%H"): i for i, h in enumerate(hours)}
    files = {state: [0] * HOURS for state in ("imported", "duplicate", "quarantined")}
    documents = {"imported": [0] * HOURS}
    totals = {"imported": 0, "duplicate": 0, "quarantined": 0, "documents": 0}
    per_source: dict[str, dict] = {}
    for row in rows:
        i = slot.get(row["hour"])
        if i is None or row["state"] not in files:
            continue
        files[row["state"]][i] += row["files"]
        totals[row["state"]] += row["files"]
        counts = per_source.setdefault(row["source"], {"imported": 0, "duplicate": 0, "quarantined": 0})
        counts[row["state"]] += row["files"]
        if row["state"] == "imported":
            documents["imported"][i] += row["documents"]
            totals["documents"] += row["documents"]
    labels = [h.strftime("%H:00") for h in hours]
    spans = [f"{h:%d %b %H:00}–{h + timedelta(hours=1):%H:00} UTC" for h in hours]
    charts = [stacked_bars("Files per hour", labels, files, "files", spans),
              stacked_bars("Documents imported per hour", labels, documents, "documents", spans)]
    return charts, totals, per_source


# -- quarantine ------------------------------------------------------------------------------------

def _no_quarantine() -> dict:
    return {"codes": [], "total": 0, "files": [], "older": None}


def _quarantine(config: Config, db, query: Query) -> dict:
    # this setup's files: another setup sharing the database keeps its copies in its own folder
    codes = [dict(row) for row in store_web.quarantine_by_code(db, config.spool_owner)]
    rows = store_web.quarantined_files(db, config.spool_owner, query.code, query.before, QUARANTINE_PAGE + 1)
    files = [_quarantined(config, row) for row in rows[:QUARANTINE_PAGE]]
    return {"codes": codes, "total": sum(c["files"] for c in codes), "files": files,
            "older": files[-1]["id"] if len(rows) > QUARANTINE_PAGE else None}


def _rejected(config: Config, db) -> dict:
    """Documents rejected one by one (atomicity = "document") whose rejects file waits in quarantine."""
    files = waiting_rejects(config, store_web.files_with_rejects(db, config.spool_owner))
    for f in files:
        f["finished_at"] = _parse(f["finished_at"])
    return {"documents": sum(f["rejected"] for f in files), "files": files}


def _quarantined(config: Config, row) -> dict:
    """A quarantined file with the reason from its sidecar (the ledger's message when it is gone)."""
    details = {"message": row["error_message"], "line": None, "field": None, "rule": row["rules"], "hint": None}
    where = "in quarantine"
    settled = config.path.parent / row["settled_path"] if row["settled_path"] else None
    sidecar = settled.with_name(settled.name + ".error.json") if settled else None
    if row["settled_at"] is None:
        where = "being moved to quarantine"
    elif sidecar is None or not sidecar.exists():
        where = "no longer in quarantine (retried, or moved by hand)"
    else:
        details.update({k: v for k, v in _read_sidecar(sidecar).items() if k in SIDECAR_FIELDS and v is not None})
    if details["rule"]:
        details["rule"] = Path(str(details["rule"])).name
    return {"id": row["id"], "source": row["source"], "system": config.system_of(row["source"], row["name"]),
            "name": row["name"], "code": row["error_code"],
            "finished_at": _parse(row["finished_at"]), "where": where, "path": str(settled) if settled else None,
            "retry": f"importd quarantine retry {row['id']} -c {shlex.quote(str(config.path))}"
                     if where == "in quarantine" else None,
            **details}


def _read_sidecar(path: Path) -> dict:
    try:
        if path.stat().st_size > SIDECAR_MAX:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _payments(db) -> dict:
    """Over- and under-paid invoices, unallocated credits; nothing while the service has not yet
    brought an older database up to date (its payments have no customer_code yet)."""
    try:
        return store_web.payments(db)
    except store_web.ERRORS:
        return {"totals": {}, "invoices": [], "credits": []}


# -- parked documents and numbering --------------------------------------------------------------

def _parked(db, now: datetime) -> dict:
    waiting, held = store_web.parked_counts(db)
    rows = []
    for row in store_web.parked(db, PARKED_SHOWN):
        expires = _parse(row["expires_at"])
        review = row["waiting_for"] == "review"
        rows.append({**dict(row), "review": review, "parked_at": _parse(row["parked_at"]), "expires": expires,
                     "expires_in": None if review or expires is None else _until(now, expires),
                     "late": bool(not review and expires and expires <= now)})
    return {"waiting": waiting, "held": held, "rows": rows}


def _counters(config: Config, db) -> list[dict]:
    """Per series, its scopes newest first (a {year} series' current year on top); a series
    counted per prefix ({name4}) may have thousands: the first SCOPES_SHOWN, then how many more."""
    by_series: dict[str, list] = {}
    for row in store_web.counters(db):
        by_series.setdefault(row["series"], []).append(row)
    out = []
    for series, rows in by_series.items():
        fmt = config.numbering.get(series)
        rows.sort(key=lambda r: r["scope"], reverse=True)
        for row in rows[:SCOPES_SHOWN]:
            number = render_number(fmt, row["scope"], row["last_value"]) if fmt else str(row["last_value"])
            out.append({"series": series, "scope": row["scope"], "last_value": row["last_value"],
                        "last_number": number, "last_date": row["last_date"], "more": None})
        if len(rows) > SCOPES_SHOWN:
            out[-1]["more"] = f"and {len(rows) - SCOPES_SHOWN:,} more scopes of {series}"
    return out


# -- time, as people read it ---------------------------------------------------------------------

def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _timestamp(text: str | None) -> float | None:
    stamp = _parse(text)
    return stamp.timestamp() if stamp else None


def _duration(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes} min"
    if seconds < 86400:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def _ago(now: datetime, then: datetime | None) -> str | None:
    return f"{_duration(now - then)} ago" if then else None


def _until(now: datetime, then: datetime) -> str:
    return f"in {_duration(then - now)}" if then > now else f"{_duration(now - then)} overdue"


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
