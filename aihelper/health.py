"""Health endpoints for load balancers, systemd and Kubernetes.

`GET /healthz`: the process answers (no I/O at all) — a liveness probe.
`GET /readyz`: the database and, when REDIS_URL is set, Redis answer — a readiness probe; 503
naming which one does not (never an address, a password or an error text).
Neither needs a login, counts against a rate limit or is cached.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from aihelper.extensions import db, limiter
from aihelper.live import live_hub

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    return _uncached(jsonify(status="ok"))


@bp.get("/readyz")
@limiter.exempt
def readyz():
    checks = {"database": "ok" if _database_answers() else "unreachable"}
    redis = live_hub().reachable()
    checks["redis"] = "not configured" if redis is None else ("ok" if redis else "unreachable")
    ready = "unreachable" not in checks.values()
    return _uncached(jsonify(status="ready" if ready else "unavailable", **checks)), 200 if ready else 503


def _database_answers() -> bool:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        log.warning("readiness: the database does not answer (%s)", type(error).__name__)
        return False
    return True


def _uncached(response):
    response.headers["Cache-Control"] = "no-store"
    return response
