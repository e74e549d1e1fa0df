"""Every pod manifest a Kubernetes site produces, built by KubeSpawner's own get_pod_manifest()
and validated against the official Kubernetes 1.30 schemas (kubernetes-validate, strict)."""

from __future__ import annotations

import asyncio

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient
from traitlets.config import Config

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.sites.kubernetes import KubernetesSite
from jupyter_hybrid.sites.kubernetes.capacity import read_nodes

from .kmocktools import KMock
from .kubefixtures import node
from .test_kubernetes_site import hybrid_parent


@pytest.fixture
def cat(tmp_path):
    kubeconfig = KMock.write_kubeconfig(str(tmp_path / "kubeconfig"), 9)  # never contacted here
    return parse_catalog(
        {
            "sites": {
                "onprem": {
                    "kind": "kubernetes",
                    "kubeconfig": kubeconfig,
                    "namespace": "jhub",
                    "gpu_models": {
                        "A100": {
                            "node_selector": {"pool": "a100"},
                            "tolerations": [
                                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                            ],
                        }
                    },
                    "kubespawner": {"image_pull_policy": "Always", "environment": {"SITE_VAR": "onprem"}},
                },
                "laptop": {},
            },
            "tiers": {
                "cpu": {"cpu": 2, "memory": "4G", "kubespawner_override": {"cpu_guarantee": 0.5}},
                "a100": {"cpu": 8, "memory": "32G", "gpu": 2, "gpu_model": "A100"},
                "h100": {"cpu": 8, "memory": "32G", "gpu": 1, "gpu_model": "H100"},
                "slice": {"cpu": 2, "memory": "8G", "gpu": 1, "gpu_model": "A100", "mig": "1g.10gb"},
                "gpu-only": {"gpu": 1, "gpu_model": "A100"},  # a z2jh profile that sets only a GPU
                "burst": {
                    "cpu_guarantee": 0.5,
                    "cpu_limit": 4,
                    "memory_guarantee": "1G",
                    "memory_limit": "8G",
                },
                "capped": {"cpu_limit": 2, "memory_limit": "2G"},
            },
            "environments": {
                "lab": {
                    "image": "quay.io/jupyter/scipy-notebook:2024-07-08",
                    "kubespawner_override": {"extra_labels": {"env": "lab"}},
                }
            },
            "datasets": {
                "claims": {"locations": {"onprem": {"pvc": "claims-data", "sub_path": "v2"}}},
                "scratch": {"locations": {"onprem": {"pvc": "scratch", "read_only": False}}},
                "genomes": {"locations": {"onprem": {"host_path": "/mnt/genomes"}}},
                "lake": {"locations": {"onprem": {"url": "s3://lake/raw", "secret": "lake-creds"}}},
                "public": {"locations": {"onprem": {"url": "https://data.example.org/x.parquet"}}},
            },
        }
    )


def manifest(cat, tier, datasets=(), overrides=None, config=None, nodes=()):
    site = KubernetesSite("onprem", cat.sites["onprem"])
    site._nodes = read_nodes(list(nodes), [], site.spec.gpu_models)[0]
    where = {name: cat.datasets[name].locations["onprem"] for name in datasets}

    async def build():
        parent = hybrid_parent("erin")
        if config is not None:
            parent.config.merge(config)
            parent = type(parent)(**{**parent._init_kwargs, "config": parent.config})
            parent.placement_reasons = ["onprem chosen"]
        names = {"tier": tier, "site": "onprem", "environment": "lab"}
        child = site.server_spawner(
            parent, cat.tiers[tier], cat.environments["lab"], names, None, where, overrides or {}
        )
        pod = await child.get_pod_manifest()
        async with ApiClient() as api:
            data = api.sanitize_for_serialization(pod)
        await site.close()
        return child, data

    child, data = asyncio.run(build())
    kubernetes_validate.validate(data, "1.30", strict=True)  # raises ValidationError with the path
    return child, data


def container(data):
    return data["spec"]["containers"][0]


def env_of(data):
    return {e["name"]: e.get("value") for e in container(data)["env"]}


def test_cpu_tier(cat):
    child, data = manifest(cat, "cpu")
    c = container(data)
    assert c["image"] == "quay.io/jupyter/scipy-notebook:2024-07-08" and c["imagePullPolicy"] == "Always"
    assert c["resources"]["limits"]["cpu"] == 2.0 and c["resources"]["requests"]["cpu"] == 0.5
    assert child.namespace == "jhub"
    env = env_of(data)
    assert env["SITE_VAR"] == "onprem" and env["JUPYTER_HYBRID_SITE"] == "onprem"
    assert (
        env["JUPYTER_HYBRID_GPUS"] == "0"
        and env["JUPYTER_HYBRID_PLACEMENT"] == "onprem chosen (on-prem, region eu-west)"
    )
    assert data["metadata"]["labels"]["env"] == "lab"
    assert data["metadata"]["annotations"]["hybrid.jupyter.org/workload"] == "erin/"
    assert "nvidia.com/gpu" not in c["resources"]["limits"]


