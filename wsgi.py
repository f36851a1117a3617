"""The WSGI app for gunicorn: `gunicorn -c gunicorn.conf.py wsgi:app`."""

from aihelper import create_app

app = create_app()
