"""The control plane's hub host: the JupyterHub service `jupyter-hybrid` (service/control_plane.py)
and the user servers forwarding to it (server/forward.py).

The hub tests run the product's own hub_config/jupyterhub_config.py (its services, roles, server
token scopes and spawner environment are kept; the overlay only adds an admin service token and
groups) with a real proxy, real JupyterLab servers and real papermill runs in the service. The
others check the service's authentication against a stand-in hub API and the forwarding client
against a stand-in service, in this process.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
import psutil
import pytest
import requests
from tornado import web
from tornado.httpserver import HTTPServer

from jupyter_hybrid.server.forward import Forward, NoControlPlane, under_hub
from jupyter_hybrid.service import control_plane as cp

from .hubtools import HUB_CONFIG, ROOT, TOKEN, Hub

GROUPS = {"gpu-users": {"users": ["gina"]}}
SERVICE = "/services/jupyter-hybrid"


# -- helpers -----------------------------------------------------------------------------------


def notebook(*cells: str, params: str | None = None) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    return json.loads(json.dumps(nb))


REPORT = notebook(
    "import os\n"
    "print('n =', n)\n"
    "print('store url:', os.environ.get('JUPYTER_HYBRID_DB_URL'))\n"
    "print('hub token:', 'JUPYTERHUB_API_TOKEN' in os.environ)",
    params="n = 1",
)
TICK = notebook("import datetime\nprint('tick at', datetime.datetime.now(datetime.UTC).isoformat())")


def control_hub(workdir: Path) -> Hub:
    """A test hub on the product's config: only an admin service token and groups are added
    (hubtools' own overlay replaces the services and roles, which here are what is tested)."""
    catalog = workdir / "catalog.yaml"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text((ROOT / "hub_config" / "catalog.yaml").read_text())
    hub = Hub(workdir / "hub", catalog=catalog)
    hub.config.write_text(
        "\n".join(
            [
                f"load_subconfig({str(HUB_CONFIG)!r})",
                f"c.JupyterHub.services.append({{'name': 'e2e', 'api_token': {TOKEN!r}}})",
                "c.JupyterHub.load_roles.append({'name': 'admin', 'services': ['e2e']})",
                f"c.JupyterHub.load_groups = {GROUPS!r}",
            ]
        )
        + "\n"
    )
    return hub


class Users:
    """Calls as hub users: through their own server (forwarded) or to the service with a token."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.tokens: dict[str, str] = {}

    def token(self, user: str, scopes: list[str] | None = None) -> str:
        """An API token of ``user`` (all the user's permissions unless ``scopes`` narrows them)."""
        body = {"note": "control-plane test"} | ({"scopes": scopes} if scopes is not None else {})
        r = self.hub.api("POST", f"/users/{user}/tokens", json=body)
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def service(self, user: str | None, method: str, path: str, **kwargs) -> requests.Response:
        """The service through the proxy, with ``user``'s own token (None: no token)."""
        headers = kwargs.pop("headers", {})
        if user is not None:
            if user not in self.tokens:
                self.tokens[user] = self.token(user)
            headers["Authorization"] = f"token {self.tokens[user]}"
        url = f"{self.hub.url}{SERVICE}/api/{path}"
        return requests.request(method, url, headers=headers, timeout=60, **kwargs)

    def server(self, user: str, method: str, path: str, **kwargs) -> requests.Response:
        """``user``'s own server's /jupyter-hybrid/<path> (the admin service token may call it)."""
        url = f"{self.hub.url}/user/{user}/jupyter-hybrid/{path}"
        headers = {"Authorization": f"token {TOKEN}"}
        return requests.request(method, url, headers=headers, timeout=60, **kwargs)

    def start(self, user: str) -> None:
        self.hub.api("POST", f"/users/{user}")
        r = self.hub.api("POST", f"/users/{user}/server", json={"tier": "small"})
        assert r.status_code in (201, 202), r.text
        self.hub.wait_ready(user)

    def stop(self, user: str) -> None:
        assert self.hub.api("DELETE", f"/users/{user}/server").status_code in (202, 204)
        self.hub.wait_stopped(user)

    def put_notebook(self, user: str, path: str, nb: dict) -> None:
        r = requests.put(
            f"{self.hub.url}/user/{user}/api/contents/{path}",
            json={"type": "notebook", "format": "json", "content": nb},
            headers={"Authorization": f"token {TOKEN}"},
            timeout=60,
        )
        assert r.status_code in (200, 201), r.text


def wait_for(get, done, timeout: float = 120, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out; last: {value}"
        time.sleep(every)


def ended(run: dict) -> bool:
    return run["status"] not in ("queued", "running")


def processes(match) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if match(p.info["cmdline"] or [], p.environ()):
                found.append(p)
        except psutil.Error:
            continue
    return found


# -- the hub path ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    hub = control_hub(tmp_path_factory.mktemp("control-plane"))
    hub.start()
    yield hub
    assert hub.stop() == 0, hub.log()


@pytest.fixture(scope="module")
def users(hub):
    users = Users(hub)
    for name in ("alice", "bob", "gina"):
        assert hub.api("POST", f"/users/{name}").status_code in (201, 409)
    assert hub.api("POST", "/users/ada", json={"admin": True}).status_code in (201, 409)
    return users


@pytest.mark.hub
def test_publish_through_the_server_runs_in_the_service_and_outlives_the_server(hub, users):
    users.start("alice")
    users.put_notebook("alice", "report.ipynb", REPORT)
    users.put_notebook("alice", "tick.ipynb", TICK)

    # (a) published through her server's own endpoint, forwarded to the service as alice
    body = {"name": "report", "notebook": "report.ipynb", "schedule": "once", "parameters": {"n": 5}}
    r = users.server("alice", "POST", "jobs", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["owner"] == "alice"
    run = wait_for(lambda: users.server("alice", "GET", "jobs/report/runs").json()["runs"], lambda runs: runs)
    run = wait_for(lambda: users.server("alice", "GET", f"runs/{run[0]['id']}").json(), ended)
    assert run["status"] == "completed", run["error"]
    log = users.server("alice", "GET", f"runs/{run['id']}/log").json()
    assert "n = 5" in log["text"]
    # the run process got neither the store's URL nor a hub token
    assert "store url: None" in log["text"] and "hub token: False" in log["text"], log["text"]
    # the run's files are the service's, not the user's server's
    state = hub.workdir / "state"
    assert (state / "runs" / str(run["id"])).is_dir()
    assert not list((state / "home" / "alice").rglob("runs"))

    # a scheduled job, published while the server runs
    body = {"name": "tick", "notebook": "tick.ipynb", "schedule": "* * * * *", "timezone": "UTC"}
    r = users.server("alice", "POST", "jobs", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["next_run"]

    # (b) her server is stopped: a run now (her own API token, to the service) and the
    # scheduled run both still happen
    users.stop("alice")
    stopped_at = datetime.now().astimezone()
    r = users.service("alice", "POST", "jobs/report/runs", json={"parameters": {"n": 7}})
    assert r.status_code == 201, r.text
    manual = wait_for(lambda: users.service("alice", "GET", f"runs/{r.json()['id']}").json(), ended)
    assert manual["status"] == "completed", manual["error"]

    def scheduled_after_stop():
        runs = users.service("alice", "GET", "jobs/tick/runs").json()["runs"]
        return [
            x
            for x in runs
            if x["trigger"] == "schedule" and datetime.fromisoformat(x["due_at"]) > stopped_at and ended(x)
        ]

    tick = wait_for(scheduled_after_stop, bool, timeout=150, every=1)[0]
    assert tick["status"] == "completed", tick["error"]
    assert users.service("alice", "PATCH", "jobs/tick", json={"paused": True}).status_code == 200
    assert hub.api("GET", "/users/alice").json()["servers"] == {}, "her server stayed stopped"

    # ... and their outputs are there when her server starts again
    users.start("alice")
    for done, expected in ((manual, "n = 7"), (tick, "tick at")):
        out = users.server("alice", "GET", f"runs/{done['id']}/output", params={"format": "ipynb"})
        assert out.status_code == 200, out.text
        assert "attachment" in out.headers["Content-Disposition"]  # the service's headers, forwarded
        text = json.dumps(out.json())
        assert expected in text
    html = users.server("alice", "GET", f"runs/{manual['id']}/output", params={"format": "html"})
    assert html.status_code == 200 and "sandbox" in html.headers["Content-Security-Policy"]
    assert html.headers["Content-Type"].startswith("text/html")


@pytest.mark.hub
def test_identity_comes_from_the_hub(hub, users):
    jobs = users.service("alice", "GET", "jobs").json()["jobs"]
    if not any(j["name"] == "report" for j in jobs):  # this test alone: publish one
        body = {"name": "report", "schedule": "once", "notebook": "report.ipynb", "content": REPORT}
        r = users.service("alice", "POST", "jobs", json=body)
        assert r.status_code == 201, r.text
    run_id = users.service("alice", "GET", "jobs/report/runs").json()["runs"][0]["id"]

    # another user sees nothing of it, with his own token or through his own server
    assert users.service("bob", "GET", "jobs/report").status_code == 404
    assert users.service("bob", "GET", f"runs/{run_id}").status_code == 404
    assert users.service("bob", "GET", f"runs/{run_id}/output").status_code == 404
    assert users.service("bob", "GET", "jobs").json()["jobs"] == []
    r = users.service("bob", "GET", "jobs", params={"owner": "alice"})
    assert r.status_code == 403, r.text
    users.start("bob")
    assert users.server("bob", "GET", "jobs/report").status_code == 404
    assert users.server("bob", "GET", "jobs").json()["jobs"] == []
    users.stop("bob")

    # no token, a bad token, a token without the service's scope, a service's token
    direct = f"http://127.0.0.1:{hub.control_port}{SERVICE}/api/jobs"
    for url in (f"{hub.url}{SERVICE}/api/jobs", direct):
        r = requests.get(url, timeout=30)
        assert r.status_code == 401 and "token" in r.json()["message"], r.text
    r = users.service(None, "GET", "jobs", headers={"Authorization": "token not-a-real-token"})
    assert r.status_code == 401, r.text
    narrow = users.token("alice", scopes=["read:users!user=alice"])
    r = users.service(None, "GET", "jobs", headers={"Authorization": f"token {narrow}"})
    assert r.status_code == 403 and "access:services!service=jupyter-hybrid" in r.json()["message"]
    r = users.service(None, "GET", "jobs", headers={"Authorization": f"token {TOKEN}"})
    assert r.status_code == 403 and "service 'e2e'" in r.json()["message"], r.text

    # an admin reads everyone's, and changes only their own
    everyone = users.service("ada", "GET", "jobs").json()["jobs"]
    assert ("alice", "report") in {(j["owner"], j["name"]) for j in everyone}
    theirs = users.service("ada", "GET", "jobs", params={"owner": "alice"}).json()["jobs"]
    assert {j["owner"] for j in theirs} == {"alice"}
    assert users.service("ada", "GET", f"runs/{run_id}").json()["owner"] == "alice"
    assert users.service("ada", "POST", f"runs/{run_id}/again").status_code in (403, 404)

    # groups are the hub's: gina (gpu-users) is offered the GPU tier, alice is not
    def tiers(user):
        return {t["name"] for t in users.service(user, "GET", "publish/options").json()["tiers"]}

    assert "gpu-1" in tiers("gina") and "gpu-1" not in tiers("alice")

    # health answers without a token, with no data
    r = requests.get(f"http://127.0.0.1:{hub.control_port}/health", timeout=30)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


@pytest.mark.hub
def test_only_the_service_holds_the_store_url(hub, users):
    state = (hub.workdir / "state").resolve()
    api = f":{hub.hub_port}/"

    def is_service(cmd, env):
        return "control-plane" in cmd and api in env.get("JUPYTERHUB_API_URL", "")

    [service] = processes(is_service)
    env = service.environ()
    assert env["JUPYTER_HYBRID_DB_URL"] == f"sqlite:///{state / 'hybrid.sqlite'}"
    assert env["JUPYTERHUB_SERVICE_NAME"] == "jupyter-hybrid"

    users.start("gina")

    def is_server(cmd, env):
        return any("jupyterhub-singleuser" in c for c in cmd) and env.get("JUPYTERHUB_USER") == "gina"

    servers = [p for p in processes(is_server) if api in p.environ().get("JUPYTERHUB_API_URL", "")]
    assert servers
    for server in servers:
        env = server.environ()
        assert "JUPYTER_HYBRID_DB_URL" not in env
        assert env["JUPYTER_HYBRID_CONTROL_URL"] == f"http://127.0.0.1:{hub.control_port}{SERVICE}/"
    # its token carries the service's scope besides the default server scopes
    r = requests.get(
        f"{hub.url}/hub/api/user",
        headers={"Authorization": f"token {servers[0].environ()['JUPYTERHUB_API_TOKEN']}"},
        timeout=30,
    )
    scopes = set(r.json()["scopes"])
    assert {"access:services!service=jupyter-hybrid", "users:activity!user=gina"} <= scopes, scopes
    assert users.server("gina", "GET", "jobs").json() == {"jobs": []}
    users.stop("gina")


# -- the service's authentication, against a stand-in hub API ----------------------------------


MODELS = {
    "alice-token": {"kind": "user", "name": "alice", "admin": False, "groups": ["team"],
                    "scopes": ["access:services!service=jupyter-hybrid", "read:users:name!user=alice"]},
    "root-token": {"kind": "user", "name": "root", "admin": True, "groups": [],
                   "scopes": ["access:services"]},
    "narrow-token": {"kind": "user", "name": "alice", "admin": False, "groups": [],
                     "scopes": ["read:users:name!user=alice"]},
    "svc-token": {"kind": "service", "name": "other", "scopes": ["access:services"]},
}  # fmt: skip


class FakeHubUser(web.RequestHandler):
    def get(self):
        token = self.request.headers.get("Authorization", "").removeprefix("token ")
        if token not in MODELS:
            raise web.HTTPError(403)
        self.finish(MODELS[token])


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """A stand-in hub API on one port, the service's app on another (as the hub would start it)."""
    hub_port, port = _port(), _port()
    monkeypatch.setenv("JUPYTERHUB_API_URL", f"http://127.0.0.1:{hub_port}/hub/api")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "the-service-token")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_NAME", "jupyter-hybrid")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/services/jupyter-hybrid/")
    monkeypatch.delenv("JUPYTERHUB_OAUTH_ACCESS_SCOPES", raising=False)
    service = cp.ControlPlaneService(
        db_url=f"sqlite:///{tmp_path / 'store.sqlite'}", runs_dir=str(tmp_path / "runs")
    )
    return hub_port, service, service.hub_env()


async def test_the_service_answers_only_the_users_the_hub_vouches_for(stand_in):
    from tornado.httpclient import AsyncHTTPClient

    hub_port, service, hub = stand_in
    fake = HTTPServer(web.Application([(r"/hub/api/user", FakeHubUser)]))
    fake.listen(hub_port, "127.0.0.1")
    stopped = asyncio.Event()
    serving = asyncio.ensure_future(service.serve(hub, stopped))
    base = f"http://127.0.0.1:{hub['port']}"
    client = AsyncHTTPClient()

    async def get(path, token=None):
        headers = {"Authorization": f"token {token}"} if token else {}
        for _ in range(100):
            try:
                r = await client.fetch(base + path, headers=headers, raise_error=False)
            except ConnectionError:
                await asyncio.sleep(0.05)
                continue
            if r.code != 599:
                return r.code, json.loads(r.body) if r.body else None
            await asyncio.sleep(0.05)
        raise AssertionError("the service did not answer")

    try:
        assert await get("/health") == (200, {"status": "ok"})
        assert (await get("/services/jupyter-hybrid/health"))[0] == 200
        code, doc = await get("/services/jupyter-hybrid/api/jobs")
        assert code == 401 and "Authorization: token" in doc["message"]
        assert (await get("/services/jupyter-hybrid/api/jobs", "unknown"))[0] == 401
        code, doc = await get("/services/jupyter-hybrid/api/jobs", "narrow-token")
        assert code == 403 and "access:services!service=jupyter-hybrid" in doc["message"]
        code, doc = await get("/services/jupyter-hybrid/api/jobs", "svc-token")
        assert code == 403 and "service 'other'" in doc["message"]
        assert await get("/services/jupyter-hybrid/api/jobs", "alice-token") == (200, {"jobs": []})
        assert (await get("/services/jupyter-hybrid/api/jobs", "root-token"))[0] == 200
        code, doc = await get("/services/jupyter-hybrid/api/jobs?owner=bob", "alice-token")
        assert code == 403  # not an admin: her own objects only
        assert (await get("/services/jupyter-hybrid/api/jobs?owner=bob", "root-token"))[0] == 200
        code, doc = await get("/services/jupyter-hybrid/api/nothing", "alice-token")
        assert code == 404 and "no such endpoint" in doc["message"]
        assert (await get("/elsewhere"))[0] == 404
    finally:
        stopped.set()
        await asyncio.wait_for(serving, 30)
        fake.stop()


def test_standalone_says_what_it_needs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_hybrid.cli", "control-plane"],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "JUPYTERHUB_API_TOKEN, JUPYTERHUB_API_URL, JUPYTERHUB_SERVICE_URL are not set" in r.stderr
    assert "c.JupyterHub.services" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_hybrid.cli", "control-plane", "--run-limit", "0"],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2 and "run_limit" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_sigterm_stops_the_service_cleanly(tmp_path):
    """Run by the hub's variables only (no hub needed to start; the hub is asked per request)."""
    port = _port()
    env = dict(os.environ)
    env.update(
        JUPYTERHUB_API_URL="http://127.0.0.1:9/hub/api",
        JUPYTERHUB_API_TOKEN="t",
        JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{port}",
        JUPYTERHUB_SERVICE_NAME="jupyter-hybrid",
        JUPYTER_HYBRID_DB_URL=f"sqlite:///{tmp_path / 'store.sqlite'}",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_hybrid.cli", "control-plane", f"--runs-dir={tmp_path / 'runs'}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _health(port), bool, timeout=60, every=0.2)
        # the hub cannot be reached: a request is refused, never answered as someone
        r = requests.get(f"http://127.0.0.1:{port}{SERVICE}/api/jobs", headers={"Authorization": "token x"})
        assert r.status_code >= 500 and "Hub" in r.json()["message"]
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "control plane: stopped" in out and "Traceback" not in out, out


def _health(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok
    except requests.RequestException:
        return False


# -- the forwarding client, against a stand-in service -----------------------------------------


class Echo(web.RequestHandler):
    def _echo(self, path):
        self.set_status(201 if self.request.method == "POST" else 200)
        self.set_header("Content-Disposition", 'attachment; filename="x.ipynb"')
        self.set_header("Content-Type", "application/x-ipynb+json")
        self.finish(
            json.dumps(
                {
                    "method": self.request.method,
                    "path": path,
                    "query": {k: self.get_query_argument(k) for k in self.request.query_arguments},
                    "body": self.request.body.decode(),
                    "auth": self.request.headers.get("Authorization"),
                }
            )
        )

    get = post = patch = delete = _echo


async def test_forward_sends_the_same_request_and_returns_the_answer_unchanged():
    port = _port()
    server = HTTPServer(web.Application([(r"/services/jupyter-hybrid/api/(.*)", Echo)]))
    server.listen(port, "127.0.0.1")
    try:
        forward = Forward(f"http://127.0.0.1:{port}/services/jupyter-hybrid/", "server-token", timeout=10)
        reply = await forward.call("POST", "jobs/my job/runs", {"runs": "keep"}, b'{"parameters": {}}')
        assert reply.status == 201 and reply.content_type == "application/x-ipynb+json"
        assert reply.headers["Content-Disposition"] == 'attachment; filename="x.ipynb"'
        doc = json.loads(reply.body)
        assert doc == {
            "method": "POST",
            "path": "jobs/my job/runs",
            "query": {"runs": "keep"},
            "body": '{"parameters": {}}',
            "auth": "token server-token",
        }
        reply = await forward.call("DELETE", "jobs/x", {}, None)
        assert reply.status == 200 and json.loads(reply.body)["method"] == "DELETE"
    finally:
        server.stop()


async def test_forward_to_a_service_that_does_not_answer_is_503():
    reply = await Forward(f"http://127.0.0.1:{_port()}/services/jupyter-hybrid/", "t", timeout=5).call(
        "GET", "jobs", {}, None
    )
    assert reply.status == 503
    assert "control plane" in json.loads(reply.body)["message"]
    assert "unreachable" in json.loads(reply.body)["message"]
    reply = await NoControlPlane().call("GET", "jobs", {}, None)
    assert reply.status == 503 and "JUPYTER_HYBRID_CONTROL_URL" in json.loads(reply.body)["message"]


def test_under_hub_needs_the_hubs_token_and_user():
    assert under_hub({"JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_USER": "alice"})
    assert not under_hub({"JUPYTERHUB_USER": "alice"})
    assert not under_hub({})
