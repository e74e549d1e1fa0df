"""Nothing lost: the control plane under `kill -9`, two replicas on one store, and cron with a
controllable clock (issue 11, "Nothing lost").

1. A control-plane *process* (not this test process) is killed with SIGKILL while runs are in
   flight: one still running through the outage, one that finishes while the plane is down, two
   whose processes die too (one retried by its policy), one still queued. After a restart every
   run ends completed (output kept) or failed "interrupted" (retried if its policy says so), no
   definition is lost, and schedules missed while down fire once (misfire once) or not at all
   (skip), never N times. Restarted under the same name (it adopts its runs at once) and as
   another replica (it takes them over when their lease ran out).
2. Two control-plane processes on one store (PostgreSQL and SQLite), many jobs due at the same
   moment and many runs queued: every due time fires exactly once, no run starts twice, and the
   limits hold over both replicas.
3. Cron with the plane's clock injected: due times queue runs (queued `start_ahead` early), misfire
   once/skip, paused jobs don't fire, and 200 quick runs under a global limit of 4 and per-job
   concurrency all complete, none lost.

Parts 2 and 3 replace only the papermill process by a stub process (`STUB`: it logs its start and
end, copies the input to the output and writes result.json as the real one does); everything
around it (store, claims, leases, placement, the site, the process handle, waiting, recording) is
the real code. Part 1 runs real papermill notebooks.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import nbformat
import psutil
import pytest

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.control import Caller, ControlPlane
from jupyter_hybrid.control.scheduler import Scheduler
from jupyter_hybrid.sites import localrun
from jupyter_hybrid.store import make_engine

ALICE = Caller("alice")
# one local site and a tier that reserves no cores: the global limit, not this 2-core machine's
# capacity, is what bounds the runs here
CATALOG = {
    "sites": {"local": {"kind": "local", "region": "local"}},
    "tiers": {"tiny": {"display_name": "Tiny", "default": True}},
    "environments": {"default": {"display_name": "This Python", "default": True}},
}
ACTIVE = ("queued", "running")

# The control plane as its own process: argv[1] is a JSON config. Its clock is the real one shifted
# by `offset` seconds (the test's controllable clock across processes). With "stub", runs are the
# stub process instead of papermill.
RUNNER = r"""
import asyncio, json, logging, subprocess, sys
from datetime import UTC, datetime, timedelta

import psutil

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.control import ControlPlane
from jupyter_hybrid.control.scheduler import Scheduler
from jupyter_hybrid.sites import localrun
from jupyter_hybrid.store import make_engine

cfg = json.loads(sys.argv[1])
logging.basicConfig(level=logging.INFO, format="%(asctime)s " + cfg["name"] + " %(message)s")
catalog = parse_catalog(cfg["catalog"])
shift = timedelta(seconds=cfg["offset"])
plane = ControlPlane(
    make_engine(cfg["db"]), lambda: catalog, cfg["runs"], name=cfg["name"],
    clock=lambda: datetime.now(UTC) + shift,
)
if cfg.get("stub"):
    def submit(run_dir, kernel, extra_env, start_at=None):
        argv = [sys.executable, "-c", cfg["stub"], str(run_dir), cfg["log"], repr(start_at), "0.2"]
        proc = subprocess.Popen(argv, env=localrun.run_env(extra_env), start_new_session=True,
                                stdin=subprocess.DEVNULL)
        return localrun.RunHandle(str(run_dir), proc.pid, psutil.Process(proc.pid).create_time())
    localrun.submit = submit


