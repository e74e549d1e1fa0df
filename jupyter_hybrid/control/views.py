"""Jobs and runs as the REST API, the CLI and the panel show them (JSON-ready dicts)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..jobs.model import JobSpec
from ..store.job_tables import Job, JobVersion, Run


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def run_view(run: Run, pinned: str | None = None) -> dict:
    """`pinned`: the snapshot the run's version was published with (for `drift`)."""
    duration = None
    if run.started_at is not None and run.ended_at is not None:
        duration = round((run.ended_at - run.started_at).total_seconds(), 3)
    return {
        "id": run.id,
        "job": run.job_name,
        "owner": run.owner,
        "version": run.version,
        "attempt": run.attempt,
        "retry_of": run.retry_of,
        "status": run.status,
        "trigger": run.trigger,
        "parameters": run.parameters,
        "due_at": iso(run.due_at),
        "queued_at": iso(run.queued_at),
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
        "duration": duration,
        "tier": run.tier,
        "environment": run.environment,
        "site": run.site,
        "snapshot_id": run.snapshot_id,
        "drift": bool(pinned and run.snapshot_id and run.snapshot_id != pinned),
        "has_output": bool(run.output) and Path(run.output).is_file(),
        "error": run.error,
        "waiting": run.waiting if run.status == "queued" else None,
    }


def job_view(job: Job, last: Run | None = None, version: JobVersion | None = None) -> dict:
    spec = JobSpec.model_validate(job.spec)
    view = {
        **spec.model_dump(mode="json"),
        "owner": job.owner,
        "schedule_text": spec.when.describe(),
        "version": job.version,
        "paused": job.paused,
        "next_run": iso(job.next_due),
        "created_at": iso(job.created_at),
        "last_run": None
        if last is None
        else {"id": last.id, "status": last.status, "ended_at": iso(last.ended_at)},
    }
    if version is not None:
        view["declared"] = version.parameters
    return view
