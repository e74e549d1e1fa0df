"""Browser test (Debian chromium through Playwright) of the extension's commands and settings in
plain `jupyter lab`: the command palette finds every panel and action by "hybrid", "snapshot" and
"GPU" and runs them; the sidebar tabs carry labels and captions; the GPU intervals come from the
settings (schema/gpu.json), here changed by the user. Screenshot: ui-artifacts/command-palette.png.
"""

from __future__ import annotations

import json

import pytest
import requests

from .conftest import run_lab
from .test_browser import LAB_TIMEOUT_MS

pytestmark = pytest.mark.ui

SEARCHES = {
    "hybrid": {
        "Show Hybrid Panel",
        "Refresh Hybrid Panel",
        "Show Environment Snapshots",
        "Capture Environment Snapshot",
        "Refresh Snapshot List",
        "Diff the Two Selected Snapshots",
        "Show GPU Panel",
        "Refresh GPU State",
        "Dismiss All GPU Notices",
    },
    "snapshot": {
        "Show Environment Snapshots",
        "Capture Environment Snapshot",
        "Refresh Snapshot List",
        "Diff the Two Selected Snapshots",
    },
    "GPU": {"Show GPU Panel", "Refresh GPU State", "Dismiss All GPU Notices"},
}

TABS = {
    "jupyter-hybrid-panel": ("Hybrid", "Hybrid panel: tier, site and environment"),
    "jupyter-hybrid-snapshots": ("Snapshots", "Environment snapshots: capture, diff, export, restore"),
    "jupyter-hybrid-gpu": ("GPUs", "GPU panel: live metrics and memory by notebook"),
}


def palette_search(page, query: str) -> set[str]:
    """Open the command palette, type ``query``, return the labels it lists."""
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette")
    palette.locator("input.lm-CommandPalette-input").wait_for()
    palette.locator("input.lm-CommandPalette-input").fill(query)
    palette.locator(".lm-CommandPalette-item").first.wait_for()
    return set(palette.locator(".lm-CommandPalette-itemLabel").all_inner_texts())


def palette_run(page, label: str) -> None:
    palette_search(page, label)
    page.locator(".lm-CommandPalette-item", has_text=label).first.click()


@pytest.fixture
def lab(tmp_path):
    with run_lab(tmp_path) as lab:
        yield lab


def test_palette_commands_captions_and_settings(lab, page, artifacts):
    base, token = lab
    headers = {"Authorization": f"token {token}"}
    # the user sets the status-bar refresh (the schema's default is 10 s)
    body = {"raw": json.dumps({"pollSeconds": 4})}
    r = requests.put(f"{base}/lab/api/settings/jupyter-hybrid:gpu", json=body, headers=headers)
    assert r.status_code == 204, r.text

    page.goto(f"{base}/lab?token={token}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=LAB_TIMEOUT_MS)
    # the launcher opens last; it would take the focus from a palette opened before it
    page.locator(".jp-Launcher").wait_for(timeout=LAB_TIMEOUT_MS)

    for tab_id, (label, caption) in TABS.items():
        tab = page.locator(f'li.lm-TabBar-tab[data-id="{tab_id}"]')
        assert tab.locator(".lm-TabBar-tabLabel").inner_text() == label
        assert tab.get_attribute("title") == caption

    for query, expected in SEARCHES.items():
        found = palette_search(page, query)
        if query == "hybrid":
            page.screenshot(path=artifacts / "command-palette.png")
        assert expected <= found, (query, sorted(found))
        page.keyboard.press("Escape")

    palette_run(page, "Show Environment Snapshots")
    page.locator("#jupyter-hybrid-snapshots").wait_for(state="visible")
    palette_run(page, "Capture Environment Snapshot")  # no notebook open: the kernel chosen in the panel
    status = page.locator("#jupyter-hybrid-snapshots p.jp-HybridSnapshots-status")
    page.wait_for_function(
        "el => /Captured|failed|Choose/.test(el.textContent)", arg=status.element_handle(), timeout=120_000
    )
    assert "Captured" in status.inner_text(), status.inner_text()
    page.locator("#jupyter-hybrid-snapshots li.jp-HybridSnapshots-item").first.wait_for()

    palette_run(page, "Show GPU Panel")
    footer = page.locator("#jupyter-hybrid-gpu .jp-GpuPanel-footer")
    footer.wait_for()
    assert "read every 4 s while it is hidden" in footer.inner_text()
