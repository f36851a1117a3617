"""RedisHub: the generations of every worker and instance that share one Redis database.

A generation is streamed, followed and stopped in the worker that runs it, straight from memory
(base.py); Redis carries only what another process needs:

- claims: which conversation is generating and how many answers each user runs (for `busy` and
  `too_many_turns` across processes), kept alive by the owning worker and void as soon as that
  worker stops saying it is alive;
- stop requests and follow requests, sent to the owning worker's inbox;
- frames for a page that resumes in another worker: the owner mirrors a generation's frames into
  a stream only once someone elsewhere follows it, in batches (one pipelined round trip per flush
  interval for every mirrored generation), never one write per token;
- notices for a user's pages in other workers (a generated title).

A Redis call that fails is counted (aihelper_redis_errors_total) where it is caught; the app goes
on without Redis as each place says.

Each worker holds a fixed, small number of connections whatever the number of streams: a pool of
COMMAND_CONNECTIONS for commands and one for a single blocking reader, which multiplexes the
worker's inbox, the notices and every stream it mirrors from elsewhere.

Keys:
  aihelper:live:{session_id}:lock        the running generation's owner: JSON {gen, user_id, worker, client_id, beats}
  aihelper:live:user:{user_id}:running   sorted set of "{session_id} {gen}" by expiry time (ms)
  aihelper:live:{session_id}:frames:{gen}  mirrored frames: fields first (seq), frames, final; or gone
  aihelper:live:worker:{worker}:inbox    requests to one worker: kind stop|follow, session, gen
  aihelper:live:worker:{worker}:alive    set while the worker lives (WORKER_ALIVE_SECONDS): its claims count
  aihelper:live:notices                  for users' pages: user, worker, frame (none: a login ended)

Long, and one module on purpose: the claims, the mirrors and the reader share one worker state and
one Redis protocol (the scripts, the keys, the entry formats), which only make sense read together.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

from aihelper.chat.frames import Frame
from aihelper.live.base import LINGER, Cursor, Feed, LiveGeneration, LiveHub, Refused, Waker
from aihelper.telemetry.metrics import REDIS_ERRORS

log = logging.getLogger(__name__)

# A claim lives this long unless its worker renews it, so a killed worker frees its conversations
# and its users' running-answer counts within this time (the app passes its answer lease).
LOCK_TTL = 30.0
# A worker that has not said it is alive for this long is dead (killed, crashed): its claims are
# void for other workers at once. It says so with every renewal, a third of this apart.
WORKER_ALIVE_SECONDS = 10.0
# How long mirrored frames are batched before they go to Redis (latency of a resume elsewhere).
FLUSH_SECONDS = 0.025
# The blocking reader returns at least this often, to notice generations lost elsewhere.
BLOCK_SECONDS = 2.0
# A mirrored generation whose claim is gone and that sent nothing for this long is lost.
LOST_AFTER = 3.0
COMMAND_CONNECTIONS = 8
POOL_WAIT_SECONDS = 30
READ_COUNT = 1000
NOTICES_KEEP = 1000
INBOX_KEEP = 10000

# Busy when the conversation has a claim whose worker is alive; too many when the user's claims that
# count reach the limit. A claim counts while its conversation's lock names it and its worker beats
# (locks that say `beats`; older ones count until they lapse):
# a dead worker's claims are void at once, long before they lapse. Redis's own clock, so that
# instances with skewed clocks agree.
# KEYS: lock, running. ARGV: owner, claim ttl ms, max running, member, own alive key, alive ttl ms.
_BEGIN = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('SET', ARGV[5], '1', 'PX', ARGV[6])
local function beating(raw)
  local ok, owner = pcall(cjson.decode, raw)
  if not ok or type(owner) ~= 'table' or owner['beats'] ~= 1 or type(owner['worker']) ~= 'string' then return true end
  return redis.call('EXISTS', 'aihelper:live:worker:' .. owner['worker'] .. ':alive') == 1
end
local current = redis.call('GET', KEYS[1])
if current and beating(current) then return {'busy', current} end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local session, gen = string.match(member, '^(.+) (%x+)$')
    local lock = session and redis.call('GET', 'aihelper:live:' .. session .. ':lock')
    local ok, owner = pcall(cjson.decode, lock or '')
    local counts = lock and (not ok or type(owner) ~= 'table' or (owner['gen'] == gen and beating(lock)))
    if not counts then redis.call('ZREM', KEYS[2], member) end
  end
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'too_many_turns', ''} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {'ok', ''}
"""

