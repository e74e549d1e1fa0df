"""``jupyter hybrid job ...``: publish, run and follow notebook jobs from the command line.

Every subcommand is written once, against the control plane's REST paths (README, "Jobs REST
API"), through one :class:`Transport`:

- outside a hub, :class:`LocalTransport` answers in this process — a ControlPlane on the local
  store (the server extension's defaults: ``$JUPYTER_HYBRID_DB_URL`` or the SQLite file in the
  Jupyter data dir, runs in ``<data dir>/jupyter_hybrid/runs``, ``$JUPYTER_HYBRID_CATALOG`` or the
  embedded catalog) and ``control.api.dispatch``. Nobody else may be running the queue, so a
  command that queues a run (``run``, a once-job's ``create``, ``run-now``) runs a Scheduler in
  this process until that run ends — at once with ``--wait``, else when no control plane took the
  run within ``--claim-wait`` seconds;
- inside a hub user's server (``$JUPYTERHUB_API_TOKEN`` and ``$JUPYTER_HYBRID_CONTROL_URL`` set),
  :class:`HubTransport` sends the same requests to ``<JUPYTER_HYBRID_CONTROL_URL>/api/<path>`` as
  that user (``Authorization: token ...``); the hub's control plane runs them.

The notebook is read here and sent as "content"; ``-p NAME VALUE`` is read with
``parameters.parse_text`` against the declared parameter and checked before anything is sent.

Exit status: 0 done (``run``: the run completed); 1 the run failed or was cancelled, or the
control plane refused or could not be reached; 2 bad input (a missing file, a non-notebook, bad
parameters, a 400 from the control plane), nothing created.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import getpass
import json
import logging
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote as urlquote

from ..quote import quote

if TYPE_CHECKING:  # the rest is imported when a command needs it: `jupyter hybrid` starts fast
    from .parameters import Declared

CONTROL_URL_ENV = "JUPYTER_HYBRID_CONTROL_URL"
TOKEN_ENV = "JUPYTERHUB_API_TOKEN"
ENDED = ("completed", "failed", "cancelled")
POLL = 0.5  # seconds between looks at a run or its log
EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2

log = logging.getLogger("jupyter_hybrid.jobs.cli")


@dataclass
class Reply:
    """An answer of the control plane: the shape of control.api.Reply (which imports the whole
    control plane; the hub mode needs none of it)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"


