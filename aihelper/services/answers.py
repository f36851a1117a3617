"""The database side of a chat turn after the provider answered: the one write that stores the
answer, whatever happened, with what the turn changes on its conversation and user, and the
generated title (DESIGN.md "the path of one message")."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, update

from aihelper.extensions import db
from aihelper.models import ChatMessage, ChatSession, User
from aihelper.models.chat import MessageStatus
from aihelper.services import search
from aihelper.services.conversations import PreparedTurn
from aihelper.times import utcnow

_sessions = ChatSession.__table__
_messages = ChatMessage.__table__
_users = User.__table__

_FINISH_ANSWER = (
    update(_messages)
    .where(_messages.c.id == bindparam("answer_id"))
    .values(
        content=bindparam("content"),
        reasoning=bindparam("reasoning"),
        status=bindparam("status"),
        finish_reason=bindparam("finish_reason"),
        prompt_tokens=bindparam("prompt_tokens"),
        completion_tokens=bindparam("completion_tokens"),
        error_code=bindparam("error_code"),
        generation_ms=bindparam("generation_ms"),
        lease_until=None,
    )
)
_TOUCH_SESSION = (
    update(_sessions)
    .where(_sessions.c.session_id == bindparam("touched_session"))
    .values(update_time=bindparam("now"), model_id=bindparam("model"), model_config_id=bindparam("config_id"))
)
_COUNT_MESSAGE = (
    update(_users).where(_users.c.id == bindparam("counted_user")).values(message_count=_users.c.message_count + 1)
)
_DELETE_SUPERSEDED = delete(_messages).where(
    _messages.c.id.in_(bindparam("superseded", expanding=True)), _messages.c.session_id == bindparam("kept_session")
)


def finish_answer(
    turn: PreparedTurn,
    user_id: int,
    *,
    content: str,
    reasoning: str,
    status: str,
    finish_reason: str | None,
    usage: dict[str, int] | None,
    error_code: str | None = None,
    generation_ms: int | None = None,
) -> None:
    """Store the answer, once, with what was received; mark the conversation active now with the
    model it used, and count the user's message. A regenerated or edited exchange replaces the
    old one only when the new answer arrived. The question is made searchable here with the
    answer, rather than before the first token, where every millisecond counts."""
    with db.engine.begin() as connection:  # Core: the ORM session would add work and nothing else
        if turn.kind == "chat":
            connection.execute(_COUNT_MESSAGE, {"counted_user": user_id})
        stored = connection.execute(
            _FINISH_ANSWER,
            {
                "answer_id": turn.answer_id,
                "content": content,
                "reasoning": reasoning or None,
                "status": status,
                "finish_reason": finish_reason,
                "prompt_tokens": usage.get("prompt_tokens") if usage else None,
                "completion_tokens": usage.get("completion_tokens") if usage else None,
                "error_code": error_code,
                "generation_ms": generation_ms,
            },
        )
        if stored.rowcount == 0:  # the conversation was deleted while the answer streamed
            return
        if turn.superseded_ids and status in (MessageStatus.DONE, MessageStatus.STOPPED):
            connection.execute(_DELETE_SUPERSEDED, {"superseded": turn.superseded_ids, "kept_session": turn.session_id})
        connection.execute(
            _TOUCH_SESSION,
            {
                "touched_session": turn.session_id,
                "now": utcnow(),
                "model": turn.model_id,
                "config_id": turn.model_config_id,
            },
        )
        search.index_messages(connection, [(turn.user_message_id, turn.question_text), (turn.answer_id, content)])


def set_generated_title(session_id: str, first_title: str, title: str) -> bool:
    """Replace the first-words title, unless the user renamed the conversation meanwhile."""
    result = db.session.execute(
        update(ChatSession)
        .where(ChatSession.session_id == session_id, ChatSession.title == first_title)
        .values(title=title[:200])
    )
    db.session.commit()
    return result.rowcount > 0
