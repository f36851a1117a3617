"""One chat turn end to end, for the websocket and the SSE endpoint alike:

prepare (database) -> stream (no database) -> persist (database).

`open_turn` reads what the turn needs, claims the conversation in the live hub (one answer per
conversation, a few per user, across workers), stores the question and a placeholder answer and
starts the generation in its own greenlet. The generation turns each piece the provider sends into
one delta frame on its live feed; whoever follows the feed (the socket that asked, a page that
resumes, the SSE response) reads it at its own pace. So the answer does not depend on the browser:
when it goes away the generation finishes (or stops, by setting) and the answer is stored either
way, once. A new conversation then gets a generated title, announced to the user's open pages.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext
from sqlalchemy.exc import DBAPIError

from aihelper.chat import frames, spool
from aihelper.chat.frames import Frame
from aihelper.errors import database_unreachable, lost_to_another_transaction
from aihelper.extensions import db
from aihelper.failures import Conflict, TooMany, Unavailable
from aihelper.fair_db import fair_share
from aihelper.i18n import N_, speaking
from aihelper.live import Cursor, LiveGeneration, Refused, live_hub
from aihelper.live.base import Feed, Waker
from aihelper.llm import Delta, Done, ProviderError, Timeouts
from aihelper.models.chat import MessageStatus, Role
from aihelper.services import answers, conversations
from aihelper.services.conversations import DuplicateClientId, ExistingTurn, PreparedTurn, TurnRequest
from aihelper.services.provider_client import provider_client
from aihelper.services.provider_failures import failure_explained, provider_error_message
from aihelper.services.quotas import QuotaExceeded, check_quota
from aihelper.services.usage import NOTHING, Spent, usage_of
from aihelper.telemetry import metrics
from aihelper.telemetry.turn_report import TurnReport, report

log = logging.getLogger(__name__)

TITLE_PROMPT = (
    "Write a short title (at most 12 words, no quotes, no final punctuation) for a conversation "
    "that starts with the message below. Answer with the title only, in the language of the message."
)
TITLE_TIMEOUTS = Timeouts(connect=10, first_token=30, idle=30, total=45)
GENERATED_TITLE_MAX = 60
# Far more than a title's reply takes: a provider that ignores max_tokens and sends megabytes gets
# no title (the first words stay) instead of holding the worker while they are parsed and cleaned.
TITLE_REPLY_BYTES = 64 * 1024
_REFUSALS = {N_("busy"): Conflict, N_("too_many_turns"): TooMany}


@dataclass
class OpenedTurn:
    """What the connection that asked sends first, and how it follows the answer from there."""

    start: Frame
    follow: Callable[[Waker], Cursor]

    @property
    def session_id(self) -> str:
        return self.start.session_id


def open_turn(request: TurnRequest, *, language: str, request_id: str) -> OpenedTurn:
    """Store the question and a placeholder answer, then generate in the background.

    Raises a Failure for a refused turn (nothing stored, no provider call). A message sent again
    with the same client_id is answered as the first time: live if it is still being generated."""
    if current_app.extensions["drain"].draining:
        raise Unavailable(N_("server_restarting"))
    hub = live_hub()
    try:
        with fair_share():
            plan = conversations.plan_turn(request)
    except DuplicateClientId as duplicate:
        return _replay(duplicate.existing, request, language)
    with fair_share():
        exceeded = _quota_exceeded(request.user_id)  # before anything is stored or sent to the provider
        # A message sent again (a reconnect) may have been answered before the limit was reached.
        existing = conversations.find_existing_turn(request.user_id, request.client_id) if exceeded else None
    if exceeded is not None:
        if existing is None:
            raise exceeded
        return _replay(existing, request, language)
    try:
        generation = hub.begin(
            plan.session_id,
            request.user_id,
            client_id=request.client_id,
            max_running=current_app.config["AIHELPER_MAX_RUNNING_TURNS"],
        )
    except Refused as refused:
        if refused.code == "busy" and request.client_id and refused.running_client_id == request.client_id:
            with fair_share():
                existing = conversations.find_existing_turn(request.user_id, request.client_id)
            if existing is not None:
                return _replay(existing, request, language)
        raise _REFUSALS[refused.code](refused.code) from None
    try:
        with fair_share():
            turn = conversations.store_turn(plan)
    except DuplicateClientId as duplicate:
        generation.abandon()
        return _replay(duplicate.existing, request, language)
    except BaseException:
        generation.abandon()
        raise
    finally:
        db.session.remove()  # no database connection is held while tokens flow
    app = current_app._get_current_object()
    threading.Thread(
        target=_generate,
        args=(app, turn, generation, request, language, request_id),
        name=f"turn-{turn.answer_id}",
        daemon=True,
    ).start()
    start = frames.start(turn.session_id, turn.user_message_id, turn.answer_id, turn.model_id, request.client_id)
    return OpenedTurn(start, lambda waker: generation.follow(0, waker))


def _quota_exceeded(user_id: int) -> QuotaExceeded | None:
    try:
        check_quota(user_id)
    except QuotaExceeded as exceeded:
        return exceeded
    return None


def _timeouts(app: Flask) -> Timeouts:
    config = app.config
    return Timeouts(
        connect=config["AIHELPER_TIMEOUT_CONNECT"],
        first_token=config["AIHELPER_TIMEOUT_FIRST_TOKEN"],
        idle=config["AIHELPER_TIMEOUT_BETWEEN_TOKENS"],
        total=config["AIHELPER_TIMEOUT_TOTAL"],
    )


def _generate(
    app: Flask, turn: PreparedTurn, generation: LiveGeneration, request: TurnRequest, language: str, request_id: str
) -> None:
    """Runs in its own greenlet: relay the provider's stream to the live feed, then store the answer."""
    content: list[str] = []
    reasoning: list[str] = []
    status, finish_reason, usage, failure, completed = MessageStatus.DONE, None, None, None, False
    user_id, started, first_piece_at = request.user_id, time.monotonic(), None
    checkpoints = app.extensions["checkpoints"]
    checkpoints.track(turn.answer_id, content, reasoning)
    with app.app_context():
        stream = provider_client().stream(turn.base_url, turn.api_key, turn.payload, timeouts=_timeouts(app))
        # A stop (from any worker) cuts the provider's connection, which ends the loop below at once.
        generation.when_stopped(stream.close)
        metrics.RUNNING_GENERATIONS.inc()
        try:
            for event in stream:
                if isinstance(event, Delta):
                    if first_piece_at is None:
                        first_piece_at = time.monotonic()
                    content.append(event.content)
                    reasoning.append(event.reasoning)
                    for piece, thinking in frames.split_text(event.content, event.reasoning):
                        generation.publish(
                            frames.delta(turn.session_id, turn.answer_id, generation.next_seq, piece, thinking)
                        )
                elif isinstance(event, Done):
                    finish_reason, usage, completed = event.finish_reason, event.usage, True
            if not completed:  # the stream was closed by a stop request, or by a restart
                status = MessageStatus.ERROR if generation.interrupted else MessageStatus.STOPPED
        except ProviderError as error:
            status, failure = MessageStatus.ERROR, error
            metrics.PROVIDER_ERRORS.labels(error.code).inc()
            log.warning(
                "provider call for answer %s failed [request %s]: %s status=%s %s",
                turn.answer_id,
                request_id,
                error.code,
                error.status,
                error.detail,
            )
        except Exception:
            status = MessageStatus.ERROR
            log.exception("turn for answer %s failed [request %s]", turn.answer_id, request_id)
        finally:
            stream.close()

        stored = False
        answer, thought = "".join(content), "".join(reasoning)
        # A call that failed before anything arrived (a refused key, no connection) cost nothing.
        nothing_came = failure and not (answer or thought or usage)
        spent = Spent.of(NOTHING if nothing_came else usage_of(usage, turn.payload, answer + thought), turn.price)
        ended = {
            "status": status,
            "finish_reason": "interrupted" if generation.interrupted else finish_reason,
            "error_code": _failure_code(status, failure, generation),
            "generation_ms": round((time.monotonic() - started) * 1000),
        }
        try:
            stored = _store_despite_outages(
                app, turn, generation, user_id, {"content": answer, "reasoning": thought, "spent": spent, **ended}
            )
        finally:
            metrics.RUNNING_GENERATIONS.dec()
            checkpoints.forget(turn.answer_id)
            db.session.remove()
            if stored:
                final = _final_frame(
                    turn, generation, status, finish_reason, usage, failure, request, language, request_id
                )
            else:  # never `done` for an answer that is not stored
                with speaking(language):
                    unavailable = gettext("database_unavailable")
                final = frames.error(
                    unavailable,
                    "database_unavailable",
                    session_id=turn.session_id,
                    message_id=turn.answer_id,
                    client_id=generation.client_id,
                    seq=generation.next_seq,
                )
            generation.finish(final)
            report(
                TurnReport(
                    request_id=request_id,
                    user_id=user_id,
                    model=turn.model_id,
                    status="interrupted" if generation.interrupted else status,
                    finish_reason=ended["finish_reason"],
                    error_code=ended["error_code"],
                    ttft_ms=round((first_piece_at - started) * 1000) if first_piece_at is not None else None,
                    duration_ms=ended["generation_ms"],
                    prompt_tokens=spent.prompt_tokens,
                    completion_tokens=spent.completion_tokens,
                    stored=stored,
                )
            )
        if status == MessageStatus.DONE and turn.is_new_session and app.config["AIHELPER_AUTO_TITLE"]:
            _generate_title(turn, user_id)


