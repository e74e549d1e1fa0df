"""What a user and their groups hold now, summed from the allocations of running workloads."""

from __future__ import annotations

from collections.abc import Iterable

from ..sitedata import Allocation  # plain data
from .model import Usage


def usage_of(allocations: Iterable[Allocation], user: str, groups: Iterable[str] | None = None) -> Usage:
    """GPUs (or MIG slices) and cores held by ``user``, and by every group over all its members.

    A group is counted from each allocation's ``groups`` (the user's groups when it was placed), so a
    group quota keeps counting what a member holds even after they leave the group, until it stops.
    ``groups``: sum only these (the requester's, all that quotas check); default: every group."""
    wanted = None if groups is None else frozenset(groups)
    user_gpus, user_cpu = 0, 0.0
    group_gpus: dict[str, int] = {}
    group_cpu: dict[str, float] = {}
    for a in allocations:
        if a.user == user:
            user_gpus += a.gpu_count
            user_cpu += a.cpu
        held = a.groups
        if not held:
            continue
        if wanted is not None:
            if wanted.isdisjoint(held):
                continue
            held = wanted.intersection(held)
        elif len(held) > 1:
            held = set(held)  # a group listed twice counts once
        for g in held:
            group_gpus[g] = group_gpus.get(g, 0) + a.gpu_count
            group_cpu[g] = group_cpu.get(g, 0.0) + a.cpu
    return Usage(user_gpus, user_cpu, group_gpus, group_cpu)
