"""Browser test (Debian chromium through Playwright) of the "GPUs" side panel in plain `jupyter lab`
- on this machine (no GPU): the panel says why, plainly, and the server logs it once, no traceback;
- over a simulated H100 (tests/gputools.py inside the real server): live charts, the notebook's
  kernel in the memory table, interrupt with confirmation, and culler notices dismissed one by
  one or all at once.
Screenshots: ui-artifacts/gpu-panel-no-gpu.png, gpu-panel.png, gpu-panel-notices.png.
"""

from __future__ import annotations

import pytest
import requests

from jupyter_hybrid.gpu.devices import detect_gpus

from ..hubtools import ROOT
from .conftest import run_lab
from .test_browser import LAB_TIMEOUT_MS

pytestmark = pytest.mark.ui

TAB = 'li.lm-TabBar-tab[data-id="jupyter-hybrid-gpu"]'
PANEL = "#jupyter-hybrid-gpu"


def test_gpu_panel_without_a_gpu(plain_lab, page, artifacts, tmp_path):
    devices, reason = detect_gpus()
    if devices:
        pytest.skip("a GPU is visible here: the no-GPU state cannot be shown")
    url, _, _ = plain_lab
    page.goto(url)
    page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=LAB_TIMEOUT_MS)
    page.locator(TAB).click()
    panel = page.locator(PANEL)
    panel.wait_for(state="visible")
    message = panel.locator(".jp-GpuPanel-unavailable")
    message.wait_for(timeout=30_000)
    assert message.inner_text() == f"No GPU: {reason}"
    assert panel.locator(".jp-GpuCard").count() == 0
    assert not panel.locator(".jp-GpuPanel-processes").is_visible()
    # no GPU, no status-bar item
    assert page.locator(".jp-GpuStatus").count() == 0 or not page.locator(".jp-GpuStatus").is_visible()
    page.screenshot(path=artifacts / "gpu-panel-no-gpu.png")
    log = (tmp_path / "lab.log").read_text()
    assert log.count(f"GPU monitoring off: {reason}") == 1, log
    assert "Traceback" not in log, log


@pytest.fixture
def simulated_gpu_lab(tmp_path):
    """`jupyter lab` whose sampler reads a simulated H100 (tests/gputools.py); yields (base, token)."""
    args = (
        "--ServerApp.jpserver_extensions={'jupyter_hybrid': True, 'tests.gputools': True}",
        "--GpuSampler.interval=0.5",
    )
    env = {"PYTHONPATH": str(ROOT)}  # tests.gputools, the simulating server extension
    with run_lab(tmp_path, args, env, ready_line="simulated GPU in place") as lab:
        yield lab


def test_gpu_panel_charts_and_memory_by_notebook(simulated_gpu_lab, page, artifacts):
    base, token = simulated_gpu_lab
    # a notebook with a running kernel: the simulated GPU lists the server's kernels as its processes
    headers = {"Authorization": f"token {token}"}
    nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    requests.put(
        f"{base}/api/contents/train.ipynb", json={"type": "notebook", "content": nb}, headers=headers
    )
    body = {"path": "train.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    kernel_id = requests.post(f"{base}/api/sessions", json=body, headers=headers).json()["kernel"]["id"]

    page.goto(f"{base}/lab?token={token}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=LAB_TIMEOUT_MS)
    status = page.locator(".jp-GpuStatus")
    status.wait_for(timeout=30_000)  # polled while the panel is hidden
    assert status.inner_text().startswith("GPU 0: ")
    page.locator(TAB).click()
    panel = page.locator(PANEL)
    card = panel.locator('.jp-GpuCard[data-gpu="0"]')
    card.wait_for(timeout=30_000)
    assert card.locator("h3").inner_text() == "GPU 0: NVIDIA H100 80GB HBM3"
    assert card.locator("canvas").count() == 4  # utilisation, memory, temperature, power
    row = panel.locator(".jp-GpuPanel-processes tr[data-kind='kernel']")
    row.wait_for(timeout=30_000)
    assert "train.ipynb" in row.inner_text() and "3 GiB" in row.inner_text()
    page.wait_for_timeout(3000)  # a few live samples on the charts
    titles = card.locator(".jp-GpuChart-title").all_inner_texts()
    assert titles[0].startswith("Utilisation: ") and titles[0].endswith(" %"), titles
    assert "of 700 W" in titles[3], titles
    panel.screenshot(path=artifacts / "gpu-panel.png")

    # interrupt, with confirmation, through the kernel REST API
    row.locator("button", has_text="interrupt").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for()
    assert "train.ipynb" in dialog.inner_text()
    dialog.locator("button.jp-mod-warn").click()
    dialog.wait_for(state="detached")
    # a notice from the culler appears in the panel
    notice = {"message": "GPU idle for 30 min: this server stops in 10 min", "source": "gpu-culler"}
    assert (
        requests.post(f"{base}/jupyter-hybrid/gpu/notices", json=notice, headers=headers).status_code == 201
    )
    panel.locator(".jp-GpuPanel-notice.jp-mod-warning", has_text="GPU idle").wait_for(timeout=10_000)
    kernels = requests.get(f"{base}/api/kernels/{kernel_id}", headers=headers).json()
    assert kernels["execution_state"] in ("idle", "busy", "starting"), kernels

    # dismiss: one notice by its button, then the rest with "Dismiss all"; the server forgets them
    notices = panel.locator(".jp-GpuPanel-notice")
    second = {"message": "Maintenance tonight", "source": "admin", "level": "info"}
    assert requests.post(f"{base}/jupyter-hybrid/gpu/notices", json=second, headers=headers).ok
    panel.locator(".jp-GpuPanel-notice", has_text="Maintenance").wait_for(timeout=10_000)
    assert panel.locator(".jp-GpuPanel-noticesBar").inner_text().startswith("2 notices")
    assert "⚠" in status.inner_text()
    panel.screenshot(path=artifacts / "gpu-panel-notices.png")
    notices.filter(has_text="GPU idle").locator("button.jp-GpuPanel-dismiss").click()
    notices.filter(has_text="GPU idle").wait_for(state="detached")
    assert notices.count() == 1 and panel.locator(".jp-GpuPanel-noticesBar").count() == 0

    def server_notices() -> list[str]:
        r = requests.get(f"{base}/jupyter-hybrid/gpu/notices", headers=headers)
        return [n["message"] for n in r.json()["notices"]]

    assert server_notices() == ["Maintenance tonight"]
    third = {"message": "Quota almost used", "source": "admin"}
    assert requests.post(f"{base}/jupyter-hybrid/gpu/notices", json=third, headers=headers).ok
    panel.locator("button.jp-GpuPanel-dismissAll").click()
    notices.first.wait_for(state="detached")
    assert server_notices() == []
    page.wait_for_function("el => !el.textContent.includes('⚠')", arg=status.element_handle())
