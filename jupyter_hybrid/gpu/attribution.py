"""Which kernel and notebook holds which GPU memory.

NVML lists the processes using a GPU (pid, memory). A process belongs to a kernel when the kernel's
pid is the process itself or one of its ancestors (a kernel's children, e.g. DataLoader workers or a
subprocess, count as the kernel). Anything else is an "other process": another user's job, a process
of a different server, or a pid this server cannot see (containers with their own PID namespace get
host pids from NVML).

``attribute`` is pure; ``lineage`` and ``kernels_of`` read the live system and server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

OTHER = "other process"


@dataclass(frozen=True)
class KernelInfo:
    kernel_id: str
    pid: int
    name: str | None = None  # kernelspec name
    path: str | None = None  # notebook path relative to the server root, when a session has one


def attribute(
    processes: Iterable[dict],
    kernels: Iterable[KernelInfo],
    lineage: Callable[[int], list[int] | None],
) -> list[dict]:
    """Rows for the process table, largest memory first.

    ``processes``: dicts with gpu, pid, used_memory (bytes or None) as the sampler reads them.
    ``lineage(pid)``: [pid, parent, grandparent, ...] or None when the pid is not visible here.
    """
    by_pid = {k.pid: k for k in kernels}
    rows = []
    for p in processes:
        chain = lineage(p["pid"])
        kernel = next((by_pid[a] for a in chain if a in by_pid), None) if chain else None
        rows.append(
            {
                "gpu": p["gpu"],
                "pid": p["pid"],
                "used_memory": p.get("used_memory"),
                "kind": "kernel" if kernel else "other",
                "kernel_id": kernel.kernel_id if kernel else None,
                "kernel_name": kernel.name if kernel else None,
                "path": kernel.path if kernel else None,
                "label": (kernel.path or f"kernel {kernel.kernel_id[:8]}") if kernel else OTHER,
                "visible": chain is not None,
            }
        )
    rows.sort(key=lambda r: (-(r["used_memory"] or 0), r["gpu"], r["pid"]))
    return rows


def lineage(pid: int) -> list[int] | None:
    """[pid, parent, ..., 1] through psutil; None when the pid does not exist in this PID namespace."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return [pid, *(p.pid for p in proc.parents())]
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def kernel_pid(kernel_manager, kernel_id: str) -> int | None:
    """The local kernel's pid (jupyter_client's LocalProvisioner); None for remote kernels."""
    try:
        km = kernel_manager.get_kernel(kernel_id)
    except KeyError:
        return None
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    pid = getattr(process, "pid", None) or getattr(provisioner, "pid", None)
    return int(pid) if pid else None


async def kernels_of(kernel_manager, session_manager) -> list[KernelInfo]:
    """This server's running kernels with their pid and, through the sessions, notebook path."""
    paths: dict[str, str] = {}
    if session_manager is not None:
        for s in await session_manager.list_sessions():
            kid = (s.get("kernel") or {}).get("id")
            if kid and s.get("path"):
                paths.setdefault(kid, s["path"])
    found = []
    for kid in kernel_manager.list_kernel_ids():
        pid = kernel_pid(kernel_manager, kid)
        if pid is None:
            continue
        name = getattr(kernel_manager.get_kernel(kid), "kernel_name", None)
        found.append(KernelInfo(kernel_id=kid, pid=pid, name=name, path=paths.get(kid)))
    return found
