"""Live capacity of a Kubernetes site from its nodes and pods (pure: JSON in, SiteState out).

Free = allocatable of Ready, schedulable nodes minus the requests of the non-terminated pods bound
to them, node by node (as the scheduler counts). GPUs are counted per *model key*:

- whole GPUs: the node's model — the site's ``gpu_models`` entry whose ``node_selector`` matches
  the node's labels, else the ``nvidia.com/gpu.product`` label, else ``"GPU"`` — counting that
  entry's ``resource`` (default ``nvidia.com/gpu``);
- MIG slices (GPU operator, mixed strategy): every ``nvidia.com/mig-<profile>`` resource the node
  offers is counted under ``"<model> MIG <profile>"``, e.g. ``"A100 MIG 1g.10gb"``.

``tier_keys`` applies placement's matching rule (``sitedata.model_serves``): a tier with
``mig`` uses only the MIG keys of that profile, a tier without only whole GPUs; ``gpu_model`` is a
case-insensitive substring of the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ...sitedata import model_serves
from ..base import SiteState

GPU_RESOURCE = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
PRODUCT_LABEL = "nvidia.com/gpu.product"
#: annotation naming the workload (``user/server``) a pod belongs to
WORKLOAD_ANNOTATION = "hybrid.jupyter.org/workload"

_SUFFIX = {
    "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def parse_quantity(value: Any) -> float:
    """A Kubernetes quantity ('500m', '16Gi', '2', 1.5) as a number."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    number, suffix = match.groups()
    return float(number) * _SUFFIX.get(suffix or "", 1)


def plain(obj: Any) -> Any:
    """kubernetes_asyncio models -> the API's JSON shape (camelCase dicts); dicts pass through."""
    if hasattr(obj, "attribute_map") and hasattr(obj, "openapi_types"):
        return {
            obj.attribute_map[k]: plain(getattr(obj, k))
            for k in obj.openapi_types
            if getattr(obj, k) is not None
        }
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def _container_requests(container: dict) -> dict[str, float]:
    resources = container.get("resources") or {}
    # the API server defaults a missing request to the limit
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {k: parse_quantity(v) for k, v in merged.items()}


def pod_requests(pod: dict) -> dict[str, float]:
    """Effective requests: max(sum of containers, largest init container) plus overhead."""
    spec = pod.get("spec") or {}
    total: dict[str, float] = {}
    for c in spec.get("containers") or []:
        for k, v in _container_requests(c).items():
            total[k] = total.get(k, 0.0) + v
    for c in spec.get("initContainers") or []:
        for k, v in _container_requests(c).items():
            total[k] = max(total.get(k, 0.0), v)
    for k, v in (spec.get("overhead") or {}).items():
        total[k] = total.get(k, 0.0) + parse_quantity(v)
    return total


def node_ready(node: dict) -> bool:
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def node_model(labels: dict[str, str], gpu_models: dict) -> str:
    for name, model in gpu_models.items():
        if model.node_selector and all(labels.get(k) == v for k, v in model.node_selector.items()):
            return name
    return labels.get(PRODUCT_LABEL) or "GPU"


def mig_key(model: str, profile: str) -> str:
    return f"{model} MIG {profile}"


def tier_keys(keys, gpu_model: str | None, mig: str | None) -> list[str]:
    """The GPU model keys a tier may use (placement's matching rule, see the module docstring)."""
    return [key for key in keys if model_serves(key, gpu_model, mig)]


@dataclass
class NodeFree:
    """One Ready node: what is free on it now, and what it has in all."""

    name: str
    model: str
    cpu: float
    memory: float
    gpus: dict[str, int] = field(default_factory=dict)  # free, by model key
    cpu_total: float = 0.0
    memory_total: float = 0.0
    gpus_total: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def _gpu_resources(model: str, allocatable: dict, gpu_models: dict) -> dict[str, str]:
    """resource name -> model key, for the GPU resources this node offers."""
    declared = gpu_models.get(model)
    whole = declared.resource if declared and not declared.resource.startswith(MIG_PREFIX) else GPU_RESOURCE
    out = {whole: model} if whole in allocatable else {}
    for resource in allocatable:
        if resource.startswith(MIG_PREFIX):
            out[resource] = mig_key(model, resource[len(MIG_PREFIX) :])
    return out