# Only our own claim is released: if it lapsed, the conversation may belong to a newer generation.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"""

# Renews this worker's claims (pairs of keys lock, running; ARGV ttl, then owner, member per pair),
# taking back one that lapsed while nobody else took it; answers the indexes of claims lost to others.
_RENEW = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ttl = tonumber(ARGV[1])
local lost = {}
for i = 1, #KEYS, 2 do
  local owner, member = ARGV[i + 1], ARGV[i + 2]
  local current = redis.call('GET', KEYS[i])
  if current == owner or not current then
    redis.call('SET', KEYS[i], owner, 'PX', ttl)
    redis.call('ZADD', KEYS[i + 1], now + ttl, member)
    redis.call('PEXPIRE', KEYS[i + 1], ttl)
  else
    table.insert(lost, (i + 1) / 2)
  end
end
return lost
"""


def _key(*parts: object) -> str:
    return ":".join(("aihelper:live", *map(str, parts)))


def _alive_key(worker: str) -> str:
    return _key("worker", worker, "alive")


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


@dataclass
class _Claim:
    """What Redis knows of one of this worker's generations."""

    gen: str
    owner: bytes  # the lock's value, compared byte for byte
    member: str  # in the user's running set
    mirrored: bool = False  # someone elsewhere follows it: its frames go to Redis
    mirrored_upto: int = 0  # frames already written there
    # Redis said yes. Until then the flusher must not renew it: a renewal that ran before the claim
    # would take the free lock for it, and the claim would then find its own lock and be refused.
    confirmed: bool = False


@dataclass
class _Owner:
    gen: str
    user_id: int
    worker: str
    client_id: str | None

    @classmethod
    def parse(cls, raw: bytes | None) -> _Owner | None:
        if not raw:
            return None
        try:
            fields = orjson.loads(raw)
            return cls(str(fields["gen"]), int(fields["user_id"]), str(fields["worker"]), fields.get("client_id"))
        except (ValueError, KeyError, TypeError):
            return None


