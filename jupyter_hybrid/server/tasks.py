"""Long work (a restore installs hundreds of packages) as background tasks the UI can follow.

Each task's asyncio handle is kept until it ends (the loop holds only weak references: an
unreferenced task can be collected mid-run). A finished task is kept ``keep_seconds``
(``HybridServerApp.task_keep_seconds``) for the UI to read its result, then forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
ERROR_CHARS = 300  # of an unexpected error's text shown to the client


@dataclass
class Task:
    owner: str
    status: str = "running"  # running | done | failed
    progress: deque = field(default_factory=lambda: deque(maxlen=200))
    error: str | None = None
    result: dict | None = None
    finished_at: float | None = None  # Tasks.clock() when it ended

    def view(self) -> dict:
        return {
            "status": self.status,
            "progress": list(self.progress),
            "error": self.error,
            "result": self.result,
        }


def unexpected(e: BaseException) -> str:
    """What a client is told of an error nobody anticipated: a message, not a repr."""
    text = " ".join(str(e).split())
    text = text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"
    what = f"{type(e).__name__}: {text}" if text else type(e).__name__
    return f"failed unexpectedly ({what}); the server log has the details"


class Tasks:
    """Tasks of this server, by id. Work runs in a thread so the event loop never blocks."""

    def __init__(
        self, keep_seconds: float = 3600.0, clock: Callable[[], float] = time.monotonic, logger=None
    ):
        self.keep_seconds = keep_seconds
        self.clock = clock
        self.log = logger or log
        self.tasks: dict[str, Task] = {}
        self.running: set[asyncio.Future] = set()  # strong references until each one ends

    def start(self, owner: str, work: Callable[[Callable[[str], None]], dict], errors: tuple) -> str:
        self.expire()
        task_id = uuid.uuid4().hex
        task = self.tasks[task_id] = Task(owner)

        async def run():
            try:
                task.result = await asyncio.to_thread(work, task.progress.append)
                task.status = "done"
            except errors as e:
                task.error, task.status = str(e), "failed"
            except Exception as e:  # unexpected: report it rather than leave "running"; details in the log
                self.log.exception("background task %s of %s failed", task_id, owner)
                task.error, task.status = unexpected(e), "failed"
            finally:
                task.finished_at = self.clock()

        handle = asyncio.ensure_future(run())
        self.running.add(handle)
        handle.add_done_callback(self.running.discard)
        return task_id

    def get(self, owner: str, task_id: str) -> Task | None:
        self.expire()
        task = self.tasks.get(task_id)
        return task if task is not None and task.owner == owner else None

    def expire(self) -> None:
        """Forget tasks that finished more than ``keep_seconds`` ago."""
        cutoff = self.clock() - self.keep_seconds
        for task_id, task in list(self.tasks.items()):
            if task.finished_at is not None and task.finished_at < cutoff:
                del self.tasks[task_id]
