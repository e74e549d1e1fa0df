"""Placement properties over random catalogs, site states, usages and requests (hypothesis).

The checks below re-derive ACL, quota, residency and capacity from the catalog on their own
(no placement helper is used), so a rule that placement forgets or gets wrong shows up here."""

from __future__ import annotations

from fnmatch import fnmatchcase

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.placement import Request, Usage, place
from jupyter_hybrid.sites import SiteState

GiB = 1024**3
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1", "local"]
PATTERNS = ["eu-*", "us-*", "*-1", "ap-south-1", "local"]
MODELS = ["NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB MIG 1g.10gb"]
GROUPS = ["ml", "bio", "staff"]
POLICIES = ["never", "when-full", "when-cheaper"]


def subset(items, min_size=0):
    return st.lists(st.sampled_from(items), unique=True, min_size=min_size, max_size=len(items))


def often_empty(items):
    """Mostly no restriction, sometimes some (so that most requests pass the ACL)."""
    return st.one_of(st.just([]), st.just([]), subset(items))


@st.composite
def worlds(draw):
    n_sites = draw(st.integers(1, 6))
    site_names = [f"s{i}" for i in range(n_sites)]
    sites = {}
    for name in site_names:
        kind = draw(st.sampled_from(["local", "kubernetes"]))
        spec = {
            "kind": kind,
            "region": draw(st.sampled_from(REGIONS)),
            "on_prem": draw(st.booleans()),
            "cost_per_hour": draw(st.sampled_from([0.0, 1.0, 2.5, 4.0])),
        }
        if kind == "kubernetes" and draw(st.booleans()):
            spec["provision_seconds"] = draw(st.sampled_from([60.0, 300.0]))
        sites[name] = spec
    env_names = ["e0", "e1", "e2"][: draw(st.integers(1, 3))]
    environments = {e: {"groups": draw(often_empty(GROUPS))} for e in env_names}
    tiers = {}
    for i in range(draw(st.integers(1, 4))):
        gpu = draw(st.sampled_from([0, 0, 1, 2, 3]))
        tier = {"cpu": draw(st.sampled_from([1, 2, 8])), "memory": "4G", "gpu": gpu}
        if gpu:
            tier["gpu_model"] = draw(st.sampled_from([None, "A100", "H100"]))
            if tier["gpu_model"] == "A100" and draw(st.booleans()):
                tier["mig"] = "1g.10gb"
        tier["sites"] = draw(often_empty(site_names))
        tier["environments"] = draw(often_empty(env_names))
        tier["groups"] = draw(often_empty(GROUPS))
        tiers[f"t{i}"] = tier
    datasets = {}
    for i in range(draw(st.integers(0, 3))):
        where = draw(subset(site_names, min_size=1))
        datasets[f"d{i}"] = {
            "regions": draw(subset(PATTERNS, min_size=1) | st.just([])),
            "locations": {s: {"url": f"s3://b/d{i}"} for s in where},
            "groups": draw(often_empty(GROUPS)),
        }

    def limits():
        return {
            "gpus": draw(st.one_of(st.none(), st.integers(0, 8))),
            "cpu": draw(st.one_of(st.none(), st.sampled_from([4, 16]))),
        }

    quotas = {"per_user": limits(), "per_group": {g: limits() for g in draw(subset(GROUPS))}}
    catalog = parse_catalog(
        {
            "sites": sites,
            "tiers": tiers,
            "environments": environments,
            "datasets": datasets,
            "quotas": quotas,
            "placement": {"burst": draw(st.sampled_from(POLICIES))},
        }
    )
    states = {}
    for name, spec in catalog.sites.items():
        if draw(st.integers(0, 9)) == 0:
            continue  # no live state
        totals = {m: draw(st.integers(0, 8)) for m in draw(subset(MODELS))}
        free = {m: draw(st.sampled_from([0, n // 2, n])) for m, n in totals.items()}
        cpu = draw(st.sampled_from([1.0, 16.0, 64.0]))
        reachable = draw(st.integers(0, 5)) > 0
        states[name] = SiteState(
            name=name,
            kind=spec.kind,
            region=spec.region if draw(st.integers(0, 9)) else draw(st.sampled_from(REGIONS)),
            on_prem=spec.on_prem,
            cost_per_hour=spec.cost_per_hour,
            prices={t: draw(st.sampled_from([0.5, 3.0])) for t in draw(subset(list(catalog.tiers)))},
            reachable=reachable,
            error=None if reachable else "down",
            cpu_total=cpu,
            cpu_free=draw(st.sampled_from([0.0, cpu / 2, cpu, cpu])),
            memory_total=64 * GiB,
            memory_free=draw(st.sampled_from([0, 64 * GiB, 64 * GiB])),
            gpus_total=totals,
            gpus_free=free,
            provision_seconds=spec.provision_seconds,
        )
    usage = Usage(
        user_gpus=draw(st.integers(0, 6)),
        user_cpu=float(draw(st.integers(0, 12))),
        group_gpus={g: draw(st.integers(0, 8)) for g in draw(subset(GROUPS))},
        group_cpu={g: float(draw(st.integers(0, 16))) for g in draw(subset(GROUPS))},
    )
    names = list(catalog.datasets) or ["unknown"]
    request = Request(
        user="u",
        groups=frozenset(draw(subset(GROUPS, min_size=1))),
        tier=draw(st.sampled_from(list(catalog.tiers))),
        environment=draw(st.sampled_from(env_names)),
        datasets=tuple(draw(st.lists(st.sampled_from(names), max_size=2) | st.just([]))),
        usage=usage,
    )
    return catalog, states, request


def allowed(groups_needed, groups) -> bool:
    return not groups_needed or bool(set(groups_needed) & groups)


def units(tier, counts) -> int:
    """GPUs (or MIG slices) of ``counts`` usable by ``tier``, re-derived from the key format."""
    total = 0
    for model, n in counts.items():
        is_mig = " MIG " in model
        if tier.mig and not model.endswith(f" MIG {tier.mig}"):
            continue
        if not tier.mig and is_mig:
            continue
        if tier.gpu_model and tier.gpu_model.lower() not in model.lower():
            continue
        total += n
    return total


def fits_now(tier, state) -> bool:
    if not state.reachable or units(tier, state.gpus_free) < tier.gpu:
        return False
    if tier.cpu > state.cpu_total or tier.memory > state.memory_total:
        return False
    return state.kind == "local" or (tier.cpu <= state.cpu_free and tier.memory <= state.memory_free)


def may_process(catalog, request, site, state) -> bool:
    for name in request.datasets:
        dataset = catalog.datasets[name]
        if site not in dataset.locations:
            return False
        for region in {catalog.sites[site].region, state.region}:
            if dataset.regions and not any(fnmatchcase(region, p) for p in dataset.regions):
                return False
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_no_decision_violates_acl_quota_residency_or_capacity(world):
    catalog, states, request = world
    decision = place(catalog, request, states)
    if decision.site is None:
        assert decision.reasons, "a refusal must say why"
        assert all(isinstance(r, str) and r for r in decision.reasons)
        return
    tier, env = catalog.tiers[request.tier], catalog.environments[request.environment]
    site, state = decision.site, states[decision.site]
    # ACL
    assert allowed(tier.groups, request.groups)
    assert allowed(env.groups, request.groups)
    assert not tier.environments or request.environment in tier.environments
    for name in request.datasets:
        assert name in catalog.datasets
        assert allowed(catalog.datasets[name].groups, request.groups)
    # quota
    quotas, usage = catalog.quotas, request.usage
    if tier.gpu and quotas.per_user.gpus is not None:
        assert usage.user_gpus + tier.gpu <= quotas.per_user.gpus
    if quotas.per_user.cpu is not None:
        assert usage.user_cpu + tier.cpu <= quotas.per_user.cpu
    for group in request.groups:
        limits = quotas.per_group.get(group)
        if limits and tier.gpu and limits.gpus is not None:
            assert usage.group_gpus.get(group, 0) + tier.gpu <= limits.gpus
        if limits and limits.cpu is not None:
            assert usage.group_cpu.get(group, 0) + tier.cpu <= limits.cpu
    # ranking, residency and capacity
    assert decision.ranked[0] == site
    assert len(set(decision.ranked)) == len(decision.ranked)
    for name in decision.ranked:
        assert name in catalog.tier_sites(request.tier)
        assert states[name].reachable
        assert may_process(catalog, request, name, states[name]), f"residency broken on {name}"
        if catalog.placement.burst == "never":
            assert catalog.sites[name].on_prem
    if decision.wait_seconds is None:
        assert fits_now(tier, state)
    else:
        assert decision.wait_seconds == state.provision_seconds
        # waiting is chosen only when no candidate could start now
        assert not any(
            fits_now(tier, states[n]) and may_process(catalog, request, n, states[n]) for n in decision.ranked
        )
    assert decision.price == state.price(request.tier)
    if catalog.placement.burst == "never":
        assert catalog.sites[site].on_prem
    if catalog.placement.burst == "when-full" and not catalog.sites[site].on_prem:
        onprem_now = [n for n in decision.ranked if catalog.sites[n].on_prem and fits_now(tier, states[n])]
        assert not onprem_now, f"burst to {site} while {onprem_now} fit on-prem"
    # every site of the tier is either a candidate or has its reason
    explained = {r.split(":", 1)[0] for r in decision.reasons[1:]}
    for name in catalog.tier_sites(request.tier):
        assert name in decision.ranked or name in explained
