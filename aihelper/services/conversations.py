"""The database side of a chat turn before the provider is called (DESIGN.md "the path of one
message").

Before the provider is called a turn costs three round trips on MySQL/MariaDB (two for a
regenerate), all on connections in autocommit (the `autocommit` bind), so none needs a COMMIT:

1. `plan_turn` reads the conversation (its ownership), the model with its provider and the recent
   messages of the branch shown (the context, services/branches.py) in one statement;
2. `store_turn` stores the question, then the placeholder answer (status `streaming`) that
   follows it: the answer's `parent_id` is the id the question was just given.

A new conversation adds one INSERT for its row, which must exist before its messages, and a turn
after the user switched branches one UPDATE that makes the new branch the one shown. A repeated
client_id is not looked up first: the unique constraint refuses the second INSERT, and only then
is the first turn looked up (`DuplicateClientId`). What happens after the stream is in answers.py.

Longer than most: the read and the write of one turn share its dataclasses and statements.
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Row, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from aihelper.extensions import db
from aihelper.failures import Conflict, Invalid, NotFound, TooLarge
from aihelper.i18n import N_
from aihelper.models import ApiProvider, Attachment, ChatMessage, ChatSession, ModelConfig, Preset, User
from aihelper.models.chat import MessageStatus, Role
from aihelper.models.types import Status
from aihelper.services import attached_prompt, attachments, branches, presets
from aihelper.services.autocommit import autocommit_connection, read_rows
from aihelper.services.groups import model_open_to
from aihelper.services.history import SESSION_ID_MAX
from aihelper.services.presets import TurnPreset
from aihelper.services.provider_keys import key_to_send
from aihelper.services.usage import Price
from aihelper.times import utcnow

TITLE_CHARS = 30
CLIENT_ID_MAX = 64
# Messages read with the conversation when the model's context size is not known yet: the default
# context (20) plus the last exchange that a regenerate or an edit replaces.
DEFAULT_RECENT = 23

_sessions = ChatSession.__table__
_messages = ChatMessage.__table__
_models = ModelConfig.__table__
_providers = ApiProvider.__table__
_users = User.__table__
_presets = Preset.__table__


@dataclass
class TurnRequest:
    user_id: int
    kind: str  # "chat" or "regenerate"
    session_id: str | None
    model_ref: Any  # a model config id (int) or a provider model id (str); None = the session's model
    message: str | None = None
    client_id: str | None = None
    edit: bool = False  # chat only: a new version of a question, as a branch beside it
    # The answer to regenerate, or the question to edit; None: the last of the branch shown.
    message_id: int | None = None
    attachment_ids: tuple[str, ...] = ()  # chat only: uploads sent with the message
    preset_id: int | None = None  # a new conversation only: the preset it starts from
    # Failures are explained to admins in technical terms, to everyone else as what they can do.
    by_admin: bool = False


@dataclass
class TurnPlan:
    """What `plan_turn` read: enough to store the turn and to call the provider."""

    request: TurnRequest
    session_id: str
    title: str
    is_new_session: bool
    model: TurnModel
    # The message the new question (chat) or the new answer (regenerate) follows.
    parent_id: int | None
    # The user had switched to another branch: the new turn's becomes the one shown.
    clears_selection: bool
    # The question to answer: the new message (chat) or the stored one (regenerate).
    question_id: int | None
    question_text: str
    earlier: list[_Message]  # the context before the question, oldest first
    # The question's files, and the earlier messages' (by message id) that the context holds.
    attachments: list[Attachment] = field(default_factory=list)
    earlier_attachments: dict[int, list[Attachment]] = field(default_factory=dict)
    sent_chars: dict[str, int] = field(default_factory=dict)  # of each document: what fitted
    preset: TurnPreset | None = None  # the conversation's preset, while it exists


@dataclass
class PreparedTurn:
    """A stored turn: everything the stream and the final write need, no database connection."""

    session_id: str
    title: str
    is_new_session: bool
    kind: str
    user_message_id: int
    answer_id: int
    model_id: str
    model_config_id: int
    base_url: str
    api_key: str | None = field(repr=False)
    payload: dict[str, Any] = field(repr=False)
    price: Price
    question_text: str = field(default="", repr=False)


@dataclass
class ExistingTurn:
    """A repeated client_id: the turn that message started the first time."""

    session_id: str
    user_message_id: int
    answer_id: int | None
    model_id: str | None


class DuplicateClientId(Exception):
    """The message was stored before (a resend after a reconnect): answer as the first time."""

    def __init__(self, existing: ExistingTurn) -> None:
        super().__init__(existing.session_id)
        self.existing = existing


def first_words(message: str) -> str:
    """The conversation's title until a better one is generated: the message's first words."""
    text = " ".join(message.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def check_message(message: Any) -> str:
    if not isinstance(message, str) or not message.strip():
        raise Invalid(N_("empty_message"))
    limit = current_app.config["AIHELPER_MAX_MESSAGE_CHARS"]
    if len(message) > limit:
        raise TooLarge("too_long", N_("message_too_long"), limit=str(limit))
    return message


def check_client_id(client_id: Any) -> str | None:
    if client_id is None:
        return None
    if not isinstance(client_id, str) or not 0 < len(client_id) <= CLIENT_ID_MAX:
        raise Invalid(N_("invalid_client_id"))
    return client_id


# --- 1. the read -------------------------------------------------------------------------------

# An enabled model of an enabled provider that the user (`user_id`) may use, with what a turn
# needs of both. A model closed to the user is not found, like one that does not exist.
_usable_models = (
    select(
        _models.c.id,
        _models.c.model_id,
        _models.c.system_prompt,
        _models.c.max_tokens,
        _models.c.temperature,
        _models.c.context_messages,
        _models.c.sort_order,
        _models.c.price_input,
        _models.c.price_output,
        _models.c.currency,
        _models.c.vision,
        _models.c.context_window,
        _providers.c.base_url,
        _providers.c.api_key,
    )
    .join(_providers, _providers.c.id == _models.c.provider_id)
    .where(
        _models.c.status == Status.ACTIVE,
        _providers.c.status == Status.ACTIVE,
        model_open_to(_models.c.id, bindparam("user_id")),
    )
    .subquery("model")
)
_MODEL_COLUMNS = [column.label(f"m_{column.name}") for column in _usable_models.c]

# How many recent messages each model's context needs, learnt from the reads, by the model's own id
# or model_id as stored (so there are as many entries as models). It only saves rows: a larger
# need found in a read is met by a second read.
_recent_needed: dict[tuple[str, Any], int] = {}


@dataclass(frozen=True)
class TurnModel:
    id: int
    model_id: str
    system_prompt: str | None
    max_tokens: int
    temperature: float
    context_messages: int
    base_url: str
    api_key: str | None = field(repr=False)  # the plain key: never in a repr, which may be logged
    price: Price
    vision: bool = False
    context_window: int = 32768


@dataclass(frozen=True)
class _Message:
    id: int
    role: str
    content: str
    status: str
    attachment_count: int = 0
    parent_id: int | None = None


def _model_match(named_by: str):
    """The join condition for the model a request names by its config `id` or provider `model_id`
    (the `model_ref` parameter), or, for "own", the conversation's own model."""
    if named_by == "id":
        return _usable_models.c.id == bindparam("model_ref")
    if named_by == "model_id":
        return _usable_models.c.model_id == bindparam("model_ref")
    return or_(
        _usable_models.c.id == _sessions.c.model_config_id,
        and_(_sessions.c.model_config_id.is_(None), _usable_models.c.model_id == _sessions.c.model_id),
    )


