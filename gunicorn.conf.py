"""Production settings: `gunicorn -c gunicorn.conf.py wsgi:app`.

gevent workers hold thousands of open websockets each (one greenlet per connection, not one
thread); gunicorn's gevent worker patches the standard library before it loads the app.
Every value can be overridden on the command line or through GUNICORN_CMD_ARGS.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Live answers (stop, resume after a reload) are shared between workers through Redis; without
# REDIS_URL one gevent worker serves every socket, so they always meet their generation.
workers = int(os.environ.get("WEB_CONCURRENCY", "2" if os.environ.get("REDIS_URL") else "1"))
worker_class = "gevent"
# Simultaneous connections (websockets included) per worker.
worker_connections = int(os.environ.get("AIHELPER_WORKER_CONNECTIONS", "2000"))
# Heartbeat timeout; a long stream does not block the worker under gevent.
timeout = 60
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("AIHELPER_ACCESS_LOG", "-")
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
