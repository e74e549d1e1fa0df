"""Long work (a restore installs hundreds of packages) as background tasks the UI can follow."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Task:
    owner: str
    status: str = "running"  # running | done | failed
    progress: deque = field(default_factory=lambda: deque(maxlen=200))
    error: str | None = None
    result: dict | None = None

    def view(self) -> dict:
        return {
            "status": self.status,
            "progress": list(self.progress),
            "error": self.error,
            "result": self.result,
        }


class Tasks:
    """Tasks of this server, by id. Work runs in a thread so the event loop never blocks."""

    def __init__(self):
        self.tasks: dict[str, Task] = {}

    def start(self, owner: str, work: Callable[[Callable[[str], None]], dict], errors: tuple) -> str:
        task_id = uuid.uuid4().hex
        task = self.tasks[task_id] = Task(owner)

        async def run():
            try:
                task.result = await asyncio.to_thread(work, task.progress.append)
                task.status = "done"
            except errors as e:
                task.error, task.status = str(e), "failed"
            except Exception as e:  # unexpected: still report it rather than leave "running"
                task.error, task.status = f"unexpected error: {e!r}", "failed"

        asyncio.ensure_future(run())
        return task_id

    def get(self, owner: str, task_id: str) -> Task | None:
        task = self.tasks.get(task_id)
        return task if task is not None and task.owner == owner else None
