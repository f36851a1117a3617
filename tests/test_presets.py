"""Presets (issue #17 part 3): a user keeps presets for themselves, admins publish them to everyone
or to groups; someone else's private preset is a preset that does not exist; a conversation started
from a preset sends its system prompt and temperature on every turn, and outlives the preset."""

from __future__ import annotations

import pytest

from aihelper.extensions import db
from aihelper.models import AuditEntry, ChatSession
from aihelper.services.presets import PRESETS_PER_USER
from tests.fixtures.actions import add_provider, make_admin_and_user, register
from tests.fixtures.chat_client import ChatUser, text_of


@pytest.fixture
def people(app):
    """An admin with one open model and one restricted to a group nobody is in, and a user."""
    admin, user = make_admin_and_user(app)
    provider = add_provider(admin, "http://127.0.0.1:9/v1")
    open_model = admin.post("/api/admin/models", json={"provider_id": provider["id"], "model_id": "open-model"}).json
    group = admin.post("/api/admin/groups", json={"name": "staff"}).json
    closed = admin.post(
        "/api/admin/models", json={"provider_id": provider["id"], "model_id": "closed-model", "groups": [group["id"]]}
    ).json
    return {"admin": admin, "user": user, "open": open_model, "closed": closed, "group": group}


def new_preset(client, **fields):
    response = client.post("/api/presets", json={"name": "Translator", "system_prompt": "Translate.", **fields})
    assert response.status_code == 201, response.json
    return response.json


def listed(client) -> list[str]:
    return [p["name"] for p in client.get("/api/presets").json["presets"]]


def test_a_user_creates_lists_changes_and_deletes_their_own_preset(people):
    user, model = people["user"], people["open"]
    preset = new_preset(user, model_id=model["id"], temperature=0.3, first_message="  Hello  ")

    assert preset["name"] == "Translator" and preset["system_prompt"] == "Translate."
    assert (preset["model_id"], preset["temperature"], preset["first_message"]) == (model["id"], 0.3, "Hello")
    assert (preset["scope"], preset["groups"], preset["mine"], preset["editable"]) == ("me", [], True, True)
    assert preset["create_time"].endswith("+00:00")
    assert user.get("/api/presets").json == {"presets": [preset]}

    changed = user.put(f"/api/presets/{preset['id']}", json={"name": "Editor", "temperature": None})
    assert changed.status_code == 200
    assert (changed.json["name"], changed.json["temperature"], changed.json["system_prompt"]) == (
        "Editor",
        None,
        "Translate.",
    )

    assert user.delete(f"/api/presets/{preset['id']}").status_code == 200
    assert user.get("/api/presets").json == {"presets": []}


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"name": "   "}, "missing_field"),
        ({"name": "n" * 101}, "too_long"),
        ({"system_prompt": ""}, "missing_field"),
        ({"system_prompt": "p" * 20001}, "too_long"),
        ({"temperature": 2.5}, "out_of_range"),
        ({"scope": "world"}, "invalid_preset_scope"),
        ({"colour": "red"}, "unknown_field"),
        ({"model_id": 999999}, "invalid_field"),
    ],
)
def test_a_preset_that_breaks_a_rule_is_refused_and_not_stored(people, fields, code):
    body = {"name": "Translator", "system_prompt": "Translate.", **fields}
    response = people["user"].post("/api/presets", json=body)

    assert (response.status_code, response.json["code"]) == (400, code)
    assert listed(people["user"]) == []


def test_a_users_preset_takes_only_a_model_the_user_may_use(people):
    response = people["user"].post(
        "/api/presets", json={"name": "x", "system_prompt": "y", "model_id": people["closed"]["id"]}
    )

    assert (response.status_code, response.json["code"]) == (400, "invalid_field")
    published = new_preset(
        people["admin"], model_id=people["closed"]["id"], scope="groups", groups=[people["group"]["id"]]
    )
    assert published["model_id"] == people["closed"]["id"]


