"""What a user and their groups hold now, summed from the allocations of running workloads."""

from __future__ import annotations

from collections.abc import Iterable

from ..sites.base import Allocation  # plain data
from .model import Usage


def usage_of(allocations: Iterable[Allocation], user: str) -> Usage:
    """GPUs (or MIG slices) and cores held by ``user``, and by every group over all its members.

    A group is counted from each allocation's ``groups`` (the user's groups when it was placed), so a
    group quota keeps counting what a member holds even after they leave the group, until it stops."""
    user_gpus, user_cpu = 0, 0.0
    group_gpus: dict[str, int] = {}
    group_cpu: dict[str, float] = {}
    for a in allocations:
        if a.user == user:
            user_gpus += a.gpu_count
            user_cpu += a.cpu
        for g in set(a.groups):
            group_gpus[g] = group_gpus.get(g, 0) + a.gpu_count
            group_cpu[g] = group_cpu.get(g, 0.0) + a.cpu
    return Usage(user_gpus, user_cpu, group_gpus, group_cpu)
