"""KubernetesSite: one cluster (a kubeconfig context, or in-cluster) and namespace.

Servers run through KubeSpawner (see ``spawner.py``/``client.py``); this class adds what one
KubeSpawner does not know: live capacity read from nodes and pods (``capacity.py``), cached for the
site's ``refresh_seconds``, count-based reservations between reads, and what to do when the
cluster goes away (the hub keeps running; a server there is reported stopped after a grace).

A server whose state cannot be read (the cluster or its pod read fails) is "unknown", not "running":
JupyterHub's poll contract has no such answer, so ``poll_server`` keeps saying None (keep it) for
``unreachable_grace_seconds``, logs the cause once, and ``server_status`` tells the admin and the
panels; after the grace it reports the server stopped, with the reason.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from dataclasses import dataclass, replace

from kubernetes_asyncio.client import ApiException

from ..base import Allocation, BaseSite, CapacityError, SiteState
from .capacity import PRODUCT_LABEL, NodeFree, fit_node, read_nodes, site_state, tier_keys
from .client import SiteClient
from .objects import apply_layers, server_layers
from .spawner import spawner_class

log = logging.getLogger("JupyterHub")  # the hub's logger, as spawners use


@dataclass
class _Charge:
    """A reservation not yet visible as a pod in the last read."""

    node: str | None
    cpu: float
    memory: int
    gpu_key: str | None
    gpus: int


@dataclass
class _Unknown:
    """Since when (time.monotonic) a server's state could not be read, and the last cause."""

    since: float
    reason: str


def error_text(e: BaseException, timeout: float) -> str:
    if isinstance(e, ApiException):
        try:
            message = json.loads(e.body or "{}").get("message") or ""
        except (ValueError, AttributeError):
            message = ""
        text = f"HTTP {e.status} {e.reason or ''}".strip() + (f": {message}" if message else "")
        if e.status in (401, 403):
            text += " (the hub's credentials need get/list on nodes and pods in all namespaces)"
        return text
    if isinstance(e, asyncio.TimeoutError):
        return f"no answer from the API server in {timeout:g}s"
    return str(e) or type(e).__name__


