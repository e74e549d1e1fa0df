"""Job runs on this machine: one papermill process per run, in a session of its own.

The run interface a Kubernetes Job will fit as well: `submit` (start, return a handle that can be
stored), `wait` (to the end, enforcing the whole-run timeout), `events` (the live log),
`cancel` (the whole process tree, kernels included: jupyter_client starts them in sessions of
their own), `outcome` (completed/failed with the failing cell) and `reconcile` (after a control
plane restart: a run whose process is gone is read from its result file, or is "interrupted").

A run process gets this process's environment without secrets (no hub or API tokens, no store URL),
the tier's limits and `CUDA_VISIBLE_DEVICES` from its allocation.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from ..jobs.events import read_events
from ..jobs.execute import EVENTS, INPUT, OUTPUT, RESULT
from ..snapshots.environ import is_secret

RUNNER_LOG = "runner.log"
RUN_KERNEL = "jupyter-hybrid-run"  # the kernelspec written into a run's folder for its environment


@dataclass(frozen=True)
class RunHandle:
    """What the store keeps to find a run's process again: pid and its start time (pids recycle)."""

    run_dir: str
    pid: int
    started: float

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    status: str  # completed | failed
    error: dict | None = None
    output: str | None = None


def run_env(extra: dict[str, str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """The run process's environment: ours minus every secret, plus the tier's variables."""
    environ = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in environ.items() if not is_secret(k)}
    env.update(extra)
    return env


def kernel_for(run_dir: Path, python: str | None) -> tuple[str, dict[str, str]]:
    """The kernel a run executes with, and the variables that make it findable.

    No environment python: this interpreter's own `python3` kernel. Otherwise a kernelspec in
    the run's folder that starts ipykernel with that environment's interpreter (the run process
    finds it through JUPYTER_PATH), so a run uses exactly the environment its job names."""
    if not python:
        return "python3", {}
    prefix = Path(python).expanduser()
    exe = prefix if prefix.is_file() else prefix / "bin" / "python"
    spec_dir = run_dir / "kernels" / RUN_KERNEL
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(exe), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({exe})",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    path = os.pathsep.join(p for p in (str(run_dir), os.environ.get("JUPYTER_PATH", "")) if p)
    return RUN_KERNEL, {"JUPYTER_PATH": path}


def limits_env(cpu_limit: float | None, mem_limit: int | None, gpus: list[int]) -> dict[str, str]:
    """The tier's limits as JupyterHub hands them to local servers, and only the reserved GPUs."""
    env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus))}
    if cpu_limit:
        env["CPU_LIMIT"] = f"{cpu_limit:g}"
    if mem_limit:
        env["MEM_LIMIT"] = str(int(mem_limit))
    return env


def submit(run_dir: Path, kernel: str, extra_env: dict[str, str], start_at: float | None = None) -> RunHandle:
    """Start the run process for `run_dir`/input.ipynb; it writes everything else there.
    `start_at` (epoch s): start the kernel now, run the first cell then (a scheduled run)."""
    if not (run_dir / INPUT).is_file():
        raise FileNotFoundError(f"{run_dir / INPUT} is missing: store the injected notebook first")
    log = open(run_dir / RUNNER_LOG, "ab")  # noqa: SIM115 (the child holds it; ours is closed below)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_hybrid.jobs.execute", str(run_dir), kernel]
            + ([] if start_at is None else [repr(float(start_at))]),
            cwd=run_dir,
            env=run_env(extra_env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()
    return RunHandle(str(run_dir), proc.pid, psutil.Process(proc.pid).create_time())


def _process(handle: RunHandle) -> psutil.Process | None:
    try:
        proc = psutil.Process(handle.pid)
        if abs(proc.create_time() - handle.started) > 1 or proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.Error:
        return None


def alive(handle: RunHandle) -> bool:
    return _process(handle) is not None


def _reap(handle: RunHandle) -> None:
    try:  # our own child: collect its exit status so it leaves no zombie
        os.waitpid(handle.pid, os.WNOHANG)
    except ChildProcessError:
        pass


def cancel(handle: RunHandle, grace: float = 5.0) -> None:
    """SIGTERM to the run process and every descendant (kernels too), SIGKILL after `grace` s."""
    proc = _process(handle)
    if proc is None:
        return
    try:
        tree = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        tree = [proc]
    for p in tree:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, left = psutil.wait_procs(tree, timeout=grace)
    for p in left:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(left, timeout=grace)
    _reap(handle)


def outcome(handle: RunHandle, reason_if_missing: str = "interrupted") -> Outcome:
    """How the run ended, from its result file; without one it ended without finishing."""
    run_dir = Path(handle.run_dir)
    output = str(run_dir / OUTPUT) if (run_dir / OUTPUT).exists() else None
    try:
        result = json.loads((run_dir / RESULT).read_text())
    except (OSError, ValueError):
        tail = ""
        try:
            tail = (run_dir / RUNNER_LOG).read_text(errors="replace")[-2000:]
        except OSError:
            pass
        error = {"ename": "", "evalue": "", "traceback": tail, "message": reason_if_missing}
        return Outcome("failed", error, output)
    return Outcome(result["status"], result.get("error"), output)


async def wait(handle: RunHandle, timeout: float | None, poll: float = 0.1) -> Outcome:
    """Wait for the run to end; past `timeout` seconds of wall time cancel it and say so.

    papermill's own timeout is per cell and a hung kernel can outlive it (papermill #711, #684):
    this one counts from the start and ends the whole tree.
    """
    deadline = None if timeout is None else handle.started + timeout
    while alive(handle):
        _reap(handle)
        if deadline is not None and time.time() > deadline:
            await asyncio.to_thread(cancel, handle)
            found = outcome(handle)
            error = {"ename": "Timeout", "evalue": "", "traceback": "", "message": ""}
            if found.error and found.error.get("traceback"):
                error["traceback"] = found.error["traceback"]
            error["message"] = f"timed out: the run took longer than its timeout of {timeout:g} s"
            return Outcome("failed", error, found.output)
        await asyncio.sleep(poll)
    _reap(handle)
    return outcome(handle)


def events(handle: RunHandle, offset: int = 0) -> tuple[list[dict], int]:
    return read_events(Path(handle.run_dir) / EVENTS, offset)


def reconcile(handle: RunHandle) -> Outcome | None:
    """After a restart: None while the process still runs (keep watching it), else its outcome."""
    if alive(handle):
        return None
    return outcome(handle, "interrupted: the run process ended without a result")
