"""The database side of a chat turn after the provider answered: the one write that stores the
answer, whatever happened, with what the turn changes on its conversation and user, and the
generated title (DESIGN.md "the path of one message")."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from aihelper.extensions import db
from aihelper.models import ChatMessage, ChatSession, User
from aihelper.models.chat import MessageStatus
from aihelper.services import search, usage
from aihelper.services.conversations import PreparedTurn
from aihelper.services.usage import Spent
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
        usage_estimated=bindparam("usage_estimated"),
        cost=bindparam("cost"),
        currency=bindparam("currency"),
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


def finish_answer(
    turn: PreparedTurn,
    user_id: int,
    *,
    content: str,
    reasoning: str,
    status: str,
    finish_reason: str | None,
    spent: Spent,
    error_code: str | None = None,
    generation_ms: int | None = None,
) -> None:
    """Store the answer, once, with what was received and what it cost; mark the conversation
    active now with the model it used, count the user's message and add the answer to the user's
    usage of the day. The question is made searchable here with the answer, rather than before the
    first token, where every millisecond counts."""
    # A failure before any text is no answer: it costs nothing and no messages-per-day quota.
    answers = 0 if status == MessageStatus.ERROR and not content else 1
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
                "prompt_tokens": spent.prompt_tokens,
                "completion_tokens": spent.completion_tokens,
                "usage_estimated": spent.estimated,
                "cost": spent.cost,
                "currency": spent.currency,
                "error_code": error_code,
                "generation_ms": generation_ms,
            },
        )
        if stored.rowcount == 0:  # the conversation was deleted while the answer streamed
            # What was streamed was paid for all the same (deleting must not make it free), unless
            # the account went with it.
            if connection.execute(select(_users.c.id).where(_users.c.id == user_id)).first() is not None:
                usage.add_to_rollup(
                    connection, user_id=user_id, model_id=turn.model_id, answers=answers, **spent.counted()
                )
            return
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
        usage.add_to_rollup(connection, user_id=user_id, model_id=turn.model_id, answers=answers, **spent.counted())


def count_title(user_id: int, model_id: str, spent: Spent) -> None:
    """A generated title's tokens into its owner's usage of the day (no answer: 0 messages)."""
    with db.engine.begin() as connection:
        usage.add_to_rollup(connection, user_id=user_id, model_id=model_id, answers=0, **spent.counted())


def set_generated_title(session_id: str, first_title: str, title: str) -> bool:
    """Replace the first-words title, unless the user renamed the conversation meanwhile."""
    result = db.session.execute(
        update(ChatSession)
        .where(ChatSession.session_id == session_id, ChatSession.title == first_title)
        .values(title=title[:200])
    )
    db.session.commit()
    return result.rowcount > 0
