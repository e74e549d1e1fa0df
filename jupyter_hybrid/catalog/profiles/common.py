"""What import and export share: the keys KubeSpawner profiles use, the error, the results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Where a profile_list is looked for when no --key is given, in this order.
SEARCH_KEYS = (
    "singleuser.profileList",  # zero-to-jupyterhub values.yaml
    "hub.config.KubeSpawner.profile_list",  # z2jh values, set through hub.config
    "jupyterhub.singleuser.profileList",  # z2jh as a sub-chart (daskhub, 2i2c basehub)
    "jupyterhub.hub.config.KubeSpawner.profile_list",
    "KubeSpawner.profile_list",  # jupyterhub_config.json
    "profile_list",
    "profileList",
)
#: node_selector labels that name the GPU model of a node (NVIDIA GPU feature discovery, GKE, EKS).
GPU_MODEL_LABELS = (
    "nvidia.com/gpu.product",
    "cloud.google.com/gke-accelerator",
    "k8s.amazonaws.com/accelerator",
    "karpenter.k8s.aws/instance-gpu-name",
)
GPU_RESOURCE = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
SIZE_KEYS = ("cpu_limit", "cpu_guarantee", "mem_limit", "mem_guarantee")
#: What the zero-to-jupyterhub chart's own values.yaml sets of those (singleuser.memory.guarantee:
#: 1G; cpu and the memory limit unset), for a values file that leaves them out.
Z2JH_DEFAULTS = {"mem_guarantee": "1G"}
IMAGE_KEYS = ("image", "image_spec")  # image_spec: KubeSpawner's older name for image
PROFILE_KEYS = {"display_name", "slug", "description", "default", "kubespawner_override", "profile_options"}
OPTION_KEYS = {"display_name", "choices", "unlisted_choice"}
CHOICE_KEYS = {"display_name", "default", "kubespawner_override"}
UNLISTED_KEYS = (
    "enabled",
    "display_name",
    "display_name_in_choices",
    "validation_regex",
    "validation_message",
    "kubespawner_override",
)


def short(name: object, limit: int = 40) -> str:
    """A key from the file as part of a dotted path in a message, cut to ``limit`` characters."""
    text = str(name)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ProfileError(ValueError):
    """A profile_list (or catalog) that cannot be converted; ``str()`` says where and the fix."""


@dataclass
class Found:
    """A profile_list located in a parsed file."""

    profiles: list[tuple[str, dict]]  # (where, profile) in KubeSpawner's order
    key: str  # dotted path it was read from; "" for the whole file
    defaults: dict[str, Any]  # KubeSpawner traits every profile starts from (cpu_limit, image, ...)


@dataclass
class Imported:
    """The result of an import: a catalog (plain data, ready for YAML) and what to tell the admin."""

    catalog: dict
    key: str
    notes: list[str] = field(default_factory=list)
    carried: dict[str, list[str]] = field(default_factory=dict)  # override key -> tiers carrying it
