"""Rule e: order the sites that can run a request by the catalog's burst policy, and say why."""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import Tier
from ..sitedata import SiteState
from ..wording import count, price_text, wait_text
from .rules import gpu_label, matching


@dataclass
class Candidate:
    """A site that can run the request now (``wait`` None) or once its autoscaler adds a node."""

    state: SiteState
    on_prem: bool
    region: str
    price: float
    free: float  # free units of what the tier is short of first: matching GPUs, else cores
    wait: float | None = None


def free_for(tier: Tier, state: SiteState) -> float:
    """Free units of what the tier needs most: matching GPUs for GPU tiers, else cores."""
    return matching(tier, state.gpus_free) if tier.gpu else state.cpu_free


def _key(policy: str, c: Candidate) -> tuple:
    if policy == "when-cheaper":  # by price; on-prem wins ties, then the most free
        return (c.wait is not None, c.price, not c.on_prem, -c.free, c.state.name)
    # never / when-full: on-prem by most free; then cloud by price (never: no cloud here)
    if c.on_prem:
        return (c.wait is not None, False, 0.0, -c.free, c.wait or 0.0, c.state.name)
    return (c.wait is not None, True, c.price, -c.free, c.wait or 0.0, c.state.name)


def rank(policy: str, candidates: list[Candidate]) -> list[Candidate]:
    """Best first: every site that fits now before any that fits only after a wait."""
    return sorted(candidates, key=lambda c: _key(policy, c))


def _fullness(tier: Tier, state: SiteState) -> str:
    if not state.reachable:
        return f"{state.name} unreachable"
    if tier.gpu:
        total = matching(tier, state.gpus_total)
        used = total - matching(tier, state.gpus_free)
        return f"{state.name} full ({used}/{total} {gpu_label(tier)})"
    used = state.cpu_total - state.cpu_free
    return f"{state.name} full ({used:g}/{count(state.cpu_total, 'core')})"


def why_chosen(
    tier: Tier,
    policy: str,
    chosen: Candidate,
    ranked: list[Candidate],
    onprem_short: list[SiteState],
    currency: str | None = None,
) -> str:
    """reasons[0]: why this site, in one line (e.g. 'onprem-a full (8/8 A100); cloud-eu chosen: ...')."""
    where = f"{price_text(chosen.price, currency)}, region {chosen.region}"
    name = chosen.state.name
    if chosen.wait is not None:
        head = "no site has capacity now"
        if onprem_short:
            head = "; ".join(_fullness(tier, s) for s in onprem_short) + "; " + head
        return f"{head}; {name} chosen: its autoscaler adds a node in {wait_text(chosen.wait)}, {where}"
    if policy == "when-cheaper":
        tie = any(c is not chosen and c.wait is None and c.price == chosen.price for c in ranked)
        kind = "on-prem" if chosen.on_prem else "cloud"
        extra = ", on-prem wins ties" if tie and chosen.on_prem else ""
        return f"{name} chosen: cheapest site with capacity ({kind}{extra}), {where}"
    if chosen.on_prem:
        what = (
            f"{gpu_label(tier)} GPUs"
            if tier.gpu and not tier.mig
            else (f"{gpu_label(tier)} slices" if tier.gpu else "cores")
        )
        return f"{name} chosen: on-prem site with the most free {what} ({chosen.free:g}), {where}"
    head = (
        "; ".join(_fullness(tier, s) for s in onprem_short) if onprem_short else "no on-prem site can run it"
    )
    return f"{head}; {name} chosen: cheapest cloud site with capacity, {where}"
