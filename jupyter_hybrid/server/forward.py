"""Under a hub, this server's job requests go to the hub's control-plane service.

The lab extension keeps calling its own server's ``/jupyter-hybrid/jobs...``; ``Forward`` sends the
same method, path, query and body to ``$JUPYTER_HYBRID_CONTROL_URL/api/<path>`` with this server's
own token (``$JUPYTERHUB_API_TOKEN``, which carries ``access:services!service=jupyter-hybrid``
through ``Spawner.server_token_scopes``), so the service knows the user from the hub, and returns
the service's status, body and headers unchanged. A service that does not answer is a 503 saying
that the control plane is unreachable. This server never gets the store's URL.
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ..control.api import Reply, error_reply

CONTROL_URL_ENV = "JUPYTER_HYBRID_CONTROL_URL"
#: the service's headers that describe its connection, not its answer
_HOP = {"connection", "content-length", "content-encoding", "date", "server", "set-cookie",
        "transfer-encoding", "keep-alive", "content-type", "etag"}  # fmt: skip


def under_hub(environ=None) -> bool:
    """Whether this server was started by a JupyterHub (it has the hub's token and user)."""
    environ = os.environ if environ is None else environ
    return bool(environ.get("JUPYTERHUB_API_TOKEN") and environ.get("JUPYTERHUB_USER"))


class Forward:
    """A ControlClient that asks the hub's control-plane service, as this server's user."""

    def __init__(self, url: str, token: str, timeout: float = 60.0, max_body: int = 256 << 20):
        self.url = url.rstrip("/")
        self.token, self.timeout, self.max_body = token, timeout, max_body

    async def call(self, method: str, path: str, query: dict[str, str], body: bytes | None) -> Reply:
        url = f"{self.url}/api/{quote(path.strip('/'), safe='/')}"
        if query:
            url += "?" + urlencode(query)
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        request = HTTPRequest(
            url,
            method=method,
            body=body,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            request_timeout=self.timeout,
            connect_timeout=min(self.timeout, 10.0),
            follow_redirects=False,
            allow_nonstandard_methods=True,
        )
        client = AsyncHTTPClient(max_body_size=self.max_body)
        try:
            response = await client.fetch(request, raise_error=False)
        except Exception as e:  # DNS, TLS, a body over max_body
            return self._unreachable(e)
        if response.code >= 599:  # no answer: refused, reset, timed out
            return self._unreachable(response.error)
        headers = {k: v for k, v in response.headers.get_all() if k.lower() not in _HOP}
        content_type = response.headers.get("Content-Type", "application/json")
        return Reply(response.code, response.body or b"", content_type, headers)

    def _unreachable(self, error: object) -> Reply:
        why = str(error) or type(error).__name__
        return error_reply(
            503,
            f"the control plane (the hub's jupyter-hybrid service at {self.url}) is unreachable: "
            f"{why[:200]}. Jobs and runs are kept there; try again in a moment, or ask your admin "
            "to check the service.",
        )


class NoControlPlane:
    """Under a hub without the jupyter-hybrid service: jobs have nowhere to live (a user server's
    control plane would stop with the server), so every request says what the admin must add."""

    async def call(self, method, path, query, body) -> Reply:
        return error_reply(
            503,
            f"jobs need the hub's jupyter-hybrid control-plane service, and ${CONTROL_URL_ENV} is not "
            "set for this server. Ask your admin to add the service (see the README, 'Control "
            "plane'; hub_config/jupyterhub_config.py does it).",
        )
