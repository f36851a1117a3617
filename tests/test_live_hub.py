"""The registry of running generations (aihelper.live), against both implementations.

With Redis, every hub made by `make_hub` is another worker on the same Redis database (15 of the
local server, flushed before each test); the Redis tests are skipped on a developer's machine
without Redis and fail in CI.
"""

from __future__ import annotations

import fcntl
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from aihelper.chat import frames
from aihelper.chat.frames import Frame
from aihelper.live import LiveGeneration, LiveHub, MemoryHub, RedisHub, Refused, create_hub
from aihelper.live.base import Cursor, Wakeup
from aihelper.live.redis import COMMAND_CONNECTIONS
from tests.fixtures.actions import wait_for
from tests.fixtures.servers import free_port, require

REDIS_TEST_URL = "redis://127.0.0.1:6379/15"
USER = 7
OTHER_USER = 8

HubFactory = Callable[..., LiveHub]


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        require(
            False,
            f"Redis is not reachable at {REDIS_TEST_URL} ({type(error).__name__})",
            'start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
        )
    # Two test runs at once (two people, or a run and a watcher) would flush database 15 under each
    # other's feet: one Redis test at a time on this machine.
    with open(Path(tempfile.gettempdir()) / "aihelper-test-live-hub-redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client.flushdb()
            yield REDIS_TEST_URL
            client.flushdb()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            client.close()


@pytest.fixture
def make_redis_hub(redis_url: str) -> Iterator[HubFactory]:
    hubs: list[LiveHub] = []

    def make(**options: float) -> LiveHub:
        hub = RedisHub(redis_url, **options)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


@pytest.fixture(params=["memory", "redis"])
def make_hub(request: pytest.FixtureRequest) -> HubFactory:
    """Makes hubs of one implementation. With Redis, every hub made is another "worker"; in memory
    there is one worker, so "another worker" is the same hub (unless made with other options)."""
    if request.param == "memory":
        the_worker = MemoryHub()
        return lambda **options: MemoryHub(**options) if options else the_worker
    return request.getfixturevalue("make_redis_hub")


@pytest.fixture
def hub(make_hub: HubFactory) -> LiveHub:
    return make_hub()


def begin(hub: LiveHub, session_id: str = "s1", user_id: int = USER, **options) -> LiveGeneration:
    return hub.begin(session_id, user_id, client_id=options.get("client_id"), max_running=options.get("max_running", 3))


def publish(generation: LiveGeneration, text: str) -> None:
    generation.publish(frames.delta(generation.session_id, 1, generation.next_seq, text))


def finish(generation: LiveGeneration) -> None:
    generation.finish(
        frames.done(
            generation.session_id, 1, generation.next_seq, status="done", finish_reason="stop", usage=None, title="t"
        )
    )


class Reader:
    """A follower as a socket is one: woken, then takes everything there is."""

    def __init__(self) -> None:
        self.wakeup = Wakeup()
        self.frames: list[Frame] = []
        self.cursor: Cursor | None = None

    def follow(self, hub: LiveHub, session_id: str = "s1", after: int = 0, user_id: int = USER) -> Cursor | None:
        self.cursor = hub.follow(session_id, user_id, after, self.wakeup)
        return self.cursor

    def read_to_end(self, timeout: float = 5.0) -> list[Frame]:
        deadline = time.monotonic() + timeout
        while not self.cursor.at_end:
            assert time.monotonic() < deadline, f"no end within {timeout}s: {self.frames}"
            self.wakeup.wait(0.05)
            self.frames += self.cursor.take()
        return self.frames

    def read_until(self, count: int, timeout: float = 5.0) -> list[Frame]:
        deadline = time.monotonic() + timeout
        while len(self.frames) < count:
            assert time.monotonic() < deadline, f"{len(self.frames)} of {count} frames within {timeout}s"
            self.wakeup.wait(0.05)
            self.frames += self.cursor.take()
        return self.frames


def seqs(received: list[Frame]) -> list[int]:
    return [frame.seq for frame in received]


def texts(received: list[Frame]) -> list[str]:
    return [frame.fields["content"] for frame in received if frame.type == "delta"]


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(target()), daemon=True)
    thread.start()
    return thread, result


