#!/usr/bin/env python3
"""Streaming load benchmark: N websocket chats through the live app vs. the same N streams straight
from the fake provider, in the same run, on the same machine (PERFORMANCE.md).

The script starts everything itself and stops it at the end:

- the fake OpenAI-compatible provider (tests/fixtures/fake_provider.py) in its own process, so that it does
  not share a GIL with the load generator (it also counts the requests it gets: streaming answers
  and the non-streaming title requests);
- gunicorn with the production config (gevent workers) on a free port, with a temporary instance
  folder (secrets, SQLite file, config.py with fast password hashes and no rate limits);
- an admin, the provider and the model "fake-model"; one user per simulated browser.

Each phase first runs the DIRECT baseline (N concurrent streaming requests straight to the fake
provider over raw asyncio streams), then the same N streams through the app (websocket /ws/chat,
API.md §4), measuring both the same way: time to first token from the moment the request is
written, the characters of text received (a `delta` frame may carry many tokens, so frames are no
measure of throughput), the gaps between consecutive content arrivals as the client reads them, the
whole stream's time. During the app phase it also takes the CPU the gunicorn workers spent (per turn
and per relayed frame), their peak RSS and, with Redis, the peak number of the app's Redis
connections. Afterwards every answer is looked up in the database (the question by its client_id,
the answer after it in the same conversation): role "assistant", status "done", content == the
expected text. The run ends with the targets of PERFORMANCE.md for the scenario, met or missed.

Usage (see bench/README.md):

    python bench/stream_load.py --scenario ttft --config single
    python bench/stream_load.py --scenario relay --config scaled
    python bench/stream_load.py --scenario turns --config single
    python bench/stream_load.py --scenario burst --database mariadb
    python bench/stream_load.py --scenario sustained --streams 500,1000

This is a script, not a test: it prints figures and exits 0 unless the run itself could not be set
up (its exit code is 1 when streams failed or answers were not stored, so a shell can tell; a missed
target alone does not fail the run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-1"  # noqa: S105 - throwaway accounts in a temporary database
MODEL_ID = "fake-model"
FAST_PASSWORD_HASH = "pbkdf2:sha256:1000"  # noqa: S105 - a hash method, not a secret
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
DEFAULT_MYSQL_SERVER = "mysql+pymysql://root@127.0.0.1:3306"

# Per scenario: what PERFORMANCE.md asks for. Command-line options override any of these.
SCENARIOS: dict[str, dict[str, Any]] = {
    # One user, sequential turns in one conversation: TTFT added by the app (and, with 200 tokens at
    # 5 ms, the whole answer's time against direct: the "≤ 1.02× direct" row).
    "ttft": {"streams": [50], "tokens": 200, "token_delay": 0.005, "first_token_delay": 0.0, "sequential": True},
    # Relay ceiling: 20 clients × 2000 tokens, no delay: aggregate text (characters/s) against direct, and
    # the workers' CPU per relayed frame.
    "relay": {"streams": [20], "tokens": 2000, "token_delay": 0.0, "first_token_delay": 0.0, "sequential": False},
    # 200 new conversations at once: TTFT p50 and errors.
    "burst": {"streams": [200], "tokens": 50, "token_delay": 0.02, "first_token_delay": 0.0, "sequential": False},
    # 500 then 1000 simultaneous streams at 20 tokens/s: errors, all stored, TTFT, total, added p99 gap.
    "sustained": {
        "streams": [500, 1000],
        "tokens": 100,
        "token_delay": 0.05,
        "first_token_delay": 0.0,
        "sequential": False,
    },
    # One user, one socket, one conversation, 200 sequential turns whose answer is one short token: the
    # workers' CPU per turn is then the per-turn work (the conversation's one title request happens
    # during the warm-up, which the script lets finish before it measures).
    "turns": {"streams": [200], "tokens": 1, "token_delay": 0.0, "first_token_delay": 0.0, "sequential": True},
}

# --config: shorthands for --workers/--database/--redis-url (PERFORMANCE.md's two configurations).
# Without --config the defaults are 2 workers, SQLite and Redis; an explicit option overrides either.
CONFIGS: dict[str, dict[str, Any]] = {
    "single": {"workers": 1, "database": "sqlite", "redis_url": ""},
    "scaled": {"workers": 2, "database": "mariadb", "redis_url": DEFAULT_REDIS_URL},
}
DEFAULT_CONFIG: dict[str, Any] = {"workers": 2, "database": "sqlite", "redis_url": DEFAULT_REDIS_URL}


# --------------------------------------------------------------------------------------------------
# small helpers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def raise_fd_limit() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def expected_tokens(count: int) -> list[str]:
    """Distinct pieces (some non-ASCII) so that a lost, doubled or reordered piece shows in the text."""
    return [(f"词{i}，" if i % 10 == 9 else f"tok{i} ") for i in range(count)]


def code_version() -> str:
    """The app code measured: the commit, and whether files under aihelper/ differ from it."""
    git = shutil.which("git")
    if git is None:
        return "unknown (no git)"
    try:
        head = subprocess.run(  # noqa: S603 - fixed arguments
            [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603 - fixed arguments
            [git, "status", "--porcelain", "--", "aihelper"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    changed = [line for line in dirty if line.strip()]
    return f"{head or '?'}" + (f" + {len(changed)} uncommitted file(s) under aihelper/" if changed else "")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------------
# CPU accounting from /proc (utime + stime), to show where the machine's two cores went in a phase

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(c) for c in children.read().split()]
    except OSError:
        return []


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().strip() == name:
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def listen_overflows() -> int:
    """TcpExtListenOverflows: connections dropped because a listener's accept queue was full (the
    client then waits for SYN-ACK retransmits: 1 s, 3 s, 7 s … show up as TTFT)."""
    try:
        with open("/proc/net/netstat") as netstat:
            lines = netstat.read().splitlines()
    except OSError:
        return 0
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:"):
            fields = dict(zip(header.split()[1:], values.split()[1:], strict=False))
            return int(fields.get("ListenOverflows", 0))
    return 0


class QueueWatch:
    """Samples the accept queues of the listeners we care about (`ss -ltn`: Recv-Q = connections
    waiting for accept(), Send-Q = backlog) while a phase runs; reports the fullest each got."""

    def __init__(self, ports: dict[int, str], every: float = 0.25):
        self.ports = ports
        self.every = every
        self.peak: dict[str, tuple[int, int]] = {}
        self.task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                process = await asyncio.create_subprocess_exec(
                    "ss", "-ltnH", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
                )
                out, _ = await process.communicate()
                for line in out.decode(errors="replace").splitlines():
                    fields = line.split()
                    if len(fields) < 4:
                        continue
                    port = int(fields[3].rsplit(":", 1)[-1]) if fields[3].rsplit(":", 1)[-1].isdigit() else 0
                    name = self.ports.get(port)
                    if name is not None:
                        queued, backlog = int(fields[1]), int(fields[2])
                        if queued >= self.peak.get(name, (0, 0))[0]:
                            self.peak[name] = (queued, backlog)
            await asyncio.sleep(self.every)

    def start(self) -> None:
        if shutil.which("ss"):
            self.peak = {}
            self.task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, tuple[int, int]]:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        return {name: peak for name, peak in self.peak.items() if peak[0]}


class CpuMeter:
    """CPU seconds used by the load generator, the provider, gunicorn (master + workers), the database
    server and Redis between start() and stop()."""

    def __init__(self, provider_pid: int, gunicorn_pid: int, database: str, with_redis: bool):
        self.groups = {
            "loadgen": lambda: [os.getpid()],
            "provider": lambda: [provider_pid],
            "gunicorn": lambda: [gunicorn_pid, *_children(gunicorn_pid)],
        }
        if database == "mariadb":
            found = _pids_named("mariadbd") or _pids_named("mysqld")
            self.groups["mariadb"] = lambda: found
        if with_redis:
            found_redis = _pids_named("redis-server")
            self.groups["redis"] = lambda: found_redis
        self.master = gunicorn_pid
        # Filled by stop(): CPU seconds each gunicorn worker (not the master) used in the interval.
        self.worker_seconds: dict[int, float] = {}
        self.machine_before = 0.0
        self.before: dict[str, dict[int, float]] = {}
        self.t0 = 0.0

    def _sample(self) -> dict[str, dict[int, float]]:
        return {name: {pid: _proc_cpu(pid) for pid in pids()} for name, pids in self.groups.items()}

    @staticmethod
    def _machine_busy() -> float:
        """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
        try:
            with open("/proc/stat") as stat:
                fields = [int(v) for v in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return 0.0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return (sum(fields[:8]) - idle) / CLOCK_TICKS

    def start(self) -> None:
        self.before = self._sample()
        self.machine_before = self._machine_busy()
        self.t0 = time.monotonic()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        wall = max(time.monotonic() - self.t0, 1e-9)
        machine = 100.0 * (self._machine_busy() - self.machine_before) / wall
        usage = {}
        for name, pids in after.items():
            used = {pid: cpu - self.before.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items()}
            usage[name] = 100.0 * sum(used.values()) / wall  # % of one core
            if name == "gunicorn":  # per worker: is one worker saturated while the other idles?
                self.worker_seconds = {pid: used[pid] for pid in sorted(p for p in pids if p != self.master)}
                for number, pid in enumerate(self.worker_seconds, start=1):
                    usage[f"worker{number}"] = 100.0 * used[pid] / wall
        ours = sum(value for name, value in usage.items() if not name.startswith("worker"))
        # Anything else running on the machine meanwhile (another test suite, say) skews the figures.
        usage["other processes"] = max(0.0, machine - ours)
        return usage


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class WorkerWatch:
    """Samples, while an app phase runs, each gunicorn worker's resident memory (VmRSS) and, with Redis,
    the app's connections to it: `CLIENT LIST` entries of the bench's database (db=13 by default; the
    sampler's own connection left out), each attributed to the worker that owns its local port
    (`ss -tnp`). Reports the peaks: RSS per worker, connections in total and per worker."""

    def __init__(self, worker_pids, redis_url: str | None, every: float = 0.5):
        self.worker_pids = worker_pids  # () -> the workers' pids now (a worker may be replaced)
        self.redis_url = redis_url or None
        self.every = every
        self.task: asyncio.Task | None = None
        self.rss: dict[int, float] = {}
        self.redis_total = 0
        self.redis_by_pid: dict[str, int] = {}
        self.redis_error: str | None = None
        self.samples = 0

    async def _redis_sample(self, client, own_id: int, db: int, port: int) -> None:
        entries = await client.client_list()
        ports = []
        for entry in entries:
            if str(entry.get("db")) != str(db) or str(entry.get("id")) == str(own_id):
                continue
            addr = entry.get("addr", "")
            ports.append(int(addr.rsplit(":", 1)[1]) if addr.rsplit(":", 1)[-1].isdigit() else 0)
        owners: dict[int, int] = {}
        if ports and shutil.which("ss"):
            process = await asyncio.create_subprocess_exec(
                "ss",
                "-tnpH",
                "state",
                "established",
                f"( dport = :{port} )",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            out, _ = await process.communicate()
            for line in out.decode(errors="replace").splitlines():
                fields = line.split()
                found = re.search(r"pid=(\d+)", line)
                if len(fields) >= 3 and found:
                    local = fields[2].rsplit(":", 1)[-1]
                    if local.isdigit():
                        owners[int(local)] = int(found.group(1))
        workers = set(self.worker_pids())
        counts: Counter[str] = Counter()
        for local in ports:
            owner = owners.get(local)
            counts[f"pid {owner}" if owner in workers else "not a worker"] += 1
        self.redis_total = max(self.redis_total, len(ports))
        for name, count in counts.items():
            self.redis_by_pid[name] = max(self.redis_by_pid.get(name, 0), count)

    async def _run(self) -> None:
        client, own_id, db, port = None, 0, 0, 6379
        if self.redis_url:
            import redis.asyncio

            try:
                client = redis.asyncio.Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=5)
                own_id = await client.client_id()
                db = int(client.connection_pool.connection_kwargs.get("db") or 0)
                port = int(client.connection_pool.connection_kwargs.get("port") or 6379)
            except Exception as error:
                self.redis_error = f"{type(error).__name__}: {error}"[:120]
                client = None
        try:
            while True:
                for pid in self.worker_pids():
                    rss = _rss_mb(pid)
                    if rss is not None and rss > self.rss.get(pid, 0.0):
                        self.rss[pid] = rss
                if client is not None:
                    try:
                        await self._redis_sample(client, own_id, db, port)
                    except Exception as error:
                        self.redis_error = f"{type(error).__name__}: {error}"[:120]
                self.samples += 1
                await asyncio.sleep(self.every)
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()

    def start(self) -> None:
        self.rss, self.redis_total, self.redis_by_pid, self.redis_error, self.samples = {}, 0, {}, None, 0
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, Any]:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        return {
            "rss_peak_mb": {pid: round(mb, 1) for pid, mb in sorted(self.rss.items())},
            "redis_peak_total": self.redis_total if self.redis_url else None,
            "redis_peak_by_worker": dict(sorted(self.redis_by_pid.items())) if self.redis_url else None,
            "redis_error": self.redis_error,
            "samples": self.samples,
        }


