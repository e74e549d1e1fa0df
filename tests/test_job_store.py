"""The job store on SQLite and a real PostgreSQL: definitions, due runs fired exactly once (also
by two control planes at once), the queue under limits, leases and orphaned runs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from jupyter_hybrid.jobs.model import parse_job
from jupyter_hybrid.store import NotFound, make_engine
from jupyter_hybrid.store.jobs import JobStore

T0 = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
NB = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def jobs(engine) -> JobStore:
    return JobStore(engine)


def spec(name="hourly", schedule="0 * * * *", **more):
    return parse_job({"name": name, "notebook": "n.ipynb", "schedule": schedule, **more})


def test_create_sets_the_first_due_time_and_refuses_a_taken_name(jobs):
    job = jobs.create("alice", spec(), NB, {}, T0)
    assert job.next_due == datetime(2026, 12, 4, 10, tzinfo=UTC) and job.version == 1
    with pytest.raises(FileExistsError, match="already have a job named 'hourly'"):
        jobs.create("alice", spec(), NB, {}, T0)
    jobs.create("bob", spec(), NB, {}, T0)  # names are per user
    assert [j.owner for j in jobs.list(None)] == ["alice", "bob"]
    assert [j.owner for j in jobs.list("bob")] == ["bob"]


def test_another_users_job_and_run_read_as_missing(jobs):
    jobs.create("alice", spec(), NB, {}, T0)
    run = jobs.run_now("alice", "hourly", {"x": 1}, T0)
    with pytest.raises(NotFound):
        jobs.get("bob", "hourly")
    with pytest.raises(NotFound):
        jobs.run("bob", run.id)
    assert jobs.run(None, run.id).owner == "alice"  # an admin reads it


def test_a_one_off_job_queues_its_run_at_once(jobs):
    jobs.create("alice", spec("now", "once", parameters={"a": 1}), NB, {}, T0)
    (run,) = jobs.runs("alice")
    assert run.trigger == "once" and run.status == "queued" and run.parameters == {"a": 1}
    assert jobs.get("alice", "now").next_due is None


def test_due_runs_fire_once_and_missed_ones_once_not_n_times(jobs):
    jobs.create("alice", spec(), NB, {}, T0)
    jobs.create("alice", spec("skipper", misfire="skip"), NB, {}, T0)
    assert jobs.enqueue_due(T0 + timedelta(minutes=10)) == []
    on_time = jobs.enqueue_due(datetime(2026, 12, 4, 10, 0, 1, tzinfo=UTC))
    assert sorted(r.job_name for r in on_time) == ["hourly", "skipper"]
    assert jobs.enqueue_due(datetime(2026, 12, 4, 10, 0, 2, tzinfo=UTC)) == []
    # down from 10:00:02 to 15:20: five due times missed
    late = jobs.enqueue_due(datetime(2026, 12, 4, 15, 20, tzinfo=UTC))
    assert [(r.job_name, r.due_at) for r in late] == [("hourly", datetime(2026, 12, 4, 15, tzinfo=UTC))]
    assert jobs.get("alice", "hourly").next_due == datetime(2026, 12, 4, 16, tzinfo=UTC)
    assert jobs.get("alice", "skipper").next_due == datetime(2026, 12, 4, 16, tzinfo=UTC)


def test_paused_jobs_do_not_fire(jobs):
    jobs.create("alice", spec(), NB, {}, T0)
    jobs.set_paused("alice", "hourly", True, T0)
    assert jobs.enqueue_due(T0 + timedelta(hours=3)) == []
    resumed = jobs.set_paused("alice", "hourly", False, T0 + timedelta(hours=3))
    assert resumed.next_due == datetime(2026, 12, 4, 13, tzinfo=UTC)


def test_two_control_planes_fire_every_due_run_exactly_once(db_url):
    """Two engines (as two replicas would have) race on the same due jobs, many times."""
    engines = [make_engine(db_url), make_engine(db_url)]
    try:
        stores = [JobStore(e) for e in engines]
        for i in range(30):
            stores[0].create("alice", spec(f"job-{i}", "*/5 * * * *"), NB, {}, T0)
        barrier = threading.Barrier(2)
        fired: list[list] = [[], []]

        def replica(k: int) -> None:
            for minute in range(35, 65, 5):  # six due times
                barrier.wait()
                now = T0.replace(minute=0) + timedelta(minutes=minute, seconds=1)
                fired[k] += [(r.job_name, r.due_at) for r in stores[k].enqueue_due(now)]

        threads = [threading.Thread(target=replica, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        every = fired[0] + fired[1]
        assert len(every) == len(set(every)) == 30 * 6
        assert len(stores[0].runs(None)) == 30 * 6
    finally:
        for e in engines:
            e.dispose()


def test_claim_respects_the_global_limit_each_jobs_concurrency_and_order(jobs):
    jobs.create("alice", spec("solo", "once"), NB, {}, T0)
    jobs.create("alice", spec("pair", "once", concurrency=2), NB, {}, T0)
    for _ in range(3):
        jobs.run_now("alice", "solo", None, T0 + timedelta(seconds=1))
        jobs.run_now("alice", "pair", None, T0 + timedelta(seconds=2))
    first = jobs.claim("cp-1", T0, lease=30, global_limit=4, n=10)
    assert sorted(r.job_name for r in first) == ["pair", "pair", "solo"]  # solo 1 at a time, pair 2
    assert all(r.status == "running" and r.lease_owner == "cp-1" for r in first)
    assert jobs.claim("cp-2", T0, lease=30, global_limit=4, n=10) == []  # per-job limits full
    solo = next(r for r in first if r.job_name == "solo")
    jobs.update(solo.id, status="completed", ended_at=T0)
    (nxt,) = jobs.claim("cp-2", T0, lease=30, global_limit=4, n=10)
    assert nxt.job_name == "solo" and nxt.id > solo.id  # the oldest queued solo run
    queued = jobs.runs("alice", statuses=["queued"])
    assert len(queued) == 8 - 4  # 2 one-off + 6 manual runs, 4 running: the rest stay queued


def test_a_backoff_holds_a_retry_until_its_time(jobs):
    jobs.create("alice", spec("r", "once"), NB, {}, T0)
    (run,) = jobs.runs("alice")
    jobs.update(run.id, not_before=T0 + timedelta(minutes=1))
    assert jobs.claim("cp", T0, 30, 4) == []
    assert [r.id for r in jobs.claim("cp", T0 + timedelta(minutes=1), 30, 4)] == [run.id]


def test_leases_renew_and_expired_ones_are_taken_over(jobs):
    jobs.create("alice", spec("r", "once"), NB, {}, T0)
    (run,) = jobs.claim("cp-1", T0, lease=30, global_limit=4)
    assert jobs.renew("cp-1", T0 + timedelta(seconds=20), lease=30) == 1
    assert jobs.orphaned("cp-2", T0 + timedelta(seconds=45), lease=30) == []
    (taken,) = jobs.orphaned("cp-2", T0 + timedelta(seconds=51), lease=30)  # cp-1 died
    assert taken.id == run.id and taken.lease_owner == "cp-2"


def test_delete_keeps_or_removes_the_history(jobs):
    jobs.create("alice", spec("keep", "once"), NB, {}, T0)
    jobs.create("alice", spec("drop", "once"), NB, {}, T0)
    assert len(jobs.delete("alice", "keep", keep_runs=True)) == 1
    assert len(jobs.delete("alice", "drop", keep_runs=False)) == 1
    (kept,) = jobs.runs("alice")
    assert kept.job_name == "keep" and kept.job_id is None
    with pytest.raises(NotFound):
        jobs.get("alice", "keep")


def test_publishing_again_freezes_a_new_version(jobs):
    job = jobs.create("alice", spec(), NB, {"alpha": {"kind": "float"}}, T0)
    assert jobs.publish_version("alice", "hourly", {**NB, "metadata": {"v": 2}}, {}) == 2
    assert jobs.version(job.id, 1).parameters == {"alpha": {"kind": "float"}}
    assert jobs.version(job.id, 2).notebook["metadata"] == {"v": 2}
    run = jobs.run_now("alice", "hourly", None, T0)
    assert run.version == 2
