"""Spawn-form render time under load: 10 tiers, 20 users opening the form at once.

Ours (HybridSpawner: reads every site's live state, runs placement for each tier and renders the
form) against the anchor, KubeSpawner-style static profiles: a plain SimpleLocalProcessSpawner
whose ``options_form`` is what KubeSpawner renders for a static ``profile_list`` of the same 10
profiles (its own ``form.html`` template, rendered once, as KubeSpawner does for a static list).
Two real hubs (hub_config/jupyterhub_config.py through tests/hubtools.py, with
configurable-http-proxy) run side by side, identical but for the spawner. Each round, 20 logged-in
users GET /hub/spawn concurrently (one thread each), first on one hub, then on the other
(alternating which goes first); one warm-up round is not counted.

    .venv/bin/python benchmarks/form_render_bench.py --rounds 10

Prints median and p99 milliseconds per request for both, and the ratio of medians; writes the
figures to benchmarks/results/form_render.json. On a machine with NVIDIA GPUs this also shows what
the local site's device reads cost the form (one NVML session per process, reads cached for the
site's refresh_seconds and run off the hub's event loop).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.hubtools import Hub  # noqa: E402

OURS, ANCHOR = "HybridSpawner (ours)", "static profiles (KubeSpawner-style)"
TIERS = 10


def catalog_yaml() -> str:
    """One local site, 10 tiers (small ones, so that every tier fits and is offered), one environment."""
    lines = ["sites:", "  local: {kind: local, display_name: This machine, region: local}", "tiers:"]
    for i in range(TIERS):
        default = ", default: true" if i == 0 else ""
        lines.append(
            f"  tier-{i}: {{display_name: Tier {i}, description: 'Tier {i} for the benchmark.', "
            f"cpu: 0.{i + 1}, memory: {128 * (i + 1)}M{default}}}"
        )
    lines += ["environments:", "  default: {display_name: Hub's Python environment, default: true}"]
    return "\n".join(lines) + "\n"


def kubespawner_form() -> str:
    """What KubeSpawner's options_form is for a static profile_list of the same 10 tiers."""
    from jinja2 import Environment, PackageLoader

    profiles = [
        {
            "display_name": f"Tier {i}",
            "slug": f"tier-{i}",
            "description": f"Tier {i} for the benchmark.",
            "default": i == 0,
            "kubespawner_override": {"cpu_limit": (i + 1) / 10, "mem_limit": f"{128 * (i + 1)}M"},
        }
        for i in range(TIERS)
    ]
    env = Environment(loader=PackageLoader("kubespawner", "templates"))
    return env.get_template("form.html").render(profile_list=profiles, user_options={})


def render_round(hub: Hub, sessions: list, pool: ThreadPoolExecutor) -> list[float]:
    """Every session GETs /hub/spawn at once; seconds per request."""

    def one(session) -> float:
        start = time.perf_counter()
        r = session.get(f"{hub.url}/hub/spawn", timeout=60)
        elapsed = time.perf_counter() - start
        r.raise_for_status()
        if "tier-9" not in r.text:  # the form, with all 10 tiers, really rendered
            raise RuntimeError(f"no form in the answer ({r.status_code}):\n{r.text[:500]}")
        return elapsed

    return list(pool.map(one, sessions))


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds (default 10)")
    parser.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "form_render.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="form-bench-"))
    catalog = work / "catalog.yaml"
    catalog.write_text(catalog_yaml())
    anchor_form = work / "anchor_form.html"
    anchor_form.write_text(kubespawner_form())
    anchor_config = f"c.Spawner.options_form = open({str(anchor_form)!r}).read()"
    hubs = {
        OURS: Hub(work / "ours", catalog=catalog),
        ANCHOR: Hub(work / "anchor", catalog=catalog, spawner="simple", extra_config=anchor_config),
    }
    times: dict[str, list[float]] = {name: [] for name in hubs}
    started: list[Hub] = []
    try:
        for hub in hubs.values():
            started.append(hub.start())
        users = [f"form-{i}" for i in range(args.users)]
        sessions = {name: [hub.login(u) for u in users] for name, hub in hubs.items()}
        with ThreadPoolExecutor(args.users) as pool:
            for i in range(args.rounds + 1):  # round 0 warms up (imports, templates): not counted
                order = list(hubs) if i % 2 == 0 else list(hubs)[::-1]
                for name in order:
                    elapsed = render_round(hubs[name], sessions[name], pool)
                    if i:
                        times[name] += elapsed
    finally:
        for hub in started:
            hub.stop()

    stats = {
        name: {"median_ms": statistics.median(v) * 1e3, "p99_ms": p99(v) * 1e3, "requests": len(v)}
        for name, v in times.items()
    }
    ratio = stats[OURS]["median_ms"] / stats[ANCHOR]["median_ms"]
    print(f"GET /hub/spawn, {TIERS} tiers, {args.users} concurrent users, {args.rounds} rounds (ms)")
    print(f"{'spawner':38} {'median':>8} {'p99':>8}")
    for name, s in stats.items():
        print(f"{name:38} {s['median_ms']:8.1f} {s['p99_ms']:8.1f}")
    print(f"ratio of medians (ours / static profiles) = {ratio:.2f}x")
    print(f"hub logs: {work}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    out.write_text(
        json.dumps(
            {"tiers": TIERS, "users": args.users, "rounds": args.rounds, "ratio": ratio, "machine": machine}
            | {"spawners": stats},
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