def test_create_hub_picks_the_implementation_whose_claims_lapse_with_the_answer_lease(redis_url: str):
    assert isinstance(create_hub(None, 30.0), MemoryHub)
    assert isinstance(create_hub("", 30.0), MemoryHub)
    hub = create_hub(redis_url, 12.0)
    assert isinstance(hub, RedisHub) and hub.lock_ttl == 12.0
    hub.close()


def test_a_conversation_runs_one_generation_at_a_time(make_hub: HubFactory):
    hub, other_worker = make_hub(), make_hub()
    generation = begin(hub, client_id="c-1")
    for worker in {hub, other_worker}:
        with pytest.raises(Refused) as refused:
            begin(worker, client_id="c-2")
        assert (refused.value.code, refused.value.running_client_id) == ("busy", "c-1")
    assert begin(other_worker, "s2") is not None  # other conversations are not affected

    finish(generation)
    successor = begin(other_worker)
    publish(successor, "new")
    finish(successor)
    reader = Reader()
    assert reader.follow(other_worker) is not None
    assert [(frame.seq, frame.type) for frame in reader.read_to_end()] == [(1, "delta"), (2, "done")]


def test_a_user_runs_only_a_few_generations_in_all_workers(make_hub: HubFactory):
    hub, other_worker = make_hub(), make_hub()
    running = [begin(hub, "s1", max_running=2), begin(other_worker, "s2", max_running=2)]
    for worker in (hub, other_worker):
        with pytest.raises(Refused) as refused:
            begin(worker, "s3", max_running=2)
        assert refused.value.code == "too_many_turns"
    assert begin(hub, "s9", OTHER_USER, max_running=2) is not None  # counted per user
    finish(running[0])
    running[1].abandon()
    begin(other_worker, "s3", max_running=2)
    begin(hub, "s4", max_running=2)


def test_a_resuming_follower_gets_the_missed_frames_then_the_live_ones(hub: LiveHub):
    generation = begin(hub)
    for n in range(1, 6):
        publish(generation, f"t{n}")
    reader = Reader()
    assert reader.follow(hub, after=2) is not None

    def publish_the_rest() -> None:
        for n in range(6, 201):
            publish(generation, f"t{n}")
            if n % 10 == 0:  # the follower catches up and waits, so it sees live frames too
                wait_for(lambda n=n: len(reader.frames) >= n - 2, step=0.001)
        finish(generation)

    publisher, _ = in_thread(publish_the_rest)
    received = reader.read_to_end()
    publisher.join(5)
    assert seqs(received) == list(range(3, 202))  # no gap, no duplicate, the final frame last
    assert texts(received) == [f"t{n}" for n in range(3, 201)]
    assert received[-1].type == "done"


def test_two_followers_each_get_every_frame_and_a_frame_is_encoded_once(hub: LiveHub):
    generation = begin(hub)
    publish(generation, "t1")
    first, second = Reader(), Reader()
    first.follow(hub)
    second.follow(hub, after=1)
    for n in range(2, 101):
        publish(generation, f"t{n}")
    finish(generation)
    assert seqs(first.read_to_end()) == list(range(1, 102))
    assert seqs(second.read_to_end()) == list(range(2, 102))
    assert all(a is b for a, b in zip(first.frames[1:], second.frames, strict=True)), "the same frame objects"


def test_a_published_frame_wakes_a_waiting_follower(hub: LiveHub):
    generation = begin(hub)
    reader = Reader()
    reader.follow(hub)
    for n in range(3):
        waiting, woken = in_thread(lambda: reader.wakeup.wait(60))
        publish(generation, f"t{n}")
        waiting.join(10)
        assert woken == [True], "woken by the frame, long before its wait would have ended"
    assert seqs(reader.cursor.take()) == [1, 2, 3]


