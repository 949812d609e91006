"""`importd status`: what the service has done and what waits, for people and for scripts."""

from __future__ import annotations

import json
from pathlib import Path

from importd.config.config import Config
from importd.service.instance import holder
from importd.sources.local import is_temporary
from importd.stages.settle import waiting_rejects
from importd.store import Store
from importd.store import sqlite as sqlite_store
from importd.store.reports import reported_checks


def report(config: Config, store: Store) -> dict:
    """The service's state; the database; per source: files by state, backlog, last success;
    then parked, quarantine, counters."""
    states: dict[str, dict] = {s.name: {} for s in config.sources}
    for row in store.counts_by_state():
        states.setdefault(row["source"], {})[row["state"]] = row["n"]
    spooled = store.unsettled_by_source()
    last_success = store.last_success()
    inbox = {s.name: _waiting(s.path) for s in config.sources}
    systems = {s.name: list(dict.fromkeys(route.system for route in s.routes)) for s in config.sources}
    return {
        "service": holder(config.spool) or {"state": "stopped"},
        "database": (sqlite_store.describe(config.database, store.db) if isinstance(config.database, Path)
                     else {"kind": "postgresql", "url": str(config.database)}),     # never holds a password
        "sources": [{"name": name, "states": by_state, "inbox": inbox.get(name, 0),
                     "spool": spooled.get(name, 0), "last_success": last_success.get(name),
                     "systems": systems.get(name, [name])}
                    for name, by_state in states.items()],
        "parked": store.parked_count(),
        "held_for_review": store.held_count(),
        "absent": [dict(row) for row in store.absent_counts()],
        "snapshots_held": len(store.snapshot_holds()),
        "quarantined": store.quarantined_count(),
        "would_refuse": reported_checks(store.db),
        "rejected": _rejected(config, store),
        "last_files": [{**_last_file(row), "system": config.system_of(row["source"], row["name"])}
                       for row in store.last_files()],
        "counters": [dict(row) for row in store.counters()],
        "payments": store.payment_figures(),
    }


def _rejected(config: Config, store: Store) -> dict:
    """Documents rejected one by one whose rejects file still waits in quarantine."""
    files = waiting_rejects(config, store.files_with_rejects())
    return {"documents": sum(f["rejected"] for f in files), "files": files}


def _last_file(row) -> dict:
    out = {k: row[k] for k in ("id", "source", "name", "state", "finished_at", "documents", "error_code",
                               "error_message")}
    out["skipped"] = json.loads(row["summary"] or "{}").get("skipped", 0)
    out["rejected"] = row["rejected"] or 0
    return out


def render(data: dict) -> str:
    out = [_service_line(data["service"])]
    out += [f"  {f['kind']} in {f['stage']}{' of ' + f['source'] if f['source'] else ''} since {f['since']}"
            f" ({f['count']} failures): {f['error']}\n    what to do: {f['hint']}"
            for f in data["service"].get("faults", ())]
    out.append(_database_line(data["database"]))
    for src in data["sources"]:
        states = ", ".join(f"{k} {v}" for k, v in sorted(src["states"].items())) or "no files yet"
        systems = f"; systems {', '.join(src['systems'])}" if src["systems"] != [src["name"]] else ""
        out.append(f"source {src['name']}: {states}; {src['inbox']} waiting in the inbox, "
                   f"{src['spool']} in the spool; last import {src['last_success'] or 'never'}{systems}")
    rejected = data["rejected"]
    out.append(f"parked documents: {data['parked']} ({data['held_for_review']} held for review: "
               f"`importd review list`); files in quarantine: {data['quarantined']}; rejected documents: "
               f"{rejected['documents']}" + (f" in {len(rejected['files'])} file(s) (`importd quarantine list`)"
                                             if rejected["files"] else ""))
    if data["absent"] or data["snapshots_held"]:
        absent = ", ".join(f"{a['system']} {a['entity']} {a['n']}" for a in data["absent"]) or "none"
        out.append(f"absent from full exports: {absent}; snapshots held for confirmation: "
                   f"{data['snapshots_held']} (`importd snapshot missing|held`)")
    for r in data["would_refuse"]:
        codes = ", ".join(f"{code} {n}" for code, n in sorted(r["codes"].items()))
        out.append(f"check {r['check']} reports without refusing for source {r['source']}: {r['documents']} "
                   f"document(s) in {r['files']} file(s) it would refuse ({codes}; last: {r['last_file']}); "
                   f"see them: `importd check --replay {r['source']}`; turn it on: {r['opt_in']}")
    out += _payment_lines(data.get("payments") or {})
    if data["last_files"]:
        out.append("\nlast files:")
        for f in data["last_files"]:
            detail = (f"{f['error_code']}: {f['error_message']}" if f["error_code"]
                      else f"{f['documents'] or 0} documents" + "".join(
                          f", {f[k]} {k}" for k in ("skipped", "rejected") if f.get(k)))
            system = f" ({f['system']})" if f["system"] != f["source"] else ""
            out.append(f"  #{f['id']:<5} {f['state']:<11} {f['source']}/{f['name']}{system}  {detail}")
    if data["counters"]:
        out.append("\ncounters:")
        out += [f"  {c['series']:<12} {c['scope']:<24} {c['last_value']}" for c in data["counters"]]
    return "\n".join(out)


def _payment_lines(figures: dict) -> list[str]:
    """Invoices paid too much or too little, and money no invoice took (a credit on the customer)."""
    totals, credits = figures.get("totals") or {}, figures.get("credits") or []
    if not totals and not credits:
        return []
    out = ["\npayments:"]
    for status, what in (("partially_paid", "still owed"), ("overpaid", "paid too much")):
        if status in totals:
            t = totals[status]
            amount = t["balance"].lstrip("-")
            out.append(f"  {status:<15} {t['count']} invoice(s), {amount} {what}")
    for i in figures.get("invoices") or []:
        out.append(f"    {i['number']} ({i['external_ref']}, {i['customer_code'] or '-'}): due {i['amount_due']},"
                   f" paid {i['amount_paid']}, balance {i['balance']} {i['currency'] or ''}".rstrip())
    for c in credits:
        out.append(f"  unallocated credit: customer {c['customer'] or '?'} {c['amount']}")
    return out


def _service_line(service: dict) -> str:
    if service.get("state") == "stopped":
        return "service: not running"
    return (f"service: {service.get('state', 'running')} ({service.get('verb', 'importd')}, pid {service.get('pid')} on "
            f"{service.get('host')}, since {service.get('started_at')})")


def _database_line(database: dict) -> str:
    if database["kind"] != "sqlite":
        return f"database: {database['kind']} {database['url']}"
    line = (f"database: {database['path']}, {_size(database['size'])} + WAL {_size(database['wal_size'])}"
            f" ({database['journal_mode']}, schema {database['schema_version']}, SQLite {database['sqlite_version']});"
            f" {_size(database['disk_free'])} free on its disk")
    if database["reclaimable"]:
        line += f"; {_size(database['reclaimable'])} unused inside (VACUUM gives it back)"
    return line


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _waiting(path) -> int:
    if path is None or not path.is_dir():       # an sftp source has no local inbox
        return 0
    return sum(1 for e in path.iterdir() if e.is_file() and not is_temporary(e.name))
