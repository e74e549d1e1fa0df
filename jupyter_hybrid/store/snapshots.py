"""Snapshot registry: content stored once, one record per user, sharing and pins.

Every public method is one transaction: it either completes or leaves nothing behind.
Visibility: a user sees a snapshot when they have a record of it or some record of it is shared;
anything else is reported as not found, never as "exists but private".
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..quote import quote
from .db import session
from .errors import Ambiguous, NotFound, Pinned
from .tables import PIN_KINDS, Pin, SnapshotBody, SnapshotRecord

MIN_PREFIX = 4
SHORT_ID = 12
MAX_TEXT = 255
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-f]+")
_SAVE_TRIES = 3


class SnapshotStore:
    """Snapshots of one database (an :func:`~jupyter_hybrid.store.make_engine` engine)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # -- records -------------------------------------------------------------------------------

    def save(
        self,
        owner: str,
        body: dict,
        name: str | None = None,
        note: str | None = None,
        *,
        rename: bool = True,
    ) -> dict:
        """Store ``body`` (keyed by its sha256 ``id``) and ``owner``'s record of it; the record view.

        Idempotent: saving an id again keeps the stored body and changes name/note only where
        given (``""`` clears them). With ``rename=False`` an existing record keeps the name and
        note it has, and takes the given ones only where it has none. The view's ``identical_to``
        is None for a new record, else the existing record's name before this save (its short id
        when it had none): the owner had captured this same environment already.
        """
        owner = _text("owner", owner, required=True)
        sid = _body_id(body)
        name, note = _text("name", name), _text("note", note, limit=None)
        row = {"id": sid, "body": body, "python": _python(body), "packages": _count(body)}
        for attempt in range(_SAVE_TRIES):
            try:
                with session(self.engine) as s:
                    _insert_ignore(s, SnapshotBody, row, ["id"])
                    existing = s.scalars(_own(owner, sid).with_for_update()).first()
                    _insert_ignore(
                        s, SnapshotRecord, {"owner": owner, "snapshot_id": sid}, ["owner", "snapshot_id"]
                    )
                    rec = existing or s.scalars(_own(owner, sid).with_for_update()).one()
                    identical_to = None if existing is None else (existing.name or sid[:SHORT_ID])
                    keep = existing is not None and not rename
                    if name is not None and not (keep and rec.name):
                        rec.name = name or None
                    if note is not None and not (keep and rec.note):
                        rec.note = note or None
                    s.flush()
                    return {**_view(rec, *_summary(s, sid)), "identical_to": identical_to}
            except IntegrityError:  # the body was deleted by a concurrent last-record delete
                if attempt == _SAVE_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def get(self, owner: str, id_or_prefix: str) -> dict:
        """The body merged with the record fields (owner, name, note, shared, created_at)."""
        with session(self.engine, write=False) as s:
            sid = _resolve(s, id_or_prefix, _visible(owner))
            rec = _pick(s.scalars(_records(sid, _visible(owner))).all(), owner)
            body = s.get(SnapshotBody, sid).body
            view = _view(rec, None, 0)
            fields = ("short_id", "owner", "name", "note", "shared", "created_at")
            return {**body, **{k: view[k] for k in fields}}

    def list(self, owner: str, include_shared: bool = True) -> list[dict]:
        """Record views (no body), newest first: the owner's own plus others' shared ones.

        A snapshot appears once: as the owner's record if they have one, else the oldest share.
        """
        cond = _visible(owner) if include_shared else SnapshotRecord.owner == owner
        q = (
            select(SnapshotRecord, SnapshotBody.python, SnapshotBody.packages)
            .join(SnapshotBody, SnapshotBody.id == SnapshotRecord.snapshot_id)
            .where(cond)
            .order_by(SnapshotRecord.created_at, SnapshotRecord.id)
        )
        picked: dict[str, tuple] = {}
        with session(self.engine, write=False) as s:
            for rec, python, packages in s.execute(q):
                seen = picked.get(rec.snapshot_id)
                if seen is None or (rec.owner == owner and seen[0].owner != owner):
                    picked[rec.snapshot_id] = (rec, python, packages)
        rows = sorted(picked.values(), key=lambda r: (_utc(r[0].created_at), r[0].id), reverse=True)
        return [_view(*r) for r in rows]

    def delete(self, owner: str, id_or_prefix: str) -> None:
        """Remove ``owner``'s record; the body goes too when no other record references it.

        Refused (:class:`Pinned`, nothing deleted) while one of the owner's jobs/APIs pins it, or
        while any pin needs it and this is its last record.
        """
        with session(self.engine) as s:
            sid = _resolve(s, id_or_prefix, _visible(owner))
            body = s.get(SnapshotBody, sid, with_for_update=True)  # serialises against pin/delete
            rec = _own_record(s, owner, sid, "delete")
            others = s.scalar(
                select(func.count()).where(SnapshotRecord.snapshot_id == sid, SnapshotRecord.id != rec.id)
            )
            pins = s.scalars(select(Pin).where(Pin.snapshot_id == sid).order_by(Pin.created_at, Pin.id)).all()
            blocking = [p for p in pins if p.owner == owner or not others]
            if blocking:
                raise Pinned(_pinned_message(sid, blocking, owner))
            s.delete(rec)
            s.flush()
            if not others:
                s.delete(body)

    def share(self, owner: str, id_or_prefix: str, shared: bool) -> dict:
        """Share (or stop sharing) ``owner``'s record with every user; the record view."""
        with session(self.engine) as s:
            sid = _resolve(s, id_or_prefix, _visible(owner))
            rec = _own_record(s, owner, sid, "share")
            rec.shared = bool(shared)
            s.flush()
            return _view(rec, *_summary(s, sid))

    # -- pins ----------------------------------------------------------------------------------

    def pin(self, owner: str, id_or_prefix: str, kind: str, ref: str) -> dict:
        """Mark a visible snapshot as used by job/api ``ref``; re-pinning the same ref moves it."""
        if kind not in PIN_KINDS:
            raise ValueError(f"pin kind must be one of {', '.join(PIN_KINDS)}, got {quote(kind)}")
        owner = _text("owner", owner, required=True)
        ref = _text("ref", ref, required=True)
        with session(self.engine) as s:
            sid = _resolve(s, id_or_prefix, _visible(owner))
            pin = s.scalars(select(Pin).where(Pin.kind == kind, Pin.ref == ref).with_for_update()).first()
            if pin is not None and pin.owner != owner:
                raise ValueError(f"{kind} {quote(ref)} belongs to another user; choose another {kind} name")
            if pin is None:
                pin = Pin(snapshot_id=sid, kind=kind, ref=ref, owner=owner)
                s.add(pin)
            pin.snapshot_id = sid
            try:
                s.flush()
            except IntegrityError as e:
                raise ValueError(f"{kind} {quote(ref)} was pinned at the same moment; try again") from e
            return _pin_view(pin)

    def unpin(self, kind: str, ref: str) -> bool:
        """Drop the pin of job/api ``ref``; False when there was none."""
        with session(self.engine) as s:
            pin = s.scalars(select(Pin).where(Pin.kind == kind, Pin.ref == ref)).first()
            if pin is None:
                return False
            s.delete(pin)
            return True

    def pins(self, id_or_prefix: str, owner: str | None = None) -> list[dict]:
        """The pins of a snapshot, oldest first (``owner`` given: resolved among what they see)."""
        with session(self.engine, write=False) as s:
            sid = _resolve(s, id_or_prefix, None if owner is None else _visible(owner))
            q = select(Pin).where(Pin.snapshot_id == sid).order_by(Pin.created_at, Pin.id)
            return [_pin_view(p) for p in s.scalars(q)]


