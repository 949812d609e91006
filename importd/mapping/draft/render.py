"""A draft as the text of a rules file: every decision preceded by the comment that says what it saw."""

from __future__ import annotations

import json
import re

from importd.mapping.draft.compose import Draft, Entry
from importd.mapping.versions import RULES_VERSION
from importd.model import KINDS

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def render(draft: Draft) -> str:
    out = [f"# Drafted by `importd rules draft` from {draft.sample}: each decision below says what it saw.",
           "# Read them, change what is wrong, then try it: importd check THIS-FILE SAMPLE"]
    if draft.todos:
        out += ["#", f"# {len(draft.todos)} TODO(s) left for a person; `importd check` refuses this file until "
                     f"each is replaced:"]
        out += [f"#   {todo}" for todo in draft.todos]
    if draft.doubts:
        out += ["#", "# Decided on weaker evidence, worth a look:"] + [f"#   {doubt}" for doubt in draft.doubts]
    out += [f"# {line}" for line in draft.intro]
    out += ["", f"rules_version = {RULES_VERSION}    # this release's meaning: every check on (rules/README.md, \"Rules versions\")"]
    order = ["format", "document", "order_checks"]
    for section in KINDS[draft.kind]:
        order += [section, f"{section}.extra"]
    for name in order:
        entries = draft.sections.get(name)
        if not entries:
            continue
        out += ["", f"[{name}]"]
        for entry in entries:
            out += _entry(entry)
    if draft.unused:
        out += ["", "# Columns left unused (map them above if they matter):"]
        out += [f"#   {line}" for line in draft.unused]
    return "\n".join(out) + "\n"


def _entry(entry: Entry) -> list[str]:
    lines = [f"# {comment}" for comment in entry.comments]
    return lines + [f"{key(entry.key)} = {value(entry.value)}"]


def key(name: str) -> str:
    return name if _BARE.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def value(v) -> str:
    """A TOML value, written inline: strings as basic strings (JSON's escapes are TOML's)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")
