"""Run the real demo hub (hub_config/jupyterhub_config.py + configurable-http-proxy) in tests.

Each hub gets free ports (new ones on a retry when another process took one meanwhile), its own
state folder and an overlay config that adds what tests need (an admin service token, groups) on
top of the product's own config file.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import requests

from .nettools import PORT_ATTEMPTS, PortConflict, free_port, is_port_conflict

__all__ = ["HUB_CONFIG", "PASSWORD", "ROOT", "TOKEN", "Hub", "free_port", "xsrf_from"]

ROOT = Path(__file__).resolve().parent.parent
HUB_CONFIG = ROOT / "hub_config" / "jupyterhub_config.py"
PASSWORD = "e2e-password-123"
TOKEN = "e2e-admin-token-0123456789abcdef"


class Hub:
    def __init__(
        self,
        workdir: Path,
        catalog: Path | None = None,
        groups: dict | None = None,
        extra_config: str = "",
        spawner: str | None = None,
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._pick_ports()
        self.catalog = catalog
        overlay = [
            f"load_subconfig({str(HUB_CONFIG)!r})",
            f"c.JupyterHub.services = [{{'name': 'e2e', 'api_token': {TOKEN!r}}}]",
            "c.JupyterHub.load_roles = [{'name': 'admin', 'services': ['e2e']}]",
            f"c.JupyterHub.load_groups = {groups or {}!r}",
        ]
        if spawner:  # e.g. the anchor spawner in benchmarks
            overlay.append(f"c.JupyterHub.spawner_class = {spawner!r}")
        overlay.append(extra_config)
        self.config = self.workdir / "jupyterhub_test_config.py"
        self.config.write_text("\n".join(overlay) + "\n")
        self.log_path = self.workdir / "hub.log"
        self.proc: subprocess.Popen | None = None

    def _pick_ports(self) -> None:
        self.port, self.hub_port, self.api_port = free_port(), free_port(), free_port()
        self.control_port = free_port()  # the jupyter-hybrid control-plane service
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            JUPYTER_HYBRID_DEMO_PASSWORD=PASSWORD,
            JUPYTER_HYBRID_STATE_DIR=str(self.workdir / "state"),
            JUPYTER_HYBRID_PORT=str(self.port),
            JUPYTER_HYBRID_HUB_PORT=str(self.hub_port),
            JUPYTER_HYBRID_PROXY_API_PORT=str(self.api_port),
            JUPYTER_HYBRID_CONTROL_PORT=str(self.control_port),
        )
        if self.catalog:
            env["JUPYTER_HYBRID_CATALOG"] = str(self.catalog)
        return env

    def start(self, timeout: float = 60) -> Hub:
        """Start the hub and wait until its API answers; a port taken meanwhile: new ports, again."""
        for attempt in range(PORT_ATTEMPTS):
            if attempt:
                self._pick_ports()
            try:
                return self._start(timeout)
            except PortConflict:
                if attempt == PORT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> Hub:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(self.config)],
            cwd=self.workdir,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                this_run = self.log_path.read_bytes()[offset:].decode(errors="replace")
                if is_port_conflict(this_run):
                    raise PortConflict(f"hub ports taken meanwhile:\n{this_run[-3000:]}")
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).ok:
                    return self
            except requests.RequestException:  # not up yet (or a stranger holds the port)
                pass
            time.sleep(0.2)
        raise TimeoutError(f"hub did not answer in {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM the hub (it stops its servers unless cleanup_servers is off) and the proxy."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    # --- REST -----------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {TOKEN}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(
            f"{self.url}{path}", headers={"Authorization": f"token {TOKEN}"}, timeout=30, **kwargs
        )

    def wait_ready(self, user: str, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{user}").json()
            server = model["servers"].get("")
            if server and server["ready"]:
                return server
            time.sleep(0.2)
        raise TimeoutError(f"{user}'s server not ready in {timeout}s:\n{self.log()}")

    def wait_stopped(self, user: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.api("GET", f"/users/{user}").json()["servers"]:
                return
            time.sleep(0.2)
        raise TimeoutError(f"{user}'s server did not stop in {timeout}s")

    def login(self, user: str) -> requests.Session:
        """A browser-like session logged in through the login form (with its XSRF token)."""
        s = requests.Session()
        s.get(f"{self.url}/hub/login", timeout=30)
        r = s.post(
            f"{self.url}/hub/login",
            data={"username": user, "password": PASSWORD, "_xsrf": s.cookies.get("_xsrf", "")},
            timeout=30,
        )
        r.raise_for_status()
        return s


def xsrf_from(html: str) -> str:
    """The XSRF token JupyterHub puts in the spawn form's action URL (or a hidden field)."""
    match = re.search(r'[?&;]_xsrf=([^"&]+)', html) or re.search(r'name="_xsrf" value="([^"]+)"', html)
    return unquote(match.group(1)) if match else ""
