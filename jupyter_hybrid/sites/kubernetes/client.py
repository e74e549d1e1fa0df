"""One Kubernetes API connection per site, and KubeSpawner bound to it.

KubeSpawner 7.1 talks to ONE cluster: ``KubeSpawner.__init__`` calls
``kubespawner.clients.load_config()`` (loads the process-wide default Configuration from in-cluster
config or ``~/.kube/config``, and fails when neither exists) and ``shared_client("CoreV1Api")``
(one client per event loop, built from that default); its pod/event reflectors are shared in the
class attribute ``KubeSpawner.reflectors`` keyed by (kind, namespace) and get their client the same
way (``kubespawner.reflector.shared_client``). Two sites with the same namespace would share one
reflector, and every site would talk to the default cluster.

What we do instead, without touching pod management:

- ``SiteClient`` loads the site's own ``Configuration`` (``kubeconfig`` + ``context``, or
  ``in_cluster``) once, and builds one ``ApiClient`` per event loop from it (aiohttp sessions are
  bound to a loop); our own reads pass ``KubernetesSite.request_timeout`` per request.
- ``spawner_class(site, client)`` makes a KubeSpawner subclass per site, created once, with its OWN
  ``reflectors`` dict and the site's client in ``site_client``.
- The names ``load_config`` and ``shared_client`` that kubespawner's ``spawner`` and ``reflector``
  modules looked up are wrapped once (``_install``): while a site's spawner runs ``__init__`` or
  ``_start_reflector`` (a ContextVar says which site), ``load_config`` does nothing and
  ``shared_client(kind)`` returns that site's API object. Outside those calls the wrappers fall
  through to kubespawner's own functions, so a plain KubeSpawner elsewhere in the hub is unchanged.

KubeSpawner internals relied on (checked against 7.1): the module-level names ``load_config`` and
``shared_client`` in ``kubespawner.spawner`` / ``kubespawner.reflector``, the class attribute
``reflectors``, ``_start_reflector``, ``pod_reflector``, ``_start`` and ``pod_name``/``namespace``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
from concurrent.futures import ThreadPoolExecutor

import kubernetes_asyncio.client
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient, Configuration

_SITE: contextvars.ContextVar[SiteClient | None] = contextvars.ContextVar("jupyter_hybrid_site", default=None)


class SiteConfigError(RuntimeError):
    """The site's kubeconfig/context cannot be loaded; the message names the site and the fix."""


class SiteClient:
    """The API connection of one site (lazy: nothing is read until first used)."""

    def __init__(self, name: str, spec):
        self.name, self.spec = name, spec
        self._configuration: Configuration | None = None
        self._clients: dict[asyncio.AbstractEventLoop, ApiClient] = {}

    @property
    def key(self) -> tuple:
        return (self.spec.kubeconfig, self.spec.context, self.spec.in_cluster)

    def configuration(self) -> Configuration:
        if self._configuration is None:
            self._configuration = self._load()
        return self._configuration

    def _missing_kubeconfig(self) -> str | None:
        """Why no kubeconfig file can be read, or None. The loader only says "Invalid kube-config
        file. Expected key contexts" when ~/.kube/config does not exist."""
        if self.spec.in_cluster:
            return None
        if self.spec.kubeconfig:
            named = [self.spec.kubeconfig]
        else:
            named = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p] or ["~/.kube/config"]
        if any(os.path.exists(os.path.expanduser(p)) for p in named):
            return None
        return (
            f"site {self.name}: kubeconfig file {os.pathsep.join(named)} does not exist; "
            f"set `kubeconfig:` or `context:` or `in_cluster: true` on site {self.name}"
        )

    def _load(self) -> Configuration:
        conf = type.__call__(Configuration)  # not a copy of the process-wide default
        missing = self._missing_kubeconfig()
        if missing:
            raise SiteConfigError(missing)
        try:
            if self.spec.in_cluster:
                kube_config.load_incluster_config(client_configuration=conf)
            else:

                def load():
                    return asyncio.run(
                        kube_config.load_kube_config(
                            config_file=self.spec.kubeconfig,
                            context=self.spec.context,
                            client_configuration=conf,
                            persist_config=False,
                        )
                    )

                # the loader is async (exec plugins); KubeSpawner.__init__, where we need it, is not
                with ThreadPoolExecutor(1) as pool:
                    pool.submit(load).result()
        except Exception as e:
            where = (
                "in-cluster config (is the hub running in a pod with a service account?)"
                if self.spec.in_cluster
                else f"kubeconfig {self.spec.kubeconfig or '$KUBECONFIG or ~/.kube/config'}"
                + (f", context {self.spec.context!r}" if self.spec.context else "")
            )
            raise SiteConfigError(
                f"site {self.name}: cannot load {where}: {e}; fix sites.{self.name}.kubeconfig/context"
            ) from None
        return conf

    def api_client(self) -> ApiClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for old in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[old]
            client = self._clients[loop] = ApiClient(self.configuration())
        return client

    def api(self, kind: str = "CoreV1Api"):
        return getattr(kubernetes_asyncio.client, kind)(self.api_client())

    async def close(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()


@contextlib.contextmanager
def using(client: SiteClient):
    token = _SITE.set(client)
    try:
        yield
    finally:
        _SITE.reset(token)


_installed = False


def install() -> None:
    """Wrap kubespawner's load_config/shared_client once (see the module docstring)."""
    global _installed
    if _installed:
        return
    from kubespawner import reflector as ks_reflector
    from kubespawner import spawner as ks_spawner

    original_load, original_shared = ks_spawner.load_config, ks_spawner.shared_client

    def load_config(*args, **kwargs):
        if _SITE.get() is None:
            return original_load(*args, **kwargs)
        return None

    def shared_client(kind, *args, **kwargs):
        site = _SITE.get()
        if site is None:
            return original_shared(kind, *args, **kwargs)
        return site.api(kind)

    ks_spawner.load_config = load_config
    ks_spawner.shared_client = shared_client
    ks_reflector.shared_client = shared_client
    _installed = True
