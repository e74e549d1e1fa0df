"""The control plane's hub host: the JupyterHub service ``jupyter-hybrid``.

Under a hub, job definitions, schedules and runs live here, not in the users' servers, so they go
on while a user's server is stopped. The service answers ``<JUPYTERHUB_SERVICE_PREFIX>api/<path>``
for every path of the control plane's REST API (``control/api.py``, README "Jobs REST API"); the
user servers forward their ``/jupyter-hybrid/jobs...`` requests here with their own token
(``server/forward.py``), and a user may call it with an API token of their own.

Who calls is what the hub says the token belongs to (JupyterHub's service auth, ``HubAuth``): the
token's user, their admin flag and their groups. A request without a token the hub vouches for is
401; a token without ``access:services!service=jupyter-hybrid``, or one of a service, is 403.
``/health`` (and ``<prefix>health``) answer without authentication, with no data, for readiness.

Only this process holds the store's URL (``$JUPYTER_HYBRID_DB_URL``, set in the service's own
environment by hub_config/jupyterhub_config.py); user servers and run processes never get it.

    jupyter hybrid control-plane --catalog hub_config/catalog.yaml --runs-dir /srv/hybrid/runs
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import sys
from pathlib import Path
from urllib.parse import urlparse

from jupyter_core.paths import jupyter_data_dir
from tornado import web
from tornado.httpserver import HTTPServer
from traitlets import Float, Int, TraitError, Unicode, default
from traitlets.config import Config, Configurable

from ..control.identity import Caller
from ..server.errors import MAX_BODY_BYTES

log = logging.getLogger("jupyter_hybrid.control_plane")

SERVICE_NAME = "jupyter-hybrid"
#: what a token needs to be answered here (users get it through their role, servers through
#: ``Spawner.server_token_scopes``; see ``hub_roles``)
ACCESS_SCOPE = f"access:services!service={SERVICE_NAME}"
#: what the hub sets for a managed service; an external one (e.g. under systemd) sets them itself
HUB_ENV = ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_API_URL", "JUPYTERHUB_SERVICE_URL")


class NotUnderHub(Exception):
    """The hub's service environment is missing: say what to set."""


def hub_roles(name: str = SERVICE_NAME) -> list[dict]:
    """Roles giving every user (and the tokens of their servers) access to the service: the
    default ``user`` role with ``access:services!service=<name>`` added."""
    return [{"name": "user", "scopes": ["self", f"access:services!service={name}"]}]


def server_token_scopes(name: str = SERVICE_NAME) -> list[str]:
    """``Spawner.server_token_scopes``: JupyterHub's default ``server`` role scopes, plus the
    service's access scope, so a user's server can forward to the control plane as its user."""
    return ["users:activity!user", "access:servers!server", f"access:services!service={name}"]