# --------------------------------------------------------------------------------------------------
# the fake provider, in its own process


class _PollSelect:
    """Stands in for the `select` module inside tests/fixtures/fake_provider.py (provider process only):
    select.select() on the read list through poll(), which has no FD_SETSIZE limit."""

    def __getattr__(self, name: str) -> Any:
        import select

        return getattr(select, name)

    @staticmethod
    def select(rlist, wlist, xlist, timeout=None):
        import select

        if wlist or xlist:
            return select.select(rlist, wlist, xlist, timeout)
        poller = select.poll()
        by_fd = {}
        for item in rlist:
            fd = item if isinstance(item, int) else item.fileno()
            if fd < 0:
                raise ValueError("file descriptor cannot be a negative integer")
            by_fd[fd] = item
            poller.register(fd, select.POLLIN | select.POLLPRI)
        events = poller.poll(None if timeout is None else max(0.0, timeout) * 1000)
        ready = [by_fd[fd] for fd, _ in events if fd in by_fd]
        return ready, [], []


def serve_provider(config_json: str) -> None:
    """Entry point of the provider process: prints its port, serves until stdin closes."""
    config = json.loads(config_json)
    sys.path.insert(0, str(ROOT))
    import tests.fixtures.fake_provider as fake_provider_module
    from tests.fixtures.fake_provider import FakeProvider

    # The fake provider waits between tokens with select.select(), which cannot watch a file
    # descriptor >= 1024 (FD_SETSIZE): past ~1000 open connections its handlers fail that call
    # and cut their streams. Give the module a poll()-based select with the same meaning.
    fake_provider_module.select = _PollSelect()
    raise_fd_limit()
    provider = FakeProvider(models=[MODEL_ID])
    provider.start()
    provider.script(
        tokens=config["tokens"],
        token_delay=config["token_delay"],
        first_token_delay=config["first_token_delay"],
    )
    print(provider.port, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        # The parent closes our stdin (or dies) to stop us; meanwhile each "counts" line it writes is
        # answered with one line: the requests received so far, by kind.
        for line in sys.stdin:
            if line.strip() == "counts":
                print(json.dumps(_request_counts(provider.requests)), flush=True)
    provider.stop()


def _request_counts(requests: list[dict[str, Any]]) -> dict[str, int]:
    """streaming = POST /chat/completions with "stream": true (answers, and the direct baseline);
    completion = the same without it (the app's title requests); other = anything else."""
    counts = {"streaming": 0, "completion": 0, "other": 0}
    for request in requests:
        body = request.get("json")
        if request.get("method") == "POST" and request.get("path", "").split("?")[0].endswith("/chat/completions"):
            counts["streaming" if isinstance(body, dict) and body.get("stream") else "completion"] += 1
        else:
            counts["other"] += 1
    return counts


@dataclasses.dataclass
class Processes:
    workdir: Path
    provider: subprocess.Popen | None = None
    provider_port: int = 0
    gunicorn: subprocess.Popen | None = None
    gunicorn_log: Path | None = None
    app_port: int = 0
    worker_pids: list[int] = dataclasses.field(default_factory=list)

    def provider_counts(self) -> dict[str, int]:
        """The requests the fake provider received so far: streaming, completion (titles), other."""
        try:
            self.provider.stdin.write("counts\n")
            self.provider.stdin.flush()
            return json.loads(self.provider.stdout.readline())
        except (OSError, ValueError, AttributeError):
            return {}

    def workers(self) -> list[int]:
        return _children(self.gunicorn.pid) if self.gunicorn is not None else []

    def stop(self) -> None:
        if self.gunicorn is not None and self.gunicorn.poll() is None:
            self.worker_pids = _children(self.gunicorn.pid) or self.worker_pids
            self.gunicorn.send_signal(signal.SIGTERM)
            try:
                self.gunicorn.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.gunicorn.kill()
                self.gunicorn.wait(timeout=5)
        for pid in self.worker_pids:  # a worker that outlived its master (should not happen)
            with contextlib.suppress(ProcessLookupError):
                if Path(f"/proc/{pid}").exists():
                    os.kill(pid, signal.SIGKILL)
        if self.provider is not None and self.provider.poll() is None:
            with contextlib.suppress(OSError):
                self.provider.stdin.close()
            try:
                self.provider.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.provider.kill()
                self.provider.wait(timeout=5)


def start_provider(procs: Processes, tokens: list[str], token_delay: float, first_token_delay: float) -> None:
    config = json.dumps({"tokens": tokens, "token_delay": token_delay, "first_token_delay": first_token_delay})
    procs.provider = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(Path(__file__).resolve()), "--serve-provider", config],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    line = procs.provider.stdout.readline()
    if not line.strip().isdigit():
        raise SystemExit(f"the fake provider did not start (said {line!r})")
    procs.provider_port = int(line)


