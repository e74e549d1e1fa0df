"""Notices for the GPU panel, e.g. the idle-GPU culler's "this server will be stopped" warning.

The culler (a hub service) POSTs a notice to the user's server (``/jupyter-hybrid/gpu/notices``);
the panel shows the unexpired ones, gets new ones pushed on the GPU WebSocket, and the user
dismisses them (one, or all) with a DELETE. Memory only: a notice matters while this server runs.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Collection
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..quote import quote

MAX_NOTICES = 50
MAX_TTL = 7 * 86400


class NoticeRequest(BaseModel):
    """POST /jupyter-hybrid/gpu/notices body."""

    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=2000)
    level: Literal["info", "warning"] = "warning"
    source: str = Field("admin", max_length=100, description="who sent it, e.g. gpu-culler")
    ttl: float = Field(3600, description="seconds the notice stays shown: > 0, at most 7 days")

    @field_validator("ttl")
    @classmethod
    def _ttl_in_range(cls, value: float) -> float:
        # one message for every way to miss (NaN passes no comparison, so pydantic's own
        # gt/le messages named whichever bound it happened to check)
        if not (math.isfinite(value) and 0 < value <= MAX_TTL):
            raise ValueError(
                f"give the seconds the notice stays shown, a number greater than 0 and at most "
                f"{MAX_TTL} (7 days); got {quote(value)}"
            )
        return value


class Notices:
    """The server's notices. Listeners get ``{"type": "notice", "notice": ...}`` for each new one
    and ``{"type": "dismissed", "ids": [...]}`` when some are dismissed."""

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
        self._emit({"type": "notice", "notice": notice})
        return notice

    def current(self) -> list[dict]:
        now = self.clock()
        with self._lock:
            return [n for n in self._items if n["expires"] > now]

    def dismiss(self, ids: Collection[str] | None = None) -> list[str]:
        """Remove the notices with these ids (all of them with None); returns the ids removed."""
        with self._lock:
            gone = [n["id"] for n in self._items if ids is None or n["id"] in ids]
            self._items = [n for n in self._items if n["id"] not in gone]
        if gone:
            self._emit({"type": "dismissed", "ids": gone})
        return gone

    def subscribe(self, listener: Callable[[dict], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: listener in self._listeners and self._listeners.remove(listener)

    def _emit(self, event: dict) -> None:
        for listener in list(self._listeners):
            listener(event)