def test_a_user_keeps_a_bounded_number_of_presets(people, app, monkeypatch):
    monkeypatch.setattr("aihelper.services.presets.PRESETS_PER_USER", 2)
    new_preset(people["user"])
    new_preset(people["user"])

    response = people["user"].post("/api/presets", json={"name": "third", "system_prompt": "p"})

    assert (response.status_code, response.json["code"]) == (409, "too_many_presets")
    assert len(listed(people["user"])) == 2 < PRESETS_PER_USER


def test_someone_elses_private_preset_answers_like_one_that_does_not_exist(people, app):
    mine = new_preset(people["user"], name="Bob's")
    stranger = app.test_client()
    register(stranger, "carol")

    assert listed(stranger) == []
    for missing in (mine["id"], mine["id"] + 1000):
        put = stranger.put(f"/api/presets/{missing}", json={"name": "stolen"})
        delete = stranger.delete(f"/api/presets/{missing}")
        assert (put.status_code, put.json["code"]) == (404, "not_found")
        assert (delete.status_code, delete.json) == (404, put.json)
    # Not even an admin reads or changes it.
    assert people["admin"].put(f"/api/presets/{mine['id']}", json={"name": "x"}).status_code == 404
    assert listed(people["user"]) == ["Bob's"]


def test_only_admins_publish_and_change_published_presets(people):
    user, admin = people["user"], people["admin"]
    refused = user.post("/api/presets", json={"name": "x", "system_prompt": "y", "scope": "everyone"})
    own = new_preset(user)
    widened = user.put(f"/api/presets/{own['id']}", json={"scope": "everyone"})

    assert (refused.status_code, refused.json["code"]) == (403, "forbidden")
    assert widened.status_code == 403
    assert user.get("/api/presets").json["presets"][0]["scope"] == "me"

    published = new_preset(admin, name="House style", scope="everyone")
    seen = next(p for p in user.get("/api/presets").json["presets"] if p["id"] == published["id"])
    assert (seen["mine"], seen["editable"]) == (False, False)
    assert user.put(f"/api/presets/{published['id']}", json={"name": "mine now"}).status_code == 403
    assert user.delete(f"/api/presets/{published['id']}").status_code == 403
    assert admin.put(f"/api/presets/{published['id']}", json={"name": "House"}).json["name"] == "House"


def test_a_preset_published_to_groups_is_seen_by_their_members_only(people, app):
    admin, user, group = people["admin"], people["user"], people["group"]
    published = new_preset(admin, name="Staff only", scope="groups", groups=[group["id"]])
    no_groups = admin.post("/api/presets", json={"name": "x", "system_prompt": "y", "scope": "groups"})

    assert (no_groups.status_code, no_groups.json["code"]) == (400, "invalid_field")
    assert published["groups"] == [group["id"]]
    assert listed(user) == []
    assert user.put(f"/api/presets/{published['id']}", json={"name": "x"}).status_code == 404

    user_id = user.get("/api/user/info").json["id"]
    assert admin.put(f"/api/admin/users/{user_id}", json={"groups": [group["id"]]}).status_code == 200
    seen = user.get("/api/presets").json["presets"]
    assert [(p["name"], p["groups"]) for p in seen] == [("Staff only", [])]


def test_publishing_is_audit_logged_and_private_presets_are_not(people, app):
    admin = people["admin"]
    new_preset(admin, name="Private")
    published = new_preset(admin, name="Public", scope="everyone")
    admin.put(f"/api/presets/{published['id']}", json={"system_prompt": "Be kind."})
    admin.delete(f"/api/presets/{published['id']}")

    with app.app_context():
        entries = db.session.query(AuditEntry.action, AuditEntry.target).order_by(AuditEntry.id).all()
    preset_entries = [tuple(e) for e in entries if e[0].startswith("preset.")]
    assert preset_entries == [("preset.create", "Public"), ("preset.update", "Public"), ("preset.delete", "Public")]


# --- conversations from a preset, on the live server -------------------------------------------


def chat_bodies(fake_provider) -> list[dict]:
    return [r["json"] for r in fake_provider.requests if (r["json"] or {}).get("stream")]


