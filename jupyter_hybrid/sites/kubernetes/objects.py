"""KubeSpawner settings for one server (pure, in the spirit of kubespawner's ``objects.py``).

``server_layers`` returns the trait dicts to apply to a child KubeSpawner, in this order:

1. what jupyter-hybrid derives from the catalog: image, the tier's cpu/memory guarantees and
   limits (None where the tier sets none; placement counts the guarantees, as the scheduler
   fits the pod's requests), GPUs or MIG slices
   as ``extra_resource_limits``/``_guarantees``, node selector and tolerations of the tier's GPU
   model, dataset volumes at ``/data/NAME``, the ``JUPYTER_HYBRID_*`` environment, and
   ``profile_list = []`` (the catalog replaces profiles; a hub-wide ``c.KubeSpawner.profile_list``
   must not re-pick one). These are *added* to what ``c.KubeSpawner.*`` configures (lists
   extended, dicts merged), so hub-wide volumes or env vars stay;
2. the site's ``kubespawner`` traits, 3. the environment's ``kubespawner_override``,
4. the tier's ``kubespawner_override``, 5. the user's tier-option overrides.

Layers 2-5 follow KubeSpawner's own ``kubespawner_override`` rule (a dict is merged into the
current value, a callable is called with the spawner, anything else replaces), so an imported
``profile_list`` behaves as it did under KubeSpawner.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
from typing import Any

from ..datasets import dataset_env_name, mount_path
from .capacity import GPU_RESOURCE, MIG_PREFIX, PRODUCT_LABEL, WORKLOAD_ANNOTATION

#: traits of layer 1 whose configured value is extended, not replaced
ADDITIVE = {
    "environment",
    "volumes",
    "volume_mounts",
    "tolerations",
    "node_selector",
    "extra_resource_limits",
    "extra_resource_guarantees",
    "extra_container_config",
    "extra_annotations",
    "extra_labels",
}
DOCS = "https://jupyterhub-kubespawner.readthedocs.io/en/latest/spawner.html"


def _volume_name(dataset: str) -> str:
    name = f"dataset-{dataset}"
    if len(name) > 63:  # a DNS label
        name = f"{name[:54]}-{hashlib.sha1(dataset.encode()).hexdigest()[:8]}"
    return name


def gpu_resource(site, tier) -> str:
    if tier.mig:
        return f"{MIG_PREFIX}{tier.mig}"
    model = site.gpu_models.get(tier.gpu_model or "")
    return model.resource if model else GPU_RESOURCE


def dataset_traits(datasets: dict) -> dict[str, Any]:
    """Volumes, mounts, env vars and Secret env for the requested datasets (name -> location)."""
    volumes, mounts, env, env_from = [], [], {}, []
    for name, where in sorted(datasets.items()):
        if where.url:
            env[dataset_env_name(name)] = where.url
            if where.secret:
                env_from.append({"secretRef": {"name": where.secret}})
            continue
        if where.pvc:
            source = {"persistentVolumeClaim": {"claimName": where.pvc, "readOnly": where.read_only}}
        elif where.host_path:
            source = {"hostPath": {"path": where.host_path, "type": "Directory"}}
        else:
            raise ValueError(
                f"dataset {name!r}: a path location is for local sites; give a pvc, host_path or url"
            )
        volume = _volume_name(name)
        volumes.append({"name": volume, **source})
        mount = {"name": volume, "mountPath": mount_path(name), "readOnly": where.read_only}
        if where.sub_path:
            mount["subPath"] = where.sub_path
        mounts.append(mount)
        env[dataset_env_name(name)] = mount_path(name)
    out: dict[str, Any] = {"environment": env}
    if volumes:
        out.update(volumes=volumes, volume_mounts=mounts)
    if env_from:
        out["extra_container_config"] = {"envFrom": env_from}
    return out


def gpu_traits(site, tier, gpu_products: list[str] = ()) -> dict[str, Any]:
    """GPU resource limits and where such GPUs are (node selector, tolerations or affinity)."""
    if not tier.gpu:
        return {}
    resource = gpu_resource(site, tier)
    out: dict[str, Any] = {
        "extra_resource_limits": {resource: str(tier.gpu)},
        "extra_resource_guarantees": {resource: str(tier.gpu)},
    }
    model = site.gpu_models.get(tier.gpu_model or "")
    if model:
        if model.node_selector:
            out["node_selector"] = dict(model.node_selector)
        if model.tolerations:
            out["tolerations"] = [dict(t) for t in model.tolerations]
    elif tier.gpu_model:
        # not declared on this site: pin to the nodes whose product label names the model
        wanted = sorted(p for p in gpu_products if tier.gpu_model.lower() in p.lower())
        if wanted:
            term = {"matchExpressions": [{"key": PRODUCT_LABEL, "operator": "In", "values": wanted}]}
            out["node_affinity_required"] = [term]
    return out


def server_layers(
    site_name: str,
    site,
    tier,
    env,
    names: dict[str, str],
    datasets: dict | None = None,
    overrides: dict | None = None,
    placement: str = "",
    workload: str = "",
    gpu_products: list[str] = (),
) -> list[tuple[str, dict[str, Any]]]:
    """(where it comes from, traits) in the order they apply; see the module docstring."""
    if not env.image:
        raise ValueError(f"environment has no image: set 'image' to run it on site {site_name!r}")
    ours: dict[str, Any] = {
        "image": env.image,
        # set even when None: what the catalog says is what placement counted, not a hub-wide default
        "cpu_limit": tier.cpu_limit,
        "cpu_guarantee": tier.cpu_guarantee,
        "mem_limit": tier.memory_limit,
        "mem_guarantee": tier.memory_guarantee,
        "profile_list": [],
    }
    data = dataset_traits(datasets or {})
    environment = {
        **{f"JUPYTER_HYBRID_{k.upper()}": v for k, v in names.items()},
        "JUPYTER_HYBRID_GPUS": str(tier.gpu),
        "JUPYTER_HYBRID_PLACEMENT": placement,
        **data.pop("environment"),
    }
    ours.update(data, environment=environment)
    for key, value in gpu_traits(site, tier, gpu_products).items():
        ours[key] = value
    labels = {f"hybrid.jupyter.org/{k}": v for k, v in names.items() if k in ("tier", "site")}
    ours["extra_labels"] = labels
    if workload:
        ours["extra_annotations"] = {WORKLOAD_ANNOTATION: workload}
    layers = [
        ("jupyter-hybrid", ours),
        (f"sites.{site_name}.kubespawner", dict(site.kubespawner)),
        (
            f"environments.{names.get('environment', '?')}.kubespawner_override",
            dict(env.kubespawner_override),
        ),
        (f"tiers.{names.get('tier', '?')}.kubespawner_override", dict(tier.kubespawner_override)),
        ("tier options", dict(overrides or {})),
    ]
    return [(source, traits) for source, traits in layers if traits]


def check_traits(layers, known: set[str]) -> None:
    """Refuse a key that is not a KubeSpawner trait, naming where it is and the fix."""
    for source, traits in layers:
        for key in traits:
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(
                    f"{source}: {key!r} is not a KubeSpawner setting; {hint}"
                    f"fix the spelling or remove it (settings: {DOCS})"
                )


def _add(current: Any, ours: Any) -> Any:
    if isinstance(current, dict) and isinstance(ours, dict):
        out = dict(current)
        for k, v in ours.items():
            out[k] = _add(out.get(k), v) if k in out else v
        return out
    if isinstance(current, list) and isinstance(ours, list):
        return current + ours
    if isinstance(current, dict) and isinstance(ours, list):  # KubeSpawner's dict form of lists
        return {**current, **{f"jupyter-hybrid-{i}": v for i, v in enumerate(ours)}}
    return ours


def _merge(target: dict, changes: dict) -> None:
    """KubeSpawner's kubespawner_override rule for dicts: merge recursively, None removes a key."""
    for k, v in changes.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge(target[k], v)
        else:
            target[k] = v


def apply_layers(spawner, layers) -> None:
    """Set the layers' traits on ``spawner`` in order (layer 1 added, the others overriding)."""
    check_traits(layers, set(spawner.trait_names()))
    for index, (_, traits) in enumerate(layers):
        for key, value in traits.items():
            current = getattr(spawner, key)
            if index == 0:
                if key in ADDITIVE:
                    value = _add(current, value)
                setattr(spawner, key, value)
                continue
            if callable(value):
                value = value(spawner)
            if isinstance(value, dict) and isinstance(current, dict):
                merged = copy.deepcopy(current)
                _merge(merged, value)
                value = merged
            setattr(spawner, key, value)
