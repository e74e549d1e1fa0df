"""A real hub on a kmock Kubernetes site, shared by the hub tests and the browser tests: the catalog
(the local site plus a cloud GPU cluster), the seeded nodes, the hub config the kubelet emulator
needs, and helpers that read the hub's REST API and progress stream."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import requests
import yaml

from .hubtools import TOKEN, Hub
from .kmocktools import KMock
from .kubefixtures import node
from .kubelet import Kubelet

NS = "jhub"
SITE = "cloud"
GPU_PRODUCT = "NVIDIA-A100-SXM4-80GB"
#: the hub's Spawner.start_timeout here; unschedulable pods must fail well before it
START_TIMEOUT = 120


def catalog_dict(kubeconfig: str, **site) -> dict:
    """The local site and a cloud GPU cluster (kmock) in eu-west-1; ``site``: keys of the cloud site."""
    return {
        "sites": {
            "local": {"kind": "local", "display_name": "This machine", "region": "local"},
            SITE: {
                "kind": "kubernetes",
                "display_name": "Cloud GPU cluster",
                "kubeconfig": kubeconfig,
                "namespace": NS,
                "region": "eu-west-1",
                "on_prem": False,
                "cost_per_hour": 0.25,
                "prices": {"gpu-1": 3.5},
                "refresh_seconds": 0,
                "gpu_models": {"A100": {"node_selector": {"pool": "a100"}}},
                **site,
            },
        },
        "tiers": {
            "small": {"cpu": 1, "memory": "1G", "default": True},
            "gpu-1": {"display_name": "1 GPU", "cpu": 1, "memory": "2G", "gpu": 1, "gpu_model": "A100"},
        },
        "environments": {
            # one environment for both kinds of site: the image on Kubernetes, this venv locally
            "default": {
                "default": True,
                "image": "quay.io/jupyter/minimal-notebook:2024-07-08",
                "python": sys.prefix,
            }
        },
        "datasets": {
            "claims": {"regions": ["eu-*"], "locations": {SITE: {"pvc": "claims-data"}}},
        },
        "quotas": {"per_user": {"gpus": 1}},
    }


def write_catalog(path: Path, kubeconfig: str, **site) -> None:
    path.write_text(yaml.safe_dump(catalog_dict(kubeconfig, **site)))


def seed(k8s: KMock) -> None:
    k8s.put("v1/nodes", None, node("cpu-1", cpu="8", memory="32Gi"))
    k8s.put(
        "v1/nodes",
        None,
        node("gpu-1", cpu="16", memory="64Gi", gpus=2, product=GPU_PRODUCT, labels={"pool": "a100"}),
    )


def hub_config(port: int) -> str:
    return "\n".join(
        [
            "c.JupyterHub.allow_named_servers = True",
            # as zero-to-jupyterhub does: KubeSpawner's default (None) would use the image's CMD
            "c.KubeSpawner.cmd = ['jupyterhub-singleuser']",
            # the kubelet emulator runs every pod at 127.0.0.1: the container port must be free here
            f"c.KubeSpawner.port = {port}",
            "c.KubeSpawner.k8s_api_request_retry_timeout = 10",
            f"c.Spawner.start_timeout = {START_TIMEOUT}",
            "c.Spawner.poll_interval = 1",  # seconds: notice a dead server quickly
        ]
    )


@contextlib.contextmanager
def cluster(folder: Path, kubelet_class: type[Kubelet] = Kubelet) -> Iterator[tuple[KMock, Kubelet]]:
    """A seeded kmock API server and a kubelet emulator running the pods of namespace NS."""
    with KMock(folder) as k8s:
        seed(k8s)
        with kubelet_class(f"http://127.0.0.1:{k8s.port}", NS, folder / "kubelet") as kubelet:
            yield k8s, kubelet


# --- helpers ---------------------------------------------------------------------------------------


def singleuser(user: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any("jupyterhub-singleuser" in part for part in p.info["cmdline"] or []):
                if p.environ().get("JUPYTERHUB_USER") == user:
                    found.append(p)
        except psutil.Error:
            continue
    return found


def progress(hub: Hub, user: str, server: str = "", timeout: float = 60) -> list[dict]:
    """The spawn's progress events, read from the hub's event stream until it ends."""
    path = f"/users/{user}/servers/{server}/progress" if server else f"/users/{user}/server/progress"
    events = []
    headers = {"Authorization": f"token {TOKEN}"}
    with requests.get(f"{hub.url}/hub/api{path}", headers=headers, stream=True, timeout=timeout) as r:
        if r.status_code != 200:
            return [{"status": r.status_code, "message": r.text}]
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("failed") or events[-1].get("ready"):
                    break
    return events


def spawn_watching(hub: Hub, user: str, options: dict) -> tuple[requests.Response, list[dict]]:
    """POST the spawn and read its progress stream while it runs (the POST itself waits up to the
    hub's slow_spawn_timeout, 10 s, so a quick spawn would otherwise end before anyone listens)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        posted = pool.submit(hub.api, "POST", f"/users/{user}/server", json=options)
        events: list[dict] = []
        while not posted.done():
            events = progress(hub, user)
            if events and "status" not in events[0]:
                break  # the stream of this spawn (a 400 means: not pending yet)
            time.sleep(0.05)
        return posted.result(), events


def server_pods(k8s: KMock) -> list[dict]:
    return k8s.list("v1/pods", NS)


def wait_until(predicate, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in {timeout}s")


def user_servers(hub: Hub, user: str) -> dict:
    return hub.api("GET", f"/users/{user}").json()["servers"]


def stop(hub: Hub, user: str, server: str = "") -> None:
    path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
    assert hub.api("DELETE", path).status_code in (202, 204)
    wait_until(lambda: server not in user_servers(hub, user), 60, f"{user}/{server} stopped")