def test_gpu_tier_with_declared_model(cat):
    _, data = manifest(cat, "a100")
    assert container(data)["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container(data)["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert data["spec"]["nodeSelector"] == {"pool": "a100"}
    assert data["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_gpu_model_found_by_product_label(cat):
    nodes = [node("h", gpus=8, product="NVIDIA-H100-80GB-HBM3"), node("t", gpus=1, product="Tesla-T4")]
    _, data = manifest(cat, "h100", nodes=nodes)
    term = data["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    expr = term["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert expr == {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-H100-80GB-HBM3"]}


def test_mig_slice(cat):
    _, data = manifest(cat, "slice")
    limits = container(data)["resources"]["limits"]
    assert limits["nvidia.com/mig-1g.10gb"] == "1" and "nvidia.com/gpu" not in limits
    assert data["spec"]["nodeSelector"] == {"pool": "a100"}


def test_datasets_pvc_hostpath_url_secret(cat):
    hub_volume = {"name": "shared", "persistentVolumeClaim": {"claimName": "hub-shared"}}
    config = Config()
    config.KubeSpawner.volumes = [hub_volume]
    config.KubeSpawner.volume_mounts = [{"name": "shared", "mountPath": "/shared"}]
    _, data = manifest(cat, "cpu", ["claims", "scratch", "genomes", "lake", "public"], config=config)
    volumes = {v["name"]: v for v in data["spec"]["volumes"]}
    assert volumes["shared"] == hub_volume  # the hub's own volumes stay
    assert volumes["dataset-claims"]["persistentVolumeClaim"] == {
        "claimName": "claims-data",
        "readOnly": True,
    }
    assert volumes["dataset-genomes"]["hostPath"] == {"path": "/mnt/genomes", "type": "Directory"}
    mounts = {m["name"]: m for m in container(data)["volumeMounts"]}
    assert mounts["dataset-claims"] == {
        "name": "dataset-claims",
        "mountPath": "/data/claims",
        "readOnly": True,
        "subPath": "v2",
    }
    assert mounts["dataset-scratch"]["readOnly"] is False
    env = env_of(data)
    assert env["JUPYTER_HYBRID_DATASET_CLAIMS"] == "/data/claims"
    assert env["JUPYTER_HYBRID_DATASET_GENOMES"] == "/data/genomes"
    assert env["JUPYTER_HYBRID_DATASET_LAKE"] == "s3://lake/raw"
    assert env["JUPYTER_HYBRID_DATASET_PUBLIC"] == "https://data.example.org/x.parquet"
    assert container(data)["envFrom"] == [{"secretRef": {"name": "lake-creds"}}]


def test_override_order_and_tier_options(cat):
    child, data = manifest(
        cat, "cpu", overrides={"image": "quay.io/me/custom:1", "environment": {"SITE_VAR": None}}
    )
    assert container(data)["image"] == "quay.io/me/custom:1"  # the user's option comes last
    assert "SITE_VAR" not in env_of(data)  # None removes, as in kubespawner_override
    assert child.profile_list == []


def test_unknown_override_keys_are_refused(cat):
    with pytest.raises(
        ValueError, match=r"tier options: 'cpu_limt' is not a KubeSpawner setting; did you mean 'cpu_limit'"
    ):
        manifest(cat, "cpu", overrides={"cpu_limt": 4})
    bad = cat.model_copy(
        update={
            "sites": {
                **cat.sites,
                "onprem": cat.sites["onprem"].model_copy(update={"kubespawner": {"nodeSelector": {}}}),
            }
        }
    )
    with pytest.raises(ValueError, match=r"sites.onprem.kubespawner: 'nodeSelector'.*node_selector"):
        manifest(bad, "cpu")


def test_environment_without_image(cat):
    site = KubernetesSite("onprem", cat.sites["onprem"])
    assert "no container image" in site.environment_problem(
        cat.environments["lab"].model_copy(update={"image": None})
    )
    assert site.environment_problem(cat.environments["lab"]) is None


def test_guarantees_are_requests_and_limits_are_limits(cat):
    _, data = manifest(cat, "burst")
    resources = container(data)["resources"]
    assert resources["requests"] == {"cpu": 0.5, "memory": 1024**3}
    assert resources["limits"] == {"cpu": 4.0, "memory": 8 * 1024**3}
    env = env_of(data)
    assert (env["CPU_GUARANTEE"], env["CPU_LIMIT"]) == ("0.5", "4.0")
    assert (env["MEM_GUARANTEE"], env["MEM_LIMIT"]) == (str(1024**3), str(8 * 1024**3))


def test_a_limit_alone_is_what_placement_reserves(cat):
    _, data = manifest(cat, "capped")
    resources = container(data)["resources"]
    assert resources["limits"] == {"cpu": 2.0, "memory": 2 * 1024**3}
    assert "cpu" not in resources.get("requests", {}) and "memory" not in resources.get("requests", {})
    # the API server defaults the pod's requests to its limits: placement counts the same
    tier = cat.tiers["capped"]
    assert (tier.cpu_request, tier.memory_request) == (2, 2 * 1024**3)
    assert (cat.tiers["gpu-only"].cpu_request, cat.tiers["gpu-only"].memory_request) == (0, 0)
    assert (cat.tiers["burst"].cpu_request, cat.tiers["burst"].memory_request) == (0.5, 1024**3)


def test_a_gpu_only_tier_sets_no_cpu_or_memory_even_with_hub_wide_defaults(cat):
    config = Config()
    config.KubeSpawner.cpu_limit = 16.0  # a hub-wide default must not change what placement counted
    config.KubeSpawner.mem_guarantee = "64G"
    _, data = manifest(cat, "gpu-only", config=config)
    resources = container(data)["resources"]
    assert resources["limits"] == {"nvidia.com/gpu": "1"} and resources["requests"] == {"nvidia.com/gpu": "1"}
    assert not {"CPU_LIMIT", "MEM_LIMIT", "CPU_GUARANTEE", "MEM_GUARANTEE"} & set(env_of(data))
