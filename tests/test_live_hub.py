"""The registry of running generations (aihelper.live), against both implementations.

The Redis variant uses database 15 of the local server, flushed before each test; it is skipped on a
developer's machine without Redis and fails in CI.
"""

from __future__ import annotations

import fcntl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from aihelper.live import LiveFrame, LiveGeneration, LiveHub, MemoryHub, RedisHub, create_hub
from tests.conftest import require

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
    """Makes hubs of one implementation; with Redis, every hub made is another "worker" on the same data."""
    if request.param == "memory":
        return lambda **options: MemoryHub(**options)
    return request.getfixturevalue("make_redis_hub")


@pytest.fixture
def hub(make_hub: HubFactory) -> LiveHub:
    return make_hub()


def delta(text: str) -> dict:
    return {"type": "delta", "session_id": "s1", "message_id": 1, "content": text}


def begin(hub: LiveHub, session_id: str = "s1", user_id: int = USER) -> LiveGeneration:
    generation = hub.begin(session_id, 1, user_id)
    assert generation is not None
    return generation


def collect(frames: Iterator[LiveFrame] | None) -> list[LiveFrame]:
    assert frames is not None
    return list(frames)


def seqs(frames: list[LiveFrame]) -> list[int]:
    return [frame.seq for frame in frames]


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(target()), daemon=True)
    thread.start()
    return thread, result


def test_create_hub_picks_the_implementation(redis_url: str):
    assert isinstance(create_hub(None), MemoryHub)
    assert isinstance(create_hub(""), MemoryHub)
    hub = create_hub(redis_url)
    assert isinstance(hub, RedisHub)
    hub.close()


def test_a_session_runs_one_generation_at_a_time(hub: LiveHub):
    assert not hub.is_running("s1")
    generation = begin(hub)
    assert (generation.session_id, generation.message_id, generation.user_id) == ("s1", 1, USER)
    assert hub.is_running("s1")
    assert hub.begin("s1", 2, USER) is None
    assert hub.begin("s1", 2, OTHER_USER) is None
    assert begin(hub, "s2") is not None  # other sessions are not affected

    generation.finish({"type": "done"})
    assert generation.finished
    assert not hub.is_running("s1")
    successor = begin(hub)
    assert hub.is_running("s1")
    successor.publish(delta("new"))
    successor.finish({"type": "done"})
    # The session's frames are now the successor's, numbered from 1 again.
    assert [(frame.seq, frame.data["type"]) for frame in collect(hub.follow("s1", USER, 0))] == [
        (1, "delta"),
        (2, "done"),
    ]


def test_frames_are_numbered_and_the_final_frame_comes_last(hub: LiveHub):
    generation = begin(hub)
    sent = [delta("a"), delta("b"), delta("c")]
    published = [generation.publish(data) for data in sent]
    assert seqs(published) == [1, 2, 3]
    assert [data["seq"] for data in sent] == [1, 2, 3]
    assert published[2].data == {**delta("c"), "seq": 3}
    sent[0]["content"] = "changed later"  # the published frame keeps what was sent
    generation.finish({"type": "done", "message_id": 1})
    generation.finish({"type": "done", "message_id": 1})  # a second finish changes nothing
    with pytest.raises(RuntimeError):
        generation.publish(delta("late"))

    frames = collect(hub.follow("s1", USER, 0))
    assert seqs(frames) == [1, 2, 3, 4]
    assert [frame.data["seq"] for frame in frames] == [1, 2, 3, 4]
    assert frames[0].data["content"] == "a"
    assert frames[-1].data == {"type": "done", "message_id": 1, "seq": 4}
    assert collect(hub.follow("s1", USER, 2)) == frames[2:]
    assert collect(hub.follow("s1", USER, 4)) == []


def test_unicode_content_survives(hub: LiveHub):
    generation = begin(hub)
    generation.publish(delta("你好，世界 🌏"))
    generation.finish({"type": "done"})
    assert collect(hub.follow("s1", USER, 0))[0].data["content"] == "你好，世界 🌏"


def publish_in_background(generation: LiveGeneration, first: int, last: int) -> threading.Thread:
    def run() -> None:
        for n in range(first, last + 1):
            generation.publish(delta(f"t{n}"))
            if n % 10 == 0:
                time.sleep(0.002)  # let followers catch up and wait, so they see live frames too
        generation.finish({"type": "done"})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_resuming_follower_gets_the_missed_frames_then_the_live_ones(hub: LiveHub):
    generation = begin(hub)
    for n in range(1, 6):
        generation.publish(delta(f"t{n}"))
    publisher = publish_in_background(generation, 6, 200)
    frames = collect(hub.follow("s1", USER, 2, timeout=5))
    publisher.join(5)

    assert seqs(frames) == list(range(3, 202))  # no gap, no duplicate, the final frame last
    assert [frame.data["content"] for frame in frames[:-1]] == [f"t{n}" for n in range(3, 201)]
    assert frames[-1].data["type"] == "done"


