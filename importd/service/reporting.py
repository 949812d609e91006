"""What the service says of itself: to the lock file (read by `importd status` and the ops
page), to /health and the degraded gauge, and to systemd's STATUS line; and, in the log, the rules
files whose checks only report."""

from __future__ import annotations

import time

from importd.mapping.versions import opt_in_line
from importd.service.instance import InstanceLock
from importd.service.metrics import Metrics
from importd.service.notify import Notifier


class StateReport:
    def __init__(self, metrics: Metrics, lock: InstanceLock, notify: Notifier):
        self.metrics, self.lock, self.notify = metrics, lock, notify
        self._said: tuple = ()

    def say(self, faults: list[dict], sources: list, outcomes: dict[str, int]) -> None:
        """Running or degraded, and why; the lock file and systemd hear only of changes."""
        state = "degraded" if faults else "running"
        self.metrics.degraded.set(1 if faults else 0)
        self.metrics.health = {"status": "degraded" if faults else "ok", "faults": faults,
                               "sources": [s.name for s in sources], "outcomes": dict(outcomes),
                               "checked_at": time.time()}
        failing = {s.name: s.failure for s in sources if s.failure}     # sftp servers out of reach
        said = (state, tuple((f["stage"], f["source"], f["kind"], f["count"]) for f in faults),
                tuple((name, f["kind"]) for name, f in failing.items()))
        if said != self._said:
            self._said = said
            self.lock.update({"state": state, "faults": faults, "sources": failing})
            why = "; ".join(f"{f['kind']} in {f['stage']}" for f in faults)
            self.notify.send(f"STATUS={'degraded: ' + why if faults else 'running'}")


def say_reporting_checks(config, logger) -> None:
    """At start and reload, once per rules file older than a check: the checks that only report."""
    seen = set()
    for rules in (route.rules for source in config.sources for route in source.routes):
        reporting = [name for name, mode in rules.check_modes.items() if mode == "report"]
        if reporting and rules.path not in seen:
            seen.add(rules.path)
            logger.info("rules.checks_reporting", rules=rules.name, rules_version=rules.version, checks=reporting,
                        opt_in=[opt_in_line(name) for name in reporting],
                        hint="these checks report without refusing (rules/README.md, \"Rules versions\"); "
                             "`importd check --replay SOURCE` shows what turning them on would refuse")
