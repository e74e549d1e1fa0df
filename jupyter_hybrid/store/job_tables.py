"""The schema of the control plane's workloads: jobs, their frozen versions, runs, and the
allocation ledger that every server, run and deployment records what it holds in.

A run's record is written before its process starts and every change of state is a row update,
so a restart finds every run again. Runs keep the job's name and owner: deleting a job may keep
its history (`job_id` then becomes NULL).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base, _Json, utcnow

RUN_STATES = ("queued", "running", "completed", "failed", "cancelled")
WORKLOAD_KINDS = ("server", "run", "deployment")


class _UTC(TypeDecorator):
    """Aware UTC datetimes in and out, on every backend (SQLite itself keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("store aware datetimes only (UTC)")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_Now = _UTC()


class Job(Base):
    """A published notebook with its schedule and policies (`spec`: a validated JobSpec)."""

    __tablename__ = "jh_job"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(80))
    spec: Mapped[dict[str, Any]] = mapped_column(_Json)
    version: Mapped[int] = mapped_column(Integer, default=1)
    paused: Mapped[bool] = mapped_column(default=False)
    # when the scheduler looks next; NULL for paused and one-off jobs
    next_due: Mapped[datetime | None] = mapped_column(_Now, index=True)
    created_at: Mapped[datetime] = mapped_column(_Now, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(_Now, default=utcnow, onupdate=utcnow)


class JobVersion(Base):
    """The notebook as frozen at a publish: what every run of that version executes."""

    __tablename__ = "jh_job_version"
    __table_args__ = (UniqueConstraint("job_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey(Job.id, ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    notebook: Mapped[dict[str, Any]] = mapped_column(_Json)
    parameters: Mapped[dict[str, Any]] = mapped_column(_Json)  # as declared by its parameters cell
    snapshot_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(_Now, default=utcnow)


class Run(Base):
    """One execution of a job version; `lease_*` says which control plane acts on it until when."""

    __tablename__ = "jh_run"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')", name="jh_run_status"
        ),
        Index("ix_jh_run_status_queued", "status", "queued_at"),
        # one run per job and due time: two schedulers that both see it due cannot both queue it
        UniqueConstraint("job_id", "due_at", "attempt", name="uq_jh_run_due"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey(Job.id, ondelete="SET NULL"), index=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    job_name: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    retry_of: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    trigger: Mapped[str] = mapped_column(String(16), default="manual")  # schedule | manual | retry
    parameters: Mapped[dict[str, Any]] = mapped_column(_Json)
    due_at: Mapped[datetime | None] = mapped_column(_Now)
    queued_at: Mapped[datetime] = mapped_column(_Now, default=utcnow)
    not_before: Mapped[datetime | None] = mapped_column(_Now)  # a retry's backoff
    started_at: Mapped[datetime | None] = mapped_column(_Now)
    ended_at: Mapped[datetime | None] = mapped_column(_Now)
    tier: Mapped[str | None] = mapped_column(String(63))
    environment: Mapped[str | None] = mapped_column(String(63))
    site: Mapped[str | None] = mapped_column(String(63))
    snapshot_id: Mapped[str | None] = mapped_column(String(64))
    handle: Mapped[dict[str, Any] | None] = mapped_column(_Json)  # the site's handle to its process
    output: Mapped[str | None] = mapped_column(Text)
    error: Mapped[dict[str, Any] | None] = mapped_column(_Json)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None] = mapped_column(_Now)
    waiting: Mapped[str | None] = mapped_column(Text)  # why a queued run has not started yet
    host: Mapped[str | None] = mapped_column(String(255))  # where its process runs (local sites)


class Allocation(Base):
    """What one workload holds on a site: the ledger quotas and GPU reservations are read from."""

    __tablename__ = "jh_allocation"
    __table_args__ = (
        UniqueConstraint("kind", "ref"),
        CheckConstraint("kind IN ('server', 'run', 'deployment')", name="jh_allocation_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str] = mapped_column(String(255), index=True)
    site: Mapped[str] = mapped_column(String(63), index=True)
    tier: Mapped[str] = mapped_column(String(63))
    cpu: Mapped[float] = mapped_column(Float, default=0)
    memory: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes
    gpu: Mapped[int] = mapped_column(Integer, default=0)
    gpu_model: Mapped[str | None] = mapped_column(String(128))
    gpus: Mapped[list[int]] = mapped_column(_Json, default=list)  # device indices on a local site
    groups: Mapped[list[str]] = mapped_column(_Json, default=list)  # the owner's groups when placed
    created_at: Mapped[datetime] = mapped_column(_Now, default=utcnow)
