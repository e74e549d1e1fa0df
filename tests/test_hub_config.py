"""The demo hub's config (hub_config/jupyterhub_config.py) refuses taken or bad ports up front, with
the variable to set and a free port, instead of a proxy traceback (a real `jupyterhub -f` run)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

from .hubtools import HUB_CONFIG, PASSWORD
from .nettools import free_port


def run_hub_config(tmp_path, **ports) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_HYBRID_")}
    env.update(
        JUPYTER_HYBRID_DEMO_PASSWORD=PASSWORD,
        JUPYTER_HYBRID_STATE_DIR=str(tmp_path / "state"),
        **{f"JUPYTER_HYBRID_{k.upper()}": str(v) for k, v in ports.items()},
    )
    return subprocess.run(
        [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_taken_port_names_the_setting_and_a_free_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_hub_config(tmp_path, port=port, hub_port=free_port(), proxy_api_port=free_port())
    out = result.stdout + result.stderr
    assert result.returncode != 0
    match = re.search(
        rf"port {port} on 127\.0\.0\.1 is in use \(JUPYTER_HYBRID_PORT\); "
        r"pick another, e\.g\. `JUPYTER_HYBRID_PORT=(\d+) make run`",
        out,
    )
    assert match, out
    assert int(match.group(1)) != port
    assert "Traceback" not in out and "EADDRINUSE" not in out
    assert not (tmp_path / "state" / "jupyterhub.sqlite").exists()  # stopped before the hub started


def test_bad_and_clashing_port_settings(tmp_path):
    result = run_hub_config(tmp_path, hub_port="80a")
    assert result.returncode != 0
    assert "JUPYTER_HYBRID_HUB_PORT='80a' is not a port; set it to a number from 1 to 65535" in result.stderr
    same = free_port()
    result = run_hub_config(tmp_path, port=same, proxy_api_port=same, hub_port=free_port())
    assert result.returncode != 0
    assert f"JUPYTER_HYBRID_PROXY_API_PORT and JUPYTER_HYBRID_PORT are both {same}" in result.stderr


def test_the_test_hub_retries_with_new_ports_when_one_was_taken(tmp_path, monkeypatch):
    """tests/hubtools.Hub: the race of free_port() (another process binds the port before the hub)
    costs a retry with new ports, not a failed test."""
    from . import hubtools

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = iter([port])  # the first port handed out is the taken one, then real free ports
        monkeypatch.setattr(hubtools, "free_port", lambda: next(ports, None) or free_port())
        hub = hubtools.Hub(tmp_path / "hub")
        assert hub.port == port
        hub.start()
        try:
            assert hub.port != port
            assert hub.api("GET", "/").ok
            assert f"port {port} on 127.0.0.1 is in use" in hub.log_path.read_text()
        finally:
            hub.stop()
