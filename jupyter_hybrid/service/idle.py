"""Idle-GPU decisions, pure: from the utilisation samples a server reports to keep / warn / stop.

A server is idle when every one of its GPUs stayed under the threshold; it is warned once the idle
time reaches ``idle - warn`` and stopped once it reaches ``idle`` and the warning is at least ``warn``
old (so a user always gets the full warning time, even if the culler started late). Any sample at or
over the threshold makes it busy again and cancels the warning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class Watch:
    """What the culler remembers about one server between checks (epoch seconds)."""

    first_seen: float  # earliest time we have samples for (or first check)
    cursor: float  # last sample time read: the next ?since=
    last_busy: float | None = None
    peak: float = 0.0  # highest utilisation seen since last_busy, for the log
    warned_at: float | None = None


@dataclass(frozen=True)
class Policy:
    threshold: float = 10.0  # percent
    idle_seconds: float = 1800.0
    warn_seconds: float = 600.0


@dataclass(frozen=True)
class Decision:
    action: str  # keep | warn | wait | stop
    reason: str
    idle_seconds: float


def observe(watch: Watch | None, history: dict, now: float, threshold: float) -> Watch:
    """Fold ``history`` ({gpu: {"utilization": [[t, v], ...]}}) into the server's watch."""
    points = [(t, v) for series in history.values() for t, v in series.get("utilization", [])]
    if watch is None:
        watch = Watch(first_seen=min([now, *(t for t, _ in points)]), cursor=0.0)
    busy = [t for t, v in points if v >= threshold]
    if busy and (watch.last_busy is None or max(busy) > watch.last_busy):
        watch.last_busy = max(busy)
        watch.warned_at = None  # busy again: the next idle period gets its own warning
        watch.peak = 0.0
    idle_points = [v for t, v in points if watch.last_busy is None or t > watch.last_busy]
    watch.peak = max([watch.peak, *idle_points])
    watch.cursor = max([watch.cursor, *(t for t, _ in points)])
    return watch


def decide(watch: Watch, now: float, policy: Policy) -> Decision:
    since = watch.last_busy if watch.last_busy is not None else watch.first_seen
    idle = max(0.0, now - since)
    mins = f"{idle / 60:.1f} min under {policy.threshold:g}% (peak {watch.peak:g}%)"
    if idle < policy.idle_seconds - policy.warn_seconds:
        return Decision("keep", f"GPUs idle {mins}", idle)
    if watch.warned_at is None:
        return Decision("warn", f"GPUs idle {mins}: warning", idle)
    if idle >= policy.idle_seconds and now - watch.warned_at >= policy.warn_seconds:
        return Decision("stop", f"GPUs idle {mins}, warned {(now - watch.warned_at) / 60:.1f} min ago", idle)
    return Decision("wait", f"GPUs idle {mins}, warned {(now - watch.warned_at) / 60:.1f} min ago", idle)


def gpu_tier(catalog, user_options: dict | None, state: dict | None = None) -> str | None:
    """The server's tier name when that tier has GPUs (from user_options, else the spawner state)."""
    tier = (user_options or {}).get("tier") or ((state or {}).get("hybrid") or {}).get("tier")
    if tier and tier in catalog.tiers and catalog.tiers[tier].gpu > 0:
        return tier
    return None


def servers(users: Iterable[dict]) -> Iterable[tuple[str, str, dict]]:
    """(user, server name, server model) for every ready server in a hub /users answer."""
    for user in users:
        for name, server in (user.get("servers") or {}).items():
            if server.get("ready"):
                yield user["name"], name, server
