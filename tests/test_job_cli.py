"""`jupyter hybrid job ...`: real papermill runs through the command line, on a temporary local
store (the CLI's own control plane and scheduler), and over HTTP against the hub service's own
app (`<JUPYTER_HYBRID_CONTROL_URL>/api/<path>`) with a stand-in hub API vouching for the token."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from jupyter_hybrid import cli

DEFAULT_CATALOG = Path(__file__).parent.parent / "jupyter_hybrid" / "catalog" / "default.yaml"
HUB_ENV = ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_USER", "JUPYTER_HYBRID_CONTROL_URL", "JUPYTER_HYBRID_CATALOG")


def write_notebook(path: Path, *cells: str, params: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    """A temporary local store and runs dir, no hub; for subprocesses and in-process calls."""
    values = {
        "JUPYTER_HYBRID_DB_URL": f"sqlite:///{tmp_path / 'store' / 'hybrid.sqlite'}",
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),  # runs: <data dir>/jupyter_hybrid/runs
    }
    for name in HUB_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    child = {k: v for k, v in os.environ.items() if k not in HUB_ENV}
    return {**child, **values}


def job(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    """`python -m jupyter_hybrid.cli job ARGS` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "jupyter_hybrid.cli", "job", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def job_here(capsys, *args: str) -> tuple[int, str, str]:
    """The same command in this process (faster), with what it printed."""
    code = cli.main(["job", *args])
    out, err = capsys.readouterr()
    return code, out, err


def outputs_text(path: str) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


# -- real runs on the local store -------------------------------------------------------------