# Storing an answer while the database is away: retried after 0.5 s, 1 s, 2 s, … at most 5 s apart.
STORE_RETRY_FIRST, STORE_RETRY_LONGEST = 0.5, 5.0


def _store_despite_outages(
    app: Flask, turn: PreparedTurn, generation: LiveGeneration, user_id: int, fields: dict[str, Any]
) -> bool:
    """Store the answer; while the database is unreachable it is tried again, for up to
    AIHELPER_STORE_RETRY_SECONDS (the answer's text waits in memory meanwhile, and its page gets
    no `done` before it is stored), then kept in the spool for a worker to store later. True when
    it is stored now."""
    give_up = time.monotonic() + app.config["AIHELPER_STORE_RETRY_SECONDS"]
    wait = STORE_RETRY_FIRST
    answer_id = turn.answer_id
    while True:
        try:
            with fair_share():
                answers.finish_answer(turn, user_id, **fields)
            return True
        except DBAPIError as error:
            db.session.remove()
            # Another answer of the user's finishing at once (InnoDB chose this one to roll back).
            if lost_to_another_transaction(error) and time.monotonic() < give_up:
                log.info("answer %s lost a deadlock; stored again", answer_id)
                continue
            if not database_unreachable(error):
                raise
            if time.monotonic() + wait > give_up:
                spool.keep(app, turn, user_id, fields)
                return False
            if wait == STORE_RETRY_FIRST:  # the page says "saving…" until done
                generation.publish(frames.saving(turn.session_id, answer_id, generation.next_seq))
            log.warning("answer %s not stored yet: the database is unreachable; again in %.1f s", answer_id, wait)
            time.sleep(wait)
            wait = min(wait * 2, STORE_RETRY_LONGEST)


