"""What every site reports and offers, whatever kind of compute it is."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from ..sitedata import Allocation, SiteState  # plain data, re-exported here for callers

if TYPE_CHECKING:
    from jupyterhub.spawner import Spawner

    from ..catalog import DatasetLocation, Environment, Site, Tier


__all__ = ["Allocation", "BaseSite", "CapacityError", "SiteState"]


class CapacityError(RuntimeError):
    """The site cannot hold the workload now; the message says why."""


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