class _Mirror(Feed):
    """A generation running in another process, as this worker reads it from Redis."""

    def __init__(self, hub: RedisHub, session_id: str, user_id: int, owner: _Owner) -> None:
        super().__init__(session_id, user_id)
        self.hub = hub
        self.owner = owner
        self.key = _key(session_id, "frames", owner.gen)
        self.last_id = "0-0"
        self.heard_at = time.monotonic()
        # Since when the owner's claim (or its worker) has been found gone while nothing more came:
        # gone for a whole alive period, the generation is lost. A Redis restart that forgot every
        # key looks the same for a moment, until the owner's next renewal takes its claims back.
        self.gone_since: float | None = None

    def add_entry(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        self.heard_at = time.monotonic()
        self.last_id = entry_id.decode()
        if b"gone" in fields:  # the owner no longer has this generation
            self.lose()
            return
        first = int(fields[b"first"])
        for offset, encoded in enumerate(fields[b"frames"].split(b"\n")):
            if first + offset == len(self.frames) + 1:
                self.append(Frame.decode(encoded))

    def unwatch(self, waker: Waker) -> None:
        super().unwatch(waker)
        if not self._wakers:
            self.hub.drop_mirror(self)


@dataclass
class _WorkerState:
    """Per process: made again after a fork, so that workers never share a reader or an inbox."""

    pid: int
    worker: str = field(default_factory=lambda: secrets.token_hex(8))
    mirrors: dict[str, _Mirror] = field(default_factory=dict)  # by gen
    mirrored: dict[str, LiveGeneration] = field(default_factory=dict)  # our generations others follow, by gen
    pending_releases: list[tuple[bytes, str, str, str]] = field(default_factory=list)
    flush_wanted: threading.Event = field(default_factory=threading.Event)
    started: bool = False

    @property
    def inbox(self) -> str:
        return _key("worker", self.worker, "inbox")

    @property
    def alive_key(self) -> str:
        return _alive_key(self.worker)


class RedisHub(LiveHub):
    """Shared by every worker and process that uses the same Redis database."""

    shared = True

    def __init__(
        self,
        redis_url: str,
        *,
        linger: float = LINGER,
        lock_ttl: float = LOCK_TTL,
        flush_seconds: float = FLUSH_SECONDS,
        block_seconds: float = BLOCK_SECONDS,
        lost_after: float = LOST_AFTER,
        alive_seconds: float = WORKER_ALIVE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(linger=linger, clock=clock)
        self.lock_ttl = lock_ttl
        self.alive_ttl = min(alive_seconds, lock_ttl)
        self.flush_seconds = flush_seconds
        self.block_seconds = block_seconds
        self.lost_after = lost_after
        pool = redis.BlockingConnectionPool.from_url(
            redis_url, max_connections=COMMAND_CONNECTIONS, timeout=POOL_WAIT_SECONDS
        )
        self.redis = redis.Redis(connection_pool=pool)
        # The blocking reader's own connection, outside the pool: it is always waiting. Opened on
        # first use, like the pool's, so that the app starts while Redis is away.
        self._reader = redis.Redis(connection_pool=redis.ConnectionPool.from_url(redis_url, max_connections=1))
        self._begin_script = self.redis.register_script(_BEGIN)
        self._release_script = self.redis.register_script(_RELEASE)
        self._renew_script = self.redis.register_script(_RENEW)
        # Serialises what is written of mirrored generations: entry ids must only grow.
        self._flush_lock = threading.Lock()
        self._state = _WorkerState(pid=-1)
        self._closed = False

    def _started(self) -> _WorkerState:
        state = self._state
        if state.pid == os.getpid():
            return state
        notices_from = self._newest_notice()  # a round trip: not under the lock
        with self._lock:
            if self._state.pid != os.getpid():  # first use in this process (gunicorn forked)
                self._state = _WorkerState(pid=os.getpid())
            state = self._state
            if not state.started:
                state.started = True
                threading.Thread(
                    target=self._read_loop, args=(state, notices_from), name="aihelper-live-reader", daemon=True
                ).start()
                threading.Thread(
                    target=self._flush_loop, args=(state,), name="aihelper-live-flush", daemon=True
                ).start()
        return state

    def reachable(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            REDIS_ERRORS.inc()
            return False

    def close(self) -> None:
        self._closed = True
        self._state.flush_wanted.set()
        # The pools were given to the clients, so closing a client would leave them open.
        self.redis.connection_pool.disconnect()
        self._reader.connection_pool.disconnect()

    # -- claims -------------------------------------------------------------------------------

    def _claim(self, generation: LiveGeneration, max_running: int) -> None:
        state = self._started()
        gen = secrets.token_hex(8)
        owner = orjson.dumps(
            {
                "gen": gen,
                "user_id": generation.user_id,
                "worker": state.worker,
                "client_id": generation.client_id,
                "beats": 1,  # its worker keeps an alive key (an owner written before that is judged by its TTL)
            }
        )
        member = f"{generation.session_id} {gen}"
        generation.hub_state = _Claim(gen, owner, member)  # known before Redis answers (see begin)
        try:
            verdict, current = self._begin_script(
                keys=[_key(generation.session_id, "lock"), _key("user", generation.user_id, "running")],
                args=[owner, _ms(self.lock_ttl), max_running, member, state.alive_key, _ms(self.alive_ttl)],
            )
        except redis.RedisError:
            REDIS_ERRORS.inc()
            # Redis is away: chat goes on in this worker; other workers cannot see or stop this turn.
            log.warning("live: claiming %s in Redis failed; it runs unshared", generation.session_id, exc_info=True)
            generation.hub_state = None
            return
        if verdict == b"busy":
            generation.hub_state = None
            running = _Owner.parse(current)
            raise Refused("busy", running.client_id if running else None)
        if verdict == b"too_many_turns":
            generation.hub_state = None
            raise Refused("too_many_turns")
        generation.hub_state.confirmed = True

    def _released(self, generation: LiveGeneration, final: Frame | None) -> None:
        claim: _Claim | None = generation.hub_state
        if claim is None:
            return
        state = self._started()
        keys = [_key(generation.session_id, "lock"), _key("user", generation.user_id, "running")]
        with self._flush_lock:
            mirrored_upto = None
            try:
                if claim.mirrored and final is not None:
                    # Written with the release: a follower elsewhere that finds the claim gone can
                    # rely on the final frame being there.
                    pipe = self.redis.pipeline(transaction=True)
                    mirrored_upto = self._write_mirror(pipe, generation, claim, [*generation.frames, final])
                    self._release_script(keys=keys, args=[claim.owner, claim.member], client=pipe)
                    pipe.execute()
                else:  # the usual case: one round trip, no transaction needed
                    self._release_script(keys=keys, args=[claim.owner, claim.member])
            except redis.RedisError:
                REDIS_ERRORS.inc()
                # The flusher writes what is missing and releases as soon as Redis answers again.
                log.warning("live: releasing %s failed; retrying", generation.session_id, exc_info=True)
                state.pending_releases.append(
                    (claim.owner, claim.member, generation.session_id, str(generation.user_id))
                )
                state.flush_wanted.set()
                return
            if mirrored_upto is not None:
                claim.mirrored_upto = mirrored_upto
            state.mirrored.pop(claim.gen, None)

    # -- mirroring our generations for followers elsewhere --------------------------------------

    def published(self, generation: LiveGeneration) -> None:
        claim: _Claim | None = generation.hub_state
        if claim is not None and claim.mirrored:
            self._state.flush_wanted.set()

    def _write_mirror(self, pipe: Any, generation: LiveGeneration, claim: _Claim, frames: list[Frame]) -> int | None:
        """Queue on pipe the frames not yet in Redis as one stream entry; the count written once the
        pipe succeeds (None: nothing new). The caller holds _flush_lock."""
        new = frames[claim.mirrored_upto :]
        if not new:
            return None
        key = _key(generation.session_id, "frames", claim.gen)
        last = len(frames)
        entry: dict[str, Any] = {"first": claim.mirrored_upto + 1, "frames": b"\n".join(frame.json for frame in new)}
        if new[-1].final:
            entry["final"] = 1
        pipe.xadd(key, entry)
        pipe.pexpire(key, _ms(self.linger if new[-1].final else self.lock_ttl))
        return last

    def _flush_loop(self, state: _WorkerState) -> None:
        renew_every = self.alive_ttl / 3
        renewed_at = time.monotonic()
        while not self._closed:
            wait = renewed_at + renew_every - time.monotonic()
            if state.flush_wanted.wait(max(wait, 0)):
                # Let the frames of every mirrored generation gather, then write them together.
                time.sleep(self.flush_seconds)
            state.flush_wanted.clear()
            if self._closed:
                return
            renew = time.monotonic() - renewed_at >= renew_every
            try:
                self._flush(state, renew)
            except Exception:
                if self._closed:  # close() pulled the connections from under the write
                    return
                REDIS_ERRORS.inc()
                log.warning("live: writing to Redis failed; retrying", exc_info=True)
                time.sleep(min(self.flush_seconds * 20, 1.0))
                state.flush_wanted.set()
                continue
            if renew:
                renewed_at = time.monotonic()

    def _flush(self, state: _WorkerState, renew: bool) -> None:
        with self._flush_lock:
            pipe = self.redis.pipeline(transaction=False)
            written: list[tuple[LiveGeneration, int]] = []
            for generation in list(state.mirrored.values()):
                upto = self._write_mirror(pipe, generation, generation.hub_state, generation.frames)
                if upto is not None:
                    written.append((generation, upto))
            releases, state.pending_releases = state.pending_releases, []
            for owner, member, session_id, user_id in releases:
                self._release_script(
                    keys=[_key(session_id, "lock"), _key("user", user_id, "running")], args=[owner, member], client=pipe
                )
            if renew:  # first: the renewal's answer stays second to last
                pipe.set(state.alive_key, b"1", px=_ms(self.alive_ttl))
            running = self._running_claims() if renew else []
            if running:
                keys: list[str] = []
                args: list[Any] = [_ms(self.lock_ttl)]
                for generation, claim in running:
                    keys += [_key(generation.session_id, "lock"), _key("user", generation.user_id, "running")]
                    args += [claim.owner, claim.member]
                self._renew_script(keys=keys, args=args, client=pipe)
            if renew:
                pipe.pexpire(state.inbox, _ms(self.lock_ttl))
            if not pipe.command_stack:
                return
            try:
                results = pipe.execute()
            except redis.RedisError:
                state.pending_releases += releases
                raise
            for generation, upto in written:
                claim: _Claim = generation.hub_state
                claim.mirrored_upto = upto
                # A released generation's final frame is appended just after the release: it is
                # mirrored until that frame is written too.
                if generation.released and upto == len(generation.frames) and generation.frames[-1].final:
                    state.mirrored.pop(claim.gen, None)
        if running:
            for index in results[-2]:
                lost = running[int(index) - 1][0]
                log.warning("live: another worker took over %s while it was generating here", lost.session_id)

    def _running_claims(self) -> list[tuple[LiveGeneration, _Claim]]:
        with self._lock:
            return [
                (g, claim)
                for g in self._generations.values()
                if not g.released and (claim := g.hub_state) is not None and claim.confirmed
            ]

    def _mirror_requested(self, state: _WorkerState, session_id: str, gen: str) -> None:
        generation = self.local(session_id)
        claim: _Claim | None = generation.hub_state if generation is not None else None
        if claim is None or claim.gen != gen:
            # Forgotten (lingered out) or never ours: say so, so the follower stops waiting.
            key = _key(session_id, "frames", gen)
            pipe = self.redis.pipeline(transaction=False)
            pipe.xadd(key, {"gone": 1})
            pipe.pexpire(key, _ms(self.linger))
            pipe.execute()
            return
        # Under the flush lock, like _released: a request that arrives while the generation is being
        # released is either seen by it (the final frame goes out with the release) or comes after
        # it (the flusher writes what there is, the final frame included).
        with self._flush_lock:
            if not claim.mirrored:
                claim.mirrored = True
                state.mirrored[gen] = generation
        state.flush_wanted.set()

    # -- following and stopping generations elsewhere --------------------------------------------

    def listen(self, user_id: int, listener) -> None:
        self._started()  # the reader must be reading the notices for this worker
        super().listen(user_id, listener)

    def _owner_elsewhere(self, session_id: str, user_id: int) -> _Owner | None:
        state = self._started()
        try:
            owner = _Owner.parse(self.redis.get(_key(session_id, "lock")))
            if owner is None or owner.user_id != user_id or owner.worker == state.worker:
                return None
            if not self.redis.exists(_alive_key(owner.worker)):
                return None  # its worker died: nothing more comes from it
        except redis.RedisError:
            REDIS_ERRORS.inc()
            log.warning("live: Redis is away; only this worker's generations can be followed", exc_info=True)
            return None
        return owner

    def _follow_elsewhere(self, session_id: str, user_id: int, after: int, waker: Waker) -> Cursor | None:
        owner = self._owner_elsewhere(session_id, user_id)
        if owner is None:
            return None
        state = self._started()
        with self._lock:
            mirror = state.mirrors.get(owner.gen)
            added = mirror is None
            if added:
                mirror = state.mirrors[owner.gen] = _Mirror(self, session_id, user_id, owner)
            cursor = mirror.follow(after, waker)
        if added:
            pipe = self.redis.pipeline(transaction=False)
            # Ask the owner to mirror the generation, and wake our reader so that it reads the mirror.
            self._send(pipe, owner.worker, {"kind": "follow", "session": session_id, "gen": owner.gen})
            self._send(pipe, state.worker, {"kind": "nudge"})
            pipe.execute()
        return cursor

    def _send(self, client: Any, worker: str, request: dict[str, str]) -> None:
        inbox = _key("worker", worker, "inbox")
        client.xadd(inbox, request, maxlen=INBOX_KEEP, approximate=True)
        # A dead worker's inbox must not stay behind.
        client.pexpire(inbox, _ms(self.lock_ttl))

    def drop_mirror(self, mirror: _Mirror) -> None:
        with self._lock:
            if self._state.mirrors.get(mirror.owner.gen) is mirror:
                del self._state.mirrors[mirror.owner.gen]

    def _stop_elsewhere(self, session_id: str, user_id: int) -> bool:
        owner = self._owner_elsewhere(session_id, user_id)
        if owner is None:
            return False
        pipe = self.redis.pipeline(transaction=False)
        self._send(pipe, owner.worker, {"kind": "stop", "session": session_id, "gen": owner.gen})
        pipe.execute()
        return True

    def _stop_user_elsewhere(self, user_id: int) -> None:
        try:
            members = self.redis.zrange(_key("user", user_id, "running"), 0, -1)
        except redis.RedisError:
            REDIS_ERRORS.inc()
            log.warning("live: Redis is away; only this worker's generations of user %s stop", user_id, exc_info=True)
            return
        for member in members:
            self._stop_elsewhere(member.decode().split(" ", 1)[0], user_id)

    def _stop_requested(self, session_id: str, gen: str) -> None:
        generation = self.local(session_id)
        claim: _Claim | None = generation.hub_state if generation is not None else None
        if claim is not None and claim.gen == gen:
            generation.request_stop()

    # -- notices -------------------------------------------------------------------------------

    def _announce_elsewhere(self, user_id: int, frame: Frame | None) -> None:
        state = self._started()
        notice: dict[str, Any] = {"user": user_id, "worker": state.worker}
        if frame is not None:
            notice["frame"] = frame.json
        try:
            self.redis.xadd(_key("notices"), notice, maxlen=NOTICES_KEEP, approximate=True)
        except redis.RedisError:
            REDIS_ERRORS.inc()
            log.warning("live: a notice for user %s reached only this worker", user_id, exc_info=True)

    # -- the one blocking reader ---------------------------------------------------------------

    def _newest_notice(self) -> str | None:
        """Where this worker's reading of the notices starts, taken before anyone here listens: a
        notice announced once listen() returned is never missed. None while Redis is away (the
        reader then starts from the newest when Redis answers)."""
        try:
            newest = self.redis.xrevrange(_key("notices"), count=1)
        except redis.RedisError:
            REDIS_ERRORS.inc()
            return None
        return newest[0][0].decode() if newest else "0-0"

    def _read_loop(self, state: _WorkerState, notices_from: str | None) -> None:
        inbox_from = "0-0"
        while not self._closed:
            try:
                if notices_from is None:
                    newest = self._reader.xrevrange(_key("notices"), count=1)
                    notices_from = newest[0][0].decode() if newest else "0-0"
                with self._lock:
                    mirrors = list(state.mirrors.values())
                streams = {state.inbox: inbox_from, _key("notices"): notices_from}
                streams.update((mirror.key, mirror.last_id) for mirror in mirrors if not mirror.ended)
                reply = self._reader.xread(streams, count=READ_COUNT, block=_ms(self.block_seconds))
            except Exception:
                if self._closed:  # close() pulled the connection from under the blocked read
                    return
                REDIS_ERRORS.inc()
                # Whatever it was, the worker's only reader must go on (stops, resumes, notices).
                log.warning("live: reading from Redis failed; retrying", exc_info=True)
                time.sleep(1.0)
                continue
            by_key = {mirror.key: mirror for mirror in mirrors}
            for raw_key, entries in _streams_of(reply):
                key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
                if not entries:
                    continue
                if key == state.inbox:
                    inbox_from = entries[-1][0].decode()
                elif key == _key("notices"):
                    notices_from = entries[-1][0].decode()
                for entry_id, fields in entries:
                    try:
                        self._dispatch(state, key, entry_id, fields, by_key)
                    except Exception:  # one odd entry must never stop this worker's reader
                        log.exception("live: an entry of %s could not be handled", key)
            self._check_lost([m for m in mirrors if not m.ended])

    def _dispatch(
        self, state: _WorkerState, key: str, entry_id: bytes, fields: dict[bytes, bytes], mirrors: dict[str, _Mirror]
    ) -> None:
        if key == state.inbox:
            self._handle_request(state, fields)
        elif key == _key("notices"):
            if fields.get(b"worker", b"").decode() != state.worker:
                encoded = fields.get(b"frame")
                self.notify_here(int(fields[b"user"]), Frame.decode(encoded) if encoded else None)
        elif key in mirrors:
            mirrors[key].add_entry(entry_id, fields)

    def _handle_request(self, state: _WorkerState, fields: dict[bytes, bytes]) -> None:
        kind = fields.get(b"kind")
        if kind == b"nudge":
            return
        session_id, gen = fields[b"session"].decode(), fields[b"gen"].decode()
        try:
            if kind == b"stop":
                self._stop_requested(session_id, gen)
            elif kind == b"follow":
                self._mirror_requested(state, session_id, gen)
        except redis.RedisError:
            REDIS_ERRORS.inc()
            log.warning("live: answering a %s request for %s failed", kind, session_id, exc_info=True)

    def _check_lost(self, mirrors: list[_Mirror]) -> None:
        """A mirrored generation whose owner let its claim go without writing the final frame, or whose
        worker stopped beating, is lost (its worker died); the claim is looked at only once the
        stream has been quiet for a while, and must stay gone for a whole alive period: a busy owner
        (a thousand follow requests in its inbox) may have released before it got to ours, and its
        answer is on the way."""
        now = time.monotonic()
        quiet = [m for m in mirrors if now - m.heard_at >= self.lost_after]
        if not quiet:
            return
        pipe = self.redis.pipeline(transaction=False)
        for mirror in quiet:
            pipe.get(_key(mirror.session_id, "lock"))
            pipe.exists(_alive_key(mirror.owner.worker))
        try:
            replies = pipe.execute()
        except redis.RedisError:
            REDIS_ERRORS.inc()
            return
        for mirror, raw, beating in zip(quiet, replies[::2], replies[1::2], strict=True):
            owner = _Owner.parse(raw)
            if owner is not None and owner.gen == mirror.owner.gen and beating:
                mirror.gone_since = None
            elif mirror.gone_since is None:
                mirror.gone_since = now
            elif now - mirror.gone_since >= self.alive_ttl:
                mirror.lose()
                continue
            mirror.heard_at = now


def _streams_of(reply: Any) -> list[tuple[Any, list[tuple[bytes, dict[bytes, bytes]]]]]:
    """An XREAD reply as (stream key, entries) pairs, whatever shape this redis-py version gives."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else ((item[0], item[1]) for item in reply)
    out = []
    for key, entries in pairs:
        # Some RESP3 parsers wrap a stream's entry list in one more list.
        if entries and isinstance(entries[0], list):
            entries = entries[0]
        out.append((key, list(entries)))
    return out
