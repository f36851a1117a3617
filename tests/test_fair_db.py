"""aihelper.fair_db: under gevent, a burst of blocking SQLite work must not stall the streams.

Runs in a subprocess, because gevent has to patch the standard library before anything else is
imported. The "streams" are one greenlet that ticks every millisecond; the "burst" is 40 pieces of
work that each block the loop for 3 ms, as a turn's SQLite queries do (120 ms in all).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()

    import json, sys, tempfile, time
    import gevent
    from aihelper import create_app
    from aihelper.fair_db import fair_share

    gated = sys.argv[1] == "gated"
    folder = tempfile.mkdtemp()
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/fair.db", "RATELIMIT_ENABLED": False},
        instance_path=folder,
    )
    gaps, ticking = [], True

    def ticker():
        last = time.perf_counter()
        while ticking:
            gevent.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    def blocking_query():
        end = time.perf_counter() + 0.003
        while time.perf_counter() < end:  # C code gevent cannot interrupt, like sqlite3
            pass

    def turn():
        with app.app_context():
            if gated:
                with fair_share():
                    blocking_query()
            else:
                blocking_query()

    tick = gevent.spawn(ticker)
    gevent.sleep(0.02)
    started = time.perf_counter()
    gevent.joinall([gevent.spawn(turn) for _ in range(40)])
    elapsed = time.perf_counter() - started
    ticking = False
    tick.join()
    print(json.dumps({"worst_gap": max(gaps), "burst": elapsed}))
    """
)


def run_burst(mode: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_burst_of_blocking_database_work_is_cut_into_slices_between_the_streams():
    ungated, gated = run_burst("ungated"), run_burst("gated")

    assert ungated["worst_gap"] > 0.1  # the whole burst in one go: every stream stands still
    assert gated["worst_gap"] < 0.03  # a slice (5 ms) and one more piece at most, plus noise
    assert gated["burst"] < ungated["burst"] * 1.5 + 0.05  # and the burst itself hardly slower
