"""The layouts of the shipped rules files: a sample whose header holds every column one of
them reads (a Shopify or WooCommerce export, the French shop's clients, …) gets that file."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from importd.errors import ConfigError
from importd.mapping.draft.form import Form
from importd.mapping.rules import Rules
from importd.mapping.rules_loader import load_rules


@dataclass
class Shipped:
    path: Path
    rules: Rules
    note: str


def rules_folder() -> Path:
    """The shipped rules: inside the wheel, or the source checkout's rules/."""
    package = Path(__file__).resolve().parents[2]          # importd/
    packaged = package / "shipped" / "rules"
    return packaged if packaged.is_dir() else package.parent / "rules"


def recognise(form: Form) -> tuple[Shipped | None, list[str]]:
    """The shipped rules file whose layout the sample has, and notes on near misses."""
    found, notes = [], []
    folder = rules_folder()
    header = set(form.header)
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            rules = load_rules(path)
        except ConfigError:
            continue
        columns = rules.columns
        if rules.parser != "csv" or len(columns) < 4 or not columns <= header:
            continue
        options = rules.options
        delimiter = options.get("delimiter", ",")
        encoding = codecs.lookup(options.get("encoding", "utf-8")).name
        ours = codecs.lookup(form.encoding).name
        ascii_only = "ASCII" in form.encoding_note
        if delimiter != form.delimiter or not (encoding == ours or ascii_only):
            notes.append(f"the header has every column {path.name} reads, but its form differs (delimiter "
                         f"{delimiter!r}, encoding {encoding}): drafted anew")
            continue
        found.append((len(columns), path, rules))
    if not found:
        return None, notes
    count, path, rules = max(found, key=lambda f: f[0])
    unused = [name for name in form.header if name not in rules.columns]
    note = (f"the header holds every one of the {count} columns {path.name} reads ({rules.kind} rules shipped "
            f"with importd), with the same delimiter and encoding: this is that layout")
    if unused:
        note += f"; the columns it leaves unused: {', '.join(map(repr, unused))}"
    return Shipped(path, rules, note), notes
