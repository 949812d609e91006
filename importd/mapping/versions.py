"""Which release's meaning a rules file has, and the mode each check runs in for it.

A rules file says which meaning it was written for with a top-level key:

    rules_version = 2            # absent: 1, the meaning of release 0.1

A check that could refuse what an earlier release accepted is listed in CHECKS with
the rules version that turned it on. For a file of an older version that does not
mention the check, it runs in "report" mode: the document is imported, and what the
check would have refused is logged (`check.would_refuse`), counted in the ledger and
shown by `importd status` and the ops page, with the line to add to turn it on. A file
of the check's version or newer, or one that mentions the check, has it "enforce"d.
`importd init` writes rules files of the current version: new setups have every check on.

The next release's checks plug in here: a line in CHECKS, RULES_VERSION + 1, and the
call site runs the check through importd.resolve.check_modes.run_check.
"""

from __future__ import annotations

from dataclasses import dataclass

RULES_VERSION = 2              # the meaning of this release's rules files
ENFORCE, REPORT = "enforce", "report"
MODES = (ENFORCE, REPORT)


@dataclass(frozen=True, slots=True)
class Check:
    """A check a release added that may refuse what the releases before accepted."""

    name: str                  # as logged and counted: "order_checks"
    since: int                 # the rules_version from which a file that does not mention it enforces it
    kinds: tuple[str, ...]     # the document kinds it applies to
    mentioned: tuple[str, ...]  # the key path whose presence in a file says the admin chose (a table, a key)
    opt_in: str                # the lines to add to a rules file to turn it on
    what: str                  # what it checks, for people

    def is_mentioned(self, data: dict) -> bool:
        node = data
        for key in self.mentioned:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return True


CHECKS: dict[str, Check] = {c.name: c for c in (
    Check("order_checks", since=2, kinds=("order",), mentioned=("order_checks",),
          opt_in="[order_checks]\nenabled = true",
          what="orders add up: line totals, subtotal, total (ORD-LINE, ORD-SUBTOTAL, ORD-TOTAL, ORD-QTY)"),
)}


def load_version(data: dict, problem) -> int:
    """The file's `rules_version` (absent: 1); `problem(where, text)` reports a bad one."""
    version = data.get("rules_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= RULES_VERSION:
        problem(("rules_version",), f"rules_version must be a whole number from 1 to {RULES_VERSION} "
                                    f"(this release's meaning is {RULES_VERSION}; absent means 1)")
        return RULES_VERSION
    return version


def check_modes(data: dict, version: int, kind: str | None) -> dict[str, str]:
    """Each check that applies to `kind` → "enforce" or "report" for this file."""
    return {check.name: (REPORT if version < check.since and not check.is_mentioned(data) else ENFORCE)
            for check in CHECKS.values() if kind in check.kinds}


def opt_in_line(name: str) -> str:
    """The lines that turn check `name` on, as one line of text (a log field, a page cell)."""
    check = CHECKS.get(name)
    return " / ".join(check.opt_in.splitlines()) if check else ""


def describe(version: int, modes: dict[str, str]) -> str:
    """`importd check RULES`'s word on the file's meaning: its version, and the checks that only report."""
    reporting = [name for name, mode in modes.items() if mode == REPORT]
    text = f"rules_version {version}"
    if reporting:
        text += "; reporting without refusing: " + ", ".join(
            f"{name} (turn it on: {opt_in_line(name)}, or rules_version = {RULES_VERSION})" for name in reporting)
    return text
