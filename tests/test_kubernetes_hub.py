"""A real JupyterHub (HybridSpawner, configurable-http-proxy) spawning onto a Kubernetes site served by
kmock, with ``tests/kubelet.py`` scheduling its pods and running them as local jupyterhub-singleuser
processes: placement, the pod manifest, the proxy route, the form's live state, unschedulable
fail-fast, an unreachable cluster and the GPU quota, all through the hub's own HTTP interfaces."""

from __future__ import annotations

import time

import psutil
import pytest
import requests

from . import kubehub
from .hubtools import Hub, free_port
from .kmocktools import KMock
from .kubefixtures import node, pod
from .kubehub import (
    GPU_PRODUCT,
    NS,
    SITE,
    START_TIMEOUT,
    hub_config,
    progress,
    seed,
    server_pods,
    singleuser,
    spawn_watching,
    stop,
    user_servers,
    wait_until,
    write_catalog,
)
from .kubelet import schedule

pytestmark = [
    pytest.mark.hub,
    pytest.mark.filterwarnings("ignore:read_binary is deprecated:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with kubehub.cluster(tmp_path_factory.mktemp("kmock")) as (k8s, kubelet):
        yield k8s, kubelet


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, cluster):
    path = tmp_path_factory.mktemp("catalog") / "catalog.yaml"
    write_catalog(path, cluster[0].kubeconfig)
    return path


@pytest.fixture(scope="module")
def hub(tmp_path_factory, catalog):
    hub = Hub(tmp_path_factory.mktemp("hub"), catalog=catalog, extra_config=hub_config(free_port()))
    hub.start()
    yield hub
    assert hub.stop() == 0, hub.log()


# --- tests -----------------------------------------------------------------------------------------


def test_the_emulated_scheduler_binds_where_the_real_one_would():
    """The emulator's own rules (so the hub tests below rest on a scheduler that can say no)."""
    taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    nodes = [
        node("cpu-1", cpu="8", memory="32Gi"),
        node("gpu-1", cpu="16", memory="64Gi", gpus=2, labels={"pool": "a100"}, taints=[taint]),
    ]
    gpu_pod = pod("p", phase="Pending", gpus=1, spec={"nodeSelector": {"pool": "a100"}})
    assert schedule(gpu_pod, nodes, []) == (
        None,
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {nvidia.com/gpu: present}.",
    )
    gpu_pod["spec"]["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert schedule(gpu_pod, nodes, []) == ("gpu-1", "")
    running = [pod(f"r{i}", node="gpu-1", gpus=1) for i in range(2)]
    assert "1 Insufficient nvidia.com/gpu" in schedule(gpu_pod, nodes, running)[1]
    finished = [pod(f"r{i}", node="gpu-1", gpus=1, phase="Succeeded") for i in range(2)]
    assert schedule(gpu_pod, nodes, finished) == ("gpu-1", "")  # finished pods hold nothing
    big = pod("big", phase="Pending", cpu="12")
    assert schedule(big, nodes, []) == (
        None,
        "0/2 nodes are available: 1 Insufficient cpu, "
        "1 node(s) had untolerated taint {nvidia.com/gpu: present}.",
    )


def test_spawn_form_shows_the_kubernetes_site_with_live_gpus_and_price(hub, cluster):
    s = hub.login("fiona")
    form = s.get(f"{hub.url}/hub/spawn", timeout=30)
    assert form.status_code == 200, form.text[:500]
    text = form.text.replace("&#x27;", "'")
    assert f'<li data-site="{SITE}">' in text  # reachable (no jh-unreachable class)
    assert "Cloud GPU cluster" in text and "cloud, region eu-west-1" in text
    assert "0 of 2 A100 free" not in text and f"2 of 2 {GPU_PRODUCT} free" not in text
    assert "2 of 2 A100 free" in text  # the node's GPUs under the site's model name
    assert "24 of 24 cores free" in text
    gpu_row = text.split('data-tier="gpu-1"', 1)[1].split("</label>", 1)[0]
    assert "would run on <b>Cloud GPU cluster</b> (cloud, region eu-west-1), 3.5 per hour" in gpu_row

    # live: a pod some other team runs takes a GPU, the next form shows it
    cluster[0].put("v1/pods", "batch", pod("trainer", node="gpu-1", gpus=1, namespace="batch"))
    try:
        text = s.get(f"{hub.url}/hub/spawn", timeout=30).text
        assert "1 of 2 A100 free" in text and "23 of 24 cores free" in text
    finally:
        cluster[0].delete("v1/pods", "batch", "trainer")


def test_gpu_tier_with_a_dataset_runs_on_kubernetes_through_the_proxy(hub, cluster):
    k8s, kubelet = cluster
    hub.api("POST", "/users/gina")
    r, events = spawn_watching(hub, "gina", {"tier": "gpu-1", "datasets": ["claims"]})
    assert r.status_code in (201, 202), r.text
    assert events[-1].get("ready"), events
    placement = next(e["message"] for e in events if e["message"].startswith("Placement: "))
    assert f"{SITE} chosen: cheapest cloud site with capacity" in placement, placement
    assert "local: dataset 'claims' may only be processed in eu-*" in placement

    (manifest,) = server_pods(k8s)
    assert manifest["metadata"]["name"] == "jupyter-gina"
    container = manifest["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert manifest["spec"]["nodeSelector"] == {"pool": "a100"}
    assert manifest["spec"]["nodeName"] == "gpu-1"  # the emulated scheduler bound it there
    volumes = {v["name"]: v for v in manifest["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/data/claims"]["readOnly"] is True
    assert volumes[mounts["/data/claims"]["name"]]["persistentVolumeClaim"]["claimName"] == "claims-data"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["JUPYTER_HYBRID_DATASET_CLAIMS"] == "/data/claims"
    assert env["JUPYTER_HYBRID_PLACEMENT"] == placement.removeprefix("Placement: ")
    assert container["args"][0] == "jupyterhub-singleuser"

    # the server answers through configurable-http-proxy at the pod's address
    status = hub.get("/user/gina/api/status")
    assert status.status_code == 200, status.text
    assert "started" in status.json()
    info = hub.get("/user/gina/jupyter-hybrid/info").json()
    assert (info["site"], info["tier"], info["limits"]["gpus"]) == (SITE, "gpu-1", 1)
    assert info["placement"] == env["JUPYTER_HYBRID_PLACEMENT"]
    model = hub.api("GET", "/users/gina").json()["servers"][""]
    assert model["user_options"]["datasets"] == ["claims"]
    (proc,) = singleuser("gina")
    assert proc.environ()["JUPYTERHUB_SERVICE_URL"].startswith("http://127.0.0.1:")

    stop(hub, "gina")
    wait_until(lambda: not server_pods(k8s), 15, "pod deleted")
    assert psutil.wait_procs([proc], timeout=15)[1] == [], "the server process outlived its pod"
    wait_until(lambda: "jupyter-gina" not in kubelet.containers, 10, "the kubelet forgot the container")


def test_a_second_gpu_server_over_the_user_quota_is_refused(hub, cluster):
    hub.api("POST", "/users/quinn")
    r = hub.api("POST", "/users/quinn/server", json={"tier": "gpu-1"})
    assert r.status_code in (201, 202), r.text
    assert progress(hub, "quinn")[-1].get("ready")
    try:
        r = hub.api("POST", "/users/quinn/servers/second", json={"tier": "gpu-1"})
        assert r.status_code == 400, r.text
        assert "quota: you use 1 of 1 GPUs" in r.json()["message"]
        assert "second" not in user_servers(hub, "quinn")
        assert len(server_pods(cluster[0])) == 1
        # a CPU server beside it is fine
        r = hub.api("POST", "/users/quinn/servers/second", json={"tier": "small"})
        assert r.status_code in (201, 202), r.text
        assert progress(hub, "quinn", "second")[-1].get("ready")
        stop(hub, "quinn", "second")
    finally:
        stop(hub, "quinn")
    wait_until(lambda: not server_pods(cluster[0]), 15, "pod deleted")


def test_a_server_that_dies_in_its_pod_is_reported_stopped_and_its_pod_removed(hub, cluster):
    k8s, kubelet = cluster
    hub.api("POST", "/users/dora")
    r = hub.api("POST", "/users/dora/server", json={"tier": "gpu-1"})
    assert r.status_code in (201, 202), r.text
    assert progress(hub, "dora")[-1].get("ready")
    (proc,) = singleuser("dora")
    proc.kill()  # the container crashes: the kubelet marks the pod Failed
    wait_until(
        lambda: (
            (k8s.get("v1/pods", NS, "jupyter-dora") or {}).get("status", {}).get("phase") in (None, "Failed")
        ),
        15,
        "pod Failed",
    )
    wait_until(lambda: "" not in user_servers(hub, "dora"), 30, "the hub saw the server stop")
    wait_until(lambda: not server_pods(k8s), 30, "the failed pod deleted")
    # the GPU is free again: the same user starts another GPU server
    r = hub.api("POST", "/users/dora/server", json={"tier": "gpu-1"})
    assert r.status_code in (201, 202), r.text
    assert progress(hub, "dora")[-1].get("ready")
    stop(hub, "dora")


def test_unschedulable_pod_fails_fast_with_the_schedulers_message(hub, cluster, catalog):
    """The hub last saw a free GPU; another workload took both before the pod reached the scheduler."""
    k8s, kubelet = cluster
    original = catalog.read_text()
    hub.login("uma").get(f"{hub.url}/hub/spawn", timeout=30)  # a read with 2 GPUs free
    write_catalog(catalog, k8s.kubeconfig, refresh_seconds=600)  # ... reused from now on
    hub.api("POST", "/users/uma")
    blockers = [pod(f"job-{i}", node="gpu-1", gpus=1, namespace="batch") for i in range(2)]
    for blocker in blockers:
        k8s.put("v1/pods", "batch", blocker)
    try:
        began = time.monotonic()
        r = hub.api("POST", "/users/uma/server", json={"tier": "gpu-1"})
        took = time.monotonic() - began
        # it fails within the hub's slow_spawn_timeout (10 s), so the POST itself answers: 503 (the
        # cluster is full now) with the scheduler's message
        assert r.status_code == 503, r.text
        message = r.json()["message"]
        assert "0/2 nodes are available" in message and "Insufficient nvidia.com/gpu" in message, message
        assert "1 node(s) didn't match Pod's node affinity/selector" in message
        assert "cannot add nodes" in message
        assert took < START_TIMEOUT / 4, f"took {took:.0f}s"
        (failed,) = progress(hub, "uma")  # and the spawn page's event stream says the same
        assert failed["failed"] and message in failed["message"], failed
        assert user_servers(hub, "uma") == {}
        wait_until(lambda: not server_pods(k8s), 15, "the unschedulable pod deleted")
        assert singleuser("uma") == []
    finally:
        for blocker in blockers:
            k8s.delete("v1/pods", "batch", blocker["metadata"]["name"])
        catalog.write_text(original)


def test_unreachable_cluster_keeps_the_hub_and_the_local_site(tmp_path):
    (tmp_path / "kmock").mkdir()
    with KMock(tmp_path / "kmock") as k8s:
        seed(k8s)
        catalog = tmp_path / "catalog.yaml"
        write_catalog(catalog, k8s.kubeconfig)
        hub = Hub(tmp_path / "hub", catalog=catalog, extra_config=hub_config(free_port())).start()
        try:
            s = hub.login("ursula")
            assert f'<li data-site="{SITE}">' in s.get(f"{hub.url}/hub/spawn", timeout=30).text
            k8s.stop()  # the API server goes away

            began = time.monotonic()
            form = s.get(f"{hub.url}/hub/spawn", timeout=60)
            assert form.status_code == 200
            assert time.monotonic() - began < 15
            text = form.text
            row = text.split(f'<li data-site="{SITE}" class="jh-unreachable">', 1)[1].split("</li>", 1)[0]
            # a user reads one short line; the API server's error is for admins and the log
            assert "unavailable right now" in row and f"127.0.0.1:{k8s.port}" not in row, row
            assert f"127.0.0.1:{k8s.port}" in hub.log()
            gpu_row = text.split('data-tier="gpu-1"', 1)[1].split("</label>", 1)[0]
            assert "Unavailable:" in gpu_row and "disabled" in gpu_row

            hub.api("POST", "/users/ursula")
            r = hub.api("POST", "/users/ursula/server", json={"tier": "small"})
            assert r.status_code in (201, 202), r.text
            assert progress(hub, "ursula")[-1].get("ready")
            info = hub.get("/user/ursula/jupyter-hybrid/info").json()
            assert info["site"] == "local"
            r = hub.api("POST", "/users/ursula/servers/gpu", json={"tier": "gpu-1"})
            assert (
                r.status_code == 400 and "Cloud GPU cluster is unavailable right now" in r.json()["message"]
            )
            stop(hub, "ursula")
            assert hub.proc.poll() is None and requests.get(f"{hub.url}/hub/api/", timeout=10).ok
        finally:
            assert hub.stop() == 0, hub.log()