def _failure_code(status: str, failure: ProviderError | None, generation: LiveGeneration) -> str | None:
    """What an answer that failed keeps of why, to explain it when the conversation is reopened."""
    if status != MessageStatus.ERROR:
        return None
    if generation.interrupted:
        return "interrupted"
    return failure.code if failure is not None else "internal_error"


def _final_frame(
    turn: PreparedTurn,
    generation: LiveGeneration,
    status: str,
    finish_reason: str | None,
    usage: dict[str, int] | None,
    failure: ProviderError | None,
    request: TurnRequest,
    language: str,
    request_id: str,
) -> Frame:
    seq = generation.next_seq
    if status == MessageStatus.ERROR:
        if failure is not None and not generation.interrupted:
            message, code = provider_error_message(failure, language, for_admin=request.by_admin), failure.code
        else:
            with speaking(language):
                if generation.interrupted:
                    message, code = gettext("answer_interrupted"), "server_restarting"
                else:
                    message, code = gettext("internal_turn_error", request_id=request_id), "internal_error"
        return frames.error(
            message,
            code,
            session_id=turn.session_id,
            message_id=turn.answer_id,
            client_id=generation.client_id,
            seq=seq,
        )
    return frames.done(
        turn.session_id, turn.answer_id, seq, status=status, finish_reason=finish_reason, usage=usage, title=turn.title
    )


