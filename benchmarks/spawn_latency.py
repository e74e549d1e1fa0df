"""Spawn latency: median time from a spawn request to JupyterLab answering.

Ours (HybridSpawner: validate the tier, place it, reserve capacity, then start the server through
a child SimpleLocalProcessSpawner) against the anchor, JupyterHub's own SimpleLocalProcessSpawner,
on the same machine in the same run. Two real hubs (hub_config/jupyterhub_config.py, through
tests/hubtools.py) with configurable-http-proxy run side by side, configured identically except for
the spawner. Each round spawns one new user on each hub (alternating which hub goes first) and
times `POST /hub/api/users/NAME/server` until `GET /user/NAME/lab` answers 200 through the proxy,
polled every 20 ms; stopping the server is not timed. One warm-up round is not counted.

    .venv/bin/python benchmarks/spawn_latency.py --rounds 7
    .venv/bin/python benchmarks/spawn_latency.py --rounds 7 --steady-poll

Most of the run-to-run spread is JupyterHub's randomised exponential back-off while it waits for a
new server (0-4 s, shared by both spawners). --steady-poll replaces it in both hubs alike with a
poll every <= 20 ms, which leaves the spawners' own cost and makes a 5 % goal measurable.

Prints median/min/max seconds per spawner and the ratio of medians (goal: ours <= 1.05x);
writes the figures to benchmarks/results/spawn_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.hubtools import TOKEN, Hub  # noqa: E402

OURS, ANCHOR = "HybridSpawner (ours)", "SimpleLocalProcessSpawner"
GOAL = 1.05
# --steady-poll: appended to both hubs' config; only the wait for a new server's URL is changed
STEADY_POLL = """
import jupyterhub.utils as _utils
_backoff = _utils.exponential_backoff
async def _steady(pass_func, fail_message, *args, **kwargs):
    if fail_message.startswith("Server at"):  # wait_for_http_server
        kwargs.update(start_wait=0.02, scale_factor=1, max_wait=0.02)
    return await _backoff(pass_func, fail_message, *args, **kwargs)
_utils.exponential_backoff = _steady
"""


def spawn_once(hub: Hub, user: str, options: dict | None, timeout: float = 120) -> float:
    """Seconds from POST .../server to /user/NAME/lab answering 200. The stop is not timed."""
    hub.api("POST", f"/users/{user}").raise_for_status()
    lab = f"{hub.url}/user/{user}/lab"
    headers = {"Authorization": f"token {TOKEN}"}
    start = time.perf_counter()
    kwargs = {"json": options} if options is not None else {}
    hub.api("POST", f"/users/{user}/server", **kwargs).raise_for_status()
    elapsed = None
    while time.perf_counter() - start < timeout:
        try:
            r = requests.get(lab, headers=headers, timeout=5, allow_redirects=False)
            if r.status_code == 200:
                elapsed = time.perf_counter() - start
                break
        except requests.RequestException:
            pass
        time.sleep(0.02)
    hub.api("DELETE", f"/users/{user}/server")
    hub.wait_stopped(user)
    if elapsed is None:
        raise TimeoutError(f"{user}: JupyterLab did not answer in {timeout}s:\n{hub.log()}")
    return elapsed


def spawner_in_use(hub: Hub) -> str:
    """The spawner class the hub says it uses (its 'Using Spawner:' log line)."""
    match = re.search(r"Using Spawner: (\S+)", hub.log_path.read_text(errors="replace"))
    return match.group(1) if match else "?"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument(
        "--steady-poll", action="store_true", help="both hubs poll new servers every <= 20 ms"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "spawn_latency.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="spawn-bench-"))
    # Ours runs <sys.prefix>/bin/jupyterhub-singleuser by absolute path (the catalog's default
    # environment); the anchor gets the same command rather than relying on PATH.
    singleuser = str(Path(sys.prefix) / "bin" / "jupyterhub-singleuser")
    extra = STEADY_POLL if args.steady_poll else ""
    hubs = {
        OURS: (Hub(work / "ours", extra_config=extra), {"tier": "small"}),
        ANCHOR: (
            Hub(
                work / "anchor",
                spawner="simple",
                extra_config=f"{extra}\nc.Spawner.cmd = [{singleuser!r}]",
            ),
            None,
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in hubs}
    started: list[Hub] = []
    try:
        for hub, _ in hubs.values():
            started.append(hub.start())
        classes = {name: spawner_in_use(hub) for name, (hub, _) in hubs.items()}
        assert "SimpleLocalProcessSpawner" in classes[ANCHOR], classes
        assert "HybridSpawner" in classes[OURS], classes
        for i in range(args.rounds + 1):  # round 0 warms caches (imports, pages): not counted
            order = list(hubs) if i % 2 == 0 else list(hubs)[::-1]
            for name in order:
                hub, options = hubs[name]
                elapsed = spawn_once(hub, f"bench-{i}", options)
                if i:
                    times[name].append(elapsed)
    finally:
        for hub in started:
            hub.stop()

    stats = {
        name: {
            "median": statistics.median(v),
            "min": min(v),
            "max": max(v),
            "seconds": v,
            "spawner": classes[name],
        }
        for name, v in times.items()
    }
    ratio = stats[OURS]["median"] / stats[ANCHOR]["median"]
    poll = "steady 20 ms poll" if args.steady_poll else "JupyterHub's back-off"
    print(f"spawn request -> JupyterLab answering 200, {args.rounds} rounds ({poll}), seconds")
    print(f"{'spawner':28} {'median':>7} {'min':>7} {'max':>7}")
    for name, s in stats.items():
        print(f"{name:28} {s['median']:7.3f} {s['min']:7.3f} {s['max']:7.3f}")
    print(f"ratio (ours / SimpleLocalProcessSpawner) = {ratio:.2f}x (goal <= {GOAL}x)")
    print(f"hub logs: {work}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    out.write_text(
        json.dumps(
            {
                "rounds": args.rounds,
                "steady_poll": args.steady_poll,
                "ratio": ratio,
                "goal": GOAL,
                "machine": machine,
                "spawners": stats,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
