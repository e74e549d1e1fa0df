"""The jupyter-server extension: registers jupyter-hybrid's REST endpoints."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

from .handlers import InfoHandler


class HybridServerApp(ExtensionApp):
    name = "jupyter_hybrid"
    load_other_extensions = True

    def initialize_handlers(self):
        self.handlers.extend([(r"/jupyter-hybrid/info", InfoHandler)])
