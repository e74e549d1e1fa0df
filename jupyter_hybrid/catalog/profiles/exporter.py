"""catalog -> a KubeSpawner profile_list for one kubernetes site."""

from __future__ import annotations

import copy
from typing import Any

from ...quote import quote
from ..model import Catalog
from .common import GPU_RESOURCE, MIG_PREFIX, ProfileError
from .regex import regex_for_kubespawner


def format_size(n: int) -> str | int:
    """Bytes as KubeSpawner writes them: '4G' when exact, else the number of bytes."""
    for unit, size in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return n


def _merge(base: dict, extra: dict) -> dict:
    """KubeSpawner's override order: dicts are merged, tolerations appended (once), the rest replaced."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        elif k == "tolerations" and isinstance(out.get(k), list) and isinstance(v, list):
            out[k] = out[k] + [t for t in v if t not in out[k]]
        else:
            out[k] = copy.deepcopy(v)
    return out


def _sizes(tier) -> dict[str, Any]:
    """The tier's guarantees and limits as KubeSpawner traits, all four: ``None`` (null) where the
    tier sets none, so that a hub-wide default does not reserve what placement did not count."""
    out: dict[str, Any] = {}
    for key, value in (("cpu_limit", tier.cpu_limit), ("cpu_guarantee", tier.cpu_guarantee)):
        out[key] = value if value is None or not float(value).is_integer() else int(value)
    for key, value in (("mem_limit", tier.memory_limit), ("mem_guarantee", tier.memory_guarantee)):
        out[key] = None if value is None else format_size(value)
    return out


def _gpu_model(catalog: Catalog, site: str, model: str | None):
    models = catalog.sites[site].gpu_models
    if not model:
        return None
    if model in models:
        return models[model]
    return next((m for k, m in models.items() if model.lower() in k.lower()), None)


def export_profiles(catalog: Catalog, site: str) -> list[dict]:
    """A KubeSpawner profile_list for the tiers that may run on ``site`` (a kubernetes site)."""
    if site not in catalog.sites:
        raise ProfileError(
            f"no site {quote(site)} in the catalog. Fix: use one of: {', '.join(catalog.sites)}"
        )
    if catalog.sites[site].kind != "kubernetes":
        raise ProfileError(
            f"site {quote(site)} is of kind 'local': KubeSpawner profiles are for kubernetes sites"
        )
    profiles = []
    for name, tier in catalog.tiers.items():
        if site not in catalog.tier_sites(name):
            continue
        override = _sizes(tier)
        model = _gpu_model(catalog, site, tier.gpu_model)
        if tier.gpu:
            resource = f"{MIG_PREFIX}{tier.mig}" if tier.mig else (model.resource if model else GPU_RESOURCE)
            override["extra_resource_limits"] = {resource: tier.gpu}
            if model and model.node_selector:
                override["node_selector"] = dict(model.node_selector)
            if model and model.tolerations:
                override["tolerations"] = copy.deepcopy(model.tolerations)
        # only environments with an image can run on a cluster (the others are local Python prefixes)
        envs = [e for e in catalog.tier_environments(name) if catalog.environments[e].image]
        options: dict[str, Any] = {}
        if len(envs) == 1:
            env = catalog.environments[envs[0]]
            override = _merge(override, {"image": env.image, **env.kubespawner_override})
        elif len(envs) > 1:
            default = catalog.default_name("environments", envs)
            key = "image" if "image" not in tier.options else "environment"
            options[key] = {
                "display_name": "Image",
                "choices": {
                    e: {
                        "display_name": catalog.title("environments", e),
                        "default": e == default,
                        "kubespawner_override": {"image": catalog.environments[e].image}
                        | copy.deepcopy(catalog.environments[e].kubespawner_override),
                    }
                    for e in envs
                },
            }
        override = _merge(override, tier.kubespawner_override)
        for opt_name, opt in tier.options.items():
            options[opt_name] = _option(opt)
        profile: dict[str, Any] = {"display_name": tier.display_name or name, "slug": name}
        if tier.description:
            profile["description"] = tier.description
        if tier.default:
            profile["default"] = True
        profile["kubespawner_override"] = override
        if options:
            profile["profile_options"] = options
        profiles.append(profile)
    if not profiles:
        raise ProfileError(
            f"no tier may run on site {quote(site)}. Fix: list it under a tier's sites (or leave sites empty)"
        )
    return profiles


def _option(opt) -> dict:
    out: dict[str, Any] = {"display_name": opt.display_name}
    if opt.choices:
        out["choices"] = {
            k: {
                "display_name": c.display_name,
                "default": c.default,
                "kubespawner_override": c.kubespawner_override,
            }
            for k, c in opt.choices.items()
        }
    if opt.unlisted_choice is not None:
        out["unlisted_choice"] = {
            "enabled": opt.unlisted_choice.enabled,
            **opt.unlisted_choice.model_dump(exclude_none=True, exclude_unset=True),
        }
        if opt.unlisted_choice.validation_regex:  # KubeSpawner's re.match must not accept a mere prefix
            out["unlisted_choice"]["validation_regex"] = regex_for_kubespawner(
                opt.unlisted_choice.validation_regex
            )
    return copy.deepcopy(out)
