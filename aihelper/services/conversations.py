"""The database side of a chat turn: everything before the provider is called, and the one write
after it (DESIGN.md "the path of one message").

`prepare_turn` checks the request, stores the user's message and a placeholder answer (status
`streaming`) in one transaction and returns everything the stream needs, so no database
connection is held while tokens flow. `finish_answer` stores the answer once, whatever happened.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from aihelper.errors import ApiError
from aihelper.extensions import db
from aihelper.i18n import t
from aihelper.models import ApiProvider, ChatMessage, ChatSession, ModelConfig, User
from aihelper.models.chat import DONE, STALE_STREAMING, STOPPED, STREAMING
from aihelper.models.types import utcnow
from aihelper.models.user import ACTIVE
from aihelper.services import search
from aihelper.services.history import owned_session
from aihelper.services.provider_keys import decrypt_key

TITLE_CHARS = 30
CLIENT_ID_MAX = 64


@dataclass
class TurnRequest:
    user_id: int
    kind: str  # "chat" or "regenerate"
    session_id: str | None
    model_ref: Any  # a model config id (int) or a provider model id (str); None = the session's model
    message: str | None = None
    client_id: str | None = None
    edit: bool = False  # chat only: replace the last exchange instead of adding one


@dataclass
class PreparedTurn:
    session_id: str
    title: str
    is_new_session: bool
    user_message_id: int
    answer_id: int
    model_id: str
    model_config_id: int
    base_url: str
    api_key: str | None
    payload: dict[str, Any] = field(repr=False)
    question_text: str = field(default="", repr=False)
    # Messages this turn replaces once its answer has arrived (regenerate, edit and resend).
    superseded_ids: list[int] = field(default_factory=list)


@dataclass
class ExistingTurn:
    """A repeated client_id: the turn that message started the first time."""

    session_id: str
    user_message_id: int
    answer_id: int | None
    model_id: str | None


def first_words(message: str) -> str:
    """The conversation's title until a better one is generated: the message's first words."""
    text = " ".join(message.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def _check_message(message: Any) -> str:
    if not isinstance(message, str) or not message.strip():
        raise ApiError(400, "empty_message", t("empty_message"))
    limit = current_app.config["AIHELPER_MAX_MESSAGE_CHARS"]
    if len(message) > limit:
        raise ApiError(413, "too_long", t("message_too_long", limit=str(limit)))
    return message


def _check_client_id(client_id: Any) -> str | None:
    if client_id is None:
        return None
    if not isinstance(client_id, str) or not 0 < len(client_id) <= CLIENT_ID_MAX:
        raise ApiError(400, "invalid_client_id", t("invalid_client_id"))
    return client_id


# What a turn needs of a model and its provider, read as one plain row.
_MODEL_ROW = (
    ModelConfig.id,
    ModelConfig.model_id,
    ModelConfig.system_prompt,
    ModelConfig.max_tokens,
    ModelConfig.temperature,
    ModelConfig.context_messages,
    ApiProvider.base_url,
    ApiProvider.api_key,
)


def resolve_model(model_ref: Any) -> Row:
    """An enabled model of an enabled provider, by config id or by the provider's model id: a row
    with the model's fields and its provider's base_url and api_key."""
    statement = select(*_MODEL_ROW).join(ApiProvider, ApiProvider.id == ModelConfig.provider_id)
    if isinstance(model_ref, int) and not isinstance(model_ref, bool):
        statement = statement.where(ModelConfig.id == model_ref)
    elif isinstance(model_ref, str) and model_ref.strip():
        statement = statement.where(ModelConfig.model_id == model_ref.strip())
    else:
        raise ApiError(400, "model_unavailable", t("model_unavailable"))
    statement = statement.where(ModelConfig.status == ACTIVE, ApiProvider.status == ACTIVE)
    row = db.session.execute(statement.order_by(ModelConfig.sort_order, ModelConfig.id).limit(1)).first()
    if row is None:
        raise ApiError(400, "model_unavailable", t("model_unavailable"))
    return row


def find_existing_turn(user_id: int, client_id: str | None) -> ExistingTurn | None:
    if client_id is None:
        return None
    user_message = db.session.execute(
        select(ChatMessage.id, ChatMessage.session_id).where(
            ChatMessage.user_id == user_id, ChatMessage.client_id == client_id
        )
    ).first()
    if user_message is None:
        return None
    answer = db.session.scalar(
        select(ChatMessage)
        .where(ChatMessage.session_id == user_message.session_id, ChatMessage.id > user_message.id)
        .where(ChatMessage.role == "assistant")
        .order_by(ChatMessage.id)
        .limit(1)
    )
    return ExistingTurn(
        user_message.session_id, user_message.id, answer.id if answer else None, answer.model_id if answer else None
    )


def stored_answer(answer_id: int) -> ChatMessage | None:
    return db.session.get(ChatMessage, answer_id)


def _claim_session(session: ChatSession, model: Row, now) -> None:
    """Mark the conversation active with this model. Being the transaction's first write, it also
    serialises turns of one conversation across workers: it takes the row lock (MySQL) or the
    database write lock (SQLite) until commit."""
    db.session.connection().execute(
        _CLAIM_SESSION, {"row_id": session.id, "now": now, "model": model.model_id, "config_id": model.id}
    )


def _running_turns(user_id: int) -> list[str]:
    """The conversations in which this user has an answer generating now. A locking read, so it
    sees turns committed since this transaction began (MySQL)."""
    return list(
        db.session.scalars(
            select(ChatMessage.session_id)
            .where(ChatMessage.user_id == user_id, ChatMessage.status == STREAMING)
            .where(ChatMessage.timestamp > utcnow() - STALE_STREAMING)
            .with_for_update()
        )
    )


def _check_running_turns(running: list[str], session_id: str | None) -> None:
    """One generation per conversation (409 busy); and since each running answer is a provider
    call paid with the admin's key, only a few per user (AIHELPER_MAX_RUNNING_TURNS, 429)."""
    if session_id is not None and session_id in running:
        db.session.rollback()
        raise ApiError(409, "busy", t("busy"))
    if len(running) >= current_app.config["AIHELPER_MAX_RUNNING_TURNS"]:
        db.session.rollback()
        raise ApiError(429, "too_many_turns", t("too_many_turns"))


