"""Rules drafted from a sample: the file's form and each column's target field, with the evidence.

    draft = draft_rules(Path("export.csv"), kind=None)
    draft.text        # a rules file, a comment before every decision
    draft.todos       # what a person must decide (`importd check` refuses the file until then)

Reads bytes and proposes rules; writes nothing. The command `importd rules draft`
(importd/commands/draft.py) writes the text and proves it with a dry run.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from importd.mapping.draft.columns import guess_kind, place, profile
from importd.mapping.draft.compose import Draft, compose, varies_in_group
from importd.mapping.draft.form import DraftError, read_form
from importd.mapping.draft.render import render
from importd.mapping.draft.shipped import recognise
from importd.mapping.draft.vocabulary import headers_language
from importd.model import KINDS, LINE_SECTIONS

__all__ = ["Draft", "DraftError", "draft_rules"]


def draft_rules(sample: Path, kind: str | None = None) -> Draft:
    """A rules file for `sample`; `kind` when the titles do not make it clear."""
    if kind is not None and kind not in KINDS:
        raise DraftError(f"--kind {kind!r}: write one of {', '.join(KINDS)}")
    form = read_form(sample)
    shipped, notes = recognise(form)
    if shipped is not None and kind in (None, shipped.rules.kind):
        draft = Draft(shipped.rules.kind, sample.name, shipped=shipped.path.name)
        text = shipped.path.read_text(encoding="utf-8")
        draft.text = (f"# Proposed by `importd rules draft` from {sample.name}: the shipped rules file "
                      f"{shipped.path.name}, as it is.\n" + "".join(f"# {line}\n" for line in textwrap.wrap(shipped.note, 110, break_on_hyphens=False))
                      + "\n" + text)
        return draft
    columns = profile(form)
    language, titles = headers_language(form.header)
    guessed, scores, placements = guess_kind(columns)
    shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(scores.items(), key=lambda kv: -kv[1])) or "none"
    if kind is None:
        if guessed is None:
            raise DraftError(f"the titles do not make the kind clear (scores by the fields their titles name: "
                             f"{shown}): say it with --kind {'|'.join(KINDS)}")
        kind, why = guessed, f"the titles name more {guessed} fields than any other kind's (scores: {shown})"
    else:
        why = f"given with --kind (the titles' scores: {shown})"
    placed = placements.get(kind) or place(columns, kind)
    group = next((p.column.name for p in placed if (p.section, p.target) == (kind, "external_ref")), None)
    if kind in LINE_SECTIONS and group:          # again, knowing which columns change within a document
        placed = place(columns, kind, varies_in_group(form, group))
    draft = Draft(kind, sample.name, kind_comments=[why])
    draft.intro += notes
    if language:
        draft.intro.append(f"titles in {language}: {', '.join(map(repr, titles[:6]))}")
    compose(draft, form, columns, placed, language)
    draft.text = render(draft)
    return draft
