"""Ports for servers under test: the one ``free_port()``, and how to tell a port conflict.

``free_port()`` binds port 0, reads the port and closes the socket, so another process may take the
port before the server binds it. Prefer a server that binds port 0 itself and reports its port;
where one cannot (JupyterHub and its proxy, PostgreSQL), start it through ``retry_on_port_conflict``
so a lost race costs a retry with new ports, not a failed test.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: what the servers we start say when their port was taken meanwhile
CONFLICT_MARKERS = (
    "EADDRINUSE",
    "Address already in use",
    "address already in use",
    "is in use",  # hub_config/jupyterhub_config.py's own check
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
    """A server could not bind the port it was given; ``retry_on_port_conflict`` tries again."""


def retry_on_port_conflict(start: Callable[[], T], attempts: int = 3) -> T:
    """``start()``, called again (it picks new ports each time) while it raises PortConflict."""
    for attempt in range(attempts):
        try:
            return start()
        except PortConflict:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
