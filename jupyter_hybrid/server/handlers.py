"""HTTP handlers of the server extension: thin (parse, authorize, call, respond)."""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from .info import server_info

AUTH_RESOURCE = "jupyter_hybrid"


class HybridAPIHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = AUTH_RESOURCE


class InfoHandler(HybridAPIHandler):
    @web.authenticated
    @authorized
    def get(self):
        self.finish(json.dumps(server_info()))
