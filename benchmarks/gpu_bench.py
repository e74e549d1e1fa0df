"""GPU monitoring cost and latency: ours beside jupyterlab-nvdashboard, on the same GPU, in one run.

1. Cost per GPU sample (in-process, N polls): the raw NVML floor for utilisation + memory +
   temperature + power (four nvidia-ml-py calls), our ``GpuSampler.poll()`` (the same metrics, with
   incremental nvmlDeviceGetSamples, history and publishing), and nvdashboard's own
   ``GPUResourceWebSocketHandler.send_data`` (utilisation, memory, PCIe; its JSON write stubbed).
2. Event-loop max block and NVML -> client WebSocket latency at 5 Hz, each on its own real
   `jupyter server`: a baseline with neither extension, ours (``--GpuSampler.interval=0.2``, WS
   /jupyter-hybrid/gpu/stream) and nvdashboard (WS /nvdashboard/gpu_resource, updateFrequency
   200 ms). A probe extension (this file) measures how late a 1 ms timer on the server's loop fires.

Goals: ours <= 2x the NVML floor per sample; loop never blocked > 1 ms by us; latency <= 100 ms.

    python benchmarks/gpu_bench.py [--polls 2000] [--seconds 10]   # no GPU: "no GPU: skipped", exit 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
from gpu_check import Server  # noqa: E402

from jupyter_hybrid.gpu.devices import detect_gpus  # noqa: E402

# ---- the probe: a jupyter-server extension measuring the event loop's lateness -------------------

_probe = {"max": 0.0, "n": 0}


def _jupyter_server_extension_points():
    return [{"module": "gpu_bench"}]


def _load_jupyter_server_extension(serverapp):
    from jupyter_server.base.handlers import JupyterHandler
    from tornado import web
    from tornado.ioloop import IOLoop

    async def tick():
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            late = time.perf_counter() - t - 0.001
            _probe["max"], _probe["n"] = max(_probe["max"], late), _probe["n"] + 1

    class Probe(JupyterHandler):
        @web.authenticated
        def get(self):
            self.finish({"max_block_ms": _probe["max"] * 1000, "ticks": _probe["n"]})
            if self.get_argument("reset", None):
                _probe["max"], _probe["n"] = 0.0, 0

    serverapp.web_app.add_handlers(".*$", [(serverapp.base_url + "loop-probe", Probe)])
    IOLoop.current().add_callback(tick)


# ---- 1. cost per sample ---------------------------------------------------------------------------


def per_call_us(fn, n: int) -> float:
    fn()  # warm
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def cost_per_sample(polls: int) -> dict:
    import pynvml

    from jupyter_hybrid.gpu.sampler import GpuSampler

    pynvml.nvmlInit()
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]

    def floor():
        for h in handles:
            pynvml.nvmlDeviceGetUtilizationRates(h)
            pynvml.nvmlDeviceGetMemoryInfo(h)
            pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)
            pynvml.nvmlDeviceGetPowerUsage(h)

    sampler = GpuSampler(process_interval=1e9)  # processes are read every 2 s, not per sample
    assert sampler.open(), sampler.reason
    out = {"gpus": len(handles), "nvml_floor_us": per_call_us(floor, polls) / len(handles)}
    out["ours_us"] = per_call_us(sampler.poll, polls) / len(handles)
    try:
        from jupyterlab_nvdashboard.apps import gpu as nvd

        class Sink:  # what send_data needs of its handler: write_message
            def write_message(self, message):
                pass

        out["nvdashboard_us"] = per_call_us(
            lambda: nvd.GPUResourceWebSocketHandler.send_data(Sink()), polls
        ) / len(handles)
    except ImportError as e:
        out["nvdashboard_us"] = f"not installed ({e})"
    sampler.stop()
    return out


# ---- 2. loop block and latency through a real server ----------------------------------------------


async def stream(server: Server, path: str, seconds: float, first: str | None, stamp) -> list[float]:
    """Latencies (ms) of the messages on ``path`` for ``seconds``; ``stamp(msg)`` = NVML read time."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{server.port}/{path}"
    ws = await websocket_connect(HTTPRequest(url, headers=server.headers))
    if first:
        await ws.write_message(first)
    latencies, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            raw = await asyncio.wait_for(ws.read_message(), 10)
        except TimeoutError:
            raise RuntimeError(f"no message on {path} for 10 s") from None
        if raw is None:
            raise RuntimeError(f"{path} closed: {ws.close_code} {ws.close_reason}")
        received = time.time()
        t = stamp(json.loads(raw))
        if t is not None:
            latencies.append((received - t) * 1000)
    ws.close()
    return latencies


