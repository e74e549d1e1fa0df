"""The catalog's declarations: sites, hardware tiers and environments (pydantic models).

Names are slugs (they appear in URLs, env vars and Kubernetes labels). Sizes use the same units
as JupyterHub's ``mem_limit``: a number of bytes or a number with K, M, G or T (powers of 1024).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ..quote import quote

SLUG = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)


def parse_bytes(value: object) -> int:
    """'2G' -> 2147483648; ints pass through. Raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512M or 2G, not a boolean")
    if isinstance(value, (int, float)):
        return int(value)
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"{quote(value)} is not a size: write bytes or a number with K, M, G or T, e.g. 2G")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.upper()])


def format_bytes(n: int | float) -> str:
    """2147483648 -> '2 GiB', 1610612736 -> '1.5 GiB' (for forms and panels)."""
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


Bytes = Annotated[int, BeforeValidator(parse_bytes), Field(gt=0)]
Name = Annotated[str, Field(pattern=SLUG)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GPUModel(_Strict):
    """How to ask a Kubernetes site for one GPU model: the resource and where such nodes are."""

    resource: str = Field("nvidia.com/gpu", description="extended resource to request per GPU")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)


_KUBERNETES_ONLY = (
    "provision_seconds",
    "request_timeout",
    "unreachable_grace_seconds",
    "context",
    "kubeconfig",
    "in_cluster",
    "namespace",
    "gpu_models",
    "kubespawner",
)


class Overcommit(_Strict):
    """How much more cpu and memory a local site may promise to running servers than it has.

    A ratio: 1 (the default) promises no more than the site offers (``max_cpu``/``max_memory``, else
    the machine's); ``cpu: 4`` lets servers reserve four cores per core (notebooks idle most of the
    time). Kubernetes sites fit on guarantees, as the scheduler does: to overcommit there, give tiers
    a ``cpu_guarantee``/``memory_guarantee`` below their limit."""

    cpu: float = Field(1.0, description="cores promised per core offered; default 1: no overcommit")
    memory: float = Field(1.0, description="bytes promised per byte offered; default 1: no overcommit")

    @model_validator(mode="after")
    def _at_least_one(self) -> Overcommit:
        for key in ("cpu", "memory"):
            ratio = getattr(self, key)
            if not ratio >= 1:  # NaN too
                raise LocatedError(
                    (key,),
                    f"{ratio:g} is below 1 (a ratio of what servers may reserve to what the site offers)",
                    f"give 1 (no overcommit) or more, e.g. {key}: 2; to offer less, set max_{key}",
                )
        return self


class Site(_Strict):
    """Where workloads run: ``local`` is this machine (processes started by the hub),
    ``kubernetes`` one cluster (a kubeconfig context, or the hub's in-cluster config) and namespace."""

    kind: Literal["local", "kubernetes"] = "local"
    display_name: str = ""
    description: str = ""
    region: str = "local"
    on_prem: bool = True
    cost_per_hour: float = Field(0.0, ge=0, description="price of one hour, any tier (see prices)")
    prices: dict[Name, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="price of one hour per tier; a tier not listed: cost_per_hour"
    )
    max_cpu: float | None = Field(None, gt=0, description="local: cores to offer; default: all cores")
    max_memory: Bytes | None = Field(None, description="local: memory to offer; default: all memory")
    overcommit: Overcommit = Field(
        default_factory=Overcommit,
        description="local: ratios of cpu and memory promised to servers to what is offered; default 1, 1",
    )
    refresh_seconds: float = Field(30.0, ge=0, description="how long a read of live capacity is reused")
    provision_seconds: float | None = Field(
        None, ge=0, description="kubernetes: seconds its autoscaler takes to add a node; default: cannot grow"
    )
    # kubernetes only
    context: str | None = Field(None, description="kubeconfig context; default: the current one")
    kubeconfig: str | None = Field(
        None, description="kubeconfig file; default: $KUBECONFIG or ~/.kube/config"
    )
    in_cluster: bool = Field(False, description="use the service account of the pod the hub runs in")
    request_timeout: float = Field(
        10.0, gt=0, description="seconds one API request may take before the site counts as unreachable"
    )
    unreachable_grace_seconds: float = Field(
        300.0, ge=0, description="seconds the API may stay unreachable before its servers count as stopped"
    )
    namespace: str = "default"
    gpu_models: dict[str, GPUModel] = Field(
        default_factory=dict,
        description="per GPU model (as tiers name it): resource, node selector, tolerations",
    )
    kubespawner: dict[str, Any] = Field(
        default_factory=dict, description="KubeSpawner traits for every server on this site, e.g. storage"
    )

    @model_validator(mode="after")
    def _kind_keys(self) -> Site:
        if self.kind == "kubernetes" and "overcommit" in self.model_fields_set:
            raise LocatedError(
                ("overcommit",),
                "only local sites take overcommit (Kubernetes fits pods on their guarantees)",
                "remove it, and give tiers a cpu_guarantee/memory_guarantee below their limit instead",
            )
        if self.kind == "local":
            wrong = [k for k in _KUBERNETES_ONLY if k in self.model_fields_set]
            if wrong:
                raise ValueError(
                    f"only kubernetes sites take {', '.join(wrong)}; set 'kind: kubernetes' or remove them"
                )
        return self

    def price(self, tier: str) -> float:
        """Price of one hour of ``tier`` here."""
        return self.prices.get(tier, self.cost_per_hour)


