"""The control plane end to end without a host: REST dispatch → store → scheduler → real papermill
runs on the local site, on SQLite and PostgreSQL. Bad input is refused with 4xx and stores nothing."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import nbformat
import pytest

from jupyter_hybrid.catalog import load_catalog
from jupyter_hybrid.control import Caller, ControlPlane
from jupyter_hybrid.control.api import dispatch
from jupyter_hybrid.control.scheduler import Scheduler
from jupyter_hybrid.store import make_engine

DEFAULT_CATALOG = Path(__file__).parent.parent / "jupyter_hybrid" / "catalog" / "default.yaml"
ALICE, BOB = Caller("alice"), Caller("bob")
ADMIN = Caller("root", admin=True)


def notebook(*cells: str, params: str | None = None) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    return json.loads(json.dumps(nb))


@pytest.fixture
def plane(tmp_path, db_url):
    catalog = load_catalog(DEFAULT_CATALOG)
    return ControlPlane(make_engine(db_url), lambda: catalog, tmp_path / "runs", name="cp-test")


async def call(plane, caller, method, path, body=None, **query):
    raw = None if body is None else json.dumps(body).encode()
    reply = await dispatch(plane, caller, method, path, {k: str(v) for k, v in query.items()}, raw)
    doc = json.loads(reply.body) if reply.body and reply.content_type == "application/json" else reply.body
    return reply.status, doc


async def until(predicate, timeout=90.0, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await predicate()
        if found:
            return found
        await asyncio.sleep(every)
    raise AssertionError("timed out waiting")


async def finished(plane, caller, run_id):
    async def ended():
        status, run = await call(plane, caller, "GET", f"runs/{run_id}")
        return run if run["status"] in ("completed", "failed", "cancelled") else None

    return await until(ended)


def job(name="report", **fields):
    body = {"name": name, "notebook": "report.ipynb", "schedule": "once"}
    body.update(fields)
    return body


async def test_publish_once_runs_with_converted_parameters_and_keeps_the_output(plane):
    scheduler = Scheduler(plane, poll=0.2)
    scheduler.start()
    try:
        nb = notebook("print('alpha is', repr(alpha), name)", params="alpha = 0.5\nname = 'x'")
        status, created = await call(
            plane, ALICE, "POST", "jobs", job(parameters={"alpha": 2, "name": "é; import os"}, content=nb)
        )
        assert status == 201, created
        assert created["parameters"] == {"alpha": 2.0, "name": "é; import os"}
        assert created["schedule_text"] == "once, when published"
        assert created["tier"] == "small" and created["environment"] == "default"
        status, runs = await call(plane, ALICE, "GET", "jobs/report/runs")
        assert status == 200 and len(runs["runs"]) == 1
        run = await finished(plane, ALICE, runs["runs"][0]["id"])
        assert run["status"] == "completed", run["error"]
        assert run["site"] == "local" and run["has_output"] and run["duration"] > 0
        status, log = await call(plane, ALICE, "GET", f"runs/{run['id']}/log")
        assert "alpha is 2.0 é; import os" in log["text"] and log["done"]
        assert "--- cell 3 of 3 ---" in log["text"]
        status, out = await call(plane, ALICE, "GET", f"runs/{run['id']}/output", format="ipynb")
        assert status == 200
        assert nbformat.reads(out.decode(), as_version=4).cells[1].metadata.tags == ["injected-parameters"]
        status, listed = await call(plane, ALICE, "GET", "jobs")
        assert listed["jobs"][0]["last_run"]["status"] == "completed"
    finally:
        await scheduler.stop()


async def test_a_failing_run_records_its_cell_and_is_retried_per_policy(plane):
    scheduler = Scheduler(plane, poll=0.1)
    scheduler.start()
    try:
        nb = notebook("x = 1", "y = 2", "raise ValueError('bad input data')")
        retry = {"attempts": 1, "backoff": 0.2}
        status, _ = await call(plane, ALICE, "POST", "jobs", job(retry=retry, content=nb))
        assert status == 201

        async def two_ended():
            _, runs = await call(plane, ALICE, "GET", "jobs/report/runs")
            ended = [r for r in runs["runs"] if r["status"] == "failed"]
            return runs["runs"] if len(ended) == 2 else None

        runs = await until(two_ended)
        retried, first = runs  # newest first
        assert first["error"]["cell"] == 3 and first["error"]["ename"] == "ValueError"
        assert "bad input data" in first["error"]["evalue"]
        assert (
            retried["trigger"] == "retry" and retried["attempt"] == 2 and retried["retry_of"] == first["id"]
        )
        await asyncio.sleep(0.5)
        _, runs = await call(plane, ALICE, "GET", "jobs/report/runs")
        assert len(runs["runs"]) == 2  # attempts: 1 → no third try
    finally:
        await scheduler.stop()


async def test_cancel_stops_the_run_and_keeps_it_cancelled(plane):
    scheduler = Scheduler(plane, poll=0.1)
    scheduler.start()
    try:
        nb = notebook("import time\nprint('started', flush=True)\ntime.sleep(600)")
        await call(plane, ALICE, "POST", "jobs", job(content=nb))
        _, runs = await call(plane, ALICE, "GET", "jobs/report/runs")
        run_id = runs["runs"][0]["id"]

        async def printing():
            _, log = await call(plane, ALICE, "GET", f"runs/{run_id}/log")
            return "started" in log["text"]

        await until(printing)
        held = plane.ledger.get("run", f"run:{run_id}")  # in the store: every process sees it
        assert held is not None and held.owner == "alice" and held.site == "local"
        status, _ = await call(plane, BOB, "POST", f"runs/{run_id}/cancel")
        assert status == 404  # another user's run reads as missing
        status, cancelled = await call(plane, ALICE, "POST", f"runs/{run_id}/cancel")
        assert status == 200 and cancelled["status"] == "cancelled"
        await asyncio.sleep(1.0)
        _, run = await call(plane, ALICE, "GET", f"runs/{run_id}")
        assert run["status"] == "cancelled" and run["error"]["message"] == "cancelled by alice"
        assert plane.ledger.get("run", f"run:{run_id}") is None  # released
    finally:
        await scheduler.stop()


async def test_users_see_only_their_own_and_admins_read_only(plane):
    nb = notebook("1")
    assert (await call(plane, ALICE, "POST", "jobs", job(schedule="0 6 * * *", content=nb)))[0] == 201
    assert (await call(plane, BOB, "GET", "jobs"))[1] == {"jobs": []}
    assert (await call(plane, BOB, "GET", "jobs/report"))[0] == 404
    assert (await call(plane, BOB, "POST", "jobs/report/runs", {}))[0] == 404
    status, listed = await call(plane, ADMIN, "GET", "jobs")
    assert [j["owner"] for j in listed["jobs"]] == ["alice"]
    assert (await call(plane, ADMIN, "GET", "jobs/report", owner="alice"))[0] == 200
    status, doc = await call(plane, ADMIN, "PATCH", "jobs/report", {"paused": True}, owner="alice")
    assert status == 404  # the admin's own job of that name: none
    status, doc = await call(plane, ALICE, "PATCH", "jobs/report", {"paused": True})
    assert status == 200 and doc["paused"] and doc["next_run"] is None
    status, doc = await call(plane, ALICE, "PATCH", "jobs/report", {"paused": False})
    assert doc["next_run"] is not None and doc["schedule_text"].startswith("At 06:00")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"schedule": "* * * * * *"}, "6 fields, not 5"),
        ({"schedule": "@reboot"}, "not supported"),
        ({"schedule": "61 * * * *"}, "not a valid cron"),
        ({"schedule": ""}, "empty"),
        ({"timezone": "Mars/Olympus"}, "unknown"),
        ({"tier": "huge"}, "not in the catalog"),
        ({"environment": "nope"}, "not in the catalog"),
        ({"parameters": {"alpha": "high"}}, "expects float"),
        ({"parameters": {"beta": 1}}, "not declared"),
        ({"parameters": {"a\nimport os": 1}}, "not a Python identifier"),
        ({"webhook": "ftp://example.com/x"}, "not an http(s) URL"),
        ({"timeout": 10**9}, "timeout"),
        ({"retry": {"attempts": 1000}}, "retry.attempts"),
        ({"content": {"cells": "no"}}, "not valid nbformat"),
        ({"content": None}, "must be a JSON object"),
        ({"surprise": 1}, "unknown field"),
    ],
)
async def test_bad_input_is_a_400_that_says_what_to_fix_and_stores_nothing(plane, fields, message):
    body = job(content=notebook("1", params="alpha = 0.5"))
    body.update(fields)
    status, doc = await call(plane, ALICE, "POST", "jobs", body)
    assert status == 400, doc
    assert message in doc["message"]
    assert (await call(plane, ALICE, "GET", "jobs"))[1] == {"jobs": []}
    assert (await call(plane, ALICE, "GET", "runs"))[1] == {"runs": []}


async def test_malformed_requests_are_4xx_never_500(plane):
    reply = await dispatch(plane, ALICE, "POST", "jobs", {}, b"{" * 100_000)
    assert reply.status == 400
    reply = await dispatch(plane, ALICE, "POST", "jobs", {}, b"\xff\xfe")
    assert reply.status == 400 and b"UTF-8" in reply.body
    reply = await dispatch(plane, ALICE, "POST", "jobs", {}, b"x" * (2 << 20))
    assert reply.status == 413
    assert (await call(plane, ALICE, "GET", "runs/abc"))[0] == 400
    assert (await call(plane, ALICE, "GET", "runs/1/log", offset="-3"))[0] == 400
    assert (await call(plane, ALICE, "DELETE", "jobs/x", runs="maybe"))[0] == 400
    assert (await call(plane, ALICE, "PUT", "jobs"))[0] == 405
    assert (await call(plane, ALICE, "GET", "nothing/here"))[0] == 404
    status, doc = await call(plane, ALICE, "POST", "jobs", job(name="x" * 10_000, content=notebook("1")))
    assert status == 400 and len(doc["message"]) < 500  # quoted short, never echoed whole


async def test_publish_new_version_freezes_the_notebook(plane):
    await call(plane, ALICE, "POST", "jobs", job(schedule="@daily", content=notebook("print(1)")))
    status, doc = await call(plane, ALICE, "POST", "jobs/report/versions", {"content": notebook("print(2)")})
    assert status == 201 and doc["version"] == 2
    status, got = await call(plane, ALICE, "GET", "jobs/report")
    assert [v["number"] for v in got["versions"]] == [1, 2] and got["version"] == 2
    status, run = await call(plane, ALICE, "POST", "jobs/report/runs", {})
    assert status == 201 and run["version"] == 2 and run["status"] == "queued"
    status, doc = await call(plane, ALICE, "POST", "jobs/report/runs", {"parameters": {"x": "1\n"}})
    assert status == 201  # no parameters cell: any identifier, values as given


async def test_inspect_and_options_feed_the_publish_dialog(plane):
    nb = notebook("1", params="alpha: float = 0.5  # learning rate\nnames = ['a']")
    status, doc = await call(plane, ALICE, "POST", "publish/inspect", {"content": nb})
    assert status == 200 and doc["has_cell"]
    assert doc["parameters"][0] == {
        "name": "alpha", "type": "float", "optional": False, "default": 0.5, "help": "learning rate"
    }  # fmt: skip
    status, doc = await call(plane, ALICE, "POST", "publish/inspect", {"content": notebook("1")})
    assert not doc["has_cell"] and "any name" in doc["note"]
    status, options = await call(plane, ALICE, "GET", "publish/options")
    tiers = {t["name"]: t for t in options["tiers"]}
    assert tiers["small"]["default"] and tiers["small"]["environments"][0]["name"] == "default"
    assert "available" in tiers["gpu-1"] and tiers["gpu-1"]["reasons"]


async def test_delete_removes_or_keeps_history(plane):
    await call(plane, ALICE, "POST", "jobs", job(schedule="@daily", content=notebook("1")))
    _, run = await call(plane, ALICE, "POST", "jobs/report/runs", {})
    assert (await call(plane, ALICE, "DELETE", "jobs/report", runs="keep"))[0] == 204
    _, got = await call(plane, ALICE, "GET", f"runs/{run['id']}")
    assert got["status"] == "cancelled"  # an active run of a deleted job is cancelled, its record kept
    await call(plane, ALICE, "POST", "jobs", job(schedule="@daily", content=notebook("1")))
    _, run = await call(plane, ALICE, "POST", "jobs/report/runs", {})
    assert (await call(plane, ALICE, "DELETE", "jobs/report", runs="delete"))[0] == 204
    assert (await call(plane, ALICE, "GET", f"runs/{run['id']}"))[0] == 404


async def test_publish_pins_the_environment_and_runs_record_theirs(plane):
    from jupyter_hybrid.store import Pinned, SnapshotStore

    scheduler = Scheduler(plane, poll=0.1)
    scheduler.start()
    try:
        status, created = await call(plane, ALICE, "POST", "jobs", job(content=notebook("1")))
        _, got = await call(plane, ALICE, "GET", "jobs/report")
        pinned = got["versions"][0]["snapshot_id"]
        assert pinned and len(pinned) == 64
        snapshots = SnapshotStore(plane.engine)
        with pytest.raises(Pinned):  # a job's snapshot cannot be deleted under it
            snapshots.delete("alice", pinned)
        _, runs = await call(plane, ALICE, "GET", "jobs/report/runs")
        run = await finished(plane, ALICE, runs["runs"][0]["id"])
        assert run["snapshot_id"] == pinned and run["drift"] is False
        plane.jobs.update(run["id"], snapshot_id="0" * 64)  # as if the environment changed since
        _, again = await call(plane, ALICE, "GET", f"runs/{run['id']}")
        assert again["drift"] is True
    finally:
        await scheduler.stop()


async def test_a_scheduled_run_starts_its_kernel_ahead_and_its_first_cell_on_time(plane):
    from datetime import timedelta

    scheduler = Scheduler(plane, poll=0.1, start_ahead=5.0)
    status, created = await call(
        plane, ALICE, "POST", "jobs", job(schedule="* * * * *", content=notebook("1"))
    )
    due = plane.jobs.get("alice", "report").next_due
    real = plane.clock
    shift = due - real() - timedelta(seconds=3)  # the plane's clock: 3 s before the due time, running
    plane.clock = lambda: real() + shift
    offset = shift.total_seconds()
    scheduler.start()
    try:

        async def one_run():
            _, runs = await call(plane, ALICE, "GET", "jobs/report/runs")
            return runs["runs"] if runs["runs"] else None

        runs = await until(one_run)
        assert runs[0]["trigger"] == "schedule" and runs[0]["due_at"] == due.isoformat()
        run = await finished(plane, ALICE, runs[0]["id"])
        assert run["status"] == "completed", run["error"]
        _, log = await call(plane, ALICE, "GET", f"runs/{run['id']}/log")
        first = next(e for e in log["events"] if e["kind"] == "cell")
        lag = first["t"] + offset - due.timestamp()  # in the plane's clock
        assert -0.05 < lag < 1.0
    finally:
        await scheduler.stop()


async def test_a_notebook_as_stored_on_disk_with_line_lists_is_read(plane):
    nb = notebook("print(1)", params="alpha = 0.5\nbeta = 2")
    for cell in nb["cells"]:
        cell["source"] = cell["source"].splitlines(keepends=True)  # as nbformat writes files
    status, doc = await call(plane, ALICE, "POST", "publish/inspect", {"content": nb})
    assert status == 200 and [p["name"] for p in doc["parameters"]] == ["alpha", "beta"]