def test_a_conversation_from_a_preset_sends_its_prompt_and_temperature_on_every_turn(chat, fake_provider, app):
    user = chat["user"]
    preset = user.http.post(
        f"{user.base_url}/api/presets",
        json={
            "name": "Pirate",
            "system_prompt": "Talk like a pirate.",
            "model_id": chat["model"]["id"],
            "temperature": 1.3,
        },
    ).json()
    ws = user.socket()
    try:
        fake_provider.script(reply="Arr.")
        first = ws.chat("Hello", None, preset_id=preset["id"])  # no model named: the preset's
        session_id = first[0]["session_id"]
        assert (first[0]["type"], first[0]["model_id"], text_of(first)) == ("start", chat["model_id"], "Arr.")
        fake_provider.script(reply="Aye.")
        second = ws.chat("Again", chat["model_id"], session_id)
        assert text_of(second) == "Aye."
    finally:
        ws.close()

    for body in chat_bodies(fake_provider):
        assert body["messages"][0] == {"role": "system", "content": "You are terse.\n\nTalk like a pirate."}
        assert body["temperature"] == 1.3
    assert len(chat_bodies(fake_provider)) == 2
    history = user.get(f"/api/chat/history?session_id={session_id}").json()
    assert history["preset_id"] == preset["id"]
    assert user.get("/api/chat/history").json()["sessions"][0]["preset_id"] == preset["id"]


def test_a_deleted_preset_leaves_its_conversation_working_with_the_plain_model(chat, fake_provider, app):
    user = chat["user"]
    preset = user.http.post(
        f"{user.base_url}/api/presets", json={"name": "Poet", "system_prompt": "Rhyme.", "temperature": 1.9}
    ).json()
    ws = user.socket()
    try:
        fake_provider.script(reply="Roses.")
        session_id = ws.chat("Hi", chat["model_id"], preset_id=preset["id"])[0]["session_id"]
        assert user.http.delete(f"{user.base_url}/api/presets/{preset['id']}").status_code == 200
        fake_provider.script(reply="Plain.")
        assert text_of(ws.chat("Hi again", chat["model_id"], session_id)) == "Plain."
    finally:
        ws.close()

    last = chat_bodies(fake_provider)[-1]
    assert last["messages"][0] == {"role": "system", "content": "You are terse."}
    assert last["temperature"] == 0.2
    with app.app_context():
        session = db.session.query(ChatSession).filter_by(session_id=session_id).one()
        assert session.preset_id is None


def test_a_preset_the_user_does_not_see_is_not_found_and_calls_no_provider(chat, fake_provider, live_server, app):
    owner = ChatUser.register(live_server.url, "preset_owner")
    private = owner.http.post(f"{owner.base_url}/api/presets", json={"name": "Mine", "system_prompt": "Secret."}).json()
    user = chat["user"]
    ws = user.socket()
    try:
        for preset_id in (private["id"], private["id"] + 1000):
            ws.send(type="chat", message="Hi", model_id=chat["model_id"], session_id=None, preset_id=preset_id)
            frame = ws.receive()
            assert (frame["type"], frame["code"]) == ("error", "not_found")
    finally:
        ws.close()

    assert chat_bodies(fake_provider) == []
    assert user.get("/api/chat/history").json()["sessions"] == []


def test_the_sse_endpoint_starts_a_conversation_from_a_preset_too(chat, fake_provider, app):
    user = chat["user"]
    preset = user.http.post(
        f"{user.base_url}/api/presets",
        json={"name": "Brief", "system_prompt": "One line.", "model_id": chat["model"]["id"]},
    ).json()
    fake_provider.script(reply="Done.")
    response = user.http.post(
        f"{user.base_url}/api/chat/stream", json={"message": "Go", "preset_id": preset["id"]}, stream=True, timeout=15
    )
    assert b"Done." in b"".join(response.iter_content(None))

    (body,) = chat_bodies(fake_provider)
    assert body["messages"][0]["content"] == "You are terse.\n\nOne line."
    assert body["temperature"] == 0.2  # the preset keeps the model's own