class OptionChoice(_Strict):
    """One listed choice of a tier option (KubeSpawner's ``profile_options.*.choices``)."""

    display_name: str = ""
    default: bool = False
    kubespawner_override: dict[str, Any] = Field(default_factory=dict)


class UnlistedChoice(_Strict):
    """A free-text choice (KubeSpawner's ``unlisted_choice``); ``{value}`` in overrides is replaced.

    Unlike KubeSpawner (``re.match``), ``validation_regex`` must match the WHOLE value, as the
    browser's ``pattern`` attribute does, so the form and the server agree."""

    enabled: bool = False
    display_name: str = "Other..."
    display_name_in_choices: str = "Other..."
    validation_regex: str | None = None
    validation_message: str = ""
    kubespawner_override: dict[str, Any] = Field(default_factory=dict)

    @field_validator("validation_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as e:
                raise ValueError(f"validation_regex does not compile: {e}") from None
        return value


class TierOption(_Strict):
    """A further choice within a tier (KubeSpawner's ``profile_options``), e.g. an image version."""

    display_name: str = ""
    choices: dict[str, OptionChoice] = Field(default_factory=dict)
    unlisted_choice: UnlistedChoice | None = None

    @model_validator(mode="after")
    def _something_to_pick(self) -> TierOption:
        if not self.choices and not (self.unlisted_choice and self.unlisted_choice.enabled):
            raise ValueError("an option needs choices or an enabled unlisted_choice")
        return self


def _cores(value: object) -> float | None:
    """``value`` as a number of cores if it is one (else None: the field's own check says why)."""
    if isinstance(value, bool):
        return None
    try:
        cores = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return cores if cores > 0 else None


def _size(value: object) -> int | None:
    try:
        size = parse_bytes(value)
    except ValueError:
        return None
    return size if size > 0 else None


class Tier(_Strict):
    """A hardware size a user can pick: CPU cores, memory and GPUs.

    As in KubeSpawner, cpu and memory each have a guarantee (what the scheduler, and placement,
    fit on a node) and a limit (what is enforced; exported as CPU_LIMIT/MEM_LIMIT). ``cpu`` and
    ``memory`` are shorthand for a guarantee equal to the limit. A limit alone reserves the limit
    (Kubernetes defaults a pod's request to its limit); neither: nothing reserved, no limit. Code
    reads ``cpu_request``/``memory_request`` (what is reserved) and ``cpu_limit``/``memory_limit``."""

    display_name: str = ""
    description: str = ""
    cpu: float | None = Field(None, gt=0, description="cores: guarantee and limit at once")
    cpu_guarantee: float | None = Field(
        None, gt=0, description="cores reserved (what placement fits); default: the limit"
    )
    cpu_limit: float | None = Field(None, gt=0, description="most cores it may use; default: no limit")
    memory: Bytes | None = Field(None, description="memory: guarantee and limit at once")
    memory_guarantee: Bytes | None = Field(
        None, description="memory reserved (what placement fits); default: the limit"
    )
    memory_limit: Bytes | None = Field(None, description="most memory it may use; default: no limit")
    gpu: int = Field(0, ge=0, description="whole GPUs, or MIG slices when mig is set")
    gpu_model: str | None = Field(None, description="substring of the NVML device name, e.g. A100")
    mig: str | None = Field(
        None, description="MIG profile, e.g. 1g.10gb (Kubernetes: nvidia.com/mig-1g.10gb)"
    )
    sites: list[Name] = Field(default_factory=list, description="sites it may run on; empty: all")
    environments: list[Name] = Field(default_factory=list, description="environments allowed; empty: all")
    groups: list[str] = Field(default_factory=list, description="groups allowed; empty: everyone")
    default: bool = False
    options: dict[Name, TierOption] = Field(default_factory=dict)
    kubespawner_override: dict[str, Any] = Field(
        default_factory=dict, description="Kubernetes sites: further KubeSpawner traits, carried as given"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """``cpu: 2`` is ``cpu_guarantee: 2`` and ``cpu_limit: 2`` (likewise memory)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for short, read in (("cpu", _cores), ("memory", _size)):
            value = read(data.get(short))
            if value is None:  # unset, or invalid: the field's own validation names it
                continue
            for key in (f"{short}_guarantee", f"{short}_limit"):
                if data.get(key) is None:
                    data[key] = data[short]
                elif read(data[key]) != value:
                    raise LocatedError(
                        (key,),
                        f"disagrees with {short} ({short} is the guarantee and the limit at once)",
                        f"give either {short}, or {short}_guarantee and/or {short}_limit",
                    )
        return data

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> Tier:
        for what, show in (("cpu", lambda n: f"{n:g} cores"), ("memory", format_bytes)):
            guarantee, limit = getattr(self, f"{what}_guarantee"), getattr(self, f"{what}_limit")
            if guarantee is not None and limit is not None and guarantee > limit:
                raise LocatedError(
                    (f"{what}_guarantee",),
                    f"{show(guarantee)} is more than {what}_limit ({show(limit)})",
                    "lower the guarantee or raise the limit (Kubernetes refuses a request above its limit)",
                )
        return self

    @property
    def cpu_request(self) -> float:
        """Cores reserved for a server: what placement and quotas count (the pod's request)."""
        return self.cpu_guarantee or self.cpu_limit or 0.0

    @property
    def memory_request(self) -> int:
        """Bytes reserved for a server: what placement counts (the pod's request)."""
        return self.memory_guarantee or self.memory_limit or 0


class Environment(_Strict):
    """Software a server runs with: a Python environment on the local site, an image on clusters."""

    display_name: str = ""
    description: str = ""
    python: str | None = Field(
        None, description="local site: prefix of a Python environment; default: the hub's own"
    )
    image: str | None = Field(None, description="container image (Kubernetes sites)")
    groups: list[str] = Field(default_factory=list)
    default: bool = False
    kubespawner_override: dict[str, Any] = Field(
        default_factory=dict, description="Kubernetes sites: further KubeSpawner traits, carried as given"
    )


class DatasetLocation(_Strict):
    """Where a dataset lives on one site: exactly one of path, host_path, pvc or url."""

    path: str | None = Field(None, description="local site: a directory on this machine")
    host_path: str | None = Field(None, description="kubernetes: a directory on every node")
    pvc: str | None = Field(None, description="kubernetes: a PersistentVolumeClaim in the site's namespace")
    sub_path: str = ""
    url: str | None = Field(None, description="object storage, e.g. s3://bucket/prefix (read with fsspec)")
    secret: str | None = Field(
        None, description="kubernetes: Secret whose keys become env vars (credentials)"
    )
    read_only: bool = True

    @model_validator(mode="after")
    def _exactly_one(self) -> DatasetLocation:
        given = [k for k in ("path", "host_path", "pvc", "url") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of path, host_path, pvc or url")
        return self


class Dataset(_Strict):
    """Data a workload may request: where it lives per site and where it may be processed."""

    display_name: str = ""
    description: str = ""
    regions: list[str] = Field(
        default_factory=list, description="regions it may be processed in (patterns like eu-*); empty: any"
    )
    locations: dict[Name, DatasetLocation] = Field(min_length=1, description="per site")
    groups: list[str] = Field(default_factory=list, description="groups allowed; empty: everyone")


class Limits(_Strict):
    """Most a user (or a whole group) may hold at once across all sites; None: no limit."""

    gpus: int | None = Field(None, ge=0)
    cpu: float | None = Field(None, ge=0)


class Quotas(_Strict):
    per_user: Limits = Field(default_factory=Limits, description="every user")
    per_group: dict[str, Limits] = Field(default_factory=dict, description="all members of a group together")


class Policy(_Strict):
    """How placement ranks the sites that fit."""

    burst: Literal["never", "when-full", "when-cheaper"] = Field(
        "when-full",
        description="cloud sites: never; only when no on-prem site fits; or whenever cheaper",
    )


class Catalog(_Strict):
    """What an admin declares: the whole of ``catalog.yaml``."""

    sites: dict[Name, Site] = Field(min_length=1)
    tiers: dict[Name, Tier] = Field(min_length=1)
    environments: dict[Name, Environment] = Field(
        default_factory=lambda: {"default": Environment(display_name="Hub's Python environment")}
    )
    datasets: dict[Name, Dataset] = Field(default_factory=dict)
    quotas: Quotas = Field(default_factory=Quotas)
    placement: Policy = Field(default_factory=Policy)
    currency: str | None = Field(
        None,
        min_length=1,
        max_length=8,
        description='of prices: a code ("USD": 4.10 USD/h) or a symbol ("$": $4.10/h); default: none',
    )

    @model_validator(mode="after")
    def _references(self) -> Catalog:
        refs = [
            (("tiers", n, "sites", i), s, "sites")
            for n, t in self.tiers.items()
            for i, s in enumerate(t.sites)
        ]
        refs += [
            (("tiers", n, "environments", i), e, "environments")
            for n, t in self.tiers.items()
            for i, e in enumerate(t.environments)
        ]
        refs += [(("sites", n, "prices", t), t, "tiers") for n, s in self.sites.items() for t in s.prices]
        refs += [
            (("datasets", n, "locations", s), s, "sites")
            for n, d in self.datasets.items()
            for s in d.locations
        ]
        for loc, name, section in refs:
            if name not in getattr(self, section):
                raise CrossReferenceError(
                    loc,
                    f"unknown {section.rstrip('s')} {quote(name)}",
                    f"declare it under '{section}:' or use one of: {', '.join(getattr(self, section))}",
                )
        for name, dataset in self.datasets.items():
            for site, where in dataset.locations.items():
                kind = self.sites[site].kind
                if kind == "local" and (where.pvc or where.host_path or where.secret):
                    raise CrossReferenceError(
                        ("datasets", name, "locations", site),
                        "pvc, host_path and secret apply only to kubernetes sites",
                        "give a path (or a url) for a local site",
                    )
                if kind == "kubernetes" and where.path:
                    raise CrossReferenceError(
                        ("datasets", name, "locations", site),
                        "path applies only to local sites",
                        "give a pvc, a host_path or a url for a kubernetes site",
                    )
        for section in ("tiers", "environments"):
            defaults = [n for n, item in getattr(self, section).items() if item.default]
            if len(defaults) > 1:
                raise CrossReferenceError(
                    (section,),
                    f"more than one default ({', '.join(defaults)})",
                    "mark at most one with 'default: true'",
                )
        if not self.environments:
            raise CrossReferenceError(("environments",), "is empty", "declare one environment")
        return self

    def title(self, section: str, name: str) -> str:
        item = getattr(self, section)[name]
        return item.display_name or name

    def default_name(self, section: str, allowed: list[str]) -> str | None:
        """The item marked default if allowed, else the first allowed one."""
        items = getattr(self, section)
        marked = [n for n in allowed if items[n].default]
        return (marked or allowed or [None])[0]

    def tier_sites(self, tier: str) -> list[str]:
        return self.tiers[tier].sites or list(self.sites)

    def tier_environments(self, tier: str) -> list[str]:
        return self.tiers[tier].environments or list(self.environments)


class LocatedError(ValueError):
    """A value wrong in a way a field type cannot say; ``loc`` is relative to the model raising it."""

    def __init__(self, loc: tuple, message: str, fix: str):
        super().__init__(message)
        self.loc, self.message, self.fix = loc, message, fix


class CrossReferenceError(ValueError):
    """A catalog value that names something the catalog does not declare."""

    def __init__(self, loc: tuple, message: str, fix: str):
        super().__init__(message)
        self.loc, self.message, self.fix = loc, message, fix
