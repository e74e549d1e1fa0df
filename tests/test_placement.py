"""Placement: pure decisions with reasons."""

from __future__ import annotations

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.placement import Request, Usage, place, tier_fit_problem, usage_of
from jupyter_hybrid.placement.rules import gpu_matches, mig_profile
from jupyter_hybrid.sites import SiteState
from jupyter_hybrid.sites.base import Allocation

GiB = 1024**3
CATALOG = parse_catalog(
    {
        "sites": {
            "onprem": {},
            "cloud-eu": {"on_prem": False, "cost_per_hour": 3.0, "region": "eu-west"},
            "cloud-us": {"on_prem": False, "cost_per_hour": 2.0, "region": "us-east"},
        },
        "tiers": {
            "small": {"cpu": 1, "memory": "2G"},
            "a100": {"cpu": 8, "memory": "64G", "gpu": 2, "gpu_model": "A100"},
            "local-only": {"cpu": 1, "memory": "1G", "sites": ["onprem"], "groups": ["staff"]},
        },
    }
)


def state(name, *, on_prem=True, cost=0.0, gpus=None, free=None, cpu=16, mem=128 * GiB, reachable=True):
    return SiteState(
        name=name,
        kind="local",
        region="r",
        on_prem=on_prem,
        cost_per_hour=cost,
        reachable=reachable,
        error=None if reachable else "connection refused",
        cpu_total=cpu,
        cpu_free=cpu,
        memory_total=mem,
        memory_free=mem,
        gpus_total=gpus or {},
        gpus_free=free if free is not None else (gpus or {}),
        gpu_reason=None if gpus else "no NVIDIA driver",
    )


def req(tier, groups=()):
    return Request("u", frozenset(groups), tier, "default")


def test_prefers_on_prem_then_cheapest_cloud():
    states = {
        "onprem": state("onprem"),
        "cloud-eu": state("cloud-eu", on_prem=False, cost=3),
        "cloud-us": state("cloud-us", on_prem=False, cost=2),
    }
    decision = place(CATALOG, req("small"), states)
    assert decision.site == "onprem"
    assert decision.ranked == ["onprem", "cloud-us", "cloud-eu"]
    assert decision.reasons[0].startswith("onprem chosen: on-prem site with the most free cores")


def test_gpu_tiers_need_free_gpus_of_the_model():
    states = {
        "onprem": state("onprem", gpus={"NVIDIA A100-SXM4-80GB": 8}, free={"NVIDIA A100-SXM4-80GB": 1}),
        "cloud-eu": state("cloud-eu", on_prem=False, cost=3, gpus={"NVIDIA H100": 8}),
        "cloud-us": state("cloud-us", on_prem=False, cost=2, gpus={"NVIDIA A100 80GB PCIe": 4}),
    }
    decision = place(CATALOG, req("a100"), states)
    assert decision.site == "cloud-us"
    assert "onprem: needs 2 A100 GPUs; 1 free on onprem" in decision.reasons
    assert "cloud-eu: needs 2 A100 GPUs; 0 free on cloud-eu" in decision.reasons


def test_nothing_fits_says_why_for_each_site():
    states = {
        "onprem": state("onprem"),
        "cloud-eu": state("cloud-eu", reachable=False),
        "cloud-us": state("cloud-us", cpu=4),
    }
    decision = place(CATALOG, req("a100"), states)
    assert decision.site is None
    assert decision.reasons == [
        "onprem: needs 2 A100 GPUs; no GPU on this site (no NVIDIA driver)",
        "cloud-eu: cloud-eu is unreachable: connection refused",
        "cloud-us: needs 2 A100 GPUs; no GPU on this site (no NVIDIA driver)",
    ]


def test_acl_and_site_restriction():
    states = {n: state(n) for n in CATALOG.sites}
    assert place(CATALOG, req("local-only"), states).reasons == [
        "tier 'local-only' is limited to group(s) staff; you are in no group"
    ]
    assert place(CATALOG, req("local-only", ["staff"]), states).ranked == ["onprem"]


def test_too_big_for_the_site():
    tier = CATALOG.tiers["small"]
    assert tier_fit_problem(tier, state("x", cpu=0.5)) == "needs 1 core; x has 0.5"
    assert tier_fit_problem(tier, state("x", mem=GiB)) == "needs 2 GiB memory; x has 1 GiB"
    assert tier_fit_problem(tier, state("x")) is None