def _named_by(model_ref: Any) -> tuple[str, Any]:
    if isinstance(model_ref, int) and not isinstance(model_ref, bool):
        return "id", model_ref
    if isinstance(model_ref, str) and model_ref.strip():
        return "model_id", model_ref.strip()
    return "own", None


def _model_of(rows: list[Row]) -> TurnModel:
    """The first model in sort order among the rows (several providers may serve one model id).
    Its provider's key is decrypted here, so that a key to enter again refuses the turn before
    anything is stored."""
    candidates = [row for row in rows if row.m_id is not None]
    if not candidates:
        raise Invalid(N_("model_unavailable"))
    row = min(candidates, key=lambda r: (r.m_sort_order, r.m_id))
    return TurnModel(
        row.m_id,
        row.m_model_id,
        row.m_system_prompt,
        row.m_max_tokens,
        row.m_temperature,
        row.m_context_messages,
        row.m_base_url,
        key_to_send(row.m_api_key, N_("model_key_needs_reentry")),
        Price(row.m_price_input, row.m_price_output, row.m_currency),
        bool(row.m_vision),
        row.m_context_window,
    )


def plan_turn(request: TurnRequest) -> TurnPlan:
    """Check the turn and read what it needs, in one round trip. Raises NotFound (another user's
    or an unknown conversation), TooLarge (too long), Invalid (an unknown model, bad fields) or
    Conflict (nothing to regenerate, a provider key to enter again) before anything is stored;
    DuplicateClientId for a message with files sent before."""
    check_client_id(request.client_id)
    message = _checked_question(request) if request.kind == "chat" else None
    if request.session_id is None:
        if request.kind != "chat" or request.edit:
            raise NotFound(N_("not_found"))
        return _plan_new_conversation(request, message)

    session_id = request.session_id
    if not 0 < len(session_id) <= SESSION_ID_MAX:
        raise NotFound("not_found", N_("session_not_found"))
    named_by, model_ref = _named_by(request.model_ref)
    wanted = _recent_needed.get((named_by, model_ref), DEFAULT_RECENT)
    anchor = _anchor_of(request)
    rows = read_rows(
        _CONVERSATION_READS[named_by],
        {
            "session_id": session_id,
            "user_id": request.user_id,
            "model_ref": model_ref,
            "recent_count": wanted,
            "anchor_id": anchor,
        },
    )
    # MySQL's collation ignores case and trailing spaces; only the exact id counts, as on SQLite.
    if not rows or rows[0].session_id != session_id:
        raise NotFound("not_found", N_("session_not_found"))
    model = _model_of(rows)
    needed = model.context_messages + 3
    if named_by != "own":
        _recent_needed[(named_by, model.id if named_by == "id" else model.model_id)] = needed
    by_id = {row.r_id: row for row in rows if row.r_id is not None}
    recent = [
        _Message(r.r_id, r.r_role, r.r_content, r.r_status, r.r_attachment_count, r.r_parent_id)
        for r in sorted(by_id.values(), key=lambda r: r.r_depth, reverse=True)
    ]
    if needed > wanted and len(recent) == wanted:
        recent = _recent_messages(session_id, recent[-1].id, needed)
    if anchor is not None and not recent:
        raise NotFound("not_found", N_("message_not_found"))

    # An edit or a regenerate is a new branch beside the message it redoes: nothing is replaced,
    # and a failed attempt leaves the earlier one as it was (SECURITY.md rule 10).
    parent_id, question, redone = _branch_point(recent, request)
    earlier = [m for m in recent[:redone] if (m.content or m.attachment_count) and m.status != MessageStatus.STREAMING]
    earlier = earlier[-model.context_messages :] if model.context_messages else []
    plan = TurnPlan(
        request=request,
        session_id=session_id,
        title=rows[0].title,
        is_new_session=False,
        model=model,
        parent_id=parent_id,
        clears_selection=rows[0].selected_leaf_id is not None,
        question_id=question.id if question is not None else None,
        question_text=question.content if question is not None else message,
        earlier=earlier,
        preset=TurnPreset(rows[0].p_id, rows[0].p_system_prompt, rows[0].p_temperature) if rows[0].p_id else None,
    )
    edited = recent[redone] if request.edit else None
    _plan_attachments(plan, edited)
    return plan


