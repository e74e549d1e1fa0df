"""The spawn form of a hybrid hub in a real browser: the local site plus a Kubernetes site (kmock,
with ``tests/kubelet.py`` scheduling pods and running them as local jupyterhub-singleuser).

1. The form shows each tier with where it would run and its price per hour, and the datasets with
   where each may be processed.
2. A free image value that fails the option's ``validation_regex`` is stopped by the browser's
   ``pattern``; the same value posted past the browser gets the form back with a 400 naming the option.
3. A valid free image with the dataset spawns onto the Kubernetes site: the progress page shows the
   placement reason, JupyterLab opens and the Hybrid panel shows the site.

Screenshots go to ui-artifacts/.
"""

from __future__ import annotations

import html
import re
import threading

import pytest
import yaml

from jupyter_hybrid.spawner.form import browser_pattern

from .. import kubehub
from ..hubtools import PASSWORD, Hub, free_port
from ..kubehub import SITE, hub_config, server_pods, user_servers, wait_until
from ..kubelet import Kubelet
from .test_browser import LAB_TIMEOUT_MS, open_hybrid_panel

pytestmark = [
    pytest.mark.hub,
    pytest.mark.ui,
    pytest.mark.filterwarnings("ignore:read_binary is deprecated:DeprecationWarning"),
]

USER = "hana"
#: whole-value regex of the free image choice (server: re.fullmatch; browser: the pattern attribute)
IMAGE_REGEX = r"quay\.io/jupyter/[a-z-]+:[a-z0-9._-]+"
IMAGE_HINT = "an image of quay.io/jupyter with a tag, e.g. quay.io/jupyter/scipy-notebook:2024-07-08"
GOOD_IMAGE = "quay.io/jupyter/pytorch-notebook:cuda12-2024-07-08"
#: matches IMAGE_REGEX at the start only: re.match (KubeSpawner) would take it, a whole match does not
PREFIX_ONLY = "quay.io/jupyter/scipy-notebook:latest;curl evil.example"