def test_local_room_is_the_totals_times_overcommit_less_what_is_reserved():
    from jupyter_hybrid.catalog.model import Overcommit

    tier = CATALOG.tiers["small"]  # 1 core, 2 GiB
    local = SiteState("x", "local", "r", cpu_total=2, cpu_free=0, memory_total=8 * GiB, memory_free=6 * GiB)
    local.cpu_reserved, local.memory_reserved = 2.0, 2 * GiB  # two 1-core servers run
    assert (
        tier_fit_problem(tier, local)
        == "needs 1 core; 0 of 2 cores free (2 reserved by running servers) on x"
    )
    assert tier_fit_problem(tier, local, Overcommit(cpu=1.5)) is None  # 3 cores promised, 2 held
    local.cpu_reserved = 3.0  # overcommitted: more reserved than the machine has
    assert tier_fit_problem(tier, local, Overcommit(cpu=1.5)) == (
        "needs 1 core; running servers reserve 3 of the 3 cores (2 × overcommit 1.5) it may promise on x"
    )
    local.memory_reserved = 7 * GiB
    assert tier_fit_problem(tier, local, Overcommit(cpu=4)) == (
        "needs 2 GiB memory; 1 GiB of 8 GiB memory free (7 GiB reserved by running servers) on x"
    )
    assert tier_fit_problem(tier, local, Overcommit(cpu=4, memory=1.25)) is None
    # a site that reports no reservations (Kubernetes: the scheduler's figures) fits on what is free
    cluster = SiteState(
        "k", "kubernetes", "r", cpu_total=64, cpu_free=0.5, memory_total=GiB * 64, memory_free=GiB * 64
    )
    assert tier_fit_problem(tier, cluster) == "needs 1 core; 0.5 free on k"


# --- every rule, in order, on a hybrid catalog ------------------------------------------------------


A100 = "NVIDIA A100-SXM4-80GB"


def hybrid(burst="when-full", **extra):
    data = {
        "sites": {
            "onprem-a": {"kind": "kubernetes", "region": "eu-fra"},
            "onprem-b": {"kind": "kubernetes", "region": "eu-ams"},
            "cloud-eu": {
                "kind": "kubernetes",
                "region": "eu-west-1",
                "on_prem": False,
                "cost_per_hour": 3.5,
                "prices": {"a100": 2.9},
            },
            "cloud-us": {
                "kind": "kubernetes",
                "region": "us-east-1",
                "on_prem": False,
                "cost_per_hour": 2.0,
                "prices": {"a100": 2.5},
                "provision_seconds": 300,
                "gpu_models": {"A100": {}},
            },
        },
        "tiers": {
            "cpu": {"cpu": 2, "memory": "4G", "default": True},
            "a100": {"cpu": 8, "memory": "32G", "gpu": 2, "gpu_model": "A100"},
            "mig": {"cpu": 2, "memory": "8G", "gpu": 1, "gpu_model": "A100", "mig": "1g.10gb"},
            "staff": {"cpu": 1, "memory": "1G", "groups": ["staff"], "environments": ["default"]},
        },
        "environments": {"default": {"default": True}, "secret": {"groups": ["staff"]}},
        "datasets": {
            "claims": {
                "regions": ["eu-*"],
                "locations": {
                    "onprem-a": {"pvc": "claims"},
                    "cloud-eu": {"url": "s3://eu/claims"},
                    "cloud-us": {"url": "s3://us/claims"},
                },
            },
            "open": {
                "locations": {
                    s: {"url": "s3://open"} for s in ("onprem-a", "onprem-b", "cloud-eu", "cloud-us")
                }
            },
            "hr": {"groups": ["staff"], "locations": {"onprem-a": {"pvc": "hr"}}},
        },
        "quotas": {"per_user": {"gpus": 4, "cpu": 16}, "per_group": {"ml-team": {"gpus": 16, "cpu": 64}}},
        "placement": {"burst": burst},
        **extra,
    }
    return parse_catalog(data)


def k8s(name, catalog, *, total=8, free=None, cpu=64, cpu_free=None, reachable=True, mig=None):
    spec = catalog.sites[name]
    gpus = {A100: total}
    gpus_free = {A100: total if free is None else free}
    if mig is not None:
        gpus[f"{A100} MIG 1g.10gb"] = mig[0]
        gpus_free[f"{A100} MIG 1g.10gb"] = mig[1]
    return SiteState(
        name=name,
        kind="kubernetes",
        region=spec.region,
        on_prem=spec.on_prem,
        cost_per_hour=spec.cost_per_hour,
        prices=dict(spec.prices),
        provision_seconds=spec.provision_seconds,
        reachable=reachable,
        error=None if reachable else "connection refused",
        cpu_total=cpu,
        cpu_free=cpu if cpu_free is None else cpu_free,
        memory_total=512 * GiB,
        memory_free=512 * GiB,
        gpus_total=gpus,
        gpus_free=gpus_free,
    )