def _anchor_of(request: TurnRequest) -> int | None:
    """Where the turn's branch is read from: the message a regenerate or an edit names, else the
    end of the branch shown (None)."""
    if request.kind == "chat" and not request.edit:
        return None
    return request.message_id


def _checked_question(request: TurnRequest) -> str:
    """The message of a chat turn; one that only sends files may have no text."""
    if request.attachment_ids and isinstance(request.message, str) and not request.message.strip():
        return ""
    return check_message(request.message)


def _plan_attachments(plan: TurnPlan, edited: _Message | None) -> None:
    """The files the turn sends: the new question's uploads, or for a regenerate the ones the
    question had (for an edit that brings none, copies of the edited question's); and those of the
    earlier messages in its context. An image for a model that reads none is refused here, before
    anything is stored or sent."""
    request = plan.request
    if request.attachment_ids:
        try:
            plan.attachments = attachments.unsent(request.user_id, request.attachment_ids)
        except NotFound:
            # Sent already: by this very message, sent again after a reconnect, it is answered as then.
            existing = find_existing_turn(request.user_id, request.client_id)
            if existing is None:
                raise
            raise DuplicateClientId(existing) from None
    elif plan.question_id is not None:
        plan.attachments = attachments.of_messages([plan.question_id]).get(plan.question_id, [])
    elif edited is not None and edited.attachment_count:
        originals = attachments.of_messages([edited.id]).get(edited.id, [])
        plan.attachments = attachments.copies(request.user_id, originals)
    with_files = [m.id for m in plan.earlier if m.attachment_count]
    plan.earlier_attachments = attachments.of_messages(with_files)
    if any(a.kind == attachments.IMAGE for a in plan.attachments) and not plan.model.vision:
        raise Invalid("model_no_vision", N_("model_no_vision"))


