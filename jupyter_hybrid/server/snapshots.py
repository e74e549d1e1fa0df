"""REST handlers for environment snapshots: capture, list, show, delete, diff, export, restore."""

from __future__ import annotations

import asyncio
import re

from jupyter_server.auth.decorator import authorized
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator
from tornado import web

from ..quote import quote
from ..snapshots import capture, diff, export, restore, trust
from ..snapshots.errors import NotFound as SnapshotNotFound
from ..snapshots.errors import SnapshotError
from ..snapshots.model import Snapshot, load_snapshot
from .errors import json_errors
from .handlers import HybridAPIHandler

ID = r"(?P<snapshot_id>[0-9a-f]{4,64})"
RECORD_FIELDS = ("short_id", "owner", "name", "note", "shared", "created_at")


KERNEL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,255}$")  # jupyter_client's rule for kernelspec names


def kernelspec_name(value: str) -> str:
    if not KERNEL_NAME.match(value):
        raise ValueError(f"{quote(value)} is not a kernelspec name: use letters, digits, '.', '_' or '-'")
    return value


class CaptureRequest(BaseModel):
    """POST /jupyter-hybrid/snapshots: capture one kernel's environment, or a notebook's kernel's."""

    model_config = ConfigDict(extra="forbid")
    kernel: str | None = Field(None, min_length=1, max_length=255)
    notebook: str | None = Field(None, min_length=1, max_length=4096)
    name: str | None = Field(None, max_length=255)
    note: str | None = Field(None, max_length=2000)
    rename: StrictBool = Field(
        False, description="when this environment was captured before: give it this name and note"
    )

    @field_validator("kernel")
    @classmethod
    def _kernel(cls, value):
        return None if value is None else kernelspec_name(value)

    @field_validator("notebook")
    @classmethod
    def _notebook(cls, value):
        if value is not None and not value.isprintable():
            raise ValueError(f"{quote(value)} holds a control character; give the notebook's path")
        return value

    @model_validator(mode="after")
    def _one_target(self):
        if (self.kernel is None) == (self.notebook is None):
            raise ValueError('give exactly one of "kernel" (a kernelspec name) or "notebook" (a path)')
        return self


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=255, description="kernelspec name")
    trust_sources: StrictBool = Field(
        False, description="restore another user's snapshot even though it installs from url:/vcs:"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value):
        return restore.check_name(value)


class SnapshotAPIHandler(HybridAPIHandler):
    @property
    def store(self):
        return self.settings["jupyter_hybrid.snapshot_store"]

    @property
    def owner(self) -> str:
        # a single-user server belongs to one person: its owner, not the browser session
        return self.settings["jupyter_hybrid.owner"]

    def snapshot(self, snapshot_id: str) -> Snapshot:
        return self.snapshot_and_owner(snapshot_id)[0]

    def snapshot_and_owner(self, snapshot_id: str) -> tuple[Snapshot, str]:
        """The stored snapshot, checked again (a stored package must not steer an export or restore),
        and whose record it is (this user's own when they have one, else the sharer's)."""
        body = self.store.get(self.owner, snapshot_id)
        return load_snapshot(body, f"snapshot {snapshot_id[:12]}"), body["owner"]


class SnapshotsHandler(SnapshotAPIHandler):
    @web.authenticated
    @authorized
    @json_errors
    async def get(self):
        self.finish({"snapshots": self.store.list(self.owner)})

    @web.authenticated
    @authorized
    @json_errors
    async def post(self):
        req = self.json_body(CaptureRequest)
        try:
            ksm = self.kernel_spec_manager
            if req.kernel:
                snap = await asyncio.to_thread(capture.capture_kernel, req.kernel, kernel_spec_manager=ksm)
            else:
                root = self.settings["server_root_dir"]
                snap = await asyncio.to_thread(
                    capture.capture_notebook, req.notebook, root, kernel_spec_manager=ksm
                )
        except SnapshotNotFound as e:  # a kernel or notebook named in the body: bad input, not a 404
            raise web.HTTPError(400, str(e)) from None
        data = snap.model_dump(mode="json")
        record = self.store.save(self.owner, data, name=req.name, note=req.note, rename=req.rename)
        self.set_status(201)
        # identical_to: this user had captured the same environment (that name is kept unless rename)
        self.finish({**data, **{k: record[k] for k in RECORD_FIELDS}, "identical_to": record["identical_to"]})


class SnapshotHandler(SnapshotAPIHandler):
    @web.authenticated
    @authorized
    @json_errors
    async def get(self, snapshot_id):
        self.finish(self.store.get(self.owner, snapshot_id))

    @web.authenticated
    @authorized
    @json_errors
    async def delete(self, snapshot_id):
        self.store.delete(self.owner, snapshot_id)
        self.set_status(204)
        self.finish()


