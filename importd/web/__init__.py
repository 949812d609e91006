"""The ops page: `importd web`, a read-only HTML view of the ledger, served apart from the service.

server.py answers HTTP (GET only, loopback or a token), views.py gathers what
the page shows, chart.py draws the throughput, templates/ hold the HTML.
"""
