"""Snapshot capture and diff, against pip's own tools on the same environment, in one run.

Capture time of `jupyter_hybrid.snapshots.capture.capture_python` on an environment of about 300
packages, beside `python -m pip inspect` (the anchor: the same facts pip knows), `pip freeze`
and, where conda is installed, `conda env export`. Then the diff of two such snapshots.

    .venv/bin/python benchmarks/snapshot_bench.py   # builds benchmarks/results/env300 once (minutes)
    .venv/bin/python benchmarks/snapshot_bench.py --python /path/to/env/bin/python

Goals: capture <= 1.5x pip inspect; diff <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from jupyter_hybrid.snapshots.capture import capture_python  # noqa: E402
from jupyter_hybrid.snapshots.diff import diff, render_text  # noqa: E402
from jupyter_hybrid.snapshots.model import Snapshot  # noqa: E402

# real packages from PyPI; together with their dependencies about 300 distributions
PACKAGES = (
    "jupyterlab jupyterhub pandas scikit-learn matplotlib seaborn statsmodels sqlalchemy boto3 httpx "
    "fastapi uvicorn sphinx pytest black mypy openpyxl lxml beautifulsoup4 plotly dask distributed "
    "nltk flask django celery google-cloud-storage azure-storage-blob azure-identity kubernetes moto "
    "scrapy sympy networkx pyarrow streamlit"
).split()


def build_env(path: Path) -> Path:
    python = path / "bin" / "python"
    if not python.exists():
        print(f"building {path} (once) ...", flush=True)
        venv.create(path, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return python


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python", help="interpreter of the environment to measure")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    python = args.python or str(build_env(ROOT / "benchmarks" / "results" / "env300"))

    snap = capture_python(python)
    n = len(snap.packages)
    rows = {
        "capture_python (ours)": timed(lambda: capture_python(python), args.repeat),
        "pip inspect (anchor)": timed(lambda: run([python, "-m", "pip", "inspect"]), args.repeat),
        "pip freeze": timed(lambda: run([python, "-m", "pip", "freeze"]), args.repeat),
    }
    conda = shutil.which("conda")
    if conda:
        prefix = str(Path(python).parent.parent)
        rows["conda env export"] = timed(lambda: run([conda, "env", "export", "-p", prefix]), args.repeat)

    # a second snapshot: a tenth of the packages at other versions, a few removed
    data = snap.model_dump(mode="json")
    pkgs = data["packages"]
    for p in pkgs[::10]:
        p["version"] += ".post1"
    other = Snapshot.model_validate({**data, "id": "", "packages": pkgs[5:]})
    diff_ms = [t * 1000 for t in timed(lambda: render_text(diff(snap, other)), 51)]

    print(f"environment: {python} ({n} packages), {args.repeat} runs each, median seconds")
    for name, values in rows.items():
        print(f"  {name:24} {statistics.median(values):7.3f}  (min {min(values):.3f}, max {max(values):.3f})")
    ratio = statistics.median(rows["capture_python (ours)"]) / statistics.median(rows["pip inspect (anchor)"])
    print(f"ratio capture / pip inspect = {ratio:.2f}x (goal <= 1.5x)")
    print(
        f"diff + text of two {n}-package snapshots: median {statistics.median(diff_ms):.2f} ms"
        " (goal <= 50 ms)"
    )
    if not conda:
        print("conda env export: conda is not installed here")
    out = ROOT / "benchmarks" / "results" / "snapshot_bench.json"
    out.write_text(json.dumps({"packages": n, "seconds": rows, "ratio": ratio, "diff_ms": diff_ms}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
