"""Quote a user-supplied value for a message or a log line, truncated.

A value posted by a user can be megabytes long; echoing it whole into a 400 page
or a log line amplifies the request. Every message that names a user's value
goes through `quote`.
"""

from __future__ import annotations

import reprlib

__all__ = ["quote"]


def _repr(limit: int) -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxstring = limit
    r.maxother = limit
    r.maxlong = limit
    r.maxlevel = 2
    r.maxdict = r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = 6
    r.fillvalue = "…"
    return r


def quote(value: object, limit: int = 40) -> str:
    """repr(value), cut to about `limit` characters with "…" where it was cut."""
    text = _repr(limit).repr(value)
    if len(text) > limit + 1:  # reprlib leaves some kinds (nested, long reprs) longer
        text = text[: limit - 1] + "…"
    return text