# -- helpers -----------------------------------------------------------------------------------


def _visible(owner: str):
    return or_(SnapshotRecord.owner == owner, SnapshotRecord.shared.is_(True))


def _own(owner: str, sid: str):
    return select(SnapshotRecord).where(SnapshotRecord.owner == owner, SnapshotRecord.snapshot_id == sid)


def _own_record(s: Session, owner: str, sid: str, verb: str) -> SnapshotRecord:
    rec = s.scalars(_own(owner, sid).with_for_update()).first()
    if rec is None:  # visible, so shared by someone else: saying so reveals nothing new
        raise NotFound(
            f"snapshot {sid[:SHORT_ID]} is another user's shared snapshot; you can only {verb} your own"
        )
    return rec


def _records(sid: str, cond):
    q = select(SnapshotRecord).where(SnapshotRecord.snapshot_id == sid, cond)
    return q.order_by(SnapshotRecord.created_at, SnapshotRecord.id)


def _pick(records, owner: str) -> SnapshotRecord:
    return next((r for r in records if r.owner == owner), records[0])


def _resolve(s: Session, id_or_prefix: str, cond) -> str:
    """The one full id matching ``id_or_prefix`` among records meeting ``cond`` (None: all)."""
    raw = id_or_prefix if isinstance(id_or_prefix, str) else quote(id_or_prefix)
    prefix = raw.strip().lower()
    if len(prefix) < MIN_PREFIX:
        raise ValueError(
            f"snapshot id {quote(raw, limit=70)} is too short; give at least {MIN_PREFIX} characters"
        )
    if not _HEX.fullmatch(prefix) or len(prefix) > 64:
        raise NotFound(f"snapshot {quote(raw, limit=70)} not found")
    if cond is None:
        col, q = SnapshotBody.id, select(SnapshotBody.id)
    else:
        col, q = SnapshotRecord.snapshot_id, select(SnapshotRecord.snapshot_id).distinct().where(cond)
    q = q.where(col == prefix if len(prefix) == 64 else col.startswith(prefix, autoescape=True))
    ids = sorted(s.scalars(q))
    if not ids:
        raise NotFound(f"snapshot {quote(raw, limit=70)} not found")
    if len(ids) > 1:
        some = ", ".join(i[:SHORT_ID] for i in ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise Ambiguous(f"{quote(raw, limit=70)} matches {len(ids)} snapshots ({some}); give more characters")
    return ids[0]


def _summary(s: Session, sid: str) -> tuple[str | None, int]:
    return s.execute(select(SnapshotBody.python, SnapshotBody.packages).where(SnapshotBody.id == sid)).one()


def _insert_ignore(s: Session, model, values: dict, keys: list[str]) -> None:
    """INSERT unless a row with the same ``keys`` exists (race-free on SQLite/PostgreSQL)."""
    dialect = s.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = (sqlite if dialect == "sqlite" else postgresql).insert
        s.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=keys))
    elif s.scalars(select(model).filter_by(**{k: values[k] for k in keys})).first() is None:
        s.add(model(**values))
        s.flush()


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _view(rec: SnapshotRecord, python: str | None, packages: int) -> dict:
    return {
        "id": rec.snapshot_id,
        "short_id": rec.snapshot_id[:SHORT_ID],
        "name": rec.name,
        "note": rec.note,
        "owner": rec.owner,
        "shared": bool(rec.shared),
        "created_at": _utc(rec.created_at).isoformat(),
        "python": python,
        "packages": packages or 0,
    }


