"""A hub restart with a GPU server running on the Kubernetes site (kmock + the kubelet emulator): the
hub stops with ``cleanup_servers = False``, comes back on the same database and must find the pod's
server, count its GPU against the user's quota again, and still be able to stop it."""

from __future__ import annotations

import psutil
import pytest

from . import kubehub
from .hubtools import Hub, free_port
from .kubehub import (
    NS,
    hub_config,
    progress,
    server_pods,
    singleuser,
    user_servers,
    wait_until,
    write_catalog,
)

pytestmark = [
    pytest.mark.hub,
    pytest.mark.filterwarnings("ignore:read_binary is deprecated:DeprecationWarning"),
]


def test_hub_restart_keeps_the_kubernetes_gpu_server_its_quota_and_can_stop_it(tmp_path):
    (tmp_path / "kmock").mkdir()
    with kubehub.cluster(tmp_path / "kmock") as (k8s, kubelet):
        catalog = tmp_path / "catalog.yaml"
        write_catalog(catalog, k8s.kubeconfig)
        config = hub_config(free_port()) + "\nc.JupyterHub.cleanup_servers = False\n"
        hub = Hub(tmp_path / "hub", catalog=catalog, extra_config=config).start()
        try:
            hub.api("POST", "/users/rita")
            r = hub.api("POST", "/users/rita/server", json={"tier": "gpu-1"})
            assert r.status_code in (201, 202), r.text
            assert progress(hub, "rita")[-1].get("ready")
            (manifest,) = server_pods(k8s)
            uid = manifest["metadata"]["uid"]
            (proc,) = singleuser("rita")

            assert hub.stop() == 0, hub.log()
            assert proc.is_running(), "the server outlives the hub when cleanup_servers is off"
            (kept,) = server_pods(k8s)
            assert kept["metadata"]["uid"] == uid, "the pod was not replaced"

            hub.start()
            server = hub.wait_ready("rita")
            assert server["user_options"]["tier"] == "gpu-1"
            # the proxy (a new one) routes to the pod again
            status = hub.get("/user/rita/api/status")
            assert status.status_code == 200, status.text
            info = hub.get("/user/rita/jupyter-hybrid/info").json()
            assert (info["site"], info["tier"]) == ("cloud", "gpu-1")

            # the restored allocation counts against the quota (per_user gpus: 1)
            r = hub.api("POST", "/users/rita/servers/second", json={"tier": "gpu-1"})
            assert r.status_code == 400, r.text
            assert "quota: you use 1 of 1 GPUs" in r.json()["message"]
            assert "second" not in user_servers(hub, "rita")
            assert len(server_pods(k8s)) == 1

            # the restored child spawner deletes the very pod, which ends the process
            assert hub.api("DELETE", "/users/rita/server").status_code in (202, 204)
            hub.wait_stopped("rita")
            wait_until(lambda: not server_pods(k8s), 15, "pod deleted")
            assert psutil.wait_procs([proc], timeout=15)[1] == [], "the server process outlived its pod"
            wait_until(lambda: "jupyter-rita" not in kubelet.containers, 10, "the kubelet forgot the pod")
            assert k8s.get("v1/pods", NS, "jupyter-rita") is None

            # and the GPU is free for the user again
            r = hub.api("POST", "/users/rita/server", json={"tier": "gpu-1"})
            assert r.status_code in (201, 202), r.text
            assert progress(hub, "rita")[-1].get("ready")
            assert hub.api("DELETE", "/users/rita/server").status_code in (202, 204)
            hub.wait_stopped("rita")
            wait_until(lambda: not server_pods(k8s), 15, "pod deleted")
        finally:
            hub.stop()