def test_run_wait_completes_with_parameters_converted_and_a_code_like_string_kept(tmp_path, env):
    code_like = f"__import__('pathlib').Path({str(tmp_path / 'pwned')!r}).touch()"
    nb = write_notebook(
        tmp_path / "report.ipynb",
        "print('alpha is', repr(alpha))\nprint('name is', repr(name))\nprint('sizes', sizes)",
        params="alpha = 0.5\nname = 'x'\nsizes = [1]",
    )
    done = job(
        "run", str(nb), "-p", "alpha", "2", "-p", "name", code_like, "-p", "sizes", "[1, 2, 3]",
        "--wait", "--json", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed" and result["error"] is None
    assert Path(result["output"]).is_file()
    assert result["parameters"] == {"alpha": 2.0, "name": code_like, "sizes": [1, 2, 3]}
    assert isinstance(result["parameters"]["alpha"], float)
    text = outputs_text(result["output"])
    assert "alpha is 2.0" in text  # converted to the declared float, not papermill's int
    assert f"name is {code_like!r}" in text  # injected as a string literal, never run
    assert not (tmp_path / "pwned").exists()
    assert "sizes [1, 2, 3]" in text

    listed = json.loads(job("list", "--json", env=env).stdout)["jobs"]
    assert [j["name"] for j in listed] == [result["job"]] and listed[0]["schedule"] == "once"
    assert listed[0]["last_run"]["status"] == "completed"


def test_run_raising_in_cell_3_exits_1_with_the_cell_and_delete_removes_its_runs(tmp_path, env, capsys):
    nb = write_notebook(tmp_path / "bad.ipynb", "x = 1", "y = 2", "raise ValueError('bad input data')")
    done = job("run", str(nb), "--name", "bad", "--wait", "--json", env=env)
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "failed" and result["job"] == "bad"
    assert result["error"]["cell"] == 3 and result["error"]["ename"] == "ValueError"
    assert "bad input data" in result["error"]["evalue"]
    assert Path(result["output"]).is_file()  # kept for a failed run too

    code, out, _ = job_here(capsys, "logs", str(result["run"]))
    assert code == 0 and "--- cell 3 of 3 ---" in out and "--- run failed ---" in out
    run_dir = Path(result["output"]).parent
    code, out, _ = job_here(capsys, "delete", "bad", "--delete-runs")
    assert code == 0 and "runs were deleted" in out
    assert not run_dir.exists()
    code, _, err = job_here(capsys, "logs", str(result["run"]))
    assert code == 1 and f"you have no run {result['run']}" in err


def test_create_list_runs_pause_resume_delete_against_a_temporary_store(tmp_path, env, capsys):
    nb = write_notebook(tmp_path / "nightly.ipynb", "print(alpha)", params="alpha = 0.5")
    created = job(
        "create", str(nb), "--name", "nightly", "--schedule", "0 6 * * 1-5", "--tz", "Europe/Paris",
        "-p", "alpha", "3", "--retries", "2", "--backoff", "5", "--concurrency", "2",
        "--misfire", "skip", "--webhook", "https://hooks.example.com/jobs", "--json", env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    spec = json.loads(created.stdout)
    assert spec["name"] == "nightly" and spec["notebook"] == "nightly.ipynb"
    assert spec["schedule_text"] == "At 06:00, Monday through Friday (Europe/Paris)"
    assert spec["parameters"] == {"alpha": 3.0} and spec["retry"]["attempts"] == 2
    assert spec["retry"]["backoff"] == 5 and spec["concurrency"] == 2 and spec["misfire"] == "skip"
    assert spec["webhook"] == "https://hooks.example.com/jobs" and spec["next_run"] is not None

    code, _, err = job_here(capsys, "create", str(nb), "--name", "nightly", "--schedule", "@daily")
    assert code == 1 and "already have a job named 'nightly'" in err

    listed = json.loads(job("list", "--json", env=env).stdout)["jobs"]
    assert [(j["name"], j["paused"]) for j in listed] == [("nightly", False)]
    code, text, _ = job_here(capsys, "list")
    assert code == 0 and "nightly" in text and "At 06:00, Monday through Friday (Europe/Paris)" in text
    runs = job("runs", "nightly", "--json", env=env)
    assert runs.returncode == 0 and json.loads(runs.stdout) == {"runs": []}

    paused = job("pause", "nightly", "--json", env=env)
    assert paused.returncode == 0 and json.loads(paused.stdout)["paused"] is True
    assert json.loads(paused.stdout)["next_run"] is None
    resumed = job("resume", "nightly", env=env)
    assert resumed.returncode == 0 and resumed.stdout.startswith("resumed job 'nightly'; next run ")

    deleted = job("delete", "nightly", env=env)
    assert deleted.returncode == 0 and "runs were kept" in deleted.stdout
    assert json.loads(job("list", "--json", env=env).stdout) == {"jobs": []}
    missing = job("runs", "nightly", env=env)
    assert missing.returncode == 1 and "you have no job named 'nightly'" in missing.stderr


def _lines(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _read_until(lines: queue.Queue, text: str, timeout: float) -> str:
    seen, deadline = "", time.monotonic() + timeout
    while text not in seen:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        if line is None:
            break
        seen += line
    return seen


def test_logs_follow_streams_a_running_run_until_it_ends(tmp_path, env, capsys):
    gate = tmp_path / "gate"
    nb = write_notebook(
        tmp_path / "gated.ipynb",
        "print('first line', flush=True)",
        "import os, time\nwhile not os.path.exists(gate):\n    time.sleep(0.1)\nprint('second line')",
        params="gate = ''",
    )
    runner = subprocess.Popen(
        [sys.executable, "-m", "jupyter_hybrid.cli", "job", "run", str(nb), "--name", "gated",
         "-p", "gate", str(gate), "--wait", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    follower = None
    try:
        deadline = time.monotonic() + 60
        runs: list = []
        while not runs and time.monotonic() < deadline:
            code, out, _ = job_here(capsys, "runs", "gated", "--json")
            runs = json.loads(out)["runs"] if code == 0 else []
            time.sleep(0.2)
        assert runs, "the run was never queued"
        follower = subprocess.Popen(
            [sys.executable, "-m", "jupyter_hybrid.cli", "job", "logs", str(runs[0]["id"]), "--follow"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lines = _lines(follower.stdout)
        seen = _read_until(lines, "first line", 90)
        assert "first line" in seen and "--- cell 2 of 3 ---" not in seen.split("first line")[0]
        assert follower.poll() is None  # still following: the run waits at the gate
        code, out, _ = job_here(capsys, "runs", "gated", "--json")
        assert json.loads(out)["runs"][0]["status"] == "running"
        gate.touch()
        seen += _read_until(lines, "--- run completed ---", 90)
        assert follower.wait(30) == 0
        assert "second line" in seen and seen.rstrip().endswith("--- run completed ---")
        out, err = runner.communicate(timeout=60)
        assert runner.returncode == 0, err
        assert json.loads(out)["status"] == "completed"
    finally:
        for proc in (runner, follower):
            if proc is not None and proc.poll() is None:
                proc.kill()


# -- bad input: exit 2, one line, nothing created -----------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.ipynb"], "missing.ipynb: no such file"),
        (["run", "notes.txt"], "notes.txt: not a notebook (.ipynb)"),
        (["run", "broken.ipynb"], "broken.ipynb: the notebook is not valid nbformat"),
        (["run", "p.ipynb", "-p", "alpha", "high"], "parameter 'alpha': 'high' is not a float value"),
        (["run", "p.ipynb", "-p", "beta", "1"], "'beta' is not declared in the notebook's parameters cell"),
        (["run", "p.ipynb", "-p", "a\nimport os", "1"], "is not a Python identifier"),
        (["run", "p.ipynb", "--tier", "huge"], "tier 'huge' is not in the catalog"),
        (["create", "p.ipynb", "--name", "x", "--schedule", "@reboot"], "'@reboot' is not supported"),
        (["create", "p.ipynb", "--name", "x", "--schedule", "61 * * * *"], "not a valid cron"),
        (["create", "p.ipynb", "--name", "x", "--schedule", "* * * * * *"], "6 fields, not 5"),
        (["create", "p.ipynb", "--name", "x", "--schedule", "@daily", "--tz", "Mars/Olympus"], "unknown"),
        (["create", "p.ipynb", "--name", "x", "--schedule", "@daily", "--webhook", "ftp://h/x"], "http(s)"),
        (["create", "p.ipynb", "--name", "bad/name", "--schedule", "@daily"], "name:"),
        (["run-now", "nothing", "-p", "alpha", "1"], None),  # 404: exit 1, below
    ],
)
def test_bad_input_is_one_line_on_stderr_exit_2_and_nothing_is_created(tmp_path, env, capsys, args, message):
    write_notebook(tmp_path / "p.ipynb", "print(alpha)", params="alpha = 0.5")
    (tmp_path / "notes.txt").write_text("not a notebook")
    (tmp_path / "broken.ipynb").write_text('{"cells": 3}')
    code, out, err = job_here(capsys, *args)
    if message is None:
        assert code == 1 and "you have no job named 'nothing'" in err
    else:
        assert code == 2, (out, err)
        assert message in err and err.count("\n") == 1 and err.startswith(f"jupyter hybrid job {args[0]}: ")
    assert out == ""
    assert job_here(capsys, "list", "--json")[1] == '{\n  "jobs": []\n}\n'
    assert not (tmp_path / "data" / "jupyter_hybrid" / "runs").exists() or not any(
        (tmp_path / "data" / "jupyter_hybrid" / "runs").iterdir()
    )


def test_bad_input_exit_2_from_the_installed_command(tmp_path, env):
    done = job("run", str(tmp_path / "nope.ipynb"), "--wait", "--json", env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"jupyter hybrid job run: {tmp_path / 'nope.ipynb'}: no such file\n"


# -- inside a hub user's server: the same commands over HTTP --------------------------------------

PREFIX = "/services/jupyter-hybrid/"
USERS = {  # what the stand-in hub says about each token
    "tok-alice": {"kind": "user", "name": "alice", "admin": False, "groups": [],
                  "scopes": ["access:services!service=jupyter-hybrid"]},
}  # fmt: skip


class _HubUser(web.RequestHandler):
    """The hub's GET /hub/api/user: who the token in the Authorization header belongs to."""

    def initialize(self, seen: list[str]):
        self.seen = seen

    def get(self):
        auth = self.request.headers.get("Authorization", "")
        self.seen.append(auth)
        model = USERS.get(auth.removeprefix("token ")) if auth.startswith("token ") else None
        if model is None:
            raise web.HTTPError(403)
        self.finish(model)


class _Hub:
    """The hub's control-plane service (service/control_plane.py's own app: HubAuth, then
    dispatch as the token's user, with its scheduler) and a stand-in hub API vouching for
    tokens, served from a thread."""

    def __init__(self, tmp_path: Path, monkeypatch):
        from jupyter_hybrid.service.control_plane import ControlPlaneService

        self.hub_sock, hub_port = bind_unused_port()
        self.sock, self.port = bind_unused_port()
        monkeypatch.setenv("JUPYTERHUB_API_URL", f"http://127.0.0.1:{hub_port}/hub/api")
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "the-service-token")  # the service's own
        self.service = ControlPlaneService(
            db_url=f"sqlite:///{tmp_path / 'hub' / 'hub.sqlite'}",
            runs_dir=str(tmp_path / "hub" / "runs"),
            catalog_file=str(DEFAULT_CATALOG),
        )
        self.seen: list[str] = []
        self.url = f"http://127.0.0.1:{self.port}{PREFIX}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _start(self) -> None:
        self.plane, self.scheduler = self.service.make_plane()
        hub = {"name": "jupyter-hybrid", "prefix": PREFIX, "host": "127.0.0.1", "port": str(self.port)}
        self.server = HTTPServer(self.service.make_app(self.plane, hub, self.scheduler))
        self.server.add_sockets([self.sock])
        self.hub_api = HTTPServer(web.Application([(r"/hub/api/user", _HubUser, {"seen": self.seen})]))
        self.hub_api.add_sockets([self.hub_sock])
        self.scheduler.start()

    async def _stop(self) -> None:
        self.server.stop()
        self.hub_api.stop()
        await self.scheduler.stop()

    def __enter__(self) -> _Hub:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_inside_a_hub_server_the_commands_talk_to_the_hubs_control_plane(tmp_path, env, monkeypatch):
    nb = write_notebook(tmp_path / "remote.ipynb", "print('alpha is', repr(alpha))", params="alpha = 0.5")
    local_store = tmp_path / "store" / "hybrid.sqlite"
    with _Hub(tmp_path, monkeypatch) as hub:
        hub_env = {**env, "JUPYTERHUB_API_TOKEN": "tok-alice", "JUPYTER_HYBRID_CONTROL_URL": hub.url}
        created = job("create", str(nb), "--name", "weekly", "--schedule", "@weekly", "--json", env=hub_env)
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["owner"] == "alice"  # the token's user, not this process's
        listed = json.loads(job("list", "--json", env=hub_env).stdout)["jobs"]
        assert [(j["name"], j["owner"]) for j in listed] == [("weekly", "alice")]
        assert [j.name for j in hub.plane.jobs.list("alice")] == ["weekly"]
        paused = job("pause", "weekly", "--json", env=hub_env)
        assert paused.returncode == 0 and json.loads(paused.stdout)["paused"] is True

        done = job("run", str(nb), "--name", "remote", "-p", "alpha", "2", "--wait", "--json", env=hub_env)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["status"] == "completed" and result["parameters"] == {"alpha": 2.0}
        # the output lives with the hub's control plane: downloaded next to the notebook
        assert result["output"] == str(tmp_path / f"remote.run-{result['run']}.ipynb")
        assert "alpha is 2.0" in outputs_text(result["output"])
        logs = job("logs", str(result["run"]), "--follow", env=hub_env)
        assert logs.returncode == 0 and "alpha is 2.0" in logs.stdout
        assert logs.stdout.endswith("--- run completed ---\n")
        runs = json.loads(job("runs", "remote", "--json", env=hub_env).stdout)["runs"]
        assert [r["status"] for r in runs] == ["completed"]

        bad = job("run", str(nb), "-p", "alpha", "high", env=hub_env)
        assert bad.returncode == 2 and "'high' is not a float value" in bad.stderr
        deleted = job("delete", "weekly", "--delete-runs", env=hub_env)
        assert deleted.returncode == 0, deleted.stderr

        wrong = job("list", env={**hub_env, "JUPYTERHUB_API_TOKEN": "tok-mallory"})
        assert wrong.returncode == 1
        assert wrong.stderr.startswith("jupyter hybrid job list: the hub does not know this token")
        assert wrong.stderr.count("\n") == 1

    assert hub.seen and set(hub.seen) == {"token tok-alice", "token tok-mallory"}
    assert hub.seen[-1] == "token tok-mallory"
    assert [j.name for j in hub.plane.jobs.list("alice")] == ["remote"]
    assert not local_store.exists()  # the local store was never opened


def test_a_hub_server_without_the_control_plane_says_so(tmp_path, env, capsys, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "tok-alice")
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    code, out, err = job_here(capsys, "list")
    assert code == 1 and out == "" and "has no $JUPYTER_HYBRID_CONTROL_URL" in err
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN")
    monkeypatch.setenv("JUPYTER_HYBRID_CONTROL_URL", "http://127.0.0.1:9/")
    code, out, err = job_here(capsys, "list")
    assert code == 2 and "$JUPYTERHUB_API_TOKEN is not" in err
