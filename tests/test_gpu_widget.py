"""GPUMonitor (ipywidget): charts from an NVML-shaped backend; the real no-GPU path, in a real kernel."""

from __future__ import annotations

import re
import time

from jupyter_client.manager import start_new_kernel

from jupyter_hybrid.gpu.sampler import GpuSampler
from jupyter_hybrid.widgets import GPUMonitor
from jupyter_hybrid.widgets.charts import WIDTH, svg_chart

from .gputools import FakeGPU, FakeNVML


def test_charts_per_gpu_and_mig_instance():
    now = time.time()
    gpu = FakeGPU(
        util_samples=[(int((now - 1 + i * 0.2) * 1e6), 20 * i) for i in range(5)],
        power_samples=[(int((now - 1 + i * 0.02) * 1e6), 300_000) for i in range(50)],
        mig=[FakeGPU(name="MIG 1g.10gb", uuid="MIG-a", memory_total=10 * 2**30)],
    )
    sampler = GpuSampler(nvml=FakeNVML([gpu]))
    monitor = GPUMonitor(sampler=sampler)
    try:
        sampler.poll()  # the widget redraws on each sample (from the sampler's thread in real use)
        html = monitor.view.value
        assert "GPU 0: NVIDIA H100 80GB HBM3" in html and "GPU 0/mig0: MIG 1g.10gb" in html
        assert html.count("<svg") == 4 + 1 + 1  # GPU: 4 charts; MIG: utilisation and memory
        assert "Utilisation: 80%" in html and "Power: 300 W of 700 W" in html
        assert "Memory: 1.0 GiB / 80 GiB" in html
    finally:
        monitor.close()


def test_chart_keeps_one_point_per_pixel():
    points = [(i / 50, float(i % 7)) for i in range(45_000)]  # 15 min of 50 Hz power
    svg = svg_chart(points, 10, "#000", 900)
    line = re.search(r'<polyline points="([^"]+)"', svg).group(1)
    assert len(line.split()) <= WIDTH + 1


def test_no_gpu_in_a_real_kernel(no_gpu):
    reason = no_gpu  # forced on a GPU machine, in the kernel too
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        out = []
        code = "from jupyter_hybrid.widgets import GPUMonitor\nm = GPUMonitor()\nprint(m.view.value)\nm"
        reply = kc.execute_interactive(
            code, timeout=60, output_hook=lambda msg: out.append(msg), store_history=False
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        text = "".join(m["content"].get("text", "") for m in out if m["msg_type"] == "stream")
        assert f"No GPU: {reason}" in text
        shown = [m for m in out if m["msg_type"] == "execute_result"]
        assert "application/vnd.jupyter.widget-view+json" in shown[0]["content"]["data"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
