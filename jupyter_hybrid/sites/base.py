"""What every site reports and offers, whatever kind of compute it is."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyterhub.spawner import Spawner

    from ..catalog import DatasetLocation, Environment, Site, Tier


class CapacityError(RuntimeError):
    """The site cannot hold the workload now; the message says why."""


@dataclass
class SiteState:
    """A site's live state, as placement sees it (plain data, JSON-serialisable)."""

    name: str
    kind: str
    region: str
    display_name: str = ""
    on_prem: bool = True
    cost_per_hour: float = 0.0
    reachable: bool = True
    error: str | None = None
    cpu_total: float = 0.0
    cpu_free: float = 0.0
    memory_total: int = 0
    memory_free: int = 0
    gpus_total: dict[str, int] = field(default_factory=dict)  # by model
    gpus_free: dict[str, int] = field(default_factory=dict)
    gpu_reason: str | None = None  # why there are no GPUs, when there are none
    prices: dict[str, float] = field(default_factory=dict)  # per tier per hour; else cost_per_hour
    provision_seconds: float | None = None  # time to add a node when full; None: cannot grow

    def price(self, tier: str) -> float:
        return self.prices.get(tier, self.cost_per_hour)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SiteState:
        return cls(**data)


@dataclass
class Allocation:
    """What a running workload holds on a site (kept in the spawner's state across hub restarts)."""

    cpu: float
    memory: int
    gpus: list[int] = field(default_factory=list)  # device indices (local sites)
    gpu_count: int = 0  # GPUs (or MIG slices) held, on any kind of site: what quotas count
    user: str = ""
    groups: list[str] = field(default_factory=list)  # the user's groups when placed (group quotas)

    def to_dict(self) -> dict:
        return asdict(self)


class BaseSite(ABC):
    """One place to run workloads. Servers today; job runs and API deployments plug in later."""

    kind = "base"

    def __init__(self, name: str, spec: Site):
        self.name, self.spec = name, spec
        self.allocations: dict[str, Allocation] = {}

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

        The caller fills ``user``/``groups`` of the returned Allocation (quota accounting)."""

    def restore(self, key: str, allocation: Allocation) -> None:
        """Re-hold what a running workload held (after a hub restart)."""
        self.allocations[key] = allocation

    def release(self, key: str) -> None:
        self.allocations.pop(key, None)

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