async def main():
    Scheduler(plane, **cfg["scheduler"]).start()
    print("scheduler started", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
"""

# A run process that does what execute.py does to its run folder, in a few milliseconds:
# argv: RUN_DIR LOG START_AT SECONDS. LOG gets one line at its start and one at its end.
STUB = r"""
import json, os, shutil, sys, time
run_dir, log, start_at, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
run, job = os.environ["JUPYTER_HYBRID_RUN_ID"], os.environ["JUPYTER_HYBRID_JOB"]
def note(kind):
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{kind} {run} {job} {os.getppid()} {time.time():.6f}\n".encode())
    os.close(fd)
note("start")
if start_at != "None":
    time.sleep(max(0.0, float(start_at) - time.time()))
time.sleep(seconds)
shutil.copy(os.path.join(run_dir, "input.ipynb"), os.path.join(run_dir, "output.ipynb"))
note("end")
tmp = os.path.join(run_dir, "result.json.tmp")
with open(tmp, "w") as f:
    json.dump({"status": "completed", "error": None}, f)
os.replace(tmp, os.path.join(run_dir, "result.json"))
"""


def notebook(*cells: str, params: str | None = None) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    return json.loads(json.dumps(nb))


def job(name: str, nb: dict, schedule: str = "once", **fields) -> dict:
    return {"name": name, "notebook": f"{name}.ipynb", "schedule": schedule, "content": nb, **fields}


def until(predicate, timeout: float = 120.0, every: float = 0.1, what="a condition", more=None):
    """Wait for `predicate()`; `more()`: what to show when it never came (logs, the store)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{more() if more else ''}")


async def until_async(predicate, timeout: float = 120.0, every: float = 0.1, what: str = "a condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(predicate)
        if found:
            return found
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def next_boundary(moment: datetime, step: timedelta) -> datetime:
    """The first multiple of `step` since the epoch strictly after `moment`."""
    seconds = step.total_seconds()
    return datetime.fromtimestamp((moment.timestamp() // seconds + 1) * seconds, UTC)


class Planes:
    """Control-plane processes started by a test, and every run process they left behind: all
    ended (by pid, ours only) when the test ends, whatever happened."""

    def __init__(self, tmp_path: Path, db_url: str, runs: Path):
        self.tmp, self.db, self.runs = tmp_path, db_url, runs
        self.script = tmp_path / "control_plane_runner.py"
        self.script.write_text(RUNNER)
        self.procs: list[subprocess.Popen] = []
        self.handles: list[localrun.RunHandle] = []

    def start(self, name: str, offset: float = 0.0, stub_log: Path | None = None, **scheduler):
        cfg = {
            "db": self.db,
            "runs": str(self.runs),
            "name": name,
            "offset": offset,
            "catalog": CATALOG,
            "scheduler": {"poll": 0.1, "lease": 3.0, "start_ahead": 0.0, **scheduler},
        }
        if stub_log is not None:
            cfg.update(stub=STUB, log=str(stub_log))
        out = open(self.tmp / f"{name}-{len(self.procs)}.log", "ab")  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                [sys.executable, str(self.script), json.dumps(cfg)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            out.close()
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.tmp.glob("*-*.log")))

    def stop(self, store) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for run in store.runs(None):
            if run.handle:
                self.handles.append(localrun.RunHandle(**run.handle))
        for handle in self.handles:
            localrun.cancel(handle, grace=2.0)


def kill_tree(handle: localrun.RunHandle) -> None:
    """SIGKILL a run process and its kernel, as an OOM kill or a crash would."""
    proc = psutil.Process(handle.pid)
    assert abs(proc.create_time() - handle.started) < 1
    tree = [proc, *proc.children(recursive=True)]
    for p in tree:
        p.send_signal(signal.SIGKILL)
    psutil.wait_procs(tree, timeout=10)


# -- 1. kill -9 of the control plane with runs in flight ----------------------------------------


def _kill_and_restart(tmp_path: Path, db_url: str, restart_name: str) -> None:
    runs_dir, gates = tmp_path / "runs", tmp_path / "gates"
    gates.mkdir()
    plane = ControlPlane(make_engine(db_url), lambda: parse_catalog(CATALOG), runs_dir, name="cp-test")
    store = plane.jobs
    up = "import os, time\nprint('up and running', flush=True)"
    wait_for_gate = "while not os.path.exists(gate):\n    time.sleep(0.05)"
    gated = notebook(up, wait_for_gate, "print('done', flush=True)", params="gate = ''")
    first_try = (
        "if os.path.exists(mark):\n    print('second try', flush=True)\nelse:\n"
        "    open(mark, 'w').close()\n    time.sleep(600)"
    )
    in_flight_jobs = [
        # runs through the outage, finishes after the restart (its gate opens then)
        job("long", gated, parameters={"gate": str(gates / "long")}),
        # finishes while the control plane is down
        job("short", gated, parameters={"gate": str(gates / "short")}),
        # its process dies during the outage; its policy retries it once (the second try passes)
        job(
            "crash",
            notebook(up, first_try, params="mark = ''"),
            parameters={"mark": str(gates / "m")},
            retry={"attempts": 1, "backoff": 0},
        ),  # fmt: skip
        # its process dies too, and nothing retries it
        job("no-retry", notebook(up, "time.sleep(600)")),
    ]
    quick = notebook("print('scheduled', flush=True)")
    later_jobs = [
        # still queued at the kill: the global limit is 4
        job("late", notebook("print('late', flush=True)")),
        # schedules the outage misses
        job("minutely", quick, "* * * * *"),
        job("hourly", quick, "0 * * * *"),
        job("hourly-skip", quick, "0 * * * *", misfire="skip"),
        job("paused", quick, "* * * * *"),
    ]

    def runs_of(name: str):
        return store.runs("alice", name)

    def only(name: str):
        found = runs_of(name)
        assert len(found) == 1, [(r.id, r.status, r.trigger) for r in found]
        return found[0]

    def running(name: str) -> bool:
        return "up and running" in plane.run_log(ALICE, only(name).id)["text"]

    planes = Planes(tmp_path, db_url, runs_dir)
    try:
        first = planes.start("cp-a", global_limit=4)
        # one after the other: kernels started at the same moment in separate processes can pick
        # the same free TCP port (jupyter_client's port choice races; see the report), which is not
        # what this test is about
        for body in in_flight_jobs:
            plane.create_job(ALICE, body)
            name = body["name"]
            until(partial(running, name), 120, what=f"{name} to start", more=planes.logs)
        for body in later_jobs:
            plane.create_job(ALICE, body)
        plane.set_paused(ALICE, "paused", True)
        definitions = {j["name"]: j for j in plane.list_jobs(ALICE)["jobs"]}
        for view in definitions.values():
            view.pop("last_run")
            view.pop("next_run")
        time.sleep(0.5)  # the plane looks at the queue again: "late" must stay queued
        assert only("late").status == "queued"
        in_flight = {n: only(n) for n in ("long", "short", "crash", "no-retry")}
        assert all(r.status == "running" and r.handle for r in in_flight.values())

        first.send_signal(signal.SIGKILL)  # kill -9: no handler, no cleanup
        first.wait(10)
        killed_at = datetime.now(UTC)
        handles = {n: localrun.RunHandle(**r.handle) for n, r in in_flight.items()}
        planes.handles += handles.values()
        assert all(localrun.alive(h) for h in handles.values())  # runs outlive their control plane
        kill_tree(handles["crash"])
        kill_tree(handles["no-retry"])
        (gates / "short").touch()
        until(lambda: (Path(handles["short"].run_dir) / "result.json").is_file(), 60, what="short to end")
        until(lambda: not localrun.alive(handles["short"]), 30, what="short's process to exit")
        assert {r.status for r in in_flight.values()} == {"running"}  # nobody recorded anything

        # down for hours: restart with the clock at HH:30:05, 2 hours after the next full hour
        restart_at = next_boundary(killed_at, timedelta(hours=1)) + timedelta(hours=2, minutes=30, seconds=5)
        offset = (restart_at - datetime.now(UTC)).total_seconds()
        planes.start(restart_name, offset=offset, global_limit=4)
        restarted = datetime.now(UTC) + timedelta(seconds=offset)

        def state():
            runs = [(r.id, r.job_name, r.status, r.trigger, r.error) for r in store.runs(None)]
            return "\n".join(map(str, runs)) + "\n" + planes.logs()

        def recorded():
            ended = all(only(n).status not in ACTIVE for n in ("short", "no-retry", "late"))
            crash = runs_of("crash")  # the first try and its retry
            return ended and len(crash) == 2 and all(r.status not in ACTIVE for r in crash)

        until(recorded, 120, what="the restarted plane to record the runs", more=state)
        assert store.run(None, in_flight["long"].id).status == "running"  # watched again
        (gates / "long").touch()
        until(lambda: only("long").status not in ACTIVE, 60, what="long to end")

        long, short = only("long"), only("short")
        for run in (long, short):
            assert run.status == "completed", run.error
            out = nbformat.read(run.output, as_version=4)
            assert "done" in "".join(o.get("text", "") for c in out.cells for o in c.get("outputs", []))
        crash = [r for r in runs_of("crash") if r.trigger != "retry"][0]
        assert crash.status == "failed" and crash.error["message"].startswith("interrupted")
        retry = [r for r in runs_of("crash") if r.trigger == "retry"]
        assert len(retry) == 1 and retry[0].retry_of == crash.id and retry[0].attempt == 2
        assert retry[0].status == "completed", retry[0].error
        assert "second try" in plane.run_log(ALICE, retry[0].id)["text"]
        no_retry = only("no-retry")
        assert no_retry.status == "failed" and no_retry.error["message"].startswith("interrupted")
        assert only("late").status == "completed"

        def missed(name: str):
            return [r for r in runs_of(name) if r.due_at is not None and killed_at < r.due_at <= restarted]

        # 150 minutes missed: one run each, at the latest due time, never 150
        (minutely,) = missed("minutely")
        assert minutely.due_at == restart_at.replace(second=0)
        (hourly,) = missed("hourly")
        assert hourly.due_at == restart_at.replace(minute=0, second=0)
        assert missed("hourly-skip") == []  # skip: the latest due time is 30 minutes old
        assert store.get("alice", "hourly-skip").next_due == hourly.due_at + timedelta(hours=1)
        assert runs_of("paused") == []
        until(lambda: all(r.status not in ACTIVE for r in missed("minutely") + missed("hourly")), 60,
              what="the missed schedules' runs")  # fmt: skip
        assert {r.status for r in missed("minutely") + missed("hourly")} == {"completed"}

        # no definition lost: every job as it was published
        after = {j["name"]: j for j in plane.list_jobs(ALICE)["jobs"]}
        for view in after.values():
            view.pop("last_run")
            view.pop("next_run")
        assert after == definitions
    finally:
        planes.stop(store)


def test_kill_9_of_the_control_plane_loses_nothing(tmp_path, db_url):
    _kill_and_restart(tmp_path, db_url, restart_name="cp-a")  # restarted: adopts its runs at once


def test_another_replica_takes_over_the_runs_of_a_killed_one(tmp_path, pg_cluster):
    db_url = pg_cluster.create_database(f"t_{os.getpid()}_{time.time_ns() % 10**9}")
    _kill_and_restart(tmp_path, db_url, restart_name="cp-b")  # after their lease ran out


# -- 2. two control planes on one store ---------------------------------------------------------


def _intervals(log: Path) -> tuple[dict[int, list[tuple]], dict[int, tuple[float, float, str]]]:
    """Per run id: every start line; and (start, end, job) of runs that ended."""
    starts: dict[int, list[tuple]] = defaultdict(list)
    spans: dict[int, list] = {}
    for line in log.read_text().splitlines():
        kind, run, name, parent, t = line.split(" ")
        run = int(run)
        if kind == "start":
            starts[run].append((int(parent), float(t)))
            spans[run] = [float(t), None, name]
        else:
            spans[run][1] = float(t)
    return starts, {r: tuple(s) for r, s in spans.items() if s[1] is not None}


def _most_at_once(spans) -> int:
    events = sorted([(s, 1) for s, _, _ in spans] + [(e, -1) for _, e, _ in spans])  # ends first
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_two_control_planes_fire_each_due_run_once_and_start_each_run_once(tmp_path, db_url):
    runs_dir, log = tmp_path / "runs", tmp_path / "starts.log"
    plane = ControlPlane(make_engine(db_url), lambda: parse_catalog(CATALOG), runs_dir, name="cp-test")
    store, nb = plane.jobs, notebook("1")
    n_cron, n_manual, limit = 60, 40, 4
    for i in range(n_cron):
        plane.create_job(ALICE, job(f"cron-{i:02d}", nb, "* * * * *"))
    plane.create_job(ALICE, job("manual", nb, "@yearly", concurrency=2))
    for _ in range(n_manual):
        plane.run_now(ALICE, "manual")
    due = store.get("alice", "cron-00").next_due
    assert {j.next_due for j in store.list("alice") if j.name.startswith("cron")} == {due}

    planes = Planes(tmp_path, db_url, runs_dir)
    try:
        # both planes' clocks reach the due time 4 s after they start, together
        offset = (due - timedelta(seconds=4) - datetime.now(UTC)).total_seconds()
        a = planes.start("cp-a", offset, stub_log=log, global_limit=limit, start_ahead=1.0, poll=0.05)
        b = planes.start("cp-b", offset, stub_log=log, global_limit=limit, start_ahead=1.0, poll=0.05)

        def all_done():
            runs = store.runs("alice")
            return len(runs) >= n_cron + n_manual and all(r.status not in ACTIVE for r in runs)

        until(all_done, 180, what="every run to end", more=planes.logs)
        time.sleep(0.5)  # a duplicate would show up now
        runs = store.runs("alice")
        scheduled = Counter((r.job_name, r.due_at) for r in runs if r.trigger == "schedule")
        assert len(scheduled) == n_cron and set(scheduled.values()) == {1}  # each due time once
        assert {d for _, d in scheduled} == {due}
        assert len(runs) == n_cron + n_manual
        assert {r.status for r in runs} == {"completed"}, {r.id: r.error for r in runs if r.error}

        starts, spans = _intervals(log)
        assert sorted(starts) == sorted(r.id for r in runs)
        twice = {r: s for r, s in starts.items() if len(s) > 1}
        assert not twice, f"runs started more than once: {twice}"
        parents = Counter(s[0][0] for s in starts.values())
        assert set(parents) == {a.pid, b.pid}, parents  # both replicas took part
        assert _most_at_once(spans.values()) <= limit  # the global limit holds over both replicas
        assert _most_at_once([s for s in spans.values() if s[2] == "manual"]) <= 2  # and concurrency
    finally:
        planes.stop(store)


# -- 3. cron with a controllable clock, limits with 200 quick runs -------------------------------


class Clock:
    """The plane's clock, moved by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clocked(tmp_path, db_url):
    clock = Clock(datetime(2026, 3, 2, 5, 50, tzinfo=UTC))  # a Monday, winter time in Paris
    plane = ControlPlane(
        make_engine(db_url), lambda: parse_catalog(CATALOG), tmp_path / "runs", name="cp-test", clock=clock
    )
    return plane, clock


def _scheduled(plane, name):
    return sorted((r for r in plane.jobs.runs("alice", name) if r.trigger == "schedule"), key=lambda r: r.id)


async def test_due_times_queue_one_run_each_start_ahead_of_time(clocked):
    plane, clock = clocked
    scheduler = Scheduler(plane, global_limit=0, start_ahead=5.0)  # queue only, start nothing
    plane.create_job(ALICE, job("paris", notebook("1"), "0 7 * * 1-5", timezone="Europe/Paris"))
    due = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 07:00 in Paris
    assert plane.jobs.get("alice", "paris").next_due == due

    clock.now = due - timedelta(seconds=5.001)
    await scheduler.tick()
    assert _scheduled(plane, "paris") == []
    clock.now = due - timedelta(seconds=5)  # start_ahead: queued early, its kernel starts then
    await scheduler.tick()
    (run,) = _scheduled(plane, "paris")
    assert run.due_at == due and run.queued_at == clock.now and run.status == "queued"
    for later in (1, 5, 30, 3599):
        clock.now = due + timedelta(seconds=later)
        await scheduler.tick()
    assert len(_scheduled(plane, "paris")) == 1  # one due time, one run
    assert plane.jobs.get("alice", "paris").next_due == due + timedelta(days=1)
    clock.now = due + timedelta(days=1)
    await scheduler.tick()
    clock.now = due + timedelta(days=4, seconds=10)  # Friday; the weekend is not a due time
    await scheduler.tick()
    assert [r.due_at for r in _scheduled(plane, "paris")] == [due + timedelta(days=d) for d in (0, 1, 4)]
    assert plane.jobs.get("alice", "paris").next_due == due + timedelta(days=7)


async def test_missed_due_times_fire_once_or_are_skipped(clocked):
    plane, clock = clocked
    scheduler = Scheduler(plane, global_limit=0, start_ahead=5.0)
    nb = notebook("1")
    plane.create_job(ALICE, job("hourly", nb, "0 * * * *"))
    plane.create_job(ALICE, job("hourly-skip", nb, "0 * * * *", misfire="skip"))
    plane.create_job(ALICE, job("minutely-skip", nb, "*/1 * * * *", misfire="skip"))
    start = clock.now

    clock.now = start + timedelta(hours=3, minutes=30)  # the scheduler was down: 3 hours missed
    await scheduler.tick()
    await scheduler.tick()
    latest = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert [r.due_at for r in _scheduled(plane, "hourly")] == [latest]  # once, not 3 times
    assert _scheduled(plane, "hourly-skip") == []  # 20 minutes late: skipped
    # a due time within the grace minute is on time, not missed, even under skip
    assert [r.due_at for r in _scheduled(plane, "minutely-skip")] == [clock.now]
    for name in ("hourly", "hourly-skip"):
        assert plane.jobs.get("alice", name).next_due == latest + timedelta(hours=1)

    clock.now = latest + timedelta(hours=1, seconds=2)  # on time again: both fire
    await scheduler.tick()
    assert len(_scheduled(plane, "hourly")) == 2 and len(_scheduled(plane, "hourly-skip")) == 1


async def test_paused_jobs_do_not_fire_and_resume_without_a_backlog(clocked):
    plane, clock = clocked
    scheduler = Scheduler(plane, global_limit=0, start_ahead=5.0)
    plane.create_job(ALICE, job("report", notebook("1"), "0 * * * *"))
    plane.set_paused(ALICE, "report", True)
    assert plane.jobs.get("alice", "report").next_due is None
    for _ in range(3):
        clock.now += timedelta(hours=1)
        await scheduler.tick()
    assert _scheduled(plane, "report") == []
    plane.set_paused(ALICE, "report", False)  # at 08:50
    await scheduler.tick()
    assert _scheduled(plane, "report") == []  # no run for the hours it was paused
    clock.now += timedelta(minutes=10)
    await scheduler.tick()
    assert [r.due_at for r in _scheduled(plane, "report")] == [datetime(2026, 3, 2, 9, tzinfo=UTC)]


def _stub_submit(log: Path, seconds: float):
    def submit(run_dir, kernel, extra_env, start_at=None):
        argv = [sys.executable, "-c", STUB, str(run_dir), str(log), repr(start_at), repr(seconds)]
        proc = subprocess.Popen(
            argv, env=localrun.run_env(extra_env), start_new_session=True, stdin=subprocess.DEVNULL
        )
        return localrun.RunHandle(str(run_dir), proc.pid, psutil.Process(proc.pid).create_time())

    return submit


async def test_200_quick_runs_respect_the_limits_and_all_complete(clocked, tmp_path, monkeypatch):
    plane, clock = clocked
    log = tmp_path / "starts.log"
    monkeypatch.setattr(localrun, "submit", _stub_submit(log, 0.05))
    nb = notebook("1")
    for i in range(150):
        plane.create_job(ALICE, job(f"cron-{i:03d}", nb, "* * * * *"))
    concurrency = {"pair": 2, "trio": 3}
    for name, n in concurrency.items():
        plane.create_job(ALICE, job(name, nb, "@yearly", concurrency=n))
        for _ in range(25):
            plane.run_now(ALICE, name)
    clock.now = datetime(2026, 3, 2, 5, 51, 1, tzinfo=UTC)  # all 150 due a second ago; stays here
    scheduler = Scheduler(plane, global_limit=4, poll=0.05, start_ahead=5.0)
    scheduler.start()
    try:

        def all_done():
            runs = plane.jobs.runs("alice")
            return len(runs) == 200 and all(r.status not in ACTIVE for r in runs)

        await until_async(all_done, 240, what="200 runs to end")
    finally:
        await scheduler.stop()
    runs = plane.jobs.runs("alice")
    assert len(runs) == 200 and {r.status for r in runs} == {"completed"}
    assert all(r.output and Path(r.output).is_file() for r in runs)
    assert Counter(r.trigger for r in runs) == {"schedule": 150, "manual": 50}
    starts, spans = _intervals(log)
    assert sorted(starts) == sorted(r.id for r in runs) and {len(s) for s in starts.values()} == {1}
    assert _most_at_once(spans.values()) <= 4
    for name, n in concurrency.items():
        assert _most_at_once([s for s in spans.values() if s[2] == name]) <= n
    assert _most_at_once(spans.values()) >= 3  # the limit, not something else, was what held them
