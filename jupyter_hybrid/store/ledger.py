"""The allocation ledger: what every workload (a server, a job run, an API deployment) holds on
each site, in the store that the hub and the control plane share.

Quotas and local GPU reservations are read from it, so two processes never hand out the same
local GPU and a quota counts every kind of workload. A hold is one transaction that reads what
the site's other workloads hold and picks from what is left: SQLite serialises it with
``BEGIN IMMEDIATE``, PostgreSQL with a transaction-level advisory lock per site (and one over the
whole ledger when the caller checks something across sites, such as a quota).

A row outlives the process that wrote it: whoever ends a workload releases it (a hub after a
restart polls its servers, a control plane reconciles its runs).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session

from ..placement.usage import usage_of
from ..sitedata import Allocation as SiteAllocation
from ..sitedata import mig_profile
from ..sites.base import CapacityError, gpu_shortage
from .db import session
from .job_tables import WORKLOAD_KINDS, Allocation

#: PostgreSQL advisory lock keys: (namespace, hash of the site) for one site, (namespace, 0) for all
_LOCK_NS = 0x4A48_4C47  # "JHLG"
_ALL_SITES = 0

Check = Callable[[list[SiteAllocation]], None]


@dataclass(frozen=True)
class HeldAllocation:
    """One ledger row, as plain data."""

    kind: str  # server | run | deployment
    ref: str  # the workload's stable key (a server's "user/name", a run's "run:<id>")
    owner: str
    site: str
    tier: str
    cpu: float
    memory: int  # bytes
    gpu_count: int  # GPUs (or MIG slices) held: what quotas count
    gpu_model: str | None
    gpus: list[int] = field(default_factory=list)  # device indices, on sites that assign them
    groups: list[str] = field(default_factory=list)  # the owner's groups when placed

    @classmethod
    def of(cls, row: Allocation) -> HeldAllocation:
        return cls(
            kind=row.kind,
            ref=row.ref,
            owner=row.owner,
            site=row.site,
            tier=row.tier,
            cpu=row.cpu,
            memory=row.memory,
            gpu_count=row.gpu,
            gpu_model=row.gpu_model,
            gpus=list(row.gpus or []),
            groups=list(row.groups or []),
        )

    def allocation(self) -> SiteAllocation:
        """As sites and placement's ``usage_of`` read it."""
        return SiteAllocation(
            cpu=self.cpu,
            memory=self.memory,
            gpus=list(self.gpus),
            gpu_count=self.gpu_count,
            user=self.owner,
            groups=list(self.groups),
        )


def _site_key(site: str) -> int:
    """A stable signed 32-bit key for ``site`` (the same in every process, unlike ``hash``)."""
    value = zlib.crc32(site.encode()) or 1  # 0 is the whole ledger's key
    return value - 2**32 if value >= 2**31 else value


def _lock(s: Session, site: str | None) -> None:
    if s.get_bind().dialect.name == "postgresql":
        key = _ALL_SITES if site is None else _site_key(site)
        s.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": _LOCK_NS, "key": key})


