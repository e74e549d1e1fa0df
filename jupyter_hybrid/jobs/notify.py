"""Job webhooks: when a run ends, POST a small JSON document about it to the job's webhook.

`payload(run, job, event)` builds the document from the run and job views (`control/views.py`);
`await send(url, payload)` delivers it. Both are callable without a server.

What the payload holds (schema version `SCHEMA_VERSION`; the README's "Job webhooks" shows one):
the event (`run.failed` / `run.completed`), a one-line `text` for people, the job (name, owner,
notebook, version, schedule), the run (id, attempt, whether a retry follows, status, trigger, times
in ISO-8601 UTC, duration, tier, environment, site, snapshot, the *names* of its parameters), the
error (failing cell, ename, evalue, message, traceback cut to `TRACEBACK_LIMIT` bytes) and links
(paths under the jobs API root: `runs/ID`, its log, its output).

What it never holds: tokens, the store's URL, the webhook URL itself (its path often is the
credential), and parameter *values* (a parameter may be a password or a key): only their names.
String parameter values of `REDACT_MIN` characters or more that appear in the error's text are
replaced by `[parameter NAME]`. A run's `(id, event)` identifies the event: a retried delivery
sends the same bytes, so a receiver can drop duplicates.

Delivery (`send`): http/https only, no redirects followed (a 3xx is reported, not followed, so a
webhook cannot bounce the POST to another scheme or host), at most `attempts` tries with
exponential backoff on connection errors, timeouts, 5xx and 429 (its `Retry-After` honoured within
the deadline), none on other 4xx, everything within `deadline` seconds, at most `BODY_LIMIT`
bytes of a response read. Every failed try is one WARNING line naming the webhook by its origin
only. It never raises: the outcome is a `SendResult`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from .. import __version__
from ..quote import quote

__all__ = [
    "BODY_LIMIT",
    "EVENTS",
    "SCHEMA_VERSION",
    "SendResult",
    "TRACEBACK_LIMIT",
    "payload",
    "send",
    "where",
]

SCHEMA_VERSION = 1
EVENTS = ("run.failed", "run.completed")
#: bytes of a failed run's traceback kept in the payload (its first quarter and its end)
TRACEBACK_LIMIT = 4096
#: bytes kept of the error's evalue and message, and of the summary line's message
TEXT_LIMIT = 1024
#: string parameter values at least this long are cut out of the error's text
REDACT_MIN = 4
#: bytes of a webhook's response read at most (the rest is never read)
BODY_LIMIT = 16 * 1024
#: most tries `send` makes, whatever it is asked
MAX_ATTEMPTS = 10
USER_AGENT = f"jupyter-hybrid/{__version__}"

_log = logging.getLogger(__name__)


# -- the payload --------------------------------------------------------------------------------


def _cut(text: str, limit: int) -> tuple[str, bool]:
    """`text` within `limit` UTF-8 bytes: its start, and its end, with a marker where it was cut."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text, False
    marker = f"\n… {len(data) - limit} bytes cut …\n".encode()
    head = (limit - len(marker)) // 4
    tail = limit - len(marker) - head
    kept = data[:head] + marker + data[len(data) - tail :]
    return kept.decode("utf-8", "ignore"), True


