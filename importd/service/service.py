"""The service loop: claim what the sources say is ready, process the spool, repeat.

Signal handlers only ask the loop to stop (or reload); the loop checks between
files, so the file in hand is always finished and settled. A second stop
signal raises StopRequested at once — still safe: the ledger and the spool
let the next start finish whatever was cut.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from importd import log
from importd.config.config import Config, Source, load_config
from importd.errors import ConfigError, StopRequested
from importd.faults import SHARED_KINDS, TRANSIENT, Backoff, Faults, classify
from importd.service.instance import InstanceLock
from importd.service.metrics import Metrics
from importd.service.notify import Notifier
from importd.service.reporting import StateReport, say_reporting_checks
from importd.service.systems import orphan_problems
from importd.sources.local import LocalSource
from importd.stages.claimer import Claimer, Claims
from importd.stages.parking import release
from importd.stages.pipeline import Transient, decide, groups, log_outcome
from importd.stages.review import acknowledge_pending
from importd.stages.settle import mark_settled
from importd.stages.settler import Settler, seconds_each
from importd.stages.spool import Unregistered, recover
from importd.store import Store

PARKED_SWEEP = 3600.0      # seconds between sweeps of parked documents when nothing is imported
PROCESS_BATCH = 500        # files processed in a turn before new arrivals are claimed


class Service(Claims):
    def __init__(self, config: Config, *, once: bool = False):
        self.config = config
        self.once = once
        self.lock = InstanceLock(config.spool, "run --once" if once else "run")
        self.store: Store | None = None           # opened by _start, which retries until it can
        self.wake = threading.Event()
        self.metrics = Metrics()
        self.sources = [self._make_source(s) for s in config.sources]
        self.logger = log.get()
        self.faults = Faults(self.logger, on_fault=lambda stage, kind: self.metrics.faults.labels(stage, kind).inc())
        self.backoff = Backoff()
        self.stop_requested = False
        self.reload_requested = False
        self.outcomes: dict[str, int] = {}
        self.notify = Notifier()
        self.report = StateReport(self.metrics, self.lock, self.notify)
        self._started = False
        self._recovered = False
        self._unregistered: list[Unregistered] = []    # spooled, but the ledger refused them for now
        self._swept_at = 0.0
        self._shared_fault = False     # this loop turn met a fault every stage would meet: stop trying
        self._claimed = 0
        self._spool_cursor = 0         # the last ledger id processed: a turn goes on from there
        self._spool_more = False       # the last turn stopped at its budget, not at the spool's end
        self.settler = Settler(self.wake)
        self.claimer = Claimer(self.wake)
        self._reserved: set[Path] = set()     # archive and quarantine names given to files not yet settled
        self._unmarked: set[int] = set()      # files settle put in place, not yet marked settled in the ledger

    def _make_source(self, source: Source):
        if source.kind == "sftp":
            from importd.sources.sftp import SftpSource   # paramiko loads only when it is needed
            return SftpSource(self.config, source, self.wake, once=self.once,
                              on_error=lambda name, kind: self.metrics.source_errors.labels(name, kind).inc())
        return LocalSource(source, self.wake, watch=not self.once)

    # -- signals ------------------------------------------------------------------------

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, signum, frame) -> None:
        if self.stop_requested:
            raise StopRequested(signal.Signals(signum).name)
        self.stop_requested = True
        self.wake.set()

    def _on_reload(self, signum, frame) -> None:
        self.reload_requested = True
        self.wake.set()

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped (or, with once, until the inboxes are drained); return an exit code.

        Raises SetupInUse when another importd holds this setup.
        """
        while not self._take_lock():
            if self.once or self.stop_requested:
                return 1 if self.once else 0
            self.wake.wait(max(0.05, min(self.backoff.waits(), default=2.0)))
        try:
            return self._run()
        finally:
            self.lock.release()

    def _take_lock(self) -> bool:
        """The setup's lock; False (a fault, retried) when the spool cannot even hold the lock file."""
        try:
            self.lock.acquire()
        except OSError as e:
            self._fault("start", e)
            self.backoff.failed("start")
            return False
        return True

    def _run(self) -> int:
        if self.config.metrics_port is not None and not self.once:
            host, port = self.metrics.serve(self.config.metrics_address, self.config.metrics_port)
            self.logger.info("metrics.listening", address=f"{host}:{port}")
        self.logger.info("service.started", sources=[s.name for s in self.sources],
                         database=str(self.config.database), once=self.once)
        say_reporting_checks(self.config, self.logger)
        forced = False
        try:
            # systemd hears READY even on a full disk: the service is up, it waits and retries.
            self._start()
            self.notify.ready(f"watching {len(self.sources)} source(s)")
            while not self.stop_requested:
                self._turn()
                if self.once and (self._done_once() or not self._started):
                    break
                if not self._spool_more:
                    self.wake.wait(max(0.05, self._timeout()))
        except StopRequested as e:
            self.logger.warning("service.stop_forced", signal=str(e))
            forced = True
        finally:
            self.notify.stopping()
            if not forced:      # a forced stop leaves the rest to the next start's recovery and settle
                self._finish_claims()
                self._collect(wait=True)
                self._mark_placed()
            self.claimer.stop(wait=not forced)
            self.settler.stop(wait=not forced)
            for source in self.sources:
                source.stop()
            self.metrics.close()
            if self.store is not None:
                self.store.close()
            self.logger.info("service.stopped", outcomes=self.outcomes)
        if not self.once:
            return 0        # a service that stopped cleanly; quarantined files are its normal work
        if not self._started or self._unregistered:
            self.outcomes["deferred"] = self.outcomes.get("deferred", 0) + 1
        return 1 if any(self.outcomes.get(k) for k in ("quarantined", "deferred", "rejected_documents")) else 0

    def _turn(self) -> None:
        """One pass: claim what is ready, process the spool, release parked documents."""
        self.notify.watchdog()
        self._shared_fault = False
        if self.reload_requested:
            self._reload()
        self.wake.clear()
        if self._started or self._start():
            self._claimed = self._claim_ready()
            self.notify.watchdog()
            imported = self._process_spool()
            if self._collect() or imported or time.monotonic() - self._swept_at > PARKED_SWEEP:
                self._release_parked()
            if not self._claimed and not self._spool_more:
                self._mark_placed()         # nothing more comes at once: no group commit to ride with
            if self.config.metrics_port is not None:
                self._update_gauges()       # only read when someone can scrape them
        self._say_state()

    def _done_once(self) -> bool:
        pending = [s.next_check() for s in self.sources if s.next_check() is not None]
        return not self._claimed and not pending and not self._spool_more and not self.settler.in_flight

    def _timeout(self) -> float:
        return min([*(s.next_check() for s in self.sources if s.next_check() is not None),
                    *(s.source.scan_interval for s in self.sources), *self.backoff.waits(),
                    *([self.notify.watchdog_interval] if self.notify.watchdog_interval else [])],
                   default=2.0)

    def _start(self) -> bool:
        """Open the database and recover what a crash left, then start the sources.

        A fault here (database locked, disk full) is retried like any other:
        the service waits, it does not exit.
        """
        if not self.backoff.ready("start"):
            return False
        try:
            if self.store is None:
                self.store = Store(self.config.database, self.config.busy_timeout, owner=self.config.spool_owner)
                if problems := orphan_problems(self.config, self.store):     # README "Systems": nothing is taken
                    self.logger.error("config.orphaned_references", problems=problems)
                    raise ConfigError(problems)
            if not self._recovered:
                # Before the sources start: an sftp thread's fresh download is not a crash's leftover.
                for file_id in recover(self.config, self.store):
                    self.logger.warning("spool.recovered", file_id=file_id)
                if acknowledge_pending(self.config, self.store):
                    self.logger.warning("review.acks_recovered")
                self._recovered = True
        except TRANSIENT as e:
            self._fault("start", e)
            self.backoff.failed("start")
            return False
        self.faults.ok("start")
        self.backoff.ok("start")
        for source in self.sources:
            source.start()
        self._started = True
        self._say_state()       # "running" before the first files: they may be settled before the turn ends
        return True

    def _fault(self, stage: str, error: BaseException, source: str | None = None, **context) -> str:
        kind = self.faults.failed(stage, error, source, **context)
        # A settle fault (an archive unwritable) does not stop the database work of this turn.
        self._shared_fault = self._shared_fault or (kind in SHARED_KINDS and stage != "settle")
        return kind

    def _say_state(self) -> None:
        """Running or degraded, with the faults of the loop and of the sources' own threads."""
        faults = [*self.faults.summary(), *(f for source in self.sources for f in source.faults())]
        self.report.say(faults, self.sources, self.outcomes)

    def _update_gauges(self) -> None:
        """Figures for /metrics, read once per loop turn."""
        try:
            self.metrics.observe(self.store, self.sources, self.config)
        except TRANSIENT as e:       # figures can wait; the work's own stages report the fault
            self.logger.debug("metrics.update_failed", error=str(e))

    def _release_parked(self) -> None:
        if self._shared_fault or not self.backoff.ready("parking"):
            return
        self._swept_at = time.monotonic()
        try:
            counts = release(self.config, self.store, self.logger)
        except TRANSIENT as e:
            self._fault("parking", e)
            self.backoff.failed("parking")
            return
        self.faults.ok("parking")
        self.backoff.ok("parking")
        if counts["released"] or counts["expired"] or counts["rejected"]:
            self.logger.info("parked.swept", **counts)

    def _process_spool(self) -> bool:
        """Process the spool, oldest first, at most PROCESS_BATCH files a turn (then claim again);
        True when a file imported something (parked documents may now resolve)."""
        imported = self._spool_more = False
        if self._shared_fault or not self.backoff.ready("process"):
            return imported
        budget = PROCESS_BATCH
        while budget > 0 and not self.stop_requested:
            try:
                rows = self.store.unsettled(after=self._spool_cursor, limit=min(budget, 200))
            except TRANSIENT as e:
                self._fault("process", e)
                self.backoff.failed("process")
                return imported
            if not rows:
                self._spool_cursor = 0          # the whole spool was seen: start again at the oldest
                return imported
            waiting = [row for row in rows
                       if row["id"] not in self.settler.in_flight and row["id"] not in self._unmarked
                       and self.backoff.ready(row["id"])]
            for group in groups(waiting):
                if self.stop_requested or self._shared_fault:
                    return imported
                imported = self._process_group(group) or imported
            self._spool_cursor = rows[-1]["id"]
            budget -= len(rows)
        self._spool_more = budget <= 0        # the next turn goes on at once
        return imported

    def _process_group(self, rows: list) -> bool:
        """Commit the outcomes of spooled files at once, hand them to the settle thread;
        True if a file settled meanwhile imported something.

        A fault that rolls back a group is retried file by file at once, so a
        file the service cannot read holds back itself, not its neighbours."""
        started = time.monotonic()
        marks = sorted(self._unmarked)
        try:
            decided = decide(self.config, self.store, [row["id"] for row in rows], progress=self._heartbeat,
                             reserved=self._reserved, settled=marks)
        except Transient as e:
            if len(rows) > 1 and classify(e.error) not in SHARED_KINDS:
                return any([self._process_group([row]) for row in rows])
            self._held(rows, e)
            return False
        self._unmarked.difference_update(marks)
        self.faults.ok("process")
        self.backoff.ok("process")
        self.settler.submit(self.config, decided, started)     # waits while two groups are being settled
        return self._collect()

    def _collect(self, wait: bool = False) -> bool:
        """Log the files the settle thread has put in place; True if one imported. Their settled
        mark rides with the next group's commit (or _mark_placed's)."""
        imported = False
        for group in self.settler.collect(wait):
            placed = [row for row in group.rows if row["id"] in group.placed]
            self._unmarked.update(group.placed)
            for row in group.rows:
                self._reserved.discard(self.config.path.parent / row["settled_path"])
                if row["id"] in group.held:
                    self._held([row], Transient("settle", group.held[row["id"]]))
            seconds = seconds_each(group)
            for row in placed:
                log_outcome(row, seconds)
                self.backoff.ok(row["id"])
                self.outcomes[row["state"]] = self.outcomes.get(row["state"], 0) + 1
                if row["rejected"]:         # documents rejected one by one: counted apart, in the exit code too
                    self.outcomes["rejected_documents"] = self.outcomes.get("rejected_documents", 0) + row["rejected"]
                self.metrics.file_settled(row["source"], row["state"], row["records"], seconds)
                imported = imported or row["state"] == "imported"
            if placed:
                self.faults.ok("settle")
        return imported

    def _mark_placed(self) -> None:
        """Mark settled, in a commit of their own, the placed files no group's commit took along.
        A fault leaves them to the next try; a crash first, to the next start's settle, which
        finds them in place and rewrites their acks."""
        if not self._unmarked or self.store is None:
            return
        marks = sorted(self._unmarked)
        try:
            mark_settled(self.config, self.store, marks)
        except TRANSIENT as e:
            self._fault("settle", e)
            return
        self._unmarked.difference_update(marks)

    def _held(self, rows: list, error: Transient) -> None:
        """Files left in the spool by a fault, to retry later."""
        for row in rows:
            if self.once:      # left in the spool for the next run
                self.outcomes["deferred"] = self.outcomes.get("deferred", 0) + 1
            self.backoff.failed(row["id"])
        # A settle fault holds back its files alone; one that stops imports holds back all.
        file_id = rows[0]["id"] if len(rows) == 1 else None
        if self._fault(error.stage, error.error, file_id=file_id) in SHARED_KINDS and error.stage == "process":
            self.backoff.failed("process")

    def _heartbeat(self, records: int, bytes_read: int) -> None:
        """Called during a long file: systemd's watchdog must not take it for a hang."""
        self.notify.watchdog()

    def _reload(self) -> None:
        self.reload_requested = False
        self.notify.reloading()
        try:
            config = load_config(self.config.path)
            if self.store is not None and (problems := orphan_problems(config, self.store)):
                raise ConfigError(problems)          # new system names that would orphan references
        except TRANSIENT as e:                      # the database could not say: keep what runs
            e = ConfigError([f"the references could not be checked: {e}"])
            self.logger.error("config.reload_failed", problems=e.problems, hint="send SIGHUP again later")
            self.notify.ready("configuration reload failed; the old one runs")
            return
        except ConfigError as e:
            self.logger.error("config.reload_failed", problems=e.problems,
                              hint="fix the file and send SIGHUP again; the old configuration keeps running")
            self.notify.ready("configuration reload failed; the old one runs")
            return
        if (config.database, config.spool) != (self.config.database, self.config.spool):
            self.logger.error("config.reload_failed", problems=["database and spool cannot change on reload"],
                              hint="restart the service to use another database or spool")
            self.notify.ready("configuration reload failed; the old one runs")
            return
        self._finish_claims()         # the claim thread must be done with the old sources
        for source in self.sources:
            source.stop()
        self.config = config
        self.sources = [self._make_source(s) for s in config.sources]
        for source in self.sources if self._started else ():
            source.start()
        self.logger.info("config.reloaded", sources=[s.name for s in self.sources])
        say_reporting_checks(self.config, self.logger)
        self.notify.ready("configuration reloaded")


def run_service(config_path: Path, *, once: bool = False, log_format: str | None = None) -> int:
    config = load_config(config_path)
    config.log_format = log_format or config.log_format
    log.configure(config.log_format)
    service = Service(config, once=once)
    service.install_signals()
    return service.run()
