"""Browser test (Debian chromium through Playwright) of the "GPUs" side panel in plain `jupyter lab`
on a machine without a GPU: the panel says why, plainly, and the server logs it once, no traceback.
Screenshot: ui-artifacts/gpu-panel-no-gpu.png.
"""

from __future__ import annotations

import pytest

from jupyter_hybrid.gpu.devices import detect_gpus

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