class Ledger:
    """Holds, releases and reads allocations; every call is one transaction."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def hold(
        self,
        kind: str,
        ref: str,
        owner: str,
        site: str,
        tier_name: str,
        cpu: float,
        memory: int,
        gpu_count: int,
        gpu_model: str | None,
        devices: Sequence[tuple[int, str | None]] | None,
        *,
        groups: Iterable[str] = (),
        check: Check | None = None,
        force: bool = False,
    ) -> HeldAllocation:
        """Hold ``gpu_count`` of ``devices`` (``(index, model)``: the free-candidate devices that
        serve the tier, as the caller filtered them) plus ``cpu`` cores and ``memory`` bytes on
        ``site`` for the workload ``(kind, ref)``; holding it again replaces its row (idempotent).

        Picks the lowest indices no other workload holds on that site, or raises
        :class:`CapacityError` naming who holds the rest. ``devices=None``: the site assigns
        devices itself (Kubernetes): only the count is recorded. ``check(others)``, when given, runs
        inside the transaction with every other workload's allocation on every site and may raise
        to hold nothing (a quota checked against what is held right now). ``force``: take exactly
        ``devices`` whoever else holds them (a running workload restored after a restart: it uses
        them, whatever the ledger says).
        """
        if kind not in WORKLOAD_KINDS:
            raise ValueError(f"kind must be one of {', '.join(WORKLOAD_KINDS)}, not {kind!r}")
        if gpu_count < 0:
            raise ValueError(f"gpu_count must be 0 or more, not {gpu_count}")
        with session(self.engine) as s:
            if check is not None:
                _lock(s, None)  # quota checks span sites: one hold at a time over the whole ledger
            _lock(s, site)
            rows = s.scalars(select(Allocation).where(Allocation.site == site)).all()
            this = (kind, ref)
            others = [r for r in rows if (r.kind, r.ref) != this]
            if check is not None:
                everywhere = s.scalars(select(Allocation)).all()
                check([HeldAllocation.of(r).allocation() for r in everywhere if (r.kind, r.ref) != this])
            gpus: list[int] = []
            if devices is not None and gpu_count:
                gpus = self._pick(site, gpu_count, gpu_model, devices, others, force)
            mine = select(Allocation).where(Allocation.kind == kind, Allocation.ref == ref)
            row = s.scalars(mine).first()  # on this site or another one (placed elsewhere now)
            if row is None:
                row = Allocation(kind=kind, ref=ref)
                s.add(row)
            row.owner, row.site, row.tier = owner, site, tier_name
            row.cpu, row.memory, row.gpu, row.gpu_model = float(cpu), int(memory), int(gpu_count), gpu_model
            row.gpus, row.groups = gpus, sorted(set(groups))
            s.flush()
            return HeldAllocation.of(row)

    @staticmethod
    def _pick(
        site: str,
        count: int,
        model: str | None,
        devices: Sequence[tuple[int, str | None]],
        others: Sequence[Allocation],
        force: bool,
    ) -> list[int]:
        candidates = list(dict.fromkeys(int(i) for i, _ in devices))  # in order, each once
        if force:
            return candidates[:count]
        holder = {i: r.kind for r in others for i in (r.gpus or [])}
        free = [i for i in candidates if i not in holder]
        if len(free) < count:
            held = [holder[i] for i in candidates if i in holder]
            unit = "slice" if model and mig_profile(model) else "GPU"
            raise CapacityError(gpu_shortage(site, count, model, unit, len(free), held))
        return free[:count]

    def release(self, kind: str, ref: str) -> bool:
        """Forget what ``(kind, ref)`` holds; whether it held anything."""
        with session(self.engine) as s:
            gone = s.execute(delete(Allocation).where(Allocation.kind == kind, Allocation.ref == ref))
            return bool(gone.rowcount)

    def get(self, kind: str, ref: str) -> HeldAllocation | None:
        with session(self.engine, write=False) as s:
            row = s.scalars(select(Allocation).where(Allocation.kind == kind, Allocation.ref == ref)).first()
            return None if row is None else HeldAllocation.of(row)

    def held(self, site: str | None = None, *, kind: str | None = None) -> list[HeldAllocation]:
        """Every allocation (of ``site``, of ``kind``), oldest first."""
        stmt = select(Allocation).order_by(Allocation.id)
        if site is not None:
            stmt = stmt.where(Allocation.site == site)
        if kind is not None:
            stmt = stmt.where(Allocation.kind == kind)
        with session(self.engine, write=False) as s:
            return [HeldAllocation.of(r) for r in s.scalars(stmt)]

    def allocations(self, exclude: tuple[str, str] | None = None) -> list[SiteAllocation]:
        """Every workload's allocation as sites and placement read it, ``exclude`` (kind, ref) left out."""
        return [a.allocation() for a in self.held() if (a.kind, a.ref) != exclude]

    def usage(self, user: str, groups: Iterable[str] | None = None, exclude: tuple[str, str] | None = None):
        """What ``user`` and their groups hold over every site and kind of workload, as placement's
        ``Usage`` (``usage_of``: ``groups`` None sums every group). ``exclude``: the workload being
        placed again, e.g. ``("server", "alice/")``."""
        return usage_of(self.allocations(exclude), user, groups)
