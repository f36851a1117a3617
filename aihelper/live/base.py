"""The generations running now, in this process, and the followers reading them.

A generation (one answer being streamed) is a Feed: the frames published so far, in seq order.
The turn that generates it appends frames; followers (a socket, an SSE response) each keep a
Cursor into it and read at their own pace, so a follower that falls behind costs no memory of its
own and can never slow the generation or anyone else. Each follower has a waker, woken when its
feeds have something new; it then takes everything at once.

LiveHub keeps this process's generations: who may run one now (one per conversation, a few per
user), the feeds to follow, stop requests, lingering after the end so that a page reloading right
then still gets the final frame, and notices for a user's open pages (a generated title).
What other processes need goes through the abstract hooks at the end: MemoryHub (memory.py, one
worker) needs nothing of them; RedisHub (redis.py) shares claims, stops, remote follows and notices.

A little over 400 lines: the feed, its cursors and the hub's bookkeeping are one piece of state.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from aihelper.chat.frames import Frame

log = logging.getLogger(__name__)

# How long the frames of a finished generation stay readable here.
LINGER = 30.0


class Waker(Protocol):
    def wake(self) -> None:
        """Something new to read: called by the publisher, so it must return at once."""


class Listener(Protocol):
    """An open page of a user (its socket), told what concerns it; each method returns at once."""

    def notice(self, frame: Frame) -> None:
        """A frame for the page (a generated title)."""

    def recheck_login(self) -> None:
        """One of the user's logins ended (logout, password change, account disabled)."""


class Wakeup:
    """The waker of one consumer: wake() from anywhere, wait() in the consumer, which then takes
    everything there is (a wake that comes while it takes is kept for its next wait)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wake(self) -> None:
        self._event.set()

    def wait(self, timeout: float | None = None) -> bool:
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken


class Refused(Exception):
    """begin() refused: `code` is "busy" (this conversation is generating) or "too_many_turns"."""

    def __init__(self, code: str, running_client_id: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        # busy: the client_id of the turn that is running, so that a resent message can follow it.
        self.running_client_id = running_client_id


class Feed:
    """The frames of one generation so far, in seq order: frames[i].seq == i + 1."""

    def __init__(self, session_id: str, user_id: int) -> None:
        self.session_id = session_id
        self.user_id = user_id
        self.frames: list[Frame] = []
        # The final frame is in, or the generation was lost (its process died): nothing more comes.
        self.ended = False
        self._wakers: set[Waker] = set()

    def append(self, frame: Frame) -> None:
        self.frames.append(frame)
        if frame.final:
            self.ended = True
        self._wake_all()

    def lose(self) -> None:
        """The generation went away without its final frame."""
        self.ended = True
        self._wake_all()

    def _wake_all(self) -> None:
        for waker in tuple(self._wakers):
            try:
                waker.wake()
            except Exception:
                # A follower must never break whoever publishes (a generation, another worker's reader).
                log.exception("a follower of %s failed; it no longer follows", self.session_id)
                self._wakers.discard(waker)

    def follow(self, after: int, waker: Waker) -> Cursor:
        self._wakers.add(waker)
        cursor = Cursor(self, after, waker)
        if cursor.pending or self.ended:
            waker.wake()
        return cursor

    def unwatch(self, waker: Waker) -> None:
        self._wakers.discard(waker)


class Cursor:
    """One follower's place in a feed."""

    def __init__(self, feed: Feed, after: int, waker: Waker) -> None:
        self.feed = feed
        self.position = max(after, 0)  # frames[i] has seq i + 1: seq `after` was seen
        self._waker = waker

    @property
    def session_id(self) -> str:
        return self.feed.session_id

    def take(self, limit: int | None = None) -> list[Frame]:
        """The frames published since the last take (at most `limit` of them)."""
        end = None if limit is None else self.position + limit
        frames = self.feed.frames[self.position : end]
        self.position += len(frames)
        return frames

    @property
    def pending(self) -> bool:
        return self.position < len(self.feed.frames)

    @property
    def at_end(self) -> bool:
        """Everything there will ever be was taken (the final frame, or all a lost feed had)."""
        return self.feed.ended and not self.pending

    @property
    def lost(self) -> bool:
        frames = self.feed.frames
        return self.at_end and not (frames and frames[-1].final)

    def close(self) -> None:
        self.feed.unwatch(self._waker)


