"""The service loop: claim what the sources say is ready, process the spool, repeat.

Signal handlers only ask the loop to stop (or reload); the loop checks between
files, so the file in hand is always finished and settled. A second stop
signal raises StopRequested at once — still safe: the ledger and the spool
let the next start finish whatever was cut.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

from importd import log
from importd.config import Config, Source, load_config
from importd.errors import ConfigError, StopRequested
from importd.metrics import Metrics
from importd.notify import Notifier
from importd.parking import release
from importd.pipeline import Transient, process
from importd.sources.local import LocalSource
from importd.spool import claim, recover
from importd.store import Store

RETRY_MIN, RETRY_MAX = 2.0, 300.0
PARKED_SWEEP = 3600.0      # seconds between sweeps of parked documents when nothing is imported


class Service:
    def __init__(self, config: Config, *, once: bool = False):
        self.config = config
        self.once = once
        self.store = Store(config.database)
        self.wake = threading.Event()
        self.metrics = Metrics()
        self.sources = [self._make_source(s) for s in config.sources]
        self.logger = log.get()
        self.stop_requested = False
        self.reload_requested = False
        self.outcomes: dict[str, int] = {}
        self._retry_at: dict[int, tuple[float, float]] = {}     # file id → (when, delay)
        self.notify = Notifier()
        self._swept_at = 0.0

    def _make_source(self, source: Source):
        if source.kind == "sftp":
            from importd.sources.sftp import SftpSource   # paramiko loads only when it is needed
            return SftpSource(self.config, source, self.wake, once=self.once,
                              on_error=lambda name, kind: self.metrics.source_errors.labels(name, kind).inc())
        return LocalSource(source, self.wake)

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
        """Run until stopped (or, with once, until the inboxes are drained); return an exit code."""
        if self.config.metrics_port is not None and not self.once:
            host, port = self.metrics.serve(self.config.metrics_address, self.config.metrics_port)
            self.logger.info("metrics.listening", address=f"{host}:{port}")
        self.logger.info("service.started", sources=[s.name for s in self.sources],
                         database=str(self.config.database), once=self.once)
        try:
            # Before the sources start: an sftp thread's fresh download is not a crash's leftover.
            for file_id in recover(self.config, self.store):
                self.logger.warning("spool.recovered", file_id=file_id)
            for source in self.sources:
                source.start()
            self.notify.ready(f"watching {len(self.sources)} source(s)")
            while not self.stop_requested:
                self.notify.watchdog()
                if self.reload_requested:
                    self._reload()
                self.wake.clear()
                claimed = self._claim_ready()
                if self._process_spool() or time.monotonic() - self._swept_at > PARKED_SWEEP:
                    self._release_parked()
                if self.config.metrics_port is not None:
                    self._update_gauges()       # only read when someone can scrape them
                pending = [s.next_check() for s in self.sources if s.next_check() is not None]
                if self.once and not claimed and not pending:
                    break
                timeout = min([*pending, *(s.source.scan_interval for s in self.sources),
                               *(when - time.monotonic() for when, _ in self._retry_at.values()),
                               *([self.notify.watchdog_interval] if self.notify.watchdog_interval else [])],
                              default=2.0)
                self.wake.wait(max(0.05, timeout))
        except StopRequested as e:
            self.logger.warning("service.stop_forced", signal=str(e))
        finally:
            self.notify.stopping()
            for source in self.sources:
                source.stop()
            self.metrics.close()
            self.store.close()
            self.logger.info("service.stopped", outcomes=self.outcomes)
        if not self.once:
            return 0        # a service that stopped cleanly; quarantined files are its normal work
        return 1 if self.outcomes.get("quarantined") or self.outcomes.get("deferred") else 0

    def _update_gauges(self) -> None:
        """Figures for /metrics and /health, read once per loop turn."""
        spooled: dict[str, int] = {}
        for row in self.store.unsettled():
            spooled[row["source"]] = spooled.get(row["source"], 0) + 1
        for source in self.sources:
            self.metrics.backlog.labels(source.name).set(source.pending + spooled.get(source.name, 0))
        self.metrics.parked.set(self.store.parked_count())
        self.metrics.quarantined.set(self.store.quarantined_count())
        self.metrics.health = {"status": "ok", "sources": [s.name for s in self.sources],
                               "outcomes": dict(self.outcomes), "checked_at": time.time()}

    def _claim_ready(self) -> int:
        claimed = 0
        for source in self.sources:
            if source.source.kind == "sftp":
                claimed += source.arrivals()      # its thread downloads and registers them
                continue
            for path in source.ready():
                if self.stop_requested:
                    return claimed
                file_id = claim(self.config, self.store, source.name, path)
                if file_id is not None:
                    claimed += 1
                    self.logger.info("file.claimed", file_id=file_id, source=source.name, file=path.name)
        return claimed

    def _release_parked(self) -> None:
        self._swept_at = time.monotonic()
        try:
            counts = release(self.config, self.store, self.logger)
        except (sqlite3.OperationalError, OSError) as e:     # busy or full: the next sweep retries
            self.logger.error("parked.sweep_failed", error=str(e))
            return
        if counts["released"] or counts["expired"] or counts["rejected"]:
            self.logger.info("parked.swept", **counts)

    def _process_spool(self) -> bool:
        """Process the spool; True when a file imported something (parked documents may now resolve)."""
        imported = False
        for row in self.store.unsettled():
            if self.stop_requested:
                return imported
            file_id = row["id"]
            when, delay = self._retry_at.get(file_id, (0.0, RETRY_MIN / 2))
            if time.monotonic() < when:
                continue
            started = time.monotonic()
            try:
                state = process(self.config, self.store, file_id, progress=self._heartbeat)
            except Transient:
                if self.once:      # left in the spool for the next run
                    self.outcomes["deferred"] = self.outcomes.get("deferred", 0) + 1
                    continue
                delay = min(delay * 2, RETRY_MAX)
                self._retry_at[file_id] = (time.monotonic() + delay, delay)
                continue
            self._retry_at.pop(file_id, None)
            self.outcomes[state] = self.outcomes.get(state, 0) + 1
            self.metrics.file_settled(row["source"], state, self.store.file(file_id)["records"],
                                      time.monotonic() - started)
            imported = imported or state == "imported"
        return imported

    def _heartbeat(self, records: int, bytes_read: int) -> None:
        """Called during a long file: systemd's watchdog must not take it for a hang."""
        self.notify.watchdog()

    def _reload(self) -> None:
        self.reload_requested = False
        self.notify.reloading()
        try:
            config = load_config(self.config.path)
        except ConfigError as e:
            self.logger.error("config.reload_failed", problems=e.problems,
                              hint="fix the file and send SIGHUP again; the old configuration keeps running")
            self.notify.ready("configuration reload failed; the old one runs")
            return
        if config.database != self.config.database:
            self.logger.error("config.reload_failed", problems=["database cannot change on reload"],
                              hint="restart the service to use another database")
            return
        for source in self.sources:
            source.stop()
        self.config = config
        self.sources = [self._make_source(s) for s in config.sources]
        for source in self.sources:
            source.start()
        self.logger.info("config.reloaded", sources=[s.name for s in self.sources])
        self.notify.ready("configuration reloaded")


def run_service(config_path: Path, *, once: bool = False, log_format: str | None = None) -> int:
    config = load_config(config_path)
    config.log_format = log_format or config.log_format
    log.configure(config.log_format)
    service = Service(config, once=once)
    service.install_signals()
    return service.run()
