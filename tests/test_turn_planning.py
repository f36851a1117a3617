"""Preparing a turn, in-process: which stored messages go to the model as context, in what order,
where a regenerate or an edit branches off, and what is refused before anything is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from aihelper.errors import status_of
from aihelper.extensions import db
from aihelper.failures import Failure
from aihelper.models import ApiProvider, ChatMessage, ChatSession, ModelConfig, User
from aihelper.services import branches, conversations
from aihelper.services.conversations import TurnRequest
from tests.fixtures.records import add_session

SYSTEM_PROMPT = "You answer briefly."
TWO_EXCHANGES = (("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2"))
NOON = "2026-11-24T12:00:00"


@pytest.fixture
def owner(app):
    """A user, a model keeping two messages of context with a system prompt, and a request context
    (refusals are worded in the request's language)."""
    with app.test_request_context():
        user = User(username="planner", username_key="planner", password_hash="-")
        other = User(username="stranger", username_key="stranger", password_hash="-")
        provider = ApiProvider(name="Planned", base_url="http://127.0.0.1:9/v1")
        db.session.add_all([user, other, provider])
        db.session.flush()
        db.session.add(
            ModelConfig(
                provider_id=provider.id,
                model_id="planned-model",
                model_name="Planned",
                context_messages=2,
                system_prompt=SYSTEM_PROMPT,
            )
        )
        db.session.commit()
        yield {"user_id": user.id, "other_id": other.id}
        db.session.remove()


def conversation(app, user_id: int, *messages: tuple[str, str] | dict) -> str:
    """A stored conversation "c" of `messages`: (role, content) pairs or dicts of columns."""
    rows = [m if isinstance(m, dict) else {"role": m[0], "content": m[1]} for m in messages]
    add_session(app, user_id, "c", NOON, [{"timestamp": NOON, **row} for row in rows], model_id="planned-model")
    return "c"


def prepared(user_id: int, session_id: str | None, kind: str = "chat", message: str | None = "next?", **extra):
    request = TurnRequest(
        user_id=user_id, kind=kind, session_id=session_id, model_ref="planned-model", message=message, **extra
    )
    return conversations.store_turn(conversations.plan_turn(request))


def sent(turn) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in turn.payload["messages"]]


def test_a_turn_sends_the_system_prompt_the_last_messages_the_model_keeps_and_the_question(app, owner):
    session_id = conversation(app, owner["user_id"], *TWO_EXCHANGES)
    turn = prepared(owner["user_id"], session_id)
    assert sent(turn) == [("system", SYSTEM_PROMPT), ("user", "q2"), ("assistant", "a2"), ("user", "next?")]
    assert (turn.payload["model"], turn.is_new_session) == ("planned-model", False)


def test_an_answer_still_streaming_or_empty_is_no_context(app, owner):
    session_id = conversation(
        app,
        owner["user_id"],
        ("user", "q1"),
        {"role": "assistant", "content": "", "status": "error"},
        ("user", "q2"),
        {"role": "assistant", "content": "half", "status": "streaming"},
    )
    assert sent(prepared(owner["user_id"], session_id)) == [
        ("system", SYSTEM_PROMPT),
        ("user", "q1"),
        ("user", "q2"),
        ("user", "next?"),
    ]


def message_ids(session_id: str = "c") -> dict[str, int]:
    """The conversation's messages by their text (answers still streaming have none)."""
    rows = db.session.execute(select(ChatMessage.content, ChatMessage.id).where(ChatMessage.session_id == session_id))
    return dict(rows.all())


def answered(turn, content: str) -> None:
    """The turn's answer arrived with `content`."""
    db.session.execute(
        update(ChatMessage).where(ChatMessage.id == turn.answer_id).values(content=content, status="done")
    )
    db.session.commit()


def parent_of(message_id: int) -> int | None:
    return db.session.get(ChatMessage, message_id).parent_id


def test_a_regenerate_asks_the_last_question_again_as_a_sibling_of_its_answer(app, owner):
    session_id = conversation(app, owner["user_id"], *TWO_EXCHANGES)
    turn = prepared(owner["user_id"], session_id, kind="regenerate", message=None)
    assert sent(turn) == [("system", SYSTEM_PROMPT), ("user", "q1"), ("assistant", "a1"), ("user", "q2")]
    ids = message_ids()
    assert turn.kind == "regenerate" and turn.user_message_id == ids["q2"]
    assert parent_of(turn.answer_id) == ids["q2"] == parent_of(ids["a2"]), "both answers of q2 are kept"


def test_an_edit_of_the_last_question_is_a_sibling_of_it(app, owner):
    session_id = conversation(app, owner["user_id"], *TWO_EXCHANGES)
    turn = prepared(owner["user_id"], session_id, message="q2, better", edit=True)
    assert sent(turn) == [("system", SYSTEM_PROMPT), ("user", "q1"), ("assistant", "a1"), ("user", "q2, better")]
    ids = message_ids()
    assert parent_of(turn.user_message_id) == ids["a1"] == parent_of(ids["q2"])
    assert parent_of(turn.answer_id) == turn.user_message_id


