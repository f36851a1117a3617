"""The audit log (issue #15 part 5): every admin action, key rotation, admin login and failed login
is an entry saying who, when, from which address and what changed — never a key or a password —
filterable on GET /api/admin/audit and forgotten after the admin's retention."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from aihelper.extensions import db
from aihelper.models import AuditEntry
from aihelper.services import retention
from aihelper.times import utcnow
from tests.fixtures.actions import PASSWORD, add_provider, login, make_admin_and_user


def audit(admin, **query) -> list[dict]:
    response = admin.get("/api/admin/audit", query_string=query)
    assert response.status_code == 200, response.json
    return response.json["entries"]


def actions(admin, **query) -> list[str]:
    return [entry["action"] for entry in audit(admin, **query)]


def newest(entries: list[dict]) -> dict[str, dict]:
    """The newest entry of each action."""
    found: dict[str, dict] = {}
    for entry in entries:
        found.setdefault(entry["action"], entry)
    return found


def test_the_first_account_becoming_admin_is_recorded(app):
    admin, _user = make_admin_and_user(app)
    first = audit(admin)[-1]
    assert (first["action"], first["target"], first["actor_name"], first["changes"]) == (
        "user.update",
        "admin_ann",
        "admin_ann",
        {"is_admin": [False, True]},
    )


def test_every_admin_action_is_recorded_with_who_where_and_what_changed(app):
    admin, _user = make_admin_and_user(app)
    provider = add_provider(admin, "https://api.example.com/v1", name="Zhipu")
    admin.put(f"/api/admin/providers/{provider['id']}", json={"description": "GLM"})
    model = admin.post("/api/admin/models", json={"provider_id": provider["id"], "model_id": "glm-4.5"}).json
    admin.put(f"/api/admin/models/{model['id']}", json={"temperature": 1.1, "price_output": 8})
    admin.put("/api/admin/models/order", json={"ids": [model["id"]]})
    group = admin.post("/api/admin/groups", json={"name": "Staff", "quota": {"messages_per_day": 50}}).json
    admin.put(f"/api/admin/groups/{group['id']}", json={"name": "Employees"})
    created = admin.post("/api/admin/users", json={"username": "carol", "password": PASSWORD}).json
    admin.put(f"/api/admin/users/{created['id']}", json={"status": "disabled", "groups": [group["id"]]})
    admin.put("/api/admin/settings", json={"retention_days": 30})
    admin.delete(f"/api/admin/users/{created['id']}")
    admin.delete(f"/api/admin/models/{model['id']}")
    admin.delete(f"/api/admin/groups/{group['id']}")
    admin.delete(f"/api/admin/providers/{provider['id']}")

    entries = audit(admin)
    assert [e["action"] for e in entries] == [
        "provider.delete",
        "group.delete",
        "model.delete",
        "user.delete",
        "settings.update",
        "user.update",
        "user.create",
        "group.update",
        "group.create",
        "model.reorder",
        "model.update",
        "model.create",
        "provider.update",
        "provider.create",
        "user.update",  # the first account became the admin
    ]
    assert {(e["actor_name"], e["ip"]) for e in entries} == {("admin_ann", "127.0.0.1")}
    by_action = newest(entries)
    assert by_action["provider.update"]["changes"] == {"description": [None, "GLM"]}
    assert by_action["model.update"]["target"] == "glm-4.5"
    assert by_action["model.update"]["changes"] == {"temperature": [0.7, 1.1], "price_output": [0, 8]}
    assert by_action["group.create"]["changes"]["quota"][1]["messages_per_day"] == 50
    assert by_action["group.update"]["changes"] == {"name": ["Staff", "Employees"]}
    assert by_action["user.update"]["changes"] == {"status": ["active", "disabled"], "groups": [[], [group["id"]]]}
    assert by_action["settings.update"]["changes"] == {"retention_days": [0, 30]}
    assert by_action["user.delete"]["target"] == "carol"
    assert all(entry["time"].endswith("+00:00") for entry in entries)


def test_no_entry_ever_holds_a_key_or_a_password(app):
    admin, _user = make_admin_and_user(app)
    canary = "sk-audit-canary-" + secrets.token_hex(12)
    provider = add_provider(admin, "https://api.example.com/v1", api_key=canary)
    admin.put(f"/api/admin/providers/{provider['id']}", json={"api_key": canary + "-2"})
    bob = next(u for u in admin.get("/api/admin/users").json["users"] if u["username"] == "user_bob")
    new_password = "a-brand-new-password-" + secrets.token_hex(6)
    admin.put(f"/api/admin/users/{bob['id']}", json={"password": new_password})

    by_action = newest(audit(admin))
    assert by_action["provider.create"]["changes"]["api_key"] == ["(changed)", "(changed)"]
    assert by_action["provider.update"]["changes"] == {"api_key": ["(changed)", "(changed)"]}
    assert by_action["user.update"]["changes"] == {"password": ["(changed)", "(changed)"]}
    with app.app_context():
        raw = " ".join(f"{row.target} {row.changes} {row.actor_name}" for row in db.session.scalars(select(AuditEntry)))
        stored_key = db.session.execute(db.text("SELECT api_key FROM api_providers")).scalar_one()
    for secret in (canary, canary + "-2", new_password, stored_key, "pbkdf2", "scrypt"):
        assert secret not in raw


def test_admin_logins_and_every_failed_login_are_recorded(app):
    make_admin_and_user(app)
    admin, someone, stranger = app.test_client(), app.test_client(), app.test_client()
    assert login(admin, "admin_ann").status_code == 200
    assert login(someone, "user_bob").status_code == 200  # an ordinary login is not an admin event
    assert login(stranger, "user_bob", password="wrong-password-1").status_code == 401
    assert login(stranger, "my-Secret\x1b[31m-typed-as-a-name", password="wrong-password-2").status_code == 401
    assert login(stranger, "my-Secret\x1b[31m-typed-as-a-name", password="wrong-password-3").status_code == 401

    entries = audit(admin, action="login")
    assert [(e["action"], e["actor_name"], e["target"], e["actor_id"]) for e in entries][:4] == [
        ("login.failed", "(unknown name)", "(unknown name)", None),
        ("login.failed", "(unknown name)", "(unknown name)", None),
        ("login.failed", "user_bob", "user_bob", None),
        ("login.admin", "admin_ann", "admin_ann", entries[3]["actor_id"]),
    ]
    assert entries[2]["changes"] == {"reason": [None, "bad_credentials"]}
    # A name no account has is never written out, but the same one tried again is seen as such.
    assert entries[0]["changes"]["name_digest"] == entries[1]["changes"]["name_digest"]
    assert "Secret" not in json.dumps(entries) and "wrong-password" not in json.dumps(entries)


def test_a_login_whose_audit_entry_cannot_be_written_still_answers(app):
    make_admin_and_user(app)
    with app.app_context():  # every insert into the log now fails
        db.session.execute(db.text("DROP TABLE audit_log"))
        db.session.commit()
    try:
        client = app.test_client()
        assert login(client, "user_bob", password="wrong-password-1").status_code == 401
        assert login(client, "admin_ann").status_code == 200
    finally:
        with app.app_context():
            AuditEntry.__table__.create(db.engine)


def test_the_log_is_filtered_by_actor_action_time_and_paged_newest_first(app):
    admin, _user = make_admin_and_user(app)
    for number in range(5):
        admin.post("/api/admin/groups", json={"name": f"group {number}"})
    admin.put("/api/admin/settings", json={"retention_days": 7})

    assert actions(admin, action="group") == ["group.create"] * 5
    assert actions(admin, action="settings.update") == ["settings.update"]
    assert actions(admin, actor="admin_ann", action="group.create", limit=2) == ["group.create"] * 2
    first_page = audit(admin, action="group", limit=2)
    next_page = audit(admin, action="group", limit=2, before=first_page[-1]["id"])
    assert [e["target"] for e in first_page + next_page] == ["group 4", "group 3", "group 2", "group 1"]
    admin_id = first_page[0]["actor_id"]
    assert len(audit(admin, actor=str(admin_id), action="group")) == 5
    assert audit(admin, actor="someone_else") == []
    today = utcnow().date()
    assert len(audit(admin, **{"from": str(today), "to": str(today)})) == 7  # and the first admin
    assert audit(admin, **{"to": str(today - timedelta(days=1))}) == []
    assert admin.get("/api/admin/audit?limit=0").json["code"] == "invalid_limit"
    assert admin.get("/api/admin/audit?who=x").json["code"] == "unknown_field"


def test_only_admins_read_the_log(app):
    _admin, user = make_admin_and_user(app)
    assert user.get("/api/admin/audit").status_code == 403


def test_entries_older_than_the_retention_are_forgotten_by_the_daily_clean_up(app):
    admin, _user = make_admin_and_user(app)
    admin.put("/api/admin/settings", json={"audit_retention_days": 30})
    admin.post("/api/admin/groups", json={"name": "old news"})
    with app.app_context():
        db.session.execute(
            update(AuditEntry).where(AuditEntry.action == "group.create").values(time=utcnow() - timedelta(days=31))
        )
        db.session.commit()
        retention.run_if_due()
        db.session.remove()
    assert actions(admin) == ["settings.update", "user.update"]


def test_key_rotation_from_the_command_line_is_recorded(app):
    admin, _user = make_admin_and_user(app)
    add_provider(admin, "https://api.example.com/v1")
    result = app.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    entry = audit(admin, action="keys.rotate")[0]
    assert (entry["actor_name"], entry["actor_id"], entry["ip"]) == ("(command line)", None, None)
    assert entry["changes"] == {"rotated": [None, 1], "unreadable": [None, 0]}


def test_an_admin_made_on_the_command_line_is_recorded(app):
    admin, _user = make_admin_and_user(app)
    assert app.test_cli_runner().invoke(args=["create-admin", "user_bob"]).exit_code == 0
    assert app.test_cli_runner().invoke(args=["create-admin", "ops_olga", "--password", PASSWORD]).exit_code == 0
    entries = audit(admin, action="user")[:2]
    assert [(e["action"], e["target"], e["actor_name"], e["changes"]) for e in entries] == [
        (
            "user.create",
            "ops_olga",
            "(command line)",
            {
                "is_admin": [None, True],
                "status": [None, "active"],
                "password": ["(changed)", "(changed)"],
                "login_limits": [None, "reset"],
            },
        ),
        ("user.update", "user_bob", "(command line)", {"is_admin": [False, True], "login_limits": [None, "reset"]}),
    ]


def test_a_change_that_changes_nothing_is_no_entry_and_a_cleared_key_says_so(app):
    admin, _user = make_admin_and_user(app)
    provider = add_provider(admin, "https://api.example.com/v1")
    admin.put(f"/api/admin/providers/{provider['id']}", json={"name": provider["name"]})
    assert actions(admin, action="provider") == ["provider.create"]
    admin.put(f"/api/admin/providers/{provider['id']}", json={"base_url": "https://elsewhere.example.org/v1"})
    moved = audit(admin, action="provider.update")[0]["changes"]
    assert moved["api_key"] == ["(changed)", "(cleared)"]
    assert moved["base_url"] == ["https://api.example.com/v1", "https://elsewhere.example.org/v1"]


def test_deleting_the_default_group_records_that_it_is_unset(app):
    admin, _user = make_admin_and_user(app)
    group = admin.post("/api/admin/groups", json={"name": "Newcomers"}).json
    admin.put("/api/admin/settings", json={"default_group": group["id"]})
    admin.delete(f"/api/admin/groups/{group['id']}")
    assert audit(admin, action="group.delete")[0]["changes"] == {"default_group": [group["id"], None]}


def test_an_actor_that_is_no_number_or_a_huge_one_finds_nothing_rather_than_failing(app):
    admin, _user = make_admin_and_user(app)
    for actor in ("²", "9" * 40, "%", "admin_%"):
        assert audit(admin, actor=actor) == [], actor
