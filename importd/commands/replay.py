"""`importd check --replay SOURCE [--rules FILE] [--since DATE]`: the archive again, with today's rules.

Before turning a check on, after editing a rules file, after an upgrade: what would
the files already imported (or quarantined) from a source do now, against what the
ledger says happened?

The management database is only read (its ledger, on a read-only connection). Every
settled file of the setup, all sources, goes again in the order it was received through
parse, map and resolve — the dry run of `importd check RULES SAMPLE` — into a scratch
database in a temporary folder, so each file meets what the files before it would have
made (customers, catalogue, invoices a payment waits for) and none meets itself: a real
number is never taken, nothing of the setup is written. A file the rules would refuse
whole leaves nothing in the scratch database, as it would have left nothing in the real
one. Files of other sources, and those received before --since, are replayed for that
state only and not reported.

`--rules FILE` stands in for the configured rules file of the same name (edit a copy in
another folder, replay, then put it in place). Reported per file of SOURCE: the ledger's
outcome and counts, the replay's, what is refused now (per check and code), and what a
check in report mode would refuse once it is on.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from importd.commands.dryrun import dry_run
from importd.config.config import Config
from importd.errors import ConfigError
from importd.mapping.rules import Rules
from importd.stages.pipeline import route_for
from importd.store import Store
from importd.store import web as store_web
from importd.store.reports import settled_files


@dataclass
class Replayed:
    """One file of the replayed source: what the ledger says, what happens now."""

    id: int
    name: str
    received_at: str
    ledger: str                          # imported | duplicate | quarantined
    ledger_counts: dict
    ledger_error: str | None
    now: str = ""                        # imported | duplicate | quarantined | missing | no_route
    counts: dict = field(default_factory=dict)
    refused: dict = field(default_factory=dict)        # check (or code family) → code → documents
    would_refuse: dict = field(default_factory=dict)   # check in report mode → code → documents
    examples: list[str] = field(default_factory=list)  # a few lines: which document, what message
    rules: str = ""

    @property
    def differs(self) -> bool:
        if self.now == "missing":       # a quarantined file retried since, or removed: nothing to compare
            return False
        return self.now != self.ledger or (self.now != "quarantined" and self.counts != self.ledger_counts)

    def as_dict(self) -> dict:
        return {**self.__dict__, "differs": self.differs}


EXAMPLES = 5


def replay(config: Config, source: str, stand_in: Rules | None = None, since: date | None = None) -> list[Replayed]:
    """Replay the setup's settled files into a scratch database; the files of `source` reported."""
    if not any(s.name == source for s in config.sources):
        raise ConfigError([f"{config.path}: no source named {source!r} — sources: "
                           f"{', '.join(s.name for s in config.sources)}"])
    if stand_in is not None:
        names = {r.rules.path.name for s in config.sources for r in s.routes}
        if stand_in.path.name not in names:
            raise ConfigError([f"{stand_in.path}: --rules stands in for the configured rules file of the same "
                               f"name, and no route names one called {stand_in.path.name!r} — configured: "
                               f"{', '.join(sorted(names))}"])
    ledger = store_web.open_readonly(config.database, config.busy_timeout)
    if ledger is None:
        return []
    try:
        rows = [dict(row) for row in settled_files(ledger)]
    finally:
        ledger.close()
    sources = {s.name: s for s in config.sources}
    out = []
    with tempfile.TemporaryDirectory(prefix="importd-replay-") as scratch:
        store = Store(Path(scratch) / "replay.db")
        try:
            for row in rows:
                reported = row["source"] == source and (since is None or row["received_at"][:10] >= str(since))
                result = _replay_file(config, store, sources.get(row["source"]), row, stand_in)
                if reported:
                    out.append(result)
        finally:
            store.close()
    return out


