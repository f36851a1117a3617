#!/usr/bin/env python3
"""History at scale: one user with many conversations and messages, and how fast the history
endpoints' database work is (PERFORMANCE.md: list, time range and opening a 500-message
conversation ≤ 20 ms p95; search ≤ 200 ms p95; exporting everything streams, peak RSS < 200 MB),
and the admin's usage dashboard over 90 days of a rollup counting the same million messages as an
organisation's answers (≤ 300 ms).

It builds the data itself in a database of its own, then times the same service functions the
endpoints call (aihelper.services.history / search / exports), inside an app context, so the
figures are "at the database" plus the Python that turns rows into JSON. It prints the query plans
(EXPLAIN) to show which index serves each query, and measures the export in a subprocess, whose
peak RSS is the whole Python process's.

    python bench/history_scale.py --database mariadb                    # 10 000 / 1 000 000
    python bench/history_scale.py --database sqlite --sessions 2000 --messages 200000

Text is drawn from a vocabulary of Chinese words and English words with Zipf-like frequencies,
so some search terms are in most messages and others in a few hundred. A script, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_MYSQL_SERVER = "mysql+pymysql://root@127.0.0.1:3306"
CHINESE_WORDS = [
    *"数据 数据库 索引 查询 优化 服务器 网络 安全 模型 训练 推理 向量 检索 缓存 事务 日志 备份 迁移 部署 容器".split(),
    *"前端 后端 接口 测试 性能 内存 线程 进程 协程 算法 排序 哈希 加密 证书 域名 路由 负载 均衡 监控 告警".split(),
    *"旅行 杭州 西湖 美食 咖啡 音乐 电影 读书 跑步 天气 周末 计划 预算 学习 英语 数学 历史 地理 化学 物理".split(),
]
ENGLISH_WORDS = [
    *"the a to of and in is it for on with as this that be are you can use what how why when data table".split(),
    *"index query python flask gevent redis mysql sqlite stream token model prompt answer question error".split(),
    *"timeout retry cache latency throughput benchmark memory thread socket server client deploy docker".split(),
    *"kubernetes nginx proxy certificate domain route balance monitor alert vector search embedding".split(),
]
UNIQUE_TEXTS = 20_000
RUNS = 30


def make_texts(count: int, rng: random.Random) -> list[str]:
    """Message bodies of 20 to 80 words, Chinese and English mixed, frequent words far more frequent."""
    words = CHINESE_WORDS + ENGLISH_WORDS
    weights = [1 / (rank + 1) for rank in range(len(words))]
    rng.shuffle(words)
    texts = []
    for _ in range(count):
        picked = rng.choices(words, weights, k=rng.randint(20, 80))
        texts.append("".join(w if w in CHINESE_WORDS else f" {w} " for w in picked).strip())
    return texts


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def database_url(args) -> str:
    if args.database == "sqlite":
        return f"sqlite:///{args.workdir}/history.db"
    return f"{args.mysql_server}/{args.mysql_db}?charset=utf8mb4"


def fresh_database(args) -> None:
    from sqlalchemy import create_engine, text

    if args.database == "sqlite":
        Path(args.workdir, "history.db").unlink(missing_ok=True)
        return
    if args.mysql_db == "test":
        sys.exit("refusing to use the database 'test' (the test suite's)")
    engine = create_engine(args.mysql_server)
    with engine.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{args.mysql_db}`"))
        connection.execute(text(f"CREATE DATABASE `{args.mysql_db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    engine.dispose()


def app_for(args):
    from aihelper import create_app

    return create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url(args), "RATELIMIT_ENABLED": False, "AIHELPER_RETENTION_JOB": False},
        instance_path=args.workdir,
    )


def build(args) -> dict:
    """One user, `sessions` conversations over the last year (the first with 500 messages), and
    `messages` messages in all, with their search terms; bulk loaded."""
    from sqlalchemy import text

    from aihelper.extensions import db
    from aihelper.services.search import terms

    rng = random.Random(7)
    texts = make_texts(UNIQUE_TEXTS, rng)
    text_terms = [" ".join(terms(t)) for t in texts]
    app = app_for(args)
    started = time.perf_counter()
    with app.app_context():
        connection = db.engine.connect()
        mysql = db.engine.dialect.name != "sqlite"
        if mysql:
            # Load without the FULLTEXT index and build it once at the end (much faster). The table
            # is made anew: dropping the index alone leaves InnoDB's hidden FTS_DOC_ID column, and an
            # index added back over a million rows then matched nothing (MariaDB 10.11).
            create = connection.exec_driver_sql("SHOW CREATE TABLE message_search").one()[1]
            connection.exec_driver_sql("DROP TABLE message_search")
            connection.exec_driver_sql(create.replace(",\n  FULLTEXT KEY `ft_message_search_terms` (`terms`)", ""))
        now = datetime.utcnow().replace(microsecond=0)
        connection.execute(
            text(
                "INSERT INTO users (username, username_key, password_hash, is_admin, status, message_count,"
                " create_time) VALUES ('history_bench', 'history_bench', 'x', 0, 'active', 0, :now)"
            ),
            {"now": now},
        )
        user_id = connection.execute(text("SELECT id FROM users WHERE username = 'history_bench'")).scalar_one()
        per_session = [500] + [0] * (args.sessions - 1)
        rest = args.messages - 500
        for index in range(1, args.sessions):
            per_session[index] = rest // (args.sessions - 1) + (1 if index <= rest % (args.sessions - 1) else 0)
        session_rows, message_rows, search_rows = [], [], []
        message_id = 0
        big_session = None
        placeholder = "%s" if mysql else "?"
        insert_message = (
            "INSERT INTO ai_chat_messages (id, parent_id, session_id, user_id, role, content, timestamp, status,"
            f" model_id, usage_estimated) VALUES ({', '.join([placeholder] * 9)}, 0)"
        )
        insert_terms = (
            f"INSERT INTO message_search (message_id, terms) VALUES ({placeholder}, {placeholder})"
            if mysql
            else "INSERT INTO message_search (rowid, terms) VALUES (?, ?)"
        )

        def flush_sessions():
            connection.execute(
                text(
                    "INSERT INTO chat_sessions (session_id, user_id, title, model_id, pinned, create_time, update_time)"
                    " VALUES (:sid, :uid, :title, 'bench-model', 0, :created, :updated)"
                ),
                session_rows,
            )
            connection.commit()
            session_rows.clear()

        def flush_messages():
            if session_rows:
                flush_sessions()
            connection.exec_driver_sql(insert_message, message_rows)
            connection.exec_driver_sql(insert_terms, search_rows)
            connection.commit()
            message_rows.clear()
            search_rows.clear()

        span = timedelta(days=365)
        for position, index in enumerate(range(args.sessions)):  # session 0 (500 messages) is the oldest
            session_id = str(uuid.uuid4())
            if index == 0:
                big_session = session_id
            start = now - span + span * position / args.sessions
            moment = start
            for number in range(per_session[index]):
                message_id += 1
                moment = start + timedelta(seconds=20 * number)
                choice = rng.randrange(UNIQUE_TEXTS)
                role = "user" if number % 2 == 0 else "assistant"
                parent_id = message_id - 1 if number else None  # a single branch
                message_rows.append(
                    (message_id, parent_id, session_id, user_id, role, texts[choice], moment, "done", "bench-model")
                )
                search_rows.append((message_id, text_terms[choice]))
            session_rows.append(
                {
                    "sid": session_id,
                    "uid": user_id,
                    "title": texts[rng.randrange(UNIQUE_TEXTS)][:30],
                    "created": start,
                    "updated": moment,
                }
            )
            if len(message_rows) >= 20_000:
                flush_messages()
                print(f"  {message_id:,} messages loaded ({time.perf_counter() - started:.0f} s)", flush=True)
        if message_rows or session_rows:
            flush_messages()
        if mysql:
            print("  building the FULLTEXT index…", flush=True)
            connection.exec_driver_sql("ALTER TABLE message_search ADD FULLTEXT KEY ft_message_search_terms (terms)")
            connection.exec_driver_sql("ANALYZE TABLE chat_sessions, ai_chat_messages, message_search")
        else:
            connection.exec_driver_sql("INSERT INTO message_search (message_search) VALUES ('optimize')")
            connection.exec_driver_sql("ANALYZE")
        connection.commit()
        connection.close()
    print(f"built {args.sessions:,} conversations / {message_id:,} messages in {time.perf_counter() - started:.0f} s")
    return {"user_id": user_id, "big_session": big_session, "now": now.isoformat()}


def build_usage(args) -> None:
    """The rollup of an organisation's answers: `usage_users` people in ten groups, three models,
    a year of days, one answer per two of the `messages` (a question and its answer); each user
    active on some days with some models, so that a day has many rows, as in a real instance."""
    from sqlalchemy import text

    from aihelper.extensions import db

    rng = random.Random(11)
    started = time.perf_counter()
    with app_for(args).app_context():
        connection = db.engine.connect()
        now = datetime.utcnow().replace(microsecond=0)
        connection.execute(
            text("INSERT INTO user_groups (name, create_time) VALUES (:name, :now)"),
            [{"name": f"bench group {i}", "now": now} for i in range(10)],
        )
        group_ids = [row[0] for row in connection.execute(text("SELECT id FROM user_groups ORDER BY id"))]
        connection.execute(
            text(
                "INSERT INTO users (username, username_key, password_hash, is_admin, status, message_count,"
                " create_time) VALUES (:name, :name, 'x', 0, 'active', 0, :now)"
            ),
            [{"name": f"usage_bench_{i}", "now": now} for i in range(args.usage_users)],
        )
        user_ids = [
            row[0] for row in connection.execute(text("SELECT id FROM users WHERE username LIKE 'usage_bench_%'"))
        ]
        connection.execute(
            text("INSERT INTO user_group_members (group_id, user_id) VALUES (:group_id, :user_id)"),
            [{"group_id": group_ids[i % 10], "user_id": user_id} for i, user_id in enumerate(user_ids)],
        )
        rows, answers, target = {}, 0, args.messages // 2
        models = ("glm-4.5", "qwen3-max", "deepseek-chat")
        while answers < target:
            key = (rng.randrange(365), rng.choice(user_ids), rng.choice(models))
            row = rows.setdefault(key, [0, 0, 0])
            count = rng.randint(1, 6)
            row[0] += count
            row[1] += count * rng.randint(200, 2000)
            row[2] += count * rng.randint(100, 800)
            answers += count
        today = now.date()
        values = [
            {
                "day": today - timedelta(days=days_ago),
                "user_id": user_id,
                "model_id": model,
                "messages": messages,
                "prompt": prompt,
                "completion": completion,
                "cost": (prompt * 2 + completion * 8) / 1_000_000,
            }
            for (days_ago, user_id, model), (messages, prompt, completion) in rows.items()
        ]
        insert = text(
            "INSERT INTO usage_daily (day, user_id, model_id, messages, prompt_tokens, completion_tokens, cost,"
            " currency) VALUES (:day, :user_id, :model_id, :messages, :prompt, :completion, :cost, 'CNY')"
        )
        for start in range(0, len(values), 20_000):
            connection.execute(insert, values[start : start + 20_000])
            connection.commit()
        connection.exec_driver_sql("ANALYZE" if db.engine.dialect.name == "sqlite" else "ANALYZE TABLE usage_daily")
        connection.commit()
        connection.close()
    print(
        f"built the usage rollup: {answers:,} answers of {args.usage_users:,} users in {len(values):,} rows"
        f" ({time.perf_counter() - started:.0f} s)"
    )


def measure_usage(args) -> list[tuple[str, dict, float]]:
    """The dashboard's reads over the last 90 days (PERFORMANCE.md / issue #15: ≤ 300 ms)."""
    from aihelper.extensions import db
    from aihelper.services import usage_report
    from aihelper.validation import read

    rows = []
    with app_for(args).test_request_context():
        clock = DatabaseClock(db.engine)
        today = datetime.utcnow().date()
        span = {"from": (today - timedelta(days=89)).isoformat(), "to": today.isoformat()}
        for by in ("day", "week", "month", "model", "user", "group"):
            query = read(usage_report.UsageQuery, {**span, "by": by})
            function = lambda q=query: usage_report.usage_rows(q)  # noqa: E731
            function()
            rows.append((f"usage, 90 days by {by}", timed(function, clock, runs=10), 300))
    return rows


