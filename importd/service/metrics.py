"""An optional Prometheus endpoint and a JSON health answer, on loopback by default.

GET /metrics — the Prometheus text format; GET /health — {"status": "ok", ...}
for a simple probe. Served from a daemon thread; the figures are updated by the
service loop, which stays the only writer of the database.
"""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import datetime
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from importd.service.waiting import inbox_waiting
from importd.stages.settle import waiting_rejects
from importd.store import web as store_web
from importd.store.snapshot import absent_counts

WAITING_EVERY = 5.0      # seconds between the figures that scan the inboxes and read the ledger


class Metrics:
    def __init__(self):
        self.registry = registry = CollectorRegistry()
        self.files = Counter("importd_files", "Files settled, by source and outcome",
                             ["source", "outcome"], registry=registry)
        self.records = Counter("importd_records", "Source records read, by source and outcome",
                               ["source", "outcome"], registry=registry)
        self.duration = Histogram("importd_import_duration_seconds", "Time to import one file", ["source"],
                                  buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
                                  registry=registry)
        self.backlog = Gauge("importd_backlog_files", "Files waiting: in the inbox or the spool", ["source"],
                             registry=registry)
        self.parked = Gauge("importd_parked_documents", "Documents parked or held for review", registry=registry)
        self.quarantined = Gauge("importd_quarantined_files", "Files in quarantine (ledger)", registry=registry)
        self.rejected = Gauge("importd_rejected_documents", "Documents rejected one by one (atomicity ="
                              " \"document\") whose rejects file waits in quarantine", registry=registry)
        self.last_success = Gauge("importd_last_success_timestamp_seconds",
                                  "When a file of the source was last imported", ["source"], registry=registry)
        self.source_errors = Counter("importd_source_errors", "Errors reaching a source (SFTP)",
                                     ["source", "kind"], registry=registry)
        self.faults = Counter("importd_faults", "Failures that are not a file's fault (database locked, disk"
                              " full…), by stage and kind", ["stage", "kind"], registry=registry)
        self.degraded = Gauge("importd_degraded", "1 while a fault lasts: the service waits and retries",
                              registry=registry)
        self.oldest_waiting = Gauge("importd_oldest_waiting_seconds", "Age of the oldest file waiting in the"
                                    " inbox (by its mtime) or the spool (since claimed)", ["source"],
                                    registry=registry)
        self.source_up = Gauge("importd_source_up", "0 while the source cannot be reached (an SFTP server),"
                               " else 1", ["source"], registry=registry)
        self.parked_next_expiry = Gauge("importd_parked_next_expiry_timestamp_seconds",
                                        "When the first document waiting for a reference goes to quarantine"
                                        " (+Inf when none waits)", registry=registry)
        self.absent = Gauge("importd_absent_records", "Records a full export no longer lists (marked absent),"
                            " by the upstream system that listed them", ["system", "entity"], registry=registry)
        self.health: dict = {"status": "starting"}
        self._seen_success: set[str] = set()     # sources imported since start: the ledger need not say
        self._waiting_due = 0.0
        self._server: WSGIServer | None = None

    def file_settled(self, source: str, outcome: str, records: int | None, seconds: float) -> None:
        self.files.labels(source, outcome).inc()
        self.records.labels(source, outcome).inc(records or 0)
        self.duration.labels(source).observe(seconds)
        if outcome == "imported":
            self.last_success.labels(source).set(time.time())
            self._seen_success.add(source)

    def observe(self, store, sources, config=None) -> None:
        """The figures read from the ledger once per loop turn."""
        spooled = store.unsettled_by_source()
        for source in sources:
            self.backlog.labels(source.name).set(source.pending + spooled.get(source.name, 0))
        self.parked.set(store.parked_count())
        self.quarantined.set(store.quarantined_count())
        self.observe_waiting(store.db, sources, config)    # throttled: it scans the inboxes

    def observe_waiting(self, db, sources, config=None) -> None:
        """The figures the alerts read, from the ledger and the inboxes — so they are right
        after a restart too: the oldest waiting file and the last import per source, whether
        each source answers, the next parked expiry. At most every WAITING_EVERY seconds."""
        if time.monotonic() < self._waiting_due:
            return
        self._waiting_due = time.monotonic() + WAITING_EVERY
        spooled, now = store_web.spool_waiting(db), time.time()
        for source in sources:
            _, inbox_oldest = inbox_waiting(source.source.path)
            spool_oldest = _epoch(spooled.get(source.name, (0, None))[1])
            oldest = min((t for t in (inbox_oldest, spool_oldest) if t is not None), default=None)
            self.oldest_waiting.labels(source.name).set(max(0.0, now - oldest) if oldest is not None else 0)
            self.source_up.labels(source.name).set(0 if source.failure else 1)
            if source.name not in self._seen_success and (last := store_web.last_imported(db, source.name)):
                self.last_success.labels(source.name).set(_epoch(last["finished_at"]) or 0)
        self.absent.clear()           # a system+entity with none absent any more has no row
        for row in absent_counts(db):
            self.absent.labels(row["system"], row["entity"]).set(row["n"])
        if config is not None:
            waiting = waiting_rejects(config, store_web.files_with_rejects(db, config.spool_owner))
            self.rejected.set(sum(f["rejected"] for f in waiting))
        expiry = _epoch(store_web.next_parked_expiry(db))
        self.parked_next_expiry.set(math.inf if expiry is None else expiry)

    def serve(self, address: str, port: int) -> tuple[str, int]:
        """Start the endpoint; returns the address it listens on (port 0 picks a free one)."""
        metrics_app = make_wsgi_app(self.registry)

        def app(environ, start_response):
            if environ.get("PATH_INFO") == "/health":
                body = json.dumps(self.health).encode()
                start_response("200 OK", [("Content-Type", "application/json")])
                return [body]
            return metrics_app(environ, start_response)

        self._server = make_server(address, port, app, handler_class=_QuietHandler)
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        return self._server.server_address[:2]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _epoch(stamp: str | None) -> float | None:
    """An ISO time of the ledger as Unix time."""
    return datetime.fromisoformat(stamp).timestamp() if stamp else None


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):     # access lines would drown the JSON log
        pass