def test_regenerating_an_earlier_answer_sends_only_what_came_before_it_and_keeps_the_later_branch(app, owner):
    session_id = conversation(app, owner["user_id"], *TWO_EXCHANGES)
    ids = message_ids()
    turn = prepared(owner["user_id"], session_id, kind="regenerate", message=None, message_id=ids["a1"])
    assert sent(turn) == [("system", SYSTEM_PROMPT), ("user", "q1")]
    assert parent_of(turn.answer_id) == ids["q1"]
    session = db.session.scalar(select(ChatSession).where(ChatSession.session_id == session_id))
    nodes = branches.structure(session_id)
    assert branches.shown_path(nodes, session.selected_leaf_id) == [ids["q1"], turn.answer_id]
    assert branches.newest_leaf_under(nodes, ids["a1"]) == ids["a2"], "the later branch stays reachable"


def test_editing_the_first_question_starts_a_second_root(app, owner):
    session_id = conversation(app, owner["user_id"], *TWO_EXCHANGES)
    ids = message_ids()
    turn = prepared(owner["user_id"], session_id, message="q1, better", edit=True, message_id=ids["q1"])
    assert sent(turn) == [("system", SYSTEM_PROMPT), ("user", "q1, better")]
    assert parent_of(turn.user_message_id) is None


def test_the_context_follows_the_branch_shown(app, owner):
    session_id = conversation(app, owner["user_id"], *TWO_EXCHANGES)
    ids = message_ids()
    answered(prepared(owner["user_id"], session_id, kind="regenerate", message=None, message_id=ids["a1"]), "a1 again")
    session = db.session.scalar(select(ChatSession).where(ChatSession.session_id == session_id))

    branches.select_branch(session, ids["a2"])
    turn = prepared(owner["user_id"], session_id)
    assert sent(turn) == [("system", SYSTEM_PROMPT), ("user", "q2"), ("assistant", "a2"), ("user", "next?")]
    db.session.refresh(session)
    assert session.selected_leaf_id is None, "the new turn's branch is the one shown"
    assert branches.shown_path(branches.structure(session_id), None)[-3:] == [
        ids["a2"],
        turn.user_message_id,
        turn.answer_id,
    ]

    branches.select_branch(session, message_ids()["a1 again"])
    turn = prepared(owner["user_id"], session_id)
    assert sent(turn) == [("system", SYSTEM_PROMPT), ("user", "q1"), ("assistant", "a1 again"), ("user", "next?")]


def test_an_edit_names_a_question_and_a_regenerate_a_message_of_the_same_conversation(app, owner):
    session_id = conversation(app, owner["user_id"], *TWO_EXCHANGES)
    ids = message_ids()
    add_session(app, owner["user_id"], "other", NOON, [{"role": "user", "content": "elsewhere", "timestamp": NOON}])
    elsewhere = message_ids("other")["elsewhere"]
    with pytest.raises(Failure) as refused:
        prepared(owner["user_id"], session_id, message="better", edit=True, message_id=ids["a1"])
    assert refused.value.code == "nothing_to_regenerate"
    with pytest.raises(Failure) as refused:
        prepared(owner["user_id"], session_id, kind="regenerate", message=None, message_id=elsewhere)
    assert (refused.value.code, status_of(refused.value)) == ("not_found", 404)


def test_a_new_conversation_is_named_after_its_first_words_and_has_no_context(app, owner):
    turn = prepared(owner["user_id"], None, message="How do I sort a list in Python quickly?")
    assert turn.is_new_session and turn.title == conversations.first_words("How do I sort a list in Python quickly?")
    assert sent(turn) == [("system", SYSTEM_PROMPT), ("user", "How do I sort a list in Python quickly?")]


@pytest.mark.parametrize(
    ("whose", "kind", "messages", "status", "code"),
    [
        ("stranger", "chat", [("user", "q1")], 404, "not_found"),  # another user's, like a missing one
        ("owner", "regenerate", [], 409, "nothing_to_regenerate"),
        ("owner", "regenerate", [("assistant", "a greeting")], 409, "nothing_to_regenerate"),
    ],
)
def test_what_cannot_be_answered_is_refused_before_anything_is_stored(app, owner, whose, kind, messages, status, code):
    session_id = conversation(app, owner["user_id"], *messages)
    asker = owner["other_id"] if whose == "stranger" else owner["user_id"]
    with pytest.raises(Failure) as refused:
        conversations.plan_turn(
            TurnRequest(user_id=asker, kind=kind, session_id=session_id, model_ref="planned-model", message="again?")
        )
    assert (status_of(refused.value), refused.value.code) == (status, code)


def test_a_link_to_another_conversation_ends_the_context_there(app, owner):
    """Never written by any path (imports, copies and turns link within a conversation); a
    corrupted row still cannot bring someone else's messages into the context, in the first read
    or in the longer one a model with a long context needs."""
    db.session.execute(update(ModelConfig).values(context_messages=40))
    db.session.commit()
    add_session(app, owner["other_id"], "theirs", NOON, [{"role": "user", "content": "secret", "timestamp": NOON}])
    exchanges = [(("user", f"q{n}"), ("assistant", f"a{n}")) for n in range(15)]
    session_id = conversation(app, owner["user_id"], *(message for pair in exchanges for message in pair))
    db.session.execute(
        update(ChatMessage)
        .where(ChatMessage.id == message_ids()["q0"])
        .values(parent_id=message_ids("theirs")["secret"])
    )
    db.session.commit()
    contents = [content for _, content in sent(prepared(owner["user_id"], session_id))]
    assert contents[1] == "q0" and "secret" not in contents
