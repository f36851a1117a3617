"""What an operator watches: Prometheus metrics (metrics.py, served by scrape.py at GET /metrics)
and the log lines, one per request and one per turn, as text or JSON lines (logs.py, turn_report.py).

Nothing here ever carries message text, a provider key, a cookie or an Authorization header.
"""