class KubernetesSite(BaseSite):
    kind = "kubernetes"

    @property
    def request_timeout(self) -> float:
        """Catalog ``request_timeout``: seconds one API read may take before the site is unreachable."""
        return self.spec.request_timeout

    @property
    def unreachable_grace_seconds(self) -> float:
        """Catalog ``unreachable_grace_seconds``: how long the API may stay unreachable before a
        server on this site is reported stopped."""
        return self.spec.unreachable_grace_seconds

    def __init__(self, name, spec):
        super().__init__(name, spec)
        self._client: SiteClient | None = None
        self._spawner_cls = None
        self._nodes: list[NodeFree] = []
        self._pods: set[str] = set()  # namespace/name of live pods at the last read
        self._error: str | None = "not read yet"
        self._read_at: float | None = None
        self._unreachable_since: float | None = None
        self._charges: dict[str, _Charge] = {}
        self._reading: asyncio.Task | None = None
        self._unknown: dict[str, _Unknown] = {}  # namespace/pod -> why its state is unknown now

    # --- connection ------------------------------------------------------------------------------

    @property
    def client(self) -> SiteClient:
        key = (self.spec.kubeconfig, self.spec.context, self.spec.in_cluster)
        if self._client is None or self._client.key != key:
            self._client = SiteClient(self.name, self.spec)
            self._spawner_cls = spawner_class(self.name, self._client)
        return self._client

    @property
    def spawner_class(self):
        _ = self.client
        return self._spawner_cls

    async def close(self) -> None:
        """Stop this site's reflectors and close its connection (tests, shutdown)."""
        if self._spawner_cls is not None:
            await self._spawner_cls._stop_all_reflectors()
        if self._client is not None:
            await self._client.close()

    # --- live state ------------------------------------------------------------------------------

    async def refresh(self) -> SiteState:
        fresh = self._read_at is not None and time.monotonic() - self._read_at < self.spec.refresh_seconds
        if not fresh:
            if self._reading is None or self._reading.done():
                self._reading = asyncio.ensure_future(self._read())
            await asyncio.shield(self._reading)
        return self.state()

    async def _read(self) -> None:
        began = time.monotonic()
        try:
            api = self.client.api("CoreV1Api")
            nodes = await self._list(api.list_node)
            pods = await self._list(
                api.list_pod_for_all_namespaces, field_selector="status.phase!=Succeeded,status.phase!=Failed"
            )
        except Exception as e:
            self._unreachable(error_text(e, self.request_timeout), began)
            return
        self._nodes, workloads = read_nodes(nodes, pods, self.spec.gpu_models)
        self._pods = {f"{p['metadata'].get('namespace')}/{p['metadata']['name']}" for p in pods}
        for key in workloads:
            self._charges.pop(key, None)  # the pod is counted now
        if self._error is not None and self._read_at is not None:
            log.info("Site %s is reachable again", self.name)
        self._error, self._unreachable_since, self._read_at = None, None, began

    async def _call(self, method, *args, **kwargs) -> bytes:
        """The body of one API call, raw (no model objects); ApiException for an error status
        (with ``_preload_content=False`` the client would hand back a 500's body as an answer)."""
        response = await asyncio.wait_for(
            method(*args, _preload_content=False, _request_timeout=self.request_timeout, **kwargs),
            self.request_timeout,
        )
        try:
            body = await response.read()
            if response.status >= 400:
                error = ApiException(status=response.status, reason=response.reason)
                error.body = body.decode(errors="replace")
                raise error
            return body
        finally:
            response.release()

    async def _list(self, method, **kwargs) -> list[dict]:
        return json.loads(await self._call(method, **kwargs))["items"]

    def _unreachable(self, error: str, began: float) -> None:
        if error != self._error:  # once per change, not once per form render
            log.warning("Site %s is unavailable: %s", self.name, error)
        if self._unreachable_since is None:
            self._unreachable_since = began
        self._error, self._read_at, self._nodes = error, began, []

    def _nodes_now(self) -> list[NodeFree]:
        """The last read, minus reservations made since."""
        nodes = {n.name: copy.deepcopy(n) for n in self._nodes}
        for charge in self._charges.values():
            node = nodes.get(charge.node or "")
            if node is None:
                continue
            node.cpu = max(0.0, node.cpu - charge.cpu)
            node.memory = max(0.0, node.memory - charge.memory)
            if charge.gpu_key:
                node.gpus[charge.gpu_key] = max(0, node.gpus.get(charge.gpu_key, 0) - charge.gpus)
        return list(nodes.values())

    def state(self) -> SiteState:
        state = site_state(self.name, self.spec, self._nodes_now())
        if self._error is not None:
            state = replace(state, reachable=False, error=self._error, gpu_reason=None)
        return state

    # --- reservations ----------------------------------------------------------------------------

    def environment_problem(self, env) -> str | None:
        if not env.image:
            return "it has no container image; set 'image' to run it on Kubernetes sites"
        return None

    def reserve(self, key: str, tier) -> Allocation:
        if self._error is not None:
            raise CapacityError(f"{self.name} is unreachable: {self._error}")
        nodes = self._nodes_now()
        fit = fit_node(nodes, tier)
        if fit is None and self.spec.provision_seconds is None:
            gpus = (
                f", {tier.gpu} {tier.mig or tier.gpu_model or ''} GPU(s)".replace("  ", " ")
                if tier.gpu
                else ""
            )
            raise CapacityError(
                f"needs {tier.cpu_request:g} cores, {tier.memory_request / 2**30:.3g} GiB{gpus} on one node; "
                f"no node of {self.name} has that free (and the site cannot add nodes)"
            )
        node, gpu_key = fit if fit else (None, None)
        if fit is None and tier.gpu:  # an added node will bring it
            known = {k for n in nodes for k in n.gpus_total}
            gpu_key = (tier_keys(sorted(known), tier.gpu_model, tier.mig) or [None])[0]
        self._charges[key] = _Charge(
            node.name if node else None, tier.cpu_request, tier.memory_request, gpu_key, tier.gpu
        )
        allocation = Allocation(cpu=tier.cpu_request, memory=tier.memory_request, gpu_count=tier.gpu)
        self.allocations[key] = allocation
        return allocation

    def release(self, key: str) -> None:
        super().release(key)
        self._charges.pop(key, None)

    # --- servers ---------------------------------------------------------------------------------

    def server_spawner(self, parent, tier, env, names, allocation, datasets=None, overrides=None):
        child = parent.make_child_spawner(self.spawner_class)
        child.namespace = self.spec.namespace
        child.dns_name = child.dns_name_template.format(namespace=child.namespace, name=child.pod_name)
        child.provision_seconds = self.spec.provision_seconds
        if tier is None:  # only to poll or stop a server that is already running
            return child
        products = sorted({n.labels[PRODUCT_LABEL] for n in self._nodes if PRODUCT_LABEL in n.labels})
        layers = server_layers(
            self.name,
            self.spec,
            tier,
            env,
            names,
            datasets=datasets,
            overrides=overrides,
            placement="; ".join(getattr(parent, "placement_reasons", [])),
            workload=getattr(parent, "_key", ""),
            gpu_products=products,
        )
        apply_layers(child, layers)
        return child

    def _gone_for_good(self) -> str | None:
        if self._unreachable_since is None:
            return None
        elapsed = time.monotonic() - self._unreachable_since
        if elapsed < self.unreachable_grace_seconds:
            return None
        return f"site {self.name} unreachable for {elapsed:.0f}s: {self._error}"

    @staticmethod
    def _server_key(child) -> str:
        return f"{child.namespace}/{child.pod_name}"

    def server_status(self, child) -> tuple[str, str | None]:
        """("unknown", why) while the last poll could not read the server's state, else
        ("running", None): what ``poll_server``'s None means this time (admin views, panels)."""
        unknown = self._unknown.get(self._server_key(child))
        return ("unknown", unknown.reason) if unknown else ("running", None)

    def _state_unknown(self, child, reason: str, since: float | None = None) -> int | None:
        """Poll's answer when the server's state cannot be read: None (JupyterHub keeps it) within
        ``unreachable_grace_seconds`` of the first failure, each new cause logged once; then 1
        (stopped), logged with the cause."""
        key, now = self._server_key(child), time.monotonic()
        unknown = self._unknown.get(key)
        if unknown is None or unknown.reason != reason:
            first = unknown.since if unknown else (since if since is not None else now)
            unknown = self._unknown[key] = _Unknown(first, reason)
            log.warning(
                "Server %s on %s: state unknown (%s); kept as running for up to %gs",
                key,
                self.name,
                reason,
                self.unreachable_grace_seconds,
            )
        elapsed = now - unknown.since
        if elapsed < self.unreachable_grace_seconds:
            return None
        del self._unknown[key]
        log.warning(
            "Server %s on %s reported stopped: state unknown for %.0fs: %s", key, self.name, elapsed, reason
        )
        return 1

    def _state_known(self, child) -> None:
        if self._unknown.pop(self._server_key(child), None) is not None:
            log.info("Server %s on %s: state known again", self._server_key(child), self.name)

    async def poll_server(self, child) -> int | None:
        state = await self.refresh()
        if not state.reachable:
            reason = self._gone_for_good()
            if reason:
                self._unknown.pop(self._server_key(child), None)
                log.warning("Server %s on %s reported stopped: %s", child.pod_name, self.name, reason)
                return 1
            # may come back: keep the server, as unknown
            return self._state_unknown(child, f"site unreachable: {self._error}", self._unreachable_since)
        if self._server_key(child) not in self._pods:
            # the last read may predate the pod: ask for it before calling it gone
            try:
                api = self.client.api("CoreV1Api")
                await self._call(api.read_namespaced_pod, child.pod_name, child.namespace)
            except Exception as e:
                if isinstance(e, ApiException) and e.status == 404:
                    self._unknown.pop(self._server_key(child), None)
                    log.warning("Server pod %s/%s on %s is gone", child.namespace, child.pod_name, self.name)
                    return 1
                # cannot tell now; the next poll asks again
                return self._state_unknown(
                    child, f"reading its pod failed: {error_text(e, self.request_timeout)}"
                )
        self._state_known(child)
        return await child.poll()

    async def stop_server(self, child, now: bool = False) -> None:
        await self.refresh()
        reason = self._gone_for_good()
        if reason:  # nothing to ask: the cluster is gone; let the user start elsewhere
            log.warning("Not deleting pod %s/%s: %s", child.namespace, child.pod_name, reason)
            return
        await child.stop(now=now)
