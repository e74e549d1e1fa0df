"""Shared fixtures: pytest-jupyter's server fixtures, configured for our extension."""

import uuid

import pytest

from .pgtools import PgCluster, PgUnavailable

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
            "runs_dir": str(tmp_path / "runs"),
        },
    }


@pytest.fixture
def no_gpu(monkeypatch) -> str:
    """No NVIDIA GPU for this test, whatever the machine has; yields the reason the code reports.

    Without a GPU nothing changes (the real library finds no driver). With one, the real ``pynvml``
    is replaced in this process and in every process the test starts (``gputools.force_no_gpu``),
    so the no-GPU paths are tested on a GPU machine too, instead of being skipped there."""
    from jupyter_hybrid.gpu import nvml
    from jupyter_hybrid.gpu.devices import detect_gpus

    from .gputools import force_no_gpu

    nvml.close_session()
    if detect_gpus()[0]:
        force_no_gpu(monkeypatch)
    devices, reason = detect_gpus()
    assert not devices and reason
    yield reason
    nvml.close_session()


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL cluster for the whole run (tests/pgtools.py)."""
    cluster, problem = PgCluster(), None
    try:
        cluster.start()
    except PgUnavailable as e:
        problem = str(e)
    if problem:  # fail (never skip): the PostgreSQL backend must be tested for real
        pytest.fail(f"PostgreSQL tests need a server: {problem}", pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database: a SQLite file (its folder not made yet) or a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'not-yet' / 'hybrid.sqlite'}"
    return request.getfixturevalue("pg_cluster").create_database(f"t_{uuid.uuid4().hex[:16]}")