def read_nodes(nodes: list, pods: list, gpu_models: dict) -> tuple[list[NodeFree], set[str]]:
    """Free capacity per Ready node, and the workloads (annotation) that have a live pod."""
    nodes, pods = plain(nodes), plain(pods)
    used: dict[str, dict[str, float]] = {}
    workloads = set()
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        workload = ((pod.get("metadata") or {}).get("annotations") or {}).get(WORKLOAD_ANNOTATION)
        if workload:
            workloads.add(workload)
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            bucket = used.setdefault(node, {})
            for k, v in pod_requests(pod).items():
                bucket[k] = bucket.get(k, 0.0) + v
    out = []
    for node in nodes:
        if not node_ready(node):
            continue
        meta = node.get("metadata") or {}
        labels = meta.get("labels") or {}
        allocatable = {
            k: parse_quantity(v) for k, v in ((node.get("status") or {}).get("allocatable") or {}).items()
        }
        taken = used.get(meta.get("name"), {})
        model = node_model(labels, gpu_models)
        free = NodeFree(
            name=meta.get("name", ""),
            model=model,
            cpu=max(0.0, allocatable.get("cpu", 0.0) - taken.get("cpu", 0.0)),
            memory=max(0.0, allocatable.get("memory", 0.0) - taken.get("memory", 0.0)),
            cpu_total=allocatable.get("cpu", 0.0),
            memory_total=allocatable.get("memory", 0.0),
            labels=labels,
        )
        for resource, key in _gpu_resources(model, allocatable, gpu_models).items():
            total = int(allocatable[resource])
            if total <= 0:
                continue
            free.gpus_total[key] = free.gpus_total.get(key, 0) + total
            free.gpus[key] = free.gpus.get(key, 0) + max(0, total - int(taken.get(resource, 0)))
        out.append(free)
    return out, workloads


def site_state(name: str, spec, nodes: list[NodeFree]) -> SiteState:
    """Totals over the nodes, with the site's price, region and growth time."""
    total: dict[str, int] = {}
    free: dict[str, int] = {}
    for n in nodes:
        for key, count in n.gpus_total.items():
            total[key] = total.get(key, 0) + count
            free[key] = free.get(key, 0) + n.gpus.get(key, 0)
    reason = None
    if not nodes:
        reason = "no Ready, schedulable node"
    elif not total:
        reason = f"no node offers {GPU_RESOURCE}"
    return SiteState(
        name=name,
        kind="kubernetes",
        region=spec.region,
        display_name=spec.display_name or name,
        on_prem=spec.on_prem,
        cost_per_hour=spec.cost_per_hour,
        prices=dict(spec.prices),
        provision_seconds=spec.provision_seconds,
        cpu_total=sum(n.cpu_total for n in nodes),
        cpu_free=sum(n.cpu for n in nodes),
        memory_total=int(sum(n.memory_total for n in nodes)),
        memory_free=int(sum(n.memory for n in nodes)),
        gpus_total=total,
        gpus_free=free,
        gpu_reason=reason,
    )


def fit_node(nodes: list[NodeFree], tier) -> tuple[NodeFree, str | None] | None:
    """The first node that holds the tier now (and the GPU key it would use), or None."""
    for n in nodes:
        if n.cpu < tier.cpu_request or n.memory < tier.memory_request:
            continue
        if not tier.gpu:
            return n, None
        for key in tier_keys(n.gpus, tier.gpu_model, tier.mig):
            if n.gpus[key] >= tier.gpu:
                return n, key
    return None
