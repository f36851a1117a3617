"""The WSGI app for gunicorn: `gunicorn -c gunicorn.conf.py wsgi:app`.

Each worker imports this module, so each starts the hourly check for the daily retention clean-up
(one of them runs it per day; aihelper/services/retention.py).
"""

from aihelper import create_app
from aihelper.services.retention import start_daily_job

app = create_app()
if app.config["AIHELPER_RETENTION_JOB"]:
    start_daily_job(app)
