"""End to end through a real JupyterHub + configurable-http-proxy, with real JupyterLab servers."""

from __future__ import annotations

import shutil
import time

import psutil
import pytest
import requests
import yaml

from jupyter_hybrid.gpu.devices import detect_gpus

from .hubtools import ROOT, TOKEN, Hub, xsrf_from

pytestmark = pytest.mark.hub
GiB = 1024**3


def server_processes(user: str) -> list[psutil.Process]:
    """The single-user server of ``user`` and every process under it (kernels included)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any("jupyterhub-singleuser" in part for part in p.info["cmdline"] or []):
                if p.environ().get("JUPYTERHUB_USER") == user:
                    found += [p, *p.children(recursive=True)]
        except psutil.Error:
            continue
    return found


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog") / "catalog.yaml"
    shutil.copy(ROOT / "hub_config" / "catalog.yaml", path)
    return path


@pytest.fixture(scope="module")
def hub(tmp_path_factory, catalog):
    hub = Hub(tmp_path_factory.mktemp("hub"), catalog=catalog, groups={"gpu-users": {"users": ["gina"]}})
    hub.start()
    yield hub
    assert hub.stop() == 0, hub.log()


def test_rest_spawn_on_a_tier_reaches_lab_and_our_extension(hub):
    assert hub.api("POST", "/users/alice").status_code in (201, 409)
    r = hub.api("POST", "/users/alice/server", json={"tier": "medium", "environment": "default"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("alice")

    assert hub.get("/user/alice/lab").status_code == 200
    info = hub.get("/user/alice/jupyter-hybrid/info").json()
    assert info["under_hub"] is True
    assert (info["tier"], info["site"], info["environment"]) == ("medium", "local", "default")
    assert info["limits"] == {"cpu": 2.0, "memory": 4 * GiB, "gpus": 0}
    assert info["placement"].startswith("local chosen: on-prem")
    # jupyter-resource-usage reads MEM_LIMIT the way the ecosystem does
    metrics = hub.get("/user/alice/api/metrics/v1").json()
    assert metrics["limits"]["memory"]["rss"] == 4 * GiB

    anonymous = requests.get(f"{hub.url}/user/alice/jupyter-hybrid/info", timeout=10, allow_redirects=False)
    assert anonymous.status_code in (302, 401, 403)

    # a real kernel runs in its own process session: stopping the server must stop it too
    r = requests.post(
        f"{hub.url}/user/alice/api/kernels",
        json={"name": "python3"},
        headers={"Authorization": f"token {TOKEN}"},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    tree = server_processes("alice")
    assert len(tree) >= 2, "expected the server and its kernel"

    assert hub.api("DELETE", "/users/alice/server").status_code in (202, 204)
    hub.wait_stopped("alice")
    _, alive = psutil.wait_procs(tree, timeout=15)
    assert not alive, f"left running after stop: {alive}"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tier": "huge"}, "tier 'huge' is not in the catalog"),
        ({"tier": "gpu-1"}, "limited to group(s) gpu-users"),
        ({"tier": "small", "image": "evil/image"}, "unknown option(s) 'image'"),
        ({"tier": ["small"]}, "tier must be a name"),
        ({"environment": "nope"}, "environment 'nope' is not in the catalog"),
    ],
)
def test_rest_user_options_are_validated_on_the_server(hub, options, message):
    hub.api("POST", "/users/bob")
    r = hub.api("POST", "/users/bob/server", json=options)
    assert r.status_code == 400, r.text
    assert message in r.json()["message"]
    assert hub.api("GET", "/users/bob").json()["servers"] == {}
    assert server_processes("bob") == []


def _log_after(hub, offset: int, access_lines: int, timeout: float = 10) -> str:
    """The hub's log from ``offset`` on, once it holds ``access_lines`` '400 POST' access lines."""
    deadline = time.monotonic() + timeout
    while True:
        with open(hub.log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        if text.count(" 400 POST ") >= access_lines or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_a_refused_huge_value_costs_little_and_nothing_of_it_is_kept(hub):
    hub.api("POST", "/users/hana")
    assert hub.api("POST", "/users/hana/server", json={"tier": "small"}).status_code in (201, 202)
    hub.wait_ready("hana")
    hub.api("DELETE", "/users/hana/server")
    hub.wait_stopped("hana")
    s = hub.login("hana")
    xsrf = xsrf_from(s.get(f"{hub.url}/hub/spawn", timeout=30).text)

    huge = "x" * 2_000_000
    offset = hub.log_path.stat().st_size
    r = hub.api("POST", "/users/hana/server", json={"tier": huge})
    assert r.status_code == 400 and len(r.content) < 1000, r.content[:300]
    assert "is 2,000,000 characters long; at most 63 are allowed" in r.json()["message"]
    r = s.post(f"{hub.url}/hub/spawn", data={"tier": huge, "_xsrf": xsrf}, timeout=60)
    assert r.status_code == 400 and len(r.content) < 200_000 and huge[:100] not in r.text
    assert "is 2,000,000 characters long" in r.text

    logged = _log_after(hub, offset, access_lines=2)
    assert len(logged) < 20_000, logged[:2000]
    assert "Traceback" not in logged and "[E " not in logged, logged
    assert logged.count("Refused to start hana") == 2, logged

    # nothing refused is kept: the server record and the next form hold her last real choice
    model = hub.api("GET", "/users/hana", params={"include_stopped_servers": "1"}).json()
    assert model["servers"][""]["user_options"] == {"tier": "small"}
    form = s.get(f"{hub.url}/hub/spawn", timeout=30).text
    assert "x" * 50 not in form and "can no longer be used" not in form


def test_form_spawn_and_crafted_posts(hub):
    s = hub.login("fred")
    form = s.get(f"{hub.url}/hub/spawn", timeout=30)
    assert form.status_code == 200
    assert 'data-tier="small"' in form.text and 'data-tier="medium"' in form.text
    assert "cores free" in form.text and "memory free" in form.text
    assert "Unavailable: tier &#39;gpu-1&#39; is limited to group(s) gpu-users" in form.text
    xsrf = xsrf_from(form.text)

    for crafted, message in [
        ({"tier": "gpu-1"}, "limited to group(s) gpu-users"),
        ({"tier": "huge"}, "not in the catalog"),
        ({"tier": "small", "image": "evil/image"}, "unknown field"),
    ]:
        r = s.post(f"{hub.url}/hub/spawn", data={**crafted, "_xsrf": xsrf}, timeout=30)
        assert r.status_code == 400, r.text[:500]
        assert message in r.text.replace("&#x27;", "'")
        assert 'data-tier="small"' in r.text, "the form is shown again"
    assert hub.api("GET", "/users/fred").json()["servers"] == {}

    r = s.post(
        f"{hub.url}/hub/spawn", data={"tier": "small", "environment": "default", "_xsrf": xsrf}, timeout=60
    )
    assert r.status_code == 200
    hub.wait_ready("fred")
    # the browser session reaches JupyterLab through the hub's OAuth (cookies, no token)
    lab = s.get(f"{hub.url}/user/fred/lab", timeout=60)
    assert lab.status_code == 200 and lab.url.endswith("/user/fred/lab")
    info = s.get(f"{hub.url}/user/fred/jupyter-hybrid/info", timeout=60).json()
    assert info["tier"] == "small" and info["limits"]["memory"] == 2 * GiB
    assert hub.api("DELETE", "/users/fred/server").status_code in (202, 204)
    hub.wait_stopped("fred")


def test_failed_gpu_spawn_leaves_nothing_for_the_next(hub):
    if detect_gpus()[0]:
        pytest.skip("this machine has a GPU: the no-GPU refusal cannot happen here")
    hub.api("POST", "/users/gina")
    r = hub.api("POST", "/users/gina/server", json={"tier": "gpu-1"})
    assert r.status_code == 400
    assert "no GPU on this site" in r.json()["message"]
    r = hub.api("POST", "/users/gina/server", json={"tier": "small"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("gina")
    info = hub.get("/user/gina/jupyter-hybrid/info").json()
    assert info["tier"] == "small"
    assert info["limits"] == {"cpu": 1.0, "memory": 2 * GiB, "gpus": 0}
    hub.api("DELETE", "/users/gina/server")
    hub.wait_stopped("gina")


def test_saved_options_naming_a_removed_tier(hub, catalog):
    hub.api("POST", "/users/dave")
    assert hub.api("POST", "/users/dave/server", json={"tier": "medium"}).status_code in (201, 202)
    hub.wait_ready("dave")
    hub.api("DELETE", "/users/dave/server")
    hub.wait_stopped("dave")

    original = catalog.read_text()
    data = yaml.safe_load(original)
    del data["tiers"]["medium"]
    catalog.write_text(yaml.safe_dump(data))
    try:
        time.sleep(0.05)
        r = hub.api("POST", "/users/dave/server")  # no body: JupyterHub reuses the saved options
        assert r.status_code == 400
        assert "tier 'medium' is not in the catalog (it may have been removed)" in r.json()["message"]
        s = hub.login("dave")
        form = s.get(f"{hub.url}/hub/spawn", timeout=30)
        assert form.status_code == 200
        assert "Your last choice can no longer be used" in form.text
        assert 'data-tier="medium"' not in form.text
    finally:
        catalog.write_text(original)


def test_hub_restart_finds_the_running_server(tmp_path):
    hub = Hub(tmp_path, extra_config="c.JupyterHub.cleanup_servers = False").start()
    try:
        hub.api("POST", "/users/erin")
        assert hub.api("POST", "/users/erin/server", json={"tier": "small"}).status_code in (201, 202)
        hub.wait_ready("erin")
        tree = server_processes("erin")
        assert tree
        assert hub.stop() == 0
        assert all(p.is_running() for p in tree), "the server outlives the hub when cleanup is off"

        hub.start()
        hub.wait_ready("erin")
        assert hub.get("/user/erin/jupyter-hybrid/info").json()["tier"] == "small"
        assert hub.api("DELETE", "/users/erin/server").status_code in (202, 204)
        hub.wait_stopped("erin")
        _, alive = psutil.wait_procs(tree, timeout=15)
        assert not alive
    finally:
        hub.stop()


def test_an_invalid_catalog_stops_the_hub_with_the_key_and_the_fix(tmp_path):
    bad = tmp_path / "catalog.yaml"
    bad.write_text("sites: {local: {}}\ntiers:\n  small: {cpu: -1, memory: 2G}\n")
    hub = Hub(tmp_path / "hub", catalog=bad)
    with pytest.raises(RuntimeError) as e:
        hub.start()
    hub.stop()
    assert "tiers.small.cpu" in str(e.value) and "Fix" in str(e.value)
    assert str(bad) in str(e.value)
