"""profile_list -> catalog tiers and environments. Nothing a profile says is dropped: what has no
catalog field of its own is carried in ``tier.kubespawner_override``."""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

from slugify import slugify  # the very function KubeSpawner 7.1 uses for missing slugs

from ...quote import quote
from ..model import SLUG, parse_bytes
from .common import (
    CHOICE_KEYS,
    GPU_MODEL_LABELS,
    GPU_RESOURCE,
    IMAGE_KEYS,
    MIG_PREFIX,
    OPTION_KEYS,
    PROFILE_KEYS,
    SIZE_KEYS,
    UNLISTED_KEYS,
    Found,
    Imported,
    ProfileError,
    short,
)
from .locate import find_profile_list
from .regex import anchored_at_end, regex_from_kubespawner


def kubespawner_slug(profile: dict) -> str:
    """The slug KubeSpawner 7.1 gives a profile: its own, else ``slugify(display_name)``."""
    if "slug" in profile:
        return profile["slug"]
    return slugify(profile["display_name"])


def _name(raw: Any, what: str, notes: list[str]) -> str:
    """A catalog name for ``raw``: itself if it is one, else its slug (with a note saying so)."""
    text = str(raw)
    if re.fullmatch(SLUG, text):
        return text
    name = slugify(text, max_length=63).strip("-")
    if not name:
        raise ProfileError(
            f"{what}: {quote(raw)} gives an empty name. Fix: give it a slug of letters and digits"
        )
    notes.append(
        f"{what}: {quote(raw)} renamed {quote(name)} (catalog names are lowercase letters, digits and '-')"
    )
    return name


def _env_name(image: str, envs: dict[str, dict]) -> str:
    """An environment name from the image: its last path part and tag, longer only to tell two apart."""
    for candidate in (slugify(image.rsplit("/", 1)[-1], max_length=63), slugify(image, max_length=63)):
        candidate = candidate.strip("-")
        if candidate and envs.get(candidate, {}).get("image", image) == image:
            return candidate
    digest = hashlib.sha1(image.encode()).hexdigest()[:8]
    return f"{slugify(image, max_length=54).strip('-') or 'image'}-{digest}"


def _cpu(value: Any, what: str) -> float:
    try:
        cpu = float(value)
    except (TypeError, ValueError):
        raise ProfileError(
            f"{what}: {quote(value)} is not a number of cores. Fix: write e.g. 2 or 0.5"
        ) from None
    if cpu <= 0:
        raise ProfileError(f"{what}: {quote(value)} must be more than 0 cores. Fix: give a positive number")
    return cpu


def _bytes(value: Any, what: str) -> int:
    try:
        return parse_bytes(value)
    except ValueError as e:
        raise ProfileError(
            f"{what}: {e}. Fix: write a size such as 512M or 4G, as KubeSpawner expects"
        ) from None


def _written(raw: Any, number: float | int) -> Any:
    """How a size goes into the catalog: cores as numbers (2, not 2.0), memory as written (4G)."""
    if isinstance(number, float):
        return int(number) if number.is_integer() else number
    return raw


