"""Production settings: `gunicorn -c gunicorn.conf.py wsgi:app`.

gevent workers hold thousands of open websockets each (one greenlet per connection, not one
thread); gunicorn's gevent worker patches the standard library before it loads the app.
Every value can be overridden on the command line or through GUNICORN_CMD_ARGS.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Without REDIS_URL one gevent worker serves every socket, so that a stop or a resume always meets
# its generation. With it, one worker per core: measured on 2 cores (README "Performance"), two
# workers do better than one under many streams and the same on a burst; one does better only on
# a handful of very fast streams, which one core can serve alone.
workers = int(os.environ.get("WEB_CONCURRENCY", str(os.cpu_count() or 1) if os.environ.get("REDIS_URL") else "1"))
worker_class = "gevent"
# Simultaneous connections (websockets included) per worker.
worker_connections = int(os.environ.get("AIHELPER_WORKER_CONNECTIONS", "2000"))
# Heartbeat timeout; a long stream does not block the worker under gevent.
timeout = 60
# A stopping worker lets its running answers finish for AIHELPER_DRAIN_SECONDS (aihelper/chat/drain.py),
# then stores the rest; gunicorn kills it only after that.
graceful_timeout = int(float(os.environ.get("AIHELPER_DRAIN_SECONDS", "120"))) + 10
keepalive = 5
# The app writes a line per request of its own (with the request id and user); with JSON logs
# gunicorn's text access log would only be a second, unparsable copy of it.
# Off unless named: the app writes its own line per request (aihelper/telemetry/logs.py), without
# the query string (search text) or the Referer (a shared link's id) that gunicorn's would hold.
accesslog = os.environ.get("AIHELPER_ACCESS_LOG")
errorlog = "-"
# Whose X-Forwarded-Proto gunicorn believes; the app reads the same variable for all X-Forwarded-*.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


def post_worker_init(worker):
    """Everything loaded by now (the app and its libraries, ~100 000 objects) lives as long as the
    worker: frozen out of the cyclic collector, a full collection no longer walks it. Each such walk
    held every stream of the worker for 30-75 ms (while an import allocated, several in a row)."""
    import gc

    gc.collect()
    gc.freeze()
    _drain_on_stop(worker)


def _drain_on_stop(worker):
    """SIGTERM (the master's graceful stop: a HUP's old workers, a shutdown) also starts the app's
    drain: no new turns, idle sockets sent elsewhere, running answers finished or stored."""
    import signal

    import gevent

    drain = worker.wsgi.extensions["drain"]
    stop_worker = worker.handle_exit

    def on_stop(signum, frame):
        # Out of the signal handler (an event loop callback, which must not block), as gunicorn
        # does for its own quit.
        gevent.spawn(drain.begin)
        stop_worker(signum, frame)

    signal.signal(signal.SIGTERM, on_stop)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn had it: no system call cut short


# Metrics (GET /metrics, aihelper/telemetry/metrics.py): when a token turns them on, the workers
# write their values to files in one folder that a scrape of any worker adds up. The folder is new
# (or emptied) at each start of the master, kept across a HUP's new workers (their counters go on
# adding up), and a dead worker's gauges leave it.
if os.environ.get("AIHELPER_METRICS_TOKEN"):

    def on_starting(server):
        import tempfile
        from pathlib import Path

        given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if given:  # only the metrics' own files: the folder may hold other things
            for kind in ("counter", "gauge", "histogram", "summary"):
                for stale in Path(given).glob(f"{kind}_*.db"):
                    stale.unlink()
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="aihelper-metrics-")
            os.environ["AIHELPER_OWN_METRICS_DIR"] = "1"

    def child_exit(server, worker):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

    def on_exit(server):
        if os.environ.pop("AIHELPER_OWN_METRICS_DIR", None):
            import shutil

            shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
