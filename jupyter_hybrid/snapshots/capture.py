"""Capture snapshots: of an interpreter, of a kernelspec's interpreter, of a notebook's kernel.

The packages are read by ``probe.py`` run inside the target interpreter; GPU, hub and git context
are read here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from ..quote import quote
from .errors import NotFound, SnapshotError
from .model import (
    GitInfo,
    GpuInfo,
    HubInfo,
    KernelSpecInfo,
    Package,
    Snapshot,
    canonical_name,
    package_problem,
)

PROBE = Path(__file__).with_name("probe.py")
PROBE_TIMEOUT = 120.0  # seconds; the probe of a 300-package environment takes well under one
GIT_TIMEOUT = 30.0  # seconds
# installers that fetch from an index when no direct_url.json says otherwise
INDEX_INSTALLERS = {"pip", "uv", "poetry", "pdm", "pipenv", "pipx", "hatch", "rye", "flit"}


def capture_python(
    python: str, *, name: str | None = None, note: str | None = None, timeout: float = PROBE_TIMEOUT
) -> Snapshot:
    """Snapshot of the environment of interpreter ``python`` (a path, or a command on PATH)."""
    data = run_probe(resolve_python(python), timeout=timeout)
    return build_snapshot(data, name=name, note=note)


def capture_kernel(
    kernel_name: str,
    *,
    name: str | None = None,
    note: str | None = None,
    kernel_spec_manager: KernelSpecManager | None = None,
    timeout: float = PROBE_TIMEOUT,
) -> Snapshot:
    """Snapshot of the interpreter kernelspec ``kernel_name`` starts (its ``argv[0]``, with its ``env``)."""
    ksm = kernel_spec_manager or KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        known = ", ".join(sorted(ksm.find_kernel_specs())) or "none"
        raise NotFound(f"no kernel named {quote(kernel_name)}; installed kernels: {known}") from None
    if (spec.language or "").lower() != "python":
        raise SnapshotError(
            f"kernel {kernel_name!r} runs {spec.language or 'an unknown language'}; "
            "snapshots capture Python kernels only"
        )
    if not spec.argv:
        raise SnapshotError(
            f"kernel {kernel_name!r} has an empty argv in its kernel.json; fix the kernelspec"
        )
    python = kernel_python(spec.argv[0])
    env = {**os.environ, **{k: str(v) for k, v in (spec.env or {}).items()}}
    data = run_probe(python, env=env, timeout=timeout)
    info = KernelSpecInfo(
        name=kernel_name, display_name=spec.display_name, language=spec.language, argv=list(spec.argv)
    )
    return build_snapshot(data, kernelspec=info, name=name, note=note)


def capture_notebook(
    path: str | os.PathLike,
    root_dir: str | os.PathLike,
    *,
    name: str | None = None,
    note: str | None = None,
    kernel_spec_manager: KernelSpecManager | None = None,
    timeout: float = PROBE_TIMEOUT,
) -> Snapshot:
    """Snapshot of a notebook's kernel plus the git state of its folder; the id is written into it.

    ``path`` is absolute or relative to ``root_dir`` and must resolve inside ``root_dir``
    (:class:`SnapshotError`, a ``ValueError``, otherwise). The id is stored as
    ``metadata["jupyter_hybrid"]["snapshot"]``.
    """
    nb_path = notebook_path(path, root_dir)
    try:
        with open(nb_path, encoding="utf-8") as f:
            nb = nbformat.read(f, as_version=nbformat.NO_CONVERT)
    except Exception as e:  # nbformat raises several kinds (JSON, reader, validation)
        raise SnapshotError(f"{path} is not a readable notebook: {e}") from None
    kernel = (nb.get("metadata", {}).get("kernelspec") or {}).get("name")
    if not kernel:
        raise SnapshotError(
            f"{path} names no kernel in its metadata (metadata.kernelspec.name); "
            "open it with a kernel and save it, or capture with --kernel NAME"
        )
    snap = capture_kernel(kernel, kernel_spec_manager=kernel_spec_manager, timeout=timeout)
    snap = snap.model_copy(update={"git": git_info(nb_path.parent), "name": name, "note": note})
    _write_snapshot_id(nb, nb_path, snap.id)
    return snap


def notebook_path(path: str | os.PathLike, root_dir: str | os.PathLike) -> Path:
    """``path`` resolved (symlinks too) inside ``root_dir``; SnapshotError/NotFound otherwise."""
    root = Path(root_dir).expanduser().resolve()
    shown = quote(str(path), limit=80)
    if any(not c.isprintable() for c in str(path)):  # NUL and other controls: no file has that name
        raise SnapshotError(f"notebook path {shown} holds a control character; give a plain path")
    try:
        candidate = Path(path).expanduser()
        resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
        is_file = resolved.is_file()
    except (OSError, ValueError) as e:  # too long, not encodable, ...
        raise SnapshotError(f"notebook path {shown} cannot be used: {e.__class__.__name__}") from None
    if not resolved.is_relative_to(root):
        raise SnapshotError(f"notebook path {shown} is outside the server root {root}; give a path inside it")
    if not is_file:
        raise NotFound(f"notebook {shown} not found under {root}")
    if resolved.suffix != ".ipynb":
        raise SnapshotError(f"{shown} is not a notebook (.ipynb)")
    return resolved


def _write_snapshot_id(nb, nb_path: Path, snapshot_id: str) -> None:
    meta = nb.setdefault("metadata", nbformat.NotebookNode())
    section = meta.get("jupyter_hybrid")
    if not isinstance(section, dict):
        section = meta["jupyter_hybrid"] = nbformat.NotebookNode()
    if section.get("snapshot") == snapshot_id:
        return
    section["snapshot"] = snapshot_id
    # write next to it, then replace: a failure never leaves a half-written notebook
    fd, tmp = tempfile.mkstemp(dir=nb_path.parent, prefix=f".{nb_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f, version=nbformat.NO_CONVERT)
        os.chmod(tmp, nb_path.stat().st_mode & 0o7777)
        os.replace(tmp, nb_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- interpreter and probe -----------------------------------------------------------------------


def resolve_python(python: str) -> str:
    """Absolute path of an interpreter given as a path or a command name; NotFound if there is none."""
    if os.sep in python or (os.altsep and os.altsep in python):
        path = Path(python).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.absolute())
        if path.is_dir() and (path / "bin" / "python").is_file():
            raise NotFound(f"{python} is a folder; give its interpreter, e.g. {path / 'bin' / 'python'}")
    else:
        found = shutil.which(python)
        if found:
            return found
    raise NotFound(f"Python interpreter {quote(python)} not found; give the path of a python executable")


def kernel_python(argv0: str) -> str:
    """The interpreter a kernelspec's ``argv[0]`` starts.

    ``python``, ``python3`` and ``python3.X`` of the running Python are replaced by
    ``sys.executable``, as jupyter_client does when it launches the kernel; ``{python}`` and
    other bare names are looked up on PATH.
    """
    major, minor = sys.version_info[:2]
    if argv0 in {"python", f"python{major}", f"python{major}.{minor}"}:
        return sys.executable
    return resolve_python(argv0.strip("{}") if argv0.startswith("{") else argv0)


def run_probe(python: str, env: dict | None = None, timeout: float = PROBE_TIMEOUT) -> dict:
    """Run ``probe.py`` inside ``python`` and return its JSON document."""
    try:
        proc = subprocess.run(
            [python, str(PROBE)], capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise NotFound(
            f"Python interpreter {python!r} not found; give the path of a python executable"
        ) from None
    except PermissionError:
        raise SnapshotError(f"{python} cannot be executed (permission denied)") from None
    except subprocess.TimeoutExpired:
        raise SnapshotError(
            f"reading the environment of {python} took over {timeout:g} s; try again"
        ) from None
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("error"):
        raise SnapshotError(f"{python}: {data['error']}")
    if proc.returncode != 0 or not isinstance(data, dict):
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:]) or "no output"
        raise SnapshotError(
            f"could not read the environment of {python} (exit status {proc.returncode}): {tail}; "
            "check that it is a working Python 3.8+ interpreter"
        )
    return data


# -- from the probe's document to a Snapshot -----------------------------------------------------


def build_snapshot(
    data: dict,
    *,
    kernelspec: KernelSpecInfo | None = None,
    git: GitInfo | None = None,
    name: str | None = None,
    note: str | None = None,
    hub: HubInfo | None | bool = True,
    gpu: GpuInfo | None | bool = True,
) -> Snapshot:
    """A Snapshot from a probe document; ``hub``/``gpu`` True means read them from this process."""
    return Snapshot(
        packages=packages_from_probe(data),
        python=data["python"],
        platform=data["platform"],
        kernelspec=kernelspec,
        hub=hub_info() if hub is True else hub,
        gpu=gpu_info() if gpu is True else gpu,
        git=git,
        captured_at=datetime.now(UTC),
        name=name,
        note=note,
    )


def packages_from_probe(data: dict) -> list[Package]:
    """Conda records as ``conda:<channel>``; Python distributions not owned by one, by their source.

    A distribution whose name, version or source is not valid (``packaging``'s rules) stops the
    capture with a SnapshotError naming it: such text must never reach a requirements file.
    """
    packages = [
        _package(r["name"], r["version"], "conda", f"conda:{r['channel']}") for r in data.get("conda") or ()
    ]
    conda_names = {canonical_name(p.name) for p in packages}
    for dist in data.get("distributions") or ():
        owner = dist.get("conda_package")
        if owner and canonical_name(owner) in conda_names:
            continue  # this distribution is the Python side of a conda package already listed
        if dist.get("installer") == "conda" and canonical_name(dist["name"]) in conda_names:
            continue
        source = package_source(dist["installer"], dist.get("direct_url"))
        packages.append(_package(dist["name"], dist["version"], dist["installer"], source))
    return packages


def _package(name, version, installer, source) -> Package:
    fields = [str(v) for v in (name, version, installer, source)]
    problem = package_problem(*fields)
    if problem:
        raise SnapshotError(
            f"cannot snapshot this environment: {problem}; uninstall or reinstall that distribution"
        )
    return Package(name=fields[0], version=fields[1], installer=fields[2], source=fields[3])


def package_source(installer: str, direct_url: dict | None) -> str:
    """The ``source`` string of a distribution, from its installer and PEP 610 direct_url.json."""
    if isinstance(direct_url, dict) and direct_url.get("url"):
        url = direct_url["url"]
        vcs = direct_url.get("vcs_info")
        if isinstance(vcs, dict) and vcs.get("vcs"):
            commit = vcs.get("commit_id") or vcs.get("requested_revision") or "unknown"
            sub = direct_url.get("subdirectory")
            return f"vcs:{vcs['vcs']}+{url}@{commit}" + (f"#subdirectory={sub}" if sub else "")
        dir_info = direct_url.get("dir_info")
        if isinstance(dir_info, dict) and dir_info.get("editable"):
            return f"editable:{_file_path(url)}"
        if url.startswith("file:") or isinstance(dir_info, dict):
            return "local"
        return f"url:{url}"
    if installer == "conda":
        return "conda:unknown"
    return "pypi" if installer in INDEX_INSTALLERS else "local"


def _file_path(url: str) -> str:
    parsed = urlparse(url)
    return unquote(parsed.path) if parsed.scheme == "file" else url


# -- context: hub, GPU, git ----------------------------------------------------------------------


def hub_info(environ: dict | None = None) -> HubInfo | None:
    """Tier, site, environment and image from the spawner's variables; None outside a hub."""
    env = os.environ if environ is None else environ
    info = HubInfo(
        tier=env.get("JUPYTER_HYBRID_TIER") or None,
        site=env.get("JUPYTER_HYBRID_SITE") or None,
        environment=env.get("JUPYTER_HYBRID_ENVIRONMENT") or None,
        image=env.get("JUPYTER_IMAGE") or env.get("JUPYTER_IMAGE_SPEC") or None,
    )
    return info if any(info.model_dump().values()) else None


def gpu_info() -> GpuInfo | None:
    """NVIDIA driver and CUDA versions and GPU models through NVML; None without a driver."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no library, or a broken one: no GPU to record
        return None
    try:
        driver = _nvml(pynvml.nvmlSystemGetDriverVersion)
        cuda_int = _nvml(pynvml.nvmlSystemGetCudaDriverVersion)
        cuda = f"{cuda_int // 1000}.{(cuda_int % 1000) // 10}" if isinstance(cuda_int, int) else None
        models = []
        for index in range(_nvml(pynvml.nvmlDeviceGetCount) or 0):
            handle = _nvml(pynvml.nvmlDeviceGetHandleByIndex, index)
            model = _nvml(pynvml.nvmlDeviceGetName, handle) if handle is not None else None
            if model:
                models.append(model)
        return GpuInfo(driver_version=driver, cuda_version=cuda, models=models)
    finally:
        _nvml(pynvml.nvmlShutdown)


def _nvml(call, *args):
    try:
        value = call(*args)
    except Exception:  # NVMLError and friends: an unsupported query is just unknown
        return None
    return value.decode() if isinstance(value, bytes) else value


def git_info(folder: Path) -> GitInfo | None:
    """Root, HEAD commit and dirty flag of the git work tree holding ``folder``; None if there is none."""

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout if proc.returncode == 0 else None

    root = git("rev-parse", "--show-toplevel")
    if root is None:
        return None
    head = git("rev-parse", "--verify", "-q", "HEAD")  # None in a repository with no commit yet
    status = git("status", "--porcelain")
    return GitInfo(
        root=root.strip(), commit=head.strip() if head else None, dirty=bool(status and status.strip())
    )
