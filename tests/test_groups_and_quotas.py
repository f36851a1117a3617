"""Groups and quotas (issue #15 parts 2 and 3): a model open only to some groups is, for everyone
else, a model that does not exist, on every path a turn takes; quotas per group and per user are
checked before the provider is called, the answer crossing a limit finishes and the next is
refused with the limit and when it resets."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

from tests.fixtures.actions import make_admin_and_user, register, wait_for
from tests.fixtures.chat_client import ChatUser, text_of


def created_group(admin, name: str, **fields) -> dict:
    response = admin.http.post(f"{admin.base_url}/api/admin/groups", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def user_id(user: ChatUser) -> int:
    return user.get("/api/user/info").json()["id"]


def put_user(admin, user: ChatUser, **change) -> dict:
    response = admin.http.put(f"{admin.base_url}/api/admin/users/{user_id(user)}", json=change)
    assert response.status_code == 200, response.text
    return response.json()


def restricted_to(admin, model: dict, *groups: dict) -> None:
    response = admin.http.put(
        f"{admin.base_url}/api/admin/models/{model['id']}", json={"groups": [g["id"] for g in groups]}
    )
    assert response.status_code == 200, response.text
    assert sorted(response.json()["groups"]) == sorted(g["id"] for g in groups)


def sse_turn(user: ChatUser, **body) -> tuple[int, list[dict] | dict]:
    response = user.http.post(f"{user.base_url}/api/chat/stream", json=body, stream=True, timeout=15)
    if not response.headers["Content-Type"].startswith("text/event-stream"):
        return response.status_code, response.json()
    return response.status_code, [
        json.loads(line[6:]) for line in response.iter_lines(True) if line.startswith("data: ")
    ]


def answers_asked(fake_provider) -> int:
    """Streamed chat requests the provider received (a generated title is not one)."""
    return sum(1 for request in fake_provider.requests if request["json"].get("stream"))


def next_midnight_utc() -> str:
    return datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC).isoformat()


# --- groups -------------------------------------------------------------------------------------


def test_admins_create_rename_and_delete_groups_and_see_their_members(app):
    admin, _user = make_admin_and_user(app)
    staff = admin.post("/api/admin/groups", json={"name": "Staff", "description": "everyone employed"}).json
    assert staff["name"] == "Staff" and staff["member_count"] == 0
    assert staff["quota"] == {
        "tokens_per_day": None,
        "tokens_per_month": None,
        "messages_per_day": None,
        "cost_per_month": None,
    }
    assert admin.post("/api/admin/groups", json={"name": "Staff"}).status_code == 409
    assert admin.post("/api/admin/groups", json={"name": "staff"}).status_code == 409, "on every database"
    assert admin.post("/api/admin/groups", json={"name": "  "}).json["code"] == "missing_field"

    bob = next(u for u in admin.get("/api/admin/users").json["users"] if u["username"] == "user_bob")
    changed = admin.put(f"/api/admin/users/{bob['id']}", json={"groups": [staff["id"]]}).json
    assert changed["groups"] == [staff["id"]]
    assert admin.put(f"/api/admin/users/{bob['id']}", json={"groups": [staff["id"] + 99]}).json["code"] == (
        "invalid_field"
    )
    renamed = admin.put(f"/api/admin/groups/{staff['id']}", json={"name": "Employees"}).json
    assert (renamed["name"], renamed["member_count"], renamed["description"]) == ("Employees", 1, "everyone employed")

    assert admin.delete(f"/api/admin/groups/{staff['id']}").status_code == 200
    assert admin.get("/api/admin/groups").json == {"groups": []}
    assert next(u for u in admin.get("/api/admin/users").json["users"] if u["id"] == bob["id"])["groups"] == []
    assert admin.put(f"/api/admin/groups/{staff['id']}", json={"name": "x"}).status_code == 404


def test_ordinary_users_cannot_manage_groups(app):
    _admin, user = make_admin_and_user(app)
    assert user.get("/api/admin/groups").status_code == 403
    assert user.post("/api/admin/groups", json={"name": "Mine"}).status_code == 403


def test_new_accounts_join_the_default_group_until_it_is_unset(app):
    admin, _user = make_admin_and_user(app)
    newcomers = admin.post("/api/admin/groups", json={"name": "Newcomers"}).json
    assert (
        admin.put("/api/admin/settings", json={"default_group": newcomers["id"]}).json["default_group"]
        == (newcomers["id"])
    )
    refused = admin.put("/api/admin/settings", json={"default_group": newcomers["id"] + 5, "retention_days": 9})
    assert (refused.status_code, refused.json["code"]) == (400, "invalid_field")
    assert admin.get("/api/admin/settings").json["retention_days"] == 0, "a refused change changes nothing"
    register(app.test_client(), "carol")
    created = admin.post("/api/admin/users", json={"username": "dave", "password": "password-123"}).json
    assert created["groups"] == [newcomers["id"]]
    users = {u["username"]: u for u in admin.get("/api/admin/users").json["users"]}
    assert users["carol"]["groups"] == [newcomers["id"]] and users["user_bob"]["groups"] == []
    assert admin.get("/api/admin/groups").json["groups"][0]["is_default"] is True

    admin.put("/api/admin/settings", json={"default_group": None})
    register(app.test_client(), "erin")
    assert next(u for u in admin.get("/api/admin/users").json["users"] if u["username"] == "erin")["groups"] == []


def test_deleting_the_default_group_unsets_it(app):
    admin, _user = make_admin_and_user(app)
    group = admin.post("/api/admin/groups", json={"name": "Everyone new"}).json
    admin.put("/api/admin/settings", json={"default_group": group["id"]})
    admin.delete(f"/api/admin/groups/{group['id']}")
    assert admin.get("/api/admin/settings").json["default_group"] is None
    assert register(app.test_client(), "frank").status_code == 201


# --- model access -------------------------------------------------------------------------------


def test_a_model_open_to_a_group_is_invisible_and_refused_on_every_path_for_others(chat, fake_provider):
    admin, outsider, model = chat["admin"], chat["user"], chat["model"]
    member = ChatUser.register(admin.base_url, "insider")
    # The outsider starts a conversation while the model is open to everyone...
    socket = outsider.socket()
    old = socket.chat("before the change", model["model_id"])
    old_session = old[0]["session_id"]

    staff = created_group(admin, "Staff")
    put_user(admin, member, groups=[staff["id"]])
    restricted_to(admin, model, staff)

    assert outsider.get("/api/models").json() == {"models": [], "providers": {}}
    assert member.get("/api/models").json()["models"] == [model["model_id"]]

    asked_before = answers_asked(fake_provider)
    refusals = [
        socket.chat("by name", model["model_id"])[-1],
        socket.chat("by id", model["id"])[-1],
        socket.chat("...and resuming the old one", None, session_id=old_session)[-1],
        socket.chat("naming it in the old one", model["model_id"], session_id=old_session)[-1],
    ]
    socket.send(type="regenerate", session_id=old_session)
    refusals.append(socket.receive_until_end()[-1])
    for refusal in refusals:
        assert (refusal["type"], refusal["code"]) == ("error", "model_unavailable"), refusal
    status, body = sse_turn(outsider, message="over SSE", model_id=model["model_id"])
    assert (status, body["code"]) == (400, "model_unavailable")
    status, body = sse_turn(outsider, message="over SSE", model_id=model["model_id"], session_id=old_session)
    assert (status, body["code"]) == (400, "model_unavailable")
    assert answers_asked(fake_provider) == asked_before, "no refused turn reached the provider"
    socket.close()

    fake_provider.script(reply="members only")
    member_socket = member.socket()
    assert text_of(member_socket.chat("may I?", model["model_id"])) == "members only"
    member_socket.close()


def test_a_group_that_alone_opens_a_model_is_not_deleted_until_the_model_changes(chat):
    admin, user, model = chat["admin"], chat["user"], chat["model"]
    pilots = created_group(admin, "Pilots")
    restricted_to(admin, model, pilots)
    refused = admin.http.delete(f"{admin.base_url}/api/admin/groups/{pilots['id']}")
    assert (refused.status_code, refused.json()["code"]) == (409, "group_opens_models")
    assert "Fake" in refused.json()["error"]
    assert user.get("/api/models").json()["models"] == [], "the model stays closed"
    restricted_to(admin, model, created_group(admin, "Crew"), pilots)
    assert admin.http.delete(f"{admin.base_url}/api/admin/groups/{pilots['id']}").status_code == 200
    assert admin.http.get(f"{admin.base_url}/api/admin/models").json()["models"][0]["groups"] != []


def test_a_model_opens_to_everyone_again_when_its_groups_are_cleared(chat, fake_provider):
    admin, user, model = chat["admin"], chat["user"], chat["model"]
    restricted_to(admin, model, created_group(admin, "Pilots"))
    assert user.get("/api/models").json()["models"] == []
    restricted_to(admin, model)
    assert user.get("/api/models").json()["models"] == [model["model_id"]]


# --- quotas -------------------------------------------------------------------------------------


def test_the_answer_that_crosses_a_limit_finishes_and_the_next_is_refused_until_the_reset(chat, fake_provider):
    admin, user, model = chat["admin"], chat["user"], chat["model"]
    put_user(admin, user, quota={"tokens_per_day": 10})
    tokens = [f"word{i} " for i in range(40)]  # far more than 10 tokens
    fake_provider.script(tokens=tokens)
    socket = user.socket()
    crossing = socket.chat("a long answer please", model["model_id"])
    assert crossing[-1]["type"] == "done" and text_of(crossing) == "".join(tokens)

    asked_before = answers_asked(fake_provider)
    refused = socket.chat("one more", model["model_id"], session_id=crossing[0]["session_id"])[-1]
    assert (refused["type"], refused["code"], refused["limit"]) == ("error", "quota_exceeded", "tokens_per_day")
    assert refused["reset_at"] == next_midnight_utc()
    assert "每日 token" in refused["error"]
    status, body = sse_turn(user, message="and over SSE", model_id=model["model_id"])
    assert (status, body["code"], body["limit"], body["reset_at"]) == (
        429,
        "quota_exceeded",
        "tokens_per_day",
        next_midnight_utc(),
    )
    user.http.cookies.set("lang", "en")
    assert "tokens per day" in sse_turn(user, message="in English", model_id=model["model_id"])[1]["error"]
    assert answers_asked(fake_provider) == asked_before, "a refused turn never reaches the provider"
    socket.close()


def test_a_message_sent_again_after_it_crossed_the_limit_gets_its_answer_not_a_refusal(chat, fake_provider):
    admin, user, model = chat["admin"], chat["user"], chat["model"]
    put_user(admin, user, quota={"messages_per_day": 1})
    fake_provider.script(reply="answered once")
    socket = user.socket()
    first = socket.chat("hello", model["model_id"], client_id="msg-1")
    assert first[-1]["type"] == "done"
    again = socket.chat("hello", model["model_id"], client_id="msg-1")  # the page resends after a reconnect
    assert again[0]["message_id"] == first[0]["message_id"] and again[-1]["type"] == "done"
    assert socket.chat("a new one", model["model_id"], client_id="msg-2")[-1]["code"] == "quota_exceeded"
    socket.close()


def test_a_users_own_limit_wins_over_the_groups_and_the_highest_group_limit_applies(chat, fake_provider):
    admin, user, model = chat["admin"], chat["user"], chat["model"]
    strict = created_group(admin, "Strict", quota={"messages_per_day": 1})
    generous = created_group(admin, "Generous", quota={"messages_per_day": 3})
    put_user(admin, user, groups=[strict["id"], generous["id"]])
    assert user.get("/api/user/usage").json()["limits"]["messages_per_day"] == 3

    put_user(admin, user, quota={"messages_per_day": 1})
    socket = user.socket()
    assert socket.chat("first", model["model_id"])[-1]["type"] == "done"
    refused = socket.chat("second", model["model_id"])[-1]
    assert (refused["code"], refused["limit"]) == ("quota_exceeded", "messages_per_day")

    put_user(admin, user, quota=None)  # back to the groups' limit: 3
    assert socket.chat("second, again", model["model_id"])[-1]["type"] == "done"
    socket.close()


def test_every_user_sees_todays_use_and_limits_and_admins_see_everyones(chat, fake_provider):
    admin, user, model = chat["admin"], chat["user"], chat["model"]
    fake_provider.script(reply="four words in here", usage={"prompt_tokens": 7, "completion_tokens": 5})
    put_user(admin, user, quota={"tokens_per_month": 1000, "cost_per_month": 2.5})
    socket = user.socket()
    socket.chat("count me", model["model_id"])
    socket.close()
    # The answer and its conversation's generated title, 12 tokens each.
    report = wait_for(lambda: (r := user.get("/api/user/usage").json())["today"]["tokens"] == 24 and r)
    assert report["today"]["messages"] == 1 and report["month"] == {"messages": 1, "tokens": 24, "cost": 0}
    assert report["limits"] == {
        "tokens_per_day": None,
        "tokens_per_month": 1000,
        "messages_per_day": None,
        "cost_per_month": 2.5,
    }
    assert report["currency"] == "USD"
    assert report["reset_at"]["day"] == next_midnight_utc()
    assert datetime.fromisoformat(report["reset_at"]["month"]).day == 1
    listed = next(
        u for u in admin.http.get(f"{admin.base_url}/api/admin/users").json()["users"] if u["id"] == user_id(user)
    )
    assert listed["today"] == {"messages": 1, "tokens": 24}


def test_quotas_are_refused_when_they_are_not_numbers(app):
    admin, _user = make_admin_and_user(app)
    for quota in ({"tokens_per_day": -1}, {"messages_per_day": "many"}, {"tokens_per_week": 5}):
        response = admin.post("/api/admin/groups", json={"name": "Bad", "quota": quota})
        assert response.status_code == 400, quota


def test_two_workers_racing_at_the_limit_overspend_by_at_most_one_answer_each(chat, fake_provider):
    admin, user, model, racers = chat["admin"], chat["user"], chat["model"], 2
    put_user(admin, user, quota={"messages_per_day": 1})
    fake_provider.script(tokens=[f"t{i} " for i in range(10)], token_delay=0.05)
    sockets = [user.socket() for _ in range(racers)]  # the live server has two workers
    ends: list[dict] = []
    go = threading.Barrier(racers)

    def race(socket) -> None:
        go.wait()
        ends.append(socket.chat("at the limit", model["model_id"])[-1])

    threads = [threading.Thread(target=race, args=(socket,)) for socket in sockets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    answered = [end for end in ends if end["type"] == "done"]
    assert 1 <= len(answered) <= racers, ends
    after = sockets[0].chat("after the race", model["model_id"])[-1]
    assert after["code"] == "quota_exceeded"
    for socket in sockets:
        socket.close()


def test_a_cost_limit_counts_the_answers_priced_in_the_quota_currency(chat, fake_provider):
    admin, user, model = chat["admin"], chat["user"], chat["model"]
    admin.http.put(f"{admin.base_url}/api/admin/models/{model['id']}", json={"price_output": 1000, "currency": "USD"})
    created_group(admin, "Paying", quota={"cost_per_month": 0.001})
    paying = admin.http.get(f"{admin.base_url}/api/admin/groups").json()["groups"][0]
    put_user(admin, user, groups=[paying["id"]])
    fake_provider.script(reply="costly", usage={"prompt_tokens": 0, "completion_tokens": 10})  # $0.01
    socket = user.socket()
    assert socket.chat("what does it cost?", model["model_id"])[-1]["type"] == "done"
    refused = socket.chat("again", model["model_id"])[-1]
    assert (refused["code"], refused["limit"]) == ("quota_exceeded", "cost_per_month")
    first_of_next_month = datetime.fromisoformat(refused["reset_at"])
    assert first_of_next_month.day == 1 and first_of_next_month > datetime.now(UTC)
    socket.close()
