"""Deciding where a workload runs, and saying why, from declarations and site states alone.

Rules, in order: (a) access, (b) quotas, (c) residency per site, then the environment per site
(what each site says it cannot run), (d) fit (now, or after an autoscaler adds a node), (e) ranking
by the burst policy. Unreachable sites are left out with their error. Nothing is precomputed
across calls, so a reloaded catalog applies at once.

The hub (spawn form, REST, start) and ``jupyter hybrid placement explain`` both decide with
``place``, given the same ``environment_problems``, so they cannot disagree."""

from __future__ import annotations

from collections.abc import Mapping

from ..catalog import Catalog
from ..sitedata import SiteState
from .model import Decision, Request
from .rank import Candidate, free_for, rank, why_chosen
from .rules import can_grow, quota_problems, request_problems, residency_problem, tier_fit_problem

#: environment -> site -> why that site cannot run it (None: it can); what the sites say
EnvironmentProblems = Mapping[str, Mapping[str, "str | None"]]


def environment_problems(catalog: Catalog, sites: Mapping[str, object]) -> dict[str, dict[str, str | None]]:
    """Ask each site object (anything with ``environment_problem(env)``, e.g. the hub's registry)
    which catalog environments it cannot run. Pure here: the sites do their own checks."""
    return {
        name: {s: site.environment_problem(env) for s, site in sites.items()}
        for name, env in catalog.environments.items()
    }


def place(
    catalog: Catalog,
    request: Request,
    states: dict[str, SiteState],
    env_problems: EnvironmentProblems | None = None,
) -> Decision:
    """Rank the sites that may and can run ``request``; explain the choice and every site left out.

    ``env_problems``: see ``environment_problems``; a site that cannot run the request's
    environment is left out with the site's reason (None: every site can run every environment)."""
    problems = request_problems(catalog, request)
    if problems:
        return Decision(None, problems)
    tier = catalog.tiers[request.tier]
    problems = quota_problems(catalog, tier, request)
    if problems:
        return Decision(None, problems)
    policy = catalog.placement.burst
    datasets = tuple(dict.fromkeys(request.datasets))
    left_out: list[str] = []
    cannot_run = (env_problems or {}).get(request.environment, {})
    candidates: list[Candidate] = []
    onprem_short: list[SiteState] = []  # on-prem sites that may run it but are full or unreachable
    for name in catalog.tier_sites(request.tier):
        spec = catalog.sites[name]
        state = states.get(name)
        regions = (
            (spec.region,) if state is None or state.region == spec.region else (spec.region, state.region)
        )
        problem = residency_problem(catalog, datasets, name, regions) if datasets else None
        if problem is None and state is None:
            problem = "no live state"
        if problem is None and cannot_run.get(name):
            problem = f"environment {request.environment!r} cannot run here: {cannot_run[name]}"
        if problem:
            left_out.append(f"{name}: {problem}")
            continue
        on_prem = spec.on_prem and state.on_prem
        if policy == "never" and not on_prem:
            left_out.append(f"{name}: cloud site; the burst policy is 'never'")
            continue
        problem = tier_fit_problem(tier, state, spec.overcommit)
        wait = None
        if problem and can_grow(tier, state, spec):
            wait = state.provision_seconds
        if problem and on_prem:
            onprem_short.append(state)
        if problem and wait is None:
            left_out.append(f"{name}: {problem}")
            continue
        candidates.append(
            Candidate(state, on_prem, spec.region, state.price(request.tier), free_for(tier, state), wait)
        )
    if not candidates:
        return Decision(None, left_out or [f"tier {request.tier!r} has no site"])
    ranked = rank(policy, candidates)
    chosen = ranked[0]
    first = why_chosen(tier, policy, chosen, ranked, onprem_short, catalog.currency)
    return Decision(
        chosen.state.name,
        [first, *left_out],
        [c.state.name for c in ranked],
        price=chosen.price,
        wait_seconds=chosen.wait,
    )
