"""The README's own example, as a newcomer meets it: the demo hub with
``JUPYTER_HYBRID_CATALOG=hub_config/hybrid-example.yaml`` and no kubeconfig at all, so both
clusters are unreachable and only this machine can run servers.

1. The form offers nothing that cannot start: Small (the default tier) is preset with the
   environment this machine runs, the container images are disabled with why, and the clusters
   read "... is unavailable right now" (no kubeconfig detail for a user; a hub admin sees it).
2. Start succeeds on the first try, and the progress page's message says where and why.
3. Through the hub's progress API, every event after the placement carries the site and reason.

Screenshots go to ui-artifacts/.
"""

from __future__ import annotations

import pytest

from ..hubtools import PASSWORD, ROOT, Hub, xsrf_from
from ..kubehub import progress
from .test_browser import LAB_TIMEOUT_MS

pytestmark = [pytest.mark.hub, pytest.mark.ui]

EXAMPLE = ROOT / "hub_config" / "hybrid-example.yaml"
ADMIN = "ada"
ADMIN_PASSWORD = "admin-password-for-the-example-test-0123456789"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    folder = tmp_path_factory.mktemp("example-catalog")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBECONFIG", str(folder / "no-kubeconfig"))  # a newcomer's machine: none
        hub = Hub(
            folder / "hub",
            catalog=EXAMPLE,
            extra_config="\n".join(
                [
                    f"c.Authenticator.admin_users = {{{ADMIN!r}}}",
                    f"c.SharedPasswordAuthenticator.admin_password = {ADMIN_PASSWORD!r}",
                    # the spawn answers at once, so the progress page and stream are always seen
                    "c.JupyterHub.tornado_settings = {'slow_spawn_timeout': 0}",
                ]
            ),
        )
        hub.start()
    yield hub
    assert hub.stop() == 0, hub.log()


def login(page, hub: Hub, user: str, password: str = PASSWORD) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(lambda url: "/hub/login" not in url)
    if "/hub/spawn" not in page.url:  # an admin lands on the home page
        page.goto(f"{hub.url}/hub/spawn")


def test_example_catalog_form_starts_on_the_first_try(hub, page, artifacts):
    login(page, hub, "newcomer")
    small = page.locator('[data-tier-card="small"]')
    assert small.locator('input[name="tier"]').is_checked()
    environment = small.locator('select[name="environment-small"]')
    assert environment.is_enabled() and environment.input_value() == "hub-python"
    image = environment.locator('option[value="datascience"]')
    assert image.is_disabled()
    assert "it is a container image" in image.inner_text()
    where = small.locator(".jh-where:visible").inner_text()
    assert where.startswith("would run on This machine (local, region local), no hourly charge"), where
    assert "1 core · 2 GiB · no GPU" in small.inner_text()

    # the clusters: one short line each for a user, nowhere the kubeconfig detail
    text = page.locator(".jh-hybrid").inner_text()
    assert "kubeconfig" not in text.lower() and "Expected key" not in text
    sites = page.locator(".jh-sites").inner_text()
    assert (
        "On-prem GPU cluster (Frankfurt) (onprem-gpu, on-prem, region eu-central-1): unavailable right now"
        in sites
    )
    medium = page.locator('label.jh-tier[data-tier="medium"]')
    assert "jh-disabled" in medium.get_attribute("class").split()
    assert (
        "Unavailable: On-prem GPU cluster (Frankfurt) and Cloud (Ireland) are unavailable right now"
        in medium.inner_text()
    )
    # another tier's environment select is disabled (only the chosen tier's is posted)
    page.screenshot(path=artifacts / "spawn-form-example-catalog.png", full_page=True)

    page.get_by_role("button", name="Start").click()
    page.wait_for_url("**/hub/spawn-pending/newcomer**", timeout=30_000)
    message = page.locator("#progress-message")
    message.filter(has_text="This machine (local)").wait_for(timeout=60_000)
    page.screenshot(path=artifacts / "spawn-pending-example-catalog.png")
    shown = message.inner_text()
    assert "Small on This machine (local)" in shown or shown.startswith("Placement: "), shown
    assert "local chosen" in shown, shown
    page.wait_for_url("**/user/newcomer/lab**", timeout=LAB_TIMEOUT_MS)
    server = hub.api("GET", "/users/newcomer").json()["servers"][""]
    assert server["user_options"] == {"tier": "small", "environment": "hub-python"}
    hub.api("DELETE", "/users/newcomer/server")
    hub.wait_stopped("newcomer")


def test_a_hub_admin_sees_each_sites_error(hub, page, artifacts):
    login(page, hub, ADMIN, ADMIN_PASSWORD)
    sites = page.locator(".jh-sites").inner_text()
    assert "kubeconfig file" in sites and "does not exist" in sites, sites
    assert "set `kubeconfig:` or `context:` or `in_cluster: true` on site onprem-gpu" in sites
    page.screenshot(path=artifacts / "spawn-form-example-catalog-admin.png", full_page=True)
    # the hub's log has each site's error once, however many forms were shown
    page.reload()
    log = hub.log_path.read_text(errors="replace")
    assert log.count("Site onprem-gpu is unavailable") == 1, log[-3000:]


def test_progress_events_say_where_and_why(hub):
    """The hub's progress API: after the placement event, every message names the site and why
    (the progress page shows the latest message; the event log is collapsed)."""
    assert hub.api("POST", "/users/pat").status_code in (201, 409)
    r = hub.api("POST", "/users/pat/server", json={"tier": "small", "environment": "hub-python"})
    assert r.status_code == 202, r.text
    events = progress(hub, "pat")
    assert events[-1].get("ready"), events
    messages = [e.get("message", "") for e in events]
    placed = next(i for i, m in enumerate(messages) if m.startswith("Placement: "))
    assert "local chosen" in messages[placed]
    assert "cloud-eu: environment 'hub-python' cannot run here" in messages[placed]
    later = messages[placed + 1 : -1]
    assert later, messages  # the site's own events ("Spawning server...")
    for message in later:
        assert "— Small on This machine (local): local chosen" in message, message
    hub.api("DELETE", "/users/pat/server")
    hub.wait_stopped("pat")


def test_a_10_mb_form_value_is_refused_without_echo(hub):
    """A 10 MB tier name, option value or field name posted to the form: a 400 whose page (the
    form again) and log lines quote a few dozen characters, and the next form is as small."""
    s = hub.login("mallory")
    form = s.get(f"{hub.url}/hub/spawn", timeout=30)
    xsrf = xsrf_from(form.text)
    huge = "x" * 10_000_000
    logged = hub.log_path.stat().st_size
    for fields in (
        {"tier": huge},
        {"tier": "a100-1", "option-image": "__other__", "option-image-unlisted": huge},
        {"tier": "small", f"environment-{huge}": "hub-python"},
    ):
        r = s.post(f"{hub.url}/hub/spawn", data={**fields, "_xsrf": xsrf}, timeout=60)
        assert r.status_code == 400, r.text[:500]
        assert len(r.content) < len(form.content) + 20_000, len(r.content)
        assert "x" * 100 not in r.text and 'data-tier="small"' in r.text  # the form again, short
    assert hub.log_path.stat().st_size - logged < 100_000
    again = s.get(f"{hub.url}/hub/spawn", timeout=30)
    assert len(again.content) < len(form.content) + 20_000 and "x" * 100 not in again.text