def test_follow_and_stop_need_a_generation_of_the_same_user(make_hub: HubFactory):
    hub, other_worker = make_hub(), make_hub()
    assert Reader().follow(hub, "unknown") is None
    generation = begin(hub)
    publish(generation, "secret")
    for worker in {hub, other_worker}:
        assert Reader().follow(worker, user_id=OTHER_USER) is None
        assert not worker.request_stop("s1", OTHER_USER)
        assert not worker.request_stop("unknown", USER)
    assert not generation.stop_requested  # and none was sent: each answered no


def test_a_stop_reaches_the_generation_from_any_worker(make_hub: HubFactory):
    hub, other_worker = make_hub(), make_hub()
    for worker in {hub, other_worker}:
        generation = begin(hub)
        stopped = threading.Event()
        generation.when_stopped(stopped.set)
        publish(generation, "t1")
        assert worker.request_stop("s1", USER)
        assert stopped.wait(10)
        assert generation.stop_requested
        # Stopping does not finish: the generation still publishes its last frames and the final one.
        publish(generation, "t2")
        finish(generation)
        assert not worker.request_stop("s1", USER)  # nothing runs any more


class Clock:
    """A clock the test moves on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_finished_generation_lingers_then_is_forgotten(make_hub: HubFactory):
    clock = Clock()
    hub = make_hub(linger=30, clock=clock)
    generation = begin(hub)
    publish(generation, "t1")
    publish(generation, "t2")
    generation.finish(frames.error("upstream failed", "provider_down", session_id="s1", message_id=1, seq=3))

    reader = Reader()
    reader.follow(hub, after=1)
    assert seqs(reader.read_to_end()) == [2, 3]
    assert reader.frames[-1].type == "error"
    assert Reader().follow(hub, user_id=OTHER_USER) is None

    clock.now += 29
    assert Reader().follow(hub, after=3) is not None  # still lingering
    clock.now += 2
    assert Reader().follow(hub) is None
    assert begin(hub) is not None


def test_an_abandoned_generation_frees_its_conversation_and_shows_nothing(hub: LiveHub):
    generation = begin(hub, max_running=1)
    generation.abandon()
    assert Reader().follow(hub) is None
    begin(hub, max_running=1)


def test_a_frame_written_once_is_shared_by_the_hub_and_encoded_once(hub: LiveHub):
    generation = begin(hub)
    publish(generation, "你好，世界 🌏")
    finish(generation)
    reader = Reader()
    reader.follow(hub)
    frame = reader.read_to_end()[0]
    assert frame.fields["content"] == "你好，世界 🌏"
    assert frame.json is frame.json


def test_notices_reach_the_users_pages_in_every_worker(make_hub: HubFactory):
    hub, other_worker = make_hub(), make_hub()

    class Page:
        def __init__(self) -> None:
            self.frames: list[Frame] = []
            self.rechecks = 0

        def notice(self, frame: Frame) -> None:
            self.frames.append(frame)

        def recheck_login(self) -> None:
            self.rechecks += 1

    here, elsewhere, stranger = Page(), Page(), Page()
    hub.listen(USER, here)
    other_worker.listen(USER, elsewhere)
    other_worker.listen(OTHER_USER, stranger)
    hub.announce(USER, frames.title("s1", "A new title"))
    hub.logins_ended(USER)
    wait_for(lambda: elsewhere.frames and elsewhere.rechecks)
    assert [f.fields["title"] for f in here.frames] == ["A new title"]
    assert [f.fields["title"] for f in elsewhere.frames] == ["A new title"]
    assert (here.rechecks, elsewhere.rechecks) == (1, 1)
    assert (stranger.frames, stranger.rechecks) == ([], 0)
    hub.unlisten(USER, here)
    hub.announce(USER, frames.title("s1", "Again"))
    wait_for(lambda: len(elsewhere.frames) == 2)
    assert len(here.frames) == 1


# --- Redis: what other workers and instances need -----------------------------------------------


def test_a_follower_in_another_worker_gets_every_frame_once(make_redis_hub: HubFactory):
    owner, elsewhere = make_redis_hub(), make_redis_hub()
    generation = begin(owner)
    for n in range(1, 11):
        publish(generation, f"t{n}")
    reader = Reader()
    assert reader.follow(elsewhere, after=3) is not None
    assert seqs(reader.read_until(7)) == list(range(4, 11))

    publish(generation, "t11")
    assert seqs(reader.read_until(8))[-1] == 11  # a live frame, through the batching
    for n in range(12, 31):
        publish(generation, f"t{n}")
    finish(generation)
    received = reader.read_to_end()
    assert seqs(received) == list(range(4, 32))
    assert texts(received) == [f"t{n}" for n in range(4, 31)]
    assert received[-1].type == "done" and not reader.cursor.lost


def test_a_generation_nobody_follows_elsewhere_writes_no_frames_to_redis(make_redis_hub: HubFactory, redis_url: str):
    hub = make_redis_hub()
    generation = begin(hub)
    reader = Reader()
    reader.follow(hub)
    for n in range(500):
        publish(generation, f"t{n}")
    finish(generation)
    assert len(reader.read_to_end()) == 501
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.keys("aihelper:live:s1:frames:*") == []
    finally:
        client.close()


def renewed_twice(redis_url: str, key: str) -> None:
    """Waits until the key's time to live went back up twice: whoever keeps it renewed it. (Up from
    the lowest seen: a first reading just after a renewal is as high as the TTL ever gets.)"""
    client = redis.Redis.from_url(redis_url)
    try:
        for _ in range(2):
            lowest = [client.pttl(key)]

            def went_up(lowest: list[int] = lowest) -> bool:
                ttl = client.pttl(key)
                lowest[0] = min(lowest[0], ttl)
                return ttl > lowest[0] + 20

            wait_for(went_up, step=0.01)
    finally:
        client.close()


def begun(hub: LiveHub, session_id: str = "s1", **options) -> LiveGeneration | None:
    """The generation, or None while the hub refuses it."""
    try:
        return begin(hub, session_id, **options)
    except Refused:
        return None


def test_a_claim_is_renewed_while_it_runs_and_lapses_when_its_worker_dies(make_redis_hub: HubFactory, redis_url: str):
    owner, elsewhere = make_redis_hub(lock_ttl=0.3), make_redis_hub(lock_ttl=0.3)
    begin(owner)
    renewed_twice(redis_url, "aihelper:live:s1:lock")
    with pytest.raises(Refused):
        begin(elsewhere)
    owner.close()  # the worker dies without finishing: nobody renews the claim
    wait_for(lambda: begun(elsewhere), timeout=3)


def test_a_dead_workers_claims_are_void_once_it_stops_beating_long_before_they_lapse(
    make_redis_hub: HubFactory, redis_url: str
):
    owner = make_redis_hub(lock_ttl=30, alive_seconds=0.3)
    elsewhere = make_redis_hub(lock_ttl=30, alive_seconds=0.3)
    begin(owner, "first")
    begin(owner, "second")
    renewed_twice(redis_url, f"aihelper:live:worker:{owner._state.worker}:alive")
    with pytest.raises(Refused) as refused:
        begin(elsewhere, "first")
    assert refused.value.code == "busy"
    with pytest.raises(Refused) as refused:
        begin(elsewhere, "third", max_running=2)
    assert refused.value.code == "too_many_turns"
    owner.close()  # the worker dies: its claims would live 30 s more
    wait_for(lambda: begun(elsewhere, "first", max_running=2), timeout=3)
    begin(elsewhere, "third", max_running=2)  # "second" no longer counts either


def test_a_renewal_while_a_claim_is_on_its_way_never_refuses_the_claim_itself(make_redis_hub: HubFactory):
    hub = make_redis_hub(lock_ttl=0.03)  # the flusher renews every 10 ms
    for turn in range(500):
        finish(begin(hub, "s1", client_id=f"c-{turn}"))  # each would be refused "busy" by its own lock


def test_a_follower_elsewhere_learns_that_the_generation_was_lost(make_redis_hub: HubFactory):
    owner = make_redis_hub(lock_ttl=0.3)
    elsewhere = make_redis_hub(lock_ttl=0.3, block_seconds=0.2, lost_after=0.3)
    generation = begin(owner)
    publish(generation, "t1")
    reader = Reader()
    reader.follow(elsewhere)
    reader.read_until(1)
    owner.close()
    reader.read_to_end(timeout=5)
    assert reader.cursor.lost
    assert texts(reader.frames) == ["t1"]


def test_a_generation_left_to_linger_is_followed_elsewhere_until_it_is_gone(make_redis_hub: HubFactory):
    owner, elsewhere = make_redis_hub(), make_redis_hub()
    generation = begin(owner)
    publish(generation, "t1")
    finish(generation)
    # The claim is gone: a page elsewhere reads the stored answer instead (the caller says not_running).
    assert Reader().follow(elsewhere) is None


def test_redis_keys_are_namespaced_and_expire(make_redis_hub: HubFactory, redis_url: str):
    owner, elsewhere = make_redis_hub(linger=30), make_redis_hub(linger=30)
    generation = begin(owner, "abc")
    publish(generation, "t1")
    reader = Reader()
    reader.follow(elsewhere, "abc")
    reader.read_until(1)
    client = redis.Redis.from_url(redis_url)
    try:
        keys = sorted(key.decode() for key in client.keys("*"))
        assert keys and all(key.startswith("aihelper:live:") for key in keys), keys
        assert all(0 < client.pttl(key) <= 30 * 1000 for key in keys if "notices" not in key), keys
        finish(generation)
        assert not client.exists("aihelper:live:abc:lock")
        assert client.zcard(f"aihelper:live:user:{USER}:running") == 0
    finally:
        client.close()


def test_a_thousand_follows_elsewhere_hold_a_few_connections(make_redis_hub: HubFactory, redis_url: str):
    owner, elsewhere = make_redis_hub(), make_redis_hub()
    generations = [begin(owner, f"s{n}", max_running=1000) for n in range(1000)]
    readers = [Reader() for _ in generations]
    for n, reader in enumerate(readers):
        assert reader.follow(elsewhere, f"s{n}") is not None
    for generation in generations:
        publish(generation, "t1")
        finish(generation)
    for reader in readers:
        assert seqs(reader.read_to_end()) == [1, 2]
    client = redis.Redis.from_url(redis_url)
    try:
        connections = [entry for entry in client.client_list() if entry["db"] == "15"]
    finally:
        client.close()
    # Each worker: its command pool and one blocking reader, whatever the number of streams.
    assert len(connections) <= 2 * (COMMAND_CONNECTIONS + 1) + 1, len(connections)


def test_without_redis_a_turn_runs_in_its_own_worker(make_redis_hub: HubFactory):
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", free_port()))
        closed_port = probe.getsockname()[1]
    hub = RedisHub(f"redis://127.0.0.1:{closed_port}/15")
    try:
        generation = begin(hub)
        reader = Reader()
        reader.follow(hub)
        publish(generation, "still works")
        finish(generation)
        assert texts(reader.read_to_end()) == ["still works"]
    finally:
        hub.close()


def test_a_follower_that_fails_never_breaks_the_publisher(hub: LiveHub):
    class Broken:
        def wake(self) -> None:
            raise ConnectionResetError("the client went away")

    generation = begin(hub)
    generation.follow(0, Broken())
    reader = Reader()
    reader.follow(hub)
    publish(generation, "t1")  # would raise into the generation
    publish(generation, "t2")
    finish(generation)
    assert texts(reader.read_to_end()) == ["t1", "t2"]