_MESSAGE_COLUMNS = ("session_id", "user_id", "role", "content", "timestamp", "status", "client_id", "model_id")
_INSERT_MESSAGE = insert(ChatMessage.__table__)
_COUNT_MESSAGE = (
    update(User.__table__)
    .where(User.__table__.c.id == bindparam("user_id"))
    .values(message_count=User.__table__.c.message_count + 1)
)
_CLAIM_SESSION = (
    update(ChatSession.__table__)
    .where(ChatSession.__table__.c.id == bindparam("row_id"))
    .values(update_time=bindparam("now"), model_id=bindparam("model"), model_config_id=bindparam("config_id"))
)
_FINISH_ANSWER = (
    update(ChatMessage.__table__)
    .where(ChatMessage.__table__.c.id == bindparam("answer_id"))
    .values(
        content=bindparam("content"),
        reasoning=bindparam("reasoning"),
        status=bindparam("status"),
        finish_reason=bindparam("finish_reason"),
        prompt_tokens=bindparam("prompt_tokens"),
        completion_tokens=bindparam("completion_tokens"),
    )
)
_TOUCH_SESSION = (
    update(ChatSession.__table__)
    .where(ChatSession.__table__.c.session_id == bindparam("touched_session"))
    .values(update_time=bindparam("now"))
)


def _insert_message(connection, message: ChatMessage) -> int:
    values = {name: getattr(message, name) for name in _MESSAGE_COLUMNS}
    return connection.execute(_INSERT_MESSAGE, values).inserted_primary_key[0]


def _last_messages(session_id: str, count: int) -> list[Row]:
    """The conversation's last `count` messages, oldest first, as plain rows."""
    rows = db.session.execute(
        select(ChatMessage.id, ChatMessage.role, ChatMessage.content, ChatMessage.status)
        .where(ChatMessage.session_id == session_id)
        .order_by(ChatMessage.id.desc())
        .limit(count)
    ).all()
    return list(reversed(rows))


def prepare_turn(request: TurnRequest) -> PreparedTurn:
    """Check the turn, store the user's message and a placeholder answer, commit, and return what
    the stream needs. Raises ApiError (404 another user's or unknown session, 409 busy, 413 too
    long, 400 unknown model or bad fields) before anything is stored."""
    client_id = _check_client_id(request.client_id)
    message = _check_message(request.message) if request.kind == "chat" else None
    now = utcnow()

    if request.session_id is None:
        if request.kind != "chat" or request.edit:
            raise ApiError(404, "not_found", t("not_found"))
        _check_running_turns(_running_turns(request.user_id), None)
        model = resolve_model(request.model_ref)
        session = ChatSession(
            session_id=str(uuid.uuid4()),
            user_id=request.user_id,
            title=first_words(message),
            create_time=now,
            update_time=now,
            model_id=model.model_id,
            model_config_id=model.id,
        )
        db.session.add(session)
        db.session.flush()
        is_new = True
    else:
        session = owned_session(request.user_id, request.session_id)
        model_ref = (
            request.model_ref if request.model_ref not in (None, "") else (session.model_config_id or session.model_id)
        )
        model = resolve_model(model_ref)
        _claim_session(session, model, now)
        _check_running_turns(_running_turns(request.user_id), session.session_id)
        is_new = False

    # One read of the recent history serves both the exchange a regenerate or edit replaces and
    # the request's context; a new conversation has none to read.
    recent = [] if is_new else _last_messages(session.session_id, model.context_messages + 3)
    # Regenerate and edit replace the last exchange, but only once the new answer has arrived:
    # until then (and for good if it fails) the old one stays (SECURITY.md rule 10).
    superseded, question = _superseded_exchange(recent[-2:], request)

    # Core inserts: the unit of work would cost more than the rest of the turn's database work.
    connection = db.session.connection()
    if request.kind == "chat":
        question = ChatMessage(
            session_id=session.session_id,
            user_id=request.user_id,
            role="user",
            content=message,
            timestamp=now,
            status=DONE,
            client_id=client_id,
        )
        try:
            question.id = _insert_message(connection, question)
        except IntegrityError:
            # The same client_id arrived twice at once: the other request stores it.
            db.session.rollback()
            raise ApiError(409, "busy", t("busy")) from None
        connection.execute(_COUNT_MESSAGE, {"user_id": request.user_id})

    answer_id = _insert_message(
        connection,
        ChatMessage(
            session_id=session.session_id,
            user_id=request.user_id,
            role="assistant",
            content="",
            timestamp=now,
            status=STREAMING,
            model_id=model.model_id,
        ),
    )

    payload = _request_payload(_context(recent, superseded, question, request.kind, model), model)
    prepared = PreparedTurn(
        session_id=session.session_id,
        title=session.title,
        is_new_session=is_new,
        user_message_id=question.id,
        answer_id=answer_id,
        model_id=model.model_id,
        model_config_id=model.id,
        base_url=model.base_url,
        api_key=decrypt_key(model.api_key),
        payload=payload,
        question_text=question.content,
        superseded_ids=superseded,
    )
    db.session.commit()
    return prepared


