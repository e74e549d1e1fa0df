"""Deciding where a workload runs, and saying why, from declarations and site states alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..catalog import Catalog, Tier, format_bytes
from ..sites.base import SiteState  # plain data; placement imports no site behaviour


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


def access_problem(catalog: Catalog, section: str, name: str, groups: frozenset[str]) -> str | None:
    """Why this user may not use a tier/environment (catalog ACL), or None."""
    allowed = getattr(catalog, section)[name].groups
    if allowed and not groups.intersection(allowed):
        kind = section.rstrip("s")
        mine = ", ".join(sorted(groups)) or "no group"
        return f"{kind} {name!r} is limited to group(s) {', '.join(allowed)}; you are in {mine}"
    return None


def tier_fit_problem(tier: Tier, state: SiteState) -> str | None:
    """Why ``tier`` cannot start on this site now, or None."""
    if not state.reachable:
        return f"{state.name} is unreachable: {state.error}"
    if tier.gpu:
        models = {
            m: n
            for m, n in state.gpus_free.items()
            if not tier.gpu_model or tier.gpu_model.lower() in m.lower()
        }
        free = sum(models.values())
        if free < tier.gpu:
            wanted = f"{tier.gpu} {tier.gpu_model + ' ' if tier.gpu_model else ''}GPU(s)"
            if not state.gpus_total:
                return f"needs {wanted}; no GPU on this site ({state.gpu_reason or 'none found'})"
            return f"needs {wanted}; {free} free on {state.name}"
    if tier.cpu > state.cpu_total:
        return f"needs {tier.cpu:g} cores; {state.name} has {state.cpu_total:g}"
    if tier.memory > state.memory_total:
        return (
            f"needs {format_bytes(tier.memory)} memory; {state.name} has {format_bytes(state.memory_total)}"
        )
    return None


def _rank_key(state: SiteState) -> tuple:
    # on-prem first (already paid for), then the cheapest, then the most free cores
    return (not state.on_prem, state.cost_per_hour, -state.cpu_free, state.name)


def place(catalog: Catalog, request: Request, states: dict[str, SiteState]) -> Decision:
    """Rank the tier's sites that can run the request now; explain every site left out."""
    for section, name in (("tiers", request.tier), ("environments", request.environment)):
        problem = access_problem(catalog, section, name, request.groups)
        if problem:
            return Decision(None, [problem])
    tier = catalog.tiers[request.tier]
    reasons, fits = [], []
    for name in catalog.tier_sites(request.tier):
        state = states.get(name)
        problem = "no live state" if state is None else tier_fit_problem(tier, state)
        if problem:
            reasons.append(f"{name}: {problem}")
        else:
            fits.append(state)
    fits.sort(key=_rank_key)
    if not fits:
        return Decision(None, reasons)
    chosen = fits[0]
    where = "on-prem" if chosen.on_prem else f"cloud, {chosen.cost_per_hour:g}/h"
    reasons.insert(0, f"{chosen.name} chosen ({where}, region {chosen.region})")
    return Decision(chosen.name, reasons, [s.name for s in fits])
