"""The registry of the generations running right now.

A generation (one answer being streamed) registers here so that a reloaded browser can re-attach to it
and replay the frames it missed, so that a stop can reach it (possibly from another gunicorn worker),
and so that the app knows whether a conversation is generating.

Two implementations behind one interface: MemoryHub (one process; the default) and RedisHub (when
REDIS_URL is set; shared by every worker and process). Both use only blocking code that gevent
monkey-patches, so a waiting follower or watcher costs a parked greenlet, never a busy loop.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import redis

# A generation that never finishes (a crashed worker, a forgotten finish) keeps its session busy for
# this long after its last frame. Generous, because a slow model may think for minutes before it
# sends the first token and the lock must not lapse under a generation that is merely quiet.
LOCK_TTL = 20 * 60.0
# How long the frames of a finished generation stay readable, so that a browser reloading right at
# the end still receives the final frame instead of a 404.
LINGER = 30.0
FOLLOW_TIMEOUT = 900.0
# Redis: publish is called per token, so the TTLs are renewed only this often, riding along in
# publish's single round trip.
REFRESH_EVERY = 5.0
# Redis: a stop request is looked up at most this often by stop_requested() and publish();
# wait_stop() is woken at once by the request itself.
STOP_CHECK_EVERY = 0.1
# Redis: a blocking read never outlasts half the client's socket timeout (5 s by default in redis-py),
# or a quiet stream would look like a dead server. Also how often a follower of a quiet generation
# checks that it still runs.
MAX_BLOCK = 10.0


@dataclass(frozen=True)
class LiveFrame:
    seq: int  # 1, 2, 3 … per generation
    data: dict[str, Any]  # the JSON frame to send; data["seq"] == seq


class LiveGeneration(ABC):
    """One running generation, held by the code that streams it (the only one that publishes)."""

    session_id: str
    message_id: int  # the answer's row id
    user_id: int

    def __init__(self, session_id: str, message_id: int, user_id: int) -> None:
        self.session_id = session_id
        self.message_id = message_id
        self.user_id = user_id

    @abstractmethod
    def publish(self, data: dict[str, Any]) -> LiveFrame:
        """Store a frame under the next seq (1, 2, …) and hand it to the followers.

        Sets data["seq"]; the frame keeps its own copy of data, so the caller may reuse the dict.
        Raises RuntimeError after finish().
        """

    @abstractmethod
    def stop_requested(self) -> bool:
        """Whether a stop was requested; cheap enough to call after every delta."""

    @abstractmethod
    def wait_stop(self, timeout: float) -> bool:
        """Block until a stop is requested (True), the timeout passes or the generation finishes (False).

        Returning at finish lets a watcher end with the generation instead of outliving it.
        """

    @abstractmethod
    def finish(self, final: dict[str, Any]) -> None:
        """Publish the final frame ("done" or "error"), mark the generation finished and free the session.

        The frames stay readable for the hub's linger time. A second call does nothing.
        """

    @property
    @abstractmethod
    def finished(self) -> bool: ...


class LiveHub(ABC):
    @abstractmethod
    def begin(self, session_id: str, message_id: int, user_id: int) -> LiveGeneration | None:
        """Register a generation; None when the session already has an unfinished one (busy)."""

    @abstractmethod
    def request_stop(self, session_id: str, user_id: int) -> bool:
        """Ask the session's running generation to stop; True if user_id owns one that is running."""

    @abstractmethod
    def is_running(self, session_id: str) -> bool: ...

    @abstractmethod
    def follow(
        self, session_id: str, user_id: int, after: int, *, timeout: float = FOLLOW_TIMEOUT
    ) -> Generator[LiveFrame, None, None] | None:
        """The session's frames with seq > after: first those already published, then new ones as they come.

        None when the session has no generation (running or lingering) or it belongs to another user.
        The iterator ends after the final frame, or without it when timeout passes or the generation
        is abandoned. It is a generator: close() it to stop following early.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the hub's resources (connections)."""


def create_hub(redis_url: str | None, *, linger: float = LINGER, lock_ttl: float = LOCK_TTL) -> LiveHub:
    if redis_url:
        return RedisHub(redis_url, linger=linger, lock_ttl=lock_ttl)
    return MemoryHub(linger=linger, lock_ttl=lock_ttl)


