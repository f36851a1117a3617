"""Every frame a page may send on the websocket (API.md section 4), and the body of the SSE
endpoint, as pydantic models: one union told apart by `type`.

Anything else — not JSON, an unknown type, a field no frame has, a wrong type — is `bad_frame`,
naming the place. Whether a model exists or a message is too long is the turn's to say
(services/conversations.py), with its own codes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError

from aihelper.failures import Invalid, Term
from aihelper.i18n import N_
from aihelper.ids import ID_MAX, MESSAGE_ID_MAX
from aihelper.services.conversations import TurnRequest
from aihelper.validation import IdOrName, Shape, Text, first_problem, first_unknown, place

MAX_SEQ = 2**53  # the largest integer a page's JavaScript holds exactly
ATTACHMENTS_MAX = 100  # far beyond any per-message setting; the turn applies the setting

# A model config's id, or the provider's name of a model.
ModelRef = IdOrName
MessageId = Annotated[int, Field(ge=1, le=MESSAGE_ID_MAX, strict=True)]


class ChatBody(Shape):
    """A question: POST /api/chat/stream's body, and the websocket's `chat` frame without its type."""

    message: Text
    model_id: ModelRef | None = None
    session_id: Text | None = None  # none (or empty): a new conversation
    client_id: Text | None = None
    edit: bool = False  # a new version of a question, as a branch beside it
    message_id: MessageId | None = None  # with edit: the question to edit (default: the last)
    # Uploads (POST /api/attachments) sent with the message; the turn checks they are the user's.
    attachments: Annotated[tuple[Text, ...], Field(max_length=ATTACHMENTS_MAX)] = ()
    # A new conversation from this preset (GET /api/presets); ignored for an existing one.
    preset_id: Annotated[int, Field(ge=1, le=ID_MAX)] | None = None


class ChatFrame(ChatBody):
    type: Literal["chat"]


class RegenerateFrame(Shape):
    type: Literal["regenerate"]
    session_id: Text | None = None  # none: not_found, like an unknown one
    model_id: ModelRef | None = None
    client_id: Text | None = None
    message_id: MessageId | None = None  # the answer to regenerate (default: the last)


class ResumeFrame(Shape):
    type: Literal["resume"]
    session_id: Text
    after: Annotated[int, Field(ge=0, le=MAX_SEQ)] = 0  # the last seq the page has


class StopFrame(Shape):
    type: Literal["stop"]
    session_id: Text | None = None  # none: every answer this socket started


class PingFrame(Shape):
    type: Literal["ping"]


Frame = Annotated[ChatFrame | RegenerateFrame | ResumeFrame | StopFrame | PingFrame, Field(discriminator="type")]
_FRAME = TypeAdapter(Frame)
_CHAT_BODY = TypeAdapter(ChatBody)


def _bad_frame(error: ValidationError) -> Invalid:
    where = first_problem(error).place  # none: not a JSON object at all
    return Invalid("bad_frame", Term(N_("bad_frame_at"), where=where)) if where else Invalid(N_("bad_frame"))


def read_frame(raw: str | bytes) -> Frame:
    """A websocket text frame, parsed and checked in one pass."""
    try:
        return _FRAME.validate_json(raw)
    except ValidationError as error:
        raise _bad_frame(error) from None


def read_chat_body(body: dict) -> ChatBody:
    """The SSE endpoint's JSON body (parsed by Flask)."""
    unknown = first_unknown(ChatBody, body)
    if unknown is not None:
        raise Invalid("bad_frame", Term(N_("bad_frame_at"), where=place((unknown,))))
    try:
        return _CHAT_BODY.validate_python(body)
    except ValidationError as error:
        raise _bad_frame(error) from None


def turn_request(asked: ChatBody | RegenerateFrame, user_id: int, *, by_admin: bool) -> TurnRequest:
    """What the turn needs of a question or a regenerate frame."""
    question = asked if isinstance(asked, ChatBody) else None
    return TurnRequest(
        user_id=user_id,
        kind="chat" if question else "regenerate",
        session_id=asked.session_id or None,
        model_ref=asked.model_id,
        message=question.message if question else None,
        client_id=asked.client_id,
        edit=question.edit if question else False,
        message_id=asked.message_id,
        attachment_ids=question.attachments if question else (),
        preset_id=question.preset_id if question else None,
        by_admin=by_admin,
    )