# --------------------------------------------------------------------------------------------------
# database and gunicorn setup


def prepare_database(args) -> str:
    if args.database == "sqlite":
        return f"sqlite:///{args.instance / 'aihelper.db'}"
    if args.mysql_db == "test":
        raise SystemExit("refusing the database 'test': the test suite drops it")
    from sqlalchemy import create_engine, text

    server = create_engine(args.mysql_server + "/?charset=utf8mb4")
    try:
        with server.begin() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS `{args.mysql_db}`"))
            connection.execute(
                text(f"CREATE DATABASE `{args.mysql_db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            )
    except Exception as error:
        raise SystemExit(
            f"MariaDB not reachable at {args.mysql_server} ({type(error).__name__}); start it with: "
            "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
        ) from None
    finally:
        server.dispose()
    return f"{args.mysql_server}/{args.mysql_db}?charset=utf8mb4"


def prepare_redis(url: str) -> int:
    """Flushes the bench's Redis database; returns its number."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
        return int(client.connection_pool.connection_kwargs.get("db") or 0)
    except redis.RedisError as error:
        raise SystemExit(
            f"Redis not reachable at {url} ({type(error).__name__}); start it with: "
            'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no '
            "(or run with --redis-url '' and --workers 1)"
        ) from None
    finally:
        client.close()


def start_gunicorn(procs: Processes, args, database_url: str) -> None:
    instance = args.instance
    lines = [
        f"PASSWORD_HASH_METHOD = {FAST_PASSWORD_HASH!r}",
        "RATELIMIT_ENABLED = False",
    ]
    if args.no_auto_title:
        lines.append("AIHELPER_AUTO_TITLE = False")
    (instance / "config.py").write_text("\n".join(lines) + "\n")
    procs.app_port = free_port()
    env = {
        **os.environ,
        "AIHELPER_INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "WEB_CONCURRENCY": str(args.workers),
        "HOST": "127.0.0.1",
        "PORT": str(procs.app_port),
    }
    env.pop("REDIS_URL", None)
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    # Schema first, in one process, so that the workers do not race to create it.
    init = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "init-db"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if init.returncode != 0:
        raise SystemExit("flask init-db failed:\n" + init.stdout[-2000:] + init.stderr[-2000:])
    procs.gunicorn_log = args.workdir / "gunicorn.log"
    with open(procs.gunicorn_log, "wb") as log_file:
        procs.gunicorn = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "wsgi:app",
                "--no-control-socket",
                "--graceful-timeout",
                "5",
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    import requests

    url = f"http://127.0.0.1:{procs.app_port}/login"
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                break
        if procs.gunicorn.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("gunicorn did not start:\n" + procs.gunicorn_log.read_text(errors="replace")[-3000:])
        time.sleep(0.1)
    # Both workers up (each answers /login only once booted; give the second one a moment).
    deadline = time.monotonic() + 30
    while len(_children(procs.gunicorn.pid)) < args.workers and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    procs.worker_pids = _children(procs.gunicorn.pid)


def http_session():
    import requests

    session = requests.Session()
    session.trust_env = False  # loopback only, never through a proxy
    return session


def set_up_app(base_url: str, provider_port: int, users: int) -> tuple[list[str], float]:
    """The admin, the provider, the model and `users` accounts; returns their session cookies."""
    admin = http_session()
    response = admin.post(f"{base_url}/api/register", json={"username": "benchadmin", "password": PASSWORD})
    if response.status_code != 201 or not response.json()["user"]["is_admin"]:
        raise SystemExit(f"registering the admin failed: {response.status_code} {response.text[:300]}")
    response = admin.post(
        f"{base_url}/api/admin/providers",
        json={"name": "fake", "base_url": f"http://127.0.0.1:{provider_port}/v1", "api_key": "sk-bench-00000000"},
    )
    if response.status_code != 201:
        raise SystemExit(f"creating the provider failed: {response.status_code} {response.text[:300]}")
    provider_id = response.json()["id"]
    response = admin.post(
        f"{base_url}/api/admin/models",
        json={"provider_id": provider_id, "model_id": MODEL_ID, "context_messages": 2},
    )
    if response.status_code != 201:
        raise SystemExit(f"creating the model failed: {response.status_code} {response.text[:300]}")

    def register(index: int) -> str:
        for attempt in range(5):
            session = http_session()
            try:
                reply = session.post(
                    f"{base_url}/api/register",
                    json={"username": f"bench_u{index:05d}", "password": PASSWORD},
                    timeout=60,
                )
            except Exception as error:
                last = repr(error)
            else:
                if reply.status_code == 201:
                    return session.cookies.get("aihelper_session")
                last = f"{reply.status_code} {reply.text[:200]}"
            time.sleep(0.2 * (attempt + 1))
        raise SystemExit(f"registering user {index} failed: {last}")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        cookies = list(pool.map(register, range(users)))
    return cookies, time.monotonic() - started


# --------------------------------------------------------------------------------------------------
# one stream's measurements


@dataclasses.dataclass
class Stream:
    index: int
    client_id: str
    t_send: float = 0.0
    t_start: float | None = None  # app only: the `start` frame
    t_first: float | None = None
    t_done: float | None = None
    # Content arrivals: one time per read that brought content (direct: SSE events parsed from the
    # same read share it) or per delta frame (app). Their gaps are the "inter-frame gaps".
    times: list[float] = dataclasses.field(default_factory=list)
    parts: list[str] = dataclasses.field(default_factory=list)
    events: int = 0  # content-bearing SSE events (direct) or delta frames (app)
    chars: int = 0  # characters of content received
    error: str | None = None
    message_id: int | None = None
    session_id: str | None = None
    bad_seq: int = 0  # app: a delta whose seq went down, repeated or was missing (an error)
    seq_jumps: int = 0  # app: a delta whose seq skipped ahead (the server merged frames for this socket)
    merged_frames: int = 0  # app: the seqs skipped by those jumps
    delta_frames: int = 0  # app: every delta frame, with or without content
    title_frames: int = 0  # app: `title` frames seen while this turn ran (ignored)
    foreign_frames: int = 0  # app: frames of another answer seen while this turn ran (ignored)

    def token(self, now: float, content: str) -> None:
        if self.t_first is None:
            self.t_first = now
        if not self.times or self.times[-1] != now:
            self.times.append(now)
        self.parts.append(content)
        self.events += 1
        self.chars += len(content)

    @property
    def ttft(self) -> float | None:
        return None if self.t_first is None else self.t_first - self.t_send

    @property
    def total(self) -> float | None:
        return None if self.t_done is None else self.t_done - self.t_send

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]


# -- direct: raw asyncio streams, chunked transfer + SSE parsed incrementally -------------------------


class DirectConnection:
    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def stream(self, result: Stream, message: str, idle: float) -> None:
        body = json.dumps(
            {
                "model": MODEL_ID,
                "messages": [{"role": "user", "content": message}],
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        ).encode()
        request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer sk-bench-00000000\r\nAccept: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
        ) % (self.port, len(body), body)
        reader = self.reader
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(idle) as deadline:
            result.t_send = time.perf_counter()
            self.writer.write(request)
            buf = bytearray()
            while b"\r\n\r\n" not in buf:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("closed before the headers")
                buf += data
            head, _, rest = bytes(buf).partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" ":
                raise ConnectionError(f"status {status.decode(errors='replace')}")
            buf = bytearray(rest)
            sse = bytearray()
            now = time.perf_counter()
            while True:
                # Whole chunks out of buf into sse.
                pos, body_done = 0, False
                while True:
                    eol = buf.find(b"\r\n", pos)
                    if eol < 0:
                        break
                    size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
                    if size == 0:
                        body_done = True
                        break
                    end = eol + 2 + size
                    if len(buf) < end + 2:
                        break
                    sse += buf[eol + 2 : end]
                    pos = end + 2
                del buf[:pos]
                # Whole events out of sse.
                while (cut := sse.find(b"\n\n")) >= 0:
                    event = bytes(sse[:cut])
                    del sse[: cut + 2]
                    for line in event.split(b"\n"):
                        if not line.startswith(b"data:"):
                            continue
                        data = line[5:].strip()
                        if data == b"[DONE]":
                            result.t_done = now
                            return
                        choices = json.loads(data).get("choices")
                        if choices:
                            content = (choices[0].get("delta") or {}).get("content")
                            if content:
                                result.token(now, content)
                if body_done:
                    result.t_done = now
                    return
                data = await reader.read(65536)
                now = time.perf_counter()
                if not data:
                    raise ConnectionError("closed mid-stream")
                buf += data
                deadline.reschedule(loop.time() + idle)


# -- app: websocket /ws/chat -------------------------------------------------------------------------


async def open_socket(app_port: int, cookie: str, deflate: bool, timeout: float):
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    return await connect(
        f"ws://127.0.0.1:{app_port}/ws/chat",
        origin=Origin(f"http://127.0.0.1:{app_port}"),
        additional_headers={"Cookie": f"aihelper_session={cookie}"},
        compression="deflate" if deflate else None,
        proxy=None,
        open_timeout=timeout,
        ping_interval=None,  # a browser does not ping either
        close_timeout=2,
        max_size=None,
        max_queue=4096,  # read eagerly, as a browser does
    )


async def ws_turn(ws, result: Stream, message: str, session_id: str | None, idle: float) -> None:
    frame = json.dumps(
        {
            "type": "chat",
            "message": message,
            "model_id": MODEL_ID,
            "session_id": session_id,
            "client_id": result.client_id,
        }
    )
    loop = asyncio.get_running_loop()
    expected_seq = 1
    async with asyncio.timeout(idle) as deadline:
        result.t_send = time.perf_counter()
        await ws.send(frame)
        while True:
            raw = await ws.recv()
            now = time.perf_counter()
            deadline.reschedule(loop.time() + idle)
            data = json.loads(raw)
            kind = data.get("type")
            # The turn ends at done/error. Anything else is ignored: a `title` frame (it may come after
            # `done`, so while the next turn of this socket runs), and frames of another answer.
            if kind == "title":
                result.title_frames += 1
                continue
            other = data.get("message_id")
            if kind in ("delta", "done") and result.message_id is not None and other not in (None, result.message_id):
                result.foreign_frames += 1
                continue
            if kind == "delta":
                result.delta_frames += 1
                seq = data.get("seq")
                if not isinstance(seq, int) or isinstance(seq, bool) or seq < expected_seq:
                    result.bad_seq += 1  # went down, repeated or missing
                else:
                    if seq > expected_seq:  # frames merged for a socket that fell behind
                        result.seq_jumps += 1
                        result.merged_frames += seq - expected_seq
                    expected_seq = seq + 1
                content = data.get("content")
                if content:
                    result.token(now, content)
            elif kind == "start":
                result.t_start = now
                result.message_id = data.get("message_id")
                result.session_id = data.get("session_id")
                echoed = data.get("client_id")
                if echoed is not None and echoed != result.client_id:
                    result.error = "start frame with another client_id"
            elif kind == "done":
                result.t_done = now
                if data.get("status") != "done":
                    result.error = result.error or f"done with status {data.get('status')}"
                break
            elif kind == "error":
                echoed = data.get("client_id")
                mismatch = " (another client_id)" if echoed is not None and echoed != result.client_id else ""
                result.error = f"error frame: {data.get('code')}{mismatch}"
                result.t_done = now
                break
    if result.bad_seq and result.error is None:
        result.error = "delta seq went down or repeated"


# --------------------------------------------------------------------------------------------------
# phases


@dataclasses.dataclass
class PhaseResult:
    label: str
    streams: list[Stream]
    wall: float
    cpu: dict[str, float]
    setup_errors: int = 0
    overflows: int = 0  # listen-queue overflows on this machine during the phase (connects included)
    queues: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)  # peak accept queue
    spread: dict[int, int] = dataclasses.field(default_factory=dict)  # app: sockets per worker pid
    stored: dict[str, Any] | None = None
    unmeasured: list[Stream] = dataclasses.field(default_factory=list)  # warm-up turns: stored, not timed
    worker_cpu: dict[int, float] = dataclasses.field(default_factory=dict)  # CPU seconds per gunicorn worker
    provider_requests: dict[str, int] = dataclasses.field(default_factory=dict)  # during the measured interval
    watch: dict[str, Any] = dataclasses.field(default_factory=dict)  # app: peak RSS and Redis connections
    title_note: str = ""  # app: how titles relate to the CPU figures


def _counts_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {kind: after[kind] - before.get(kind, 0) for kind in after}


def describe_error(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timeout"
    text = str(error).splitlines()[0][:80] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def gather_bounded(coros, limit: int) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro):
        async with semaphore:
            try:
                return await coro
            except Exception as error:
                return error

    return await asyncio.gather(*(one(c) for c in coros))


async def run_concurrent(
    label: str,
    count: int,
    connect,  # async (index) -> connection object
    stream,  # async (connection, Stream) -> None
    close,  # (connection) -> awaitable|None
    *,
    ramp: float,
    phase_timeout: float,
    meter: CpuMeter,
    connect_concurrency: int,
    queues: QueueWatch | None = None,
    after_connect=None,
    watch: WorkerWatch | None = None,
    provider_counts=None,  # () -> the provider's request counts so far
) -> PhaseResult:
    """Open `count` connections first, then start every stream at once (or spread over `ramp`)."""
    results = [Stream(i, client_id=f"bench-{uuid.uuid4().hex}") for i in range(count)]
    overflows_before = listen_overflows()
    if queues is not None:
        queues.start()
    if watch is not None:
        watch.start()
    opened = await gather_bounded([connect(i) for i in range(count)], connect_concurrency)
    # A TCP connect completes in the kernel before the server accept()s it; give a busy server
    # time to take every connection off its queue before the clock starts.
    await asyncio.sleep(1.0)
    spread = after_connect() if after_connect is not None else None
    setup_errors = 0
    for result, conn in zip(results, opened, strict=True):
        if isinstance(conn, BaseException):
            result.error = f"connect: {describe_error(conn)}"
            setup_errors += 1

    async def run_one(i: int) -> None:
        conn = opened[i]
        if ramp:
            await asyncio.sleep(ramp * i / count)
        try:
            await stream(conn, results[i])
        except Exception as error:
            results[i].error = describe_error(error)

    counts_before = provider_counts() if provider_counts is not None else {}
    meter.start()
    started = time.perf_counter()
    tasks = [asyncio.create_task(run_one(i)) for i in range(count) if not isinstance(opened[i], BaseException)]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=phase_timeout)
        for task in pending:
            task.cancel()
        for result in results:
            if result.error is None and result.t_done is None:
                result.error = "phase timeout"
    wall = time.perf_counter() - started
    cpu = meter.stop()
    worker_cpu = dict(meter.worker_seconds)
    counts = _counts_between(counts_before, provider_counts()) if provider_counts is not None else {}
    watched = await watch.stop() if watch is not None else {}
    for conn in opened:
        if not isinstance(conn, BaseException):
            with contextlib.suppress(Exception):
                closing = close(conn)
                if closing is not None:
                    await closing
    peaks = await queues.stop() if queues is not None else {}
    phase = PhaseResult(label, results, wall, cpu, setup_errors, listen_overflows() - overflows_before, peaks)
    phase.spread = spread or {}
    phase.worker_cpu, phase.provider_requests, phase.watch = worker_cpu, counts, watched
    return phase


def sockets_per_worker(procs: Processes) -> dict[int, int]:
    """Established connections on the app's port, per gunicorn worker pid (`ss -tnp`)."""
    ss = shutil.which("ss")
    if ss is None:
        return {}
    try:
        out = subprocess.run(  # noqa: S603 - fixed arguments
            [ss, "-tnpH", "state", "established", f"( sport = :{procs.app_port} )"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    counts: Counter[int] = Counter()
    for pid in re.findall(r"pid=(\d+)", out):
        counts[int(pid)] += 1
    return dict(sorted(counts.items()))


def queue_watch(procs: Processes, args) -> QueueWatch:
    ports = {procs.provider_port: "provider", procs.app_port: "gunicorn"}
    if args.redis_url:
        ports[int(re.search(r":(\d+)(?:/|$)", args.redis_url.split("@")[-1]).group(1))] = "redis"
    if args.database == "mariadb":
        ports[int(re.search(r":(\d+)(?:/|$)", args.mysql_server.split("@")[-1]).group(1))] = "mariadb"
    return QueueWatch(ports)


async def direct_phase(args, procs: Processes, count: int, meter: CpuMeter) -> PhaseResult:
    async def connect(_: int) -> DirectConnection:
        conn = DirectConnection(procs.provider_port)
        await conn.open()
        return conn

    async def stream(conn: DirectConnection, result: Stream) -> None:
        await conn.stream(result, f"bench question {result.index}", args.timeout)

    return await run_concurrent(
        "direct",
        count,
        connect,
        stream,
        lambda conn: conn.close(),
        ramp=args.ramp,
        phase_timeout=args.phase_timeout,
        meter=meter,
        connect_concurrency=200,
        queues=queue_watch(procs, args),
        provider_counts=procs.provider_counts,
    )


async def app_phase(args, procs: Processes, count: int, cookies: list[str], meter: CpuMeter) -> PhaseResult:
    async def connect(index: int):
        return await open_socket(procs.app_port, cookies[index % len(cookies)], args.deflate, args.timeout)

    async def stream(ws, result: Stream) -> None:
        await ws_turn(ws, result, f"bench question {result.index}", None, args.timeout)

    phase = await run_concurrent(
        "app",
        count,
        connect,
        stream,
        lambda ws: ws.close(),
        ramp=args.ramp,
        phase_timeout=args.phase_timeout,
        meter=meter,
        connect_concurrency=100,
        queues=queue_watch(procs, args),
        after_connect=lambda: sockets_per_worker(procs),
        watch=WorkerWatch(procs.workers, args.redis_url),
        provider_counts=procs.provider_counts,
    )
    if phase.provider_requests:
        titles = phase.provider_requests.get("completion", 0)
        phase.title_note = (
            f"{titles} title request(s) of the {count} new conversations reached the provider during the phase "
            "(the rest, if any, came after it): the CPU figures include those"
        )
    return phase


async def sequential_phases(args, procs: Processes, turns: int, cookie: str, meter: CpuMeter):
    """One user: `warmup` + `turns` turns one after the other, direct then through the app (one
    socket, one conversation, as a person chatting).

    The conversation is new at the first turn, so the app asks the provider for its title then. The
    measured turns start only once that request has been answered (or after a few seconds), so the
    worker CPU per turn excludes title generation; the output says how many title requests fell in
    the measured interval all the same."""
    direct = [Stream(i, client_id=f"bench-{uuid.uuid4().hex}") for i in range(args.warmup + turns)]
    for result in direct:
        conn = DirectConnection(procs.provider_port)
        try:
            await conn.open()
            if result.index == args.warmup:
                counts_before = procs.provider_counts()
                meter.start()
                started = time.perf_counter()
            await conn.stream(result, f"bench question {result.index}", args.timeout)
        except Exception as error:
            result.error = describe_error(error)
        finally:
            conn.close()
    direct_result = PhaseResult("direct", direct[args.warmup :], time.perf_counter() - started, meter.stop())
    direct_result.worker_cpu = dict(meter.worker_seconds)
    direct_result.provider_requests = _counts_between(counts_before, procs.provider_counts())

    await asyncio.sleep(args.settle)
    app = [Stream(i, client_id=f"bench-{uuid.uuid4().hex}") for i in range(args.warmup + turns)]
    ws = await open_socket(procs.app_port, cookie, args.deflate, args.timeout)
    session_id = None
    watch = WorkerWatch(procs.workers, args.redis_url)
    titles_at_start = procs.provider_counts().get("completion", 0)
    title_wait, title_seen = None, False
    try:
        for result in app:
            if result.index == args.warmup:
                if args.warmup and not args.no_auto_title:
                    waited = time.perf_counter()
                    while (
                        procs.provider_counts().get("completion", 0) <= titles_at_start
                        and time.perf_counter() - waited < 5
                    ):
                        await asyncio.sleep(0.02)
                    title_seen = procs.provider_counts().get("completion", 0) > titles_at_start
                    await asyncio.sleep(0.2)  # the title's own database write, after the provider answered
                    title_wait = time.perf_counter() - waited
                watch.start()
                counts_before = procs.provider_counts()
                meter.start()
                started = time.perf_counter()
            try:
                await ws_turn(ws, result, f"bench question {result.index}", session_id, args.timeout)
                session_id = session_id or result.session_id
            except Exception as error:
                result.error = describe_error(error)
                if ws.state.name != "OPEN":
                    ws = await open_socket(procs.app_port, cookie, args.deflate, args.timeout)
            if args.think > 0:
                await asyncio.sleep(args.think)
    finally:
        await ws.close()
    app_result = PhaseResult("app", app[args.warmup :], time.perf_counter() - started, meter.stop())
    app_result.worker_cpu = dict(meter.worker_seconds)
    app_result.provider_requests = _counts_between(counts_before, procs.provider_counts())
    app_result.watch = await watch.stop()
    app_result.unmeasured = app[: args.warmup]  # stored too: checked with the rest
    titles = app_result.provider_requests.get("completion", 0)
    if args.no_auto_title:
        app_result.title_note = "auto titles off (--no-auto-title)"
    elif title_wait is not None and not title_seen:
        app_result.title_note = (
            f"{titles} title request(s) during the measured turns; none was seen during the warm-up "
            f"(waited {title_wait:.2f} s)"
        )
    elif title_wait is not None:
        app_result.title_note = (
            f"{titles} title request(s) during the measured turns: one conversation, whose title was generated "
            f"during the warm-up (waited {title_wait:.2f} s for it), so the CPU per turn excludes title generation"
        )
    else:
        app_result.title_note = (
            f"{titles} title request(s) during the measured turns (no warm-up: the conversation's title is included)"
        )
    return direct_result, app_result


# --------------------------------------------------------------------------------------------------
# checking the database


def check_stored(database_url: str, streams: list[Stream], expected: str) -> dict[str, Any]:
    """Each stream's question (found by client_id) and the answer after it in its conversation."""
    from sqlalchemy import bindparam, create_engine, text

    engine = create_engine(database_url)
    outcome: Counter[str] = Counter()
    by_client = {s.client_id: s for s in streams}
    try:
        with engine.connect() as connection:
            questions: dict[str, tuple[int, str]] = {}
            ids = list(by_client)
            for start in range(0, len(ids), 500):
                rows = connection.execute(
                    text(
                        "SELECT id, session_id, client_id FROM ai_chat_messages "
                        "WHERE role = 'user' AND client_id IN :ids"
                    ).bindparams(bindparam("ids", expanding=True)),
                    {"ids": ids[start : start + 500]},
                )
                for row in rows:
                    if row.client_id in questions:
                        outcome["question stored twice"] += 1
                    questions[row.client_id] = (row.id, row.session_id)
            sessions = sorted({session for _, session in questions.values()})
            answers: dict[str, list[tuple[int, str, str]]] = {}
            for start in range(0, len(sessions), 500):
                rows = connection.execute(
                    text(
                        "SELECT id, session_id, status, content FROM ai_chat_messages "
                        "WHERE role = 'assistant' AND session_id IN :sessions ORDER BY id"
                    ).bindparams(bindparam("sessions", expanding=True)),
                    {"sessions": sessions[start : start + 500]},
                )
                for row in rows:
                    answers.setdefault(row.session_id, []).append((row.id, row.status, row.content))
            streaming_left = connection.execute(
                text("SELECT COUNT(*) FROM ai_chat_messages WHERE role = 'assistant' AND status = 'streaming'")
            ).scalar()
    finally:
        engine.dispose()
    match = 0
    for client_id, result in by_client.items():
        if client_id not in questions:
            outcome["question missing"] += 1
            continue
        question_id, session_id = questions[client_id]
        after = [a for a in answers.get(session_id, []) if a[0] > question_id]
        if not after:
            outcome["answer missing"] += 1
            continue
        answer_id, status, content = after[0]
        if result.message_id is not None and result.message_id != answer_id:
            outcome["answer id differs from the start frame"] += 1
        if status != "done":
            outcome[f"status {status}"] += 1
        elif content != expected:
            outcome["content differs"] += 1
        else:
            match += 1
    return {"match": match, "of": len(by_client), "problems": dict(outcome), "streaming_rows_left": streaming_left}


# --------------------------------------------------------------------------------------------------
# report


def summarise(phase: PhaseResult) -> dict[str, Any]:
    ok = [s for s in phase.streams if s.error is None]
    ttfts = [s.ttft for s in ok if s.ttft is not None]
    gaps = [g for s in ok for g in s.gaps()]
    totals = [s.total for s in ok if s.total is not None]
    starts = [s.t_start - s.t_send for s in ok if s.t_start is not None]
    chars = sum(s.chars for s in ok)
    frames = sum(s.events for s in ok)
    sent = [s.t_send for s in phase.streams if s.t_send]
    done = [s.t_done for s in ok if s.t_done]
    span = (max(done) - min(sent)) if sent and done else None
    errors = Counter(s.error for s in phase.streams if s.error is not None)
    bad_seq = sum(s.bad_seq for s in phase.streams)
    # The workers' CPU over the phase, per turn and per delta frame the clients received (all of them,
    # failed streams included: the worker did that work).
    turns = len(phase.streams)
    relayed = sum(s.delta_frames for s in phase.streams)
    worker_cpu = sum(phase.worker_cpu.values()) if phase.worker_cpu else None
    return {
        "streams": len(phase.streams),
        "ok": len(ok),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common()),
        "bad_seq_frames": bad_seq,
        "seq_jumps": sum(s.seq_jumps for s in phase.streams),
        "merged_frames": sum(s.merged_frames for s in phase.streams),
        "title_frames": sum(s.title_frames for s in phase.streams),
        "foreign_frames": sum(s.foreign_frames for s in phase.streams),
        "ttft_p50": percentile(ttfts, 50),
        "ttft_p90": percentile(ttfts, 90),
        "ttft_p99": percentile(ttfts, 99),
        "ttft_max": max(ttfts) if ttfts else None,
        "start_frame_p50": percentile(starts, 50),
        # Inter-frame gaps: between consecutive content arrivals (see Stream.times).
        "gap_p50": percentile(gaps, 50),
        "gap_p99": percentile(gaps, 99),
        "gap_max": max(gaps) if gaps else None,
        "total_p50": percentile(totals, 50),
        "total_p99": percentile(totals, 99),
        "text_chars": chars,
        "text_chars_per_s": chars / span if span else None,
        "frames": frames,  # direct: SSE events with content; app: delta frames with content
        "frames_per_s": frames / span if span else None,
        "relayed_frames": relayed,
        "worker_cpu_s": worker_cpu,
        "worker_cpu_by_pid": {pid: round(cpu, 3) for pid, cpu in phase.worker_cpu.items()},
        "worker_cpu_per_turn_ms": worker_cpu / turns * 1000 if worker_cpu is not None and turns else None,
        "worker_cpu_per_frame_us": worker_cpu / relayed * 1e6 if worker_cpu is not None and relayed else None,
        "provider_requests": phase.provider_requests,
        "title_requests": phase.provider_requests.get("completion"),
        "title_note": phase.title_note,
        "rss_peak_mb": phase.watch.get("rss_peak_mb"),
        "redis_peak_total": phase.watch.get("redis_peak_total"),
        "redis_peak_by_worker": phase.watch.get("redis_peak_by_worker"),
        "redis_error": phase.watch.get("redis_error"),
        "wall": phase.wall,
        "listen_overflows": phase.overflows,
        "accept_queue_peaks": phase.queues,
        "sockets_per_worker": phase.spread,
        "cpu": phase.cpu,
        "stored": phase.stored,
    }


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.1f}"


NAME_WIDTH = 34


def print_report(title: str, direct: dict[str, Any], app: dict[str, Any], redis_db: int | None) -> None:
    def row(name: str, key: str, *, ms: bool = True, ratio: bool = True, added: bool = True) -> str:
        d, a = direct.get(key), app.get(key)
        if ms:
            cells = [
                fmt_ms(d),
                fmt_ms(a),
                (f"{(a - d) * 1000:+.1f}" if added and d is not None and a is not None else ""),
            ]
        else:
            cells = [
                "—" if d is None else f"{d:,.0f}",
                "—" if a is None else f"{a:,.0f}",
                "",
            ]
        cells.append(f"{a / d:.2f}×" if ratio and d and a is not None else "")
        return f"  {name:<{NAME_WIDTH}}{cells[0]:>10}{cells[1]:>10}{cells[2]:>11}{cells[3]:>9}"

    def app_row(name: str, value: str, note: str = "") -> str:
        return f"  {name:<{NAME_WIDTH}}{'':>10}{value:>10}" + (f"   {note}" if note else "")

    print()
    print(f"== {title}")
    print(f"  {'':<{NAME_WIDTH}}{'direct':>10}{'app':>10}{'added':>11}{'ratio':>9}")
    print(row("TTFT p50 (ms)", "ttft_p50"))
    print(row("TTFT p90 (ms)", "ttft_p90"))
    print(row("TTFT p99 (ms)", "ttft_p99"))
    print(row("TTFT max (ms)", "ttft_max"))
    print(row("inter-frame gap p50 (ms)", "gap_p50"))
    print(row("inter-frame gap p99 (ms)", "gap_p99"))
    print(row("inter-frame gap max (ms)", "gap_max"))
    print(row("stream total p50 (ms)", "total_p50"))
    print(row("stream total p99 (ms)", "total_p99"))
    print(row("text chars/s (aggregate)", "text_chars_per_s", ms=False))
    print(row("frames/s (direct: SSE events)", "frames_per_s", ms=False))
    print(row("content frames received", "frames", ms=False))
    print(app_row("start frame p50 (ms)", fmt_ms(app["start_frame_p50"])))
    print(f"  {'streams ok':<{NAME_WIDTH}}{direct['ok']:>10}{app['ok']:>10}   of {app['streams']}")
    print(f"  {'errors':<{NAME_WIDTH}}{direct['errors']:>10}{app['errors']:>10}")
    for label, summary in (("direct", direct), ("app", app)):
        if summary["error_kinds"]:
            print(f"    {label} errors: {summary['error_kinds']}")
    print(
        app_row(
            "merged frames (seq jumps)",
            f"{app['merged_frames']:,}",
            f"in {app['seq_jumps']:,} jump(s); seq down/repeated: {app['bad_seq_frames']}",
        )
    )
    if app["title_frames"] or app["foreign_frames"]:
        print(
            f"  ignored during turns: {app['title_frames']} `title` frame(s), "
            f"{app['foreign_frames']} frame(s) of another answer"
        )
    by_pid = ", ".join(f"pid {pid} {cpu:.2f}" for pid, cpu in app["worker_cpu_by_pid"].items())
    cpu_s = app["worker_cpu_s"]
    print(app_row("worker CPU (s)", "—" if cpu_s is None else f"{cpu_s:.2f}", by_pid))
    per_turn, per_frame = app["worker_cpu_per_turn_ms"], app["worker_cpu_per_frame_us"]
    turn_cpu = "—" if per_turn is None else f"{per_turn:.2f}"
    print(app_row("worker CPU per turn (ms)", turn_cpu, f"{app['streams']} turns"))
    print(
        app_row(
            "worker CPU per relayed frame (µs)",
            "—" if per_frame is None else f"{per_frame:.1f}",
            f"{app['relayed_frames']:,} delta frames",
        )
    )
    requests = app["provider_requests"]
    if requests:
        print(
            f"  provider requests during app: {requests.get('streaming', 0)} streaming, "
            f"{requests.get('completion', 0)} non-streaming (titles), {requests.get('other', 0)} other"
        )
    if app["title_note"]:
        print(f"  titles: {app['title_note']}")
    if app["rss_peak_mb"]:
        rss = ", ".join(f"pid {pid} {mb:.0f}" for pid, mb in app["rss_peak_mb"].items())
        print(f"  peak RSS per worker (MB): {rss}")
    if app["redis_peak_total"] is not None:
        per_worker = ", ".join(f"{name}: {n}" for name, n in (app["redis_peak_by_worker"] or {}).items())
        extra = f"  (sampling failed: {app['redis_error']})" if app["redis_error"] else ""
        print(
            f"  peak Redis connections (CLIENT LIST db={redis_db}): {app['redis_peak_total']} in total; "
            f"per worker: {per_worker or '—'}{extra}"
        )
    stored = app["stored"]
    if stored is not None:
        extra = f"  problems: {stored['problems']}" if stored["problems"] else ""
        print(f"  stored: {stored['match']}/{stored['of']} answers match{extra}")
        if stored["streaming_rows_left"]:
            print(f"  answers still 'streaming' in the database: {stored['streaming_rows_left']}")
    if direct["listen_overflows"] or app["listen_overflows"]:
        print(
            f"  listen-queue overflows (TcpExtListenOverflows): direct {direct['listen_overflows']}, "
            f"app {app['listen_overflows']} — dropped connects wait 1 s, 3 s, 7 s for a retry"
        )
    if app["sockets_per_worker"]:
        spread = ", ".join(f"pid {pid}: {n}" for pid, n in app["sockets_per_worker"].items())
        print(f"  websockets per gunicorn worker: {spread}")
    for label, summary in (("direct", direct), ("app", app)):
        if summary["accept_queue_peaks"]:
            peaks = ", ".join(f"{n} {q}/{b}" for n, (q, b) in summary["accept_queue_peaks"].items())
            print(f"  fullest accept queues during {label} (waiting/backlog): {peaks}")
    for label, summary in (("direct", direct), ("app", app)):
        cpu = ", ".join(f"{name} {value:.0f}%" for name, value in summary["cpu"].items())
        print(f"  cpu during {label} ({summary['wall']:.1f} s, % of one core): {cpu}")


# --------------------------------------------------------------------------------------------------
# PERFORMANCE.md's targets, per scenario


def _target(what: str, value: float | None, op: str, limit: float, unit: str, digits: int = 1) -> dict[str, Any]:
    """One target: value against limit (op "≤", "≥" or "="), met or missed, with the margin."""

    def show(number: float) -> str:
        if unit == "×":
            return f"{number:.2f}×"
        if unit in ("", "errors", "missing"):
            return f"{number:,.0f}"
        return f"{number:,.{digits}f} {unit}"

    goal = f"{op} {show(limit)}"
    if value is None:
        return {"what": what, "target": goal, "value": None, "met": None, "margin": None, "text": "no figure"}
    if op == "≥":
        met, margin = value >= limit, value - limit
    elif op == "≤":
        met, margin = value <= limit, limit - value
    else:
        met, margin = value == limit, -abs(value - limit)
    if op == "=":
        text = "met" if met else f"missed ({show(value)})"
    else:
        text = f"met ({show(abs(margin))} to spare)" if met else f"missed by {show(abs(margin))}"
    return {
        "what": what,
        "target": goal,
        "value": value,
        "shown": show(value),
        "met": met,
        "margin": margin,
        "text": text,
    }


def phase_targets(scenario: str, count: int, d: dict[str, Any], a: dict[str, Any]) -> list[dict[str, Any]]:
    def added_ms(key: str) -> float | None:
        return None if d.get(key) is None or a.get(key) is None else (a[key] - d[key]) * 1000

    def ratio(key: str) -> float | None:
        return a[key] / d[key] if d.get(key) and a.get(key) is not None else None

    def ms(key: str) -> float | None:
        return None if a.get(key) is None else a[key] * 1000

    stored = a["stored"] or {"of": 0, "match": 0}
    not_stored = stored["of"] - stored["match"]
    if scenario == "ttft":
        return [
            _target("TTFT added by the app, p50", added_ms("ttft_p50"), "≤", 3, "ms"),
            _target("stream total p50 vs direct", ratio("total_p50"), "≤", 1.02, "×"),
            _target("turns not stored (question + answer)", not_stored, "=", 0, "missing"),
        ]
    if scenario == "relay":
        return [
            _target("text chars/s vs direct", ratio("text_chars_per_s"), "≥", 0.8, "×"),
            _target("worker CPU per relayed frame", a["worker_cpu_per_frame_us"], "≤", 20, "µs"),
        ]
    if scenario == "burst":
        return [
            _target("TTFT p50", ms("ttft_p50"), "≤", 300, "ms", 0),
            _target("errors", a["errors"], "=", 0, "errors"),
        ]
    if scenario == "sustained":
        return [
            _target("errors", a["errors"], "=", 0, "errors"),
            _target("answers not stored", not_stored, "=", 0, "missing"),
            _target("TTFT p50", ms("ttft_p50"), "≤", 1000, "ms", 0),
            _target("stream total p50 vs direct", ratio("total_p50"), "≤", 1.5, "×"),
            _target("added inter-frame gap p99", added_ms("gap_p99"), "≤", 50, "ms"),
        ]
    if scenario == "turns":
        return [_target("worker CPU per turn", a["worker_cpu_per_turn_ms"], "≤", 2, "ms", 2)]
    return []


def print_targets(args, phases: list[dict[str, Any]]) -> None:
    print()
    print(f"== targets (PERFORMANCE.md), scenario {args.scenario}, config {args.config_label}")
    if args.not_scenario_defaults:
        print(
            f"  note: run with {args.not_scenario_defaults} other than the scenario's: "
            "PERFORMANCE.md's figures are for its defaults"
        )
    for phase in phases:
        print(f"  {phase['title']}")
        if args.scenario == "sustained" and phase["streams"] != 1000:
            print("    (PERFORMANCE.md sets these for 1 000 streams)")
        for target in phase["targets"]:
            shown = target.get("shown", "—")
            print(f"    {target['what']:<40}{shown:>12}   {target['target']:<10} {target['text']}")


ACCESS_LINE = re.compile(r'^\S+ - \S+ \[[^\]]+\] "(\S+) (\S+?)(?:\?\S*)? [^"]*" (\d{3})')


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b(?::|$)")
TRACEBACK_CONTINUATION = ("Traceback (most recent call last):", "During handling of", "The above exception")
APP_FRAME = re.compile(r'File "[^"]*/(aihelper/[^"]+)", line (\d+), in (\S+)')


def _log_blocks(lines: list[str]) -> list[list[str]]:
    """Group log lines into records: a header line plus its traceback, if any."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    in_traceback = False
    for line in lines:
        if line.startswith(TRACEBACK_CONTINUATION):
            if current is None:
                current = []
                blocks.append(current)
            current.append(line)
            in_traceback = True
        elif line.startswith((" ", "\t")) and current is not None:
            current.append(line)
        elif in_traceback and current is not None and EXCEPTION_LINE.match(line):
            current.append(line)  # the exception that ends a traceback (chained ones go on)
        else:
            current = [line]
            blocks.append(current)
            in_traceback = False
    return blocks


def _normalise(text: str) -> str:
    return re.sub(r"\d+", "N", re.sub(r"\b[0-9a-f]{12,}\b", "H", text))


def summarise_log(path: Path | None) -> None:
    """Request counts from the access log, then every other record that is not INFO, grouped: its
    header, the app's frames in its traceback and the exception it ended with."""
    if path is None or not path.exists():
        return
    statuses: Counter[str] = Counter()
    others: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        access = ACCESS_LINE.match(line)
        if access:
            statuses[f"{access.group(1)} {access.group(2)} {access.group(3)}"] += 1
        elif line.strip():
            others.append(line)
    groups: Counter[tuple[str, tuple[str, ...], str]] = Counter()
    example: dict[tuple[str, tuple[str, ...], str], str] = {}
    for block in _log_blocks(others):
        header = block[0]
        has_traceback = any(line.startswith("Traceback") for line in block)
        if not has_traceback and ("[INFO]" in header or " INFO " in header):
            continue
        frames = tuple(
            dict.fromkeys(f"{m.group(1)}:{m.group(2)} {m.group(3)}" for m in map(APP_FRAME.search, block) if m)
        )
        raised = [line for line in block if EXCEPTION_LINE.match(line)]
        key = (_normalise(header)[:200], frames, raised[-1][:200] if raised else "")
        groups[key] += 1
        example.setdefault(key, header)
    print()
    print(f"== gunicorn log ({path})")
    print("  requests: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    if not groups:
        print("  no warnings or errors")
    for key, count in groups.most_common(15):
        _, frames, raised = key
        print(f"  {count:>5} × {example[key][:220]}")
        for frame in frames[-6:]:
            print(f"            {frame}")
        if raised:
            print(f"            => {raised}")
    if len(groups) > 15:
        print(f"  … and {sum(groups.values()) - sum(c for _, c in groups.most_common(15))} more records")


# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="ttft")
    parser.add_argument(
        "--streams", help="concurrent streams (ttft, turns: sequential turns); a list runs phases: 500,1000"
    )
    parser.add_argument("--tokens", type=int, help="tokens per answer")
    parser.add_argument("--token-delay", type=float, help="seconds between tokens at the provider")
    parser.add_argument("--first-token-delay", type=float, help="seconds before the provider's first token")
    parser.add_argument(
        "--config",
        choices=sorted(CONFIGS),
        help="single: 1 worker, SQLite, no Redis; scaled: 2 workers, MariaDB, REDIS_URL\n"
        "(default: 2 workers, SQLite, Redis; --workers/--database/--redis-url override)",
    )
    parser.add_argument("--database", choices=["sqlite", "mariadb"], help="default sqlite")
    parser.add_argument("--mysql-server", default=DEFAULT_MYSQL_SERVER, help="server URL without a database")
    parser.add_argument("--mysql-db", default="aihelper_bench", help="dropped and created anew (never 'test')")
    parser.add_argument("--workers", type=int, help="gunicorn workers (WEB_CONCURRENCY), default 2")
    parser.add_argument(
        "--redis-url", help=f"REDIS_URL for the app, flushed first ('' = none), default {DEFAULT_REDIS_URL}"
    )
    parser.add_argument("--users", type=int, help="accounts the sockets are spread over (default: one per stream)")
    parser.add_argument("--ramp", type=float, default=0.0, help="spread the stream starts over this many seconds")
    parser.add_argument("--timeout", type=float, default=60.0, help="a stream fails after this long without a frame")
    parser.add_argument("--phase-timeout", type=float, default=240.0, help="hard limit for one phase (seconds)")
    parser.add_argument(
        "--warmup", type=int, default=3, help="ttft, turns: turns not counted, before the measured ones"
    )
    parser.add_argument("--think", type=float, default=0.0, help="ttft, turns: pause between turns (seconds)")
    parser.add_argument("--settle", type=float, default=2.0, help="pause between phases (seconds)")
    parser.add_argument("--no-deflate", dest="deflate", action="store_false", help="no permessage-deflate")
    parser.add_argument("--no-auto-title", action="store_true", help="AIHELPER_AUTO_TITLE = False")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (log, SQLite file)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--serve-provider", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_provider:
        return args
    config = CONFIGS[args.config] if args.config else DEFAULT_CONFIG
    explicit = [name for name in ("workers", "database", "redis_url") if getattr(args, name) is not None]
    for name in ("workers", "database", "redis_url"):
        if getattr(args, name) is None:
            setattr(args, name, config[name])
    described = (
        f"{args.workers} worker{'s' if args.workers != 1 else ''}, {args.database}, "
        f"{'REDIS_URL ' + args.redis_url if args.redis_url else 'no Redis'}"
    )
    name = args.config or "default"
    changed = [n for n in explicit if getattr(args, n) != config[n]]
    overrides = f" with --{', --'.join(n.replace('_', '-') for n in changed)}" if changed else ""
    args.config_label = f"{name}{overrides} ({described})"
    args.config_short = f"{name}{'*' if changed else ''}: {described}"
    defaults = SCENARIOS[args.scenario]
    args.stream_counts = [int(n) for n in args.streams.split(",")] if args.streams else defaults["streams"]
    args.tokens = args.tokens if args.tokens is not None else defaults["tokens"]
    args.token_delay = args.token_delay if args.token_delay is not None else defaults["token_delay"]
    ftd = args.first_token_delay
    args.first_token_delay = ftd if ftd is not None else defaults["first_token_delay"]
    args.sequential = defaults["sequential"]
    differs = [
        f"--{option.replace('_', '-')}"
        for option, value in (
            ("streams", args.stream_counts),
            ("tokens", args.tokens),
            ("token_delay", args.token_delay),
            ("first_token_delay", args.first_token_delay),
        )
        if value != defaults[option]
    ]
    args.not_scenario_defaults = ", ".join(differs)
    if args.users is None:
        args.users = 1 if args.sequential else max(args.stream_counts)
    if args.workers > 1 and not args.redis_url:
        print("note: several workers without Redis: each worker has its own live hub", file=sys.stderr)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_provider:
        serve_provider(args.serve_provider)
        return 0
    soft, _hard = raise_fd_limit()
    needed = 2 * max(args.stream_counts) + 200
    if soft < needed:
        raise SystemExit(f"file descriptor limit {soft} < {needed}: raise `ulimit -n`")

    args.workdir = Path(tempfile.mkdtemp(prefix="aihelper-bench-"))
    args.instance = args.workdir / "instance"
    args.instance.mkdir()
    tokens = expected_tokens(args.tokens)
    expected = "".join(tokens)
    procs = Processes(args.workdir)
    report: dict[str, Any] = {"scenario": args.scenario, "phases": []}
    failed = False
    try:
        description = (
            f"scenario {args.scenario}: {args.tokens} tokens, {args.token_delay * 1000:g} ms apart, first after "
            f"{args.first_token_delay * 1000:g} ms; config {args.config_label}; "
            f"deflate {'on' if args.deflate else 'off'}; "
            f"auto title {'off' if args.no_auto_title else 'on'}; fd limit {soft}; {os.cpu_count()} cores; "
            f"code {code_version()}"
        )
        log(description)
        start_provider(procs, tokens, args.token_delay, args.first_token_delay)
        database_url = prepare_database(args)
        redis_db = None
        if args.redis_url:
            redis_db = prepare_redis(args.redis_url)
        start_gunicorn(procs, args, database_url)
        base_url = f"http://127.0.0.1:{procs.app_port}"
        log(
            f"provider on :{procs.provider_port} (pid {procs.provider.pid}), app on :{procs.app_port} "
            f"(pid {procs.gunicorn.pid}, workers {procs.worker_pids})"
        )
        cookies, took = set_up_app(base_url, procs.provider_port, args.users)
        log(f"registered {args.users} user(s) in {took:.1f} s")
        meter = CpuMeter(procs.provider.pid, procs.gunicorn.pid, args.database, bool(args.redis_url))

        async def run_all() -> list[tuple[str, PhaseResult, PhaseResult]]:
            phases = []
            for count in args.stream_counts:
                if args.sequential:
                    log(f"{args.warmup} warm-up + {count} sequential turns, direct then app")
                    direct, app = await sequential_phases(args, procs, count, cookies[0], meter)
                    title = f"{count} sequential turns (one user, one socket, one conversation)"
                else:
                    log(f"{count} concurrent streams: direct")
                    direct = await direct_phase(args, procs, count, meter)
                    await asyncio.sleep(args.settle)
                    log(f"{count} concurrent streams: app")
                    app = await app_phase(args, procs, count, cookies, meter)
                    title = f"{count} concurrent streams"
                phases.append((title, direct, app))
                await asyncio.sleep(args.settle)
            return phases

        for title, direct, app in asyncio.run(run_all()):
            for stream in direct.streams + app.streams:
                if stream.error is None and "".join(stream.parts) != expected:
                    stream.error = "received text differs"
            checked = app.streams + app.unmeasured
            app.stored = check_stored(database_url, checked, expected)
            d, a = summarise(direct), summarise(app)
            full_title = f"{title} × {args.tokens} tokens @ {args.token_delay * 1000:g} ms [{args.config_short}]"
            print_report(full_title, d, a, redis_db)
            targets = phase_targets(args.scenario, len(app.streams), d, a)
            report["phases"].append(
                {"title": full_title, "streams": len(app.streams), "direct": d, "app": a, "targets": targets}
            )
            if a["errors"] or a["stored"]["match"] != a["stored"]["of"]:
                failed = True
        print_targets(args, report["phases"])
        report["settings"] = description
        report["config"] = args.config_label
    finally:
        procs.stop()
        summarise_log(procs.gunicorn_log)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        if args.keep or failed:
            print(f"\nkept {args.workdir} (gunicorn.log, instance/)")
        else:
            shutil.rmtree(args.workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
