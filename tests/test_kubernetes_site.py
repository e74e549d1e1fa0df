"""KubernetesSite against kmock, a real HTTP Kubernetes API emulator: capacity, server lifecycle
through KubeSpawner, 409 conflict, unschedulable fail-fast, unreachable and vanishing clusters."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from jupyter_hybrid.catalog import parse_catalog
from jupyter_hybrid.sites import CapacityError
from jupyter_hybrid.sites.kubernetes import KubernetesSite
from jupyter_hybrid.sites.kubernetes.spawner import UnschedulableError
from jupyter_hybrid.spawner.hybrid import HybridSpawner

from .kmocktools import KMock
from .kubefixtures import node, pod

NS = "hub"
pytestmark = pytest.mark.filterwarnings("ignore:read_binary is deprecated:DeprecationWarning")


def catalog(kubeconfig: str, **site):
    return parse_catalog(
        {
            "sites": {
                "onprem": {
                    "kind": "kubernetes",
                    "kubeconfig": kubeconfig,
                    "namespace": NS,
                    "region": "eu-west",
                    "refresh_seconds": 0,
                    "gpu_models": {"A100": {"node_selector": {"pool": "a100"}}},
                    **site,
                }
            },
            "tiers": {
                "cpu": {"cpu": 2, "memory": "4G"},
                "a100": {"cpu": 4, "memory": "8G", "gpu": 1, "gpu_model": "A100"},
            },
            "environments": {"lab": {"image": "quay.io/jupyter/minimal-notebook:2024-07-08"}},
        }
    )


@pytest.fixture
def k8s(tmp_path):
    with KMock(tmp_path) as server:
        server.put("v1/nodes", None, node("cpu-1", cpu="8", memory="32Gi"))
        server.put("v1/nodes", None, node("gpu-1", cpu="16", memory="64Gi", gpus=2, labels={"pool": "a100"}))
        server.put("v1/pods", "other", pod("busy", node="gpu-1", cpu="4", gpus=1, namespace="other"))
        yield server


def make_site(cat, **spec):
    """The site ``onprem`` of ``cat``, with catalog keys such as request_timeout changed."""
    return KubernetesSite("onprem", cat.sites["onprem"].model_copy(update=spec))


class User(SimpleNamespace):
    """The few attributes of JupyterHub's User that spawners read."""


def hybrid_parent(name="alice"):
    user = User(name=name, id=7, url=f"/user/{name}/", groups=[], escaped_name=name)
    hub = SimpleNamespace(
        api_url="http://hub:8081/hub/api", public_host="", url="http://hub:8081/hub/", base_url="/hub/"
    )
    config = Config()
    config.KubeSpawner.start_timeout = 20
    config.KubeSpawner.k8s_api_request_retry_timeout = 10
    config.KubeSpawner.environment = {"FROM_HUB_CONFIG": "kept"}
    parent = HybridSpawner(user=user, hub=hub, config=config, api_token="token-x")
    parent.placement_reasons = ["onprem chosen (on-prem, region eu-west)"]
    return parent


def run_pod(k8s, name, ip="10.244.1.7", node="cpu-1"):
    """What the scheduler and kubelet do: bind, start, report ready."""
    k8s.patch_pod(
        NS,
        name,
        {
            "spec": {"nodeName": node},
            "status": {
                "phase": "Running",
                "podIP": ip,
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True"},
                ],
                "containerStatuses": [
                    {
                        "name": "notebook",
                        "ready": True,
                        "restartCount": 0,
                        "image": "quay.io/jupyter/minimal-notebook:2024-07-08",
                        "imageID": "quay.io/jupyter/minimal-notebook@sha256:0c7c",
                        "state": {"running": {"startedAt": "2024-07-09T10:00:00Z"}},
                    }
                ],
            },
        },
    )


