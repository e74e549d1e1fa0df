"""Notices for the GPU panel, e.g. the idle-GPU culler's "this server will be stopped" warning.

The culler (a hub service) POSTs a notice to the user's server (``/jupyter-hybrid/gpu/notices``);
the panel shows the unexpired ones and gets new ones pushed on the GPU WebSocket. Memory only: a
notice matters while this server runs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_NOTICES = 50


class NoticeRequest(BaseModel):
    """POST /jupyter-hybrid/gpu/notices body."""

    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=2000)
    level: Literal["info", "warning"] = "warning"
    source: str = Field("admin", max_length=100, description="who sent it, e.g. gpu-culler")
    ttl: float = Field(3600, gt=0, le=7 * 86400, description="seconds the notice stays shown")


class Notices:
    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._items: list[dict] = []
        self._listeners: list[Callable[[dict], None]] = []
        self._lock = threading.Lock()

    def add(self, req: NoticeRequest) -> dict:
        now = self.clock()
        notice = {
            "id": uuid.uuid4().hex,
            "message": req.message,
            "level": req.level,
            "source": req.source,
            "time": now,
            "expires": now + req.ttl,
        }
        with self._lock:
            self._items = [n for n in self._items if n["expires"] > now][-(MAX_NOTICES - 1) :] + [notice]
        for listener in list(self._listeners):
            listener(notice)
        return notice

    def current(self) -> list[dict]:
        now = self.clock()
        with self._lock:
            return [n for n in self._items if n["expires"] > now]

    def subscribe(self, listener: Callable[[dict], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: listener in self._listeners and self._listeners.remove(listener)