_BRANCH_COLUMNS = (
    _messages.c.id,
    _messages.c.role,
    _messages.c.content,
    _messages.c.status,
    _messages.c.attachment_count,
    _messages.c.parent_id,
)
# Where a turn's branch ends: the message it names, else the branch the user chose, else the
# newest message's.
_BRANCH_END = func.coalesce(
    bindparam("anchor_id", type_=_messages.c.id.type),
    select(_sessions.c.selected_leaf_id).where(_sessions.c.session_id == bindparam("session_id")).scalar_subquery(),
    select(func.max(_messages.c.id)).where(_messages.c.session_id == bindparam("session_id")).scalar_subquery(),
)


def _branch_messages(end, columns):
    """A SELECT of `columns` (with the path's `depth`) of the last `recent_count` messages of the
    branch ending at `end`."""
    path = branches.ancestors(end, bindparam("session_id"), bindparam("recent_count"))
    return select(*columns, path.c.depth.label("r_depth")).join(path, path.c.id == _messages.c.id)


_BRANCH_READ = _branch_messages(bindparam("end_id"), _BRANCH_COLUMNS)


def _conversation_statement(named_by: str):
    """The conversation (if it is the user's), its preset, the model the turn uses and the recent
    messages of its branch, as rows of (conversation, preset, model candidate, message)."""
    recent = _branch_messages(
        _BRANCH_END, [_messages.c.session_id.label("r_session_id"), *(c.label(f"r_{c.name}") for c in _BRANCH_COLUMNS)]
    ).subquery("recent")
    preset = (
        _presets.c.id.label("p_id"),
        _presets.c.system_prompt.label("p_system_prompt"),
        _presets.c.temperature.label("p_temperature"),
    )
    return (
        select(
            _sessions.c.session_id, _sessions.c.title, _sessions.c.selected_leaf_id, *preset, *_MODEL_COLUMNS, *recent.c
        )
        .select_from(
            _sessions.outerjoin(_usable_models, _model_match(named_by))
            .outerjoin(recent, recent.c.r_session_id == _sessions.c.session_id)
            .outerjoin(_presets, _presets.c.id == _sessions.c.preset_id)
        )
        .where(_sessions.c.session_id == bindparam("session_id"), _sessions.c.user_id == bindparam("user_id"))
    )


# Built once: building a statement this size costs more than the database takes to run it.
_CONVERSATION_READS = {named_by: _conversation_statement(named_by) for named_by in ("id", "model_id", "own")}
_MODEL_READS = {
    named_by: select(*_MODEL_COLUMNS)
    .where(_model_match(named_by))
    .order_by(_usable_models.c.sort_order, _usable_models.c.id)
    .limit(1)
    for named_by in ("id", "model_id")
}


def _recent_messages(session_id: str, end_id: int, count: int) -> list[_Message]:
    rows = read_rows(_BRANCH_READ, {"session_id": session_id, "end_id": end_id, "recent_count": count})
    return [_Message(*row[:-1]) for row in sorted(rows, key=lambda row: row.r_depth, reverse=True)]


def _plan_new_conversation(request: TurnRequest, message: str) -> TurnPlan:
    preset = None
    if request.preset_id is not None:
        preset = presets.preset_for_turn(request.user_id, request.by_admin, request.preset_id)
    model_ref = request.model_ref
    if model_ref is None and preset is not None:  # the page named no model: the preset's
        model_ref = preset.model_config_id
    named_by, model_ref = _named_by(model_ref)
    if named_by == "own":  # a new conversation has no model of its own yet
        raise Invalid(N_("model_unavailable"))
    model = _model_of(read_rows(_MODEL_READS[named_by], {"model_ref": model_ref, "user_id": request.user_id}))
    plan = TurnPlan(
        request=request,
        session_id=str(uuid.uuid4()),
        title=first_words(message),
        is_new_session=True,
        model=model,
        parent_id=None,
        clears_selection=False,
        question_id=None,
        question_text=message,
        earlier=[],
        preset=preset,
    )
    _plan_attachments(plan, None)
    if not message:
        plan.title = first_words(", ".join(a.name for a in plan.attachments))
    return plan