def _replay_file(config: Config, store: Store, source, row: dict, stand_in: Rules | None) -> Replayed:
    summary = json.loads(row["summary"] or "{}")
    result = Replayed(row["id"], row["name"], row["received_at"], row["state"],
                      dict(summary.get("counts") or {}),
                      f"{row['error_code']}: {row['error_message']}" if row["error_code"] else None)
    path = _located(config, row["settled_path"])
    if path is None or source is None:
        result.now = "missing"
        return result
    route = route_for(source, row["name"], path)
    if route is None:
        result.now = "no_route"
        return result
    rules = route.rules
    if stand_in is not None and stand_in.path.name == rules.path.name:
        rules = stand_in
    result.rules = rules.name
    report = dry_run(store, rules, path, config.numbering, source.name, keep=True)
    for outcome in report.outcomes:
        result.counts[outcome["outcome"]] = result.counts.get(outcome["outcome"], 0) + 1
    if report.errors and not report.kept:
        result.now = "quarantined"
    elif report.outcomes and all(o["outcome"] in ("duplicate", "unchanged", "excluded") for o in report.outcomes):
        result.now = "duplicate"
    else:
        result.now = "imported"
    if result.ledger == "duplicate" and summary.get("duplicate_of") and result.now == "duplicate":
        result.counts = result.ledger_counts      # the same bytes again: the ledger counted no document
    for error in report.errors:
        _count(result.refused, error.get("check_name") or _family(error["code"]), error["code"])
        _example(result, error, "refused now")
    for r in report.reports:
        _count(result.would_refuse, r["check"], r["code"])
        _example(result, r, f"{r['check']} would refuse once on")
    return result


def _located(config: Config, settled: str | None) -> Path | None:
    """The settled file: where the ledger says, or — the setup moved to another folder, and an
    older release wrote absolute paths — at the same place under today's archive or quarantine."""
    if not settled:
        return None
    path = config.path.parent / settled
    if path.is_file():
        return path
    parts = Path(settled).parts
    for base in (config.archive, config.quarantine):
        if base.name in parts:
            i = len(parts) - 1 - parts[::-1].index(base.name)
            moved = base.joinpath(*parts[i + 1:])
            if moved.is_file():
                return moved
    return None


def _family(code: str) -> str:
    """The check a refusal belongs to when it was not run through run_check: its code's family."""
    if code.startswith("BR-"):
        return "invoice_checks"
    return code


def _count(table: dict, check: str, code: str) -> None:
    codes = table.setdefault(check, {})
    codes[code] = codes.get(code, 0) + 1


def _example(result: Replayed, item: dict, what: str) -> None:
    if len(result.examples) < EXAMPLES:
        where = f"line {item['line']}" if item.get("line") else "file"
        result.examples.append(f"{where}: {what}: {item['code']}: {item['message']}")


def parse_since(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise ConfigError([f"--since {text!r}: write a date as YYYY-MM-DD, e.g. --since 2026-11-01"]) from None


def render(source: str, files: list[Replayed], stand_in: Rules | None) -> str:
    rules = (f"{stand_in.path} standing in for the configured {stand_in.path.name}" if stand_in
             else "the configured rules")
    out = [f"replay of source {source}: {len(files)} file(s) from the archive, with {rules}",
           "(≠ ends otherwise than the ledger says; ! imported, but a check in report mode would refuse)"]
    totals_refused: dict[str, dict[str, int]] = {}
    totals_report: dict[str, dict[str, int]] = {}
    for f in files:
        mark = "≠" if f.differs else ("!" if f.would_refuse else " ")
        now = ("not in the archive or quarantine any more" if f.now == "missing"
               else f"{f.now} ({_counts(f.counts)})")
        out.append(f"{mark} #{f.id:<5} {f.name}  ledger: {f.ledger} ({_counts(f.ledger_counts)})  now: {now}")
        for check, codes in f.refused.items():
            out.append(f"      refused now by {check}: {_counts(codes)}")
            _add(totals_refused, check, codes)
        for check, codes in f.would_refuse.items():
            out.append(f"      imported, {check} (report mode) would refuse once on: {_counts(codes)}")
            _add(totals_report, check, codes)
        out += [f"        {e}" for e in f.examples]
    out.append("")
    out.append("per check:")
    for check, codes in totals_refused.items():
        out.append(f"  {check}: refuses {sum(codes.values())} document(s) now ({_counts(codes)})")
    for check, codes in totals_report.items():
        out.append(f"  {check}: reports without refusing; turning it on would refuse {sum(codes.values())} "
                   f"document(s) ({_counts(codes)})")
    if not totals_refused and not totals_report:
        out.append("  nothing refused, nothing reported")
    differing = sum(f.differs for f in files)
    out.append(f"\n{differing} file(s) of {len(files)} would end differently than the ledger says; "
               f"nothing was written, no number taken")
    return "\n".join(out)


def _add(total: dict, check: str, codes: dict) -> None:
    into = total.setdefault(check, {})
    for code, n in codes.items():
        into[code] = into.get(code, 0) + n


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no documents"
