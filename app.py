"""`python app.py` serves http://localhost:8000 on SQLite with no setup; `flask --app app` uses `app`.

The development server is gunicorn with the production worker class in a single process, because
the Werkzeug development server breaks websocket closes. HOST and PORT choose the address. The app
is not imported in this process: gevent must patch the standard library before the app loads, and
gunicorn's worker does that first.
"""

import os
import sys

if __name__ == "__main__":
    from gunicorn.app.wsgiapp import run

    here = os.path.dirname(os.path.abspath(__file__))
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host  # noqa: S104 - not a bind
    print(f"aihelper: open http://{shown_host}:{port} (Ctrl+C stops)", flush=True)
    sys.argv = ["gunicorn", "--config", os.path.join(here, "gunicorn.conf.py"), "--chdir", here]
    sys.argv += ["--workers", "1", "--bind", f"{host}:{port}", "--no-control-socket", "wsgi:app"]
    run()
else:
    from aihelper import create_app

    app = create_app()
