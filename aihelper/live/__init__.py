"""Running generations: who follows them, how a stop reaches them, what other workers see.

`live_hub()` is the one way to reach the app's hub: a MemoryHub for one worker, a RedisHub when
REDIS_URL is set (shared by every worker and instance using that Redis database).
"""

from __future__ import annotations

from flask import current_app

from aihelper.live.base import Cursor, LiveGeneration, LiveHub, Refused
from aihelper.live.memory import MemoryHub
from aihelper.live.redis import RedisHub

__all__ = ["Cursor", "LiveGeneration", "LiveHub", "MemoryHub", "RedisHub", "Refused", "create_hub", "live_hub"]


def create_hub(redis_url: str | None, lease_seconds: float) -> LiveHub:
    """The claims a RedisHub keeps for a generation lapse with the answer's lease (checkpoints.py):
    a worker that died frees its conversations and its users' running turns as its answers are
    finished as interrupted."""
    return RedisHub(redis_url, lock_ttl=lease_seconds) if redis_url else MemoryHub()


def live_hub() -> LiveHub:
    return current_app.extensions["live_hub"]
