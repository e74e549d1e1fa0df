"""What every site reports and offers, whatever kind of compute it is."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..sitedata import Allocation, SiteState  # plain data, re-exported here for callers

if TYPE_CHECKING:
    from jupyterhub.spawner import Spawner

    from ..catalog import DatasetLocation, Environment, Site, Tier


__all__ = ["Allocation", "BaseSite", "CapacityError", "SiteState", "gpu_label", "gpu_need", "gpu_shortage"]

#: how a CapacityError names the workloads that hold the rest: (one, several)
HOLDERS = {
    "server": ("a server", "servers"),
    "run": ("a job run", "job runs"),
    "deployment": ("an API deployment", "API deployments"),
}


class CapacityError(RuntimeError):
    """The site cannot hold the workload now; the message says why."""


def gpu_label(tier: Tier) -> str | None:
    """What a tier's GPUs are called in the ledger and in messages: 'A100', 'A100 MIG 1g.10gb',
    'GPU MIG 1g.10gb', or None (any whole GPU)."""
    if tier.mig:
        return f"{tier.gpu_model or 'GPU'} MIG {tier.mig}"
    return tier.gpu_model


def gpu_shortage(site: str, needed: int, model: str | None, unit: str, free: int, held: Iterable[str]) -> str:
    """'needs 2 A100 GPUs; local: 1 free (1 held by a job run, 2 held by servers)': ``held`` lists
    the kind (server, run, deployment) of the workload holding each serving device that is taken."""
    kinds = list(held)
    parts = []
    for kind in (*HOLDERS, *sorted(set(kinds) - set(HOLDERS))):
        n = kinds.count(kind)
        if n:
            one, several = HOLDERS.get(kind, (kind, kind + "s"))
            parts.append(f"{n} held by {one if n == 1 else several}")
    text = f"{gpu_need(needed, model, unit)}; {site}: {free} free"
    return f"{text} ({', '.join(parts)})" if parts else text


def gpu_need(needed: int, model: str | None, unit: str = "GPU") -> str:
    """'needs 1 GPU', 'needs 2 A100 GPUs', 'needs 1 A100 MIG 1g.10gb slice'."""
    what = f"{model} " if model else ""
    return f"needs {needed} {what}{unit}{'' if needed == 1 else 's'}"


class BaseSite(ABC):
    """One place to run workloads. Servers today; job runs and API deployments plug in later."""

    kind = "base"
    #: the store's allocation ledger (``store.Ledger``), set by the site's owner (a hub's spawner,
    #: a control plane) when it shares one store with other processes; None: this process alone
    ledger: Any = None

    def __init__(self, name: str, spec: Site):
        self.name, self.spec = name, spec
        self.allocations: dict[str, Allocation] = {}
        self._kinds: dict[str, str] = {}  # key -> the kind of workload it was held for (ledger)

    @abstractmethod
    def state(self) -> SiteState:
        """Live capacity, price and region, as last read (never blocks on the network)."""

    async def refresh(self) -> SiteState:
        """Live state, re-read when older than the site's ``refresh_seconds`` (may do I/O)."""
        return self.state()

    @abstractmethod
    def environment_problem(self, env: Environment) -> str | None:
        """Why this environment cannot run here, or None."""

    @abstractmethod
    def reserve(self, key: str, tier: Tier) -> Allocation:
        """Hold capacity for a workload; raise CapacityError with the reason.

        The caller fills ``user``/``groups`` of the returned Allocation (quota accounting); with a
        ledger, call ``hold`` (it records the owner and the kind of workload)."""

    def hold(
        self,
        key: str,
        tier: Tier,
        *,
        kind: str = "server",
        owner: str = "",
        groups: Iterable[str] = (),
        tier_name: str = "",
        check: Callable[[list[Allocation]], None] | None = None,
    ) -> Allocation:
        """``reserve`` for the workload ``(kind, key)`` of ``owner``, recorded in the ledger when one
        is attached (``check``: see ``Ledger.hold``). Sites that pick devices (local) override it
        to pick them from the ledger; here the site's own reservation stands and the ledger
        records what it holds (quotas)."""
        allocation = self.reserve(key, tier)
        allocation.user, allocation.groups = owner, sorted(set(groups))
        self._kinds[key] = kind
        if self.ledger is not None:
            try:
                self._record(kind, key, tier_name, allocation, check=check, gpu_model=gpu_label(tier))
            except BaseException:
                self.allocations.pop(key, None)
                self._kinds.pop(key, None)
                raise
        return allocation

    def _record(self, kind: str, key: str, tier_name: str, allocation: Allocation, **extra) -> None:
        self.ledger.hold(
            kind,
            key,
            allocation.user,
            self.name,
            tier_name,
            allocation.cpu,
            allocation.memory,
            allocation.gpu_count,
            extra.pop("gpu_model", None),
            extra.pop("devices", None),
            groups=allocation.groups,
            **extra,
        )
        self._kinds[key] = kind

    def restore(
        self,
        key: str,
        allocation: Allocation,
        *,
        kind: str = "server",
        tier_name: str = "",
        gpu_model: str | None = None,
    ) -> None:
        """Re-hold what a running workload held (after a restart). With a ledger the row is written
        again (idempotent), with the devices the workload uses, whoever the ledger says holds them
        (``gpu_model``: default, what the row said)."""
        self.allocations[key] = allocation
        self._kinds[key] = kind
        if self.ledger is not None:
            if gpu_model is None:
                row = self.ledger.get(kind, key)
                gpu_model = row.gpu_model if row is not None else None
            devices = [(i, None) for i in allocation.gpus] if allocation.gpus else None
            self._record(kind, key, tier_name, allocation, devices=devices, force=True, gpu_model=gpu_model)

    def release(self, key: str, kind: str | None = None) -> None:
        """Let go of what ``key`` holds (``kind``: default, what it was held as here, else a server)."""
        self.allocations.pop(key, None)
        held_as = self._kinds.pop(key, None)
        if self.ledger is not None:
            self.ledger.release(kind or held_as or "server", key)

    @abstractmethod
    def server_spawner(
        self,
        parent: Spawner,
        tier: Tier | None,
        env: Environment | None,
        names: dict[str, str],
        allocation: Allocation,
        datasets: dict[str, DatasetLocation] | None = None,
        overrides: dict | None = None,
    ) -> Spawner:
        """A spawner that runs one notebook server on this site (tier/env None: only to poll/stop).

        ``datasets``: requested dataset name -> its location on this site; ``overrides``: KubeSpawner
        traits from the tier options the user chose (``{value}`` already substituted)."""

    async def poll_server(self, child: Spawner) -> int | None:
        return await child.poll()

    async def stop_server(self, child: Spawner, now: bool = False) -> None:
        await child.stop(now=now)
