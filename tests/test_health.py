"""/healthz (the process answers, no I/O) and /readyz (the database and Redis answer) for load
balancers, systemd and Kubernetes: no login, no cache, never a secret."""

from __future__ import annotations

import pytest

from aihelper import create_app
from aihelper.live import RedisHub
from tests.fixtures.servers import free_port


def app_without_servers(tmp_path, **config):
    """An app whose database (and Redis, when given) listens nowhere."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"mysql+pymysql://root:hunter2@127.0.0.1:{free_port()}/nowhere",
            "AIHELPER_CREATE_SCHEMA_ON_START": False,
            "TESTING": True,
            **config,
        },
        instance_path=str(tmp_path),
    )


def test_a_ready_server_says_so(client):
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready", "database": "ok", "redis": "not configured"}


def test_without_its_database_the_process_is_alive_but_not_ready(tmp_path):
    client = app_without_servers(tmp_path).test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable", "redis": "not configured"}
    assert "hunter2" not in response.get_data(as_text=True) and "127.0.0.1" not in response.get_data(as_text=True)


@pytest.mark.parametrize("redis_up", [True, False])
def test_readiness_names_redis_when_it_is_configured(app, client, monkeypatch, redis_up):
    redis_url = "redis://127.0.0.1:6379/12" if redis_up else f"redis://127.0.0.1:{free_port()}/0"
    hub = RedisHub(redis_url)  # what REDIS_URL gives an app (swapped in: the limiter stays as it is)
    monkeypatch.setitem(app.extensions, "live_hub", hub)
    try:
        response = client.get("/readyz")
    finally:
        hub.close()
    if redis_up:
        assert (response.status_code, response.json["redis"]) == (200, "ok")
    else:
        assert response.status_code == 503
        assert response.json == {"status": "unavailable", "database": "ok", "redis": "unreachable"}
