"""KubeSpawner ``profile_list`` <-> catalog tiers and environments (pure: data in, data out).

So that a hub already configured with KubeSpawner profiles can adopt the catalog without rewriting
its config (``import_profiles``), and a catalog can still feed a plain KubeSpawner
(``export_profiles``). Nothing a profile says is dropped: what has no catalog field of its own is
carried in ``tier.kubespawner_override``.
"""

from __future__ import annotations

import copy
import hashlib
import re
import re._constants as _sre_c  # the regex parser, to see where a regex may end (Python >= 3.11)
import re._parser as _sre
from dataclasses import dataclass, field
from typing import Any

from slugify import slugify  # the very function KubeSpawner 7.1 uses for missing slugs

from .model import SLUG, Catalog, parse_bytes

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
_GPU = "nvidia.com/gpu"
_MIG = "nvidia.com/mig-"
_SIZE_KEYS = ("cpu_limit", "cpu_guarantee", "mem_limit", "mem_guarantee")
_IMAGE_KEYS = ("image", "image_spec")  # image_spec: KubeSpawner's older name for image
_PROFILE_KEYS = {"display_name", "slug", "description", "default", "kubespawner_override", "profile_options"}
_OPTION_KEYS = {"display_name", "choices", "unlisted_choice"}
_CHOICE_KEYS = {"display_name", "default", "kubespawner_override"}
_UNLISTED_KEYS = (
    "enabled",
    "display_name",
    "display_name_in_choices",
    "validation_regex",
    "validation_message",
    "kubespawner_override",
)


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


# --- locating the profile_list ---------------------------------------------------------------


def _lookup(data: Any, path: str) -> Any:
    """``data`` at dotted ``path`` (integers index lists); KeyError naming the missing part."""
    node, seen = data, []
    for part in path.split(".") if path else []:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            here = ".".join(seen) or "the top level"
            keys = ", ".join(map(str, node)) if isinstance(node, dict) else type(node).__name__
            raise KeyError(f"no {part!r} under {here} (found: {keys or 'nothing'})")
        seen.append(part)
    return node


