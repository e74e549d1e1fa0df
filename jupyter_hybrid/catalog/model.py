"""The catalog's declarations: sites, hardware tiers and environments (pydantic models).

Names are slugs (they appear in URLs, env vars and Kubernetes labels). Sizes use the same units
as JupyterHub's ``mem_limit``: a number of bytes or a number with K, M, G or T (powers of 1024).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

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
        raise ValueError(f"{value!r} is not a size: write bytes or a number with K, M, G or T, e.g. 2G")
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


class Site(_Strict):
    """Where workloads run. ``local`` is this machine (processes started by the hub)."""

    kind: Literal["local"] = "local"
    display_name: str = ""
    description: str = ""
    region: str = "local"
    cost_per_hour: float = Field(0.0, ge=0, description="price of one hour of this site, any tier")
    max_cpu: float | None = Field(None, gt=0, description="cores to offer; default: all cores")
    max_memory: Bytes | None = Field(None, description="memory to offer; default: all memory")
    on_prem: bool = True


class Tier(_Strict):
    """A hardware size a user can pick: CPU cores, memory and GPUs."""

    display_name: str = ""
    description: str = ""
    cpu: float = Field(gt=0, description="cores (limit)")
    memory: Bytes
    gpu: int = Field(0, ge=0, description="whole GPUs")
    gpu_model: str | None = Field(None, description="substring of the NVML device name, e.g. A100")
    sites: list[Name] = Field(default_factory=list, description="sites it may run on; empty: all")
    groups: list[str] = Field(default_factory=list, description="groups allowed; empty: everyone")
    default: bool = False


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


class Catalog(_Strict):
    """What an admin declares: the whole of ``catalog.yaml``."""

    sites: dict[Name, Site] = Field(min_length=1)
    tiers: dict[Name, Tier] = Field(min_length=1)
    environments: dict[Name, Environment] = Field(
        default_factory=lambda: {"default": Environment(display_name="Hub's Python environment")}
    )

    @model_validator(mode="after")
    def _references(self) -> Catalog:
        for name, tier in self.tiers.items():
            for i, site in enumerate(tier.sites):
                if site not in self.sites:
                    raise CrossReferenceError(
                        ("tiers", name, "sites", i),
                        f"unknown site {site!r}",
                        f"declare it under 'sites:' or use one of: {', '.join(self.sites)}",
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


class CrossReferenceError(ValueError):
    """A catalog value that names something the catalog does not declare."""

    def __init__(self, loc: tuple, message: str, fix: str):
        super().__init__(message)
        self.loc, self.message, self.fix = loc, message, fix
