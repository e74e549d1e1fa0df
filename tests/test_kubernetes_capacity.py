"""Capacity of a Kubernetes site from nodes and pods (pure; realistic API JSON)."""

from __future__ import annotations

import pytest
from kubernetes_asyncio.client import V1Container, V1Node, V1NodeStatus, V1ObjectMeta, V1Pod, V1PodSpec

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.sites.kubernetes.capacity import (
    fit_node,
    parse_quantity,
    pod_requests,
    read_nodes,
    site_state,
    tier_keys,
)

from .kubefixtures import node, pod

CATALOG = parse_catalog(
    {
        "sites": {
            "onprem": {
                "kind": "kubernetes",
                "region": "eu-west",
                "prices": {"a100": 1.5},
                "cost_per_hour": 0.5,
                "provision_seconds": 240,
                "gpu_models": {"A100": {"node_selector": {"pool": "a100"}}},
            }
        },
        "tiers": {
            "cpu": {"cpu": 4, "memory": "8G"},
            "a100": {"cpu": 4, "memory": "8G", "gpu": 1, "gpu_model": "A100"},
            "big": {"cpu": 12, "memory": "8G"},
            "mig": {"cpu": 1, "memory": "4G", "gpu": 1, "gpu_model": "A100", "mig": "1g.10gb"},
        },
    }
)
SITE = CATALOG.sites["onprem"]


def test_quantities():
    assert parse_quantity("500m") == 0.5
    assert parse_quantity("16Gi") == 16 * 2**30
    assert parse_quantity("1G") == 1e9
    assert parse_quantity("129e6") == 129e6
    assert parse_quantity(2) == 2.0
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity("lots")


def test_pod_requests_follow_the_scheduler():
    p = pod("p", cpu="250m", memory="1Gi", gpus=2)
    p["spec"]["containers"].append({"name": "side", "resources": {"requests": {"cpu": "250m"}}})
    p["spec"]["initContainers"] = [{"name": "init", "resources": {"requests": {"cpu": "2"}}}]
    p["spec"]["overhead"] = {"cpu": "100m"}
    req = pod_requests(p)
    assert req["cpu"] == pytest.approx(2.1)  # max(0.5, 2) + overhead
    assert req["nvidia.com/gpu"] == 2  # limit only: request defaults to it


def test_free_capacity_per_node_and_model():
    nodes = [
        node("cpu-1", cpu="16", memory="64Gi"),
        node(
            "gpu-1",
            cpu="32",
            memory="256Gi",
            gpus=8,
            product="NVIDIA-A100-SXM4-80GB",
            labels={"pool": "a100"},
        ),
        node("gpu-2", cpu="32", memory="256Gi", gpus=4, product="Tesla-T4"),
        node("down", cpu="64", memory="64Gi", gpus=8, product="Tesla-T4", ready=False),
        node("cordoned", cpu="64", memory="64Gi", unschedulable=True),
        node("mig-1", cpu="32", memory="256Gi", mig={"1g.10gb": 7}, labels={"pool": "a100"}),
    ]
    pods = [
        pod("a", node="cpu-1", cpu="4", memory="16Gi"),
        pod("b", node="gpu-1", cpu="8", memory="32Gi", gpus=3),
        pod("done", node="gpu-1", cpu="8", gpus=5, phase="Succeeded"),  # terminated: frees
        pod("t4", node="gpu-2", cpu="1", gpus=4, namespace="other"),
        pod("slice", node="mig-1", cpu="1", gpus=2, gpu_resource="nvidia.com/mig-1g.10gb"),
        pod("pending", node=None, cpu="8", phase="Pending"),  # not bound: holds nothing yet
        pod("ghost", node="down", cpu="8", gpus=8),
    ]
    free, workloads = read_nodes(nodes, pods, SITE.gpu_models)
    assert [n.name for n in free] == ["cpu-1", "gpu-1", "gpu-2", "mig-1"]
    state = site_state("onprem", SITE, free)
    assert state.cpu_total == 16 + 32 + 32 + 32
    assert state.cpu_free == 12 + 24 + 31 + 31
    assert state.memory_free == (48 + 224 + 255 + 255) * 2**30
    assert state.gpus_total == {"A100": 8, "Tesla-T4": 4, "A100 MIG 1g.10gb": 7}
    assert state.gpus_free == {"A100": 5, "Tesla-T4": 0, "A100 MIG 1g.10gb": 5}
    assert state.region == "eu-west" and state.price("a100") == 1.5 and state.price("cpu") == 0.5
    assert state.provision_seconds == 240 and state.reachable and state.gpu_reason is None
    assert workloads == set()


def test_kubernetes_asyncio_models_are_read_too():
    n = V1Node(
        metadata=V1ObjectMeta(name="m", labels={}),
        status=V1NodeStatus(
            allocatable={"cpu": "8", "memory": "8Gi"},
            conditions=[{"type": "Ready", "status": "True"}],
        ),
    )
    p = V1Pod(
        metadata=V1ObjectMeta(name="x", namespace="d"),
        spec=V1PodSpec(
            node_name="m", containers=[V1Container(name="c", resources={"requests": {"cpu": "2"}})]
        ),
    )
    free, _ = read_nodes([n], [p], {})
    assert free[0].cpu == 6


def test_no_gpu_reason_and_tier_matching():
    state = site_state("onprem", SITE, read_nodes([node("c")], [], {})[0])
    assert state.gpus_total == {} and "nvidia.com/gpu" in state.gpu_reason
    assert site_state("onprem", SITE, []).gpu_reason == "no Ready, schedulable node"
    keys = ["A100", "A100 MIG 1g.10gb", "A100 MIG 3g.40gb", "Tesla-T4"]
    assert tier_keys(keys, "a100", None) == ["A100"]
    assert tier_keys(keys, None, None) == ["A100", "Tesla-T4"]
    assert tier_keys(keys, "A100", "1g.10gb") == ["A100 MIG 1g.10gb"]


def test_fit_is_per_node():
    nodes, _ = read_nodes(
        [node("n1", cpu="8"), node("n2", cpu="8"), node("g", cpu="8", gpus=1, labels={"pool": "a100"})],
        [pod("x", node="g", cpu="6")],
        SITE.gpu_models,
    )
    assert fit_node(nodes, CATALOG.tiers["big"]) is None  # 22 cores free, but 8 per node
    assert fit_node(nodes, CATALOG.tiers["cpu"])[0].name == "n1"
    assert fit_node(nodes, CATALOG.tiers["a100"]) is None  # the A100 node has 2 cores left
    assert fit_node(nodes, CATALOG.tiers["mig"]) is None
