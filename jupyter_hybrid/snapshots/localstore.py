"""The command line's view of the snapshot store: the same database as the server extension.

Snapshots belong to this machine's user (``$JUPYTERHUB_USER`` inside a hub server, else the OS
user), so what ``jupyter hybrid snapshot capture`` saves is what the Snapshots panel lists.
The database is ``$JUPYTER_HYBRID_DB_URL``, by default SQLite in the Jupyter data dir.
"""

from __future__ import annotations

import getpass
import os
import re

from ..quote import quote
from ..store import errors as store_errors
from ..store.db import default_url, make_engine
from ..store.snapshots import SnapshotStore
from .errors import NotFound, SnapshotError
from .model import Snapshot, load_snapshot

MIN_PREFIX = 4
_HEX = re.compile(r"^[0-9a-f]+$")
_STORES: dict[str, SnapshotStore] = {}


def owner() -> str:
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


def _store() -> tuple[SnapshotStore, str]:
    url = default_url()
    if url not in _STORES:
        _STORES[url] = SnapshotStore(make_engine(url))
    return _STORES[url], url


def save(snap: Snapshot, *, rename: bool = True) -> str:
    """Store ``snap`` for this user; returns where (the database URL and the id)."""
    return save_record(snap, rename=rename)[0]


def save_record(snap: Snapshot, *, rename: bool = True) -> tuple[str, dict]:
    """:func:`save`, and the stored record (``name``, ``identical_to``: see SnapshotStore.save)."""
    store, url = _store()
    record = store.save(owner(), snap.model_dump(mode="json"), name=snap.name, note=snap.note, rename=rename)
    return f"{url} as {snap.short_id}", record


def load(id_or_prefix: str) -> Snapshot:
    """The snapshot whose id is or starts with ``id_or_prefix`` (at least 4 hex characters)."""
    return load_with_owner(id_or_prefix)[0]


def load_with_owner(id_or_prefix: str) -> tuple[Snapshot, str]:
    """:func:`load` and whose record it is (this user's when they have one, else the sharer's)."""
    ref = id_or_prefix.strip().lower()
    if len(ref) < MIN_PREFIX or len(ref) > 64 or not _HEX.match(ref):
        raise SnapshotError(
            f"{quote(id_or_prefix)} is not a snapshot id: give {MIN_PREFIX} to 64 hex characters of one"
        )
    store, url = _store()
    try:
        body = store.get(owner(), ref)
    except store_errors.NotFound:
        raise NotFound(f"no snapshot {quote(id_or_prefix)} in {url}") from None
    except store_errors.Ambiguous as e:
        raise SnapshotError(str(e)) from None
    return load_snapshot(body, f"snapshot {ref[:12]}"), body["owner"]


def list_snapshots() -> list[Snapshot]:
    """This user's snapshots (and those shared with them), newest first."""
    store, _ = _store()
    return [load(row["id"]) for row in store.list(owner())]