def _head(text: object, limit: int = TEXT_LIMIT) -> str:
    data = str(text if text is not None else "").encode("utf-8", "replace")
    if len(data) <= limit:
        return data.decode("utf-8", "replace")
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def _strings(value: object):
    """Every string inside a parameter value (lists and dicts walked)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _secrets(*parameter_sets: object) -> list[tuple[str, str]]:
    """(value, name) for each string parameter value worth hiding, longest first."""
    found: dict[str, str] = {}
    for params in parameter_sets:
        if not isinstance(params, dict):
            continue
        for name, value in params.items():
            for text in _strings(value):
                if len(text) >= REDACT_MIN:
                    found.setdefault(text, str(name))
    return sorted(found.items(), key=lambda item: -len(item[0]))


def _redact(text: str, secrets: list[tuple[str, str]]) -> str:
    for value, name in secrets:
        text = text.replace(value, f"[parameter {name}]")
    return text


def _error(error: object, secrets: list[tuple[str, str]]) -> dict | None:
    if not isinstance(error, dict):
        return None
    traceback, cut = _cut(_redact(str(error.get("traceback") or ""), secrets), TRACEBACK_LIMIT)
    cell = error.get("cell")
    return {
        "cell": cell if isinstance(cell, int) else None,
        "ename": _head(_redact(str(error.get("ename") or ""), secrets), 200),
        "evalue": _head(_redact(str(error.get("evalue") or ""), secrets)),
        "message": _head(_redact(str(error.get("message") or ""), secrets)),
        "traceback": traceback,
        "traceback_truncated": cut,
    }


def _links(run_id: object, has_output: bool, base_url: str | None) -> dict:
    if run_id is None:
        return {"run": None, "log": None, "output": None}
    prefix = "" if not base_url else base_url.rstrip("/") + "/"
    run = f"{prefix}runs/{run_id}"
    return {
        "run": run,
        "log": f"{run}/log",
        "output": f"{run}/output?format=html" if has_output else None,
    }


def _summary(job_name: str, run: dict, error: dict | None, will_retry: bool) -> str:
    what = f'Job "{job_name}" run {run.get("id")}'
    if run.get("status") == "completed":
        took = run.get("duration")
        return f"{what} completed" + (f" in {took:g} s" if isinstance(took, (int, float)) else "")
    why = (error or {}).get("message") or (error or {}).get("ename") or "no reason recorded"
    text = f"{what} failed (attempt {run.get('attempt')}): {_head(why, 300)}"
    return text + ("; it will be retried" if will_retry else "")


def payload(run: dict, job: dict, event: str, *, base_url: str | None = None) -> dict:
    """The webhook document for `run` (a run view) of `job` (a job view) on `event`.

    `base_url`: where the jobs API is reached from outside (e.g. ``https://hub.example.com/
    services/jupyter-hybrid/api/``); with it the links are absolute, without it they are paths
    under the jobs API root. JSON-ready, deterministic (no send time), no secrets (module doc).
    """
    if event not in EVENTS:
        raise ValueError(f"event {quote(event)} is not one of {', '.join(EVENTS)}")
    job = job or {}
    parameters = run.get("parameters") or {}
    secrets = _secrets(parameters, job.get("parameters"))
    error = _error(run.get("error"), secrets) if run.get("status") != "completed" else None
    retry = job.get("retry") or {}
    attempt = run.get("attempt")
    will_retry = bool(
        run.get("status") == "failed"
        and isinstance(attempt, int)
        and attempt <= int(retry.get("attempts") or 0)
    )
    name = str(run.get("job") or job.get("name") or "")
    return {
        "schema_version": SCHEMA_VERSION,
        "event": event,
        "text": _redact(_summary(name, run, error, will_retry), secrets),
        "job": {
            "name": name,
            "owner": run.get("owner") or job.get("owner"),
            "notebook": job.get("notebook"),
            "version": run.get("version", job.get("version")),
            "schedule": job.get("schedule"),
            "timezone": job.get("timezone"),
            "schedule_text": job.get("schedule_text"),
        },
        "run": {
            "id": run.get("id"),
            "attempt": attempt,
            "will_retry": will_retry,
            "status": run.get("status"),
            "trigger": run.get("trigger"),
            "due_at": run.get("due_at"),
            "started_at": run.get("started_at"),
            "ended_at": run.get("ended_at"),
            "duration": run.get("duration"),
            "tier": run.get("tier"),
            "environment": run.get("environment"),
            "site": run.get("site"),
            "snapshot_id": run.get("snapshot_id"),
            "drift": bool(run.get("drift")),
            "has_output": bool(run.get("has_output")),
            "parameter_names": sorted(str(k) for k in parameters),
        },
        "error": error,
        "links": _links(run.get("id"), bool(run.get("has_output")), base_url),
    }


# -- delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    """What became of one delivery: `delivered` (a 2xx came back), the last HTTP `status` (None
    when none came back), the `attempts` made, the last failure's `reason` ("" when delivered)
    and the seconds it all took."""

    delivered: bool
    status: int | None
    attempts: int
    reason: str
    elapsed: float


def where(url: str) -> str:
    """The webhook as a log line may name it: its origin only (the path is often its token)."""
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return quote(url, 30)
        origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"  # no user, no password
    except ValueError:
        return quote(url, 30)
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return quote(origin + rest, 60)


def _refusal(url: object) -> str | None:
    if not isinstance(url, str) or not url:
        return "no webhook URL"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "the URL holds spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return "the URL cannot be parsed"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the URL is not http(s)"
    if parts.username or parts.password:
        return "the URL holds a user or password"
    return None


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None  # an HTTP date, or nothing: the backoff applies


class _Response:
    """What one try saw, read through tornado's callbacks so that a body past `BODY_LIMIT` is
    never read (the status line still counts when the body is cut off)."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.retry_after: float | None = None
        self.body = bytearray()

    def header(self, line: str) -> None:
        if self.status is None and line.startswith("HTTP/"):
            bits = line.split(None, 2)
            if len(bits) >= 2 and bits[1].isdigit():
                self.status = int(bits[1])
        elif line.lower().startswith("retry-after:"):
            self.retry_after = _retry_after(line.split(":", 1)[1])

    def chunk(self, data: bytes) -> None:
        room = BODY_LIMIT - len(self.body)
        if room > 0:
            self.body += data[:room]