class _Importer:
    """Converts profiles one by one into tiers, collecting environments, GPU models and notes."""

    def __init__(self, found: Found, fallback: dict[str, Any], source: str):
        self.found, self.source = found, source
        self.defaults = found.defaults
        self.fallback = fallback  # cpu / memory for a profile that sets (and inherits) neither
        self.tiers: dict[str, dict] = {}
        self.envs: dict[str, dict] = {}
        self.gpu_models: dict[str, dict] = {}
        self.notes: list[str] = []
        self.carried: dict[str, list[str]] = {}
        self.where_of: dict[str, str] = {}

    def env(self, image: str | None, display_name: str = "", key: str = "default") -> str:
        if image is None:
            name = (
                _name(key, f"{self.source}: image choice", self.notes) if key != "default" else "site-default"
            )
            self.envs.setdefault(name, {"display_name": display_name or "The site's default image"})
            return name
        name = _env_name(str(image), self.envs)
        self.envs.setdefault(name, {"display_name": display_name or str(image), "image": str(image)})
        return name

    def profile(self, where: str, profile: dict) -> None:
        label = f"{self.source}: {where}"
        if "display_name" not in profile and "slug" not in profile:
            raise ProfileError(
                f"{label}: a profile needs a display_name (KubeSpawner requires it). Fix: add one"
            )
        label = f"{label} ({quote(profile.get('display_name', profile.get('slug')))})"
        for k in sorted(set(profile) - PROFILE_KEYS):
            self.notes.append(f"{label}: key {quote(k)} ignored (KubeSpawner 7.1 does not read it either)")
        slug = kubespawner_slug(profile)
        if "slug" not in profile:
            self.notes.append(f"{label}: no slug; KubeSpawner's own rule gives {quote(slug)}")
        name = _name(slug, f"{label}: slug", self.notes)
        if name in self.tiers:
            raise ProfileError(
                f"{label}: slug {quote(name)} is also the slug of {self.where_of[name]}. "
                "Fix: give one a distinct slug"
            )
        self.where_of[name] = where
        override = copy.deepcopy(profile.get("kubespawner_override") or {})
        if not isinstance(override, dict):
            raise ProfileError(
                f"{label}: kubespawner_override must be a mapping. Fix: write key: value pairs"
            )
        tier: dict[str, Any] = {"display_name": str(profile.get("display_name", slug))}
        if profile.get("description"):
            tier["description"] = str(profile["description"])
        if profile.get("default"):
            if any(t.get("default") for t in self.tiers.values()):
                self.notes.append(
                    f"{label}: default ignored: KubeSpawner uses the first default profile only"
                )
            else:
                tier["default"] = True
        tier.update(self.sizes(label, override))
        tier.update(self.gpus(label, override))
        image = None
        for k in IMAGE_KEYS:
            if override.get(k) is not None:
                image = override[k]
            override.pop(k, None)
        image = image if image is not None else self.defaults.get("image")
        options = dict(profile.get("profile_options") or {})
        envs = self.image_option(label, options)
        if envs is None and image is not None:
            envs = [self.env(image)]
        if envs:
            tier["environments"] = envs
        if options:
            tier["options"] = {
                _name(k, f"{label}: option", self.notes): self.option(f"{label}: option {quote(k)}", v)
                for k, v in options.items()
            }
        if override:
            tier["kubespawner_override"] = override
            for k in override:
                self.carried.setdefault(k, []).append(name)
        self.tiers[name] = tier

    def sizes(self, label: str, override: dict) -> dict:
        """Guarantees and limits as KubeSpawner would set them: the profile's own (``null``: unset),
        else the values file's defaults. With neither, the --default-* value (guarantee = limit), else
        none: the tier reserves nothing and has no limit, as the pod would."""
        value = {k: override.pop(k) if k in override else self.defaults.get(k) for k in SIZE_KEYS}
        tier: dict[str, Any] = {}
        unset = []
        for what, kind, parse in (("cpu", "cpu", _cpu), ("memory", "mem", _bytes)):
            guarantee, limit = value[f"{kind}_guarantee"], value[f"{kind}_limit"]
            if guarantee is None and limit is None:
                guarantee = limit = self.fallback.get(what)
            if guarantee is None and limit is None:
                unset.append(what)
                continue
            g = parse(guarantee, f"{label}: {kind}_guarantee") if guarantee is not None else None
            n = parse(limit, f"{label}: {kind}_limit") if limit is not None else None
            if g is not None and n is not None and g > n:
                raise ProfileError(
                    f"{label}: {kind}_guarantee {quote(guarantee)} is more than {kind}_limit {quote(limit)}"
                    " (Kubernetes refuses such a pod). Fix: lower the guarantee or raise the limit"
                )
            if g is not None and g == n:
                tier[what] = _written(limit, n)
                continue
            if g is not None:
                tier[f"{what}_guarantee"] = _written(guarantee, g)
            if n is not None:
                tier[f"{what}_limit"] = _written(limit, n)
        if unset:
            self.notes.append(
                f"{label}: no {' or '.join(unset)} guarantee or limit (nor a default in the file): "
                "the tier reserves none and has no limit, as under KubeSpawner"
            )
        return tier

    def gpus(self, label: str, override: dict) -> dict:
        """gpu / mig from extra_resource_limits, gpu_model from a node_selector label.

        A renamed GPU resource (time-slicing's ``nvidia.com/gpu.shared``) is counted only with a GPU
        model to hang it on: it becomes that model's ``resource`` on the site."""
        selector = override.get("node_selector") or {}
        label_key = next((k for k in GPU_MODEL_LABELS if selector.get(k)), None)
        model = str(selector[label_key]) if label_key else None
        limits = dict(override.get("extra_resource_limits") or {})
        wanted = [
            k
            for k in limits
            if k == GPU_RESOURCE or k.startswith(MIG_PREFIX) or (model and k.startswith(GPU_RESOURCE + "."))
        ]
        if len(wanted) > 1:
            raise ProfileError(
                f"{label}: extra_resource_limits asks for {', '.join(map(short, wanted))}; "
                "a tier has one kind of GPU. "
                "Fix: split it into one profile per GPU kind"
            )
        other = [k for k in limits if k not in wanted and "gpu" in k.lower()]
        if other:
            self.notes.append(
                f"{label}: {', '.join(map(short, other))} carried as an override; "
                "placement does not count it "
                f"(to count it, add a node_selector label naming the GPU model: {GPU_MODEL_LABELS[0]})"
            )
        if not wanted:
            return {}
        resource = wanted[0]
        count = limits.pop(resource)
        try:
            gpu = int(count)
            assert gpu >= 0 and float(count) == gpu
        except (TypeError, ValueError, AssertionError):
            raise ProfileError(
                f"{label}: extra_resource_limits.{resource}: {quote(count)} is not a whole number. "
                "Fix: write e.g. 1"
            ) from None
        if limits:
            override["extra_resource_limits"] = limits
        else:
            override.pop("extra_resource_limits", None)
        guarantees = dict(override.get("extra_resource_guarantees") or {})
        if resource in guarantees and str(guarantees[resource]) == str(count):
            guarantees.pop(resource)  # Kubernetes requires requests == limits for GPUs: nothing to carry
            if guarantees:
                override["extra_resource_guarantees"] = guarantees
            else:
                override.pop("extra_resource_guarantees", None)
        tier: dict[str, Any] = {"gpu": gpu} if gpu else {}
        if resource.startswith(MIG_PREFIX):
            tier["mig"] = resource[len(MIG_PREFIX) :]
        if gpu and model:
            tier["gpu_model"] = model
            spec = self.gpu_models.setdefault(model, {"node_selector": {label_key: model}})
            if resource != GPU_RESOURCE and not resource.startswith(MIG_PREFIX):
                spec.setdefault("resource", resource)
        return tier

    def image_option(self, label: str, options: dict) -> list[str] | None:
        """An option that only picks an image (no free text) becomes the tier's environments."""
        for key, option in options.items():
            if not isinstance(option, dict) or (option.get("unlisted_choice") or {}).get("enabled"):
                continue
            choices = option.get("choices") or {}
            overrides = [(c or {}).get("kubespawner_override") or {} for c in choices.values()]
            if not choices or not all(set(o) <= set(IMAGE_KEYS) and len(o) <= 1 for o in overrides):
                continue
            if not any(overrides):
                continue
            order = [k for k, c in choices.items() if (c or {}).get("default")][:1] or list(choices)[:1]
            order += [k for k in choices if k not in order]
            envs = []
            for k in order:
                o = (choices[k] or {}).get("kubespawner_override") or {}
                image = next(iter(o.values()), None)
                envs.append(self.env(image, str((choices[k] or {}).get("display_name", "")), k))
            self.notes.append(
                f"{label}: option {quote(key)} only picks an image: became the tier's environments "
                f"({', '.join(envs)}; the first is the default)"
            )
            del options[key]
            return envs
        return None

    def option(self, label: str, option: Any) -> dict:
        if not isinstance(option, dict):
            raise ProfileError(f"{label}: must be a mapping with choices and/or unlisted_choice")
        for k in sorted(set(option) - OPTION_KEYS):
            self.notes.append(f"{label}: key {quote(k)} ignored (KubeSpawner 7.1 does not read it either)")
        out: dict[str, Any] = {"display_name": str(option.get("display_name", ""))}
        choices = {}
        for key, choice in (option.get("choices") or {}).items():
            choice = choice or {}
            for k in sorted(set(choice) - CHOICE_KEYS):
                self.notes.append(f"{label}: choice {quote(key)}: key {quote(k)} ignored")
            choices[str(key)] = {
                "display_name": str(choice.get("display_name", key)),
                "default": bool(choice.get("default")),
                "kubespawner_override": copy.deepcopy(choice.get("kubespawner_override") or {}),
            }
        sized = sorted(
            {
                k
                for c in choices.values()
                for k in c["kubespawner_override"]
                if k in SIZE_KEYS or "resource" in k
            }
        )
        if sized:
            self.notes.append(
                f"{label}: choices set {', '.join(sized)}; kept, but placement counts the tier's own size"
            )
        defaults = [k for k, c in choices.items() if c["default"]]
        for k in choices:  # as KubeSpawner: the first default counts; none -> the first choice
            choices[k]["default"] = k == (defaults or list(choices))[0]
        if choices:
            out["choices"] = choices
        unlisted = option.get("unlisted_choice")
        if unlisted:
            for k in sorted(set(unlisted) - set(UNLISTED_KEYS)):
                self.notes.append(f"{label}: unlisted_choice key {quote(k)} ignored")
            out["unlisted_choice"] = {k: copy.deepcopy(unlisted[k]) for k in UNLISTED_KEYS if k in unlisted}
            regex = unlisted.get("validation_regex")
            if regex:
                out["unlisted_choice"]["validation_regex"] = regex_from_kubespawner(str(regex))
            if regex and not anchored_at_end(str(regex)):
                self.notes.append(
                    f"{label}: validation_regex {quote(regex)} is not anchored at the end: "
                    "KubeSpawner (re.match) accepted any value that merely starts with a match; "
                    "here the WHOLE value must match"
                )
        return out


def import_profiles(
    data: Any,
    *,
    key: str | None = None,
    site: str = "imported",
    site_spec: dict | None = None,
    default_cpu: float | None = None,
    default_memory: str | None = None,
    source: str = "the file",
) -> Imported:
    """A catalog (plain data) with one kubernetes site and a tier per profile of ``data``'s profile_list."""
    found = find_profile_list(data, key, source)
    fallback = {k: v for k, v in (("cpu", default_cpu), ("memory", default_memory)) if v is not None}
    imp = _Importer(found, fallback, source)
    for where, profile in found.profiles:
        imp.profile(where, profile)
    if imp.envs and any("environments" not in t for t in imp.tiers.values()):
        default = imp.env(None)  # tiers without an image keep the site's default image
        for tier in imp.tiers.values():
            tier.setdefault("environments", [default])
    spec = {"kind": "kubernetes", **(site_spec or {})}
    if imp.gpu_models:
        spec["gpu_models"] = imp.gpu_models
    catalog = {"sites": {site: spec}, "tiers": imp.tiers}
    catalog["environments"] = imp.envs or {
        "default": {
            "display_name": "The site's default image",
            "description": "KubeSpawner's image on the site",
        }
    }
    return Imported(catalog, found.key, imp.notes, imp.carried)
