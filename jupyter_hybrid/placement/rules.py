"""The placement rules, one function each. Each returns a reason a person can read, or None/[]."""

from __future__ import annotations

from fnmatch import fnmatchcase

from ..catalog import Catalog, Site, Tier, format_bytes
from ..catalog.model import Overcommit
from ..quote import quote
from ..sitedata import SiteState, mig_profile, model_serves  # noqa: F401  leaf: no site behaviour
from ..wording import count
from .model import Request

#: longest name the catalog allows (tiers, environments, datasets and tier options are slugs)
MAX_NAME = 63

# --- a. access (catalog ACL) ----------------------------------------------------------------------


def access_problem(catalog: Catalog, section: str, name: str, groups: frozenset[str]) -> str | None:
    """Why this user may not use a tier/environment/dataset (catalog ACL), or None."""
    allowed = getattr(catalog, section)[name].groups
    if allowed and not groups.intersection(allowed):
        kind = section.rstrip("s")
        mine = ", ".join(sorted(groups)) or "no group"
        return f"{kind} {name!r} is limited to group(s) {', '.join(allowed)}; you are in {mine}"
    return None


def default_for(
    catalog: Catalog, section: str, groups: frozenset[str], among: list[str] | None = None
) -> str | None:
    """What a user gets who names no tier/environment: the catalog's default among the items they
    may use (and ``among``, e.g. the tier's environments), else the first of those; None: none."""
    allowed = [
        n
        for n in getattr(catalog, section)
        if (among is None or n in among) and not access_problem(catalog, section, n, groups)
    ]
    return catalog.default_name(section, allowed)


def _unknown(section: str, name: str, known) -> str:
    kind = section.rstrip("s")
    if not known:
        return f"unknown {kind} {quote(name)}: the catalog declares no {section}"
    return f"unknown {kind} {quote(name)}; known {section}: {', '.join(known)}"


def request_problems(catalog: Catalog, request: Request) -> list[str]:
    """Rule a: everything the user may not ask for (unknown names included), in the request's order."""
    problems = []
    for section, name in (("tiers", request.tier), ("environments", request.environment)):
        if name not in getattr(catalog, section):
            problems.append(_unknown(section, name, getattr(catalog, section)))
    if problems:
        return problems
    for section, name in (("tiers", request.tier), ("environments", request.environment)):
        problem = access_problem(catalog, section, name, request.groups)
        if problem:
            problems.append(problem)
    allowed_envs = catalog.tiers[request.tier].environments
    if allowed_envs and request.environment not in allowed_envs:
        problems.append(
            f"tier {request.tier!r} runs only environment(s) {', '.join(allowed_envs)}, "
            f"not {quote(request.environment)}"
        )
    for name in dict.fromkeys(request.datasets):
        if name not in catalog.datasets:
            problems.append(_unknown("datasets", name, catalog.datasets))
        else:
            problem = access_problem(catalog, "datasets", name, request.groups)
            if problem:
                problems.append(problem)
    return problems


# --- b. quotas ------------------------------------------------------------------------------------


def quota_problems(catalog: Catalog, tier: Tier, request: Request) -> list[str]:
    """Rule b: the per-user and per-group limits this tier would exceed, on top of what is held.

    A tier that needs no GPU never trips a GPU quota (it adds nothing to it), even if the quota was
    lowered below what is held."""
    quotas, usage, problems = catalog.quotas, request.usage, []
    mine = quotas.per_user
    if mine.gpus is not None and tier.gpu and usage.user_gpus + tier.gpu > mine.gpus:
        problems.append(f"quota: you use {usage.user_gpus} of {mine.gpus} GPUs; this tier needs {tier.gpu}")
    if mine.cpu is not None and tier.cpu_request and usage.user_cpu + tier.cpu_request > mine.cpu:
        problems.append(
            f"quota: you use {usage.user_cpu:g} of {mine.cpu:g} cores; this tier needs {tier.cpu_request:g}"
        )
    for group in sorted(request.groups):
        limits = quotas.per_group.get(group)
        if limits is None:
            continue
        used = usage.group_gpus.get(group, 0)
        if limits.gpus is not None and tier.gpu and used + tier.gpu > limits.gpus:
            problems.append(
                f"quota: group {group} uses {used} of {limits.gpus} GPUs; this tier needs {tier.gpu}"
            )
        used_cpu = usage.group_cpu.get(group, 0.0)
        if limits.cpu is not None and tier.cpu_request and used_cpu + tier.cpu_request > limits.cpu:
            problems.append(
                f"quota: group {group} uses {used_cpu:g} of {limits.cpu:g} cores; "
                f"this tier needs {tier.cpu_request:g}"
            )
    return problems


# --- c. residency ---------------------------------------------------------------------------------


