"""Upstream systems on a live setup: a configuration that would orphan references is refused,
and moving references from one name to another (README "Systems", `importd systems move`).

References are keyed by the system that issued them; until a route names one, it is the
source's name. A setup that starts naming systems (`system = "shop"` on a route of the
source "inbox") would no longer find the references its database holds under "inbox":
every customer would be created again, every order numbered again. So `importd check`,
`run` and `import` refuse such a configuration until `importd systems move` has moved them.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from importd.config.config import Config
from importd.store import Store, rooms
from importd.store.systems import MoveConflict, Selection, has_refs

__all__ = ["MoveConflict", "Move", "orphaned", "orphan_problems", "planned_moves", "move"]


def orphaned(config: Config, store) -> list[str]:
    """Source names that no route names as a system any more, and that still key references.
    `store`: a Store, or a read-only connection (`importd check` writes nothing)."""
    systems = set(config.systems)
    db = store.db if isinstance(store, Store) else store
    return [source.name for source in config.sources if source.name not in systems and has_refs(db, source.name)]


def orphan_problems(config: Config, store) -> list[str]:
    """One line per orphaned name, each saying what to run."""
    return [f"{config.path}: the database holds references of {name!r}, but no route names system {name!r} "
            f"any more: they would not be found, and their records would be created and numbered again — "
            f"move them first: importd systems move --dry-run, then importd systems move "
            f"(or: importd systems move --from {name} --to SYSTEM [--entity ENTITY]), "
            f"or name system = {name!r} on the routes that still bring them"
            for name in orphaned(config, store)]


@dataclass
class Move:
    """One move: the rows of `old` in `selection` get the name `new`."""
    new: str
    selection: Selection
    why: str                        # what it follows, for the plan shown
    counts: dict[str, int] | None = None


def planned_moves(config: Config, store: Store, old: str | None = None, new: str | None = None,
                  entity: str | None = None, match: str | None = None) -> list[Move]:
    """The moves to make. With `old` and `new`: that one (of one entity, of the files whose name
    fits `match`, when given). Without: what the configuration says, for every orphaned source
    name: all of it to the one system its routes name, else route by route, the references
    written by the files each route takes (in the routes' order, as files are routed)."""
    if old is not None:
        file_ids = _files_matching(store, None, [match])[0] if match else None
        return [Move(new, Selection(old, entity, file_ids), f"--from {old} --to {new}"
                     + (f" --entity {entity}" if entity else "") + (f" --match {match}" if match else ""))]
    moves = []
    for name in orphaned(config, store):
        source = config.source(name)
        systems = list(dict.fromkeys(route.system for route in source.routes))
        if len(systems) == 1:
            moves.append(Move(systems[0], Selection(name, entity), f"every route of {name!r} names {systems[0]!r}"))
            continue
        for route, file_ids in zip(source.routes, _files_matching(store, name, [r.match for r in source.routes])):
            if file_ids:
                moves.append(Move(route.system, Selection(name, entity, file_ids),
                                  f"files of {name!r} matching {route.match!r} ({route.rules.path.name})"))
    return moves


def _files_matching(store: Store, source: str | None, patterns: list[str]) -> list[list[int]]:
    """Per pattern, the ids of the source's files (None: of any source) its glob takes first
    (globs as routes match: case-insensitive, in order)."""
    matchers = [re.compile(fnmatch.translate(pattern.lower())).match for pattern in patterns]
    taken: list[list[int]] = [[] for _ in patterns]
    for file_id, name in store.files_of_source(source):
        lowered = name.lower()
        for index, fits in enumerate(matchers):
            if fits(lowered):
                taken[index].append(file_id)
                break
    return taken


def move(store: Store, moves: list[Move], *, dry_run: bool) -> list[Move]:
    """Count each move's rows; unless `dry_run`, make every move in one transaction (all or
    nothing: a conflict raises MoveConflict and nothing changes). Idempotent: moved rows no
    longer carry the old name, so a second run finds nothing to move."""
    with store.transaction():
        store.lock(rooms.of_kinds(rooms.ROOMS))       # no import reads references while they change name
        for planned in moves:
            planned.counts = store.count_selection(planned.selection)
            conflicts = store.move_conflicts(planned.selection, planned.new)
            if conflicts:
                raise MoveConflict(conflicts)
            if not dry_run:
                store.move_selection(planned.selection, planned.new)
    return moves