def run_server(
    workdir: Path, extensions: dict, args: list[str], path: str | None, first, stamp, seconds: float
):
    server = Server(workdir, {**extensions, "gpu_bench": True}, args, env={"PYTHONPATH": str(HERE)})
    try:
        time.sleep(2)  # settle after start-up
        server.api("GET", "loop-probe", params={"reset": "1"})
        if path:
            latencies = asyncio.run(stream(server, path, seconds, first, stamp))
        else:
            time.sleep(seconds)
            latencies = []
        probe = server.api("GET", "loop-probe").json()
        return {"max_block_ms": probe["max_block_ms"], "latencies_ms": latencies}
    finally:
        server.stop()


def summary(latencies: list[float]) -> str:
    if not latencies:
        return "n/a"
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
    med, n = statistics.median(latencies), len(latencies)
    return f"p50 {med:6.1f}  p95 {q[18]:6.1f}  max {max(latencies):6.1f}  (n={n})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--polls", type=int, default=2000, help="polls per cost figure (default 2000)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per streaming run (default 10)")
    args = p.parse_args()
    devices, reason = detect_gpus()
    if not devices:
        print(f"no GPU: skipped ({reason})")
        return 0
    print("GPUs:", ", ".join(f"{d.index} {d.model}" for d in devices))
    cost = cost_per_sample(args.polls)
    print("\n1. cost per GPU sample (µs): utilisation + memory + temperature + power")
    print(f"   raw NVML floor        {cost['nvml_floor_us']:8.1f}")
    ratio = cost["ours_us"] / cost["nvml_floor_us"]
    print(f"   ours (GpuSampler)     {cost['ours_us']:8.1f}   ratio {ratio:.2f}x")
    nvd = cost["nvdashboard_us"]
    print(
        f"   nvdashboard           {nvd:8.1f}"
        if isinstance(nvd, float)
        else f"   nvdashboard           {nvd}"
    )

    print(f"\n2. 5 Hz through a real jupyter server, {args.seconds:g} s each")
    none = {"jupyter_hybrid": False, "jupyterlab_nvdashboard": False}
    runs = {}
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        runs["baseline (neither)"] = run_server(Path(tmp, "b"), none, [], None, None, None, args.seconds)
        runs["ours"] = run_server(
            Path(tmp, "o"),
            {**none, "jupyter_hybrid": True},
            ["--GpuSampler.interval=0.2"],
            "jupyter-hybrid/gpu/stream",
            None,
            lambda m: m.get("time") if m.get("type") == "sample" else None,
            args.seconds,
        )
        if isinstance(nvd, float):
            runs["nvdashboard"] = run_server(
                Path(tmp, "n"),
                {**none, "jupyterlab_nvdashboard": True},
                [],
                "nvdashboard/gpu_resource",
                json.dumps({"updateFrequency": 200, "isPaused": False}),
                lambda m: m["time"] / 1000 if "time" in m else None,
                args.seconds,
            )
    print(f"   {'':22s}{'loop max block (ms)':>20s}   NVML -> client latency (ms)")
    for name, r in runs.items():
        print(f"   {name:22s}{r['max_block_ms']:20.2f}   {summary(r['latencies_ms'])}")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "gpu_bench.json").write_text(json.dumps({"cost": cost, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
