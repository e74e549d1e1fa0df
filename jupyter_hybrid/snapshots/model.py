"""Snapshot models. A snapshot's ``id`` is the sha256 of its environment-defining content.

The id covers the packages, Python version and implementation, platform system/machine/libc,
GPU driver and CUDA versions and the container image; not paths, capture time, name, note, git
state, tier or site. So capturing the same environment twice gives the same id.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

SHORT_ID = 12
_SOURCE = re.compile(r"^(pypi|local|conda:\S+|url:\S+|editable:.+|vcs:[a-z]+\+\S+@\S+)$")
_NORMALIZE = re.compile(r"[-_.]+")


def canonical_name(name: str) -> str:
    """PEP 503 normalized name: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return _NORMALIZE.sub("-", name).lower()


class Package(BaseModel):
    """One installed package.

    ``source``: ``pypi`` (an index), ``conda:<channel>``, ``url:<url>``, ``editable:<path or url>``,
    ``vcs:<vcs>+<url>@<commit>`` or ``local`` (a local file/folder, or installed by a tool that
    records no source). Pip packages inside a conda environment keep installer ``pip``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    version: str
    installer: str = Field(min_length=1)
    source: str

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if not _SOURCE.match(value):
            raise ValueError(
                f"unknown package source {value!r}: use pypi, local, conda:<channel>, url:<url>, "
                "editable:<path or url> or vcs:<vcs>+<url>@<commit>"
            )
        return value

    @property
    def is_conda(self) -> bool:
        return self.source.startswith("conda:")


class PythonInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str
    implementation: str
    executable: str = ""
    prefix: str = ""


class PlatformInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    system: str
    release: str = ""
    machine: str
    platform: str = ""
    libc: str = ""


class KernelSpecInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    display_name: str = ""
    language: str = ""
    argv: list[str] = []


class HubInfo(BaseModel):
    """Where the capturing server ran, from the spawner's environment variables."""

    model_config = ConfigDict(extra="ignore")
    tier: str | None = None
    site: str | None = None
    environment: str | None = None
    image: str | None = None


class GpuInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    driver_version: str | None = None
    cuda_version: str | None = None
    models: list[str] = []


class GitInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    root: str
    commit: str | None = None
    dirty: bool = False


def _package_key(p: Package) -> tuple:
    return (canonical_name(p.name), p.is_conda, p.name, p.version, p.installer, p.source)


class Snapshot(BaseModel):
    """What one Python environment was, at one moment. Unknown keys (a store's record fields) are ignored.

    Leave ``id`` empty to have it computed; a given ``id`` must match the content.
    """

    model_config = ConfigDict(extra="ignore")
    id: str = ""
    packages: list[Package]
    python: PythonInfo
    platform: PlatformInfo
    kernelspec: KernelSpecInfo | None = None
    hub: HubInfo | None = None
    gpu: GpuInfo | None = None
    git: GitInfo | None = None
    captured_at: datetime
    name: str | None = None
    note: str | None = None

    @computed_field
    @property
    def short_id(self) -> str:
        return self.id[:SHORT_ID]

    @model_validator(mode="after")
    def _content_id(self):
        self.packages = sorted(self.packages, key=_package_key)
        expected = self.compute_id()
        if not self.id:
            self.id = expected
        elif self.id != expected:
            raise ValueError(
                f"snapshot id {self.id[:SHORT_ID]} does not match its content ({expected[:SHORT_ID]}): "
                "the snapshot was edited or is corrupt"
            )
        return self

    def canonical(self) -> dict:
        """The environment-defining content the id is computed from."""
        return {
            "packages": [p.model_dump() for p in self.packages],
            "python": {"version": self.python.version, "implementation": self.python.implementation},
            "platform": {
                "system": self.platform.system,
                "machine": self.platform.machine,
                "libc": self.platform.libc,
            },
            "gpu": (
                {"driver_version": self.gpu.driver_version, "cuda_version": self.gpu.cuda_version}
                if self.gpu
                else None
            ),
            "image": self.hub.image if self.hub else None,
        }

    def compute_id(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def is_conda(self) -> bool:
        return any(p.is_conda for p in self.packages)

    @property
    def python_minor(self) -> str:
        """``3.11`` for Python 3.11.7."""
        return ".".join(self.python.version.split(".")[:2])
