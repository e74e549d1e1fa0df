"""KubeSpawner, one subclass per site, that fails fast when its pod cannot be scheduled.

KubeSpawner waits ``start_timeout`` (default 300 s) for a pod the scheduler has already refused
(jupyterhub/kubespawner#795; cloud GPU quotas then surface as time-outs). While ``_start`` waits,
we look at the pod in KubeSpawner's own pod reflector: when its ``PodScheduled`` condition says
``Unschedulable`` and the site cannot grow (no ``provision_seconds``), or has had
``provision_seconds`` to add a node, the pod is stopped through KubeSpawner and the start fails
with the scheduler's message.
"""

from __future__ import annotations

import asyncio
import contextlib

from kubespawner import KubeSpawner
from traitlets import Float

from ..base import CapacityError
from .client import SiteClient, install, using


class UnschedulableError(CapacityError):
    """The scheduler refused the pod and the site will not get room for it in time.

    A CapacityError: HybridSpawner answers it with 503 and this message (the cluster is full now)."""


def unschedulable_message(pod: dict | None) -> str | None:
    """The scheduler's message if the pod is marked unschedulable, else None."""
    for c in ((pod or {}).get("status") or {}).get("conditions") or []:
        if (
            c.get("type") == "PodScheduled"
            and c.get("status") == "False"
            and c.get("reason") == "Unschedulable"
        ):
            return c.get("message") or "Unschedulable"
    return None


class SiteKubeSpawner(KubeSpawner):
    """KubeSpawner bound to one site's API server (see ``client.py``); subclassed per site."""

    site_client: SiteClient | None = None  # set on the per-site subclass
    site_name: str = ""
    reflectors: dict = {}  # replaced on the per-site subclass: reflectors are per cluster

    provision_seconds = Float(
        None,
        allow_none=True,
        help="""Seconds this site's autoscaler may take to add a node before an unschedulable pod
        fails the start. Set from the catalog site's `provision_seconds`; None: fail at once.""",
    )
    unschedulable_check_seconds = Float(
        1.0,
        config=True,
        help="How often (seconds) a starting pod is checked for an Unschedulable condition. Default 1.",
    )

    def __init__(self, *args, **kwargs):
        install()
        with using(self.site_client):
            super().__init__(*args, **kwargs)

    async def _start_reflector(self, *args, **kwargs):
        with using(self.site_client):
            return await super()._start_reflector(*args, **kwargs)

    async def _start(self):
        started = asyncio.ensure_future(super()._start())
        watcher = asyncio.ensure_future(self._wait_unschedulable())
        try:
            await asyncio.wait({started, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not started.done() and not watcher.done():  # we were cancelled
                started.cancel()
                watcher.cancel()
        if started.done():
            watcher.cancel()
            return started.result()
        message = watcher.result()
        started.cancel()
        with contextlib.suppress(BaseException):
            await started
        self.log.warning(
            "Pod %s/%s cannot be scheduled: %s; stopping it", self.namespace, self.pod_name, message
        )
        await self.stop(now=True)
        waited = (
            f"no node freed or added in {self.provision_seconds:g}s"
            if self.provision_seconds
            else "the site cannot add nodes"
        )
        raise UnschedulableError(f"site {self.site_name}: pod cannot be scheduled ({waited}): {message}")

    async def _wait_unschedulable(self) -> str:
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            await asyncio.sleep(self.unschedulable_check_seconds)
            reflector = self.pod_reflector
            pod = reflector.pods.get(f"{self.namespace}/{self.pod_name}") if reflector else None
            message = unschedulable_message(pod)
            if message and loop.time() - began >= (self.provision_seconds or 0):
                return message


def spawner_class(site_name: str, client: SiteClient) -> type[SiteKubeSpawner]:
    """A SiteKubeSpawner subclass with its own reflectors; ``c.KubeSpawner.*`` config applies."""
    install()
    ident = "".join(ch if ch.isalnum() else "_" for ch in site_name)
    return type(
        f"KubeSpawner_{ident}",
        (SiteKubeSpawner,),
        {"site_client": client, "site_name": site_name, "reflectors": {}, "__module__": __name__},
    )
