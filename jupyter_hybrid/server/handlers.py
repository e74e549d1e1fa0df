"""HTTP handlers of the server extension: thin (parse, authorize, call, respond)."""

from __future__ import annotations

import json
from typing import TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel
from tornado import web

from .errors import MAX_BODY_BYTES, parse_body
from .info import server_info

AUTH_RESOURCE = "jupyter_hybrid"
M = TypeVar("M", bound=BaseModel)


class HybridAPIHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = AUTH_RESOURCE

    def json_body(self, model: type[M]) -> M:
        """The request body as ``model``; any malformed body is a 400 (413 past the size limit)."""
        limit = self.settings.get("jupyter_hybrid.max_body_bytes", MAX_BODY_BYTES)
        return parse_body(self.request.body, model, limit)


class InfoHandler(HybridAPIHandler):
    @web.authenticated
    @authorized
    def get(self):
        self.finish(json.dumps(server_info()))
