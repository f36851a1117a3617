"""One chat turn end to end: prepare (database) -> stream (no database) -> persist (database).

Used by the websocket and the SSE endpoint alike. `start_turn` does the database work and starts
the generation in its own greenlet, which publishes every frame to the live hub; the connection
that asked (and any connection that resumes later) follows the hub. So the answer does not depend
on the browser: when it goes away the generation finishes (or stops, by setting) and the answer
is stored either way.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from aihelper.errors import ApiError
from aihelper.extensions import db
from aihelper.fair_db import fair_share
from aihelper.i18n import t_in
from aihelper.live import LiveGeneration, LiveHub
from aihelper.llm import Delta, Done, ProviderError, Timeouts
from aihelper.models.chat import DONE, ERROR, STOPPED
from aihelper.services import conversations
from aihelper.services.conversations import PreparedTurn, TurnRequest
from aihelper.services.provider_client import provider_client
from aihelper.services.providers import provider_error_message

log = logging.getLogger(__name__)

TITLE_PROMPT = (
    "Write a short title (at most 12 words, no quotes, no final punctuation) for a conversation "
    "that starts with the message below. Answer with the title only, in the language of the message."
)
TITLE_TIMEOUTS = Timeouts(connect=10, first_token=30, idle=30, total=45)


@dataclass
class StartedTurn:
    """What the connection that asked needs: the ids for its `start` frame."""

    session_id: str
    user_message_id: int
    answer_id: int
    model_id: str
    title: str


def live_hub() -> LiveHub:
    return current_app.extensions["live_hub"]


def start_turn(request: TurnRequest, *, language: str, request_id: str) -> StartedTurn:
    """Store the question and a placeholder answer, then generate in the background.

    Raises ApiError for a refused turn (nothing stored, no provider call)."""
    with fair_share():
        try:
            prepared = conversations.prepare_turn(request)
        finally:
            # No database connection is held while tokens flow.
            db.session.remove()
    app = current_app._get_current_object()
    generation = live_hub().begin(prepared.session_id, prepared.answer_id, request.user_id)
    if generation is None:  # the database lock makes this unreachable unless the hub lost state
        _persist(app, prepared, "", "", ERROR, None, None)
        raise ApiError(409, "busy", t_in(language, "busy"))
    threading.Thread(
        target=_generate,
        args=(app, prepared, generation, language, request_id),
        name=f"turn-{prepared.answer_id}",
        daemon=True,
    ).start()
    return StartedTurn(
        prepared.session_id, prepared.user_message_id, prepared.answer_id, prepared.model_id, prepared.title
    )


def _timeouts(app: Flask) -> Timeouts:
    config = app.config
    return Timeouts(
        connect=config["AIHELPER_TIMEOUT_CONNECT"],
        first_token=config["AIHELPER_TIMEOUT_FIRST_TOKEN"],
        idle=config["AIHELPER_TIMEOUT_BETWEEN_TOKENS"],
        total=config["AIHELPER_TIMEOUT_TOTAL"],
    )


def _generate(app: Flask, turn: PreparedTurn, generation: LiveGeneration, language: str, request_id: str) -> None:
    """Runs in its own greenlet: relay the provider's stream to the hub, then store the answer."""
    content: list[str] = []
    reasoning: list[str] = []
    status, finish_reason, usage, failure, completed = DONE, None, None, None, False
    with app.app_context():
        stream = provider_client().stream(turn.base_url, turn.api_key, turn.payload, timeouts=_timeouts(app))
        finished = threading.Event()
        threading.Thread(target=_close_on_stop, args=(generation, stream, finished), daemon=True).start()
        try:
            for event in stream:
                if isinstance(event, Delta):
                    content.append(event.content)
                    reasoning.append(event.reasoning)
                    frame = {
                        "type": "delta",
                        "session_id": turn.session_id,
                        "message_id": turn.answer_id,
                        "content": event.content,
                    }
                    if event.reasoning:
                        frame["reasoning"] = event.reasoning
                    _publish(generation, frame, turn, request_id)
                elif isinstance(event, Done):
                    finish_reason, usage, completed = event.finish_reason, event.usage, True
            if not completed:  # the stream was closed by a stop request
                status = STOPPED
        except ProviderError as error:
            status, failure = ERROR, error
            log.warning(
                "provider call for answer %s failed [request %s]: %s status=%s %s",
                turn.answer_id,
                request_id,
                error.code,
                error.status,
                error.detail,
            )
        except Exception:
            status = ERROR
            failure = None
            log.exception("turn for answer %s failed [request %s]", turn.answer_id, request_id)
        finally:
            finished.set()
            stream.close()

        answer_text, thinking = "".join(content), "".join(reasoning)
        try:
            _persist(app, turn, answer_text, thinking, status, finish_reason, usage)
        finally:
            try:
                generation.finish(_final_frame(turn, status, finish_reason, usage, failure, language, request_id))
            except Exception:
                log.exception("ending the live stream of answer %s failed [request %s]", turn.answer_id, request_id)
        if status == DONE and turn.is_new_session and app.config["AIHELPER_AUTO_TITLE"]:
            _generate_title(app, turn)


def _publish(generation: LiveGeneration, frame: dict[str, Any], turn: PreparedTurn, request_id: str) -> None:
    """Relay one frame; a failing hub (Redis gone) must not cost the answer, which is still stored."""
    try:
        generation.publish(frame)
    except Exception:
        log.exception("relaying answer %s failed [request %s]; it is still stored", turn.answer_id, request_id)


def _close_on_stop(generation: LiveGeneration, stream: Any, finished: threading.Event) -> None:
    """Closes the upstream response as soon as a stop is requested, even mid-read."""
    while not finished.is_set():
        if generation.wait_stop(0.25):
            stream.close()
            return


