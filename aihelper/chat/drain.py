"""A worker's graceful stop (SIGTERM: a deploy's HUP, a shutdown): no answer is left unstored.

gunicorn.conf.py calls `Drain.begin()` when the worker is told to stop. From then on the worker
takes no new turn (`server_restarting`), and its sockets that follow no running answer are closed
with code 1012 (service restart), so their pages reconnect to a worker that stays. Running answers
go on for up to AIHELPER_DRAIN_SECONDS; those still running then are stopped and stored as
interrupted with their text (their pages get `error` `server_restarting`), and the remaining
sockets close. gunicorn's graceful_timeout leaves this the time it needs.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from aihelper.chat.socket import open_connections

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2


class Drain:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.seconds = app.config["AIHELPER_DRAIN_SECONDS"]
        self.draining = False

    def begin(self) -> None:
        """Called from the worker's stop signal: returns at once, the drain runs on its own."""
        if self.draining:
            return
        self.draining = True
        threading.Thread(target=self._run, name="aihelper-drain", daemon=True).start()

    def _run(self) -> None:
        hub = self.app.extensions["live_hub"]
        log.info("stopping: %d answer(s) running, %d socket(s) open", len(hub.running_here()), len(open_connections()))
        for connection in open_connections():
            connection.restart_when_idle()
        deadline = time.monotonic() + self.seconds
        while hub.running_here() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        running = hub.running_here()
        if running:
            log.warning("stopping: %d answer(s) still running are stored as interrupted", len(running))
        for generation in running:
            generation.interrupt()
