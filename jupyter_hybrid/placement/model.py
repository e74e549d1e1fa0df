"""The data placement works on: what is asked, what is held, and what was decided."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Usage:
    """What is held now across all sites, for quota checks (see ``usage_of``)."""

    user_gpus: int = 0
    user_cpu: float = 0.0
    group_gpus: Mapping[str, int] = field(default_factory=dict)
    group_cpu: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    user: str
    groups: frozenset[str]
    tier: str
    environment: str
    datasets: tuple[str, ...] = ()
    usage: Usage = field(default_factory=Usage)


@dataclass
class Decision:
    """Where to run (``site`` None: nowhere) and why: ``reasons[0]`` explains the choice, then one
    reason per site left out ("site: why"). ``ranked`` lists the candidates, best first."""

    site: str | None
    reasons: list[str] = field(default_factory=list)
    ranked: list[str] = field(default_factory=list)
    price: float | None = None  # per hour on the chosen site
    wait_seconds: float | None = None  # None: starts now (or cannot start); else a node must be added

    def to_dict(self) -> dict:
        out = {"site": self.site, "reasons": self.reasons}
        if self.site is not None:
            out.update(ranked=self.ranked, price=self.price, wait_seconds=self.wait_seconds)
        return out