def _persist(app: Flask, turn: PreparedTurn, content: str, reasoning: str, status: str, finish_reason, usage) -> None:
    with app.app_context(), fair_share():
        try:
            conversations.finish_answer(
                turn.answer_id,
                turn.session_id,
                content=content,
                reasoning=reasoning,
                status=status,
                finish_reason=finish_reason,
                usage=usage,
                question=(turn.user_message_id, turn.question_text),
                superseded_ids=turn.superseded_ids,
            )
        finally:
            db.session.remove()


def _final_frame(turn: PreparedTurn, status, finish_reason, usage, failure, language, request_id) -> dict[str, Any]:
    if status == ERROR:
        if failure is not None:
            message, code = provider_error_message(failure, language), failure.code
        else:
            message, code = t_in(language, "internal_turn_error", request_id=request_id), "internal_error"
        return {
            "type": "error",
            "error": message,
            "code": code,
            "session_id": turn.session_id,
            "message_id": turn.answer_id,
        }
    return {
        "type": "done",
        "session_id": turn.session_id,
        "message_id": turn.answer_id,
        "status": status,
        "finish_reason": finish_reason,
        "usage": usage,
        "title": turn.title,
    }


def _generate_title(app: Flask, turn: PreparedTurn) -> None:
    """A short title from the same model; any failure keeps the first words as the title."""
    payload = {
        "model": turn.model_id,
        "messages": [
            {"role": "system", "content": TITLE_PROMPT},
            {"role": "user", "content": turn.question_text[:2000]},
        ],
        "max_tokens": 40,
        "temperature": 0.3,
    }
    try:
        title = provider_client().complete(turn.base_url, turn.api_key, payload, timeouts=TITLE_TIMEOUTS)
    except ProviderError as error:
        log.info("title for %s not generated: %s", turn.session_id, error.code)
        return
    # Models like to decorate: no markdown, quotes or line breaks in a title.
    title = " ".join(re.sub(r"[*_`#>]+", "", title).split()).strip("\"'“”「」《》 ")[:60]
    if not title:
        return
    with app.app_context(), fair_share():
        try:
            conversations.set_generated_title(turn.session_id, turn.title, title)
        finally:
            db.session.remove()


def turn_request_from(fields: dict[str, Any], user_id: int, *, kind: str, language: str) -> TurnRequest:
    """A TurnRequest from a websocket frame or an SSE request body; wrong types are refused."""
    session_id, model_ref = fields.get("session_id"), fields.get("model_id")
    client_id, edit, message = fields.get("client_id"), fields.get("edit", False), fields.get("message")
    if (
        (session_id is not None and not isinstance(session_id, str))
        or (model_ref is not None and not isinstance(model_ref, int | str))
        or isinstance(model_ref, bool)
        or (isinstance(model_ref, int) and not 0 < model_ref < 2**31)
        or (client_id is not None and not isinstance(client_id, str))
        or not isinstance(edit, bool)
        or (kind == "chat" and not isinstance(message, str))
        or not all(_encodable(v) for v in (session_id, model_ref, client_id, message) if isinstance(v, str))
    ):
        raise ApiError(400, "bad_frame", t_in(language, "bad_frame"))
    return TurnRequest(
        user_id=user_id,
        kind=kind,
        session_id=session_id or None,
        model_ref=model_ref,
        message=fields.get("message"),
        client_id=client_id,
        edit=edit,
    )


def _encodable(text: str) -> bool:
    """False for strings with lone surrogates, which JSON allows and no database can store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def existing_turn_frames(request: TurnRequest, language: str) -> Iterator[dict[str, Any]] | None:
    """For a repeated client_id: the frames the first request got (live if still generating)."""
    if request.client_id is None:
        return None
    with fair_share():
        existing = conversations.find_existing_turn(request.user_id, request.client_id)
        answer = conversations.stored_answer(existing.answer_id) if existing and existing.answer_id else None
    if existing is None:
        return None
    start = {
        "type": "start",
        "session_id": existing.session_id,
        "user_message_id": existing.user_message_id,
        "message_id": existing.answer_id,
        "model_id": existing.model_id,
    }
    live = (
        live_hub().follow(existing.session_id, request.user_id, 0) if answer and answer.status == "streaming" else None
    )
    stored = (
        None
        if live is not None
        else {
            "content": answer.content if answer else "",
            "status": answer.status if answer else ERROR,
            "finish_reason": answer.finish_reason if answer else None,
            "usage": _usage_of(answer),
        }
    )
    return _replay(start, live, stored, language)


def _usage_of(answer) -> dict[str, int] | None:
    if answer is None or answer.prompt_tokens is None:
        return None
    return {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens}


def _replay(start: dict[str, Any], live, stored: dict[str, Any] | None, language: str) -> Iterator[dict[str, Any]]:
    yield start
    if live is not None:
        yield from frame_data(live)
        return
    ids = {"session_id": start["session_id"], "message_id": start["message_id"]}
    if stored["content"]:
        yield {"type": "delta", **ids, "seq": 1, "content": stored["content"]}
    if stored["status"] == ERROR:
        yield {"type": "error", **ids, "error": t_in(language, "answer_failed"), "code": "answer_failed"}
        return
    yield {
        "type": "done",
        **ids,
        "status": stored["status"],
        "finish_reason": stored["finish_reason"],
        "usage": stored["usage"],
        "title": None,
    }


def frame_data(frames) -> Iterator[dict[str, Any]]:
    """The JSON frames of a hub follower; closing this closes the follower."""
    try:
        for frame in frames:
            yield frame.data
    finally:
        frames.close()
