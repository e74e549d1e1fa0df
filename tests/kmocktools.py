"""kmock's Kubernetes API emulator on a real port, in a background thread, for plain pytest tests.

kmock's pytest fixture needs pytest-asyncio (which clashes with pytest-jupyter), so the server runs
in its own thread and event loop; tests talk to it over HTTP like a hub talks to a cluster, through
a kubeconfig written next to it.

``ApiServer`` adds what a real API server does on write and kmock's emulator leaves out (the
emulator stores bodies as sent): ``metadata.uid``, ``resourceVersion``, ``creationTimestamp`` and
``namespace`` on create, a new ``resourceVersion`` on every update, and ``status.phase: Pending`` for
a new pod (KubeSpawner's reflectors and ``start()`` read these); and it reads ``watch=True`` (as
kubernetes_asyncio sends it) as a watch, as the API server does.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import threading
import urllib.request
import uuid
from pathlib import Path

import aiohttp.test_utils
import aiohttp.web_runner
import aiohttp.web_server
import kmock
from kmock._internal import enums

_versions = itertools.count(1000)


class ApiServer(kmock.KubernetesEmulator):
    async def __call__(self, raw_request):
        # the API server reads booleans as Go does ("True", "1", ...); kmock knows only "true"
        if raw_request.query.get("watch", "").lower() in ("true", "1", "t"):
            raw_request = raw_request.clone(rel_url=raw_request.rel_url.update_query(watch="true"))
        return await super().__call__(raw_request)

    async def _handle(self, request):
        data = request.data if isinstance(request.data, dict) else None
        if request.resource is not None and data is not None:
            meta = data.setdefault("metadata", {})
            if request.action == enums.action.CREATE:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", datetime.datetime.now(datetime.UTC).isoformat())
                if request.namespace:
                    meta.setdefault("namespace", request.namespace)
                if request.resource.plural == "pods":
                    data.setdefault("status", {"phase": "Pending"})
            if request.action in (enums.action.CREATE, enums.action.UPDATE):
                meta["resourceVersion"] = str(next(_versions))
        return await super()._handle(request)


class _HttpServer(aiohttp.test_utils.RawTestServer):
    """Closes at once: open watch streams would hold the default 60 s shutdown."""

    async def _make_runner(self, debug=True, **kwargs):
        # shutdown_timeout belongs to the runner only: aiohttp's own RawTestServer would also pass it
        # to every request handler, which warns on each request and falls back
        server = aiohttp.web_server.Server(self._handler, loop=self._loop, debug=debug, **kwargs)
        return aiohttp.web_runner.ServerRunner(server, debug=debug, shutdown_timeout=0.2, **kwargs)


class KMock:
    """Start with ``with KMock(tmp_path) as k8s:``; ``k8s.kubeconfig`` points at it."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.kubeconfig = str(self.folder / "kubeconfig")
        self.loop = asyncio.new_event_loop()
        self.server: ApiServer | None = None
        self.port: int | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._stop: asyncio.Future | None = None
        self._task = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def _serve(self):
        self._stop = self.loop.create_future()
        async with ApiServer() as server, kmock.Server(server, server_cls=_HttpServer) as http:
            server.resources.load_bundled()
            self.server, self.port = server, http.port
            self._ready.set()
            await self._stop

    def __enter__(self) -> KMock:
        self._thread.start()
        self._task = asyncio.run_coroutine_threadsafe(self._serve(), self.loop)
        if not self._ready.wait(10):
            raise RuntimeError(f"kmock did not start: {self._task.exception(0)}")
        self.write_kubeconfig(self.kubeconfig, self.port)
        return self

    def stop(self) -> None:
        """Take the API server away (the port closes): the cluster vanished."""
        if self._stop is not None and not self._stop.done():
            self.loop.call_soon_threadsafe(self._stop.set_result, None)
            self._task.result(10)

    def __exit__(self, *exc) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @staticmethod
    def write_kubeconfig(path: str, port: int, context: str = "kmock") -> str:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": context, "user": {"token": "test-token"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
        Path(path).write_text(json.dumps(config))  # JSON is YAML
        return path

    # --- seeding and changing objects ------------------------------------------------------------

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def put(self, resource: str, namespace: str | None, obj: dict) -> None:
        """Add an object as if a controller had created it (watchers see ADDED)."""

        async def put():
            server = self.server
            name = obj["metadata"]["name"]
            async with server._lock:
                server.objects[resource, namespace, name] = obj
                raw = server.objects[resource, namespace, name].raw
                await server._buses[kmock.resource(resource)].put({"type": "ADDED", "object": raw})

        self._run(put())

    def _find(self, resource: str, namespace: str | None, name: str):
        plural = resource.rsplit("/", 1)[-1]
        for (res, ns, n), obj in self.server.objects.items():
            if res.plural == plural and ns == namespace and n == name:
                return obj
        return None

    def get(self, resource: str, namespace: str | None, name: str) -> dict | None:
        """The object as the API server holds it now, or None (never created, or deleted)."""

        async def get():
            obj = self._find(resource, namespace, name)
            return None if obj is None or obj.deleted else obj.raw

        return self._run(get())

    def history(self, resource: str, namespace: str | None, name: str) -> list:
        """Every version of the object; None marks a deletion."""

        async def history():
            obj = self._find(resource, namespace, name)
            return [] if obj is None else [None if v is None else dict(v) for v in obj.history]

        return self._run(history())

    def patch(self, path: str, body: dict) -> dict:
        """PATCH over HTTP, as the kubelet or scheduler would update a pod's status."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode(),
            method="PATCH",
            headers={"Content-Type": "application/merge-patch+json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def patch_pod(self, namespace: str, name: str, body: dict) -> dict:
        return self.patch(f"/api/v1/namespaces/{namespace}/pods/{name}", body)

    def list(self, resource: str, namespace: str | None) -> list[dict]:
        """The live objects of a kind in a namespace (None: cluster-scoped), as the server holds them."""
        plural = resource.rsplit("/", 1)[-1]

        async def items():
            return [
                obj.raw
                for (res, ns, _), obj in self.server.objects.items()
                if res.plural == plural and ns == namespace and not obj.deleted
            ]

        return self._run(items())

    def delete(self, resource: str, namespace: str | None, name: str) -> None:
        """DELETE over HTTP (a controller removing an object; watchers see DELETED)."""
        group = "api/v1" if resource.startswith("v1/") else f"apis/{resource.rsplit('/', 1)[0]}"
        where = f"/namespaces/{namespace}" if namespace else ""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{group}{where}/{resource.rsplit('/', 1)[-1]}/{name}",
            method="DELETE",
        )
        urllib.request.urlopen(request, timeout=10).close()

    # --- what clients asked ----------------------------------------------------------------------

    def watches(self, plural: str) -> int:
        """How many watch requests for ``plural`` (e.g. "pods") have arrived: a client's watch is
        open once this grows (wait for it rather than sleeping)."""

        async def count():
            return sum(
                1
                for r in self.server
                if r.params.get("watch") == "true" and r.url.path.rstrip("/").endswith(f"/{plural}")
            )

        return self._run(count())

    # --- injected failures -----------------------------------------------------------------------

    def fail(self, request: str, status: int = 500, message: str = "etcdserver: request timed out"):
        """Answer ``request`` (kmock's criteria, e.g. "get /api/v1/namespaces/hub/pods/NAME") with
        this HTTP status and a Kubernetes Status body until ``heal()`` is called on the result."""

        async def add():
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message}
            return self.server[request] << status << {**body, "code": status}

        reaction = self._run(add())

        class Failure:
            @staticmethod
            def heal() -> None:
                self.loop.call_soon_threadsafe(reaction._disabled.set)  # kmock's own switch

        return Failure()