async def wait_for(predicate, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_capacity_read_from_nodes_and_pods(k8s):
    cat = catalog(k8s.kubeconfig, prices={"a100": 2.0}, provision_seconds=120)
    site = make_site(cat)
    assert not site.state().reachable and site.state().error == "not read yet"

    async def main():
        state = await site.refresh()
        await site.close()
        return state

    state = asyncio.run(main())
    assert state.reachable and state.error is None
    assert state.cpu_total == 24 and state.cpu_free == 20
    assert state.gpus_total == {"A100": 2} and state.gpus_free == {"A100": 1}
    assert state.price("a100") == 2.0 and state.provision_seconds == 120 and state.region == "eu-west"


def test_server_lifecycle_create_pending_running_stop(k8s):
    cat = catalog(k8s.kubeconfig)
    site = make_site(cat)
    parent = hybrid_parent()

    async def main():
        await site.refresh()
        allocation = site.reserve("alice/", cat.tiers["a100"])
        assert allocation.gpu_count == 1
        assert site.state().gpus_free == {"A100": 0}  # held before its pod shows up
        with pytest.raises(CapacityError, match="no node of onprem"):
            site.reserve("bob/", cat.tiers["a100"])
        names = {"tier": "a100", "site": "onprem", "environment": "lab"}
        child = site.server_spawner(parent, cat.tiers["a100"], cat.environments["lab"], names, allocation)
        assert child.namespace == NS and child.image.startswith("quay.io/jupyter/minimal-notebook")
        looked_at = []  # the pods start() checked for "running"
        is_running = child.is_pod_running
        child.is_pod_running = lambda pod: looked_at.append(pod) or is_running(pod)
        start = asyncio.ensure_future(child.start())
        await wait_for(lambda: k8s.get("v1/pods", NS, child.pod_name) is not None)
        created = k8s.get("v1/pods", NS, child.pod_name)
        assert created["status"]["phase"] == "Pending"
        container = created["spec"]["containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert created["spec"]["nodeSelector"] == {"pool": "a100"}
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["JUPYTER_HYBRID_TIER"] == "a100" and env["FROM_HUB_CONFIG"] == "kept"
        assert env["JUPYTERHUB_API_TOKEN"] == "token-x"
        await wait_for(lambda: any(p is not None for p in looked_at))  # KubeSpawner saw it Pending
        assert {p["status"]["phase"] for p in looked_at if p is not None} == {"Pending"}
        assert not start.done()  # pending: still waiting
        assert await site.poll_server(child) is None
        run_pod(k8s, child.pod_name, node="gpu-1")
        url = await asyncio.wait_for(start, 15)
        assert url == "http://10.244.1.7:8888"
        await site.refresh()
        assert "alice/" not in site._charges  # the pod is counted now, the reservation is not
        assert site.state().gpus_free == {"A100": 0}
        assert await site.poll_server(child) is None
        state = child.get_state()
        await site.stop_server(child)
        assert k8s.get("v1/pods", NS, child.pod_name) is None
        site.release("alice/")
        # a hub restart: a child rebuilt from state only polls and stops
        again = site.server_spawner(parent, None, None, {}, allocation)
        again.load_state(state)
        assert await site.poll_server(again) == 1  # gone
        await site.close()

    asyncio.run(main())


def test_conflicting_pod_is_replaced(k8s):
    """409 on create: KubeSpawner deletes the stale pod and creates it again."""
    cat = catalog(k8s.kubeconfig)
    site = make_site(cat)
    parent = hybrid_parent("bob")

    async def main():
        await site.refresh()
        allocation = site.reserve("bob/", cat.tiers["cpu"])
        names = {"tier": "cpu", "site": "onprem", "environment": "lab"}
        child = site.server_spawner(parent, cat.tiers["cpu"], cat.environments["lab"], names, allocation)
        k8s.put(
            "v1/pods",
            NS,
            pod(child.pod_name, node="cpu-1", namespace=NS, metadata={"labels": {"stale": "yes"}}),
        )
        # kmock's watch does not replay from a resourceVersion as the API server does: a DELETED
        # between the reflector's list and its watch would be missed until the watch restarts.
        # Let the pod watch settle first, as it has on a hub that has been up a while.
        watches = k8s.watches("pods")
        await child._start_watching_pods()  # returns once listed
        await wait_for(lambda: k8s.watches("pods") > watches)  # and its watch is open
        start = asyncio.ensure_future(child.start())

        def recreated():
            now = k8s.get("v1/pods", NS, child.pod_name)
            return now is not None and "stale" not in (now["metadata"].get("labels") or {})

        await wait_for(recreated, 60)
        run_pod(k8s, child.pod_name, ip="10.244.1.9")
        assert await asyncio.wait_for(start, 15) == "http://10.244.1.9:8888"
        versions = k8s.history("v1/pods", NS, child.pod_name)
        assert None in versions  # the stale pod was deleted before the new one was created
        await site.stop_server(child, now=True)
        await site.close()

    asyncio.run(main())


def test_unschedulable_fails_fast_with_the_schedulers_message(k8s):
    cat = catalog(k8s.kubeconfig)
    site = make_site(cat)
    parent = hybrid_parent("carol")
    message = "0/3 nodes are available: 1 node(s) had untolerated taint, 2 Insufficient nvidia.com/gpu."

    async def main():
        await site.refresh()
        allocation = site.reserve("carol/", cat.tiers["a100"])
        names = {"tier": "a100", "site": "onprem", "environment": "lab"}
        child = site.server_spawner(parent, cat.tiers["a100"], cat.environments["lab"], names, allocation)
        child.unschedulable_check_seconds = 0.1
        began = time.monotonic()
        start = asyncio.ensure_future(child.start())
        await wait_for(lambda: k8s.get("v1/pods", NS, child.pod_name) is not None)
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        k8s.patch_pod(NS, child.pod_name, {"status": {"conditions": [cond]}})
        with pytest.raises(UnschedulableError) as raised:
            await asyncio.wait_for(start, 15)
        assert message in str(raised.value) and "cannot add nodes" in str(raised.value)
        assert time.monotonic() - began < child.start_timeout  # not the time-out
        assert k8s.get("v1/pods", NS, child.pod_name) is None  # stopped through KubeSpawner
        await site.close()

    asyncio.run(main())


def test_unreachable_api_site_unavailable_and_reserve_refused(tmp_path, caplog):
    port = KMock.write_kubeconfig  # a port nobody listens on: take one from a closed server
    with KMock(tmp_path) as gone:
        closed = gone.port
    kubeconfig = port(str(tmp_path / "dead"), closed)
    cat = catalog(kubeconfig)
    site = make_site(cat, request_timeout=2.0)

    async def main():
        with caplog.at_level(logging.WARNING, logger="JupyterHub"):
            first = await site.refresh()
            second = await site.refresh()
        await site.close()
        return first, second

    first, second = asyncio.run(main())
    assert not first.reachable and "127.0.0.1" in first.error
    assert second.error == first.error
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1  # logged once
    with pytest.raises(CapacityError, match="unreachable"):
        site.reserve("alice/", cat.tiers["cpu"])


def test_bad_kubeconfig_context_is_an_unreachable_site(k8s):
    cat = catalog(k8s.kubeconfig, context="no-such-context")
    site = make_site(cat)

    async def main():
        state = await site.refresh()
        await site.close()
        return state

    state = asyncio.run(main())
    assert not state.reachable
    assert "no-such-context" in state.error and "sites.onprem.kubeconfig/context" in state.error


def test_site_vanishing_while_a_server_runs(k8s, caplog):
    cat = catalog(k8s.kubeconfig)
    site = make_site(cat, request_timeout=2.0, unreachable_grace_seconds=0.5)
    parent = hybrid_parent("dave")

    async def main():
        await site.refresh()
        allocation = site.reserve("dave/", cat.tiers["cpu"])
        names = {"tier": "cpu", "site": "onprem", "environment": "lab"}
        child = site.server_spawner(parent, cat.tiers["cpu"], cat.environments["lab"], names, allocation)
        start = asyncio.ensure_future(child.start())
        await wait_for(lambda: k8s.get("v1/pods", NS, child.pod_name) is not None)
        run_pod(k8s, child.pod_name)
        await asyncio.wait_for(start, 15)
        assert await site.poll_server(child) is None
        assert site.server_status(child) == ("running", None)
        k8s.stop()  # the cluster goes away
        assert await site.poll_server(child) is None  # within the grace: may come back
        status, why = site.server_status(child)
        assert status == "unknown" and why.startswith("site unreachable: ")
        await wait_for(lambda: site._gone_for_good() is not None)  # the grace has run out
        with caplog.at_level(logging.WARNING, logger="JupyterHub"):
            assert await site.poll_server(child) == 1
            await site.stop_server(child)  # returns: nothing to delete on a cluster that is gone
        assert any("unreachable for" in r.getMessage() for r in caplog.records)
        await site.close()

    asyncio.run(main())


async def running_server(site, k8s, cat, user):
    """A server whose pod runs, started after the site's last read (so a poll asks for its pod)."""
    await site.refresh()
    allocation = site.reserve(f"{user}/", cat.tiers["cpu"])
    names = {"tier": "cpu", "site": "onprem", "environment": "lab"}
    child = site.server_spawner(
        hybrid_parent(user), cat.tiers["cpu"], cat.environments["lab"], names, allocation
    )
    start = asyncio.ensure_future(child.start())
    await wait_for(lambda: k8s.get("v1/pods", NS, child.pod_name) is not None)
    run_pod(k8s, child.pod_name)
    await asyncio.wait_for(start, 15)
    return child


def test_poll_keeps_unknown_apart_from_running_and_logs_once(k8s, caplog):
    """An API error reading the server's pod: poll keeps it (None, JupyterHub's "running") but
    the site says "unknown" and why, logged once; once the API answers it is running again."""
    cat = catalog(k8s.kubeconfig)
    site = make_site(cat, refresh_seconds=3600, unreachable_grace_seconds=300)

    async def main():
        child = await running_server(site, k8s, cat, "erin")
        assert site.server_status(child) == ("running", None)
        failure = k8s.fail(f"get /api/v1/namespaces/{NS}/pods/{child.pod_name}", 500)
        with caplog.at_level(logging.INFO, logger="JupyterHub"):
            for _ in range(5):
                assert await site.poll_server(child) is None
                status, why = site.server_status(child)
                assert status == "unknown"
                assert (
                    why
                    == "reading its pod failed: HTTP 500 Internal Server Error: etcdserver: request timed out"
                )
            failure.heal()
            await wait_for(lambda: k8s.get("v1/pods", NS, child.pod_name) is not None)
            assert await site.poll_server(child) is None
        assert site.server_status(child) == ("running", None)
        await site.stop_server(child, now=True)
        await site.close()

    asyncio.run(main())
    unknown = [r for r in caplog.records if "state unknown" in r.getMessage()]
    assert len(unknown) == 1 and unknown[0].levelname == "WARNING"
    assert "kept as running for up to 300s" in unknown[0].getMessage()
    assert any("state known again" in r.getMessage() for r in caplog.records)


def test_poll_reports_stopped_once_unknown_for_the_grace(k8s, caplog):
    cat = catalog(k8s.kubeconfig)
    site = make_site(cat, refresh_seconds=3600, unreachable_grace_seconds=0.3)

    async def main():
        child = await running_server(site, k8s, cat, "finn")
        k8s.fail(f"get /api/v1/namespaces/{NS}/pods/{child.pod_name}", 503, "the server is shutting down")
        assert await site.poll_server(child) is None
        first = site._unknown[f"{NS}/{child.pod_name}"].since
        await wait_for(lambda: time.monotonic() - first >= 0.3)  # the grace runs out
        with caplog.at_level(logging.WARNING, logger="JupyterHub"):
            assert await site.poll_server(child) == 1
        assert site.server_status(child) == ("running", None)  # nothing unknown is kept for it
        await site.close()

    asyncio.run(main())
    (stopped,) = [r.getMessage() for r in caplog.records if "reported stopped" in r.getMessage()]
    assert "state unknown for 0s" in stopped or "state unknown for 1s" in stopped
    assert stopped.endswith(
        "reading its pod failed: HTTP 503 Service Unavailable: the server is shutting down"
    )


def test_growing_site_accepts_when_full_and_waits_before_failing(k8s):
    """With provision_seconds the autoscaler gets that long; without, a full site refuses."""
    full = catalog(k8s.kubeconfig)
    growing = catalog(k8s.kubeconfig, provision_seconds=1)
    message = "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."

    async def main():
        fixed = make_site(full)
        await fixed.refresh()
        fixed.reserve("x/", full.tiers["a100"])  # the last free A100
        with pytest.raises(CapacityError, match="cannot add nodes"):
            fixed.reserve("y/", full.tiers["a100"])
        await fixed.close()

        site = make_site(growing)
        await site.refresh()
        site.reserve("x/", growing.tiers["a100"])
        allocation = site.reserve("frank/", growing.tiers["a100"])  # a node will be added
        assert allocation.gpu_count == 1
        names = {"tier": "a100", "site": "onprem", "environment": "lab"}
        child = site.server_spawner(
            hybrid_parent("frank"), growing.tiers["a100"], growing.environments["lab"], names, allocation
        )
        child.unschedulable_check_seconds = 0.1
        began = time.monotonic()
        start = asyncio.ensure_future(child.start())
        await wait_for(lambda: k8s.get("v1/pods", NS, child.pod_name) is not None)
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        k8s.patch_pod(NS, child.pod_name, {"status": {"conditions": [cond]}})
        with pytest.raises(
            UnschedulableError, match=r"no node freed or added in 1s.*Insufficient nvidia.com/gpu"
        ):
            await asyncio.wait_for(start, 15)
        assert time.monotonic() - began >= 1
        await site.close()

    asyncio.run(main())


def test_missing_kubeconfig_file_says_so_and_which_key_to_set(tmp_path, monkeypatch):
    """Without ~/.kube/config the loader says "Invalid kube-config file. Expected key contexts":
    the site's error names the missing file and the catalog keys that fix it."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    cat = parse_catalog(
        {
            "sites": {"onprem": {"kind": "kubernetes", "context": "onprem", "refresh_seconds": 0}},
            "tiers": {"cpu": {"cpu": 1, "memory": "1G"}},
        }
    )
    elsewhere = str(tmp_path / "nowhere.yaml")

    async def main():
        states = []
        for site in (make_site(cat), make_site(cat, kubeconfig=elsewhere)):
            states.append(await site.refresh())
            await site.close()
        return states

    default, named = asyncio.run(main())
    assert not default.reachable and "Expected key" not in default.error
    assert default.error == (
        "site onprem: kubeconfig file ~/.kube/config does not exist; "
        "set `kubeconfig:` or `context:` or `in_cluster: true` on site onprem"
    )
    assert f"kubeconfig file {elsewhere} does not exist" in named.error