def _with_seq(data: dict[str, Any], seq: int) -> dict[str, Any]:
    data["seq"] = seq
    # A copy, so that a caller reusing or changing its dict cannot rewrite a frame already published.
    return dict(data)


# --------------------------------------------------------------------------------------------------
# In process memory


class _MemoryGeneration(LiveGeneration):
    def __init__(
        self, session_id: str, message_id: int, user_id: int, on_finish: Callable[[_MemoryGeneration], None]
    ) -> None:
        super().__init__(session_id, message_id, user_id)
        self._on_finish = on_finish
        self._frames: list[LiveFrame] = []
        # Guards the frames and the flags below; followers wait on it for new frames.
        self._changed = threading.Condition()
        self._finished = False
        # Set when the hub gives up on a generation that never finished, so that its followers end.
        self._dropped = False
        self._stop = False
        self._wake = threading.Event()  # a stop was requested or the generation finished
        self.last_active = time.monotonic()

    @property
    def finished(self) -> bool:
        return self._finished

    def publish(self, data: dict[str, Any]) -> LiveFrame:
        with self._changed:
            if self._finished:
                raise RuntimeError("publish after finish")
            return self._append(data)

    def _append(self, data: dict[str, Any]) -> LiveFrame:
        seq = len(self._frames) + 1
        frame = LiveFrame(seq, _with_seq(data, seq))
        self._frames.append(frame)
        self.last_active = time.monotonic()
        self._changed.notify_all()
        return frame

    def stop_requested(self) -> bool:
        return self._stop

    def wait_stop(self, timeout: float) -> bool:
        self._wake.wait(max(timeout, 0.0))
        return self._stop

    def finish(self, final: dict[str, Any]) -> None:
        with self._changed:
            if self._finished:
                return
            self._append(final)
            self._finished = True
        self._wake.set()
        self._on_finish(self)

    def request_stop(self) -> None:
        self._stop = True
        self._wake.set()

    def drop(self) -> None:
        with self._changed:
            self._dropped = True
            self._changed.notify_all()

    def frames_after(self, after: int, timeout: float) -> Generator[LiveFrame, None, None]:
        deadline = time.monotonic() + timeout
        position = max(after, 0)  # the frame with seq n sits at index n - 1
        while True:
            with self._changed:
                while len(self._frames) <= position and not self._finished and not self._dropped:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self._changed.wait(remaining)
                batch = self._frames[position:]
                # Read together with the batch: finish appends the final frame and sets the flag under
                # this lock, so a finished batch holds the final frame.
                finished = self._finished
            # Yielded outside the lock: the consumer may take its time sending a frame.
            for frame in batch:
                yield LiveFrame(frame.seq, dict(frame.data))
            position += len(batch)
            if finished or not batch:
                return


class MemoryHub(LiveHub):
    """For one worker process: the generations live in this process's memory."""

    def __init__(self, *, linger: float = LINGER, lock_ttl: float = LOCK_TTL) -> None:
        self.linger = linger
        self.lock_ttl = lock_ttl
        self._lock = threading.Lock()
        self._generations: dict[str, _MemoryGeneration] = {}
        # (forget_at, generation) in the order they finished; the linger is the same for all, so
        # this is also the order in which they are forgotten and pruning only looks at the head.
        self._lingering: deque[tuple[float, _MemoryGeneration]] = deque()

    def close(self) -> None:
        pass  # holds nothing but memory

    def _current(self, session_id: str) -> _MemoryGeneration | None:
        """The session's generation, running or lingering. The caller holds self._lock."""
        now = time.monotonic()
        # Pruned on access rather than by a timer thread: nothing to start, stop or leak.
        while self._lingering and self._lingering[0][0] <= now:
            _, gone = self._lingering.popleft()
            if self._generations.get(gone.session_id) is gone:
                del self._generations[gone.session_id]
        generation = self._generations.get(session_id)
        if generation is not None and not generation.finished and now - generation.last_active > self.lock_ttl:
            # Never finished: treated like the Redis lock expiring, so the session is not busy forever.
            del self._generations[session_id]
            generation.drop()
            return None
        return generation

    def _start_lingering(self, generation: _MemoryGeneration) -> None:
        with self._lock:
            self._lingering.append((time.monotonic() + self.linger, generation))

    def begin(self, session_id: str, message_id: int, user_id: int) -> LiveGeneration | None:
        with self._lock:
            current = self._current(session_id)
            if current is not None and not current.finished:
                return None
            generation = _MemoryGeneration(session_id, message_id, user_id, self._start_lingering)
            # Replaces a lingering predecessor; its followers keep reading it until its final frame.
            self._generations[session_id] = generation
            return generation

    def request_stop(self, session_id: str, user_id: int) -> bool:
        with self._lock:
            generation = self._current(session_id)
            if generation is None or generation.finished or generation.user_id != user_id:
                return False
            generation.request_stop()
            return True

    def is_running(self, session_id: str) -> bool:
        with self._lock:
            generation = self._current(session_id)
            return generation is not None and not generation.finished

    def follow(
        self, session_id: str, user_id: int, after: int, *, timeout: float = FOLLOW_TIMEOUT
    ) -> Generator[LiveFrame, None, None] | None:
        with self._lock:
            generation = self._current(session_id)
        if generation is None or generation.user_id != user_id:
            return None
        return generation.frames_after(after, timeout)


