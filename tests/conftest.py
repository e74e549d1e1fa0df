"""Shared fixtures: pytest-jupyter's server fixtures, configured for our extension."""

import pytest

pytest_plugins = ("pytest_jupyter.jupyter_server",)


@pytest.fixture
def jp_server_config(jp_server_config, tmp_path):
    """Our server extension alone, its state in ``tmp_path``. allow_unauthenticated_access=False makes
    jupyter-server warn (JupyterServerAuthWarning, an error under our pytest config) about any of our
    handlers that lacks @web.authenticated."""
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_hybrid": True, "jupyter_server_terminals": False},
            "allow_unauthenticated_access": False,
        },
        "HybridServerApp": {
            "db_url": f"sqlite:///{tmp_path / 'hybrid.sqlite'}",
            "envs_dir": str(tmp_path / "envs"),
        },
    }
