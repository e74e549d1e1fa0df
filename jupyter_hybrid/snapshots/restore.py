"""Restore a snapshot as a new kernel: environment, pinned packages, kernelspec, re-capture + diff.

A venv with an interpreter of the snapshot's Python X.Y (conda when the snapshot is conda and
``conda``/``mamba`` is on PATH); the pins of :func:`export.export_requirements` installed with pip;
ipykernel added (kept within the pins when it can be); a kernelspec registered. Then the new
environment is captured and diffed against the snapshot: what ipykernel brought in is listed
apart (``added_for_kernel``), so the rest of the diff is exactly what could not be reproduced.
If any step fails, the half-made environment and kernelspec are removed and nothing else is touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_core.paths import jupyter_data_dir

from ..quote import quote
from . import capture, export
from .diff import diff, is_empty
from .environ import restore_env
from .errors import SnapshotError
from .model import Snapshot, canonical_name

STEP_TIMEOUT = 3600.0  # seconds one step (venv, pip install) may take
ERROR_LINES = 8  # lines of a failed step's output quoted in the error
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass
class RestoreResult:
    kernel_name: str
    display_name: str
    env_path: Path
    diff: dict  # snapshot -> restored environment; diff["packages"]["added_for_kernel"] too
    added_for_kernel: list[dict] = field(default_factory=list)
    snapshot: Snapshot | None = None  # the restored environment as captured


def check_name(name: str | None, snap: Snapshot | None = None) -> str:
    """The kernel (and environment folder) name a restore will use; SnapshotError if it is not valid.

    Lowercase letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit (so never
    ``.`` or ``..``), at most 64 characters. ``None`` means ``snapshot-<short id>``.
    """
    if name is None and snap is not None:
        return f"snapshot-{snap.short_id}"
    kernel_name = name.lower() if isinstance(name, str) else ""
    if not _NAME.match(kernel_name):
        raise SnapshotError(
            f"kernel name {quote(name)} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return kernel_name


@dataclass
class Plan:
    """What :func:`check` found: where the restore goes and with which tools."""

    kernel_name: str
    env_path: Path
    kernel_dir: Path
    conda: str | None  # conda/mamba for a conda snapshot
    base: str | None  # the interpreter that makes the venv otherwise


def check(
    snap: Snapshot,
    name: str | None,
    envs_dir: str | os.PathLike,
    *,
    prefix: str | os.PathLike | None = None,
    kernel_spec_manager: KernelSpecManager | None = None,
) -> Plan:
    """Everything a restore can refuse before it starts (name, name taken, conda, Python X.Y).

    Nothing is created; a :class:`SnapshotError` says what to change.
    """
    kernel_name = check_name(name, snap)
    env_path = Path(envs_dir).expanduser().absolute() / kernel_name
    kernel_dir = _kernel_dir(kernel_name, prefix)
    if env_path.exists():
        raise SnapshotError(f"{env_path} already exists; choose another name or remove that environment")
    ksm = kernel_spec_manager or KernelSpecManager()
    if kernel_dir.exists() or kernel_name in ksm.find_kernel_specs():
        raise SnapshotError(f"a kernel named {kernel_name!r} already exists; choose another name")
    conda = _conda_tool() if snap.is_conda else None
    if snap.is_conda and conda is None:
        raise SnapshotError(
            f"snapshot {snap.short_id} is a conda environment and conda is not installed here; "
            "install conda (or mamba), or export it with --format binder and build it with repo2docker"
        )
    base = None if conda else find_python(snap.python_minor)
    return Plan(kernel_name, env_path, kernel_dir, conda, base)


def restore(
    snap: Snapshot,
    name: str | None,
    envs_dir: str | os.PathLike,
    progress: Callable[[str], None] | None = None,
    *,
    prefix: str | os.PathLike | None = None,
    timeout: float = STEP_TIMEOUT,
    kernel_spec_manager: KernelSpecManager | None = None,
    env_deny: tuple[str, ...] = (),
) -> RestoreResult:
    """Create ``envs_dir/<name>`` from ``snap``; register kernel ``name`` (default ``snapshot-<short id>``).

    The kernelspec goes to the user's kernels folder, or ``<prefix>/share/jupyter/kernels`` when
    ``prefix`` is given; ``kernel_spec_manager`` (the server's) is the one asked which kernels
    exist and that installs it. ``progress`` receives step messages and pip's output, line by line.
    pip, conda and build backends run with :func:`environ.restore_env` (no tokens, passwords or
    database URLs; ``env_deny`` adds name patterns to withhold).
    """
    say = progress or (lambda line: None)
    env = restore_env(extra_deny=env_deny)
    ksm = kernel_spec_manager or KernelSpecManager()
    plan = check(snap, name, envs_dir, prefix=prefix, kernel_spec_manager=ksm)
    kernel_name, env_path, kernel_dir = plan.kernel_name, plan.env_path, plan.kernel_dir
    display_name = f"Python (snapshot {snap.id[:8]})"
    env_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        env_path.mkdir()  # claims the name: a concurrent restore of the same name stops here
    except FileExistsError:
        raise SnapshotError(
            f"{env_path} already exists; choose another name or remove that environment"
        ) from None
    made_kernel = False
    try:
        step = Steps(say, timeout, env)
        python = _create_env(snap, env_path, plan.base, plan.conda, step)
        before = _packages(python, env)
        _add_ipykernel(snap, python, env_path, step)
        say(f"registering kernel {kernel_name!r} ({display_name})")
        made_kernel = True
        _install_kernelspec(ksm, python, kernel_name, display_name, snap.id, prefix)
        say("capturing the restored environment")
        restored = capture.build_snapshot(capture.run_probe(python, env=env))
    except BaseException as e:
        say(f"restore failed; removing {env_path}" + (f" and kernel {kernel_name!r}" if made_kernel else ""))
        shutil.rmtree(env_path, ignore_errors=True)
        if made_kernel:
            shutil.rmtree(kernel_dir, ignore_errors=True)
        if isinstance(e, OSError):
            raise SnapshotError(f"restore failed: {e}") from e
        raise
    result = diff(snap, restored)
    added, for_kernel = [], []
    for p in result["packages"]["added"]:
        (added if canonical_name(p["name"]) in before else for_kernel).append(p)
    result["packages"]["added"], result["packages"]["added_for_kernel"] = added, for_kernel
    say("done: the environment differs from the snapshot, see the diff" if not is_empty(result) else "done")
    return RestoreResult(kernel_name, display_name, env_path, result, for_kernel, restored)


def find_python(minor: str) -> str:
    """An interpreter of Python ``minor`` (``3.11``): this one if it matches, else ``python3.11`` on PATH."""
    if "{}.{}".format(*sys.version_info[:2]) == minor:
        return sys.executable
    found = shutil.which(f"python{minor}")
    if found and _python_minor(found) == minor:
        return found
    raise SnapshotError(
        f"Python {minor} is not installed here; install it (python{minor} on PATH) to restore"
    )


def _python_minor(python: str) -> str | None:
    try:
        proc = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _env_python(env_path: Path) -> str:
    return str(env_path / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))


def _conda_tool() -> str | None:
    return shutil.which("conda") or shutil.which("mamba")


@dataclass
class Steps:
    """How a restore runs its tools: where output goes, how long a step may take, which env."""

    say: Callable[[str], None]
    timeout: float
    env: dict

    def run(self, cmd: list[str], what: str) -> None:
        run_streaming(cmd, self.say, what, self.timeout, env=self.env)

    def pip(self, python: str, args: list[str], what: str) -> None:
        self.run([python, "-m", "pip", "install", "--progress-bar", "off", *args], what)


def _create_env(snap: Snapshot, env_path: Path, base: str | None, conda: str | None, step: Steps) -> str:
    say = step.say
    if conda:
        env_path.rmdir()  # conda creates the prefix itself
        with tempfile.TemporaryDirectory() as tmp:
            yml = Path(tmp) / "environment.yml"
            yml.write_text(export.environment_yml(snap), encoding="utf-8")
            say(f"creating conda environment {env_path} ({len(snap.packages)} packages)")
            step.run([conda, "env", "create", "-q", "-p", str(env_path), "-f", str(yml)], "conda env create")
        return _env_python(env_path)
    say(f"creating venv {env_path} with {base}")
    step.run([base, "-m", "venv", str(env_path)], "creating the venv")
    python = _env_python(env_path)
    wanted = next((p.version for p in snap.packages if canonical_name(p.name) == "pip"), None)
    if wanted:
        say(f"installing pip {wanted}")
        try:
            step.pip(python, ["pip==" + wanted], f"installing pip {wanted}")
        except SnapshotError as e:  # keep the venv's own pip; the diff will show it
            say(f"kept the venv's own pip: {e}")
    requirements = env_path / "snapshot-requirements.txt"
    requirements.write_text(export.export_requirements(snap), encoding="utf-8")
    count = sum(1 for line in requirements.read_text().splitlines() if line and not line.startswith("#"))
    if count:
        say(f"installing {count} pinned packages")
        step.pip(python, ["-r", str(requirements)], "pip install")
    return python


def _add_ipykernel(snap: Snapshot, python: str, env_path: Path, step: Steps) -> None:
    if any(canonical_name(p.name) == "ipykernel" for p in snap.packages):
        return  # pinned with the rest
    pins = [export.requirement(p)[0] for p in snap.packages if p.source == "pypi"]
    constraints = env_path / "snapshot-constraints.txt"
    constraints.write_text("".join(f"{line}\n" for line in pins if line), encoding="utf-8")
    step.say("installing ipykernel within the snapshot's pins")
    try:
        step.pip(python, ["ipykernel", "-c", str(constraints)], "pip install ipykernel")
    except SnapshotError:
        step.say("ipykernel does not fit the snapshot's pins; installing it without them (see the diff)")
        step.pip(python, ["ipykernel"], "pip install ipykernel")


def _packages(python: str, env: dict) -> set[str]:
    data = capture.run_probe(python, env=env)
    return {canonical_name(p.name) for p in capture.packages_from_probe(data)}


def run_streaming(
    cmd: list[str],
    say: Callable[[str], None],
    what: str,
    timeout: float = STEP_TIMEOUT,
    *,
    env: dict | None = None,
) -> None:
    """Run ``cmd`` (with ``env``, default :func:`restore_env`), each output line to ``say``;
    SnapshotError with the last error lines if it fails."""
    tail: deque[str] = deque(maxlen=200)
    try:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=restore_env() if env is None else env,
        )
    except OSError as e:
        raise SnapshotError(f"{what} could not start: {e}") from None
    expired = threading.Event()

    def stop():
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, stop)
    timer.start()
    try:
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                say(line)
        status = proc.wait()
    finally:
        timer.cancel()
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if status != 0:
        errors = [line for line in tail if line.startswith("ERROR")] or list(tail)
        detail = "\n".join(errors[-ERROR_LINES:]) or "no output"
        killed = f" (stopped after {timeout:g} s)" if expired.is_set() else ""
        raise SnapshotError(f"{what} failed with exit status {status}{killed}:\n{detail}")


def _kernel_dir(kernel_name: str, prefix) -> Path:
    if prefix is not None:
        return Path(prefix) / "share" / "jupyter" / "kernels" / kernel_name
    return Path(jupyter_data_dir()) / "kernels" / kernel_name


def _install_kernelspec(
    ksm: KernelSpecManager, python: str, kernel_name: str, display_name: str, snapshot_id: str, prefix
) -> Path:
    spec = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "metadata": {"debugger": True, "jupyter_hybrid": {"snapshot": snapshot_id}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
        if prefix is None:
            return Path(ksm.install_kernel_spec(tmp, kernel_name=kernel_name, user=True))
        return Path(ksm.install_kernel_spec(tmp, kernel_name=kernel_name, prefix=str(prefix)))