# --------------------------------------------------------------------------------------------------
# Redis
#
# Keys, for one session:
#   aihelper:live:{session_id}:lock            the owner while it runs: JSON {gen, message_id, user_id}
#   aihelper:live:{session_id}:current         the same JSON, lingering after finish (what follow finds)
#   aihelper:live:{session_id}:frames:{gen}    a stream of frames, entry id 0-{seq}, fields seq, data
#                                              (JSON) and, on the final frame, final
#   aihelper:live:{session_id}:signal:{gen}    a stream of signals to the generation: stop, done
# {gen} is a random token per generation, so a new generation of the same session never mixes its
# frames or signals with those of a lingering predecessor that someone may still be following.
#
# Waiting: a follower or watcher blocked in its own XREAD BLOCK would hold a pooled connection the
# whole time (redis-py 8 refuses a 101st by default, and a gevent worker serves hundreds of sockets).
# So each hub runs one waker: a single XREAD BLOCK over every stream someone in this process waits
# on, which wakes the waiters; they then read their frames without blocking.

# The lock and the pointer followers use are set together, so a follower never sees a running
# generation it cannot find.
_BEGIN = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# Only our own lock is released: if it expired under a generation that went quiet for too long, the
# session may meanwhile belong to a newer generation.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
"""

# A plain redis-py pool raises once all its connections are busy, which at a burst of a thousand
# streams killed publishes; a blocking pool makes a command wait its turn instead. Connections are
# still only opened on demand. A max_connections in REDIS_URL wins.
MAX_CONNECTIONS = 200
POOL_WAIT_SECONDS = 30
READ_COUNT = 1000
# A crashed process's waker key disappears on its own.
WAKER_KEY_TTL = 600.0

log = logging.getLogger(__name__)

StreamId = tuple[int, int]
Entry = tuple[bytes, dict[bytes, bytes]]


def _key(session_id: str, *parts: str) -> str:
    return ":".join(("aihelper:live", session_id, *parts))


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _parse_id(entry_id: bytes | str) -> StreamId:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _format_id(stream_id: StreamId) -> str:
    return f"{stream_id[0]}-{stream_id[1]}"


def _xread_streams(reply: Any) -> dict[str, list[Entry]]:
    """An XREAD reply as {stream key: entries}, whatever shape this redis-py version and protocol give."""
    if not reply:
        return {}
    pairs = reply.items() if isinstance(reply, dict) else ((item[0], item[1]) for item in reply)
    streams: dict[str, list[Entry]] = {}
    for key, entries in pairs:
        # Some RESP3 parsers wrap a stream's entry list in one more list.
        if entries and isinstance(entries[0], list):
            entries = entries[0]
        streams[key.decode() if isinstance(key, bytes) else str(key)] = list(entries)
    return streams


@dataclass(frozen=True)
class _Owner:
    raw: bytes  # compared byte for byte to recognise the lock as this generation's
    gen: str
    user_id: int

    @classmethod
    def parse(cls, raw: bytes | None) -> _Owner | None:
        if raw is None:
            return None
        try:
            fields = json.loads(raw)
            return cls(raw, str(fields["gen"]), int(fields["user_id"]))
        except (ValueError, KeyError, TypeError):
            return None


class _Watch:
    def __init__(self, lock: threading.Lock, start: StreamId) -> None:
        self.changed = threading.Condition(lock)
        self.tail = start  # the newest entry id the waker has seen (or where it starts reading)
        self.users = 0
        self.released = False  # no longer watched: waiters must not wait for the waker any more


class _StreamWaker:
    """One blocking XREAD per hub over every stream waited on in this process; wakes the waiters."""

    def __init__(self, client: redis.Redis, max_block: float) -> None:
        self._redis = client
        self._max_block = max_block
        self._lock = threading.Lock()
        self._watches: dict[str, _Watch] = {}
        # Written to when a stream is added, so that the blocked XREAD returns and takes it in.
        # Outside the session namespace; unique per hub, so workers do not wake each other.
        self._nudge_key = f"aihelper:live-waker:{secrets.token_hex(8)}"
        self._nudge_from: StreamId = (0, 0)
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, key: str, start: StreamId) -> _Watch:
        """Have the waker watch a stream for entries after start, until unwatch()."""
        with self._lock:
            watch = self._watches.get(key)
            added = watch is None
            if watch is None:
                watch = self._watches[key] = _Watch(self._lock, start)
            watch.users += 1
            # is_alive() too: after a fork the parent's reader does not exist in the child.
            started = self._thread is None or not self._thread.is_alive()
            if started:
                self._thread = threading.Thread(target=self._run, name="aihelper-live-waker", daemon=True)
                self._thread.start()
        if added and not started:
            try:
                self._nudge()
            except BaseException:
                self.unwatch(key, watch)
                raise
        return watch

    def unwatch(self, key: str, watch: _Watch) -> None:
        with self._lock:
            watch.users -= 1
            if watch.users == 0 and self._watches.get(key) is watch:
                del self._watches[key]
                watch.released = True
                watch.changed.notify_all()

    @contextmanager
    def watching(self, key: str, start: StreamId) -> Iterator[_Watch]:
        watch = self.watch(key, start)
        try:
            yield watch
        finally:
            self.unwatch(key, watch)

    def wait(self, watch: _Watch, beyond: StreamId, timeout: float) -> bool:
        """Block until the watched stream has an entry after beyond (True), or is unwatched or timeout passes."""
        with self._lock:
            watch.changed.wait_for(lambda: watch.tail > beyond or watch.released, timeout)
            return watch.tail > beyond

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None and thread.is_alive():
            with suppress(redis.RedisError):
                self._nudge()
            thread.join(self._max_block + 1.0)

    def _nudge(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.xadd(self._nudge_key, {"n": 1}, maxlen=1, approximate=False)
        pipe.pexpire(self._nudge_key, _ms(WAKER_KEY_TTL))
        pipe.execute()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed or not self._watches:
                    # The next watching() starts a new reader; under the same lock, so none is missed.
                    self._thread = None
                    return
                streams = {self._nudge_key: _format_id(self._nudge_from)}
                streams.update((key, _format_id(watch.tail)) for key, watch in self._watches.items())
            try:
                reply = self._redis.xread(streams, count=READ_COUNT, block=_ms(self._max_block))
            except redis.TimeoutError:
                # Seen when the event loop is too busy to take the reply in time; redis-py has reset the
                # connection and a fresh read loses nothing, since it starts from the same ids.
                log.info("live: waiting for stream entries timed out; retrying")
                continue
            except redis.RedisError:
                # The waiters still look for themselves every max_block seconds meanwhile.
                log.warning("live: waiting for stream entries failed; retrying", exc_info=True)
                time.sleep(1.0)
                continue
            with self._lock:
                for key, entries in _xread_streams(reply).items():
                    if not entries:
                        continue
                    newest = _parse_id(entries[-1][0])
                    if key == self._nudge_key:
                        self._nudge_from = newest
                        continue
                    watch = self._watches.get(key)
                    if watch is not None and newest > watch.tail:
                        watch.tail = newest
                        watch.changed.notify_all()


class _RedisGeneration(LiveGeneration):
    def __init__(self, hub: RedisHub, session_id: str, message_id: int, user_id: int, owner: _Owner) -> None:
        super().__init__(session_id, message_id, user_id)
        self._hub = hub
        self._redis = hub.redis
        self._owner = owner
        self._lock_key = _key(session_id, "lock")
        self._current_key = _key(session_id, "current")
        self._frames_key = _key(session_id, "frames", owner.gen)
        self._signal_key = _key(session_id, "signal", owner.gen)
        # Serialises publish and finish: stream ids must be added in order, and there is one
        # publisher per generation anyway.
        self._lock = threading.Lock()
        self._seq = 0
        self._finished = False
        self._stop = False
        self._refreshed_at = time.monotonic()  # begin set the TTLs
        self._stop_checked_at = 0.0
        # Watched from the first wait_stop() until finish(): the engine calls wait_stop() in short
        # slices, and re-registering each time would restart the waker's read every slice.
        self._signal_watch: _Watch | None = None
        self._signal_watch_lock = threading.Lock()
        self._fallback_checked_at = time.monotonic()

    @property
    def finished(self) -> bool:
        return self._finished

    def publish(self, data: dict[str, Any]) -> LiveFrame:
        with self._lock:
            if self._finished:
                raise RuntimeError("publish after finish")
            seq = self._seq + 1
            stored = _with_seq(data, seq)
            encoded = _dumps(stored)  # before numbering: a frame that cannot be encoded leaves no gap
            self._seq = seq
            now = time.monotonic()
            refresh = seq == 1 or now - self._refreshed_at >= REFRESH_EVERY
            check_stop = not self._stop and now - self._stop_checked_at >= STOP_CHECK_EVERY
            # One round trip per frame: the TTL refresh and the stop lookup ride along when due.
            pipe = self._redis.pipeline(transaction=False)
            pipe.xadd(self._frames_key, {"seq": seq, "data": encoded}, id=f"0-{seq}")
            if refresh:
                ttl = _ms(self._hub.lock_ttl)
                pipe.pexpire(self._frames_key, ttl)
                pipe.pexpire(self._lock_key, ttl)
                pipe.pexpire(self._current_key, ttl)
            if check_stop:
                pipe.exists(self._signal_key)
            results = pipe.execute()
            if refresh:
                self._refreshed_at = now
            if check_stop:
                self._stop_checked_at = now
                if results[-1]:
                    self._stop = True  # before finish, only stop signals exist
            return LiveFrame(seq, stored)

    def stop_requested(self) -> bool:
        if not self._stop and not self._finished and time.monotonic() - self._stop_checked_at >= STOP_CHECK_EVERY:
            self._look_up_stop()
        return self._stop

    def _look_up_stop(self) -> None:
        self._stop_checked_at = time.monotonic()
        # Before finish only stop signals exist; after it, "done" does.
        if self._redis.exists(self._signal_key) and not self._finished:
            self._stop = True

    def _watch_signals(self) -> _Watch | None:
        with self._signal_watch_lock:
            if self._signal_watch is None and not self._finished:
                self._signal_watch = self._hub.waker.watch(self._signal_key, (0, 0))
            return self._signal_watch

    def _unwatch_signals(self) -> None:
        with self._signal_watch_lock:
            watch, self._signal_watch = self._signal_watch, None
        if watch is not None:
            self._hub.waker.unwatch(self._signal_key, watch)  # also wakes those still in wait_stop()

    def wait_stop(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        watch = None if self._stop or self._finished else self._watch_signals()
        while watch is not None and not self._stop and not self._finished:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if self._hub.waker.wait(watch, (0, 0), min(remaining, self._hub.max_block)):
                entries = _xread_streams(self._redis.xread({self._signal_key: "0-0"}, count=16))
                kinds = {fields.get(b"kind") for _, fields in entries.get(self._signal_key, [])}
                if b"stop" in kinds:
                    self._stop = True
                break  # otherwise "done": finished
            now = time.monotonic()
            if not self._finished and now - self._fallback_checked_at >= self._hub.max_block:
                # The waker reports a stop at once; this only covers a waker that cannot read.
                self._fallback_checked_at = now
                self._look_up_stop()
        return self._stop

    def finish(self, final: dict[str, Any]) -> None:
        with self._lock:
            if self._finished:
                return
            seq = self._seq + 1
            encoded = _dumps(_with_seq(final, seq))
            self._seq = seq
            self._finished = True
            linger = _ms(self._hub.linger)
            # One transaction: a follower that finds the lock gone can rely on the final frame being there.
            pipe = self._redis.pipeline(transaction=True)
            pipe.xadd(self._frames_key, {"seq": seq, "data": encoded, "final": 1}, id=f"0-{seq}")
            pipe.pexpire(self._frames_key, linger)
            self._hub.release_script(
                keys=[self._lock_key, self._current_key], args=[self._owner.raw, linger], client=pipe
            )
            # Wakes this generation's watchers in other processes, should there ever be any.
            pipe.xadd(self._signal_key, {"kind": "done"})
            pipe.pexpire(self._signal_key, linger)
            try:
                pipe.execute()
            finally:
                self._unwatch_signals()


class RedisHub(LiveHub):
    """Shared by every worker and process that uses the same Redis database."""

    def __init__(self, redis_url: str, *, linger: float = LINGER, lock_ttl: float = LOCK_TTL) -> None:
        self.linger = linger
        self.lock_ttl = lock_ttl
        pool = redis.BlockingConnectionPool.from_url(
            redis_url, max_connections=MAX_CONNECTIONS, timeout=POOL_WAIT_SECONDS
        )
        self.redis = redis.Redis(connection_pool=pool)
        self.begin_script = self.redis.register_script(_BEGIN)
        self.release_script = self.redis.register_script(_RELEASE)
        socket_timeout = self.redis.connection_pool.connection_kwargs.get("socket_timeout")
        self.max_block = min(MAX_BLOCK, socket_timeout / 2) if socket_timeout else MAX_BLOCK
        self.waker = _StreamWaker(self.redis, self.max_block)

    def close(self) -> None:
        self.waker.close()
        self.redis.close()

    def begin(self, session_id: str, message_id: int, user_id: int) -> LiveGeneration | None:
        raw = _dumps({"gen": secrets.token_hex(8), "message_id": message_id, "user_id": user_id}).encode()
        taken = self.begin_script(
            keys=[_key(session_id, "lock"), _key(session_id, "current")], args=[raw, _ms(self.lock_ttl)]
        )
        if not taken:
            return None
        owner = _Owner.parse(raw)
        assert owner is not None
        return _RedisGeneration(self, session_id, message_id, user_id, owner)

    def request_stop(self, session_id: str, user_id: int) -> bool:
        owner = _Owner.parse(self.redis.get(_key(session_id, "lock")))
        if owner is None or owner.user_id != user_id:
            return False
        # A signal stream rather than a flag: the generating worker's waker is blocked on it and wakes
        # wait_stop() the moment it is written.
        signal_key = _key(session_id, "signal", owner.gen)
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(signal_key, {"kind": "stop"}, maxlen=16, approximate=False)
        pipe.pexpire(signal_key, _ms(self.lock_ttl))
        pipe.execute()
        return True

    def is_running(self, session_id: str) -> bool:
        return bool(self.redis.exists(_key(session_id, "lock")))

    def follow(
        self, session_id: str, user_id: int, after: int, *, timeout: float = FOLLOW_TIMEOUT
    ) -> Generator[LiveFrame, None, None] | None:
        owner = _Owner.parse(self.redis.get(_key(session_id, "current")))
        if owner is None or owner.user_id != user_id:
            return None
        return self._frames_after(session_id, owner, after, timeout)

    def _frames_after(
        self, session_id: str, owner: _Owner, after: int, timeout: float
    ) -> Generator[LiveFrame, None, None]:
        deadline = time.monotonic() + timeout
        lock_key = _key(session_id, "lock")
        frames_key = _key(session_id, "frames", owner.gen)
        last: StreamId = (0, max(after, 0))  # entry ids are 0-{seq}: "after" is where to read from
        with self.waker.watching(frames_key, last) as watch:
            check_running = True
            while True:
                # Looked at before the read: finish adds the final frame and releases the lock in one
                # transaction, so once the lock is gone this read sees every frame there will ever be.
                running = self.redis.get(lock_key) == owner.raw if check_running else True
                reply = self.redis.xread({frames_key: _format_id(last)}, count=READ_COUNT)
                entries = _xread_streams(reply).get(frames_key, [])
                for entry_id, fields in entries:
                    last = _parse_id(entry_id)
                    yield LiveFrame(int(fields[b"seq"]), json.loads(fields[b"data"]))
                    if b"final" in fields:
                        return
                if not entries and not running:
                    return  # finished and already fully seen, or abandoned and expired
                if len(entries) >= READ_COUNT:
                    check_running = False
                    continue  # a long backlog: read on
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                # Woken by the waker as soon as a frame after `last` exists. A quiet spell makes sure
                # the generation still runs: one that crashed never sends its final frame.
                check_running = not self.waker.wait(watch, last, min(remaining, self.max_block))