def test_two_followers_each_get_every_frame(hub: LiveHub):
    generation = begin(hub)
    generation.publish(delta("t1"))
    first = hub.follow("s1", USER, 0, timeout=5)
    second = hub.follow("s1", USER, 1, timeout=5)
    readers = [in_thread(lambda frames=frames: collect(frames)) for frames in (first, second)]
    publish_in_background(generation, 2, 100).join(5)
    for thread, _ in readers:
        thread.join(5)

    assert seqs(readers[0][1][0]) == list(range(1, 102))
    assert seqs(readers[1][1][0]) == list(range(2, 102))


def test_a_published_frame_reaches_a_waiting_follower_at_once(hub: LiveHub):
    generation = begin(hub)
    frames = hub.follow("s1", USER, 0, timeout=5)
    assert frames is not None
    latencies = []
    for n in range(3):
        thread, received = in_thread(lambda: next(frames))
        time.sleep(0.03)  # the follower is blocked waiting by now
        sent_at = time.perf_counter()
        generation.publish(delta(f"t{n}"))
        thread.join(2)
        latencies.append(time.perf_counter() - sent_at)
        assert received[0].seq == n + 1
    frames.close()
    assert min(latencies) < 0.02, latencies


def test_follow_needs_an_existing_generation_of_the_same_user(hub: LiveHub):
    assert hub.follow("unknown", USER, 0) is None
    generation = begin(hub)
    generation.publish(delta("secret"))
    assert hub.follow("s1", OTHER_USER, 0) is None
    assert not hub.request_stop("s1", OTHER_USER)
    assert not hub.request_stop("unknown", USER)
    assert not generation.stop_requested()
    assert not generation.wait_stop(0.15)


def test_a_follower_can_stop_following(hub: LiveHub):
    generation = begin(hub)
    generation.publish(delta("t1"))
    frames = hub.follow("s1", USER, 0, timeout=5)
    assert frames is not None
    assert next(frames).seq == 1
    frames.close()
    # The hub (and with Redis its connections) still works for everyone else.
    generation.publish(delta("t2"))
    generation.finish({"type": "done"})
    assert seqs(collect(hub.follow("s1", USER, 0))) == [1, 2, 3]


def test_a_follower_gives_up_after_its_timeout(hub: LiveHub):
    generation = begin(hub)
    generation.publish(delta("t1"))
    started = time.monotonic()
    assert seqs(collect(hub.follow("s1", USER, 0, timeout=0.2))) == [1]
    assert 0.15 < time.monotonic() - started < 1.0


def test_a_stop_reaches_the_generation_promptly(make_hub: HubFactory):
    hub, other_worker = make_hub(), make_hub()  # with memory, simply two separate registries
    if isinstance(hub, MemoryHub):
        other_worker = hub
    generation = begin(hub)
    generation.publish(delta("t1"))
    watcher, stopped = in_thread(lambda: (generation.wait_stop(5), time.monotonic()))
    time.sleep(0.1)  # the watcher is waiting by now
    requested_at = time.monotonic()
    assert other_worker.request_stop("s1", USER)
    watcher.join(2)
    assert stopped[0][0] is True
    assert stopped[0][1] - requested_at < 0.5
    assert generation.stop_requested()
    assert generation.wait_stop(5)  # stays stopped, returns at once
    # Stopping does not finish: the generation still publishes its last frames and the final one.
    generation.publish(delta("t2"))
    generation.finish({"type": "done", "stopped": True})
    assert not other_worker.request_stop("s1", USER)  # nothing runs any more


def test_a_watcher_waiting_in_short_slices_sees_a_stop_promptly(make_hub: HubFactory):
    # How the engine watches: wait_stop() in short slices until the generation is done.
    hub, other_worker = make_hub(), make_hub()
    if isinstance(hub, MemoryHub):
        other_worker = hub
    generation = begin(hub)

    def watch() -> float:
        while not generation.wait_stop(0.05):
            pass
        return time.monotonic()

    watcher, stopped_at = in_thread(watch)
    time.sleep(0.2)  # a few slices have passed
    requested_at = time.monotonic()
    assert other_worker.request_stop("s1", USER)
    watcher.join(2)
    assert stopped_at[0] - requested_at < 0.5
    generation.finish({"type": "done"})


def test_stop_requested_notices_a_stop_without_a_watcher(make_hub: HubFactory):
    hub, other_worker = make_hub(), make_hub()
    if isinstance(hub, MemoryHub):
        other_worker = hub
    generation = begin(hub)
    assert not generation.stop_requested()
    assert other_worker.request_stop("s1", USER)
    deadline = time.monotonic() + 0.5
    while not generation.stop_requested():
        assert time.monotonic() < deadline, "the stop did not arrive"
        time.sleep(0.01)
    generation.finish({"type": "done"})


