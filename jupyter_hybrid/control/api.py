"""The control plane's REST API, independent of its host: a path, a method, a Caller and a body in;
a status and a body out. The server extension (plain lab), the hub service and the CLI's local
mode all answer through `dispatch`, so the API is the same wherever the control plane runs.

Paths (relative to the host's prefix) are listed in README ("Jobs REST API").
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from tornado import web

from ..jobs.model import JobError
from ..quote import quote
from ..server.errors import MAX_BODY_BYTES, read_json
from ..store.errors import NotFound
from .identity import Caller
from .plane import ControlPlane


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(doc: object, status: int = 200) -> Reply:
    return Reply(status, json.dumps(doc).encode())


def error_reply(status: int, message: str) -> Reply:
    return _json({"message": message}, status)


ERRORS = [  # first match wins: most specific first
    (web.HTTPError, None),
    (NotFound, 404),
    (FileNotFoundError, 404),
    (PermissionError, 403),
    (FileExistsError, 409),
    (JobError, 400),
    (ValueError, 400),
]


def _run_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise JobError(f"run id {quote(text)} is not a number")
    return int(text)


def _offset(query: dict[str, str]) -> int:
    text = query.get("offset", "0") or "0"
    if not text.isdigit() or len(text) > 18:
        raise JobError(f"offset {quote(text)} must be a byte offset (0 or more)")
    return int(text)


def _keep_runs(query: dict[str, str]) -> bool:
    choice = query.get("runs", "keep")
    if choice not in ("keep", "delete"):
        raise JobError(f"runs={quote(choice)}: say runs=keep (keep the history) or runs=delete")
    return choice == "keep"


def _object(doc: object) -> dict:
    if not isinstance(doc, dict):
        raise JobError(f"send a JSON object, got {quote(doc)}")
    return doc


def _output(plane: ControlPlane, caller: Caller, run_id: int, fmt: str) -> Reply:
    if fmt not in ("ipynb", "html"):
        raise JobError(f"format={quote(fmt)}: use format=ipynb or format=html")
    from ..jobs import output

    run, path = plane.output_path(caller, run_id)
    name = output.download_name(run["job"], run_id, fmt)
    if fmt == "ipynb":
        return Reply(200, output.as_ipynb(path), "application/x-ipynb+json",
                     {"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
    headers = {"Content-Disposition": f'inline; filename="{name}"', **output.HTML_HEADERS}
    return Reply(200, output.as_html(path), "text/html; charset=utf-8", headers)


Handler = Callable[[ControlPlane, Caller, "_Unquoted", dict[str, str], object], object]

ROUTES: list[tuple[str, re.Pattern, Handler]] = [
    (m, re.compile(p), h)
    for m, p, h in [
        ("GET", r"jobs", lambda pl, c, m, q, b: pl.list_jobs(c, q.get("owner"))),
        ("POST", r"jobs", lambda pl, c, m, q, b: (201, pl.create_job(c, b))),
        ("GET", r"jobs/([^/]+)", lambda pl, c, m, q, b: pl.get_job(c, m[1], q.get("owner"))),
        ("PATCH", r"jobs/([^/]+)", lambda pl, c, m, q, b: pl.set_paused(c, m[1], _object(b).get("paused"))),
        ("DELETE", r"jobs/([^/]+)", lambda pl, c, m, q, b: (204, pl.delete_job(c, m[1], _keep_runs(q)))),
        ("POST", r"jobs/([^/]+)/versions",
         lambda pl, c, m, q, b: (201, pl.publish_version(c, m[1], _object(b).get("content")))),
        ("GET", r"jobs/([^/]+)/runs", lambda pl, c, m, q, b: pl.list_runs(c, m[1], q.get("owner"))),
        ("POST", r"jobs/([^/]+)/runs",
         lambda pl, c, m, q, b: (201, pl.run_now(c, m[1], _object(b).get("parameters")))),
        ("GET", r"runs", lambda pl, c, m, q, b: pl.list_runs(c, None, q.get("owner"))),
        ("GET", r"runs/([^/]+)", lambda pl, c, m, q, b: pl.get_run(c, _run_id(m[1]))),
        ("POST", r"runs/([^/]+)/cancel", lambda pl, c, m, q, b: pl.cancel_run(c, _run_id(m[1]))),
        ("POST", r"runs/([^/]+)/again", lambda pl, c, m, q, b: (201, pl.run_again(c, _run_id(m[1])))),
        ("GET", r"runs/([^/]+)/log", lambda pl, c, m, q, b: pl.run_log(c, _run_id(m[1]), _offset(q))),
        ("GET", r"runs/([^/]+)/output",
         lambda pl, c, m, q, b: _output(pl, c, _run_id(m[1]), q.get("format", "ipynb"))),
        ("GET", r"publish/options", lambda pl, c, m, q, b: pl.options(c)),
        ("POST", r"publish/inspect", lambda pl, c, m, q, b: pl.inspect(c, _object(b).get("content"))),
    ]
]  # fmt: skip


def route(method: str, path: str) -> tuple[Handler, re.Match] | tuple[None, bool]:
    """The handler for `method path`; (None, True) when the path exists with other methods."""
    known = False
    for m, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match is not None:
            if m == method:
                return handler, match
            known = True
    return None, known


async def dispatch(
    plane: ControlPlane,
    caller: Caller,
    method: str,
    path: str,
    query: dict[str, str],
    body: bytes | None,
    limit: int = MAX_BODY_BYTES,
) -> Reply:
    """Answer one request; every refusal is a 4xx with {"message": ...}, nothing stored."""
    path = path.strip("/")
    handler, match = route(method, path)
    if handler is None:
        if match:
            return error_reply(405, f"{method} is not allowed on {quote(path, 60)}")
        return error_reply(404, f"no such endpoint: {quote(path, 60)}")
    try:
        doc = read_json(body, limit) if method in ("POST", "PATCH", "PUT") else None
        result = await asyncio.to_thread(handler, plane, caller, _Unquoted(match), query, doc)
        if asyncio.iscoroutine(result):
            result = await result
    except Exception as e:
        for kind, status in ERRORS:
            if isinstance(e, kind):
                if isinstance(e, web.HTTPError):
                    return error_reply(e.status_code, e.log_message or e.reason or "bad request")
                return error_reply(status, str(e) or type(e).__name__)
        raise
    if isinstance(result, Reply):
        return result
    status, doc = result if isinstance(result, tuple) else (200, result)
    if status == 204:
        return Reply(204)
    return _json(doc, status)


class _Unquoted:
    """A match whose groups are URL-decoded (job names may hold spaces)."""

    def __init__(self, match: re.Match):
        self._groups = [unquote(g) for g in match.groups()]

    def __getitem__(self, i: int) -> str:
        return self._groups[i - 1]
