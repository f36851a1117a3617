"""MemoryHub: one worker process, so every generation, follower and stop request is in its memory."""

from __future__ import annotations

from aihelper.chat.frames import Frame
from aihelper.live.base import Cursor, LiveGeneration, LiveHub, Waker


class MemoryHub(LiveHub):
    """Nothing lives outside this process: the hooks for other processes have nothing to do."""

    def _claim(self, generation: LiveGeneration, max_running: int) -> None:
        pass  # not shared: begin() decided under the hub's lock

    def published(self, generation: LiveGeneration) -> None:
        pass

    def _released(self, generation: LiveGeneration, final: Frame | None) -> None:
        pass

    def _follow_elsewhere(self, session_id: str, user_id: int, after: int, waker: Waker) -> Cursor | None:
        return None

    def _stop_elsewhere(self, session_id: str, user_id: int) -> bool:
        return False

    def _stop_user_elsewhere(self, user_id: int) -> None:
        pass

    def _announce_elsewhere(self, user_id: int, frame: Frame | None) -> None:
        pass

    def close(self) -> None:
        pass
