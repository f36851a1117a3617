"""Shared links (issue #17): a conversation up to a chosen message as a read-only snapshot behind an
unguessable id, revocable, with an optional expiry; a revoked, expired, unknown or switched-off
link answers exactly like one that never existed; a logged-in reader may continue it in their own
account; admins see and revoke every link and may turn sharing off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from aihelper.extensions import db
from aihelper.models import AuditEntry, ChatMessage, ChatSession, SharedLink, User
from aihelper.services import shares
from aihelper.times import utcnow
from tests.fixtures.actions import make_admin_and_user, page_data
from tests.fixtures.records import add_session, user

CONVERSATION = [
    ("user", "What is 2 + 2?", "2026-03-01T10:00:00"),
    ("assistant", "**4**", "2026-03-01T10:00:05"),
    ("user", "And 3 + 3?", "2026-03-01T10:01:00"),
    ("assistant", "6", "2026-03-01T10:01:04"),
]


def message_ids(app, session_id: str) -> list[int]:
    with app.app_context():
        ids = db.session.scalars(
            select(ChatMessage.id).where(ChatMessage.session_id == session_id).order_by(ChatMessage.id)
        ).all()
        db.session.remove()
    return list(ids)


def share(client, session_id: str, **body):
    return client.post(f"/api/chat/session/{session_id}/share", json=body)


def anonymous(app):
    return app.test_client()


def test_a_link_shows_a_snapshot_up_to_the_chosen_message_and_not_what_came_later(app):
    owner, owner_id = user(app, "sharer")
    add_session(app, owner_id, "s-math", "2026-03-01T10:01:04", CONVERSATION, title="Sums")
    ids = message_ids(app, "s-math")
    first_answer = ids[1]

    created = share(owner, "s-math", up_to_message_id=first_answer)
    assert created.status_code == 201, created.json
    link = created.json
    assert len(link["share_id"]) >= 22 and link["expires_at"] is None
    assert link["url"].endswith("/s/" + link["share_id"])

    # Later: a new message, a rename. The link still shows what it showed.
    add_session(app, owner_id, "s-other", "2026-03-02T00:00:00")
    with app.app_context():
        db.session.add(
            ChatMessage(session_id="s-math", user_id=owner_id, role="user", content="later question", parent_id=ids[-1])
        )
        db.session.execute(update(ChatSession).where(ChatSession.session_id == "s-math").values(title="Renamed"))
        db.session.commit()

    view = anonymous(app).get(f"/api/shares/{link['share_id']}")
    assert view.status_code == 200
    assert view.json["title"] == "Sums"
    assert [(m["role"], m["content"]) for m in view.json["messages"]] == [
        ("user", "What is 2 + 2?"),
        ("assistant", "**4**"),
    ]
    assert view.json["author"] is None

    whole = share(owner, "s-math").json
    shown = anonymous(app).get(f"/api/shares/{whole['share_id']}").json["messages"]
    assert [m["content"] for m in shown][-1] == "later question"


def test_a_link_up_to_a_message_of_another_branch_shows_that_branch(app):
    owner, owner_id = user(app, "brancher")
    add_session(app, owner_id, "s-branches", "2026-03-01T10:01:04", CONVERSATION)
    question, _, second_question, _ = message_ids(app, "s-branches")
    with app.app_context():  # the first question answered again: a branch beside the first answer
        other = ChatMessage(
            session_id="s-branches", user_id=owner_id, role="assistant", content="four", parent_id=question
        )
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    switched = owner.put("/api/chat/session/s-branches/branch", json={"message_id": second_question})
    assert switched.status_code == 200

    to_other = share(owner, "s-branches", up_to_message_id=other_id).json
    shown = anonymous(app).get(f"/api/shares/{to_other['share_id']}").json["messages"]
    assert [m["content"] for m in shown] == ["What is 2 + 2?", "four"]
    whole = share(owner, "s-branches").json
    shown = anonymous(app).get(f"/api/shares/{whole['share_id']}").json["messages"]
    assert [m["content"] for m in shown] == [m[1] for m in CONVERSATION], "the branch shown"


def test_the_page_needs_no_login_is_kept_out_of_search_engines_and_hides_the_name_unless_chosen(app):
    owner, owner_id = user(app, "visible_vic")
    add_session(app, owner_id, "s-page", "2026-03-01T10:01:04", CONVERSATION)
    hidden = share(owner, "s-page").json
    named = share(owner, "s-page", show_name=True).json

    page = anonymous(app).get(f"/s/{hidden['share_id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert page.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src 'self' 'unsafe-eval'" in page.headers["Content-Security-Policy"]
    assert "visible_vic" not in html
    data = page_data(html)
    assert data["logged_in"] is False and data["share"]["author"] is None
    assert data["login_url"] == f"/login?next=/s/{hidden['share_id']}"

    assert page_data(anonymous(app).get(f"/s/{named['share_id']}").get_data(as_text=True))["share"]["author"] == (
        "visible_vic"
    )
    assert page_data(owner.get(f"/s/{hidden['share_id']}").get_data(as_text=True))["logged_in"] is True


def refused_like_unknown(app, share_id: str) -> None:
    """The link answers exactly as an id that never existed, on the page and in the API."""
    reader = anonymous(app)
    unknown_page, unknown_api = reader.get("/s/never-existed-0000000000000"), reader.get("/api/shares/never-existed-0")
    page, api = reader.get(f"/s/{share_id}"), reader.get(f"/api/shares/{share_id}")
    assert page.status_code == unknown_page.status_code == 404
    assert page.get_data() == unknown_page.get_data()
    assert page.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert (api.status_code, api.json) == (unknown_api.status_code, unknown_api.json)
    assert api.json["code"] == "not_found"


def test_revoked_and_expired_links_answer_like_links_that_never_existed(app):
    owner, owner_id = user(app, "revoker")
    add_session(app, owner_id, "s-gone", "2026-03-01T10:01:04", CONVERSATION)
    revoked = share(owner, "s-gone").json["share_id"]
    assert owner.delete(f"/api/shares/{revoked}").status_code == 200
    refused_like_unknown(app, revoked)
    assert owner.delete(f"/api/shares/{revoked}").status_code == 404

    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    expiring = share(owner, "s-gone", expires_at=soon)
    assert expiring.status_code == 201 and expiring.json["expires_at"] is not None
    expiring_id = expiring.json["share_id"]
    assert anonymous(app).get(f"/s/{expiring_id}").status_code == 200
    with app.app_context():
        db.session.execute(
            update(SharedLink)
            .where(SharedLink.share_id == expiring_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    refused_like_unknown(app, expiring_id)
    listed = owner.get("/api/shares").json["shares"]
    assert [(link["share_id"], link["expired"]) for link in listed] == [(expiring_id, True)], "listed to revoke it"

    past = share(owner, "s-gone", expires_at="2020-01-01T00:00:00+00:00")
    assert (past.status_code, past.json["code"]) == (400, "share_expiry_past")


def test_a_share_id_is_compared_exactly(app):
    owner, owner_id = user(app, "exact_ed")
    add_session(app, owner_id, "s-case", "2026-03-01T10:01:04", CONVERSATION)
    share_id = share(owner, "s-case").json["share_id"]
    other_case = share_id.swapcase()
    assert other_case != share_id
    refused_like_unknown(app, other_case)
    refused_like_unknown(app, share_id + " ")
    assert owner.delete(f"/api/shares/{other_case}").status_code == 404
    assert anonymous(app).get(f"/s/{share_id}").status_code == 200


def test_another_user_can_neither_list_nor_revoke_my_link(app):
    owner, owner_id = user(app, "owner_olga")
    other, _ = user(app, "other_otto")
    add_session(app, owner_id, "s-mine", "2026-03-01T10:01:04", CONVERSATION)
    share_id = share(owner, "s-mine").json["share_id"]

    assert other.get("/api/shares").json == {"shares": []}
    refused = other.delete(f"/api/shares/{share_id}")
    unknown = other.delete("/api/shares/never-existed-0")
    assert (refused.status_code, refused.json) == (unknown.status_code, unknown.json) == (404, unknown.json)
    assert share(other, "s-mine").status_code == 404, "nor share my conversation"
    assert anonymous(app).get(f"/s/{share_id}").status_code == 200, "the link still works"
    assert anonymous(app).get("/api/shares").status_code == 401
    assert share(anonymous(app), "s-mine").status_code == 401


def test_what_cannot_be_shared_is_refused_with_a_reason(app):
    owner, owner_id = user(app, "careful_cat")
    add_session(app, owner_id, "s-empty", "2026-03-01T10:00:00")
    add_session(app, owner_id, "s-elsewhere", "2026-03-01T10:01:04", CONVERSATION)
    add_session(
        app,
        owner_id,
        "s-running",
        "2026-03-01T10:00:00",
        [
            ("user", "Write a poem", "2026-03-01T10:00:00"),
            {
                "role": "assistant",
                "content": "Roses",
                "timestamp": "2026-03-01T10:00:01",
                "status": "streaming",
                "lease_until": utcnow() + timedelta(minutes=1),
            },
        ],
    )
    empty = share(owner, "s-empty")
    assert (empty.status_code, empty.json["code"]) == (400, "share_empty")
    running = share(owner, "s-running")
    assert (running.status_code, running.json["code"]) == (409, "share_streaming")
    question = message_ids(app, "s-running")[0]
    assert share(owner, "s-running", up_to_message_id=question).status_code == 201, "the finished part may go"
    foreign = share(owner, "s-elsewhere", up_to_message_id=question)
    assert (foreign.status_code, foreign.json["code"]) == (404, "not_found")
    unknown_field = share(owner, "s-elsewhere", public=True)
    assert (unknown_field.status_code, unknown_field.json["code"]) == (400, "unknown_field")


def test_each_user_keeps_at_most_the_configured_number_of_links(app):
    owner, owner_id = user(app, "hoarder")
    add_session(app, owner_id, "s-many", "2026-03-01T10:01:04", CONVERSATION)
    app.config["AIHELPER_SHARES_PER_USER"] = 2
    try:
        first = share(owner, "s-many").json["share_id"]
        assert share(owner, "s-many").status_code == 201
        full = share(owner, "s-many")
        assert (full.status_code, full.json["code"]) == (409, "share_limit")
        owner.delete(f"/api/shares/{first}")
        assert share(owner, "s-many").status_code == 201, "revoking makes room"
    finally:
        app.config["AIHELPER_SHARES_PER_USER"] = 100


def test_what_all_of_a_users_links_hold_is_capped(app):
    owner, owner_id = user(app, "big_sharer")
    add_session(app, owner_id, "s-big", "2026-03-01T10:01:04", [("user", "x" * 600_000, "2026-03-01T10:00:00")])
    app.config["AIHELPER_SHARE_STORAGE_MB"] = 1
    try:
        first = share(owner, "s-big").json["share_id"]
        full = share(owner, "s-big")
        assert (full.status_code, full.json["code"]) == (413, "share_storage_full")
        owner.delete(f"/api/shares/{first}")
        assert share(owner, "s-big").status_code == 201, "revoking makes room"
    finally:
        app.config["AIHELPER_SHARE_STORAGE_MB"] = 100


def test_a_disabled_accounts_links_answer_like_links_that_never_existed(app):
    owner, owner_id = user(app, "soon_disabled")
    add_session(app, owner_id, "s-gone", "2026-03-01T10:01:04", CONVERSATION)
    share_id = share(owner, "s-gone").json["share_id"]
    never = anonymous(app).get("/api/shares/never-existed-0")
    with app.app_context():
        db.session.execute(update(User).where(User.id == owner_id).values(status="disabled"))
        db.session.commit()
    gone = anonymous(app).get(f"/api/shares/{share_id}")
    assert (gone.status_code, gone.json) == (404, never.json)


def test_deleting_the_conversation_deletes_its_links(app):
    owner, owner_id = user(app, "deleter")
    add_session(app, owner_id, "s-doomed", "2026-03-01T10:01:04", CONVERSATION)
    share_id = share(owner, "s-doomed").json["share_id"]
    assert owner.delete("/api/chat/session/s-doomed").status_code == 200
    refused_like_unknown(app, share_id)
    assert owner.get("/api/shares").json == {"shares": []}


def test_sharing_turned_off_refuses_new_links_and_hides_existing_ones_until_turned_on(app):
    admin, _ = make_admin_and_user(app)
    owner, owner_id = user(app, "sharer_sue")
    add_session(app, owner_id, "s-switch", "2026-03-01T10:01:04", CONVERSATION)
    share_id = share(owner, "s-switch").json["share_id"]

    assert admin.put("/api/admin/settings", json={"sharing_enabled": False}).json["sharing_enabled"] is False
    refused = share(owner, "s-switch")
    assert (refused.status_code, refused.json["code"]) == (403, "sharing_disabled")
    refused_like_unknown(app, share_id)
    assert owner.post(f"/api/shares/{share_id}/copy").status_code == 404

    assert admin.put("/api/admin/settings", json={"sharing_enabled": True}).json["sharing_enabled"] is True
    assert anonymous(app).get(f"/s/{share_id}").status_code == 200
    assert share(owner, "s-switch").status_code == 201


def test_the_settings_page_form_turns_sharing_off_and_on(app):
    admin, _ = make_admin_and_user(app)
    token = page_data(admin.get("/admin/settings").get_data(as_text=True))["csrf_token"]
    assert admin.post("/admin/settings", data={"csrf_token": token}).status_code == 302
    assert admin.get("/api/admin/settings").json["sharing_enabled"] is False, "an unchecked box is off"
    assert admin.post("/admin/settings", data={"csrf_token": token, "sharing_enabled": "1"}).status_code == 302
    assert admin.get("/api/admin/settings").json["sharing_enabled"] is True


def test_admins_see_every_link_and_revoke_any_recorded_in_the_audit_log(app):
    admin, plain = make_admin_and_user(app)
    owner, owner_id = user(app, "shared_sam")
    add_session(app, owner_id, "s-audited", "2026-03-01T10:01:04", CONVERSATION, title="Audited sums")
    share_id = share(owner, "s-audited").json["share_id"]

    assert plain.get("/api/admin/shares").status_code == 403
    assert plain.delete(f"/api/admin/shares/{share_id}").status_code == 403
    listed = admin.get("/api/admin/shares").json["shares"]
    assert [(link["share_id"], link["username"], link["title"]) for link in listed] == [
        (share_id, "shared_sam", "Audited sums")
    ]
    assert admin.get("/admin/shares").status_code == 200

    assert admin.delete(f"/api/admin/shares/{share_id}").status_code == 200
    refused_like_unknown(app, share_id)
    assert admin.delete(f"/api/admin/shares/{share_id}").status_code == 404
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "share.revoke")).one()
        assert (entry.actor_name, entry.target) == ("admin_ann", share_id)
        assert "shared_sam" in entry.changes and "Audited sums" in entry.changes


def test_a_logged_in_reader_continues_the_conversation_in_their_own_account(app):
    owner, owner_id = user(app, "teacher")
    reader, reader_id = user(app, "student")
    add_session(app, owner_id, "s-lesson", "2026-03-01T10:01:04", CONVERSATION, title="Lesson")
    share_id = share(owner, "s-lesson").json["share_id"]
    assert anonymous(app).post(f"/api/shares/{share_id}/copy").status_code == 401

    copied = reader.post(f"/api/shares/{share_id}/copy")
    assert copied.status_code == 201
    session_id = copied.json["session_id"]
    opened = reader.get("/api/chat/history", query_string={"session_id": session_id}).json
    assert opened["title"] == "Lesson"
    assert [(m["role"], m["content"], m["status"]) for m in opened["conversation"]] == [
        (role, content, "done") for role, content, _ in CONVERSATION
    ]
    assert owner.get("/api/chat/history", query_string={"session_id": session_id}).status_code == 404
    hits = reader.get("/api/chat/search", query_string={"q": "3 + 3"}).json["results"]
    assert {hit["session_id"] for hit in hits} == {session_id}, "the copy is searchable"
    with app.app_context():
        assert db.session.get(User, reader_id).message_count == 2, "its questions count like an import's"
        assert len(db.session.scalars(select(ChatMessage).where(ChatMessage.session_id == "s-lesson")).all()) == 4
    assert opened["tree"][-1]["parent_id"] == opened["tree"][-2]["id"], "a single branch"
    again = reader.post(f"/api/shares/{share_id}/copy")
    assert (again.status_code, again.json["session_id"]) == (201, session_id), "the same copy opens again"
    assert len(reader.get("/api/chat/history").json["sessions"]) == 1
    assert reader.post("/api/shares/never-existed-0/copy").status_code == 404


def test_the_daily_job_deletes_links_a_month_after_they_expired(app):
    owner, owner_id = user(app, "tidy")
    add_session(app, owner_id, "s-tidy", "2026-03-01T10:01:04", CONVERSATION)
    old, recent = share(owner, "s-tidy").json["share_id"], share(owner, "s-tidy").json["share_id"]
    with app.app_context():
        for share_id, days in ((old, 31), (recent, 1)):
            db.session.execute(
                update(SharedLink)
                .where(SharedLink.share_id == share_id)
                .values(expires_at=utcnow() - timedelta(days=days))
            )
        db.session.commit()
        assert shares.purge_expired(utcnow()) == 1
    listed = [link["share_id"] for link in owner.get("/api/shares").json["shares"]]
    assert listed == [recent], "a recently expired link stays listed, as expired"
