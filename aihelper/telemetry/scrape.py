"""GET /metrics: the Prometheus text format, for a scraper holding AIHELPER_METRICS_TOKEN.

Without that setting the path does not exist (404, as any unknown path). With it, only
`Authorization: Bearer <token>` is answered (compared in constant time), anything else is 401. No
login is read and no session cookie set or refreshed; no rate limit; never cached. Under gunicorn
the answer adds up every worker's files (metrics.py).
"""

from __future__ import annotations

import hmac
import os

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from aihelper.extensions import limiter
from aihelper.web.guards import sessionless

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@limiter.exempt
@sessionless
def metrics():
    token = current_app.config["AIHELPER_METRICS_TOKEN"]
    if not token:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return Response("unauthorized\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}, mimetype="text/plain")
    response = Response(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def _registry():
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY  # one process: its own values (and the process collector's)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry
