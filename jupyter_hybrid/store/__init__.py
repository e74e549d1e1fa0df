"""Persistence shared by snapshots, scheduled jobs and model APIs (SQLite default, PostgreSQL)."""

from .db import default_url, make_engine, session
from .errors import Ambiguous, NotFound, Pinned
from .snapshots import SnapshotStore
from .tables import Base, Pin, SnapshotBody, SnapshotRecord, metadata

__all__ = [
    "Ambiguous",
    "Base",
    "NotFound",
    "Pin",
    "Pinned",
    "SnapshotBody",
    "SnapshotRecord",
    "SnapshotStore",
    "default_url",
    "make_engine",
    "metadata",
    "session",
]
