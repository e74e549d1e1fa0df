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

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field, model_validator

from ..quote import quote
from .errors import SnapshotError

SHORT_ID = 12
_SOURCE = re.compile(r"(pypi|local|conda:\S+|url:\S+|editable:.+|vcs:[a-z]+\+\S+@\S+)")
_NORMALIZE = re.compile(r"[-_.]+")
# PEP 508 distribution names; conda's package names and versions (letters, digits, _ . + ! only)
PY_NAME = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE)
CONDA_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
CONDA_VERSION = re.compile(r"[A-Za-z0-9_.+!]+")
INSTALLER = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
_URL_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
MAX_FIELD = 255  # name and version length
MAX_SOURCE = 4096


def canonical_name(name: str) -> str:
    """PEP 503 normalized name: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return _NORMALIZE.sub("-", name).lower()


def package_problem(name: str, version: str, installer: str, source: str) -> str | None:
    """Why these fields are not one installable, unambiguous package (None when they are).

    Python distributions: a PEP 508 name and a PEP 440 version (``packaging``); url/vcs sources
    must make a valid ``name @ url`` requirement. Conda packages: conda's name/version characters.
    So no field can carry whitespace, an option (``--index-url``) or a line break into the
    requirements.txt and environment.yml made from it.
    """
    who = f"package {quote(name)}"
    if len(name) > MAX_FIELD or len(version) > MAX_FIELD or len(source) > MAX_SOURCE:
        return f"{who}: name, version or source too long"
    if not _SOURCE.fullmatch(source):
        return (
            f"{who}: unknown package source {quote(source)}: use pypi, local, conda:<channel>, url:<url>, "
            "editable:<path or url> or vcs:<vcs>+<url>@<commit>"
        )
    if not INSTALLER.fullmatch(installer):
        return f"{who}: installer {quote(installer)} is not a tool name (letters, digits, . _ + -)"
    kind, _, where = source.partition(":")
    if kind == "conda":
        if not CONDA_NAME.fullmatch(name):
            return f"package name {quote(name)} is not a conda package name"
        if not CONDA_VERSION.fullmatch(version):
            return f"{who}: version {quote(version)} is not a conda version"
        return None
    if not PY_NAME.fullmatch(name):
        return f"package name {quote(name)} is not a valid distribution name (PEP 508)"
    try:
        Version(version)
    except InvalidVersion:
        return f"{who}: version {quote(version)} is not a valid version (PEP 440)"
    if kind in ("url", "vcs"):
        url = where
        if "${" in url or url.endswith("\\"):  # pip expands ${VAR} and joins a line ending in \
            return f"{who}: source {quote(source)} holds '${{' or a trailing backslash"
        if not _URL_SCHEME.match(url):
            return f"{who}: source {quote(source)} is not a URL (scheme://...)"
        try:
            req = Requirement(f"{name} @ {url}")
        except InvalidRequirement:
            return f"{who}: source {quote(source)} is not a valid direct reference (PEP 440 'name @ url')"
        if req.url != url or req.extras or req.marker or req.specifier:
            return f"{who}: source {quote(source)} is not a plain URL"
    return None


class Package(BaseModel):
    """One installed package.

    ``source``: ``pypi`` (an index), ``conda:<channel>``, ``url:<url>``, ``editable:<path or url>``,
    ``vcs:<vcs>+<url>@<commit>`` or ``local`` (a local file/folder, or installed by a tool that
    records no source). Pip packages inside a conda environment keep installer ``pip``.
    Every field is checked by :func:`package_problem`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    version: str
    installer: str = Field(min_length=1)
    source: str

    @model_validator(mode="after")
    def _valid(self):
        problem = package_problem(self.name, self.version, self.installer, self.source)
        if problem:
            raise ValueError(problem)
        return self

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


def load_snapshot(data: object, what: str = "snapshot") -> Snapshot:
    """A Snapshot from stored or sent JSON; SnapshotError naming the package or field otherwise."""
    try:
        return Snapshot.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"][:2])
        msg = err["msg"].removeprefix("Value error, ")
        raise SnapshotError(f"{what} is not usable: {where + ': ' if where else ''}{msg}") from None
