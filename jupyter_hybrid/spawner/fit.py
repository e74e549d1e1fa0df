"""Which sites can run an environment: placement ranks sites by tier; a site that cannot run the
chosen environment (an image on the local site, a missing Python prefix) is left out before it."""

from __future__ import annotations

from ..catalog import Catalog
from ..placement import Decision, Request, place
from ..sitedata import SiteState

#: environment -> site -> why it cannot run there (None: it can)
SiteProblems = dict[str, dict[str, str | None]]


def environment_problem(problems: SiteProblems, environment: str) -> str | None:
    """Why an environment can run on no site at all, or None."""
    found = problems.get(environment, {})
    if not found or any(p is None for p in found.values()):
        return None
    return next(iter(found.values()))


def place_with_environment(
    catalog: Catalog, request: Request, states: dict[str, SiteState], problems: SiteProblems
) -> Decision:
    """``place()`` over the tier's sites that can run the request's environment; reasons name the rest."""
    sites = catalog.tier_sites(request.tier)
    found = problems.get(request.environment, {})
    left = [
        f"{s}: environment {request.environment!r} cannot run here: {found[s]}" for s in sites if found.get(s)
    ]
    if not left:
        return place(catalog, request, states)
    ok = [s for s in sites if not found.get(s)]
    if not ok:
        return Decision(None, left)
    tier = catalog.tiers[request.tier].model_copy(update={"sites": ok})
    decision = place(
        catalog.model_copy(update={"tiers": {**catalog.tiers, request.tier: tier}}), request, states
    )
    decision.reasons = [*decision.reasons, *left]
    return decision