def _branch_point(recent: list[_Message], request: TurnRequest) -> tuple[int | None, _Message | None, int]:
    """Where the turn's new message goes in the tree: the message it follows, the question a
    regenerate answers again, and how many of `recent` (the branch up to the anchor) come before
    what the turn redoes. A new question follows the end of the branch; a regenerated answer is a
    sibling of the answer (or the first answer of a question left without one); an edited
    question a sibling of the question."""
    if request.kind == "chat" and not request.edit:
        return (recent[-1].id if recent else None), None, len(recent)
    last = recent[-1] if recent else None
    # The anchor is an answer (its question is redone) or a question; an edit names a question.
    question_at = len(recent) - (2 if last is not None and last.role == Role.ASSISTANT else 1)
    named_answer = request.edit and request.message_id is not None and last is not None and last.role != Role.USER
    if question_at < 0 or recent[question_at].role != Role.USER or named_answer:
        raise Conflict(N_("nothing_to_regenerate"))
    question = recent[question_at]
    if request.kind == "regenerate":
        return question.id, question, question_at
    return question.parent_id, None, question_at


# --- 2. the write ------------------------------------------------------------------------------


def store_turn(plan: TurnPlan) -> PreparedTurn:
    """Store the question (chat) and the placeholder answer that follows it (plus the new
    conversation's row, and clearing a branch the user had switched to: the new turn's is shown).
    Raises DuplicateClientId for a message stored before."""
    request, model, now = plan.request, plan.model, utcnow()
    messages = _prompt_messages(plan)  # reads the files first: one gone refuses the turn, storing nothing
    rows = []
    if request.kind == "chat":
        rows.append(
            _message_row(
                plan,
                Role.USER,
                plan.question_text,
                MessageStatus.DONE,
                now,
                client_id=request.client_id,
                attachment_count=len(plan.attachments),
                parent_id=plan.parent_id,
            )
        )
    lease = now + timedelta(seconds=current_app.config["AIHELPER_ANSWER_LEASE_SECONDS"])
    rows.append(
        _message_row(plan, Role.ASSISTANT, "", MessageStatus.STREAMING, now, model_id=model.model_id, lease_until=lease)
    )
    with autocommit_connection() as connection:
        if plan.is_new_session:
            connection.execute(
                _INSERT_SESSION,
                {
                    "session_id": plan.session_id,
                    "user_id": request.user_id,
                    "title": plan.title,
                    "create_time": now,
                    "update_time": now,
                    "model_id": model.model_id,
                    "model_config_id": model.id,
                    "pinned": False,
                    "preset_id": plan.preset.id if plan.preset else None,
                },
            )
        try:
            ids = _insert_messages(connection, rows, plan.parent_id)
            if plan.clears_selection:
                connection.execute(_SHOW_NEWEST, {"shown_session": plan.session_id})
        except Exception as error:
            if plan.is_new_session:  # nothing of the conversation may stay behind
                with suppress(DBAPIError):
                    connection.execute(delete(_sessions).where(_sessions.c.session_id == plan.session_id))
            if not isinstance(error, IntegrityError):
                raise
            existing = find_existing_turn(request.user_id, request.client_id) if request.client_id else None
            if existing is None:
                raise NotFound("not_found", N_("session_not_found")) from None  # deleted meanwhile
            raise DuplicateClientId(existing) from None
    question_id = ids[Role.USER] if request.kind == "chat" else plan.question_id
    if plan.attachments:
        _link_attachments(plan, question_id)
    return PreparedTurn(
        session_id=plan.session_id,
        title=plan.title,
        is_new_session=plan.is_new_session,
        kind=request.kind,
        user_message_id=question_id,
        answer_id=ids[Role.ASSISTANT],
        model_id=model.model_id,
        model_config_id=model.id,
        base_url=model.base_url,
        api_key=model.api_key,
        payload={
            "model": model.model_id,
            "messages": messages,
            "max_tokens": model.max_tokens,
            "temperature": _temperature(plan),
            "stream_options": {"include_usage": True},
        },
        price=model.price,
        question_text=plan.question_text,
    )


def _temperature(plan: TurnPlan) -> float:
    if plan.preset is not None and plan.preset.temperature is not None:
        return plan.preset.temperature
    return plan.model.temperature


def _system_prompt(plan: TurnPlan) -> str:
    """The model's system prompt (the admin's rules) and then the preset's, in one message: several
    chat templates (vLLM's, Ollama's for some models) refuse a second system message."""
    preset_prompt = plan.preset.system_prompt if plan.preset is not None else None
    return "\n\n".join(prompt for prompt in (plan.model.system_prompt, preset_prompt) if prompt)