class LiveGeneration(Feed):
    """A generation running in this process, held by the turn that streams it."""

    def __init__(self, hub: LiveHub, session_id: str, user_id: int, client_id: str | None) -> None:
        super().__init__(session_id, user_id)
        self.interrupted = False  # stopped by a restart (interrupt), not by its user
        self.hub = hub
        self.client_id = client_id
        self.stop_requested = False
        self.released = False  # the conversation is free again (finished or abandoned)
        self.hub_state: Any = None  # what a shared hub keeps of it elsewhere (RedisHub: its claim)
        self._on_stop: Callable[[], None] | None = None

    @property
    def next_seq(self) -> int:
        return len(self.frames) + 1

    def publish(self, frame: Frame) -> None:
        """Append the next frame (frame.seq == next_seq) and wake its followers."""
        self.append(frame)
        self.hub.published(self)

    def finish(self, final: Frame) -> None:
        """The last frame. The conversation is free for its next turn before anyone sees it."""
        self.hub.release(self, final)
        self.append(final)

    def abandon(self) -> None:
        """The turn was refused after begin(): free the conversation; nothing was published."""
        self.hub.release(self, None)
        self.lose()

    def when_stopped(self, callback: Callable[[], None]) -> None:
        """Run callback (once, at once) when a stop is requested, from whichever worker."""
        self._on_stop = callback
        if self.stop_requested:
            callback()

    def request_stop(self) -> None:
        if self.stop_requested or self.released:
            return
        self.stop_requested = True
        if self._on_stop is not None:
            self._on_stop()

    def interrupt(self) -> None:
        """Stopped because this process is going away: stored as interrupted, not as stopped."""
        self.interrupted = True
        self.request_stop()


