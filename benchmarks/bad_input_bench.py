"""Bad input must cost nothing: what a huge refused value costs a real hub.

A real hub (hub_config/jupyterhub_config.py + configurable-http-proxy, through tests/hubtools.py,
the default catalog) is sent a tier name of 10 MB and of 100 MB (decimal), once through the spawn
form (``POST /hub/spawn``, logged-in browser session) and once through REST
(``POST /hub/api/users/NAME/server``). For each it prints:

- the HTTP status and the response size (bytes),
- how much the hub's log grew (bytes),
- the hub loop stall: the worst latency of ``GET /hub/api/`` sent back to back from another
  thread while the post is in flight, beside the worst latency of the same probe with the hub idle.

``--against REV`` also runs the same hub from ``git archive REV`` (e.g. the commit before a fix)
side by side, so "before" and "now" are measured in one run on one machine.

    .venv/bin/python benchmarks/bad_input_bench.py
    .venv/bin/python benchmarks/bad_input_bench.py --against HEAD~5 --sizes 10000000

Figures also go to benchmarks/results/bad_input.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.hubtools import HUB_CONFIG, Hub, xsrf_from  # noqa: E402


class Prober(threading.Thread):
    """GET /hub/api/ back to back; the worst latency seen while running is the loop's stall."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.worst, self.count = url, 0.0, 0
        self.done = threading.Event()

    def run(self):
        with requests.Session() as s:
            while not self.done.is_set():
                start = time.perf_counter()
                try:
                    s.get(f"{self.url}/hub/api/", timeout=60)
                except requests.RequestException:
                    pass
                self.worst = max(self.worst, time.perf_counter() - start)
                self.count += 1
                time.sleep(0.005)

    def stop(self) -> float:
        self.done.set()
        self.join()
        return self.worst


def probed(hub: Hub, send) -> dict:
    """Run ``send()`` while probing; returns status, response bytes, log growth, worst latency."""
    before = hub.log_path.stat().st_size
    prober = Prober(hub.url)
    prober.start()
    time.sleep(0.2)
    try:
        r = send()
    finally:
        stall = prober.stop()
    time.sleep(0.5)  # let the hub flush its log lines
    return {
        "status": r.status_code,
        "response_bytes": len(r.content),
        "log_growth_bytes": hub.log_path.stat().st_size - before,
        "stall_s": stall,
    }


def idle_stall(hub: Hub, seconds: float = 2.0) -> float:
    prober = Prober(hub.url)
    prober.start()
    time.sleep(seconds)
    return prober.stop()


def measure(hub: Hub, sizes: list[int]) -> dict:
    s = hub.login("bench")
    form = s.get(f"{hub.url}/hub/spawn", timeout=60)
    form.raise_for_status()
    xsrf = xsrf_from(form.text)
    hub.api("POST", "/users/rest-bench")
    out = {"idle_stall_s": idle_stall(hub), "runs": []}
    for size in sizes:
        value = "a" * size
        for path, send in (
            (
                "form",
                lambda v=value: s.post(f"{hub.url}/hub/spawn", data={"tier": v, "_xsrf": xsrf}, timeout=600),
            ),
            ("REST", lambda v=value: hub.api("POST", "/users/rest-bench/server", json={"tier": v})),
        ):
            row = {"size": size, "path": path, **probed(hub, send)}
            out["runs"].append(row)
            print(
                f"  {size / 1e6:5.0f} MB {path:4}  status {row['status']}"
                f"  response {row['response_bytes']:>11,} B"
                f"  log +{row['log_growth_bytes']:>11,} B  stall {row['stall_s']:6.3f} s",
                flush=True,
            )
    return out


class ArchivedHub(Hub):
    """The same hub, running jupyter_hybrid and hub_config/ from another checkout."""

    def __init__(self, workdir: Path, tree: Path, **kwargs):
        super().__init__(workdir, **kwargs)
        self.tree = tree
        self.config.write_text(
            self.config.read_text().replace(str(HUB_CONFIG), str(tree / "hub_config" / HUB_CONFIG.name))
        )

    @property
    def env(self) -> dict:
        env = super().env
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.tree), env.get("PYTHONPATH")) if p)
        return env


def archive(rev: str, into: Path) -> Path:
    """``git archive rev`` unpacked into ``into`` (read-only on the repository)."""
    data = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    (into / "node_modules").symlink_to(ROOT / "node_modules")  # configurable-http-proxy
    version = ROOT / "jupyter_hybrid" / "_version.py"  # generated at install, not tracked
    if version.exists():
        (into / "jupyter_hybrid" / "_version.py").write_text(version.read_text())
    return into


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000_000, 100_000_000], help="value sizes in bytes"
    )
    parser.add_argument("--against", metavar="REV", help="also measure the hub of this git revision")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bad_input.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bad-input-bench-"))
    hubs = {"now": Hub(work / "now")}
    if args.against:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", args.against],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        hubs[f"at {rev}"] = ArchivedHub(work / "before", archive(args.against, work / "tree"))
    results = {}
    for name, hub in hubs.items():
        print(f"hub {name}: a refused tier name of each size, posted to the form and to REST", flush=True)
        hub.start()
        try:
            results[name] = measure(hub, args.sizes)
        finally:
            hub.stop()
        print(f"  idle probe worst latency {results[name]['idle_stall_s']:.3f} s", flush=True)
    print(f"hub logs: {work}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