def _pin_view(pin: Pin) -> dict:
    return {
        "kind": pin.kind,
        "ref": pin.ref,
        "owner": pin.owner,
        "snapshot_id": pin.snapshot_id,
        "created_at": _utc(pin.created_at).isoformat(),
    }


def _pinned_message(sid: str, pins: list[Pin], owner: str) -> str:
    parts = [f"{p.kind} {p.ref!r}" + ("" if p.owner == owner else f" (of {p.owner!r})") for p in pins]
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    them = "it" if len(parts) == 1 else "them"
    return f"snapshot {sid[:SHORT_ID]} is pinned by {joined}; unpublish {them} first"


def _body_id(body: Any) -> str:
    if not isinstance(body, dict):
        raise ValueError(f"a snapshot body must be a JSON object (dict), got {type(body).__name__}")
    sid = body.get("id")
    if not isinstance(sid, str) or not _SHA256.fullmatch(sid):
        raise ValueError(
            "a snapshot body needs an 'id': the sha256 hex digest of its content "
            f"(64 characters 0-9a-f), got {quote(sid)}"
        )
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"snapshot {sid[:SHORT_ID]} body is not plain JSON: {e}") from e
    return sid


def _text(field: str, value: Any, *, required: bool = False, limit: int | None = MAX_TEXT) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"{field} must be a non-empty string, got {quote(value)}")
    if limit is not None and len(value) > limit:
        raise ValueError(f"{field} is {len(value)} characters long; the limit is {limit}")
    return value


def _python(body: dict) -> str | None:
    py = body.get("python")
    if isinstance(py, dict):
        py = py.get("version")
    return str(py)[:64] if isinstance(py, (str, int, float)) and str(py) else None


def _count(body: dict) -> int:
    pkgs = body.get("packages")
    return len(pkgs) if isinstance(pkgs, (list, dict)) else 0
