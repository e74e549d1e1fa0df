"""Background tasks (restores): referenced while they run, forgotten a while after they end,
and an unexpected error reaches the client as a message, not a repr."""

from __future__ import annotations

import asyncio
import threading

import pytest

from jupyter_hybrid.server.app import HybridServerApp
from jupyter_hybrid.server.tasks import Tasks
from jupyter_hybrid.snapshots.errors import SnapshotError


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


async def finish(tasks: Tasks) -> None:
    await asyncio.gather(*list(tasks.running), return_exceptions=True)


async def test_a_running_task_is_referenced_until_it_ends():
    tasks, release = Tasks(), threading.Event()

    def work(progress):
        progress("working")
        release.wait(60)
        return {"ok": True}

    task_id = tasks.start("ann", work, (SnapshotError,))
    assert len(tasks.running) == 1 and all(isinstance(h, asyncio.Future) for h in tasks.running)
    assert tasks.get("ann", task_id).status == "running"
    release.set()
    await finish(tasks)
    assert tasks.running == set()
    assert tasks.get("ann", task_id).view() == {
        "status": "done",
        "progress": ["working"],
        "error": None,
        "result": {"ok": True},
    }
    assert tasks.get("bob", task_id) is None


async def test_finished_tasks_expire_after_keep_seconds():
    clock = Clock()
    tasks = Tasks(keep_seconds=600, clock=clock)
    done = tasks.start("ann", lambda progress: {}, (SnapshotError,))
    await finish(tasks)
    release = threading.Event()
    running = tasks.start("ann", lambda progress: release.wait(60) and {}, (SnapshotError,))
    clock.now += 600
    assert tasks.get("ann", done) is not None  # exactly keep_seconds: still there
    clock.now += 1
    assert tasks.get("ann", done) is None and done not in tasks.tasks
    assert tasks.get("ann", running).status == "running"  # a running task never expires
    release.set()
    await finish(tasks)
    clock.now += 601
    tasks.expire()
    assert tasks.tasks == {}


async def test_errors_reach_the_client_as_messages(caplog):
    tasks = Tasks()

    def expected(progress):
        raise SnapshotError("pip install failed: ERROR: no six==0.0.999")

    def unexpected(progress):
        raise KeyError("python")

    a = tasks.start("ann", expected, (SnapshotError,))
    b = tasks.start("ann", unexpected, (SnapshotError,))
    await finish(tasks)
    assert tasks.get("ann", a).error == "pip install failed: ERROR: no six==0.0.999"
    error = tasks.get("ann", b).error
    assert error == "failed unexpectedly (KeyError: 'python'); the server log has the details"
    assert "KeyError(" not in error
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)  # the detail: in the log


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["HybridServerApp"]["task_keep_seconds"] = 5.0
    return jp_server_config


async def test_the_server_keeps_tasks_as_configured(jp_serverapp):
    tasks = jp_serverapp.web_app.settings["jupyter_hybrid.tasks"]
    assert tasks.keep_seconds == 5.0
    assert "Default: 3600" in HybridServerApp.class_traits()["task_keep_seconds"].help