def residency_problem(
    catalog: Catalog, datasets: tuple[str, ...], site: str, regions: tuple[str, ...]
) -> str | None:
    """Rule c: why these (known) datasets may not be processed on ``site``, or None.

    Every region the site is said to be in (the catalog's, and the live state's if it differs) must
    match one of a dataset's ``regions`` patterns (fnmatch, case-sensitive; empty: anywhere), and the
    dataset must have a location on the site."""
    for name in datasets:
        dataset = catalog.datasets[name]
        if dataset.regions:
            for region in regions:
                if not any(fnmatchcase(region, pattern) for pattern in dataset.regions):
                    where = " or ".join(dataset.regions)
                    return f"dataset {name!r} may only be processed in {where}; {site} is in {region}"
        if site not in dataset.locations:
            return f"dataset {name!r} has no location on {site}"
    return None


# --- d. fit ---------------------------------------------------------------------------------------


def gpu_matches(tier: Tier, model: str) -> bool:
    return model_serves(model, tier.gpu_model, tier.mig)


def matching(tier: Tier, counts: dict[str, int]) -> int:
    """How many units in ``counts`` (by model) serve ``tier``."""
    return sum(n for m, n in counts.items() if gpu_matches(tier, m))


def gpu_label(tier: Tier) -> str:
    """'A100', 'A100 MIG 1g.10gb', 'GPU' (for reasons)."""
    label = tier.gpu_model or "GPU"
    return f"{label} MIG {tier.mig}" if tier.mig else label


def room(state: SiteState, overcommit: Overcommit | None = None) -> tuple[float, float]:
    """Cores and bytes this site can still promise to one more server.

    A site that reports what running servers reserve (local) may promise its totals times the
    catalog's ``overcommit`` ratios, less what is reserved; any other (Kubernetes: the scheduler
    fits requests on nodes) has what it reports free."""
    if state.cpu_reserved is None or state.memory_reserved is None:
        return state.cpu_free, float(state.memory_free)
    ratio = overcommit or Overcommit()
    return (
        state.cpu_total * ratio.cpu - state.cpu_reserved,
        state.memory_total * ratio.memory - state.memory_reserved,
    )


def _short(needs: float, left: float, total: float, reserved: float | None, ratio: float, plain, unit) -> str:
    """'needs 2 cores; 0 of 2 cores free (2 reserved by running servers)'; with overcommit 'needs
    2 cores; running servers reserve 7 of the 8 cores (2 × overcommit 4) it may promise'; without
    reservations (Kubernetes) 'needs 2 cores; 1 free'."""
    if reserved is None:
        return f"needs {unit(needs)}; {plain(max(left, 0))} free"
    if ratio == 1:
        held = f"{plain(reserved)} reserved by running servers"
        return f"needs {unit(needs)}; {plain(max(left, 0))} of {unit(total)} free ({held})"
    promised = f"{unit(total * ratio)} ({plain(total)} × overcommit {ratio:g})"
    return f"needs {unit(needs)}; running servers reserve {plain(reserved)} of the {promised} it may promise"


def tier_fit_problem(tier: Tier, state: SiteState, overcommit: Overcommit | None = None) -> str | None:
    """Rule d: why ``tier`` cannot start on this site now, or None.

    No server may need more than the site has at all; then what the tier reserves (its
    guarantees) must fit in ``room``: what is left of the totals times the site's overcommit
    (local sites), or what the site reports free (Kubernetes)."""
    if not state.reachable:
        return f"{state.name} is unreachable: {state.error}"
    if tier.gpu:
        free = matching(tier, state.gpus_free)
        if free < tier.gpu:
            unit = (
                f"{gpu_label(tier)} slice"
                if tier.mig
                else f"{tier.gpu_model + ' ' if tier.gpu_model else ''}GPU"
            )
            wanted = count(tier.gpu, unit)
            if not state.gpus_total:
                return f"needs {wanted}; no GPU on this site ({state.gpu_reason or 'none found'})"
            return f"needs {wanted}; {free} free on {state.name}"
    if tier.cpu_request > state.cpu_total:
        return f"needs {count(tier.cpu_request, 'core')}; {state.name} has {state.cpu_total:g}"
    if tier.memory_request > state.memory_total:
        needs, has = format_bytes(tier.memory_request), format_bytes(state.memory_total)
        return f"needs {needs} memory; {state.name} has {has}"
    ratio = overcommit or Overcommit()
    cpu_room, memory_room = room(state, ratio)
    if tier.cpu_request > cpu_room:
        cores = (lambda n: f"{n:g}", lambda n: count(n, "core"))
        why = _short(tier.cpu_request, cpu_room, state.cpu_total, state.cpu_reserved, ratio.cpu, *cores)
        return f"{why} on {state.name}"
    if tier.memory_request > memory_room:
        memory = (format_bytes, lambda n: f"{format_bytes(n)} memory")
        why = _short(
            tier.memory_request, memory_room, state.memory_total, state.memory_reserved, ratio.memory, *memory
        )
        return f"{why} on {state.name}"
    return None


def can_grow(tier: Tier, state: SiteState, spec: Site | None) -> bool:
    """Whether an autoscaler could add a node that runs ``tier``: the site is reachable, declares
    ``provision_seconds``, and has (or declares in ``gpu_models``) the GPU model the tier needs."""
    if state.provision_seconds is None or not state.reachable:
        return False
    if not tier.gpu:
        return True
    declared = list(spec.gpu_models) if spec is not None else []
    return any(gpu_matches(tier, m) for m in (*state.gpus_total, *declared))