def all_states(catalog, **per_site):
    return {n: k8s(n, catalog, **per_site.get(n.replace("-", "_"), {})) for n in catalog.sites}


def ask(tier="a100", groups=("ml-team",), env="default", datasets=(), usage=Usage(), user="alice"):
    return Request(user, frozenset(groups), tier, env, tuple(datasets), usage)


# a. access


def test_acl_tier_environment_and_unknown_names():
    cat = hybrid()
    states = all_states(cat)
    assert place(cat, ask("staff"), states).reasons == [
        "tier 'staff' is limited to group(s) staff; you are in ml-team"
    ]
    assert place(cat, ask("cpu", env="secret"), states).reasons == [
        "environment 'secret' is limited to group(s) staff; you are in ml-team"
    ]
    assert place(cat, ask("staff", groups=["staff"], env="secret"), states).reasons == [
        "tier 'staff' runs only environment(s) default, not 'secret'"
    ]
    assert place(cat, ask("nope"), states).reasons == [
        "unknown tier 'nope'; known tiers: cpu, a100, mig, staff"
    ]
    assert place(cat, ask(env="nope"), states).reasons == [
        "unknown environment 'nope'; known environments: default, secret"
    ]


def test_acl_datasets():
    cat = hybrid()
    states = all_states(cat)
    assert place(cat, ask(datasets=["nope"]), states).reasons == [
        "unknown dataset 'nope'; known datasets: claims, open, hr"
    ]
    assert place(cat, ask(datasets=["hr"]), states).reasons == [
        "dataset 'hr' is limited to group(s) staff; you are in ml-team"
    ]
    assert place(cat, ask("cpu", groups=["staff"], datasets=["hr"]), states).site == "onprem-a"
    bare = parse_catalog({"sites": {"s": {}}, "tiers": {"t": {"cpu": 1, "memory": "1G"}}})
    assert place(bare, ask("t", datasets=["x"]), {}).reasons == [
        "unknown dataset 'x': the catalog declares no datasets"
    ]


# b. quotas


def test_user_gpu_quota_exact_reason():
    cat = hybrid()
    decision = place(cat, ask(usage=Usage(user_gpus=4)), all_states(cat))
    assert decision.site is None
    assert decision.reasons == ["quota: you use 4 of 4 GPUs; this tier needs 2"]
    assert place(cat, ask(usage=Usage(user_gpus=2)), all_states(cat)).site == "onprem-a"
    # a CPU tier adds no GPU: a full GPU quota does not stop it
    assert place(cat, ask("cpu", usage=Usage(user_gpus=4)), all_states(cat)).site == "onprem-a"


def test_user_cpu_and_group_quotas():
    cat = hybrid()
    states = all_states(cat)
    assert place(cat, ask("cpu", usage=Usage(user_cpu=15)), states).reasons == [
        "quota: you use 15 of 16 cores; this tier needs 2"
    ]
    usage = Usage(group_gpus={"ml-team": 15}, group_cpu={"ml-team": 60})
    assert place(cat, ask(usage=usage), states).reasons == [
        "quota: group ml-team uses 15 of 16 GPUs; this tier needs 2",
        "quota: group ml-team uses 60 of 64 cores; this tier needs 8",
    ]
    # another group's usage does not count; a group with no quota is not limited
    assert place(cat, ask(groups=["other"], usage=usage), states).site == "onprem-a"


def test_usage_of_sums_user_and_groups():
    allocations = [
        Allocation(cpu=8, memory=GiB, gpu_count=2, user="alice", groups=["ml", "all"]),
        Allocation(cpu=2, memory=GiB, gpu_count=0, user="alice", groups=["ml"]),
        Allocation(cpu=4, memory=GiB, gpu_count=1, user="bob", groups=["ml", "ml"]),
        Allocation(cpu=1, memory=GiB, gpu_count=3, user="carol", groups=[]),
    ]
    usage = usage_of(allocations, "alice")
    assert (usage.user_gpus, usage.user_cpu) == (2, 10)
    assert usage.group_gpus == {"ml": 3, "all": 2}
    assert usage.group_cpu == {"ml": 14, "all": 8}
    assert usage_of([], "x") == Usage()
    only = usage_of(allocations, "alice", ["ml", "nope"])
    assert (only.user_gpus, only.group_gpus, only.group_cpu) == (2, {"ml": 3}, {"ml": 14})
    assert usage_of(iter(allocations), "carol").user_gpus == 3


