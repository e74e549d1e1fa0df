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

        self.settings.update(
            {
                "jupyter_hybrid.snapshot_store": SnapshotStore(make_engine(self.db_url)),
                "jupyter_hybrid.owner": os.environ.get("JUPYTERHUB_USER") or getpass.getuser(),
                "jupyter_hybrid.envs_dir": self.envs_dir,
                "jupyter_hybrid.max_body_bytes": self.max_body_bytes,
                "jupyter_hybrid.restore_env_deny": tuple(self.restore_env_deny),
                "jupyter_hybrid.tasks": Tasks(keep_seconds=self.task_keep_seconds, logger=self.log),
            }
        )
        self._start_gpu_sampler()

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

    def initialize_handlers(self):
        from .gpu import HANDLERS as GPU_HANDLERS
        from .snapshots import HANDLERS

        self.handlers.extend([(r"/jupyter-hybrid/info", InfoHandler), *HANDLERS, *GPU_HANDLERS])