def _superseded_exchange(last_two: list[Row], request: TurnRequest) -> tuple[list[int], Row | None]:
    """The ids a regenerate (the last answer) or an edit (the last question and its answer) will
    replace, and for a regenerate the question to answer again."""
    if request.kind == "chat" and not request.edit:
        return [], None
    last = last_two[-1] if last_two else None
    question = last_two[0] if last is not None and last.role == "assistant" and len(last_two) == 2 else last
    if question is None or question.role != "user":
        db.session.rollback()
        raise ApiError(409, "nothing_to_regenerate", t("nothing_to_regenerate"))
    answer_ids = [last.id] if last.role == "assistant" else []
    if request.kind == "regenerate":
        return answer_ids, question
    return [question.id, *answer_ids], None


def _context(recent: list[Row], superseded: list[int], question: Any, kind: str, model: Row) -> list[ChatMessage]:
    """The question plus the N earlier messages of the model's context setting; the messages
    being replaced and unfinished answers are left out."""
    earlier = [m for m in recent if m.id not in superseded and m.content and m.status != STREAMING]
    if kind == "regenerate":  # the question is the last of the recent messages
        earlier = earlier[:-1]
    kept = earlier[-model.context_messages :] if model.context_messages else []
    return [*kept, question]


def _request_payload(earlier: list[Any], model: Row) -> dict[str, Any]:
    """The chat completion request: system prompt, the context, and the model's limits."""
    messages = [{"role": "system", "content": model.system_prompt}] if model.system_prompt else []
    messages += [{"role": m.role, "content": m.content} for m in earlier]
    return {
        "model": model.model_id,
        "messages": messages,
        "max_tokens": model.max_tokens,
        "temperature": model.temperature,
        "stream_options": {"include_usage": True},
    }


def finish_answer(
    answer_id: int,
    session_id: str,
    *,
    content: str,
    reasoning: str,
    status: str,
    finish_reason: str | None,
    usage: dict[str, int] | None,
    question: tuple[int, str],
    superseded_ids: list[int] | None = None,
) -> None:
    """Store the answer, once, with what was received, and mark the conversation active now.
    A regenerated or edited exchange replaces the old one only when the new answer arrived.
    The question (id, text) is made searchable here with the answer, rather than before the first
    token, where every millisecond counts."""
    connection = db.session.connection()
    stored = connection.execute(
        _FINISH_ANSWER,
        {
            "answer_id": answer_id,
            "content": content,
            "reasoning": reasoning or None,
            "status": status,
            "finish_reason": finish_reason,
            "prompt_tokens": usage.get("prompt_tokens") if usage else None,
            "completion_tokens": usage.get("completion_tokens") if usage else None,
        },
    )
    if stored.rowcount == 0:  # the conversation was deleted while the answer streamed
        db.session.rollback()
        return
    if superseded_ids and status in (DONE, STOPPED):
        db.session.execute(
            delete(ChatMessage).where(ChatMessage.id.in_(superseded_ids), ChatMessage.session_id == session_id)
        )
    connection.execute(_TOUCH_SESSION, {"touched_session": session_id, "now": utcnow()})
    search.index_messages(connection, [question, (answer_id, content)])
    db.session.commit()


def set_generated_title(session_id: str, first_title: str, title: str) -> None:
    """Replace the first-words title, unless the user renamed the conversation meanwhile."""
    db.session.execute(
        update(ChatSession)
        .where(ChatSession.session_id == session_id, ChatSession.title == first_title)
        .values(title=title[:200])
    )
    db.session.commit()
