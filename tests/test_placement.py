"""Placement: pure decisions with reasons."""

from __future__ import annotations

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.placement import Request, place, tier_fit_problem
from jupyter_hybrid.sites import SiteState

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
    assert "onprem: needs 2 A100 GPU(s); 1 free on onprem" in decision.reasons
    assert "cloud-eu: needs 2 A100 GPU(s); 0 free on cloud-eu" in decision.reasons


def test_nothing_fits_says_why_for_each_site():
    states = {
        "onprem": state("onprem"),
        "cloud-eu": state("cloud-eu", reachable=False),
        "cloud-us": state("cloud-us", cpu=4),
    }
    decision = place(CATALOG, req("a100"), states)
    assert decision.site is None
    assert decision.reasons == [
        "onprem: needs 2 A100 GPU(s); no GPU on this site (no NVIDIA driver)",
        "cloud-eu: cloud-eu is unreachable: connection refused",
        "cloud-us: needs 2 A100 GPU(s); no GPU on this site (no NVIDIA driver)",
    ]


def test_acl_and_site_restriction():
    states = {n: state(n) for n in CATALOG.sites}
    assert place(CATALOG, req("local-only"), states).reasons == [
        "tier 'local-only' is limited to group(s) staff; you are in no group"
    ]
    assert place(CATALOG, req("local-only", ["staff"]), states).ranked == ["onprem"]


def test_too_big_for_the_site():
    tier = CATALOG.tiers["small"]
    assert tier_fit_problem(tier, state("x", cpu=0.5)) == "needs 1 cores; x has 0.5"
    assert tier_fit_problem(tier, state("x", mem=GiB)) == "needs 2 GiB memory; x has 1 GiB"
    assert tier_fit_problem(tier, state("x")) is None
