"""LocalSite: notebook servers as processes on this machine (the embedded default site).

Process management is JupyterHub's own ``LocalProcessSpawner`` (or a subclass the admin picks);
this site adds capacity accounting, GPU assignment and stopping the whole process tree.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import psutil

from ..catalog import Environment, Site, Tier
from ..gpu.devices import detect_gpus
from ..sitedata import model_serves
from .base import Allocation, BaseSite, CapacityError, SiteState, gpu_label, gpu_need, gpu_shortage
from .datasets import local_dataset_env


def _cores() -> float:
    try:
        return float(len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return float(os.cpu_count() or 1)


def environment_prefix(env: Environment | None) -> Path:
    """The prefix of a local Python environment: ``python`` may be a prefix or an interpreter."""
    if env is None or not env.python:
        return Path(sys.prefix)
    path = Path(env.python).expanduser()
    if path.is_file():  # .../bin/python
        return path.parent.parent
    return path


class LocalSite(BaseSite):
    kind = "local"
    #: how long stop() waits for survivors of the process tree after SIGTERM before SIGKILL
    tree_term_timeout = 5.0

    def __init__(self, name: str, spec: Site):
        super().__init__(name, spec)
        self._detected: tuple[list, str | None] | None = None  # the last (devices, reason)
        self._detected_at = 0.0  # time.monotonic() of that read
        self._detecting: asyncio.Future | None = None  # the read in flight, shared by all callers

    def _gpus(self):
        """Read the devices now (blocking NVML calls; tests and simulations swap this)."""
        return detect_gpus()

    def _devices(self) -> tuple[list, str | None]:
        """The last device read, reused whatever its age: NVML never runs on the event loop's
        thread. Only a caller with no loop (a script, the CLI) that finds nothing read yet reads."""
        if self._detected is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                self._store(self._gpus())
            else:
                return [], "GPUs not read yet"
        return self._detected

    def _store(self, detected: tuple[list, str | None]) -> None:
        self._detected, self._detected_at = detected, time.monotonic()

    async def refresh(self) -> SiteState:
        """State with the devices re-read (in a thread) once the last read is older than the site's
        ``refresh_seconds``; concurrent callers (20 users opening the form) share one read."""
        fresh = time.monotonic() - self._detected_at < self.spec.refresh_seconds
        if self._detected is None or not fresh:
            task = self._detecting
            if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
                task = self._detecting = asyncio.ensure_future(asyncio.to_thread(self._gpus))
                task.add_done_callback(lambda t: t.cancelled() or t.exception() or self._store(t.result()))
            await asyncio.shield(task)
        return self.state()

    def _held(self) -> list[Allocation]:
        """What every workload holds here: the ledger's rows of every kind and process when one is
        attached, else this process's own reservations."""
        if self.ledger is not None:
            return [a.allocation() for a in self.ledger.held(self.name)]
        return list(self.allocations.values())

    def state(self) -> SiteState:
        memory = psutil.virtual_memory()
        cpu_total = min(self.spec.max_cpu or _cores(), _cores())
        memory_total = min(self.spec.max_memory or memory.total, memory.total)
        held = self._held()
        devices, reason = self._devices()
        used = {i for a in held for i in a.gpus}
        total: dict[str, int] = {}
        free: dict[str, int] = {}
        for d in devices:
            total[d.model] = total.get(d.model, 0) + 1
            free[d.model] = free.get(d.model, 0) + (d.index not in used)
        return SiteState(
            name=self.name,
            kind=self.kind,
            region=self.spec.region,
            display_name=self.spec.display_name or "This machine",
            on_prem=self.spec.on_prem,
            cost_per_hour=self.spec.cost_per_hour,
            prices=dict(self.spec.prices),
            cpu_total=cpu_total,
            cpu_free=max(0.0, cpu_total - sum(a.cpu for a in held)),
            memory_total=memory_total,
            memory_free=min(memory.available, max(0, memory_total - sum(a.memory for a in held))),
            cpu_reserved=sum(a.cpu for a in held),  # placement fits on these (catalog overcommit)
            memory_reserved=sum(a.memory for a in held),
            gpus_total=total,
            gpus_free=free,
            gpu_reason=None if devices else reason,
        )

    def environment_problem(self, env: Environment) -> str | None:
        if env.image and not env.python:
            return "it is a container image; this site runs Python environments"
        launcher = environment_prefix(env) / "bin" / "jupyterhub-singleuser"
        if not launcher.exists():
            return f"{launcher} not found: install jupyterhub and jupyter_hybrid in that environment"
        return None

    def candidates(self, tier: Tier) -> tuple[list[tuple[int, str]], str | None]:
        """The devices that serve ``tier`` (``(index, model)``, held or not) and, when there are no
        devices at all, why (e.g. 'no NVIDIA driver'): what ``Ledger.hold`` picks from."""
        devices, reason = self._devices()
        serving = [(d.index, d.model) for d in devices if model_serves(d.model, tier.gpu_model, tier.mig)]
        return serving, None if devices else reason

    def reserve(self, key: str, tier: Tier) -> Allocation:
        """``hold`` as a server with no owner (with a ledger, call ``hold`` and name the owner)."""
        return self.hold(key, tier)

    def hold(self, key, tier, *, kind="server", owner="", groups=(), tier_name="", check=None) -> Allocation:
        """Reserve the tier's cores, memory and GPUs for ``(kind, key)``. The GPUs are the lowest
        serving indices that no other workload holds: with a ledger, those held by every process
        sharing the store (servers, job runs, deployments), picked in one transaction with the
        record; else those reserved in this process. CapacityError names the holders."""
        groups = sorted(set(groups))
        serving, reason = self.candidates(tier) if tier.gpu else ([], None)
        if tier.gpu and reason:
            unit = "slice" if tier.mig else "GPU"
            raise CapacityError(f"{gpu_need(tier.gpu, gpu_label(tier), unit)}; {self.name}: {reason}")
        if self.ledger is None:
            gpus = self._pick_here(key, tier, serving)
            allocation = Allocation(tier.cpu_request, tier.memory_request, gpus, len(gpus), owner, groups)
        else:
            held = self.ledger.hold(
                kind,
                key,
                owner,
                self.name,
                tier_name,
                tier.cpu_request,
                tier.memory_request,
                tier.gpu,
                gpu_label(tier),
                serving,
                groups=groups,
                check=check,
            )
            allocation = held.allocation()
        self.allocations[key], self._kinds[key] = allocation, kind
        return allocation

    def _pick_here(self, key: str, tier: Tier, serving: list[tuple[int, str]]) -> list[int]:
        """This process's own pick (no ledger): indices no other key of this site holds."""
        if not tier.gpu:
            return []
        others = ((self._kinds.get(k, "server"), a) for k, a in self.allocations.items() if k != key)
        holder = {i: kind for kind, a in others for i in a.gpus}
        free = [i for i, _ in serving if i not in holder]
        if len(free) < tier.gpu:
            held = [holder[i] for i, _ in serving if i in holder]
            unit = "slice" if tier.mig else "GPU"
            raise CapacityError(gpu_shortage(self.name, tier.gpu, gpu_label(tier), unit, len(free), held))
        return free[: tier.gpu]

    def server_spawner(self, parent, tier, env, names, allocation, datasets=None, overrides=None):
        child = parent.make_child_spawner(parent.local_spawner_class)
        if tier is None:  # only to poll or stop a server that is already running
            return child
        datasets_env = local_dataset_env(self.name, datasets or {})
        child.cmd = [str(environment_prefix(env) / "bin" / "jupyterhub-singleuser")]
        # JupyterHub exports these as CPU_LIMIT/MEM_LIMIT (and *_GUARANTEE); None: not set
        child.cpu_limit, child.cpu_guarantee = tier.cpu_limit, tier.cpu_guarantee
        child.mem_limit, child.mem_guarantee = tier.memory_limit, tier.memory_guarantee
        child.environment = {
            **child.environment,
            **{f"JUPYTER_HYBRID_{k.upper()}": v for k, v in names.items()},
            "JUPYTER_HYBRID_GPUS": str(len(allocation.gpus)),
            "JUPYTER_HYBRID_PLACEMENT": "; ".join(getattr(parent, "placement_reasons", [])),
            # CPU tiers see no GPU; GPU tiers see only the devices reserved for them
            "CUDA_VISIBLE_DEVICES": ",".join(map(str, allocation.gpus)),
            **datasets_env,
        }
        return child

    async def stop_server(self, child, now: bool = False) -> None:
        """Stop the server, then any process it left behind (kernels run in their own sessions)."""
        tree = []
        pid = getattr(child, "pid", 0)
        if pid:
            try:
                tree = psutil.Process(pid).children(recursive=True)
            except psutil.Error:
                pass
        await child.stop(now=now)
        alive = [p for p in tree if p.is_running()]
        for p in alive:
            try:
                p.terminate()
            except psutil.Error:
                pass
        loop = asyncio.get_running_loop()
        _, alive = await loop.run_in_executor(None, psutil.wait_procs, alive, self.tree_term_timeout)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
