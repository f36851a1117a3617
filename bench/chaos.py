#!/usr/bin/env python3
"""Chaos benchmark (issue #13): streams that go on while the server side fails under them.

`--streams` simulated browsers (200) chat for `--minutes` (2) through gunicorn with the production
config (2 workers, REDIS_URL, MariaDB), each one turn after another in its own conversation, while
the worker serving the most sockets is killed with SIGKILL every `--kill-every` seconds (20) and
the database is restarted once (`--db-restart-at`, 60 s in). The database is a MariaDB of the script's own (a fresh data
folder, a free port), never the machine's. A browser whose socket dies reconnects at once and asks
for the next turn in the same conversation, again every second while it is refused.

Once the time is up no new turn starts; the script waits for the running ones to end and for the
answers of killed workers to be finished as interrupted (their lease lapses), then reads the
database and prints:

- questions and answers: sent, started, stored, missing (goal: 0 missing);
- per answer cut by a kill: characters streamed to the browser vs stored, and the text lost in
  seconds of streaming (goal: at most the checkpoint interval, 2 s);
- how long conversations stayed blocked: from the moment a browser lost its socket (or was
  refused) until its next turn started in the same conversation (goal: at most 30 s).

Exit code 1 when a goal is missed. A script, not a test; see bench/README.md.

    python bench/chaos.py
    python bench/chaos.py --streams 50 --minutes 1
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import stream_load as load  # the sibling script's helpers: processes, provider, app setup

from tests.fixtures.own_servers import install_mariadb, mariadb_answers, mariadb_command, start_server

CHECKPOINT_SECONDS = 2.0  # the app's default AIHELPER_CHECKPOINT_SECONDS: the text a kill may lose
BLOCKED_GOAL = 30.0  # seconds a conversation may stay blocked after its worker died
RETRY_SECONDS = 1.0  # a refused browser asks again this often


@dataclasses.dataclass
class Turn:
    client_id: str
    session_id: str | None
    sent_at: float
    started_at: float | None = None
    message_id: int | None = None
    message_session: str | None = None  # the conversation the start frame named
    text: list[str] = dataclasses.field(default_factory=list)
    end: str | None = None  # done | error:<code> | dropped | refused:<code>

    @property
    def received(self) -> str:
        return "".join(self.text)


@dataclasses.dataclass
class Browser:
    index: int
    cookie: str
    session_id: str | None = None
    turns: list[Turn] = dataclasses.field(default_factory=list)
    # Seconds from a lost socket or a refusal to the next turn started in the same conversation.
    blocked: list[tuple[float, str]] = dataclasses.field(default_factory=list)
    reconnects: int = 0


@dataclasses.dataclass
class Events:
    started: float = dataclasses.field(default_factory=time.monotonic)
    kills: list[tuple[float, int]] = dataclasses.field(default_factory=list)
    db_down: tuple[float, float] | None = None

    def at(self) -> float:
        return time.monotonic() - self.started


# --------------------------------------------------------------------------------------------------
# a MariaDB of our own


class OwnMariaDB:
    """mariadbd on a free port with a fresh data folder, restartable, stopped by its pid."""

    def __init__(self, folder: Path) -> None:
        self.datadir = folder / "mariadb"
        self.port = load.free_port()
        self.process: subprocess.Popen | None = None
        install_mariadb(self.datadir)

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/aihelper?charset=utf8mb4"

    def start(self) -> None:
        # The restart runs in a worker thread of asyncio's: the server must not die with it.
        self.process = start_server(
            mariadb_command(self.datadir, self.port),
            lambda: mariadb_answers(self.port),
            timeout=60,
            die_with_starter=False,
        )

    def create_database(self) -> None:
        import pymysql

        connection = pymysql.connect(host="127.0.0.1", port=self.port, user="root")
        try:
            connection.cursor().execute("CREATE DATABASE aihelper CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        finally:
            connection.close()

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as a restart by the operator does."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --------------------------------------------------------------------------------------------------
# the browsers


async def browse(browser: Browser, args, app_port: int, until: float) -> None:
    """One person chatting: a turn after another in one conversation until `until`."""
    ws = None
    lost_at: float | None = None  # when this browser's conversation became unusable, and why
    why = ""
    try:
        while time.monotonic() < until:
            if ws is None:
                try:
                    ws = await load.open_socket(app_port, browser.cookie, deflate=True, timeout=10)
                except Exception:
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
            turn = Turn(f"chaos-{uuid.uuid4().hex}", browser.session_id, time.monotonic())
            browser.turns.append(turn)
            try:
                await one_turn(ws, turn, args.idle)
            except Exception:
                turn.end = turn.end or "dropped"
            if turn.started_at is not None:
                browser.session_id = browser.session_id or turn.message_session
                if lost_at is not None:
                    browser.blocked.append((turn.started_at - lost_at, why))
                    lost_at = None
            if turn.end == "dropped":
                browser.reconnects += 1
                with contextlib.suppress(Exception):
                    await ws.close()
                ws = None
                if lost_at is None:
                    lost_at, why = time.monotonic(), "socket lost"
            elif turn.end and turn.end.startswith("refused:"):
                if lost_at is None:
                    lost_at, why = turn.sent_at, turn.end
                await asyncio.sleep(RETRY_SECONDS)
    finally:
        if lost_at is not None:  # still blocked when the time was up
            browser.blocked.append((time.monotonic() - lost_at, f"{why} (until the end)"))
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()


async def one_turn(ws, turn: Turn, idle: float) -> None:
    frame = {"type": "chat", "message": "chaos question", "model_id": load.MODEL_ID, "session_id": turn.session_id}
    await ws.send(json.dumps({**frame, "client_id": turn.client_id}))
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(idle) as deadline:
        while True:
            data = json.loads(await ws.recv())
            deadline.reschedule(loop.time() + idle)
            kind = data.get("type")
            if kind == "start" and data.get("client_id") == turn.client_id:
                turn.started_at = time.monotonic()
                turn.message_id = data.get("message_id")
                turn.message_session = data.get("session_id")
            elif kind == "delta" and turn.message_id is not None and data.get("message_id") == turn.message_id:
                turn.text.append(data.get("content") or "")
            elif kind == "done" and data.get("message_id") == turn.message_id and turn.message_id is not None:
                turn.end = "done"
                return
            elif kind == "error" and turn.client_id in (data.get("client_id"), ours := data.get("message_id")):
                started = turn.message_id is not None and ours == turn.message_id
                turn.end = f"{'error' if started else 'refused'}:{data.get('code')}"
                return


# --------------------------------------------------------------------------------------------------
# faults


async def kill_workers(procs: load.Processes, args, events: Events, until: float) -> None:
    while True:
        await asyncio.sleep(args.kill_every)
        if time.monotonic() >= until:
            return
        workers = procs.workers()
        if not workers:
            continue
        # The worker with the most sockets: the one whose death cuts the most answers short.
        sockets = await asyncio.to_thread(load.sockets_per_worker, procs)
        victim = max(workers, key=lambda pid: sockets.get(pid, 0))
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
        events.kills.append((events.at(), victim))
        load.log(f"killed worker {victim} (SIGKILL), which served {sockets.get(victim, 0)} of the sockets")


async def restart_database(database: OwnMariaDB, args, events: Events) -> None:
    await asyncio.sleep(args.db_restart_at)
    went = events.at()
    load.log("restarting the database")
    await asyncio.to_thread(database.stop)
    await asyncio.to_thread(database.start)
    events.db_down = (went, events.at())
    load.log(f"the database is back after {events.db_down[1] - went:.1f} s")


# --------------------------------------------------------------------------------------------------
# what the database kept


def stored_rows(database_url: str, browsers: list[Browser]) -> tuple[dict[str, Any], dict[int, Any], int]:
    """Questions by client_id, answers by id, and how many answers are still `streaming`."""
    from sqlalchemy import bindparam, create_engine, text

    client_ids = [turn.client_id for browser in browsers for turn in browser.turns]
    engine = create_engine(database_url)
    questions: dict[str, Any] = {}
    answers: dict[int, Any] = {}
    try:
        with engine.connect() as connection:
            for start in range(0, len(client_ids), 500):
                for row in connection.execute(
                    text(
                        "SELECT id, session_id, client_id FROM ai_chat_messages "
                        "WHERE role = 'user' AND client_id IN :ids"
                    ).bindparams(bindparam("ids", expanding=True)),
                    {"ids": client_ids[start : start + 500]},
                ):
                    questions[row.client_id] = row
            for row in connection.execute(
                text(
                    "SELECT id, session_id, status, finish_reason, content FROM ai_chat_messages "
                    "WHERE role = 'assistant' ORDER BY id"
                )
            ):
                answers[row.id] = row
            streaming = sum(1 for row in answers.values() if row.status == "streaming")
    finally:
        engine.dispose()
    return questions, answers, streaming


def wait_until_settled(database_url: str, browsers: list[Browser], limit: float) -> float:
    """Waits until no answer is `streaming` (the killed workers' leases lapsed and were swept)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            _questions, _answers, streaming = stored_rows(database_url, browsers)
        except Exception:
            streaming = -1
        if streaming == 0:
            break
        time.sleep(1)
    return time.monotonic() - started


def token_index(ends: list[int], chars: int) -> int:
    """How many whole tokens the first `chars` characters of the answer hold."""
    return bisect.bisect_right(ends, chars)


def report(args, browsers: list[Browser], events: Events, database_url: str, tokens: list[str]) -> bool:
    expected = "".join(tokens)
    ends = []
    total = 0
    for token in tokens:
        total += len(token)
        ends.append(total)
    questions, answers, streaming = stored_rows(database_url, browsers)
    turns = [turn for browser in browsers for turn in browser.turns]
    ends_seen = Counter((turn.end or "unfinished").split(":")[0] for turn in turns)
    codes = Counter(turn.end for turn in turns if turn.end and ":" in turn.end)
    started = [turn for turn in turns if turn.message_id is not None]
    problems: Counter[str] = Counter()
    cut: list[tuple[int, int, float]] = []  # (streamed chars, stored chars, seconds lost)
    for turn in turns:
        question = questions.get(turn.client_id)
        if turn.message_id is not None and question is None:
            problems["question missing (its start frame came)"] += 1
            continue
        if question is None:
            continue  # refused before anything was stored
        answer_id = turn.message_id
        if answer_id is None:  # stored, but the socket died before `start`
            later = [row for row in answers.values() if row.session_id == question.session_id and row.id > question.id]
            answer_id = later[0].id if later else None
        answer = answers.get(answer_id) if answer_id is not None else None
        if answer is None:
            problems["answer missing"] += 1
            continue
        content = answer.content or ""
        if answer.status == "streaming":
            problems["answer still streaming"] += 1
        elif not expected.startswith(content):
            problems["stored text is not the answer's beginning"] += 1
        elif turn.end == "done" and (answer.status != "done" or content != expected):
            problems["done sent, answer not stored whole"] += 1
        elif turn.end != "done":
            received = turn.received
            lost_tokens = max(token_index(ends, len(received)) - token_index(ends, len(content)), 0)
            cut.append((len(received), len(content), lost_tokens * args.token_delay))
    blocked = sorted(seconds for browser in browsers for seconds, _why in browser.blocked)
    by_reason = Counter(why for browser in browsers for _s, why in browser.blocked)
    lost_seconds = sorted(seconds for _r, _s, seconds in cut)
    over = sum(1 for seconds in lost_seconds if seconds > CHECKPOINT_SECONDS + args.token_delay)
    blocked_over = sum(1 for seconds in blocked if seconds > BLOCKED_GOAL)

    print()
    print(
        f"chaos: {args.streams} streams for {args.minutes:g} min, {args.tokens} tokens × "
        f"{args.token_delay * 1000:g} ms per answer, a worker killed every {args.kill_every:g} s "
        f"({len(events.kills)} kills), the database "
        + (
            f"restarted at {events.db_down[0]:.0f} s (down {events.db_down[1] - events.db_down[0]:.1f} s)"
            if events.db_down
            else "not restarted"
        )
    )
    print(f"turns sent {len(turns)}, started {len(started)}; ended: {dict(ends_seen)}")
    if codes:
        print(f"  by code: {dict(codes.most_common())}")
    print(
        f"questions started {len(started)}, stored {sum(1 for t in started if t.client_id in questions)}; "
        f"answers still streaming {streaming}; problems: {dict(problems) or 'none'}"
    )
    if cut:
        streamed = [r for r, _s, _l in cut]
        kept = [s for _r, s, _l in cut]
        print(
            f"answers cut short ({len(cut)}): characters streamed p50 {load.percentile(streamed, 50)} "
            f"max {max(streamed)}, stored p50 {load.percentile(kept, 50)}; text lost p50 "
            f"{load.percentile(lost_seconds, 50):.2f} s, p95 {load.percentile(lost_seconds, 95):.2f} s, "
            f"max {lost_seconds[-1]:.2f} s of streaming; over {CHECKPOINT_SECONDS:g} s: {over}"
        )
    if blocked:
        print(
            f"conversations blocked ({len(blocked)} times; {dict(by_reason)}): "
            f"p50 {load.percentile(blocked, 50):.1f} s, p95 {load.percentile(blocked, 95):.1f} s, "
            f"max {blocked[-1]:.1f} s; over {BLOCKED_GOAL:g} s: {blocked_over}"
        )
    goals = [
        ("0 questions and 0 answers missing", not problems and streaming == 0),
        (f"text lost ≤ {CHECKPOINT_SECONDS:g} s per killed stream", over == 0),
        (f"no conversation blocked longer than {BLOCKED_GOAL:g} s", blocked_over == 0),
    ]
    for what, met in goals:
        print(f"  [{'met' if met else 'MISSED'}] {what}")
    return all(met for _what, met in goals)


# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--kill-every", type=float, default=20.0, help="seconds between worker kills")
    parser.add_argument("--db-restart-at", type=float, default=60.0, help="seconds in; a negative value: never")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per answer")
    parser.add_argument("--token-delay", type=float, default=0.05, help="seconds between tokens")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-url", default=load.DEFAULT_REDIS_URL, help="flushed first")
    parser.add_argument("--idle", type=float, default=60.0, help="a turn with no frame this long is dropped")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    args.no_auto_title = False
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load.raise_fd_limit()
    args.workdir = Path(tempfile.mkdtemp(prefix="aihelper-chaos-"))
    args.instance = args.workdir / "instance"
    args.instance.mkdir()
    tokens = load.expected_tokens(args.tokens)
    procs = load.Processes(args.workdir)
    database = OwnMariaDB(args.workdir)
    succeeded = False
    try:
        load.log(f"code {load.code_version()}; {os.cpu_count()} cores")
        database.start()
        database.create_database()
        load.start_provider(procs, tokens, args.token_delay, 0.0)
        load.prepare_redis(args.redis_url)
        load.start_gunicorn(procs, args, database.url)
        base_url = f"http://127.0.0.1:{procs.app_port}"
        cookies, took = load.set_up_app(base_url, procs.provider_port, args.streams)
        load.log(f"registered {args.streams} users in {took:.1f} s; workers {procs.workers()}")
        browsers = [Browser(index, cookie) for index, cookie in enumerate(cookies)]
        events = Events()

        async def run() -> None:
            until = time.monotonic() + args.minutes * 60
            faults = [asyncio.create_task(kill_workers(procs, args, events, until))]
            if args.db_restart_at >= 0:
                faults.append(asyncio.create_task(restart_database(database, args, events)))
            await asyncio.gather(*(browse(browser, args, procs.app_port, until) for browser in browsers))
            for task in faults:
                task.cancel()
            await asyncio.gather(*faults, return_exceptions=True)

        asyncio.run(run())
        load.log("time is up; waiting for the killed workers' answers to be finished")
        waited = wait_until_settled(database.url, browsers, limit=120)
        load.log(f"settled after {waited:.1f} s")
        succeeded = report(args, browsers, events, database.url, tokens)
    finally:
        procs.stop()
        database.stop()
        load.summarise_log(procs.gunicorn_log)
        if args.keep or not succeeded:
            print(f"\nkept {args.workdir} (gunicorn.log, instance/, mariadb/)")
        else:
            shutil.rmtree(args.workdir, ignore_errors=True)
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
