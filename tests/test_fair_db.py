"""aihelper.fair_db: under gevent, a burst of blocking SQLite work must not stall the streams.

Runs in a subprocess, because gevent has to patch the standard library before anything else is
imported. The "stream" is one greenlet that ticks every millisecond; the "burst" is 40 pieces of
work that each block the loop for 3 ms, as a turn's SQLite queries do (120 ms in all). What is
compared is the order things ran in — how many pieces ran back to back without the stream getting
a turn —, not durations.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.fixtures.servers import PROJECT_ROOT

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()

    import json, sys, tempfile, time
    import gevent
    from gevent.event import Event
    from aihelper import create_app
    from aihelper.fair_db import fair_share

    gated = sys.argv[1] == "gated"
    folder = tempfile.mkdtemp()
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/fair.db", "RATELIMIT_ENABLED": False},
        instance_path=folder,
    )
    events, ticking, ticked = [], True, Event()

    def ticker():
        while ticking:
            gevent.sleep(0.001)
            events.append("tick")
            ticked.set()

    def blocking_query():
        end = time.perf_counter() + 0.003
        while time.perf_counter() < end:  # C code gevent cannot interrupt, like sqlite3
            pass
        events.append("query")

    def turn():
        with app.app_context():
            if gated:
                with fair_share():
                    blocking_query()
            else:
                blocking_query()

    tick = gevent.spawn(ticker)
    ticked.wait()  # the stream is running
    gevent.joinall([gevent.spawn(turn) for _ in range(40)])
    ticking = False
    tick.join()
    runs, run = [], 0
    for event in events:
        run = run + 1 if event == "query" else 0
        runs.append(run)
    print(json.dumps({"longest_run": max(runs), "queries": events.count("query")}))
    """
)


def run_burst(mode: str) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_burst_of_blocking_database_work_is_cut_into_slices_between_the_streams():
    ungated, gated = run_burst("ungated"), run_burst("gated")

    assert ungated == {"longest_run": 40, "queries": 40}  # the whole burst in one go: the stream stands still
    # A slice (5 ms) of pieces at a time, then the stream runs again.
    assert gated["queries"] == 40 and gated["longest_run"] <= 3, gated
