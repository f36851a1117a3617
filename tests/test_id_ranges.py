"""Ids no row can have (2^63 and beyond overflow SQLite's integers, 2^31 and beyond MySQL's INT) are
answered like ids no row has: never a 500, and nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from aihelper.extensions import db
from aihelper.models import ApiProvider, ChatSession, ModelConfig, User
from tests.fixtures.actions import add_provider, make_admin_and_user, page_data

IMPOSSIBLE_IDS = [2**31, 2**63, 2**64, 10**40]
MISSING_ID = 999_999

API_ROUTES = [
    ("put", "/api/admin/providers/{}", {"name": "renamed"}),
    ("delete", "/api/admin/providers/{}", None),
    ("post", "/api/admin/providers/{}/test", None),
    ("get", "/api/admin/providers/{}/remote-models", None),
    ("post", "/api/admin/providers/{}/import", {"model_ids": ["m"]}),
    ("put", "/api/admin/models/{}", {"model_name": "renamed"}),
    ("delete", "/api/admin/models/{}", None),
    ("put", "/api/admin/users/{}", {"status": "disabled"}),
    ("delete", "/api/admin/users/{}", None),
]
PAGE_ROUTES = [  # and what each form sends
    ("/admin/providers/{}", {"name": "renamed", "status": "disabled"}),
    ("/admin/providers/{}/delete", {}),
    ("/admin/models/{}", {"model_name": "renamed", "status": "disabled"}),
    ("/admin/models/{}/delete", {}),
    ("/admin/users/{}", {"status": "disabled"}),
    ("/admin/users/{}/delete", {}),
]


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (ApiProvider, ModelConfig, User, ChatSession)
        }


@pytest.fixture
def admin_with_a_model(app, fake_provider):
    admin, _user = make_admin_and_user(app)
    provider = add_provider(admin, fake_provider.base_url)
    admin.post("/api/admin/models", json={"provider_id": provider["id"], "model_id": "fake-model"})
    return admin


@pytest.mark.parametrize("number", IMPOSSIBLE_IDS)
@pytest.mark.parametrize(("method", "path", "body"), API_ROUTES)
def test_an_impossible_id_on_an_admin_api_route_answers_404_like_a_missing_one(
    app, admin_with_a_model, method, path, body, number
):
    before = row_counts(app)
    missing = getattr(admin_with_a_model, method)(path.format(MISSING_ID), json=body)
    impossible = getattr(admin_with_a_model, method)(path.format(number), json=body)
    assert (missing.status_code, missing.json["code"]) == (404, "not_found")
    assert (impossible.status_code, impossible.json["code"]) == (404, "not_found")
    assert row_counts(app) == before


@pytest.mark.parametrize("number", IMPOSSIBLE_IDS)
@pytest.mark.parametrize(("path", "fields"), PAGE_ROUTES)
def test_an_impossible_id_on_an_admin_page_form_answers_404_like_a_missing_one(
    app, admin_with_a_model, path, fields, number
):
    before = row_counts(app)
    token = page_data(admin_with_a_model.get("/admin").get_data(as_text=True))["csrf_token"]
    form = {"csrf_token": token, **fields}
    assert admin_with_a_model.post(path.format(MISSING_ID), data=form).status_code == 404
    assert admin_with_a_model.post(path.format(number), data=form).status_code == 404
    assert row_counts(app) == before


@pytest.mark.parametrize("number", IMPOSSIBLE_IDS)
def test_reordering_with_an_impossible_model_id_is_refused_like_a_missing_one(app, admin_with_a_model, number):
    [model] = admin_with_a_model.get("/api/admin/models").json["models"]
    missing = admin_with_a_model.put("/api/admin/models/order", json={"ids": [model["id"], MISSING_ID]})
    impossible = admin_with_a_model.put("/api/admin/models/order", json={"ids": [model["id"], number]})
    assert (missing.status_code, missing.json["code"]) == (400, "invalid_order")
    assert (impossible.status_code, impossible.json["code"]) == (400, "invalid_order")
    assert admin_with_a_model.get("/api/admin/models").json["models"] == [model]


@pytest.mark.parametrize("number", IMPOSSIBLE_IDS)
def test_a_model_form_naming_an_impossible_provider_is_refused_without_a_500(app, admin_with_a_model, number):
    response = admin_with_a_model.post("/api/admin/models", json={"provider_id": number, "model_id": "other"})
    assert response.status_code == 400
    assert row_counts(app)["model_configs"] == 1


@pytest.mark.parametrize("number", IMPOSSIBLE_IDS)
def test_history_and_chat_endpoints_answer_an_impossible_id_like_a_missing_one(app, admin_with_a_model, number):
    user = admin_with_a_model
    for session_id in (str(MISSING_ID), str(number)):
        assert user.get(f"/api/chat/history?session_id={session_id}").json["code"] == "not_found"
        assert user.put(f"/api/chat/session/{session_id}", json={"title": "x"}).status_code == 404
        assert user.get(f"/api/chat/session/{session_id}/export").status_code == 404
        assert user.delete(f"/api/chat/session/{session_id}").status_code == 404
        assert user.post("/api/chat/sessions/delete", json={"session_ids": [session_id]}).status_code == 404
        assert user.get(f"/api/chat/history?before={session_id}").json["code"] == "invalid_cursor"
        turn = {"message": "hi", "model_id": "fake-model", "session_id": session_id}
        stream = user.post("/api/chat/stream", json=turn)
        assert (stream.status_code, stream.json["code"]) == (404, "not_found")
    numbered = user.post("/api/chat/stream", json={"message": "hi", "model_id": number})
    assert numbered.status_code == 400
    assert row_counts(app)["chat_sessions"] == 0
