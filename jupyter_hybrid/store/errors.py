"""Store errors. All are ``ValueError`` subclasses whose ``str()`` tells a person what to do."""

from __future__ import annotations


class NotFound(ValueError):
    """No snapshot visible to the caller matches (another user's private one included)."""


class Ambiguous(ValueError):
    """An id prefix matches more than one visible snapshot."""


class Pinned(ValueError):
    """A snapshot is still used by a scheduled job or a model API."""
