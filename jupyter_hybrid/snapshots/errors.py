"""Snapshot errors. Their ``str()`` says what went wrong and what to do about it."""

from __future__ import annotations


class SnapshotError(ValueError):
    """A capture, export or restore that cannot be done as asked (bad input or a failed step)."""


class NotFound(SnapshotError):
    """The snapshot, kernel, interpreter or notebook named does not exist."""