def _prompt_messages(plan: TurnPlan) -> list[dict[str, Any]]:
    """The request's messages: the system prompt, the context, the question; the files' text and
    images where they came (attached_prompt), the question's first in the context's budget."""
    model = plan.model
    system_prompt = _system_prompt(plan)
    system = [{"role": Role.SYSTEM, "content": system_prompt}] if system_prompt else []
    budget = attached_prompt.budget_for(
        model.context_window,
        model.max_tokens,
        [system_prompt, plan.question_text, *(m.content for m in plan.earlier)],
    )
    question = attached_prompt.content(plan.question_text, plan.attachments, budget, vision=model.vision)
    earlier = {}
    for message in reversed(plan.earlier):  # the newest earlier documents before the oldest
        files = plan.earlier_attachments.get(message.id, [])
        earlier[message.id] = attached_prompt.content(message.content, files, budget, vision=model.vision)
    plan.sent_chars = budget.sent
    context = [{"role": m.role, "content": earlier[m.id]} for m in plan.earlier]
    return [*system, *context, {"role": Role.USER, "content": question}]


def _link_attachments(plan: TurnPlan, question_id: int) -> None:
    """The question's files belong to it from now on, with how much of each the model was sent."""
    rows = [
        {
            "attachment_id": a.id,
            "question_id": question_id,
            "owner": plan.request.user_id,
            "sent": plan.sent_chars.get(a.id),
            "position": position,
            "previous": a.message_id,
        }
        for position, a in enumerate(plan.attachments)
    ]
    with autocommit_connection() as connection:
        connection.execute(_LINK_ATTACHMENT, rows)


_attachments = Attachment.__table__
# Only from where the turn found it (unsent, or its question's): a turn sending the same upload at
# the same moment does not take it too.
_LINK_ATTACHMENT = (
    _attachments.update()
    .where(
        _attachments.c.id == bindparam("attachment_id"),
        _attachments.c.user_id == bindparam("owner"),
        or_(
            _attachments.c.message_id.is_(None) & bindparam("previous").is_(None),
            _attachments.c.message_id == bindparam("previous"),
        ),
    )
    .values(message_id=bindparam("question_id"), sent_chars=bindparam("sent"), position=bindparam("position"))
)


def _message_row(plan: TurnPlan, role: str, content: str, status: str, now, **extra: Any) -> dict[str, Any]:
    return {
        "session_id": plan.session_id,
        "user_id": plan.request.user_id,
        "role": role,
        "content": content,
        "timestamp": now,
        "status": status,
        "client_id": None,
        "model_id": None,
        "lease_until": None,
        "attachment_count": 0,
        "parent_id": None,
        **extra,
    }


# Statements built once: compiling an INSERT costs more than running it.
_INSERT_SESSION = insert(_sessions)
_INSERT_MESSAGE = insert(_messages)
_SHOW_NEWEST = (
    update(_sessions).where(_sessions.c.session_id == bindparam("shown_session")).values(selected_leaf_id=None)
)


def _insert_messages(connection: Connection, rows: list[dict[str, Any]], parent_id: int | None) -> dict[str, int]:
    """Insert the rows in order, each following the one before (the first `parent_id`): one
    statement each, since a row's parent is the id the one before it was given."""
    ids: dict[str, int] = {}
    for row in rows:
        ids[row["role"]] = parent_id = connection.execute(
            _INSERT_MESSAGE, {**row, "parent_id": parent_id}
        ).inserted_primary_key[0]
    return ids


# --- a repeated client_id -------------------------------------------------------------------------


def find_existing_turn(user_id: int, client_id: str | None) -> ExistingTurn | None:
    if client_id is None:
        return None
    question = db.session.execute(
        select(ChatMessage.id, ChatMessage.session_id).where(
            ChatMessage.user_id == user_id, ChatMessage.client_id == client_id
        )
    ).first()
    if question is None:
        return None
    answer = db.session.execute(  # its first answer: regenerated ones are its later children
        select(ChatMessage.id, ChatMessage.model_id)
        .where(ChatMessage.session_id == question.session_id, ChatMessage.parent_id == question.id)
        .where(ChatMessage.role == Role.ASSISTANT)
        .order_by(ChatMessage.id)
        .limit(1)
    ).first()
    return ExistingTurn(
        question.session_id, question.id, answer.id if answer else None, answer.model_id if answer else None
    )


def stored_answer(answer_id: int) -> ChatMessage | None:
    return db.session.get(ChatMessage, answer_id)
