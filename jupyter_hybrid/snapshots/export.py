"""Export a snapshot: a ``binder/`` folder repo2docker builds as is, or a pinned requirements.txt.

repo2docker's rules followed here: with ``environment.yml`` it ignores ``requirements.txt`` and
``runtime.txt``, so a conda snapshot's pip packages go into its ``pip:`` section; otherwise
``requirements.txt`` (pins) plus ``runtime.txt`` (``python-X.Y``); ``apt.txt`` only when known.
Editable and local packages cannot be installed elsewhere: they are left out with a comment.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections import Counter
from pathlib import Path

import yaml

from ..quote import quote
from .errors import SnapshotError
from .model import Package, Snapshot, canonical_name, package_problem

NOT_PINNED = {"pip"}  # the image brings its own pip
# "name==version" or "name @ url": starts with a name, one space-free URL, no ${VAR}, no continuation
_SAFE_LINE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(==[A-Za-z0-9.!+_-]+| @ (?!-)(?:(?!\$\{)\S)+(?<!\\))")


def requirement(p: Package) -> tuple[str | None, str | None]:
    """(requirement line, None) for an installable pip package, else (None, why it is left out).

    The package is checked again here (a Package made with ``model_copy`` skipped validation):
    SnapshotError naming it rather than a line pip could read as an option.
    """
    problem = package_problem(p.name, p.version, p.installer, p.source)
    if problem:
        raise SnapshotError(f"cannot export: {problem}")
    line, why = _requirement(p)
    if line is not None and not _SAFE_LINE.fullmatch(line):  # belt and braces: never an option
        raise SnapshotError(
            f"cannot export package {quote(p.name)}: {quote(line)} is not a plain requirement"
        )
    return line, why


def _requirement(p: Package) -> tuple[str | None, str | None]:
    if canonical_name(p.name) in NOT_PINNED:
        return None, f"{p.name} itself is not pinned: the build brings its own"
    if p.source == "pypi":
        return f"{p.name}=={p.version}", None
    kind, _, where = p.source.partition(":")
    if kind in ("url", "vcs") and where.partition("+")[2 if kind == "vcs" else 0].startswith("file:"):
        return None, f"{p.name}=={p.version} left out: installed from {where}, a local path"
    if kind in ("url", "vcs"):
        return f"{p.name} @ {where}", None
    if kind == "editable":
        return None, f"{p.name}=={p.version} left out: installed editable from {where}"
    if kind == "conda":
        return None, f"{p.name}=={p.version} left out: a conda package ({where})"
    return None, f"{p.name}=={p.version} left out: installed from a local file or by {p.installer!r}"


def _pip_lines(packages: list[Package]) -> tuple[list[str], list[str]]:
    pins, skipped = [], []
    for p in sorted(packages, key=lambda p: canonical_name(p.name)):
        line, why = requirement(p)
        if line:
            pins.append(line)
        elif canonical_name(p.name) not in NOT_PINNED:
            skipped.append(why)
    return pins, skipped


def _header(snap: Snapshot) -> str:
    return (
        f"# snapshot {snap.short_id}: Python {snap.python.version} ({snap.python.implementation}), "
        f"{snap.platform.system} {snap.platform.machine}; written by jupyter-hybrid\n"
    )


def export_requirements(snap: Snapshot) -> str:
    """A pinned requirements.txt of the snapshot's pip-installable packages (conda ones left out)."""
    pip_side = [p for p in snap.packages if not p.is_conda]
    pins, skipped = _pip_lines(pip_side)
    text = _header(snap) + "".join(f"{line}\n" for line in pins)
    conda = len(snap.packages) - len(pip_side)
    if conda:
        skipped.append(f"{conda} conda package(s) left out: export with --format binder for environment.yml")
    return text + "".join(f"# {why}\n" for why in skipped)


def environment_yml(snap: Snapshot) -> str:
    """A conda environment.yml: channels, conda packages pinned ``name=version``, pip ones under ``pip:``."""
    conda = [p for p in snap.packages if p.is_conda]
    for p in conda:
        problem = package_problem(p.name, p.version, p.installer, p.source)
        if problem:
            raise SnapshotError(f"cannot export: {problem}")
    names = {canonical_name(p.name) for p in conda}
    counts = Counter(p.source.partition(":")[2] for p in conda)
    channels = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c != "unknown"]
    deps: list = [f"{p.name}={p.version}" for p in conda]
    if "python" not in names:
        deps.insert(0, f"python={snap.python.version}")
    pins, skipped = _pip_lines([p for p in snap.packages if not p.is_conda])
    if pins:
        if "pip" not in names:
            deps.append("pip")
        deps.append({"pip": pins})
    doc = {"name": f"snapshot-{snap.short_id}", "channels": channels, "dependencies": deps}
    notes = "".join(f"# {why}\n" for why in skipped)
    return _header(snap) + notes + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def binder_files(snap: Snapshot, apt_packages: list[str] | None = None) -> dict[str, str]:
    """The files of a ``binder/`` folder, by name."""
    if snap.is_conda:
        files = {"environment.yml": environment_yml(snap)}
    else:
        files = {
            "requirements.txt": export_requirements(snap),
            "runtime.txt": f"python-{snap.python_minor}\n",
        }
    if apt_packages:
        files["apt.txt"] = "".join(f"{name}\n" for name in apt_packages)
    return files


def export_binder(
    snap: Snapshot, out_dir: str | os.PathLike, apt_packages: list[str] | None = None
) -> list[Path]:
    """Write the binder files into ``out_dir`` (created; must be new or empty); the paths written."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SnapshotError(
            f"{out} exists and is not an empty folder; give a new folder for the binder files"
        )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in binder_files(snap, apt_packages).items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def zip_binder(snap: Snapshot, apt_packages: list[str] | None = None) -> bytes:
    """A zip holding ``binder/<files>``; the same snapshot always gives the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in binder_files(snap, apt_packages).items():
            info = zipfile.ZipInfo(f"binder/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)
    return buf.getvalue()
