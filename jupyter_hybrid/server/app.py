"""The jupyter-server extension: registers jupyter-hybrid's REST endpoints."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int, List, Unicode, default

from .handlers import InfoHandler


class HybridServerApp(ExtensionApp):
    name = "jupyter_hybrid"
    load_other_extensions = True

    db_url = Unicode(
        help="""SQLAlchemy URL of the store (snapshots; later jobs and APIs).

        Default: $JUPYTER_HYBRID_DB_URL, else SQLite in <jupyter data dir>/jupyter_hybrid/hybrid.sqlite.
        PostgreSQL: postgresql+psycopg://user:password@host/dbname
        """,
    ).tag(config=True)

    envs_dir = Unicode(
        help="""Folder where restored snapshots' environments are created (one venv each).

        Default: <jupyter data dir>/jupyter_hybrid/envs.
        """,
    ).tag(config=True)

    max_body_bytes = Int(
        1 << 20,
        min=1024,
        help="""Largest request body (bytes) our REST endpoints read; a larger one is refused (413).

        Default: 1048576 (1 MiB).
        """,
    ).tag(config=True)

    restore_env_deny = List(
        Unicode(),
        help="""More environment variable name patterns (fnmatch, case-insensitive) withheld from
        the tools a restore runs (pip, conda, build backends), on top of the built-in ones
        (*TOKEN*, *SECRET*, *PASSWORD*, *_KEY, JUPYTERHUB_*, JPY_*, JUPYTER_HYBRID_DB_URL, ...;
        see jupyter_hybrid.snapshots.environ). Default: [].
        """,
    ).tag(config=True)

    task_keep_seconds = Float(
        3600.0,
        min=0,
        help="""Seconds a finished background task (a restore) stays readable at
        /jupyter-hybrid/snapshots/tasks/<id> before it is forgotten. Default: 3600 (one hour).
        """,
    ).tag(config=True)

    runs_dir = Unicode(
        help="""Folder where job runs keep their files (injected notebook, output, live log).

        Default: <jupyter data dir>/jupyter_hybrid/runs. Used when the control plane runs in
        this server (plain `jupyter lab`); under a hub the control-plane service keeps runs.
        """,
    ).tag(config=True)

    catalog_file = Unicode(
        help="""The catalog (tiers, environments, sites) jobs are published on.

        Default: $JUPYTER_HYBRID_CATALOG, else the embedded default catalog (this machine).
        """,
    ).tag(config=True)

    run_limit = Int(
        4,
        min=1,
        help="""Job runs at once over all jobs, when the control plane runs in this server.

        Default: 4. Each job has its own concurrency limit as well (default 1).
        """,
    ).tag(config=True)

    control_url = Unicode(
        help="""Under a hub: the base URL of the hub's control-plane service (jupyter-hybrid), to
        which this server forwards its /jupyter-hybrid/jobs, /runs and /publish requests.

        Default: $JUPYTER_HYBRID_CONTROL_URL (hub_config sets it for every server). Ignored
        outside a hub, where the control plane runs in this server.
        """,
    ).tag(config=True)

    control_timeout = Float(
        60.0,
        min=1,
        help="""Seconds a request forwarded to the hub's control-plane service may take before it
        is answered 503 (unreachable). Default: 60.
        """,
    ).tag(config=True)

    @default("control_url")
    def _default_control_url(self):
        from .forward import CONTROL_URL_ENV

        return os.environ.get(CONTROL_URL_ENV, "")

    @default("runs_dir")
    def _default_runs_dir(self):
        return str(Path(jupyter_data_dir()) / "jupyter_hybrid" / "runs")

    @default("catalog_file")
    def _default_catalog_file(self):
        from ..spawner.hybrid import DEFAULT_CATALOG

        return os.environ.get("JUPYTER_HYBRID_CATALOG") or DEFAULT_CATALOG

    @default("db_url")
    def _default_db_url(self):
        from ..store.db import default_url

        return default_url()

    @default("envs_dir")
    def _default_envs_dir(self):
        return str(Path(jupyter_data_dir()) / "jupyter_hybrid" / "envs")

    def initialize_settings(self):
        from ..store.db import make_engine
        from ..store.snapshots import SnapshotStore
        from .tasks import Tasks

        engine = make_engine(self.db_url)
        self.settings.update(
            {
                "jupyter_hybrid.snapshot_store": SnapshotStore(engine),
                "jupyter_hybrid.owner": os.environ.get("JUPYTERHUB_USER") or getpass.getuser(),
                "jupyter_hybrid.envs_dir": self.envs_dir,
                "jupyter_hybrid.max_body_bytes": self.max_body_bytes,
                "jupyter_hybrid.restore_env_deny": tuple(self.restore_env_deny),
                "jupyter_hybrid.tasks": Tasks(keep_seconds=self.task_keep_seconds, logger=self.log),
            }
        )
        self._start_gpu_sampler()
        self._control_plane(engine)

    def _control_plane(self, engine):
        """Jobs are answered by the hub's control-plane service under a hub (forwarded with this
        server's token), by a control plane in this process in plain lab."""
        from ..catalog import CatalogFile
        from ..control import ControlPlane
        from ..control.scheduler import Scheduler
        from .forward import Forward, NoControlPlane, under_hub
        from .jobs import InProcess

        if under_hub() and self._hub_identity():
            token = os.environ["JUPYTERHUB_API_TOKEN"]
            client = Forward(self.control_url, token, self.control_timeout) if self.control_url else None
            self.settings["jupyter_hybrid.control"] = client or NoControlPlane()
            if client is None:
                self.log.warning("jupyter-hybrid: under a hub without $JUPYTER_HYBRID_CONTROL_URL: no jobs")
            return
        catalog = CatalogFile(self.catalog_file)
        plane = ControlPlane(engine, catalog.get, self.runs_dir, logger=self.log)
        scheduler = Scheduler(plane, global_limit=self.run_limit)
        owner = self.settings["jupyter_hybrid.owner"]
        self.settings["jupyter_hybrid.control"] = InProcess(plane, owner, self.max_body_bytes, scheduler)

    def _hub_identity(self) -> bool:
        """Whether JupyterHub authenticates this server's requests (jupyterhub-singleuser), not
        only whether the hub's variables are set (a server started from a hub terminal has them)."""
        provider = getattr(self.serverapp, "identity_provider", None)
        return type(provider).__module__.startswith("jupyterhub.")

    async def _start_jupyter_server_extension(self, serverapp):
        control = self.settings.get("jupyter_hybrid.control")
        if hasattr(control, "start"):
            control.start()

    def _start_gpu_sampler(self):
        from ..gpu.notices import Notices
        from ..gpu.sampler import GpuSampler

        sampler = GpuSampler(parent=self)  # GpuSampler.* config applies
        sampler.start()  # a daemon thread; without a GPU it only records the reason
        self.settings.update({"jupyter_hybrid.gpu_sampler": sampler, "jupyter_hybrid.gpu_notices": Notices()})

    async def stop_extension(self):
        sampler = self.settings.get("jupyter_hybrid.gpu_sampler")
        if sampler is not None:
            sampler.stop()
        control = self.settings.get("jupyter_hybrid.control")
        if hasattr(control, "stop"):
            await control.stop()

    def initialize_handlers(self):
        from .gpu import HANDLERS as GPU_HANDLERS
        from .jobs import HANDLERS as JOB_HANDLERS
        from .snapshots import HANDLERS

        info = (r"/jupyter-hybrid/info", InfoHandler)
        self.handlers.extend([info, *HANDLERS, *GPU_HANDLERS, *JOB_HANDLERS])
