"""Browser test (Debian chromium through Playwright): each panel in JupyterLab's light and dark
themes, built from JupyterLab's own components (the HTMLSelect wrapper, toolbar buttons) and
--jp-* colours. Screenshots: ui-artifacts/panel-<hybrid|snapshots|gpu>-<light|dark>.png.
"""

from __future__ import annotations

import json

import pytest
import requests

from ..hubtools import ROOT
from .conftest import run_lab
from .test_browser import LAB_TIMEOUT_MS

pytestmark = pytest.mark.ui

THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
PANELS = {
    "hybrid": ("jupyter-hybrid-panel", ".jp-HybridPanel-message"),
    "snapshots": ("jupyter-hybrid-snapshots", ".jp-HybridSnapshots-item"),
    "gpu": ("jupyter-hybrid-gpu", ".jp-GpuCard canvas"),
}


@pytest.fixture
def gpu_lab(tmp_path):
    """`jupyter lab` over a simulated H100 (tests/gputools.py), so the GPU panel has charts."""
    args = (
        "--ServerApp.jpserver_extensions={'jupyter_hybrid': True, 'tests.gputools': True}",
        "--GpuSampler.interval=0.5",
    )
    with run_lab(tmp_path, args, {"PYTHONPATH": str(ROOT)}, ready_line="simulated GPU in place") as lab:
        yield lab


def test_panels_in_light_and_dark_themes(gpu_lab, page, artifacts):
    base, token = gpu_lab
    headers = {"Authorization": f"token {token}"}
    r = requests.post(
        f"{base}/jupyter-hybrid/snapshots", json={"kernel": "python3", "name": "base"}, headers=headers
    )
    assert r.status_code == 201, r.text
    notice = {"message": "GPU idle for 30 min: this server stops in 10 min", "source": "gpu-culler"}
    assert requests.post(f"{base}/jupyter-hybrid/gpu/notices", json=notice, headers=headers).ok
    backgrounds = {}
    for theme, theme_name in THEMES.items():
        body = {"raw": json.dumps({"theme": theme_name})}
        url = f"{base}/lab/api/settings/@jupyterlab/apputils-extension:themes"
        assert requests.put(url, json=body, headers=headers).status_code == 204
        page.goto(f"{base}/lab?token={token}")
        page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=LAB_TIMEOUT_MS)
        page.wait_for_function(f"document.body.dataset.jpThemeName === {theme_name!r}")
        for name, (panel_id, loaded) in PANELS.items():
            page.locator(f'li.lm-TabBar-tab[data-id="{panel_id}"]').click()
            panel = page.locator(f"#{panel_id}")
            panel.locator(loaded).first.wait_for(timeout=30_000)
            page.wait_for_timeout(500)  # let the charts draw a few samples for the picture
            panel.screenshot(path=artifacts / f"panel-{name}-{theme}.png")
            # the panel's colours are the theme's: its background is --jp-layout-color1
            colours = panel.evaluate(
                "el => [getComputedStyle(el).backgroundColor,"
                " getComputedStyle(document.body).getPropertyValue('--jp-layout-color1')]"
            )
            backgrounds[(name, theme)] = colours[0]
            probe = page.evaluate(
                "c => { const d = document.createElement('div'); d.style.color = c; document.body.append(d);"
                " const v = getComputedStyle(d).color; d.remove(); return v; }",
                colours[1].strip(),
            )
            assert colours[0] == probe, (name, theme, colours)
        # JupyterLab's own components: the select in ui-components' HTMLSelect wrapper, toolbar buttons
        snapshots = page.locator("#jupyter-hybrid-snapshots")
        assert snapshots.locator(".jp-select-wrapper select.jp-HybridSnapshots-kernel").count() == 1
        assert snapshots.locator(".jp-HybridSnapshots-actions button.jp-ToolbarButtonComponent").count() == 4
        assert page.locator("#jupyter-hybrid-gpu button.jp-ToolbarButtonComponent").count() >= 2
    for name in PANELS:
        assert backgrounds[(name, "light")] != backgrounds[(name, "dark")], backgrounds