def _generate_title(turn: PreparedTurn, user_id: int) -> None:
    """A short title from the same model, announced to the user's pages; any failure keeps the
    first words as the title."""
    payload = {
        "model": turn.model_id,
        "messages": [
            {"role": Role.SYSTEM, "content": TITLE_PROMPT},
            {"role": Role.USER, "content": turn.question_text[:2000]},
        ],
        "max_tokens": 40,
        "temperature": 0.3,
    }
    try:
        completion = provider_client().complete(
            turn.base_url, turn.api_key, payload, timeouts=TITLE_TIMEOUTS, body_limit=TITLE_REPLY_BYTES
        )
    except ProviderError as error:
        metrics.PROVIDER_ERRORS.labels(error.code).inc()
        log.info("title for %s not generated: %s", turn.session_id, error.code)
        return
    # What the title cost is the conversation owner's, like the answer's.
    spent = Spent.of(usage_of(completion.usage, payload, completion.text), turn.price)
    with fair_share():
        answers.count_title(user_id, turn.model_id, spent)
    title = completion.text
    # Models like to decorate: no markdown, quotes or line breaks in a title.
    title = " ".join(re.sub(r"[*_`#>]+", "", title).split()).strip("\"'“”「」《》 ")[:GENERATED_TITLE_MAX]
    if not title:
        return
    try:
        with fair_share():
            changed = answers.set_generated_title(turn.session_id, turn.title, title)
    finally:
        db.session.remove()
    if changed:
        live_hub().announce(user_id, frames.title(turn.session_id, title))
    else:
        log.info("title for %s not used: the conversation was renamed meanwhile", turn.session_id)


# --- a message sent again ----------------------------------------------------------------------


def _replay(existing: ExistingTurn, request: TurnRequest, language: str) -> OpenedTurn:
    """The frames the first request got: live if the answer is still being generated, else stored."""
    start = frames.start(
        existing.session_id, existing.user_message_id, existing.answer_id, existing.model_id, request.client_id
    )
    with fair_share():
        answer = conversations.stored_answer(existing.answer_id) if existing.answer_id else None
        stored = _stored_feed(existing, request, answer, language)
    hub = live_hub()

    def follow(waker: Waker) -> Cursor:
        live = None
        if answer is not None and answer.status == MessageStatus.STREAMING:
            live = hub.follow(existing.session_id, request.user_id, 0, waker)
        return live or stored.follow(0, waker)

    return OpenedTurn(start, follow)


def _stored_feed(existing: ExistingTurn, request: TurnRequest, answer: Any, language: str) -> Feed:
    """The stored answer as a finished feed: its text in one delta, then how it ended."""
    feed = Feed(existing.session_id, request.user_id)
    content = answer.content if answer is not None else ""
    if content:
        feed.append(frames.delta(existing.session_id, existing.answer_id, 1, content))
    seq = len(feed.frames) + 1
    feed.append(_stored_final_frame(feed.session_id, existing.answer_id, seq, answer, language, request.by_admin))
    return feed


def _stored_final_frame(
    session_id: str, message_id: int, seq: int, answer: Any, language: str, by_admin: bool
) -> Frame:
    """How a stored answer ended, as its final frame (an answer that is gone reads as failed)."""
    status = answer.status if answer is not None else MessageStatus.ERROR
    if status == MessageStatus.ERROR:
        code = answer.error_code if answer is not None else None
        failed = failure_explained(code, language, for_admin=by_admin)
        return frames.error(failed, code or "answer_failed", session_id=session_id, message_id=message_id, seq=seq)
    usage = (
        {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens}
        if answer.prompt_tokens is not None
        else None
    )
    return frames.done(
        session_id, message_id, seq, status=status, finish_reason=answer.finish_reason, usage=usage, title=None
    )


def final_frame_after_loss(app: Flask, cursor: Cursor, language: str, by_admin: bool) -> Frame:
    """The last frame for a follower whose feed ended without one (the generating process went
    away): the answer as stored once it is final — by its own worker, or as interrupted once its
    lease lapsed —, marked `stored` because its text may differ from what the follower saw (the
    page reads it again); else `stream_lost` (the page reads the conversation again later). Waits
    up to a lease: call it where waiting holds up nothing else."""
    seen = cursor.feed.frames
    message_id = seen[0].message_id if seen else None
    with app.app_context():
        if message_id is not None:
            try:
                answer = app.extensions["checkpoints"].settled(message_id)
            except DBAPIError:
                log.warning("answer %s: how it ended could not be read; its follower reads it later", message_id)
                answer = None
            if answer is not None:
                final = _stored_final_frame(cursor.session_id, message_id, len(seen) + 1, answer, language, by_admin)
                return frames.from_store(final)
        with speaking(language):
            return frames.error(gettext("stream_lost"), "stream_lost", session_id=cursor.session_id)
