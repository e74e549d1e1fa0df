"""Persistence shared by snapshots, scheduled jobs and model APIs (SQLite default, PostgreSQL)."""

from .db import default_url, make_engine, session
from .errors import Ambiguous, NotFound, Pinned
from .job_tables import Allocation, Job, JobVersion, Run
from .ledger import HeldAllocation, Ledger
from .snapshots import SnapshotStore
from .tables import Base, Pin, SnapshotBody, SnapshotRecord, metadata

__all__ = [
    "Allocation",
    "Ambiguous",
    "Base",
    "HeldAllocation",
    "Job",
    "JobVersion",
    "Ledger",
    "NotFound",
    "Pin",
    "Pinned",
    "Run",
    "SnapshotBody",
    "SnapshotRecord",
    "SnapshotStore",
    "default_url",
    "make_engine",
    "metadata",
    "session",
]
