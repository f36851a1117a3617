"""The app's log lines (logger `aihelper`): as text, or as JSON lines with AIHELPER_LOG_FORMAT=json.

A line that describes something (a request, a turn) carries its facts as fields (`extra={"fields":
{...}}`): text lines append them as `name=value`, JSON lines as keys beside time, level, logger,
message and request_id. One line per request, written when its response is ready: static files,
/metrics and the health probes at DEBUG (a scraper or a load balancer would otherwise drown the
rest), everything else at INFO. Never the query string (it may carry a search), a body, a cookie
or a header.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime

import orjson
from flask import Flask, g, has_request_context, request
from werkzeug.wrappers import Response

LOG_FORMATS = ("text", "json")
# Requests that come by the second from machines, or for every page: logged at DEBUG.
QUIET_ENDPOINTS = frozenset({"static", "metrics.metrics", "health.healthz", "health.readyz"})

request_log = logging.getLogger("aihelper.request")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id", "-")
        elif not hasattr(record, "request_id"):  # work of a request done after it (a turn) names it itself
            record.request_id = "-"
        return True


# Control characters in a field (a path may hold a percent-encoded newline) would start a forged
# line of their own: they are written escaped, as are spaces, which would make another field.
_UNSAFE_IN_FIELDS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


def _field_text(value: object) -> str:
    if value is None:
        return "-"
    return _UNSAFE_IN_FIELDS.sub(lambda unsafe: f"\\x{ord(unsafe.group()):02x}", str(value))


class TextLines(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = getattr(record, "fields", None)
        if not fields:
            return line
        return line + "".join(f" {name}={_field_text(value)}" for name, value in fields.items())


class JsonLines(logging.Formatter):
    """One JSON object per line; a traceback is one string field, so it stays on the line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(app: Flask) -> None:
    log_format = app.config["AIHELPER_LOG_FORMAT"]
    if log_format not in LOG_FORMATS:
        raise ValueError(f"AIHELPER_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonLines() if log_format == "json" else TextLines())
    package_log = logging.getLogger("aihelper")
    package_log.handlers[:] = [handler]
    package_log.setLevel(app.config["AIHELPER_LOG_LEVEL"])
    package_log.propagate = False


def register_request_log(app: Flask) -> None:
    """Registered before the other request hooks: its start is taken first, and its line written
    last, with the status and headers every other hook left."""

    @app.before_request
    def note_start():
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        quiet = request.endpoint in QUIET_ENDPOINTS
        if quiet and not request_log.isEnabledFor(logging.DEBUG):
            return response
        started = g.get("request_started")
        # Flask-Login's user as this request loaded it: reading one here would cost a query.
        user = g.get("_login_user")
        status = response.status_code
        if request.url_rule is not None and request.url_rule.websocket and status == 200:
            status = 101  # the line of a websocket is written when it closes
        fields = {
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started is not None else None,
            "user_id": user.id if user is not None and user.is_authenticated else None,
            "client": request.remote_addr,
        }
        request_log.log(logging.DEBUG if quiet else logging.INFO, "request", extra={"fields": fields})
        return response