def _looks_like_profiles(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(isinstance(p, dict) for p in value)
    if isinstance(value, dict) and value:
        return all(isinstance(p, dict) and ("display_name" in p or "slug" in p) for p in value.values())
    return False


def _defaults(data: Any, key: str) -> dict[str, Any]:
    """What every profile inherits: z2jh ``singleuser.cpu/memory/image``, then ``hub.config.KubeSpawner``."""
    prefix = ""
    for suffix in (
        "singleuser.profileList",
        "hub.config.KubeSpawner.profile_list",
        "KubeSpawner.profile_list",
    ):
        if key == suffix or key.endswith("." + suffix):
            prefix = key[: -len(suffix)]
            break
    out: dict[str, Any] = {}

    def node(path: str) -> dict:
        try:
            found = _lookup(data, prefix + path)
        except KeyError:
            return {}
        return found if isinstance(found, dict) else {}

    single = node("singleuser")
    for what, kind in (("cpu", "cpu"), ("memory", "mem")):
        for level in ("limit", "guarantee"):
            value = (single.get(what) or {}).get(level) if isinstance(single.get(what), dict) else None
            if value is not None:
                out[f"{kind}_{level}"] = value
    image = single.get("image") if isinstance(single.get("image"), dict) else {}
    if image.get("name"):
        out["image"] = f"{image['name']}:{image['tag']}" if image.get("tag") else str(image["name"])
    for traits in (node("hub.config.KubeSpawner"), node("KubeSpawner")):
        for k in (*_SIZE_KEYS, *_IMAGE_KEYS):
            if traits.get(k) is not None:
                out["image" if k == "image_spec" else k] = traits[k]
    return out


def find_profile_list(data: Any, key: str | None = None, source: str = "the file") -> Found:
    """Locate the profile_list (at ``key``, else the first of SEARCH_KEYS, else the whole file).

    A dict-shaped profile_list is turned into a list sorted by key, as KubeSpawner 7.1 does."""
    if key:
        try:
            value = _lookup(data, key)
        except KeyError as e:
            raise ProfileError(
                f"{source}: --key {key}: {e.args[0]}. Fix: give the dotted path of the profile_list"
            ) from None
        used = key
    else:
        used = next((k for k in SEARCH_KEYS if _has(data, k)), None)
        if used is None:
            if not _looks_like_profiles(data):
                raise ProfileError(
                    f"{source}: no profile_list found; tried the keys {', '.join(SEARCH_KEYS)} and the whole "
                    "file as a list (or dict) of profiles. Fix: pass --key PATH.TO.profileList"
                )
            used = ""
        value = _lookup(data, used)
    where = used or "the file"
    if isinstance(value, dict):
        items = [(f"{used}.{k}" if used else f"profile {k!r}", value[k]) for k in sorted(value)]
    elif isinstance(value, list):
        items = [(f"{used}[{i}]" if used else f"profile #{i + 1}", p) for i, p in enumerate(value)]
    else:
        raise ProfileError(
            f"{source}: {where} holds a {type(value).__name__}, not a profile_list (a list or dict of "
            "profiles). Fix: point --key at the profile_list"
        )
    if not items:
        raise ProfileError(f"{source}: {where} is empty: there are no profiles to import")
    for w, p in items:
        if not isinstance(p, dict):
            raise ProfileError(f"{source}: {w}: a profile must be a mapping, got {type(p).__name__}")
    return Found(items, used, _defaults(data, used))


def _has(data: Any, key: str) -> bool:
    try:
        value = _lookup(data, key)
    except KeyError:
        return False
    return value is not None


# --- profile_list -> catalog -----------------------------------------------------------------


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
        raise ProfileError(f"{what}: {raw!r} gives an empty name. Fix: give it a slug of letters and digits")
    notes.append(f"{what}: {raw!r} renamed {name!r} (catalog names are lowercase letters, digits and '-')")
    return name


def _env_name(image: str, envs: dict[str, dict]) -> str:
    """An environment name from the image: its last path part and tag, longer only to tell two apart."""
    for candidate in (slugify(image.rsplit("/", 1)[-1], max_length=63), slugify(image, max_length=63)):
        candidate = candidate.strip("-")
        if candidate and envs.get(candidate, {}).get("image", image) == image:
            return candidate
    digest = hashlib.sha1(image.encode()).hexdigest()[:8]
    return f"{slugify(image, max_length=54).strip('-') or 'image'}-{digest}"


def _anchored_at_end(regex: str) -> bool:
    """Whether every way ``regex`` can match ends at the end of the text (``$`` or ``\\Z`` last)."""
    try:
        tree = list(_sre.parse(regex))
    except re.error:
        return False

    def ends(items: list) -> bool:
        if not items:
            return False
        op, arg = items[-1]
        if op is _sre_c.AT:
            return arg in (_sre_c.AT_END, _sre_c.AT_END_STRING)
        if op is _sre_c.BRANCH:
            return all(ends(list(branch)) for branch in arg[1])
        if op is _sre_c.SUBPATTERN:
            return ends(list(arg[-1]))
        return False

    return ends(tree)


_WRAPPED = re.compile(r"\(\?:(?P<inner>.*)\)\$", re.DOTALL)


def regex_for_kubespawner(regex: str) -> str:
    """Our whole-value regex in a form KubeSpawner's ``re.match`` (and the form's pattern) read alike."""
    return regex if _anchored_at_end(regex) else f"(?:{regex})$"


def regex_from_kubespawner(regex: str) -> str:
    """Undo ``regex_for_kubespawner`` (the same meaning under re.fullmatch); other regexes as they are."""
    match = _WRAPPED.fullmatch(regex)
    inner = match and match["inner"]
    if inner and not _anchored_at_end(inner):
        try:
            re.compile(inner)
        except re.error:
            return regex
        return inner
    return regex


def _cpu(value: Any, what: str) -> float:
    try:
        cpu = float(value)
    except (TypeError, ValueError):
        raise ProfileError(f"{what}: {value!r} is not a number of cores. Fix: write e.g. 2 or 0.5") from None
    if cpu <= 0:
        raise ProfileError(f"{what}: {value!r} must be more than 0 cores. Fix: give a positive number")
    return cpu


def _bytes(value: Any, what: str) -> int:
    try:
        return parse_bytes(value)
    except ValueError as e:
        raise ProfileError(
            f"{what}: {e}. Fix: write a size such as 512M or 4G, as KubeSpawner expects"
        ) from None


class _Importer:
    """Converts profiles one by one into tiers, collecting environments, GPU models and notes."""

    def __init__(self, found: Found, fallback: dict[str, Any], source: str):
        self.found, self.source = found, source
        self.defaults = {**fallback, **found.defaults}
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
        label = f"{label} ({profile.get('display_name', profile.get('slug'))!r})"
        for k in sorted(set(profile) - _PROFILE_KEYS):
            self.notes.append(f"{label}: key {k!r} ignored (KubeSpawner 7.1 does not read it either)")
        slug = kubespawner_slug(profile)
        if "slug" not in profile:
            self.notes.append(f"{label}: no slug; KubeSpawner's own rule gives {slug!r}")
        name = _name(slug, f"{label}: slug", self.notes)
        if name in self.tiers:
            raise ProfileError(
                f"{label}: slug {name!r} is also the slug of {self.where_of[name]}. "
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
        for k in _IMAGE_KEYS:
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
                _name(k, f"{label}: option", self.notes): self.option(f"{label}: option {k!r}", v)
                for k, v in options.items()
            }
        if override:
            tier["kubespawner_override"] = override
            for k in override:
                self.carried.setdefault(k, []).append(name)
        self.tiers[name] = tier

    def sizes(self, label: str, override: dict) -> dict:
        """cpu/memory from limits, else guarantees, else defaults; a differing guarantee is carried."""
        value = {k: override.pop(k, None) for k in _SIZE_KEYS}
        value = {k: v if v is not None else self.defaults.get(k) for k, v in value.items()}
        tier: dict[str, Any] = {}
        for what, kind, parse, flag in (("cpu", "cpu", _cpu, "--default-cpu CORES"),
                                        ("memory", "mem", _bytes, "--default-memory SIZE")):  # fmt: skip
            limit, guarantee = value[f"{kind}_limit"], value[f"{kind}_guarantee"]
            size = limit if limit is not None else guarantee
            if size is None:
                raise ProfileError(
                    f"{label}: no {what} size. Fix: set kubespawner_override.{kind}_limit "
                    f"(or {kind}_guarantee) in the profile, singleuser.{what}.limit in a z2jh values file, "
                    f"or pass {flag}"
                )
            number = parse(size, f"{label}: {kind}_limit")
            tier[what] = number if what == "cpu" else size
            if guarantee is not None and parse(guarantee, f"{label}: {kind}_guarantee") != number:
                override[f"{kind}_guarantee"] = guarantee
        if isinstance(tier["cpu"], float) and tier["cpu"].is_integer():
            tier["cpu"] = int(tier["cpu"])
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
            k for k in limits if k == _GPU or k.startswith(_MIG) or (model and k.startswith(_GPU + "."))
        ]
        if len(wanted) > 1:
            raise ProfileError(
                f"{label}: extra_resource_limits asks for {', '.join(wanted)}; a tier has one kind of GPU. "
                "Fix: split it into one profile per GPU kind"
            )
        other = [k for k in limits if k not in wanted and "gpu" in k.lower()]
        if other:
            self.notes.append(
                f"{label}: {', '.join(other)} carried as an override; placement does not count it "
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
                f"{label}: extra_resource_limits.{resource}: {count!r} is not a whole number. "
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
        if resource.startswith(_MIG):
            tier["mig"] = resource[len(_MIG) :]
        if gpu and model:
            tier["gpu_model"] = model
            spec = self.gpu_models.setdefault(model, {"node_selector": {label_key: model}})
            if resource != _GPU and not resource.startswith(_MIG):
                spec.setdefault("resource", resource)
        return tier

    def image_option(self, label: str, options: dict) -> list[str] | None:
        """An option that only picks an image (no free text) becomes the tier's environments."""
        for key, option in options.items():
            if not isinstance(option, dict) or (option.get("unlisted_choice") or {}).get("enabled"):
                continue
            choices = option.get("choices") or {}
            overrides = [(c or {}).get("kubespawner_override") or {} for c in choices.values()]
            if not choices or not all(set(o) <= set(_IMAGE_KEYS) and len(o) <= 1 for o in overrides):
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
                f"{label}: option {key!r} only picks an image: became the tier's environments "
                f"({', '.join(envs)}; the first is the default)"
            )
            del options[key]
            return envs
        return None

    def option(self, label: str, option: Any) -> dict:
        if not isinstance(option, dict):
            raise ProfileError(f"{label}: must be a mapping with choices and/or unlisted_choice")
        for k in sorted(set(option) - _OPTION_KEYS):
            self.notes.append(f"{label}: key {k!r} ignored (KubeSpawner 7.1 does not read it either)")
        out: dict[str, Any] = {"display_name": str(option.get("display_name", ""))}
        choices = {}
        for key, choice in (option.get("choices") or {}).items():
            choice = choice or {}
            for k in sorted(set(choice) - _CHOICE_KEYS):
                self.notes.append(f"{label}: choice {key!r}: key {k!r} ignored")
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
                if k in _SIZE_KEYS or "resource" in k
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
            for k in sorted(set(unlisted) - set(_UNLISTED_KEYS)):
                self.notes.append(f"{label}: unlisted_choice key {k!r} ignored")
            out["unlisted_choice"] = {k: copy.deepcopy(unlisted[k]) for k in _UNLISTED_KEYS if k in unlisted}
            regex = unlisted.get("validation_regex")
            if regex:
                out["unlisted_choice"]["validation_regex"] = regex_from_kubespawner(str(regex))
            if regex and not _anchored_at_end(str(regex)):
                self.notes.append(
                    f"{label}: validation_regex {regex!r} is not anchored at the end: KubeSpawner (re.match) "
                    "accepted any value that merely starts with a match; here the WHOLE value must match"
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
    fallback: dict[str, Any] = {}
    if default_cpu is not None:
        fallback["cpu_limit"] = default_cpu
    if default_memory is not None:
        fallback["mem_limit"] = default_memory
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


# --- catalog -> profile_list -----------------------------------------------------------------


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
        raise ProfileError(f"no site {site!r} in the catalog. Fix: use one of: {', '.join(catalog.sites)}")
    if catalog.sites[site].kind != "kubernetes":
        raise ProfileError(f"site {site!r} is of kind 'local': KubeSpawner profiles are for kubernetes sites")
    profiles = []
    for name, tier in catalog.tiers.items():
        if site not in catalog.tier_sites(name):
            continue
        size = format_size(tier.memory)
        cpu = int(tier.cpu) if float(tier.cpu).is_integer() else tier.cpu
        override: dict[str, Any] = {
            "cpu_limit": cpu,
            "cpu_guarantee": cpu,
            "mem_limit": size,
            "mem_guarantee": size,
        }
        model = _gpu_model(catalog, site, tier.gpu_model)
        if tier.gpu:
            resource = f"{_MIG}{tier.mig}" if tier.mig else (model.resource if model else _GPU)
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
            f"no tier may run on site {site!r}. Fix: list it under a tier's sites (or leave sites empty)"
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