class ControlPlaneService(Configurable):
    """The control plane as a JupyterHub service: its store, runs, catalog and limits."""

    db_url = Unicode(
        help="""SQLAlchemy URL of the store (jobs, runs, snapshots, the allocation ledger).

        Default: $JUPYTER_HYBRID_DB_URL (hub_config sets it in the service's environment), else
        SQLite in <jupyter data dir>/jupyter_hybrid/hybrid.sqlite.
        """,
    ).tag(config=True)

    runs_dir = Unicode(
        help="""Folder where job runs keep their files (injected notebook, output, live log).

        Default: <jupyter data dir>/jupyter_hybrid/runs.
        """,
    ).tag(config=True)

    catalog_file = Unicode(
        help="""The catalog (tiers, environments, sites) jobs are published and run on.

        Default: $JUPYTER_HYBRID_CATALOG, else the embedded default catalog (this machine).
        """,
    ).tag(config=True)

    run_limit = Int(
        4,
        min=1,
        help="Job runs at once over all jobs and users. Default: 4 (each job has its own limit too).",
    ).tag(config=True)

    max_body_bytes = Int(
        MAX_BODY_BYTES,
        min=1024,
        help="""Largest request body (bytes) read, a published notebook included; larger is 413.

        Default: 1048576 (1 MiB), as the server extension's HybridServerApp.max_body_bytes.
        """,
    ).tag(config=True)

    auth_cache_seconds = Int(
        60,
        min=0,
        help="""Seconds the hub's answer about a token is reused before asking again (a revoked
        token or a changed admin flag or group is seen after at most this long). Default: 60.
        """,
    ).tag(config=True)

    stop_timeout = Float(
        10.0,
        min=0,
        help="""Seconds given to requests in flight when the service is stopped (SIGTERM/SIGINT).
        Runs in flight keep running: the next start adopts them. Default: 10.
        """,
    ).tag(config=True)

    @default("db_url")
    def _default_db_url(self):
        from ..store.db import default_url

        return default_url()

    @default("runs_dir")
    def _default_runs_dir(self):
        return str(Path(jupyter_data_dir()) / "jupyter_hybrid" / "runs")

    @default("catalog_file")
    def _default_catalog_file(self):
        from ..spawner.hybrid import DEFAULT_CATALOG

        return os.environ.get("JUPYTER_HYBRID_CATALOG") or DEFAULT_CATALOG

    # -- the hub's environment -----------------------------------------------------------------

    @staticmethod
    def hub_env(environ=None) -> dict[str, str]:
        """The hub's service variables; NotUnderHub names the missing ones and how to set them."""
        environ = os.environ if environ is None else environ
        missing = [k for k in HUB_ENV if not environ.get(k)]
        if missing:
            raise NotUnderHub(
                "jupyter hybrid control-plane runs as the JupyterHub service "
                f"{SERVICE_NAME!r}, and {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set.\n"
                "  Under a hub: add it to c.JupyterHub.services (hub_config/jupyterhub_config.py "
                "does: a 'url' and a 'command'); the hub starts it with these variables.\n"
                "  As an external service (e.g. under systemd): give the service an api_token in "
                "the hub's config and set JUPYTERHUB_API_TOKEN (that token), JUPYTERHUB_API_URL "
                "(e.g. http://127.0.0.1:8081/hub/api), JUPYTERHUB_SERVICE_URL (where to listen, "
                "e.g. http://127.0.0.1:8082) and JUPYTERHUB_SERVICE_PREFIX "
                f"(default /services/{SERVICE_NAME}/).\n"
                "  Without a hub, jobs run in JupyterLab itself (the server extension hosts the "
                "control plane)."
            )
        url = urlparse(environ["JUPYTERHUB_SERVICE_URL"])
        if url.scheme != "http" or not url.port:
            raise NotUnderHub(
                f"JUPYTERHUB_SERVICE_URL={environ['JUPYTERHUB_SERVICE_URL'][:80]!r}: give "
                "http://HOST:PORT (where the service listens)"
            )
        name = environ.get("JUPYTERHUB_SERVICE_NAME") or SERVICE_NAME
        prefix = environ.get("JUPYTERHUB_SERVICE_PREFIX") or f"/services/{name}/"
        return {
            "host": url.hostname or "127.0.0.1",
            "port": str(url.port),
            "prefix": "/" + prefix.strip("/") + "/",
            "name": name,
        }

    # -- the application -----------------------------------------------------------------------

    def make_plane(self):
        """The ControlPlane and its Scheduler, from the traits."""
        from ..catalog import CatalogFile
        from ..control import ControlPlane
        from ..control.scheduler import Scheduler
        from ..store.db import make_engine

        catalog = CatalogFile(self.catalog_file)
        catalog.get()  # a broken catalog stops the service here, with the file, the key and the fix
        plane = ControlPlane(make_engine(self.db_url), catalog.get, self.runs_dir, logger=log)
        return plane, Scheduler(plane, global_limit=self.run_limit)

    def make_app(self, plane, hub: dict[str, str], scheduler=None) -> web.Application:
        from jupyterhub.services.auth import HubAuth

        name = hub["name"]
        auth = HubAuth(
            access_scopes={f"access:services!service={name}"}, cache_max_age=self.auth_cache_seconds
        )
        prefix = re.escape(hub["prefix"])
        health = (HealthHandler, {"scheduler": scheduler})
        api = (APIHandler, {"plane": plane, "hub_auth": auth, "limit": self.max_body_bytes})
        return web.Application(
            [
                (r"/health", *health),
                (rf"{prefix}health", *health),
                (rf"{prefix}?", *health),  # the hub's readiness check asks for the prefix itself
                (rf"{prefix}api/(?P<path>.*)", *api),
            ],
            default_handler_class=NotFoundHandler,
        )

    async def serve(self, hub: dict[str, str], stopped: asyncio.Event | None = None) -> None:
        """Run until SIGTERM/SIGINT (or ``stopped`` is set): the scheduler starts with it and
        stops cleanly; runs in flight keep running and are adopted by the next start."""
        stopped = stopped or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)
        plane, scheduler = await asyncio.to_thread(self.make_plane)
        app = self.make_app(plane, hub, scheduler)
        server = HTTPServer(app, xheaders=True, max_body_size=self.max_body_bytes + (64 << 10))
        server.listen(int(hub["port"]), hub["host"])
        scheduler.start()
        log.info(
            "jupyter-hybrid control plane: http://%s:%s%sapi/ (runs in %s, catalog %s, run limit %d)",
            hub["host"],
            hub["port"],
            hub["prefix"],
            self.runs_dir,
            self.catalog_file,
            self.run_limit,
        )
        await stopped.wait()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("jupyter-hybrid control plane: stopping (runs in flight keep running)")
        server.stop()
        await scheduler.stop()
        try:
            await asyncio.wait_for(server.close_all_connections(), self.stop_timeout)
        except TimeoutError:
            pass
        plane.engine.dispose()
        log.info("jupyter-hybrid control plane: stopped")