class GatedKubelet(Kubelet):
    """The kubelet emulator, held while ``gate`` is clear: pods stay Pending (unscheduled), so the
    browser surely sees the spawn's progress page before the server is up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.gate.set()

    def sync(self) -> None:
        if self.gate.is_set():
            super().sync()


def write_catalog(path, kubeconfig: str, reference) -> None:
    """The shared hybrid catalog plus: a CPU tier only on the cloud site (its own price there), an
    image option on the GPU tier with a free choice, and a dataset stored on both sites."""
    catalog = kubehub.catalog_dict(kubeconfig, prices={"gpu-1": 3.5, "large": 0.8})
    catalog["tiers"]["large"] = {
        "display_name": "Large CPU",
        "cpu": 4,
        "memory": "8G",
        "sites": [SITE],
    }
    catalog["tiers"]["gpu-1"]["options"] = {
        "image": {
            "display_name": "Image",
            "choices": {
                "pytorch": {
                    "display_name": "PyTorch",
                    "default": True,
                    "kubespawner_override": {"image": "quay.io/jupyter/pytorch-notebook:2024-07-08"},
                },
                "tensorflow": {
                    "display_name": "TensorFlow",
                    "kubespawner_override": {"image": "quay.io/jupyter/tensorflow-notebook:2024-07-08"},
                },
            },
            "unlisted_choice": {
                "enabled": True,
                "display_name": "Image name",
                "display_name_in_choices": "Other image...",
                "validation_regex": IMAGE_REGEX,
                "validation_message": IMAGE_HINT,
                "kubespawner_override": {"image": "{value}"},
            },
        }
    }
    catalog["datasets"]["reference"] = {
        "display_name": "Reference genomes",
        "locations": {"local": {"path": str(reference)}, SITE: {"pvc": "reference-data"}},
    }
    path.write_text(yaml.safe_dump(catalog))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with kubehub.cluster(tmp_path_factory.mktemp("kmock"), GatedKubelet) as (k8s, kubelet):
        yield k8s, kubelet


@pytest.fixture(scope="module")
def hub(tmp_path_factory, cluster):
    folder = tmp_path_factory.mktemp("hybrid-form")
    (folder / "reference").mkdir()
    write_catalog(folder / "catalog.yaml", cluster[0].kubeconfig, folder / "reference")
    hub = Hub(folder / "hub", catalog=folder / "catalog.yaml", extra_config=hub_config(free_port()))
    hub.start()
    yield hub
    assert hub.stop() == 0, hub.log()


def login(page, hub: Hub) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", USER)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url("**/hub/spawn**")


def tier(page, name: str):
    return page.locator(f'label.jh-tier[data-tier="{name}"]')


def test_hybrid_spawn_form_in_the_browser(hub, cluster, page, artifacts):
    k8s, kubelet = cluster
    login(page, hub)

    # (1) every tier: where it would run now and its price per hour; datasets with their residency
    where = {name: tier(page, name).locator(".jh-where").inner_text() for name in ("small", "large", "gpu-1")}
    assert where["small"].startswith("would run on This machine (local, region local), no hourly charge")
    assert where["large"].startswith("would run on Cloud GPU cluster (cloud, region eu-west-1), 0.8 per hour")
    assert where["gpu-1"].startswith("would run on Cloud GPU cluster (cloud, region eu-west-1), 3.5 per hour")
    assert "2 of 2 A100 free" in where["gpu-1"]
    for name in ("small", "large", "gpu-1"):
        assert tier(page, name).locator('input[name="tier"]').is_enabled()
    claims = page.locator('label.jh-dataset[data-dataset="claims"]')
    assert claims.locator('input[type="checkbox"]').is_enabled()
    assert "may be processed in eu-*; stored on Cloud GPU cluster (eu-west-1)" in claims.inner_text()
    reference = page.locator('label.jh-dataset[data-dataset="reference"]').inner_text()
    assert "Reference genomes" in reference and "may be processed in any region" in reference
    assert "This machine (local)" in reference and "Cloud GPU cluster (eu-west-1)" in reference

    # the GPU tier's image option appears with the tier; the free text box with "Other image..."
    options = page.locator('fieldset[data-options-for="gpu-1"]')
    assert options.is_hidden()
    assert page.locator('select[name="environment-gpu-1"]').is_disabled()  # not the chosen tier's
    tier(page, "gpu-1").locator('input[name="tier"]').check()
    assert options.is_visible()
    # only the chosen tier's environment is posted (without JavaScript the hub picks it by name)
    assert page.locator('select[name="environment-gpu-1"]').is_enabled()
    assert page.locator('select[name="environment-small"]').is_disabled()
    image = options.locator('select[name="option-image"]')
    assert image.input_value() == "pytorch"
    free = options.locator('input[name="option-image-unlisted"]')
    assert free.is_hidden()
    claims.locator('input[type="checkbox"]').check()
    image.select_option(label="Other image...")
    assert free.is_visible() and free.get_attribute("placeholder") == "Image name"
    page.screenshot(path=artifacts / "spawn-form-hybrid.png", full_page=True)

    # (2) a value the regex refuses: the browser's pattern blocks the submit (whole-value match)
    for bad in ("docker.io/someone/miner:latest", PREFIX_ONLY):
        free.fill(bad)
        assert free.evaluate("e => e.validity.patternMismatch"), bad
        page.get_by_role("button", name="Start").click()
        assert page.url.split("?")[0] == f"{hub.url}/hub/spawn"
        assert free.evaluate("e => e.matches(':invalid') && !e.form.checkValidity()")
        assert free.evaluate("e => e.validationMessage"), "the browser says nothing about the pattern"
    page.screenshot(path=artifacts / "spawn-form-hybrid-invalid.png", full_page=True)
    assert user_servers(hub, USER) == {} and server_pods(k8s) == []

    # ... and posted past the browser (with the form's xsrf token) the hub answers 400 naming it
    action = page.locator("#spawn_form").get_attribute("action")
    assert "_xsrf=" in action
    fields = {
        "tier": "gpu-1",
        "environment": "default",
        "datasets": "claims",
        "option-image": "__other__",
        "option-image-unlisted": PREFIX_ONLY,
    }
    r = page.request.post(hub.url + action, form=fields)
    assert r.status == 400, r.text()[:2000]
    body = html.unescape(r.text())
    error = re.search(r'<p class="spawn-error-msg[^"]*">(.*?)</p>', body, re.S)
    assert error, body[:3000]
    # our message as it is, not wrapped in "HTTP 400: Bad Request (...)"
    assert "Bad Request" not in error.group(1), error.group(1)
    assert f"option 'image': {IMAGE_HINT}" in error.group(1), error.group(1)
    assert 'id="spawn_form"' in body  # the form again, to correct the value
    assert user_servers(hub, USER) == {} and server_pods(k8s) == []

    # (3) a valid free image with the dataset: placed on the Kubernetes site
    kubelet.gate.clear()  # the pod stays Pending until the progress page has shown the placement
    try:
        free.fill(GOOD_IMAGE)
        assert free.evaluate("e => e.validity.valid")
        page.get_by_role("button", name="Start").click()
        page.wait_for_url(f"**/hub/spawn-pending/{USER}**", timeout=30_000)
        event = page.locator("#progress-log .progress-log-event", has_text="Placement:")
        event.wait_for(state="attached", timeout=60_000)
        page.locator("#progress-details").evaluate("e => e.open = true")
        page.screenshot(path=artifacts / "spawn-pending-hybrid.png")
        placement = event.text_content()
        assert f"{SITE} chosen: cheapest cloud site with capacity" in placement, placement
        assert "local: dataset 'claims' may only be processed in eu-*" in placement, placement
        (pending,) = wait_until(lambda: server_pods(k8s), 30, "the server's pod")
        assert not pending["spec"].get("nodeName")
    finally:
        kubelet.gate.set()
    try:
        page.wait_for_url(f"**/user/{USER}/lab**", timeout=LAB_TIMEOUT_MS)
        panel = open_hybrid_panel(page)
        table = panel.locator(".jp-HybridPanel-table")
        assert table.count() == 1, panel.inner_text()[:1000]
        page.screenshot(path=artifacts / "hybrid-lab-on-kubernetes.png")
        fields = {f: table.locator(f'td[data-field="{f}"]').inner_text() for f in ("tier", "site", "gpus")}
        assert fields == {"tier": "gpu-1", "site": SITE, "gpus": "1"}

        (manifest,) = server_pods(k8s)
        container = manifest["spec"]["containers"][0]
        assert container["image"] == GOOD_IMAGE  # the free value, through {value}
        assert manifest["spec"]["nodeName"] == "gpu-1"
        assert any(m["mountPath"] == "/data/claims" for m in container["volumeMounts"])
        options = hub.api("GET", f"/users/{USER}").json()["servers"][""]["user_options"]
        assert options["options"] == {"image": GOOD_IMAGE} and options["datasets"] == ["claims"]
    finally:
        kubehub.stop(hub, USER)
    wait_until(lambda: not server_pods(k8s), 30, "the server's pod deleted")


#: validation regexes as admins write them (kubespawner and z2jh docs, image and DNS names), each with
#: values that match and values that do not
REGEXES = {
    IMAGE_REGEX: ["quay.io/jupyter/scipy-notebook:2024-07-08", "docker.io/x/y:1", PREFIX_ONLY],
    r"^[a-zA-Z0-9._/-]+:[a-zA-Z0-9._-]+$": ["x-y/z_1:v1.2-rc", "a b:c", "a/b"],
    r"^jupyter/.+:.+$": ["jupyter/a:b", "xjupyter/a:b", "jupyter/a"],
    r"[\w.-]+/[\w.-]+(:[\w.-]+)?": ["a-b.c/d_e:f-g", "a/b", "a/b:"],
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?": ["abc-1", "-abc", "abc-"],
    r"[^/:]+": ["abc", "a/b", "a:b"],
    r"[]a]+": ["]a]", "b"],
    r"[a-c-e]+": ["a-e", "d"],
    r"[0-9]{,2}x{2}y{1,}": ["12xxy", "xxy", "123xxy", "xy"],
    r"x{y}": ["x{y}", "xy"],
    r"(?P<repo>[a-z]+)/(?P<tag>[a-z0-9]+)": ["abc/1", "ABC/1"],
    r"\A[a-z]+\Z": ["abc", "ab1"],
    r"v\-[\d.]+\:[a|b(c)]": ["v-1.2:|", "v-1.2:(", "v-1.2:d"],
}


def test_the_browser_pattern_agrees_with_the_server_regex(page):
    """The form's ``pattern`` (browsers compile it with the v flag, and drop it silently when it
    does not compile) accepts exactly what the server's re.fullmatch accepts."""
    cases = [(rx, value) for rx, values in REGEXES.items() for value in values]
    inputs = "".join(
        f'<input id="c{i}" pattern="{html.escape(browser_pattern(rx))}" value="{html.escape(value)}">'
        for i, (rx, value) in enumerate(cases)
    )
    page.set_content(f"<form>{inputs}</form>")
    browser = page.evaluate(
        "n => [...Array(n).keys()].map(i => !document.getElementById('c' + i).validity.patternMismatch)",
        len(cases),
    )
    server = [re.fullmatch(rx, value) is not None for rx, value in cases]
    assert [c for c, b, s in zip(cases, browser, server, strict=True) if b != s] == []
    assert server.count(False) >= len(REGEXES)  # each regex refuses something: a dropped pattern fails