def already_built(args) -> dict:
    from sqlalchemy import text

    from aihelper.extensions import db

    with app_for(args).app_context():
        user_id = db.session.execute(text("SELECT id FROM users WHERE username = 'history_bench'")).scalar_one()
        big_session, now = db.session.execute(
            text(
                "SELECT session_id, (SELECT MAX(update_time) FROM chat_sessions) FROM chat_sessions ORDER BY id LIMIT 1"
            )
        ).one()
    return {"user_id": user_id, "big_session": big_session, "now": now.isoformat()}


def one_week_a_month_ago(built: dict) -> tuple[str, str]:
    now = datetime.fromisoformat(built["now"])
    return (now - timedelta(days=40)).date().isoformat(), (now - timedelta(days=34)).date().isoformat()


class DatabaseClock:
    """Time spent inside the driver's execute (the query, the network and reading the rows, which
    PyMySQL and sqlite3 do during execute): "at the database", without the app's Python around it."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.total = 0.0
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)

    def before(self, conn, *_args):
        conn.info["bench_started"] = time.perf_counter()

    def after(self, conn, *_args):
        self.total += time.perf_counter() - conn.info.pop("bench_started")


def timed(function, clock: DatabaseClock, runs: int = RUNS) -> dict:
    from aihelper.extensions import db

    samples, at_database = [], []
    for _ in range(runs):
        clock.total = 0.0
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
        at_database.append(clock.total * 1000)
        db.session.remove()
    return {
        "p50": statistics.median(samples),
        "p95": percentile(samples, 0.95),
        "db_p50": statistics.median(at_database),
        "db_p95": percentile(at_database, 0.95),
    }


def measure(args, built: dict) -> list[tuple[str, dict, float]]:
    from aihelper.services import history, search
    from aihelper.validation import read

    app = app_for(args)
    user_id = built["user_id"]
    rows = []
    with app.test_request_context():
        from aihelper.extensions import db

        clock = DatabaseClock(db.engine)
        week = one_week_a_month_ago(built)
        cases = [
            (
                "list the newest 50 conversations",
                lambda: history.list_sessions(user_id, read(history.SessionsPage, {"limit": "50"})),
                20,
            ),
            (
                "list, next page (before = a session id)",
                lambda: history.list_sessions(
                    user_id, read(history.SessionsPage, {"limit": "50", "before": built["page_cursor"]})
                ),
                20,
            ),
            (
                "time range: one week, a month ago",
                lambda: history.sessions_in_range(
                    user_id, read(history.TimeSpan, {"start_time": week[0], "end_time": week[1]})
                ),
                20,
            ),
            (
                "open the 500-message conversation",
                lambda: history.conversation(
                    user_id, read(history.ConversationPage, {"session_id": built["big_session"]})
                ),
                20,
            ),
        ]
        built["page_cursor"] = history.list_sessions(user_id, read(history.SessionsPage, {"limit": "50"}))[-1][
            "session_id"
        ]
        for query in ("数据库", "西湖", "kubernetes", "timeout retry", "索引 优化", "向量检索", "不存在的词语"):
            cases.append(
                (
                    f"search {query!r} (20 results)",
                    lambda q=query: search.search(user_id, read(search.SearchQuery, {"q": q})),
                    200,
                )
            )
        cases.append(
            (
                "search '数据' within one week",
                lambda: search.search(
                    user_id, read(search.SearchQuery, {"q": "数据", "start_time": week[0], "end_time": week[1]})
                ),
                200,
            )
        )
        for name, function, target in cases:
            function()  # warm the caches once
            rows.append((name, timed(function, clock), target))
    return rows


def explain(args, built: dict) -> None:
    from sqlalchemy import text

    from aihelper.extensions import db

    app = app_for(args)
    sqlite = args.database == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    user_id = built["user_id"]
    week = one_week_a_month_ago(built)
    queries = {
        "list": f"SELECT id FROM chat_sessions WHERE user_id = {user_id} ORDER BY update_time DESC, id DESC LIMIT 50",
        "time range": (
            f"SELECT id FROM chat_sessions WHERE user_id = {user_id} AND update_time >= '{week[0]}' "
            f"AND create_time <= '{week[1]} 23:59:59' AND EXISTS (SELECT 1 FROM ai_chat_messages m "
            f"WHERE m.session_id = chat_sessions.session_id AND m.timestamp >= '{week[0]}' "
            f"AND m.timestamp <= '{week[1]} 23:59:59') ORDER BY update_time DESC, id DESC"
        ),
        "open": f"SELECT * FROM ai_chat_messages WHERE session_id = '{built['big_session']}' ORDER BY id",
        "search": (
            "SELECT m.id FROM message_search JOIN ai_chat_messages m ON m.id = message_search.rowid "
            f"WHERE message_search MATCH '\"zz西湖\"' AND m.user_id = {user_id} "
            "ORDER BY message_search.rowid DESC LIMIT 60"
            if sqlite
            else "SELECT m.id FROM ai_chat_messages m JOIN (SELECT id FROM ai_chat_messages "
            f"WHERE user_id = {user_id} ORDER BY timestamp DESC, id DESC LIMIT 2000) r ON r.id = m.id "
            "WHERE m.content LIKE '%西湖%' ORDER BY m.timestamp DESC, m.id DESC LIMIT 60"
        ),
    }
    if not sqlite:
        queries["search, rarer words (FULLTEXT)"] = (
            "SELECT message_id FROM message_search WHERE MATCH (terms) AGAINST ('+zz向量 +zz检索' IN BOOLEAN MODE) "
            "ORDER BY message_id DESC LIMIT 300"
        )
    with app.app_context():
        for name, sql in queries.items():
            print(f"\n-- plan: {name}")
            for row in db.session.execute(text(prefix + sql)):
                print("   ", " | ".join(str(v) for v in row))


EXPORT_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from aihelper import create_app
from aihelper.services import exports
app = create_app({{"SQLALCHEMY_DATABASE_URI": {url!r}, "RATELIMIT_ENABLED": False, "AIHELPER_RETENTION_JOB": False}},
                 instance_path={workdir!r})
started = time.perf_counter()
size = 0
with app.test_request_context():
    for piece in exports.export_all({user_id}):
        size += len(piece.encode())
print(json.dumps({{"bytes": size, "seconds": time.perf_counter() - started,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def measure_export(args, built: dict) -> dict:
    code = EXPORT_CHILD.format(root=str(ROOT), url=database_url(args), workdir=args.workdir, user_id=built["user_id"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("mariadb", "sqlite"), default="mariadb")
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--mysql-server", default=DEFAULT_MYSQL_SERVER)
    parser.add_argument("--mysql-db", default="aihelper_bench_history", help="dropped and created anew (never 'test')")
    parser.add_argument("--workdir", default=None, help="instance folder (default: a new temporary one)")
    parser.add_argument("--reuse", action="store_true", help="measure the data a previous run built (MariaDB)")
    parser.add_argument("--usage-users", type=int, default=2_000, help="people in the usage rollup")
    args = parser.parse_args()
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="aihelper-history-")
    os.environ.setdefault("AIHELPER_LOG_LEVEL", "WARNING")

    print(f"history scale on {args.database}: {args.sessions:,} conversations, {args.messages:,} messages")
    if args.reuse:
        built = already_built(args)
    else:
        fresh_database(args)
        built = build(args)
        build_usage(args)
    print(f"\n{'query':44} {'db p50':>7} {'db p95':>7} {'all p50':>8} {'all p95':>8}  target p95 at the database")
    for name, figures, target in [*measure(args, built), *measure_usage(args)]:
        verdict = "ok" if figures["db_p95"] <= target else "MISSED"
        print(
            f"{name:44} {figures['db_p50']:7.1f} {figures['db_p95']:7.1f} {figures['p50']:8.1f} {figures['p95']:8.1f}"
            f"  ≤ {target} ms {verdict}"
        )
    print("(ms; db = inside the driver's execute: query, network, rows read; all = the whole service call)")
    exported = measure_export(args, built)
    print(
        f"\nexport everything: {exported['bytes'] / 1e6:,.0f} MB in {exported['seconds']:.1f} s, "
        f"peak RSS {exported['peak_rss_mb']:.0f} MB (target < 200 MB)"
    )
    explain(args, built)
    print(f"\nown peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; data in {args.workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
