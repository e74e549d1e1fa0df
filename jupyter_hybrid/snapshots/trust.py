"""Which packages of a snapshot a restore would fetch from a URL or a repository, not an index.

Such a source is code chosen by whoever captured the snapshot. Restoring your own snapshot is your
choice already; restoring someone else's shared one (or a snapshot file from elsewhere) asks first:
the REST restore answers 409 ``{"message", "needs_trust": true, "sources": [...]}`` unless the body
says ``"trust_sources": true``, the CLI wants ``--trust-sources``.
"""

from __future__ import annotations

from ..quote import quote
from .export import requirement
from .model import Snapshot

SHOWN = 3  # sources named in the message; the list has them all


def direct_sources(snap: Snapshot) -> list[dict]:
    """``{"name", "version", "source"}`` of each package a restore would install from url:/vcs:."""
    out = []
    for p in snap.packages:
        if p.source.startswith(("url:", "vcs:")) and requirement(p)[0] is not None:
            out.append({"name": p.name, "version": p.version, "source": p.source})
    return out


def trust_message(snap: Snapshot, whose: str, sources: list[dict], how: str) -> str:
    """Why the restore waits for a confirmation, and ``how`` to give it."""
    named = ", ".join(
        f"{s['name']} from {quote(s['source'].partition(':')[2], limit=80)}" for s in sources[:SHOWN]
    )
    more = f" and {len(sources) - SHOWN} more" if len(sources) > SHOWN else ""
    count = f"{len(sources)} package{'' if len(sources) == 1 else 's'}"
    return (
        f"snapshot {snap.short_id} is {whose} and installs {count} from URLs or repositories rather "
        f"than a package index ({named}{more}); that code runs when it is installed. Restore it only "
        f"if you trust those sources: {how}"
    )
