"""jupyter-hybrid: hardware tiers and sites for JupyterHub, GPU monitoring, environment
snapshots, scheduled jobs and model APIs for JupyterLab."""

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0.dev0"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyter-hybrid"}]


def _jupyter_server_extension_points():
    from .server.app import HybridServerApp

    return [{"module": "jupyter_hybrid", "app": HybridServerApp}]
