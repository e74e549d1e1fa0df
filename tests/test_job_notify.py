"""Job webhooks against real local HTTP servers: delivered once, retried on 5xx/429 within the
deadline, not retried on 4xx, redirects not followed, a silent server timed out, bodies read only
to a limit; the payload names parameters but never their values, and holds no secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from jupyter_hybrid import __version__
from jupyter_hybrid.control.views import job_view, run_view
from jupyter_hybrid.jobs import notify
from jupyter_hybrid.jobs.model import JobSpec
from jupyter_hybrid.store.job_tables import Job, Run

from .nettools import free_port

TOKEN = "T0KEN-in-the-path-8f3a"


class Hook:
    """A webhook receiver on a port of its own: answers with `codes` in turn (the last repeats)."""

    def __init__(self, *codes: int, headers: dict | None = None, body: bytes = b"ok"):
        self.codes, self.headers, self.body = list(codes), headers or {}, body
        self.requests: list[tuple[dict, bytes]] = []
        hook = self

        class Handler(RequestHandler):
            def post(self, *args):
                hook.requests.append((dict(self.request.headers), self.request.body))
                code = hook.codes.pop(0) if len(hook.codes) > 1 else hook.codes[0]
                self.set_status(code)
                for k, v in hook.headers.items():
                    self.set_header(k, v)
                self.write(hook.body)

        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.server = HTTPServer(Application([(r"/.*", Handler)]))
        self.server.add_sockets(sockets)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{TOKEN}"

    def close(self) -> None:
        self.server.stop()


def _job_and_run(status="failed", error=None, attempt=1, retries=2, parameters=None):
    spec = JobSpec(
        name="nightly report",
        notebook="reports/nightly.ipynb",
        schedule="0 6 * * 1-5",
        timezone="Europe/Paris",
        parameters={"alpha": 0.5, "password": "default-pass-xyz"},
        retry={"attempts": retries},
        webhook=f"https://hooks.example.com/services/{TOKEN}",
        notify_on=("failure", "success"),
    )
    job = Job(id=1, owner="alice", name=spec.name, spec=spec.model_dump(mode="json"), version=3,
              paused=False, next_due=None, created_at=datetime(2026, 12, 1, tzinfo=UTC))  # fmt: skip
    started = datetime(2026, 12, 5, 5, 0, 1, tzinfo=UTC)
    run = Run(id=42, job_id=1, owner="alice", job_name=spec.name, version=3, attempt=attempt,
              retry_of=None, status=status, trigger="schedule",
              parameters=parameters if parameters is not None else {"alpha": 0.5},
              due_at=started - timedelta(seconds=1), queued_at=started, started_at=started,
              ended_at=started + timedelta(seconds=12.5), tier="cpu-small", environment="py312",
              site="local", snapshot_id="ab12", output=None, error=error, waiting=None)  # fmt: skip
    return run_view(run), job_view(job)


ERROR = {
    "cell": 3,
    "exec_count": 3,
    "ename": "ValueError",
    "evalue": "bad credentials",
    "traceback": "ValueError  Traceback\nCell In[3], line 1\n----> 1 raise ValueError('bad')\n",
    "message": "cell 3 raised ValueError: bad credentials",
}


# -- the payload --------------------------------------------------------------------------------


def test_a_failed_run_s_payload_names_the_job_the_run_and_the_error():
    run, job = _job_and_run(error=ERROR)
    doc = notify.payload(run, job, "run.failed")
    assert doc["schema_version"] == notify.SCHEMA_VERSION == 1
    assert doc["event"] == "run.failed"
    assert doc["job"] == {
        "name": "nightly report",
        "owner": "alice",
        "notebook": "reports/nightly.ipynb",
        "version": 3,
        "schedule": "0 6 * * 1-5",
        "timezone": "Europe/Paris",
        "schedule_text": job["schedule_text"],
    }
    r = doc["run"]
    assert (r["id"], r["attempt"], r["status"], r["trigger"]) == (42, 1, "failed", "schedule")
    assert r["will_retry"] is True  # attempt 1 of a job with 2 retries
    assert r["started_at"] == "2026-12-05T05:00:01+00:00"
    assert r["ended_at"] == "2026-12-05T05:00:13.500000+00:00"
    assert r["duration"] == 12.5
    assert (r["tier"], r["environment"], r["site"]) == ("cpu-small", "py312", "local")
    assert r["parameter_names"] == ["alpha"]
    assert doc["error"]["cell"] == 3
    assert doc["error"]["ename"] == "ValueError"
    assert doc["error"]["evalue"] == "bad credentials"
    assert doc["error"]["message"] == "cell 3 raised ValueError: bad credentials"
    assert doc["error"]["traceback_truncated"] is False
    assert doc["links"] == {"run": "runs/42", "log": "runs/42/log", "output": None}
    assert doc["text"] == (
        'Job "nightly report" run 42 failed (attempt 1): cell 3 raised ValueError: bad credentials; '
        "it will be retried"
    )
    json.dumps(doc, allow_nan=False)  # JSON-ready


def test_a_completed_run_has_no_error_and_a_last_attempt_no_retry():
    run, job = _job_and_run(status="completed", error=None)
    doc = notify.payload(run, job, "run.completed", base_url="https://hub.example.com/api/")
    assert doc["error"] is None and doc["run"]["will_retry"] is False
    assert doc["text"] == 'Job "nightly report" run 42 completed in 12.5 s'
    assert doc["links"]["run"] == "https://hub.example.com/api/runs/42"
    run, job = _job_and_run(error=ERROR, attempt=3, retries=2)
    assert notify.payload(run, job, "run.failed")["run"]["will_retry"] is False
    with pytest.raises(ValueError):
        notify.payload(run, job, "run.exploded")


def _keys(doc, path=""):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield f"{path}.{k}"
            yield from _keys(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for v in doc:
            yield from _keys(v, path)


def test_the_payload_holds_no_secrets_and_no_parameter_values():
    secret = "hunter2-sup3r-secret"
    params = {"password": secret, "alpha": 2.0, "nested": {"k": ["deep-s3cret-value"]}, "n": None}
    error = {
        **ERROR,
        "evalue": f"login failed for {secret!r}",
        "message": f"cell 3 raised ValueError: login failed for {secret!r}",
        "traceback": f"KeyError: 'deep-s3cret-value'\nValueError: login failed for {secret}",
    }
    run, job = _job_and_run(error=error, parameters=params)
    doc = notify.payload(run, job, "run.failed")
    text = json.dumps(doc)
    for value in (secret, "deep-s3cret-value", "default-pass-xyz", TOKEN, "hooks.example.com"):
        assert value not in text
    assert doc["run"]["parameter_names"] == ["alpha", "n", "nested", "password"]
    assert "[parameter password]" in doc["error"]["evalue"]
    assert "[parameter nested]" in doc["error"]["traceback"]
    assert "[parameter password]" in doc["text"]
    suspicious = re.compile(r"token|secret|passw|credential|auth|cookie|store|webhook|url|\.parameters$")
    assert not [k for k in _keys(doc) if suspicious.search(k)]


def test_a_long_traceback_is_cut_keeping_its_start_and_its_end():
    lines = [f"  frame {i}: {'x' * 60}" for i in range(2000)]
    tb = "Traceback (most recent call last):\n" + "\n".join(lines) + "\nZeroDivisionError: division by zero"
    run, job = _job_and_run(error={**ERROR, "traceback": tb, "evalue": "é" * 5000})
    doc = notify.payload(run, job, "run.failed")
    kept = doc["error"]["traceback"]
    assert len(kept.encode()) <= notify.TRACEBACK_LIMIT
    assert doc["error"]["traceback_truncated"] is True
    assert kept.startswith("Traceback (most recent call last):")
    assert kept.endswith("ZeroDivisionError: division by zero")
    assert "bytes cut" in kept
    assert len(doc["error"]["evalue"].encode()) <= notify.TEXT_LIMIT
    assert len(json.dumps(doc).encode()) < 3 * notify.TRACEBACK_LIMIT


# -- delivery -----------------------------------------------------------------------------------


@pytest.fixture
def log():
    return logging.getLogger("test_job_notify")


def _warnings(caplog):
    ours = ("test_job_notify", notify.__name__)
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name in ours]


async def test_delivered_once_on_200_as_json_with_our_user_agent(caplog, log):
    hook = Hook(200)
    doc = notify.payload(*_job_and_run(error=ERROR), "run.failed")
    try:
        result = await notify.send(hook.url, doc, log=log)
    finally:
        hook.close()
    assert result.delivered and result.status == 200 and result.attempts == 1 and result.reason == ""
    assert len(hook.requests) == 1
    headers, body = hook.requests[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"jupyter-hybrid/{__version__}"
    assert json.loads(body) == doc
    assert not _warnings(caplog)


async def test_retried_on_500_then_delivered(caplog, log):
    hook = Hook(500, 200)
    try:
        with caplog.at_level(logging.WARNING):
            result = await notify.send(hook.url, {"a": 1}, attempts=3, backoff=0.05, log=log)
    finally:
        hook.close()
    assert result.delivered and result.attempts == 2 and len(hook.requests) == 2
    (line,) = _warnings(caplog)
    assert "try 1 of 3 failed: HTTP 500" in line and "retrying in 0.05 s" in line
    assert "\n" not in line
    assert TOKEN not in line and f"'http://127.0.0.1:{hook.port}/…'" in line  # the origin only


async def test_gives_up_after_attempts_on_persistent_500_within_the_deadline(caplog, log):
    hook = Hook(503, body=b"down\nfor maintenance " * 50)
    started = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING):
            result = await notify.send(hook.url, {"a": 1}, timeout=2, attempts=3, backoff=0.05, log=log)
    finally:
        hook.close()
    took = time.monotonic() - started
    assert not result.delivered and result.status == 503 and result.attempts == 3
    assert len(hook.requests) == 3
    assert took < 0.05 + 0.1 + 2  # the backoffs and well under one timeout
    lines = _warnings(caplog)
    assert len(lines) == 3 and "giving up" in lines[-1]
    assert all("\n" not in line and len(line) < 400 for line in lines)
    assert "HTTP 503; it said 'down\\nfor maintenance" in result.reason


async def test_not_retried_on_400(caplog, log):
    hook = Hook(400, body=b'{"error": "bad payload"}')
    try:
        with caplog.at_level(logging.WARNING):
            result = await notify.send(hook.url, {"a": 1}, backoff=0.01, log=log)
    finally:
        hook.close()
    assert not result.delivered and result.status == 400 and result.attempts == 1
    assert len(hook.requests) == 1
    (line,) = _warnings(caplog)
    assert "HTTP 400" in line and "not retried" in line and "bad payload" in line


async def test_429_waits_its_retry_after_but_never_past_the_deadline(log):
    hook = Hook(429, 200, headers={"Retry-After": "0"})
    try:
        result = await notify.send(hook.url, {"a": 1}, backoff=0.01, log=log)
        assert result.delivered and result.attempts == 2
        hook.codes, hook.headers = [429], {"Retry-After": "3600"}
        started = time.monotonic()
        result = await notify.send(hook.url, {"a": 1}, timeout=1, backoff=0.01, log=log)
        assert time.monotonic() - started < 1
    finally:
        hook.close()
    assert not result.delivered and result.status == 429 and result.attempts == 1


async def test_a_server_that_never_answers_is_timed_out_within_the_bound(log):
    accepted = []

    async def silent(reader, writer):
        accepted.append(writer)
        await reader.read(1 << 20)  # read the request, never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = time.monotonic()
    try:
        result = await notify.send(
            f"http://127.0.0.1:{port}/hook", {"a": 1}, timeout=0.3, attempts=2, backoff=0.05, log=log
        )
    finally:
        for writer in accepted:
            writer.close()
        server.close()
    took = time.monotonic() - started
    assert not result.delivered and result.status is None and result.attempts == 2
    assert "Timeout" in result.reason
    assert 0.6 <= took < 0.3 * 2 + 0.05 + 0.5
    # and the deadline bounds everything, whatever the tries would have taken
    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = time.monotonic()
    try:
        result = await notify.send(f"http://127.0.0.1:{port}/", {}, timeout=5, deadline=0.4, log=log)
    finally:
        for writer in accepted:
            writer.close()
        server.close()
    assert time.monotonic() - started < 1.0 and not result.delivered and result.attempts == 1


async def test_connection_refused_is_retried_and_reported(caplog, log):
    url = f"http://127.0.0.1:{free_port()}/hook"
    with caplog.at_level(logging.WARNING):
        result = await notify.send(url, {"a": 1}, attempts=2, backoff=0.01, log=log)
    assert not result.delivered and result.status is None and result.attempts == 2
    assert "ConnectionRefusedError" in result.reason
    assert len(_warnings(caplog)) == 2


async def test_redirects_are_not_followed(log):
    target = Hook(200)
    hook = Hook(307, headers={"Location": target.url})
    try:
        result = await notify.send(hook.url, {"a": 1}, backoff=0.01, log=log)
        hook.headers = {"Location": "file:///etc/passwd"}
        hook.codes = [302]
        other = await notify.send(hook.url, {"a": 1}, backoff=0.01, log=log)
    finally:
        hook.close()
        target.close()
    assert not result.delivered and result.status == 307 and result.attempts == 1
    assert "redirects are not followed" in result.reason
    assert not other.delivered and other.attempts == 1
    assert target.requests == []


async def test_a_huge_response_is_not_read_past_the_limit(log):
    hook = Hook(200, body=b"x" * (20 * 1024 * 1024))
    try:
        result = await notify.send(hook.url, {"a": 1}, log=log)
        hook.codes = [500]
        failed = await notify.send(hook.url, {"a": 1}, attempts=1, log=log)
    finally:
        hook.close()
    assert result.delivered and result.status == 200 and result.attempts == 1
    assert not failed.delivered and failed.status == 500 and len(failed.reason) < 200


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/hook",
        "javascript:alert(1)",
        "http://user:pw@example.com/hook",
        "http:///no-host",
        "http://example.com/a\r\nX-Injected: 1",
        "http://example.com:99999/hook",
        "",
        None,
    ],
)
async def test_anything_but_http_s_is_refused_without_a_request(url, caplog, log):
    with caplog.at_level(logging.WARNING):
        result = await notify.send(url, {"a": 1}, log=log)
    assert not result.delivered and result.attempts == 0 and result.status is None
    (line,) = _warnings(caplog)
    assert "not sent" in line and "\n" not in line and "pw@" not in line


async def test_a_payload_that_is_not_json_is_reported_not_raised(log):
    hook = Hook(200)
    try:
        result = await notify.send(hook.url, {"when": datetime.now(UTC), "x": float("nan")}, log=log)
    finally:
        hook.close()
    assert not result.delivered and "not JSON" in result.reason and hook.requests == []