# c. residency


def test_residency_region_and_location():
    cat = hybrid()
    decision = place(cat, ask("cpu", datasets=["claims"]), all_states(cat))
    assert decision.site == "onprem-a"
    assert decision.ranked == ["onprem-a", "cloud-eu"]
    assert (
        "cloud-us: dataset 'claims' may only be processed in eu-*; cloud-us is in us-east-1"
        in decision.reasons
    )
    assert "onprem-b: dataset 'claims' has no location on onprem-b" in decision.reasons


def test_residency_uses_the_state_region_too():
    cat = hybrid()
    states = all_states(cat)
    states["onprem-a"].region = "us-west-2"  # a state that disagrees with the catalog is not trusted
    decision = place(cat, ask("cpu", datasets=["claims"]), states)
    assert decision.site == "cloud-eu"
    assert (
        "onprem-a: dataset 'claims' may only be processed in eu-*; onprem-a is in us-west-2"
        in decision.reasons
    )


def test_residency_with_nothing_allowed_says_why():
    cat = hybrid()
    decision = place(cat, ask("cpu", datasets=["claims", "hr"], groups=["staff"]), all_states(cat))
    assert decision.site == "onprem-a"  # hr lives only on onprem-a, claims may be there
    states = all_states(cat, onprem_a={"reachable": False})
    decision = place(cat, ask("cpu", datasets=["claims", "hr"], groups=["staff"]), states)
    assert decision.site is None
    assert decision.reasons == [
        "onprem-a: onprem-a is unreachable: connection refused",
        "onprem-b: dataset 'claims' has no location on onprem-b",
        "cloud-eu: dataset 'hr' has no location on cloud-eu",
        "cloud-us: dataset 'claims' may only be processed in eu-*; cloud-us is in us-east-1",
    ]


# d. fit


def test_mig_slices_are_their_own_model():
    assert mig_profile(f"{A100} MIG 1g.10gb") == "1g.10gb"
    assert mig_profile("A100-SXM4-40GB-MIG-3g.20gb") == "3g.20gb"
    assert mig_profile(A100) is None
    cat = hybrid()
    mig, a100 = cat.tiers["mig"], cat.tiers["a100"]
    assert gpu_matches(mig, f"{A100} MIG 1g.10gb") and not gpu_matches(mig, A100)
    assert not gpu_matches(mig, f"{A100} MIG 2g.20gb")
    assert gpu_matches(a100, A100) and not gpu_matches(a100, f"{A100} MIG 1g.10gb")
    states = all_states(cat, onprem_a={"mig": (7, 0)}, onprem_b={"mig": (7, 3)})
    for s in ("cloud-eu", "cloud-us"):
        states[s].reachable, states[s].error = False, "down"
    decision = place(cat, ask("mig"), states)
    assert decision.site == "onprem-b"
    assert "onprem-a: needs 1 A100 MIG 1g.10gb slice; 0 free on onprem-a" in decision.reasons
    # whole-GPU tiers do not count MIG slices as GPUs
    states = all_states(cat, onprem_a={"total": 0, "free": 0, "mig": (7, 7)})
    assert "onprem-a: needs 2 A100 GPUs; 0 free on onprem-a" in place(cat, ask(), states).reasons


def test_kubernetes_sites_need_free_cores():
    cat = hybrid()
    states = all_states(cat, onprem_a={"cpu_free": 1}, onprem_b={"cpu_free": 1})
    decision = place(cat, ask("cpu"), states)
    assert decision.site == "cloud-us"
    assert "onprem-a: needs 2 cores; 1 free on onprem-a" in decision.reasons


def test_autoscaler_wait_ranks_after_every_site_that_fits_now():
    cat = hybrid()
    full = {"free": 0}
    states = all_states(cat, onprem_a=full, onprem_b=full, cloud_eu={"free": 1}, cloud_us=full)
    decision = place(cat, ask(), states)
    assert decision.site == "cloud-us" and decision.wait_seconds == 300
    assert decision.price == 2.5
    assert decision.reasons[0] == (
        "onprem-a full (8/8 A100); onprem-b full (8/8 A100); no site has capacity now; "
        "cloud-us chosen: its autoscaler adds a node in about 5 min, 2.5 per hour, region us-east-1"
    )
    states["cloud-eu"].gpus_free = {A100: 2}
    decision = place(cat, ask(), states)
    assert decision.ranked == ["cloud-eu", "cloud-us"] and decision.wait_seconds is None
    # an unreachable site cannot grow
    states["cloud-eu"].gpus_free = {A100: 0}
    states["cloud-us"].reachable, states["cloud-us"].error = False, "timeout"
    decision = place(cat, ask(), states)
    assert decision.site is None
    assert "cloud-us: cloud-us is unreachable: timeout" in decision.reasons


