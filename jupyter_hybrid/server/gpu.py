"""GPU endpoints: current sample (+ history), process attribution, notices, and a live WebSocket.

GET  /jupyter-hybrid/gpu[?since=T]    {"available", "reason", "gpus", "processes", "interval", ...}
POST /jupyter-hybrid/gpu/notices      {"message", "level", "source", "ttl"} (the idle-GPU culler)
DELETE /jupyter-hybrid/gpu/notices    dismiss them all; .../notices/<id>: dismiss one -> {"dismissed"}
WS   /jupyter-hybrid/gpu/stream[?since=T]  "snapshot" first, then "sample", "processes", "notice",
                                           "dismissed"
"""

from __future__ import annotations

import asyncio
import json
import math

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web, websocket
from tornado.ioloop import IOLoop

from ..gpu.attribution import attribute, kernels_of, lineage
from ..gpu.notices import NoticeRequest
from ..quote import quote
from .errors import json_errors
from .handlers import AUTH_RESOURCE, HybridAPIHandler


def parse_since(raw: str | None) -> float | None:
    """``since`` is epoch seconds (a number >= 0); anything else is the caller's mistake."""
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise web.HTTPError(400, f"since={raw!r}: give a time in epoch seconds, e.g. since=1718000000.5")
    return value


class GpuMixin:
    @property
    def sampler(self):
        return self.settings["jupyter_hybrid.gpu_sampler"]

    @property
    def notices(self):
        return self.settings["jupyter_hybrid.gpu_notices"]

    async def processes(self) -> list[dict]:
        raw = self.sampler.processes
        if not raw:
            return []
        kernels = await kernels_of(self.kernel_manager, self.settings.get("session_manager"))
        return await asyncio.to_thread(attribute, raw, kernels, lineage)  # psutil reads /proc

    async def full_state(self, since: float | None) -> dict:
        state = self.sampler.state(since)
        state["processes"] = await self.processes()
        state["notices"] = self.notices.current()
        return state


class GpuHandler(GpuMixin, HybridAPIHandler):
    @web.authenticated
    @authorized
    async def get(self):
        since = parse_since(self.get_argument("since", None))
        self.finish(json.dumps(await self.full_state(since)))


class GpuNoticesHandler(GpuMixin, HybridAPIHandler):
    @web.authenticated
    @authorized
    async def get(self):
        self.finish({"notices": self.notices.current()})

    @web.authenticated
    @authorized
    @json_errors
    async def post(self):
        req = self.json_body(NoticeRequest)
        notice = self.notices.add(req)
        self.log.info("GPU notice from %s: %s", req.source, req.message)
        self.set_status(201)
        self.finish(notice)

    @web.authenticated
    @authorized
    async def delete(self):
        gone = self.notices.dismiss()
        self.log.info("GPU notices dismissed: %d", len(gone))
        self.finish({"dismissed": gone})


class GpuNoticeHandler(GpuMixin, HybridAPIHandler):
    @web.authenticated
    @authorized
    async def delete(self, notice_id):
        gone = self.notices.dismiss([notice_id])
        if not gone:
            raise web.HTTPError(404, f"no notice {quote(notice_id)}: it was dismissed already or has expired")
        self.finish({"dismissed": gone})


class GpuStreamHandler(
    GpuMixin, WebSocketMixin, websocket.WebSocketHandler, ExtensionHandlerMixin, JupyterHandler
):
    """Pushes each new sample; same authorization as the REST endpoint (read on jupyter_hybrid)."""

    auth_resource = AUTH_RESOURCE

    async def pre_get(self):
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403)

    @ws_authenticated
    async def get(self, *args, **kwargs):
        self._since = parse_since(self.get_argument("since", None))
        await self.pre_get()
        res = super().get(*args, **kwargs)
        if res is not None:
            await res

    async def open(self, *args, **kwargs):
        self._loop = IOLoop.current()
        self._sent_processes = None
        self._unsubscribe = [
            self.sampler.subscribe(self._from_sampler),
            self.notices.subscribe(self._from_notices),
        ]
        state = await self.full_state(self._since if self._since is not None else 0.0)
        self._sent_processes = self.sampler.processes
        self._send({"type": "snapshot", **state})

    def on_close(self):
        for unsubscribe in getattr(self, "_unsubscribe", ()):
            unsubscribe()
        self._unsubscribe = []

    def on_message(self, message):
        pass  # the stream is one-way; pings are WebSocketMixin's

    # listeners run on the sampler's thread: hop onto the event loop before touching the socket
    def _from_sampler(self, update: dict) -> None:
        self._loop.add_callback(self._on_update, update)

    def _from_notices(self, event: dict) -> None:
        self._loop.add_callback(self._send, event)  # "notice" or "dismissed"

    async def _on_update(self, update: dict) -> None:
        self._send({"type": "sample", **update})
        raw = self.sampler.processes
        if raw is not self._sent_processes:
            self._sent_processes = raw
            self._send({"type": "processes", "processes": await self.processes()})

    def _send(self, message: dict) -> None:
        if self.ws_connection is None:
            return
        try:
            self.write_message(json.dumps(message))
        except websocket.WebSocketClosedError:
            self.on_close()


HANDLERS = [
    (r"/jupyter-hybrid/gpu", GpuHandler),
    (r"/jupyter-hybrid/gpu/notices", GpuNoticesHandler),
    (r"/jupyter-hybrid/gpu/notices/(?P<notice_id>[0-9a-f]{32})", GpuNoticeHandler),
    (r"/jupyter-hybrid/gpu/stream", GpuStreamHandler),
]