class Stop(Exception):
    """End the command: one line on stderr, this exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


# -- transports --------------------------------------------------------------------------------


class Transport(Protocol):
    """Where the REST requests go. `local`: the control plane is this process (then `running`
    runs its queue here, and `output_file` finds a run's output on this machine)."""

    local: bool

    async def call(self, method: str, path: str, query: dict[str, str], body: bytes | None) -> Reply: ...

    def running(self) -> contextlib.AbstractAsyncContextManager: ...

    def output_file(self, run_id: int) -> Path | None: ...


class LocalTransport:
    """The control plane in this process, on the local store, as this machine's user."""

    local = True

    def __init__(self, db_url: str | None = None, runs_dir: str | None = None, catalog: str | None = None):
        from jupyter_core.paths import jupyter_data_dir
        from sqlalchemy.engine import make_url

        from ..catalog import CatalogFile
        from ..catalog.load import CatalogError
        from ..control import Caller, ControlPlane
        from ..control.scheduler import Scheduler
        from ..spawner.hybrid import DEFAULT_CATALOG
        from ..store.db import default_url, make_engine

        url = db_url or default_url()
        try:
            engine = make_engine(url)
        except Exception as e:  # a bad URL, an unreachable server, a folder it cannot write
            shown = _safe_url(url, make_url)
            raise Stop(f"cannot open the job store {shown}: {_one_line(e)}", EXIT_INPUT) from None
        catalog_file = CatalogFile(catalog or os.environ.get("JUPYTER_HYBRID_CATALOG") or DEFAULT_CATALOG)
        try:
            catalog_file.get()
        except CatalogError as e:
            raise Stop(str(e), EXIT_INPUT) from None
        runs = runs_dir or str(Path(jupyter_data_dir()) / "jupyter_hybrid" / "runs")
        # a lease name of its own: this process never takes over runs another control plane watches
        name = f"{socket.gethostname()}/cli-{os.getpid()}"
        self.plane = ControlPlane(engine, catalog_file.get, runs, name=name, logger=log)
        # created, not started: a cancel stops the run's process tree on this machine
        self.scheduler = Scheduler(self.plane)
        self.caller = Caller(os.environ.get("JUPYTERHUB_USER") or getpass.getuser())

    async def call(self, method, path, query, body):
        from ..control.api import dispatch

        return await dispatch(self.plane, self.caller, method, path, query, body)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self.scheduler.start()
        try:
            yield
        finally:
            await self.scheduler.stop()
            others = [
                r.id
                for r in self.plane.jobs.runs(None, statuses=("running",))
                if r.lease_owner == self.plane.name
            ]
            if others:
                ids = ", ".join(map(str, others))
                _note(f"run(s) {ids}, started by this command, go on; the next control plane records them")

    def output_file(self, run_id: int) -> Path | None:
        from .execute import OUTPUT

        path = self.plane.run_dir(run_id) / OUTPUT
        return path if path.is_file() else None


class HubTransport:
    """The hub's control-plane service, as the user whose token this server holds."""

    local = False

    def __init__(self, base: str, token: str, timeout: float):
        self.base, self.token, self.timeout = base.rstrip("/"), token, timeout

    async def call(self, method, path, query, body):
        return await asyncio.to_thread(self._call, method, path, query, body)

    def _call(self, method: str, path: str, query: dict[str, str], body: bytes | None) -> Reply:
        import requests

        headers = {"Authorization": f"token {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = f"{self.base}/api/{path}"
        try:
            r = requests.request(
                method, url, params=query, data=body, headers=headers, timeout=self.timeout,
                allow_redirects=False,  # a login page is no answer
            )  # fmt: skip
        except requests.RequestException as e:
            raise Stop(f"cannot reach the hub's control plane at {self.base}: {_one_line(e)}") from None
        return Reply(r.status_code, r.content, r.headers.get("Content-Type", ""))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        yield  # the hub's control plane runs the queue

    def output_file(self, run_id: int) -> Path | None:
        return None  # on the service's machine: downloaded instead


def transport(args) -> Transport:
    """Inside a hub user's server: the hub's control plane; anywhere else: the local store."""
    url = os.environ.get(CONTROL_URL_ENV, "").strip()
    token = os.environ.get(TOKEN_ENV, "").strip()
    if url and token:
        return HubTransport(url, token, args.request_timeout)
    if url:
        raise Stop(f"${CONTROL_URL_ENV} is set but ${TOKEN_ENV} is not: run this in your hub server", 2)
    if token and os.environ.get("JUPYTERHUB_USER"):  # a hub user's server, as the server extension sees it
        raise Stop(
            f"this hub server has no ${CONTROL_URL_ENV}: jobs live in the hub's jupyter-hybrid "
            "service, which this hub does not run; ask your admin to add it (hub_config/)"
        )
    return LocalTransport()


def _safe_url(url: str, make_url) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return quote(url, 60)


# -- requests ----------------------------------------------------------------------------------


def _seg(name: str) -> str:
    return urlquote(name, safe="")


async def api(
    t: Transport, method: str, path: str, body: object = None, *, raw: bool = False, **query: str
) -> Any:
    """The control plane's JSON answer (`raw`: its bytes), or Stop with its message (400/413:
    bad input)."""
    data = None if body is None else json.dumps(body).encode()
    reply = await t.call(method, path, query, data)
    is_json = reply.content_type.startswith("application/json")
    if 200 <= reply.status < 300:
        if raw:
            return reply.body
        if reply.status == 204:
            return None
        if is_json:
            with contextlib.suppress(ValueError):
                return json.loads(reply.body)
        kind = reply.content_type or "no type"
        raise Stop(
            f"the control plane's answer to {method} {path} is not JSON ({kind}); "
            f"is ${CONTROL_URL_ENV} the jupyter-hybrid service's URL?"
        )
    message = ""
    if is_json:
        with contextlib.suppress(ValueError, AttributeError):
            message = str(json.loads(reply.body).get("message") or "")
    if not message:
        message = f"the control plane answered HTTP {reply.status}"
        if reply.status in (401, 403) and not t.local:
            message += f" (is ${TOKEN_ENV} allowed to use the jupyter-hybrid service?)"
    raise Stop(message, EXIT_INPUT if reply.status in (400, 413) else EXIT_FAILED)


# -- input -------------------------------------------------------------------------------------


def read_notebook(path: str) -> tuple[dict, Declared]:
    """The notebook file as JSON and its declared parameters; Stop(2) with the reason."""
    import nbformat

    from .model import JobError
    from .parameters import declared_parameters
    from .publish import MAX_NOTEBOOK_BYTES, notebook_from

    p = Path(path).expanduser()
    if not p.exists():
        raise Stop(f"{path}: no such file", EXIT_INPUT)
    if not p.is_file():
        raise Stop(f"{path}: not a file; give a notebook (.ipynb)", EXIT_INPUT)
    if p.suffix != ".ipynb":
        raise Stop(f"{path}: not a notebook (.ipynb)", EXIT_INPUT)
    try:
        if p.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise Stop(f"{path}: larger than {MAX_NOTEBOOK_BYTES >> 20} MiB; clear its outputs", EXIT_INPUT)
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise Stop(f"{path}: cannot read it ({_one_line(e)})", EXIT_INPUT) from None
    try:
        notebook_from(text)  # the control plane's checks and wording
        nb = nbformat.reads(text, as_version=4)  # sources joined, as the contents manager sends them
    except JobError as e:
        raise Stop(f"{path}: {e}", EXIT_INPUT) from None
    except Exception as e:  # nbformat's own reader refusing what the check let through
        raise Stop(f"{path}: not a notebook nbformat can read ({_one_line(e)})", EXIT_INPUT) from None
    return json.loads(json.dumps(nb)), declared_parameters(nb)


def notebook_field(path: str) -> str:
    """The path a job records: relative to here when the notebook is below, else absolute."""
    p = Path(path).expanduser().resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def parse_values(declared: Declared, pairs: list[list[str]] | None) -> dict[str, Any]:
    """`-p NAME VALUE`s as the run gets them: read as the declared type, then checked."""
    from .parameters import ParameterError, check_name, check_parameters, parse_text

    values: dict[str, Any] = {}
    try:
        for name, text in pairs or ():
            check_name(name)
            values[name] = parse_text(declared.parameters.get(name), text)
        return check_parameters(declared, values)
    except ParameterError as e:
        raise Stop(str(e), EXIT_INPUT) from None


def run_name(notebook: str) -> str:
    """A once-job's name for `job run`: the notebook's name and the time."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(notebook).stem).strip("-._")[:56] or "notebook"
    return f"{stem}-{datetime.now():%Y%m%d-%H%M%S}"


def spec_fields(args) -> dict[str, Any]:
    """The JobSpec fields given on the command line (others keep the control plane's defaults)."""
    fields: dict[str, Any] = {}
    for key in ("tier", "environment", "timeout", "concurrency", "misfire", "webhook"):
        value = getattr(args, key, None)
        if value is not None:
            fields[key] = value
    if getattr(args, "tz", None):
        fields["timezone"] = args.tz
    retry = {k: v for k in ("attempts", "backoff") if (v := getattr(args, f"retry_{k}", None)) is not None}
    if retry:
        fields["retry"] = retry
    return fields


# -- waiting for runs --------------------------------------------------------------------------


async def _until(t: Transport, run_id: int, done, seconds: float | None) -> dict:
    """The run once `done(run)`, or as it is after `seconds` (None: no limit). Says on stderr
    why a run still waits, each time the reason changes."""
    loop = asyncio.get_running_loop()
    deadline = None if seconds is None else loop.time() + seconds
    said = None
    while True:
        run = await api(t, "GET", f"runs/{run_id}")
        if done(run) or (deadline is not None and loop.time() >= deadline):
            return run
        if seconds is None and run.get("waiting") and run["waiting"] != said:
            said = run["waiting"]
            _note(f"run {run_id} is queued: {said}")
        await asyncio.sleep(POLL)


def _ended(run: dict) -> bool:
    return run["status"] in ENDED


async def settle(t: Transport, run_id: int, wait: bool, claim_wait: float, cancel_on_interrupt: bool) -> dict:
    """A run just queued: until it ends (`wait`), else as a control plane took it. Locally, a
    run no control plane takes within `claim_wait` seconds is run in this process."""
    if not wait and t.local:

        def taken(run):
            return run["status"] != "queued" or bool(run.get("waiting"))

        run = await _until(t, run_id, taken, claim_wait)
        if taken(run):
            return run
        _note(f"no control plane took run {run_id} within {claim_wait:g} s: running it here until it ends")
        wait = True
    if not wait:
        return await api(t, "GET", f"runs/{run_id}")
    async with t.running():
        try:
            return await _until(t, run_id, _ended, None)
        except asyncio.CancelledError:  # Ctrl-C
            if cancel_on_interrupt:
                with contextlib.suppress(Stop):
                    await api(t, "POST", f"runs/{run_id}/cancel")
                _note(f"cancelled run {run_id}")
            else:
                _note(f"stopped waiting; run {run_id} goes on (jupyter hybrid job logs {run_id} --follow)")
            raise


async def output_of(t: Transport, run: dict, where: str | None, notebook: str | None) -> str | None:
    """A path on this machine holding the run's output notebook: `where` (downloaded), the run's
    own file (local), or a download next to the notebook."""
    if not run.get("has_output"):
        return None
    local = t.output_file(run["id"])
    if where is None and local is not None:
        return str(local)
    if where is None:
        folder = Path(notebook).expanduser().parent if notebook else Path.cwd()
        stem = Path(notebook).stem if notebook else re.sub(r"[^A-Za-z0-9._-]+", "-", run["job"])
        where = str(folder / f"{stem}.run-{run['id']}.ipynb")
    data = await api(t, "GET", f"runs/{run['id']}/output", raw=True, format="ipynb")
    try:
        Path(where).expanduser().write_bytes(data)
    except OSError as e:
        raise Stop(f"{where}: cannot write the output notebook ({_one_line(e)})") from None
    return where


# -- subcommands -------------------------------------------------------------------------------


async def _publish(t: Transport, args, schedule: str, name: str, generated: bool) -> dict:
    content, declared = read_notebook(args.notebook)
    body = {
        "name": name,
        "notebook": notebook_field(args.notebook),
        "schedule": schedule,
        **spec_fields(args),
        "parameters": parse_values(declared, args.parameter),
        "content": content,
    }
    for n in range(2, 12):
        try:
            return await api(t, "POST", "jobs", body)
        except Stop as e:
            if not generated or "already have a job" not in str(e):
                raise
            body["name"] = f"{name}-{n}"
    raise Stop(f"jobs {name!r} to {body['name']!r} exist already; give --name")


async def _first_run(t: Transport, job: dict) -> int:
    runs = await api(t, "GET", f"jobs/{_seg(job['name'])}/runs")
    return min(r["id"] for r in runs["runs"])


def _result(run: dict, output: str | None) -> dict:
    return {
        "status": run["status"],
        "output": output,
        "error": run["error"],
        "run": run["id"],
        "job": run["job"],
        "duration": run["duration"],
        "parameters": run["parameters"],
    }


async def _run(t: Transport, args) -> int:
    name = args.name or run_name(args.notebook)
    job = await _publish(t, args, "once", name, generated=args.name is None)
    run_id = await _first_run(t, job)
    if not args.json:
        _note(f"run {run_id} of job {job['name']!r} queued")
    run = await settle(t, run_id, args.wait, args.claim_wait, cancel_on_interrupt=True)
    if run["status"] not in ENDED:  # a control plane has it; not waiting
        _print(args, _result(run, None), f"run {run_id} of {job['name']!r}: {run['status']}")
        return EXIT_OK
    output = await output_of(t, run, args.output, args.notebook)
    _print(args, _result(run, output), _run_line(run, output))
    return EXIT_OK if run["status"] == "completed" else EXIT_FAILED


async def _create(t: Transport, args) -> int:
    job = await _publish(t, args, args.schedule, args.name, generated=False)
    _print(args, job, f"created job {job['name']!r}: {job['schedule_text']}" + _next(job))
    if job["schedule"] != "once":
        return EXIT_OK
    sys.stdout.flush()
    run = await settle(t, await _first_run(t, job), args.wait, args.claim_wait, cancel_on_interrupt=False)
    if run["status"] in ENDED:
        _note(_run_line(run, None))
        return EXIT_OK if run["status"] == "completed" else EXIT_FAILED
    return EXIT_OK


async def _run_now(t: Transport, args) -> int:
    from .publish import declared_from_json

    path = f"jobs/{_seg(args.name)}"
    job = await api(t, "GET", path)
    values = parse_values(declared_from_json(job.get("declared") or {}), args.parameter)
    run = await api(t, "POST", f"{path}/runs", {"parameters": values})
    if not args.json:
        _note(f"run {run['id']} of job {args.name!r} queued")
    run = await settle(t, run["id"], args.wait, args.claim_wait, cancel_on_interrupt=False)
    _print(args, run, _run_line(run, None) if run["status"] in ENDED else f"run {run['id']}: {run['status']}")
    return EXIT_FAILED if run["status"] in ("failed", "cancelled") else EXIT_OK


async def _list(t: Transport, args) -> int:
    doc = await api(t, "GET", "jobs")
    rows = [
        [
            j["name"],
            j["schedule_text"] + (" (paused)" if j["paused"] else ""),
            _when(j["next_run"]),
            "-" if not j["last_run"] else f"{j['last_run']['status']} (run {j['last_run']['id']})",
        ]
        for j in doc["jobs"]
    ]
    _print(args, doc, _table(["NAME", "SCHEDULE", "NEXT RUN", "LAST RUN"], rows) if rows else "no jobs")
    return EXIT_OK


async def _runs(t: Transport, args) -> int:
    doc = await api(t, "GET", f"jobs/{_seg(args.name)}/runs")
    rows = [
        [
            str(r["id"]),
            r["status"],
            r["trigger"],
            _when(r["started_at"]),
            "-" if r["duration"] is None else f"{r['duration']:g} s",
            (r["error"] or {}).get("message") or (r["waiting"] or ""),
        ]
        for r in doc["runs"]
    ]
    header = ["RUN", "STATUS", "TRIGGER", "STARTED", "DURATION", "ERROR"]
    _print(args, doc, _table(header, rows) if rows else f"job {args.name!r} has no runs yet")
    return EXIT_OK


async def _logs(t: Transport, args) -> int:
    offset, said = 0, None
    while True:
        doc = await api(t, "GET", f"runs/{args.run}/log", offset=str(offset))
        if doc["text"]:
            sys.stdout.write(doc["text"])
            sys.stdout.flush()
        offset = doc["offset"]
        if not args.follow or doc["done"]:
            return EXIT_OK
        if doc.get("status") == "queued" and said is None:
            said = "queued"
            _note(f"run {args.run} is queued; following its log once it starts")
        await asyncio.sleep(POLL)


async def _pause(t: Transport, args, paused: bool) -> int:
    job = await api(t, "PATCH", f"jobs/{_seg(args.name)}", {"paused": paused})
    _print(args, job, f"{'paused' if paused else 'resumed'} job {job['name']!r}" + _next(job))
    return EXIT_OK


async def _delete(t: Transport, args) -> int:
    runs = "delete" if args.delete_runs else "keep"
    await api(t, "DELETE", f"jobs/{_seg(args.name)}", runs=runs)
    doc = {"deleted": args.name, "runs": "deleted" if args.delete_runs else "kept"}
    _print(args, doc, f"deleted job {args.name!r}; its runs were {doc['runs']}")
    return EXIT_OK


async def _cancel(t: Transport, args) -> int:
    run = await api(t, "POST", f"runs/{args.run}/cancel")
    _print(args, run, f"cancelled run {run['id']} of {run['job']!r}")
    return EXIT_OK


# -- printing ----------------------------------------------------------------------------------


def _print(args, doc: object, text: str) -> None:
    print(json.dumps(doc, indent=2) if getattr(args, "json", False) else text)


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _next(job: dict) -> str:
    return f"; next run {_when(job['next_run'])}" if job.get("next_run") else ""


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _run_line(run: dict, output: str | None) -> str:
    head = f"run {run['id']} of {run['job']!r} {run['status']}"
    if run["duration"] is not None:
        head += f" in {run['duration']:g} s"
    if run["error"]:
        head += f": {run['error'].get('message') or run['error'].get('ename')}"
    return head + (f"\noutput: {output}" if output else "")


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    )


def _one_line(e: BaseException) -> str:
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return text[:300] or type(e).__name__


# -- the parser --------------------------------------------------------------------------------


def _command(func):
    """An argparse handler: one event loop, one transport, Stop as one line on stderr."""

    @functools.wraps(func)
    def handler(args) -> int:
        logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
        prog = f"jupyter hybrid job {args.job_command}"
        try:
            return asyncio.run(func(transport(args), args))
        except Stop as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return e.code
        except KeyboardInterrupt:
            return 130

    return handler


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 or more seconds")
    return value


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``job`` and its subcommands to ``subparsers`` (of the main ``jupyter hybrid`` parser)."""
    job = subparsers.add_parser(
        "job",
        help="publish, run and follow notebook jobs",
        description="Notebook jobs, on the local store or (in a hub user's server) the hub's control plane.",
    )
    sub = job.add_subparsers(dest="job_command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--request-timeout",
        type=_positive,
        default=30.0,
        metavar="S",
        help="hub mode: seconds to wait for each answer of the control plane (default: 30)",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print the control plane's JSON answer")
    params = argparse.ArgumentParser(add_help=False)
    params.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="a parameter, read as its declared type (repeatable)",
    )
    queues = argparse.ArgumentParser(add_help=False)
    queues.add_argument(
        "--claim-wait",
        type=_positive,
        default=3.0,
        metavar="S",
        help="local mode: seconds a running control plane gets to take the run before this "
        "command runs it itself (default: 3)",
    )
    placement = argparse.ArgumentParser(add_help=False)
    placement.add_argument("--tier", help="hardware tier (default: the catalog's default for you)")
    placement.add_argument("--environment", help="environment (default: the tier's default)")
    placement.add_argument("--timeout", type=float, metavar="S", help="whole-run limit in seconds")
    parents = [common, as_json]

    run = sub.add_parser(
        "run",
        parents=[*parents, params, placement, queues],
        help="run a notebook once (exit 0 only when it completed)",
    )
    run.add_argument("notebook", help="the notebook file (.ipynb)")
    run.add_argument("--name", help="the once-job's name (default: NOTEBOOK-YYYYmmdd-HHMMSS)")
    run.add_argument("--wait", action="store_true", help="wait for the run to end")
    run.add_argument("--output", metavar="PATH", help="also write the output notebook to PATH")
    run.set_defaults(func=_command(_run))

    create = sub.add_parser(
        "create", parents=[*parents, params, placement, queues], help="publish a notebook as a job"
    )
    create.add_argument("notebook", help="the notebook file (.ipynb), frozen as version 1")
    create.add_argument("--name", required=True, help="the job's name (unique among your jobs)")
    create.add_argument(
        "--schedule", required=True, help="five-field cron ('0 6 * * 1-5'), @daily..., or 'once' (now)"
    )
    create.add_argument("--tz", metavar="TZ", help="IANA time zone of the schedule (default: UTC)")
    create.add_argument(
        "--retries", dest="retry_attempts", type=int, metavar="N", help="retries of a failed run"
    )
    create.add_argument(
        "--backoff", dest="retry_backoff", type=float, metavar="S", help="seconds before a retry"
    )
    create.add_argument("--concurrency", type=int, metavar="N", help="runs of this job at once (default: 1)")
    create.add_argument("--misfire", choices=("once", "skip"), help="runs missed while down: once or skip")
    create.add_argument("--webhook", metavar="URL", help="POSTed to when a run fails (http/https)")
    create.add_argument("--wait", action="store_true", help="schedule 'once': wait for the run to end")
    create.set_defaults(func=_command(_create))

    ls = sub.add_parser("list", parents=parents, help="your jobs: schedule, next run, last run")
    ls.set_defaults(func=_command(_list))

    runs = sub.add_parser("runs", parents=parents, help="a job's runs, newest first")
    runs.add_argument("name", help="the job's name")
    runs.set_defaults(func=_command(_runs))

    logs = sub.add_parser("logs", parents=[common], help="a run's log (cell N of M, stdout, stderr)")
    logs.add_argument("run", type=int, help="the run's id")
    logs.add_argument("-f", "--follow", action="store_true", help="go on printing until the run ends")
    logs.set_defaults(func=_command(_logs))

    for verb, paused in (("pause", True), ("resume", False)):
        p = sub.add_parser(verb, parents=parents, help=f"{verb} a job's schedule")
        p.add_argument("name", help="the job's name")
        p.set_defaults(func=_command(functools.partial(_pause, paused=paused)))

    delete = sub.add_parser("delete", parents=parents, help="delete a job (its active runs are cancelled)")
    delete.add_argument("name", help="the job's name")
    delete.add_argument("--delete-runs", action="store_true", help="remove its run records and outputs too")
    delete.set_defaults(func=_command(_delete))

    cancel = sub.add_parser("cancel", parents=parents, help="cancel a queued or running run")
    cancel.add_argument("run", type=int, help="the run's id")
    cancel.set_defaults(func=_command(_cancel))

    now = sub.add_parser("run-now", parents=[*parents, params, queues], help="queue a run of a job now")
    now.add_argument("name", help="the job's name")
    now.add_argument("--wait", action="store_true", help="wait for the run to end")
    now.set_defaults(func=_command(_run_now))
    return job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jupyter hybrid", description="jupyter-hybrid jobs")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
