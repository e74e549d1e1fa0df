"""Spawn latency: median time from a spawn request to JupyterLab answering.

Ours (HybridSpawner: validate the tier, place it, reserve capacity, then start the server
through a child SimpleLocalProcessSpawner) against the anchor, JupyterHub's own
SimpleLocalProcessSpawner, on the same machine in the same run. Two real hubs with
configurable-http-proxy run side by side, configured identically (hub_config/jupyterhub_config.py)
except for the spawner; rounds alternate which hub goes first.

    .venv/bin/python benchmarks/spawn_latency.py --rounds 7

Goal: ours <= 1.05x the anchor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.hubtools import TOKEN, Hub  # noqa: E402


def spawn_once(hub: Hub, user: str, options: dict | None, timeout: float = 120) -> float:
    """Seconds from POST .../server to /user/NAME/lab answering 200 (not timed: the stop)."""
    hub.api("POST", f"/users/{user}")
    lab = f"{hub.url}/user/{user}/lab"
    headers = {"Authorization": f"token {TOKEN}"}
    start = time.perf_counter()
    r = (
        hub.api("POST", f"/users/{user}/server", json=options)
        if options
        else hub.api("POST", f"/users/{user}/server")
    )
    r.raise_for_status()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        try:
            if requests.get(lab, headers=headers, timeout=5, allow_redirects=False).status_code == 200:
                elapsed = time.perf_counter() - start
                break
        except requests.RequestException:
            pass
        time.sleep(0.02)
    else:
        raise TimeoutError(f"{user}: JupyterLab did not answer in {timeout}s")
    hub.api("DELETE", f"/users/{user}/server")
    hub.wait_stopped(user)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "spawn_latency.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="spawn-bench-"))
    hubs = {
        "HybridSpawner (ours)": (Hub(work / "ours"), {"tier": "small"}),
        "SimpleLocalProcessSpawner (anchor)": (Hub(work / "anchor", spawner="simple"), None),
    }
    times: dict[str, list[float]] = {name: [] for name in hubs}
    try:
        for hub, _ in hubs.values():
            hub.start()
        names = list(hubs)
        for i in range(args.rounds + 1):  # round 0 warms caches (imports, pages) and is not counted
            order = names if i % 2 == 0 else names[::-1]
            for name in order:
                hub, options = hubs[name]
                elapsed = spawn_once(hub, f"bench-{i}", options)
                if i:
                    times[name].append(elapsed)
    finally:
        for hub, _ in hubs.values():
            hub.stop()

    ours, anchor = (statistics.median(times[n]) for n in hubs)
    print(f"spawn request -> JupyterLab answering, {args.rounds} rounds (seconds)")
    print(f"{'spawner':38} {'median':>8} {'min':>8} {'max':>8}")
    for name, values in times.items():
        print(f"{name:38} {statistics.median(values):8.3f} {min(values):8.3f} {max(values):8.3f}")
    ratio = ours / anchor
    print(f"ratio (ours / SimpleLocalProcessSpawner) = {ratio:.3f}x (goal <= 1.05x)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"seconds": times, "median_ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
