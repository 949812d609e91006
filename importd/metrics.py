"""An optional Prometheus endpoint and a JSON health answer, on loopback by default.

GET /metrics — the Prometheus text format; GET /health — {"status": "ok", ...}
for a simple probe. Served from a daemon thread; the figures are updated by the
service loop, which stays the only writer of the database.
"""

from __future__ import annotations

import json
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app


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
        self.last_success = Gauge("importd_last_success_timestamp_seconds",
                                  "When a file of the source was last imported", ["source"], registry=registry)
        self.source_errors = Counter("importd_source_errors", "Errors reaching a source (SFTP)",
                                     ["source", "kind"], registry=registry)
        self.faults = Counter("importd_faults", "Failures that are not a file's fault (database locked, disk"
                              " full…), by stage and kind", ["stage", "kind"], registry=registry)
        self.degraded = Gauge("importd_degraded", "1 while a fault lasts: the service waits and retries",
                              registry=registry)
        self.health: dict = {"status": "starting"}
        self._server: WSGIServer | None = None

    def file_settled(self, source: str, outcome: str, records: int | None, seconds: float) -> None:
        self.files.labels(source, outcome).inc()
        self.records.labels(source, outcome).inc(records or 0)
        self.duration.labels(source).observe(seconds)
        if outcome == "imported":
            self.last_success.labels(source).set(time.time())

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


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):     # access lines would drown the JSON log
        pass
