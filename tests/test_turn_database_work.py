"""What a turn asks of the database before the provider is called: on MySQL/MariaDB, a turn in an
existing conversation is three round trips (read the conversation, the model and the context of
its branch together; store the question; store the placeholder answer following it), with no
COMMIT, ROLLBACK or ping; a new conversation adds the INSERT of its row. On SQLite the same
statements, and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

from aihelper.config import AUTOCOMMIT_BIND
from aihelper.extensions import db
from aihelper.models import ApiProvider, ChatMessage, ChatSession, ModelConfig, User
from aihelper.services import conversations
from aihelper.services.conversations import DuplicateClientId, TurnRequest
from aihelper.services.provider_keys import encrypt_key
from tests.fixtures.servers import on_mysql


@contextmanager
def database_traffic() -> Iterator[list[str]]:
    """What goes to the database meanwhile: every command PyMySQL sends (statements, COMMIT,
    ROLLBACK, ping) on MySQL, every statement on SQLite."""
    sent: list[str] = []
    if on_mysql():
        import pymysql.connections

        original = pymysql.connections.Connection._execute_command

        def spy(connection, command, sql):
            sent.append(sql.decode() if isinstance(sql, bytes) else str(sql or command))
            return original(connection, command, sql)

        pymysql.connections.Connection._execute_command = spy
        try:
            yield sent
        finally:
            pymysql.connections.Connection._execute_command = original
        return

    engines = [db.engine, db.engines[AUTOCOMMIT_BIND]]

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def user_and_model(app):
    with app.test_request_context():
        user = User(username="counted", username_key="counted", password_hash="-")
        provider = ApiProvider(name="Counted", base_url="http://127.0.0.1:9/v1")
        db.session.add_all([user, provider])
        db.session.flush()
        db.session.add(
            ModelConfig(provider_id=provider.id, model_id="counted-model", model_name="Counted", context_messages=4)
        )
        db.session.commit()
        yield user.id
        db.session.remove()


def turn(user_id: int, session_id: str | None, client_id: str | None = None):
    request = TurnRequest(
        user_id=user_id,
        kind="chat",
        session_id=session_id,
        model_ref="counted-model",
        message="how many round trips?",
        client_id=client_id,
    )
    return conversations.store_turn(conversations.plan_turn(request))


def statements(sent: list[str]) -> list[str]:
    return [s.split()[0].upper() for s in sent]


def test_a_turn_in_a_conversation_is_a_read_and_an_insert_of_each_message(user_and_model):
    first = turn(user_and_model, None)
    for _ in range(3):
        turn(user_and_model, first.session_id)  # a context to read
    with database_traffic() as sent:
        prepared = turn(user_and_model, first.session_id, client_id=str(uuid.uuid4()))
    assert statements(sent) == ["WITH", "INSERT", "INSERT"], sent  # the read is a recursive query
    # The earlier questions were read as the context (their answers, never generated, are left out).
    assert [m["role"] for m in prepared.payload["messages"]] == ["user"] * 4


def test_a_new_conversation_adds_the_insert_of_its_row(user_and_model):
    with database_traffic() as sent:
        turn(user_and_model, None)
    assert statements(sent) == ["SELECT", "INSERT", "INSERT", "INSERT"], [s[:60] for s in sent]


def test_a_repeated_client_id_is_found_by_the_unique_constraint_not_looked_up_first(user_and_model):
    first = turn(user_and_model, None, client_id="same-message")
    with database_traffic() as sent, pytest.raises(DuplicateClientId) as repeated:
        turn(user_and_model, first.session_id, client_id="same-message")
    assert statements(sent)[:2] == ["WITH", "INSERT"], sent  # the lookup only after the refusal
    assert repeated.value.existing.user_message_id == first.user_message_id
    assert repeated.value.existing.answer_id == first.answer_id
    with db.engine.connect() as connection:
        stored = connection.scalars(select(ChatMessage.client_id).where(ChatMessage.client_id == "same-message")).all()
    assert stored == ["same-message"]


def test_the_context_size_it_learns_stays_one_entry_per_model(user_and_model):
    first = turn(user_and_model, None)
    conversations._recent_needed.clear()
    for spaces in range(50):  # the same model named in 50 ways
        conversations.plan_turn(
            TurnRequest(
                user_id=user_and_model,
                kind="chat",
                session_id=first.session_id,
                model_ref="counted-model" + " " * spaces,
                message="m",
            )
        )
    assert len(conversations._recent_needed) == 1


def test_a_new_conversation_that_cannot_store_its_messages_leaves_no_row_behind(user_and_model, monkeypatch):
    def broken(connection, rows, parent_id):
        raise OperationalError("INSERT", {}, Exception("the server went away"))

    monkeypatch.setattr(conversations, "_insert_messages", broken)
    with pytest.raises(OperationalError):
        turn(user_and_model, None)
    with db.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ChatSession)) == 0


def test_a_prepared_turn_carries_its_providers_key_but_never_shows_it(user_and_model):
    key = "sk-never-in-a-repr-000000000000000001"
    db.session.execute(update(ApiProvider).values(api_key=encrypt_key(key)))
    db.session.commit()
    prepared = turn(user_and_model, None)
    assert prepared.api_key == key
    assert key not in repr(prepared) and key[-12:] not in repr(prepared)
