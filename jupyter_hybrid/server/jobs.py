"""REST handlers for jobs and runs: /jupyter-hybrid/jobs..., /runs..., /publish/...

Thin: authenticate and authorize (jupyter-server), read the notebook a publish names from this
server's own files (the contents manager keeps paths inside the root), then hand the request to
the control plane — in this process (plain `jupyter lab`) or forwarded to the hub's control-plane
service (under a hub). Either way the answer is the control plane's, unchanged.
"""

from __future__ import annotations

import json
from typing import Protocol

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import ensure_async
from tornado import web

from ..control.api import Reply, dispatch, error_reply
from ..control.identity import Caller
from ..quote import quote
from .errors import read_json
from .handlers import HybridAPIHandler

PATH = r"/jupyter-hybrid/(?P<path>(?:jobs|runs|publish)(?:/.*)?)"
NEEDS_CONTENT = ("jobs", "publish/inspect")  # and jobs/NAME/versions


class ControlClient(Protocol):
    """Where this server's job requests go: the control plane in-process, or the hub's service."""

    async def call(self, method: str, path: str, query: dict[str, str], body: bytes | None) -> Reply:
        """Answer as the control plane would; the caller is this server's user."""


class InProcess:
    """The control plane of a plain `jupyter lab`: it runs in this server, for its one user."""

    def __init__(self, plane, owner: str, limit: int, scheduler=None):
        self.plane, self.caller, self.limit = plane, Caller(owner), limit
        self.scheduler = scheduler

    def start(self) -> None:
        """Start the scheduler once the event loop runs (at server start, or the first request)."""
        if self.scheduler is not None and not self.scheduler.started:
            self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.started:
            await self.scheduler.stop()

    async def call(self, method, path, query, body):
        self.start()
        return await dispatch(self.plane, self.caller, method, path, query, body, self.limit)


def _wants_content(method: str, path: str) -> bool:
    path = path.strip("/")
    parts = path.split("/")
    return method == "POST" and (path in NEEDS_CONTENT or (len(parts) == 3 and parts[2] == "versions"))


class JobsHandler(HybridAPIHandler):
    """Every job and run endpoint; the control plane's router decides what the path means."""

    @property
    def client(self) -> ControlClient:
        return self.settings["jupyter_hybrid.control"]

    async def _notebook(self, path: object) -> dict:
        """The notebook at `path` under this server's root, as JSON (400/404 with the reason)."""
        if not isinstance(path, str) or not path or "\x00" in path or len(path) > 4096:
            raise web.HTTPError(400, f'"notebook" must be a notebook path under your root, got {quote(path)}')
        if not path.endswith(".ipynb"):
            raise web.HTTPError(400, f"{quote(path)} is not a notebook (.ipynb)")
        try:
            model = await ensure_async(self.contents_manager.get(path, content=True, type="notebook"))
        except web.HTTPError as e:
            if e.status_code == 404:
                raise web.HTTPError(404, f"no notebook at {quote(path)}") from None
            raise web.HTTPError(400, f"cannot read {quote(path)}: {e.log_message or e.reason}") from None
        return json.loads(json.dumps(model["content"]))

    async def _with_content(self, path: str) -> bytes:
        """The request body with "content" filled in from the notebook it names (or, for a new
        version, from the job's own notebook path)."""
        limit = self.settings.get("jupyter_hybrid.max_body_bytes")
        doc = read_json(self.request.body, limit) if limit else read_json(self.request.body)
        if not isinstance(doc, dict):
            raise web.HTTPError(400, f"send a JSON object, got {quote(doc)}")
        notebook = doc.get("notebook")
        if notebook is None and path.endswith("/versions"):
            reply = await self.client.call("GET", path.rsplit("/", 1)[0], {}, None)
            if reply.status != 200:
                raise _Answered(reply)
            notebook = json.loads(reply.body)["notebook"]
        doc["content"] = await self._notebook(notebook)
        return json.dumps(doc).encode()

    async def _answer(self, method: str, path: str) -> None:
        try:
            body = self.request.body or None
            if _wants_content(method, path):
                body = await self._with_content(path)
            query = {k: self.get_query_argument(k) for k in self.request.query_arguments}
            reply = await self.client.call(method, path, query, body)
        except web.HTTPError as e:
            reply = error_reply(e.status_code, e.log_message or e.reason or "bad request")
        except _Answered as e:
            reply = e.reply
        self.set_status(reply.status)
        if reply.status == 204:
            self.finish()
            return
        for name, value in reply.headers.items():
            self.set_header(name, value)
        # jupyter-server's APIHandler.finish sets the type itself: say it there (an HTML output
        # is text/html, not application/json)
        self.finish(reply.body, set_content_type=reply.content_type)

    @web.authenticated
    @authorized
    async def get(self, path):
        await self._answer("GET", path)

    @web.authenticated
    @authorized
    async def post(self, path):
        await self._answer("POST", path)

    @web.authenticated
    @authorized
    async def patch(self, path):
        await self._answer("PATCH", path)

    @web.authenticated
    @authorized
    async def delete(self, path):
        await self._answer("DELETE", path)


class _Answered(Exception):
    def __init__(self, reply: Reply):
        self.reply = reply


HANDLERS = [(PATH, JobsHandler)]
