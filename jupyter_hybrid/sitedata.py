"""What a site reports (``SiteState``), what a workload holds there (``Allocation``), and the one
rule that says which GPU model serves a tier (``model_serves``).

A leaf: it imports nothing else of ours, so placement (pure) and sites (I/O) both read it without
placement pulling in psutil, NVML or Kubernetes clients, and without an import cycle between them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache


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
    # local sites: what running servers reserve (more than the totals when the site overcommits);
    # None: the site fits by its free figures (Kubernetes: the scheduler's)
    cpu_reserved: float | None = None
    memory_reserved: int | None = None
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


_MIG = re.compile(r"(?:^|[\s_-])mig[\s-]+(\S+)$", re.IGNORECASE)


@lru_cache(maxsize=4096)
def mig_profile(model: str) -> str | None:
    """The MIG profile a GPU-model key names, lower case, or None for a whole GPU.

    Key format (what sites report in ``gpus_total``/``gpus_free``): ``"<GPU model> MIG <profile>"``,
    as ``sites/kubernetes/capacity.py`` writes it (``"A100 MIG 1g.10gb"``) and as NVML names a MIG
    device (``"NVIDIA A100-SXM4-40GB MIG 1g.5gb"``); the GPU feature discovery label form
    ``"A100-SXM4-40GB-MIG-1g.5gb"`` is read the same way."""
    match = _MIG.search(model)
    return match.group(1).lower() if match else None


def model_serves(model: str, gpu_model: str | None, mig: str | None) -> bool:
    """Whether one unit of ``model`` (a GPU-model key) serves a tier asking for ``gpu_model``
    (substring, any case) and ``mig``: a MIG slice of that profile for MIG tiers, a whole GPU else.
    The one matching rule: placement counts with it, sites pick devices or node labels with it."""
    if gpu_model and gpu_model.lower() not in model.lower():
        return False
    return mig_profile(model) == (mig.lower().removeprefix("mig-") if mig else None)
