"""Ports for servers under test: the one ``free_port()``, and how to tell a port conflict.

``free_port()`` binds port 0, reads the port and closes the socket, so another process may take the
port before the server binds it. Prefer a server that binds port 0 itself and reports its port;
where one cannot (JupyterHub and its proxy, PostgreSQL), start it again with new ports when it
reports a conflict (``is_port_conflict``), up to ``PORT_ATTEMPTS`` times: a lost race costs a
retry, not a failed test.
"""

from __future__ import annotations

import socket

PORT_ATTEMPTS = 3
#: what the servers we start say when their port was taken meanwhile
CONFLICT_MARKERS = (
    "EADDRINUSE",
    "Address already in use",
    "address already in use",
    "on 127.0.0.1 is in use",  # hub_config/jupyterhub_config.py's own check
    "could not bind",  # PostgreSQL
)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (see the module docstring for the race)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def is_port_conflict(text: str) -> bool:
    return any(marker in text for marker in CONFLICT_MARKERS)


class PortConflict(RuntimeError):
    """A server could not bind the port it was given: start it again with new ports."""