def test_wait_stop_ends_with_the_generation(hub: LiveHub):
    generation = begin(hub)
    watcher, stopped = in_thread(lambda: (generation.wait_stop(5), time.monotonic()))
    time.sleep(0.1)
    finished_at = time.monotonic()
    generation.finish({"type": "done"})
    watcher.join(2)
    assert stopped[0][0] is False
    assert stopped[0][1] - finished_at < 0.5


def test_a_finished_generation_lingers_then_is_forgotten(make_hub: HubFactory):
    hub = make_hub(linger=0.2)
    generation = begin(hub)
    generation.publish(delta("t1"))
    generation.publish(delta("t2"))
    generation.finish({"type": "error", "error": "upstream failed"})
    assert not hub.is_running("s1")

    frames = collect(hub.follow("s1", USER, 1))
    assert seqs(frames) == [2, 3]
    assert frames[-1].data["type"] == "error"
    assert hub.follow("s1", OTHER_USER, 0) is None

    time.sleep(0.25)
    assert hub.follow("s1", USER, 0) is None
    assert not hub.is_running("s1")
    assert hub.begin("s1", 2, USER) is not None


def test_a_generation_that_never_finishes_frees_its_session_after_the_ttl(make_hub: HubFactory):
    hub = make_hub(lock_ttl=0.2)
    generation = begin(hub)
    time.sleep(0.12)
    generation.publish(delta("t1"))  # activity keeps it alive past the TTL counted from begin
    time.sleep(0.12)
    assert hub.is_running("s1")
    assert hub.begin("s1", 2, USER) is None

    time.sleep(0.22)
    assert not hub.is_running("s1")
    assert hub.begin("s1", 2, USER) is not None


def test_a_follower_in_another_worker_gets_the_frames(make_redis_hub: HubFactory):
    publishing_worker, following_worker = make_redis_hub(), make_redis_hub()
    generation = begin(publishing_worker)
    generation.publish(delta("t1"))
    assert following_worker.is_running("s1")
    assert following_worker.begin("s1", 2, USER) is None

    frames = following_worker.follow("s1", USER, 0, timeout=5)
    assert frames is not None
    assert next(frames).data["content"] == "t1"
    thread, received = in_thread(lambda: next(frames))
    time.sleep(0.05)
    sent_at = time.perf_counter()
    generation.publish(delta("t2"))
    thread.join(2)
    assert received[0].data["content"] == "t2"
    assert time.perf_counter() - sent_at < 0.05
    generation.finish({"type": "done"})
    assert [frame.data["type"] for frame in frames] == ["done"]
    assert not following_worker.is_running("s1")


def test_redis_keys_are_namespaced_and_expire(make_redis_hub: HubFactory, redis_url: str):
    hub = make_redis_hub(linger=30)
    generation = begin(hub, "abc")
    generation.publish(delta("t1"))
    client = redis.Redis.from_url(redis_url)
    try:
        keys = sorted(key.decode() for key in client.keys("*"))
        assert keys and all(key.startswith("aihelper:live:abc:") for key in keys), keys
        assert all(0 < client.pttl(key) <= 20 * 60 * 1000 for key in keys)
        generation.finish({"type": "done"})
        assert not client.exists("aihelper:live:abc:lock")
        assert all(0 < client.pttl(key) <= 30 * 1000 for key in client.keys("*"))
    finally:
        client.close()


def test_waiting_followers_and_watchers_share_one_blocked_connection(make_redis_hub: HubFactory, redis_url: str):
    # One blocked connection per waiter would run into redis-py's pool limit (100) under a busy worker.
    hub = make_redis_hub()
    generations = [begin(hub, f"s{n}") for n in range(60)]
    followers = [in_thread(lambda n=n: collect(hub.follow(f"s{n}", USER, 0, timeout=5))) for n in range(60)]
    followers += [in_thread(lambda n=n: collect(hub.follow(f"s{n}", USER, 0, timeout=5))) for n in range(60)]
    watchers = [in_thread(lambda generation=generation: generation.wait_stop(5)) for generation in generations]
    time.sleep(0.3)  # all of them are waiting by now
    client = redis.Redis.from_url(redis_url)
    try:
        blocked = [entry for entry in client.client_list() if "b" in entry["flags"] and entry["db"] == "15"]
    finally:
        client.close()
    assert len(blocked) == 1, blocked

    for generation in generations:
        generation.publish(delta("t1"))
        generation.finish({"type": "done"})
    for thread, _ in followers + watchers:
        thread.join(5)
    assert all(seqs(received[0]) == [1, 2] for _, received in followers)
    assert all(received == [False] for _, received in watchers)