class SnapshotDiffHandler(SnapshotAPIHandler):
    @web.authenticated
    @authorized
    @json_errors
    async def get(self, snapshot_id, other_id):
        d = diff.diff(self.snapshot(snapshot_id), self.snapshot(other_id))
        self.finish({"diff": d, "text": diff.render_text(d)})


class SnapshotDriftHandler(SnapshotAPIHandler):
    """Does this kernel still match the snapshot? GET .../drift?kernel=NAME -> the diff."""

    @web.authenticated
    @authorized
    @json_errors
    async def get(self, snapshot_id):
        kernel = self.get_query_argument("kernel", "")
        if not kernel:
            raise web.HTTPError(400, "give ?kernel=NAME: the kernel to compare with the snapshot")
        try:
            kernelspec_name(kernel)
            current = await asyncio.to_thread(
                capture.capture_kernel, kernel, kernel_spec_manager=self.kernel_spec_manager
            )
        except (ValueError, SnapshotNotFound) as e:  # the kernel named in the query: bad input
            raise web.HTTPError(400, str(e)) from None
        d = diff.diff(self.snapshot(snapshot_id), current)
        self.finish({"matches": diff.is_empty(d), "diff": d, "text": diff.render_text(d)})


class SnapshotExportHandler(SnapshotAPIHandler):
    @web.authenticated
    @authorized
    @json_errors
    async def get(self, snapshot_id):
        fmt = self.get_query_argument("format", "binder")
        snap = self.snapshot(snapshot_id)
        short = snap.id[:12]
        if fmt == "binder":
            self.set_header("Content-Disposition", f'attachment; filename="binder-{short}.zip"')
            self.finish(export.zip_binder(snap), set_content_type="application/zip")
        elif fmt == "requirements":
            self.set_header("Content-Disposition", f'attachment; filename="requirements-{short}.txt"')
            self.finish(export.export_requirements(snap), set_content_type="text/plain; charset=utf-8")
        else:
            raise web.HTTPError(400, f"unknown format {quote(fmt)}; use format=binder or format=requirements")


class SnapshotRestoreHandler(SnapshotAPIHandler):
    @web.authenticated
    @authorized
    @json_errors
    async def post(self, snapshot_id):
        req = self.json_body(RestoreRequest)
        snap, whose = self.snapshot_and_owner(snapshot_id)
        sources = trust.direct_sources(snap) if whose != self.owner and not req.trust_sources else []
        if sources:  # someone else's code from URLs: the user confirms first; nothing is started
            how = 'send "trust_sources": true'
            message = trust.trust_message(snap, f"{whose}'s shared snapshot", sources, how)
            self.set_status(409)
            self.finish({"message": message, "needs_trust": True, "sources": sources})
            return
        envs_dir = self.settings["jupyter_hybrid.envs_dir"]
        ksm = self.kernel_spec_manager
        deny = self.settings.get("jupyter_hybrid.restore_env_deny", ())
        # refuse up front what can be known now (name taken, no such Python): a 400, not a failed task
        await asyncio.to_thread(restore.check, snap, req.name, envs_dir, kernel_spec_manager=ksm)

        def work(progress):
            result = restore.restore(
                snap, req.name, envs_dir, progress=progress, kernel_spec_manager=ksm, env_deny=deny
            )
            return {
                "kernel_name": result.kernel_name,
                "display_name": result.display_name,
                "env_path": str(result.env_path),
                "diff": result.diff,
                "diff_text": diff.render_text(result.diff),
            }

        task = self.settings["jupyter_hybrid.tasks"].start(self.owner, work, (SnapshotError, ValueError))
        self.set_status(202)
        self.finish({"task": task})


class TaskHandler(SnapshotAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, task_id):
        task = self.settings["jupyter_hybrid.tasks"].get(self.owner, task_id)
        if task is None:
            raise web.HTTPError(404, f"task {task_id!r} not found")
        self.finish(task.view())


HANDLERS = [
    (r"/jupyter-hybrid/snapshots", SnapshotsHandler),
    (r"/jupyter-hybrid/snapshots/tasks/(?P<task_id>[0-9a-f]{32})", TaskHandler),
    (rf"/jupyter-hybrid/snapshots/{ID}", SnapshotHandler),
    (rf"/jupyter-hybrid/snapshots/{ID}/diff/(?P<other_id>[0-9a-f]{{4,64}})", SnapshotDiffHandler),
    (rf"/jupyter-hybrid/snapshots/{ID}/drift", SnapshotDriftHandler),
    (rf"/jupyter-hybrid/snapshots/{ID}/export", SnapshotExportHandler),
    (rf"/jupyter-hybrid/snapshots/{ID}/restore", SnapshotRestoreHandler),
]
