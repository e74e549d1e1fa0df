"""Browser test (Debian chromium through Playwright): the panels load in Jupyter Notebook 7.

Notebook 7 has its own shell (no ILabShell): widgets added to its "left" area are reached from
View > Left Sidebar > "Show <caption>". Opens a notebook page and reaches the Hybrid, GPU and
Snapshots panels that way; its command palette finds the commands.
Screenshots: ui-artifacts/notebook7-<panel>.png.
"""

from __future__ import annotations

import pytest
import requests

from .conftest import run_lab
from .test_browser import LAB_TIMEOUT_MS
from .test_commands import SEARCHES, palette_search

pytestmark = pytest.mark.ui

NOTEBOOK = {
    "cells": [],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}

# (menu entry text, panel id, what the panel shows once it has loaded)
PANELS = [
    ("Show Hybrid", "jupyter-hybrid-panel", ".jp-HybridPanel-message"),
    ("Show GPU", "jupyter-hybrid-gpu", ".jp-GpuPanel-unavailable, .jp-GpuCard"),
    ("Show Environment snapshots", "jupyter-hybrid-snapshots", ".jp-HybridSnapshots-empty"),
]


@pytest.fixture
def notebook7(tmp_path):
    pytest.importorskip("notebook", minversion="7")
    with run_lab(tmp_path, app="notebook") as (base, token):
        headers = {"Authorization": f"token {token}"}
        body = {"type": "notebook", "content": NOTEBOOK}
        requests.put(f"{base}/api/contents/nb7.ipynb", json=body, headers=headers).raise_for_status()
        yield base, token


def open_left_panel(page, entry: str) -> None:
    """View > Left Sidebar > ``entry``: Notebook 7's way to a widget of the left area."""
    page.locator(".lm-MenuBar-item", has_text="View").click()
    page.locator(".lm-Menu-item", has_text="Left Sidebar").hover()
    page.locator(".lm-Menu-item", has_text=entry).click()


def test_each_panel_is_reached_in_notebook7(notebook7, page, artifacts):
    base, token = notebook7
    page.goto(f"{base}/notebooks/nb7.ipynb?token={token}")
    page.wait_for_selector(".jp-NotebookPanel", timeout=LAB_TIMEOUT_MS)
    # the View menu's "Left Sidebar" submenu is rebuilt as each widget is added: wait for ours
    for _, panel_id, _ in PANELS:
        page.locator(f"#{panel_id}").wait_for(state="attached", timeout=LAB_TIMEOUT_MS)
    for entry, panel_id, loaded in PANELS:
        open_left_panel(page, entry)
        panel = page.locator(f"#{panel_id}")
        panel.wait_for(state="visible")
        panel.locator(loaded).first.wait_for(timeout=30_000)
        page.screenshot(path=artifacts / f"notebook7-{panel_id.removeprefix('jupyter-hybrid-')}.png")
        if panel_id == "jupyter-hybrid-panel":
            assert "not running under a hub" in panel.inner_text()
        if panel_id == "jupyter-hybrid-snapshots":  # kernels from the same kernelspecs as in JupyterLab
            panel.locator('option[value="python3"]').wait_for(state="attached", timeout=30_000)
    # Notebook 7's command palette lists the same commands; a notebook is current, so capture is its
    expected = SEARCHES["hybrid"] - {"Capture Environment Snapshot"}
    assert expected | {"Capture Environment Snapshot of This Notebook"} <= palette_search(page, "hybrid")
