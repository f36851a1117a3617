"""What a page may send on the websocket (API.md section 4): each frame is read whole in one pass,
and anything else is `bad_frame` naming the place that is wrong."""

from __future__ import annotations

import json

import pytest

from aihelper.chat import incoming
from aihelper.errors import message_of
from aihelper.failures import Invalid
from aihelper.i18n import speaking


def refusal(frame: object) -> Invalid:
    raw = frame if isinstance(frame, str) else json.dumps(frame)
    with pytest.raises(Invalid) as refused:
        incoming.read_frame(raw)
    assert refused.value.code == "bad_frame"
    return refused.value


def test_the_frames_a_page_sends_are_read_as_their_types():
    chat = incoming.read_frame(
        '{"type": "chat", "message": "hi", "model_id": 3, "session_id": null, "client_id": "c1"}'
    )
    assert isinstance(chat, incoming.ChatFrame) and (chat.message, chat.model_id, chat.edit) == ("hi", 3, False)
    by_name = incoming.read_frame('{"type": "regenerate", "session_id": "s", "model_id": "glm-4.5"}')
    assert isinstance(by_name, incoming.RegenerateFrame) and by_name.model_id == "glm-4.5"
    assert incoming.read_frame('{"type": "resume", "session_id": "s", "after": 12}').after == 12
    assert incoming.read_frame('{"type": "stop"}').session_id is None
    assert isinstance(incoming.read_frame('{"type": "ping"}'), incoming.PingFrame)


@pytest.mark.parametrize(
    ("frame", "where"),
    [
        ({"type": "chat", "message": 42}, "chat.message"),
        ({"type": "chat", "message": "hi", "edit": 1}, "chat.edit"),
        ({"type": "chat", "message": "hi", "model_id": True}, "chat.model_id"),
        ({"type": "chat", "message": "hi", "model_id": 0}, "chat.model_id"),
        ({"type": "chat", "message": "hi", "user_id": 7}, "chat.user_id"),  # no field the frame lacks
        ({"type": "resume", "session_id": "s", "after": 2**70}, "resume.after"),
        ({"type": "resume", "after": 1}, "resume.session_id"),
        ({"type": "dance"}, "type"),
        ({"message": "hi"}, "type"),
    ],
)
def test_a_wrong_frame_is_refused_naming_the_place(app, frame, where):
    refused = refusal(frame)
    with app.app_context(), speaking("en"):
        assert message_of(refused) == f"This message could not be understood (at {where})."


@pytest.mark.parametrize(
    "raw", ["not json", "[" * 30000 + "]" * 30000, '{"type": "chat", "message": "\\ud800 lone surrogate"}']
)
def test_what_is_not_a_json_object_a_database_can_store_is_refused_as_a_whole(app, raw):
    refused = refusal(raw)
    with app.app_context(), speaking("en"):
        assert message_of(refused) == "This message could not be understood."


def test_the_stream_endpoints_body_is_a_chat_frame_without_its_type():
    asked = incoming.read_chat_body({"message": "hi", "model_id": "fake-model", "session_id": ""})
    request = incoming.turn_request(asked, 5, by_admin=False)
    assert (request.kind, request.session_id, request.model_ref, request.message) == ("chat", None, "fake-model", "hi")
    with pytest.raises(Invalid):
        incoming.read_chat_body({"message": "hi", "type": "chat"})
