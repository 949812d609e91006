"""`importd rules draft SAMPLE [--kind K] [-o RULES]`: a rules file drafted from a sample, then proved.

The draft (importd/mapping/draft/) reads the sample and proposes rules, a comment
before every decision. This verb writes them, reads them back as `importd check`
does, and runs the dry run on the sample against a scratch database: the first
documents as they would be written, and what would be refused and why. It writes
nothing else: no database of the setup, no inbox.

Exit codes: 0 the draft is written and every document of the sample would be
imported; 1 written, but it holds TODOs for a person or some documents would be
refused; 2 no draft (usage, an unreadable sample, a file already there).
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from dataclasses import replace
from itertools import islice
from pathlib import Path

import parsers
from importd.commands.dryrun import DryRun, dry_run
from importd.config.config import DEFAULT_NUMBERING
from importd.errors import ConfigError, FileRejected
from importd.mapping.mapping import check_columns, map_records
from importd.mapping.rules import Rules
from importd.mapping.rules_loader import load_rules
from importd.model import KINDS
from importd.store import Store

EXIT_OK, EXIT_LOOK, EXIT_USAGE = 0, 1, 2
SHOWN_DOCUMENTS = 3


def add_verb(verb) -> None:
    """Register `rules draft` with the CLI's `verb(name, func, help)` helper."""
    v = verb("rules", cmd_rules, "draft a rules file from a sample, with the evidence, and prove it on the sample")
    v.add_argument("action", choices=("draft",))
    v.add_argument("sample", type=Path)
    v.add_argument("--kind", choices=tuple(KINDS), help="the document kind, when the titles do not make it clear")
    v.add_argument("-o", "--output", type=Path, help="the rules file to write (default: SAMPLE's name with .toml, "
                                                     "in the current folder)")
    v.add_argument("--force", action="store_true", help="replace the output file if it exists")


def cmd_rules(args) -> int:
    from importd.mapping.draft import DraftError, draft_rules     # here: other verbs start without it
    sample: Path = args.sample
    if not sample.is_file():
        print(f"importd rules draft: {sample}: no such file", file=sys.stderr)
        return EXIT_USAGE
    output: Path = args.output or Path(sample.stem + ".toml")
    if output.exists() and not args.force:
        print(f"importd rules draft: {output} exists; choose another -o or add --force", file=sys.stderr)
        return EXIT_USAGE
    try:
        draft = draft_rules(sample, args.kind)
    except DraftError as e:
        print(f"importd rules draft: {sample}: {e}", file=sys.stderr)
        return EXIT_USAGE
    output.write_text(draft.text, encoding="utf-8")
    what = f"the shipped {draft.shipped}, recognised by its columns" if draft.shipped else f"{draft.kind} rules"
    print(f"wrote {output}: {what}")
    if draft.doubts:
        print("decided on weaker evidence, worth a look:\n" + "\n".join(f"  {doubt}" for doubt in draft.doubts))
    if draft.todos:
        print(f"\n{len(draft.todos)} decision(s) left to a person; `importd check` refuses the file until each "
              f"TODO is replaced:")
        print("\n".join(f"  {todo}" for todo in draft.todos))
        print(f"\nthen prove it: importd check {output} {sample}")
        return EXIT_LOOK
    try:
        rules = load_rules(output.resolve())
    except ConfigError as e:          # a draft check refuses is the draft's fault: say so plainly
        print("the draft does not pass `importd check`:\n" + "\n".join(f"  {p}" for p in e.problems))
        return EXIT_LOOK
    print(f"{output}: ok for `importd check` ({rules.kind}, {len(rules.columns)} columns read)\n")
    print(proof(rules, sample))
    report = _dry_run(rules, sample)
    print(summary(report))
    return EXIT_LOOK if report.errors else EXIT_OK


def proof(rules: Rules, sample: Path) -> str:
    """The first documents of the sample as the rules map them."""
    out = [f"the first documents of {sample.name}, as they would be written:"]
    rules = replace(rules, atomicity="document", compiled={})
    try:
        records = parsers.open_records(rules.parser, sample, rules.options)
    except parsers.ParseError as e:
        return f"the sample cannot be read with these rules: {e.code}: {e.message}"
    try:
        check_columns(rules, records.columns)
        for doc in islice(map_records(records, rules), SHOWN_DOCUMENTS):
            out.append(f"  line {doc.line}: {doc.kind} {doc.external_ref or ''}".rstrip())
            if doc.error is not None:
                out.append(f"    refused: {doc.error.code}: {doc.error.message}")
                continue
            out += _fields(doc.kind, doc.fields)
            if doc.customer:
                out += _fields("customer", doc.customer)
            for i, line in enumerate(doc.lines, 1):
                out += _fields(f"line {i}", line)
    except (FileRejected, parsers.ParseError) as e:
        out.append(f"  refused: {e.code}: {e.message}")
    finally:
        records.close()
    return "\n".join(out)


def _fields(label: str, fields: dict) -> list[str]:
    shown = ", ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, ""))
    return [f"    {label}: {shown}"]


def _dry_run(rules: Rules, sample: Path) -> DryRun:
    """importd check's dry run, on a scratch database: nothing of the setup is touched."""
    with tempfile.TemporaryDirectory() as scratch:
        store = Store(Path(scratch) / "draft.db")
        try:
            return dry_run(store, rules, sample, DEFAULT_NUMBERING, "draft")
        finally:
            store.close()


def summary(report: DryRun) -> str:
    outcomes = Counter(o["outcome"] for o in report.outcomes)
    out = ["", "the dry run on the sample (a scratch database; nothing written, no number consumed):"]
    out.append("  would be written: " + (", ".join(f"{n} {o}" for o, n in outcomes.items()) or "nothing"))
    waiting = next((o for o in report.outcomes if o["outcome"] in ("parked", "held") and o.get("reason")), None)
    if waiting:
        out.append(f"    {waiting['outcome']}, e.g. line {waiting['line']}: {waiting['reason']}")
    if report.errors:
        codes = Counter(e["code"] for e in report.errors)
        out.append(f"  would be refused: {len(report.errors)} — " + ", ".join(f"{c} × {n}" for c, n in codes.items()))
        for code in codes:
            first = next(e for e in report.errors if e["code"] == code)
            out.append(f"    {code}, e.g. line {first.get('line') or '-'}: {first['message']}")
    else:
        out.append("  would be refused: none")
    if report.warnings:
        out.append(f"  warnings: {len(report.warnings)}, e.g. line {report.warnings[0]['line']}: "
                   f"{report.warnings[0]['warning']}")
    return "\n".join(out)
