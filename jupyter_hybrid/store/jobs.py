"""Jobs, versions and the run queue in the store: what the control plane's scheduler acts on.

Several control planes may share one PostgreSQL. Each due time becomes exactly one run: the
scheduler reads due jobs with `FOR UPDATE SKIP LOCKED` (another replica skips the rows this one
holds) and a unique key (job, due time, attempt) refuses a second insert whatever happens. A
queued run is started by whoever claims it: the claim sets a lease (owner + expiry) in the same
locked transaction; a replica that dies stops renewing, and after the lease runs out another one
reconciles the run. SQLite has one writer at a time (`BEGIN IMMEDIATE`), so the same code is safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..jobs.model import JobSpec
from .db import session
from .errors import NotFound
from .job_tables import Job, JobVersion, Run

ACTIVE = ("queued", "running")
# pg_advisory_xact_lock key serialising claims across replicas (any fixed 64-bit number)
CLAIM_LOCK = 0x6A685F636C61696D  # "jh_claim"


def _locked(stmt, s: Session):
    """SELECT ... FOR UPDATE SKIP LOCKED where the database has it (PostgreSQL)."""
    if s.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


class JobStore:
    """Job definitions and their runs; every call is one transaction."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # -- definitions ------------------------------------------------------------------------

    def create(
        self,
        owner: str,
        spec: JobSpec,
        notebook: dict[str, Any],
        declared: dict[str, Any],
        now: datetime,
        snapshot_id: str | None = None,
    ) -> Job:
        """A new job with version 1; its first due time, or a run queued now for a one-off."""
        with session(self.engine) as s:
            if s.scalar(select(Job.id).where(Job.owner == owner, Job.name == spec.name)) is not None:
                raise FileExistsError(f"you already have a job named {spec.name!r}: pick another name")
            job = Job(owner=owner, name=spec.name, spec=spec.model_dump(mode="json"), version=1)
            job.next_due = spec.when.next_after(now)
            s.add(job)
            s.flush()
            s.add(JobVersion(job_id=job.id, number=1, notebook=notebook, parameters=declared,
                             snapshot_id=snapshot_id))  # fmt: skip
            if spec.when.cron is None:
                s.add(self._run(job, spec, trigger="once", due_at=now, parameters=spec.parameters))
            return job

    def publish_version(self, owner: str, name: str, notebook: dict, declared: dict, snapshot_id=None) -> int:
        with session(self.engine) as s:
            job = self._get(s, owner, name)
            job.version += 1
            s.add(JobVersion(job_id=job.id, number=job.version, notebook=notebook, parameters=declared,
                             snapshot_id=snapshot_id))  # fmt: skip
            return job.version

    def get(self, owner: str, name: str) -> Job:
        with session(self.engine, write=False) as s:
            return self._get(s, owner, name)

    def version(self, job_id: int, number: int) -> JobVersion:
        with session(self.engine, write=False) as s:
            found = s.scalar(
                select(JobVersion).where(JobVersion.job_id == job_id, JobVersion.number == number)
            )
            if found is None:
                raise NotFound(f"version {number} of job {job_id} does not exist")
            return found

    def list(self, owner: str | None) -> list[Job]:
        """`owner`'s jobs; None (a hub admin) lists everyone's."""
        with session(self.engine, write=False) as s:
            stmt = select(Job).order_by(Job.owner, Job.name)
            if owner is not None:
                stmt = stmt.where(Job.owner == owner)
            return list(s.scalars(stmt))

    def set_paused(self, owner: str, name: str, paused: bool, now: datetime) -> Job:
        with session(self.engine) as s:
            job = self._get(s, owner, name)
            job.paused = paused
            job.next_due = None if paused else JobSpec.model_validate(job.spec).when.next_after(now)
            return job

    def delete(self, owner: str, name: str, keep_runs: bool) -> list[Run]:
        """Delete the job; its runs are kept (detached) or deleted, and returned either way so the
        caller can cancel active ones and remove outputs."""
        with session(self.engine) as s:
            job = self._get(s, owner, name)
            runs = list(s.scalars(select(Run).where(Run.job_id == job.id)))
            for run in runs:
                if keep_runs:
                    run.job_id = None
                else:
                    s.delete(run)
            s.delete(job)
            return runs

    @staticmethod
    def _get(s: Session, owner: str, name: str) -> Job:
        job = s.scalar(select(Job).where(Job.owner == owner, Job.name == name))
        if job is None:  # another user's job reads as missing, never as forbidden
            raise NotFound(f"you have no job named {name[:80]!r}")
        return job

    # -- runs -------------------------------------------------------------------------------

    @staticmethod
    def _run(job: Job, spec: JobSpec, trigger: str, due_at: datetime | None, parameters: dict) -> Run:
        return Run(
            job_id=job.id,
            owner=job.owner,
            job_name=job.name,
            version=job.version,
            status="queued",
            trigger=trigger,
            parameters=parameters,
            due_at=due_at,
            tier=spec.tier,
            environment=spec.environment,
        )

    def run_now(self, owner: str, name: str, parameters: dict | None, now: datetime) -> Run:
        """Queue a manual run; `parameters` (already checked) override the job's."""
        with session(self.engine) as s:
            job = self._get(s, owner, name)
            spec = JobSpec.model_validate(job.spec)
            run = self._run(job, spec, "manual", None, {**spec.parameters, **(parameters or {})})
            run.queued_at = now
            s.add(run)
            return run

    def enqueue_due(self, now: datetime, limit: int = 500, ahead: float = 0.0) -> list[Run]:
        """Queue one run for every job due by `now` + `ahead` seconds (missed due times: once, or
        skipped). Queued ahead, a run can start its kernel before its due time."""
        queued: list[Run] = []
        horizon = now + timedelta(seconds=ahead)
        with session(self.engine) as s:
            stmt = (
                select(Job)
                .where(Job.next_due <= horizon, Job.paused.is_(False))
                .order_by(Job.next_due)
                .limit(limit)
            )
            for job in s.scalars(_locked(stmt, s)):
                spec = JobSpec.model_validate(job.spec)
                when = spec.when
                for due in when.due(job.next_due - timedelta(microseconds=1), horizon, spec.misfire):
                    run = self._run(job, spec, "schedule", due, spec.parameters)
                    run.queued_at = now
                    try:
                        with s.begin_nested():
                            s.add(run)
                    except IntegrityError:  # another replica queued this due time already
                        continue
                    queued.append(run)
                job.next_due = when.next_after(horizon)
        return queued

    def claim(self, owner: str, now: datetime, lease: float, global_limit: int, n: int = 1) -> list[Run]:
        """Take up to `n` queued runs, oldest first, within the overall limit and each job's
        concurrency; each becomes `running` with a lease held by `owner`.

        The limits count the runs already running, so two replicas must not count at the same
        time (SKIP LOCKED alone lets each take other rows against the same count: 2 x the limit).
        On PostgreSQL claims take one transaction-level advisory lock; SQLite's BEGIN IMMEDIATE
        serialises them already."""
        with session(self.engine) as s:
            if s.get_bind().dialect.name == "postgresql":
                s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})
            running = s.scalar(select(func.count()).select_from(Run).where(Run.status == "running")) or 0
            room = min(n, global_limit - running)
            if room <= 0:
                return []
            per_job = dict(
                s.execute(
                    select(Run.job_id, func.count()).where(Run.status == "running").group_by(Run.job_id)
                ).all()
            )
            stmt = (
                select(Run)
                .where(Run.status == "queued")
                .where((Run.not_before.is_(None)) | (Run.not_before <= now))
                .order_by(Run.queued_at, Run.id)
                .limit(max(room * 20, 50))
            )
            claimed: list[Run] = []
            limits: dict[int | None, int] = {}
            for run in s.scalars(_locked(stmt, s)):
                if len(claimed) >= room:
                    break
                if run.job_id not in limits:
                    job = s.get(Job, run.job_id) if run.job_id is not None else None
                    limits[run.job_id] = JobSpec.model_validate(job.spec).concurrency if job else 1
                if per_job.get(run.job_id, 0) >= limits[run.job_id]:
                    continue
                per_job[run.job_id] = per_job.get(run.job_id, 0) + 1
                run.status, run.started_at = "running", now
                run.lease_owner, run.lease_until = owner, now + timedelta(seconds=lease)
                claimed.append(run)
            return claimed

    def update(self, run_id: int, **fields: Any) -> Run:
        with session(self.engine) as s:
            run = s.get(Run, run_id)
            if run is None:
                raise NotFound(f"run {run_id} does not exist")
            for key, value in fields.items():
                setattr(run, key, value)
            return run

    def finish(self, run_id: int, status: str, now: datetime, **fields: Any) -> Run | None:
        """End a run that is still queued or running; None when it already ended (cancelled
        meanwhile, or finished by another replica): an end is never overwritten."""
        with session(self.engine) as s:
            run = s.get(Run, run_id)
            if run is None or run.status not in ACTIVE:
                return None
            run.status, run.ended_at = status, now
            run.lease_owner = run.lease_until = None
            run.waiting = None
            for key, value in fields.items():
                setattr(run, key, value)
            return run

    def requeue(self, run_id: int, waiting: str, not_before: datetime) -> None:
        """Put a claimed run back in its place in the queue, saying why it waits."""
        with session(self.engine) as s:
            run = s.get(Run, run_id)
            if run is not None and run.status == "running":
                run.status, run.started_at, run.waiting = "queued", None, waiting[:2000]
                run.lease_owner = run.lease_until = None
                run.not_before = not_before

    def retry(self, failed: Run, now: datetime, delay: float) -> Run:
        """Queue the next attempt of a failed run after `delay` seconds (its policy's backoff)."""
        with session(self.engine) as s:
            run = Run(
                job_id=failed.job_id,
                owner=failed.owner,
                job_name=failed.job_name,
                version=failed.version,
                attempt=failed.attempt + 1,
                retry_of=failed.retry_of or failed.id,
                status="queued",
                trigger="retry",
                parameters=failed.parameters,
                due_at=failed.due_at,
                queued_at=now,
                not_before=now + timedelta(seconds=delay),
                tier=failed.tier,
                environment=failed.environment,
            )
            s.add(run)
            return run

    def adopt(self, owner: str, now: datetime, lease: float) -> list[Run]:
        """Running runs `owner` held before it restarted: taken back at once, not after the lease."""
        with session(self.engine) as s:
            stmt = select(Run).where(Run.status == "running", Run.lease_owner == owner)
            runs = list(s.scalars(_locked(stmt, s)))
            for run in runs:
                run.lease_until = now + timedelta(seconds=lease)
            return runs

    def versions(self, job_id: int) -> list[JobVersion]:
        with session(self.engine, write=False) as s:
            stmt = select(JobVersion).where(JobVersion.job_id == job_id).order_by(JobVersion.number)
            return list(s.scalars(stmt))

    def last_runs(self, job_ids: Sequence[int]) -> dict[int, Run]:
        """The newest run of each job (for lists: last status)."""
        if not job_ids:
            return {}
        with session(self.engine, write=False) as s:
            newest = (
                select(func.max(Run.id)).where(Run.job_id.in_(list(job_ids))).group_by(Run.job_id)
            ).scalar_subquery()
            return {r.job_id: r for r in s.scalars(select(Run).where(Run.id.in_(newest)))}

    def renew(self, owner: str, now: datetime, lease: float) -> int:
        """Extend the lease of every running run `owner` holds; returns how many."""
        with session(self.engine) as s:
            runs = s.scalars(select(Run).where(Run.status == "running", Run.lease_owner == owner))
            count = 0
            for run in runs:
                run.lease_until = now + timedelta(seconds=lease)
                count += 1
            return count

    def orphaned(self, owner: str, now: datetime, lease: float) -> list[Run]:
        """Running runs whose lease ran out (their control plane died): `owner` takes them over
        to reconcile them."""
        with session(self.engine) as s:
            stmt = select(Run).where(Run.status == "running", Run.lease_until < now)
            taken = []
            for run in s.scalars(_locked(stmt, s)):
                run.lease_owner, run.lease_until = owner, now + timedelta(seconds=lease)
                taken.append(run)
            return taken

    def runs(self, owner: str | None, job_name: str | None = None, statuses: Sequence[str] = ()) -> list[Run]:
        with session(self.engine, write=False) as s:
            stmt = select(Run).order_by(Run.id.desc())
            if owner is not None:
                stmt = stmt.where(Run.owner == owner)
            if job_name is not None:
                stmt = stmt.where(Run.job_name == job_name)
            if statuses:
                stmt = stmt.where(Run.status.in_(statuses))
            return list(s.scalars(stmt))

    def job_by_id(self, job_id: int | None) -> Job | None:
        with session(self.engine, write=False) as s:
            return None if job_id is None else s.get(Job, job_id)

    def run(self, owner: str | None, run_id: int) -> Run:
        with session(self.engine, write=False) as s:
            run = s.get(Run, run_id)
            if run is None or (owner is not None and run.owner != owner):
                raise NotFound(f"you have no run {run_id}")
            return run