class LiveHub(ABC):
    """This process's generations; subclasses reach other processes through the hooks at the end."""

    # Whether other processes share the conversations (then _claim decides who may begin).
    shared = False

    def __init__(self, *, linger: float = LINGER, clock: Callable[[], float] = time.monotonic) -> None:
        self.linger = linger
        self.clock = clock  # when a finished generation is forgotten (tests pass their own)
        self._lock = threading.Lock()
        # Each conversation's latest generation here, running or lingering.
        self._generations: dict[str, LiveGeneration] = {}
        self._running_of_user: dict[int, set[str]] = {}
        # (forget_at, generation) in the order they finished; pruned from the head on access.
        self._lingering: deque[tuple[float, LiveGeneration]] = deque()
        self._listeners: dict[int, set[Listener]] = {}

    # -- starting and ending -------------------------------------------------------------------

    def begin(self, session_id: str, user_id: int, *, client_id: str | None, max_running: int) -> LiveGeneration:
        """Register a generation for the conversation; raises Refused when it already runs one
        ("busy") or the user runs max_running already ("too_many_turns")."""
        generation = LiveGeneration(self, session_id, user_id, client_id)
        with self._lock:
            self._prune()
            self._check_local(session_id, user_id, max_running)
            # Registered before it is claimed elsewhere, so that a request about it (a follow, a
            # stop) that comes right after the claim finds it here.
            self._register(generation)
        if self.shared:
            try:
                self._claim(generation, max_running)  # no lock held across the round trip
            except BaseException:
                with self._lock:
                    self._unregister(generation)
                generation.lose()
                raise
        return generation

    def _check_local(self, session_id: str, user_id: int, max_running: int) -> None:
        current = self._generations.get(session_id)
        if current is not None and not current.released:
            raise Refused("busy", current.client_id)
        if len(self._running_of_user.get(user_id, ())) >= max_running:
            raise Refused("too_many_turns")

    def _register(self, generation: LiveGeneration) -> None:
        self._generations[generation.session_id] = generation
        self._running_of_user.setdefault(generation.user_id, set()).add(generation.session_id)

    def _unregister(self, generation: LiveGeneration) -> None:
        """Forget a generation that was refused elsewhere. The caller holds self._lock."""
        generation.released = True
        if self._generations.get(generation.session_id) is generation:
            del self._generations[generation.session_id]
        running = self._running_of_user.get(generation.user_id)
        if running is not None:
            running.discard(generation.session_id)
            if not running:
                del self._running_of_user[generation.user_id]

    def release(self, generation: LiveGeneration, final: Frame | None) -> None:
        """Free the generation's conversation (finish and abandon call this before the end shows)."""
        with self._lock:
            if generation.released:
                return
            if final is None:
                self._unregister(generation)
            else:
                generation.released = True
                running = self._running_of_user.get(generation.user_id)
                if running is not None:
                    running.discard(generation.session_id)
                    if not running:
                        del self._running_of_user[generation.user_id]
                self._lingering.append((self.clock() + self.linger, generation))
        self._released(generation, final)

    def _prune(self) -> None:
        """Forget generations whose linger is over. The caller holds self._lock."""
        now = self.clock()
        while self._lingering and self._lingering[0][0] <= now:
            _, gone = self._lingering.popleft()
            if self._generations.get(gone.session_id) is gone:
                del self._generations[gone.session_id]

    def local(self, session_id: str) -> LiveGeneration | None:
        """The conversation's generation in this process, running or lingering."""
        with self._lock:
            self._prune()
            return self._generations.get(session_id)

    # -- following and stopping ----------------------------------------------------------------

    def follow(self, session_id: str, user_id: int, after: int, waker: Waker) -> Cursor | None:
        """A cursor on the conversation's generation after seq `after`: the one running (here or
        elsewhere), else one that just finished here (it has its final frame); None when there is
        none, or it is another user's."""
        generation = self.local(session_id)
        if generation is not None and not generation.released:
            return generation.follow(after, waker) if generation.user_id == user_id else None
        elsewhere = self._follow_elsewhere(session_id, user_id, after, waker)
        if elsewhere is not None:
            return elsewhere
        if generation is not None and generation.user_id == user_id:
            return generation.follow(after, waker)
        return None

    def request_stop(self, session_id: str, user_id: int) -> bool:
        """Ask the conversation's running generation to stop; True if user_id runs one."""
        generation = self.local(session_id)
        if generation is not None and not generation.released:
            if generation.user_id != user_id:
                return False
            generation.request_stop()
            return True
        return self._stop_elsewhere(session_id, user_id)

    def running_here(self) -> list[LiveGeneration]:
        """The generations this process is running now."""
        with self._lock:
            return [generation for generation in self._generations.values() if not generation.released]

    def stop_user(self, user_id: int) -> None:
        """Stop every generation of the user, in every process (the account was disabled or deleted)."""
        with self._lock:
            sessions = list(self._running_of_user.get(user_id, ()))
        for session_id in sessions:
            generation = self.local(session_id)
            if generation is not None and not generation.released:
                generation.request_stop()
        self._stop_user_elsewhere(user_id)

    # -- notices for a user's open pages -------------------------------------------------------

    def listen(self, user_id: int, listener: Listener) -> None:
        with self._lock:
            self._listeners.setdefault(user_id, set()).add(listener)

    def unlisten(self, user_id: int, listener: Listener) -> None:
        with self._lock:
            listeners = self._listeners.get(user_id)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[user_id]

    def announce(self, user_id: int, frame: Frame) -> None:
        """Send a frame to every open page of the user, in every worker."""
        self.notify_here(user_id, frame)
        self._announce_elsewhere(user_id, frame)

    def logins_ended(self, user_id: int) -> None:
        """Have every open page of the user, in every worker, check its login now."""
        self.notify_here(user_id, None)
        self._announce_elsewhere(user_id, None)

    def notify_here(self, user_id: int, frame: Frame | None) -> None:
        """A frame (or None: a login ended) for the user's pages in this process."""
        with self._lock:
            listeners = tuple(self._listeners.get(user_id, ()))
        for listener in listeners:
            if frame is None:
                listener.recheck_login()
            else:
                listener.notice(frame)

    # -- what other processes need ----------------------------------------------------------------

    @abstractmethod
    def _claim(self, generation: LiveGeneration, max_running: int) -> None:
        """Claim the conversation where every process sees it (when `shared`); raises Refused."""

    @abstractmethod
    def published(self, generation: LiveGeneration) -> None:
        """A frame was published."""

    @abstractmethod
    def _released(self, generation: LiveGeneration, final: Frame | None) -> None:
        """The generation ended (with its final frame) or was abandoned (None)."""

    @abstractmethod
    def _follow_elsewhere(self, session_id: str, user_id: int, after: int, waker: Waker) -> Cursor | None:
        """A cursor on the conversation's generation running in another process, or None."""

    @abstractmethod
    def _stop_elsewhere(self, session_id: str, user_id: int) -> bool:
        """Ask another process to stop the conversation's generation; True if user_id runs one."""

    @abstractmethod
    def _stop_user_elsewhere(self, user_id: int) -> None:
        """Stop the user's generations running in other processes."""

    @abstractmethod
    def _announce_elsewhere(self, user_id: int, frame: Frame | None) -> None:
        """notify_here() in the other processes."""

    @abstractmethod
    def close(self) -> None:
        """Release what the hub holds outside this process's memory."""

    def reachable(self) -> bool | None:
        """Whether what the hub shares through answers now (for /readyz); None when it shares
        nothing outside this process."""
        return None