# e. ranking and burst policies


def test_when_full_prefers_on_prem_with_most_free_then_name():
    cat = hybrid()
    decision = place(cat, ask(), all_states(cat, onprem_a={"free": 3}, onprem_b={"free": 5}))
    assert decision.ranked == ["onprem-b", "onprem-a", "cloud-us", "cloud-eu"]
    assert decision.reasons == [
        "onprem-b chosen: on-prem site with the most free A100 GPUs (5), no hourly charge, region eu-ams"
    ]
    assert decision.price == 0
    assert place(cat, ask(), all_states(cat)).ranked[:2] == ["onprem-a", "onprem-b"]  # tie: by name


def test_when_full_bursts_to_cheapest_cloud_with_reason():
    cat = hybrid()
    states = all_states(cat, onprem_a={"free": 0}, onprem_b={"free": 1}, cloud_us={"free": 0})
    decision = place(cat, ask(), states)
    assert decision.site == "cloud-eu"
    assert decision.reasons[0] == (
        "onprem-a full (8/8 A100); onprem-b full (7/8 A100); "
        "cloud-eu chosen: cheapest cloud site with capacity, 2.9 per hour, region eu-west-1"
    )
    assert decision.ranked == ["cloud-eu", "cloud-us"]  # cloud-us only after its autoscaler
    assert decision.price == 2.9


def test_never_burst_keeps_to_on_prem():
    cat = hybrid("never")
    states = all_states(cat, onprem_a={"free": 0}, onprem_b={"free": 0})
    decision = place(cat, ask(), states)
    assert decision.site is None
    assert "cloud-eu: cloud site; the burst policy is 'never'" in decision.reasons
    assert place(cat, ask(), all_states(cat)).ranked == ["onprem-a", "onprem-b"]


def test_when_cheaper_orders_all_by_price_on_prem_wins_ties():
    data_sites = {
        "onprem-a": {"kind": "kubernetes", "region": "eu-fra", "cost_per_hour": 3.0},
        "onprem-b": {"kind": "kubernetes", "region": "eu-ams", "cost_per_hour": 2.0},
        "cloud-eu": {"kind": "kubernetes", "region": "eu-west-1", "on_prem": False, "cost_per_hour": 2.0},
        "cloud-us": {"kind": "kubernetes", "region": "us-east-1", "on_prem": False, "cost_per_hour": 1.0},
    }
    cat = parse_catalog(
        {
            "sites": data_sites,
            "tiers": {"cpu": {"cpu": 1, "memory": "1G"}},
            "placement": {"burst": "when-cheaper"},
        }
    )
    decision = place(cat, ask("cpu"), all_states(cat))
    assert decision.ranked == ["cloud-us", "onprem-b", "cloud-eu", "onprem-a"]
    assert (
        decision.reasons[0]
        == "cloud-us chosen: cheapest site with capacity (cloud), 1 per hour, region us-east-1"
    )
    states = all_states(cat, cloud_us={"reachable": False})
    decision = place(cat, ask("cpu"), states)
    assert decision.site == "onprem-b"
    assert decision.reasons[0] == (
        "onprem-b chosen: cheapest site with capacity (on-prem, on-prem wins ties), 2 per hour, region eu-ams"
    )
    assert decision.reasons[1] == "cloud-us: cloud-us is unreachable: connection refused"


def test_no_live_state_and_to_dict():
    cat = hybrid()
    decision = place(cat, ask("cpu"), {"cloud-eu": k8s("cloud-eu", cat)})
    assert decision.site == "cloud-eu"
    assert "onprem-a: no live state" in decision.reasons
    assert decision.to_dict() == {
        "site": "cloud-eu",
        "reasons": decision.reasons,
        "ranked": ["cloud-eu"],
        "price": 3.5,
        "wait_seconds": None,
    }
    assert place(cat, ask("cpu"), {}).to_dict() == {
        "site": None,
        "reasons": [f"{n}: no live state" for n in cat.sites],
    }