def _one_line(text: object, limit: int = 120) -> str:
    return " ".join(str(text).split())[:limit]


async def _try(
    client: SimpleAsyncHTTPClient, url: str, body: bytes, timeout: float
) -> tuple[int | None, float | None, str]:
    """One POST: (status or None, Retry-After seconds or None, reason if not delivered)."""
    seen = _Response()
    request = HTTPRequest(
        url,
        method="POST",
        body=body,
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        connect_timeout=timeout,
        request_timeout=timeout,
        follow_redirects=False,
        decompress_response=False,
        header_callback=seen.header,
        streaming_callback=seen.chunk,
    )
    problem = ""
    try:
        await client.fetch(request, raise_error=False)
    except HTTPClientError as e:  # 599: a timeout, a stream closed
        problem = _one_line(e.message or type(e).__name__)
    except Exception as e:  # refused, DNS, TLS, a malformed response, a body past the limit
        problem = _one_line(f"{type(e).__name__}: {e}")
    status = seen.status
    if status is not None and 200 <= status < 300:
        return status, None, ""
    if status is None:
        return None, None, problem or "no response"
    said = f"; it said {quote(bytes(seen.body[:200]).decode('utf-8', 'replace'), 80)}" if seen.body else ""
    if 300 <= status < 400:
        return status, None, f"HTTP {status}: redirects are not followed; set the final URL{said}"
    return status, seen.retry_after, f"HTTP {status}{said}"


def _retryable(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


async def send(
    url: str,
    payload: dict,
    *,
    timeout: float = 10,
    attempts: int = 3,
    backoff: float = 1.0,
    deadline: float | None = None,
    log=None,
) -> SendResult:
    """POST `payload` as JSON to `url`; never raises on a failed delivery.

    `timeout`: seconds per try (connect and response together). `attempts`: tries in all (1 to
    `MAX_ATTEMPTS`). `backoff`: seconds before the second try, doubling after. `deadline`: most
    seconds for everything, default attempts × timeout plus the backoffs. `log`: a logger
    (default this module's); each failed try is one WARNING line.
    """
    log = log or _log
    started = time.monotonic()
    attempts = max(1, min(int(attempts), MAX_ATTEMPTS))
    timeout = max(float(timeout), 0.001)
    backoff = max(float(backoff), 0.0)
    if deadline is None:
        deadline = attempts * timeout + sum(backoff * 2**i for i in range(attempts - 1))
    name = where(url) if isinstance(url, str) else quote(url)

    def result(delivered: bool, status: int | None, made: int, reason: str) -> SendResult:
        return SendResult(delivered, status, made, reason, round(time.monotonic() - started, 3))

    refused = _refusal(url)
    if refused is None:
        try:
            body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as e:
            refused = _one_line(f"the payload is not JSON: {e}")
    if refused is not None:
        log.warning("Webhook %s: not sent: %s", name, refused)
        return result(False, None, 0, refused)

    client = SimpleAsyncHTTPClient(force_instance=True, max_body_size=BODY_LIMIT)
    status: int | None = None
    reason = "out of time"
    made = 0
    try:
        while True:
            left = deadline - (time.monotonic() - started)
            if left <= 0:
                log.warning("Webhook %s: giving up: out of time (deadline %g s)", name, deadline)
                break
            made += 1
            status, retry_after, reason = await _try(client, url, body, min(timeout, left))
            if not reason:
                return result(True, status, made, "")
            wait = backoff * 2 ** (made - 1)
            if retry_after is not None:
                wait = max(wait, retry_after)
            left = deadline - (time.monotonic() - started)
            if not _retryable(status):
                stop = "not retried"
            elif made >= attempts:
                stop = "giving up"
            elif wait >= left:
                stop = f"giving up: a try after {wait:g} s would pass the {deadline:g} s deadline"
            else:
                stop = ""
            then = stop or f"retrying in {wait:g} s"
            log.warning("Webhook %s: try %d of %d failed: %s; %s", name, made, attempts, reason, then)
            if stop:
                break
            await asyncio.sleep(wait)
        return result(False, status, made, reason)
    except Exception as e:  # never raise past a delivery: the run's record matters more
        reason = _one_line(f"{type(e).__name__}: {e}")
        log.warning("Webhook %s: not delivered: %s", name, reason)
        return result(False, status, made, reason)
    finally:
        client.close()
