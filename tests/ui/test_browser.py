"""Browser tests (Debian chromium through Playwright) of what a user sees.

- Through the real demo hub: log in, the spawn form shows the gpu-1 tier as unavailable with its
  reason, pick the medium tier, start, JupyterLab loads, and the "Hybrid" side panel shows the
  tier, site, environment and limits the server runs with.
- Plain `jupyter lab` (no hub): the Hybrid panel says it is not running under a hub.

Screenshots go to ui-artifacts/.
"""

from __future__ import annotations

import pytest

from ..hubtools import PASSWORD, Hub

pytestmark = pytest.mark.ui

USER = "uiuser"
LAB_TIMEOUT_MS = 120_000
PANEL_TAB = 'li.lm-TabBar-tab[data-id="jupyter-hybrid-panel"]'
PANEL = "#jupyter-hybrid-panel"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The demo hub with its default catalog; gpu-1 is for group gpu-users, which uiuser is not in."""
    hub = Hub(tmp_path_factory.mktemp("ui-hub"), groups={"gpu-users": {"users": ["gina"]}})
    hub.start()
    yield hub
    assert hub.stop() == 0, hub.log()


def open_hybrid_panel(page):
    """Once JupyterLab is up, open the Hybrid side panel and wait until it shows a result."""
    page.wait_for_selector("#jp-main-dock-panel", timeout=LAB_TIMEOUT_MS)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=LAB_TIMEOUT_MS)  # restored
    page.locator(PANEL_TAB).click()
    panel = page.locator(PANEL)
    panel.wait_for(state="visible")
    panel.locator(".jp-HybridPanel-table, .jp-HybridPanel-message, .jp-HybridPanel-error").first.wait_for()
    return panel


def test_spawn_from_the_form_and_see_the_tier_in_the_hybrid_panel(hub, page, artifacts):
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", USER)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url("**/hub/spawn**")

    gpu = page.locator('label.jh-tier[data-tier="gpu-1"]')
    assert "jh-disabled" in gpu.get_attribute("class").split()
    assert gpu.locator('input[name="tier"]').is_disabled()
    why = gpu.locator(".jh-why").inner_text()
    assert why.startswith("Unavailable:") and "gpu-users" in why, why
    assert page.locator('label.jh-tier[data-tier="medium"]').get_attribute("class") == "jh-tier"
    page.screenshot(path=artifacts / "spawn-form.png", full_page=True)

    page.locator('label.jh-tier[data-tier="medium"] input[name="tier"]').check()
    page.get_by_role("button", name="Start").click()
    try:
        page.wait_for_url(f"**/user/{USER}/lab**", timeout=LAB_TIMEOUT_MS)
        panel = open_hybrid_panel(page)
        page.screenshot(path=artifacts / "hybrid-panel.png")
        table = panel.locator(".jp-HybridPanel-table")
        assert table.count() == 1, panel.inner_text()[:1000]
        fields = {
            field: table.locator(f'td[data-field="{field}"]').inner_text()
            for field in ("tier", "site", "environment", "cpu-limit", "memory-limit", "gpus")
        }
        assert fields == {
            "tier": "medium",
            "site": "local",
            "environment": "default",
            "cpu-limit": "2 cores",
            "memory-limit": "4 GiB",
            "gpus": "0",
        }
    finally:
        hub.api("DELETE", f"/users/{USER}/server")
        hub.wait_stopped(USER)


def test_hybrid_panel_without_a_hub(plain_lab, page, artifacts):
    url, _, _ = plain_lab
    page.goto(url)
    panel = open_hybrid_panel(page)
    page.screenshot(path=artifacts / "hybrid-panel-no-hub.png")
    assert panel.locator(".jp-HybridPanel-message").count() == 1, panel.inner_text()[:1000]
    assert "not running under a hub" in panel.inner_text()