class _JSONErrors(web.RequestHandler):
    def write_error(self, status_code: int, **kwargs) -> None:
        message = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}))


class HealthHandler(_JSONErrors):
    """Readiness, without authentication: says nothing but that the service answers."""

    def initialize(self, scheduler=None):
        self.scheduler = scheduler

    def get(self):
        running = self.scheduler is None or self.scheduler.started
        self.set_status(200 if running else 503)
        self.finish({"status": "ok" if running else "starting"})


class NotFoundHandler(_JSONErrors):
    def prepare(self):
        raise web.HTTPError(404, f"no such endpoint here; the API is under {SERVICE_NAME}'s prefix api/")


class APIHandler(_JSONErrors):
    """Every control-plane path, answered by ``control.api.dispatch`` as the token's user."""

    def initialize(self, plane, hub_auth, limit: int):
        self.plane, self.hub_auth, self.limit = plane, hub_auth, limit

    def check_xsrf_cookie(self):
        """Tokens only (no cookies are read), so there is no cross-site request to forge."""

    async def prepare(self):
        from jupyterhub.services.auth import check_scopes

        if not self.hub_auth.get_token(self, in_cookie=False):
            raise web.HTTPError(401, "send a JupyterHub token: Authorization: token <token>")
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            raise web.HTTPError(401, "the hub does not know this token (expired or revoked?)")
        kind, name = model.get("kind", "user"), model.get("name", "")
        if not check_scopes(self.hub_auth.access_scopes, set(model.get("scopes", []))):
            scopes = " or ".join(sorted(self.hub_auth.access_scopes))
            raise web.HTTPError(403, f"this token of {kind} {name!r} lacks the scope {scopes}")
        if kind != "user":
            raise web.HTTPError(403, f"{kind} {name!r}: jobs belong to users; call with a user's token")
        self.current_user = Caller(
            name=name, admin=bool(model.get("admin")), groups=frozenset(model.get("groups") or ())
        )

    async def _answer(self, path: str) -> None:
        from ..control.api import dispatch

        method = self.request.method
        body = self.request.body or None
        query = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        reply = await dispatch(self.plane, self.current_user, method, path, query, body, self.limit)
        self.set_status(reply.status)
        if reply.status == 204:
            self.finish()
            return
        self.set_header("Content-Type", reply.content_type)
        for header, value in reply.headers.items():
            self.set_header(header, value)
        self.finish(reply.body)

    async def get(self, path):
        await self._answer(path)

    async def post(self, path):
        await self._answer(path)

    async def patch(self, path):
        await self._answer(path)

    async def put(self, path):
        await self._answer(path)

    async def delete(self, path):
        await self._answer(path)


# -- command line ------------------------------------------------------------------------------


def _run(args) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level), format="[%(levelname).1s %(asctime)s %(name)s] %(message)s"
    )
    config = Config()
    if args.config:
        from traitlets.config.loader import load_pyconfig_files

        path = Path(args.config)
        config.merge(load_pyconfig_files([path.name], str(path.parent.resolve())))
    for trait, value in (
        ("db_url", None),  # from the environment only: a URL may hold a password, argv is public
        ("runs_dir", args.runs_dir),
        ("catalog_file", args.catalog),
        ("run_limit", args.run_limit),
    ):
        if value is not None:
            config.ControlPlaneService[trait] = value
    try:
        service = ControlPlaneService(config=config)
        service.run_limit  # noqa: B018 (validated here: a bad value is a message, not a traceback)
        hub = service.hub_env()
    except TraitError as e:
        print(f"jupyter-hybrid control plane: {e}", file=sys.stderr)
        return 2
    except NotUnderHub as e:
        print(e, file=sys.stderr)
        return 2
    from ..catalog import CatalogError

    try:
        asyncio.run(service.serve(hub))
    except CatalogError as e:
        print(f"jupyter-hybrid control plane: the catalog is invalid:\n{e}", file=sys.stderr)
        return 2
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "control-plane",
        help="run the control plane as the JupyterHub service 'jupyter-hybrid'",
        description=(
            "Run the control plane (jobs, schedules, runs) as the JupyterHub service "
            f"{SERVICE_NAME!r}. The hub starts it (hub_config/jupyterhub_config.py) with its "
            "service variables; the store URL comes from $JUPYTER_HYBRID_DB_URL only."
        ),
    )
    p.add_argument("--catalog", help="catalog file (default $JUPYTER_HYBRID_CATALOG, else the embedded one)")
    p.add_argument("--runs-dir", help="folder for run files (default <jupyter data dir>/jupyter_hybrid/runs)")
    p.add_argument("--run-limit", type=int, help="runs at once over all jobs (default 4)")
    p.add_argument("--config", help="a traitlets config file (c.ControlPlaneService.<trait> = ...)")
    p.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default INFO"
    )
    p.set_defaults(func=_run)
