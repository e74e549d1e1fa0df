"""Turn bad input and domain errors into HTTP answers a person can act on (never a 500 for bad input).

:func:`read_json` / :func:`parse_body` are the one way our handlers read a JSON body: whatever the
bytes (not UTF-8, nested 100,000 deep, NaN, lone surrogates, megabytes), the answer is a 400 (413
when too large) whose message quotes nothing of the body but short, truncated values.
"""

from __future__ import annotations

import functools
import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from tornado import web

from ..quote import quote
from ..snapshots.errors import NotFound as SnapshotNotFound
from ..snapshots.errors import SnapshotError
from ..store.errors import Ambiguous, NotFound, Pinned

STATUS = [(NotFound, 404), (SnapshotNotFound, 404), (Pinned, 409), (Ambiguous, 400), (SnapshotError, 400)]
MAX_BODY_BYTES = 1 << 20  # default of HybridServerApp.max_body_bytes
MAX_ERRORS = 3  # validation errors listed in one message
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

M = TypeVar("M", bound=BaseModel)


def read_json(raw: bytes | None, limit: int = MAX_BODY_BYTES) -> object:
    """The JSON document of a request body (``{}`` when empty); an HTTPError 400/413 for anything else."""
    raw = raw or b"{}"
    if len(raw) > limit:
        raise web.HTTPError(413, f"the request body is {len(raw)} bytes; the limit is {limit}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise web.HTTPError(400, f"the request body is not UTF-8 (byte {e.start}); send JSON text") from None
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise web.HTTPError(400, "the request body is nested too deeply; send a flat JSON object") from None
    except json.JSONDecodeError as e:
        raise web.HTTPError(400, f"the request body is not valid JSON: {e}") from None
    if _SURROGATE_ESCAPE.search(text):  # pairs decode to one character; a lone half cannot be stored
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise web.HTTPError(
                400, "the request body holds a lone UTF-16 surrogate (\\ud800-\\udfff); send valid text"
            ) from None
    return doc


def parse_body(raw: bytes | None, model: type[M], limit: int = MAX_BODY_BYTES) -> M:
    """``model`` validated from a request body; an HTTPError 400 (413) that says what is wrong."""
    try:
        return model.model_validate(read_json(raw, limit))
    except ValidationError as e:
        raise web.HTTPError(400, pydantic_message(e)) from None
    except RecursionError:
        raise web.HTTPError(400, "the request body is nested too deeply; send a flat JSON object") from None


def _no_constant(name: str):
    raise json.JSONDecodeError(f"{name} is not a JSON value; send a number", name, 0)


def pydantic_message(error: ValidationError) -> str:
    """The first few errors, one clause each, keys and values quoted short."""
    errors = error.errors()
    parts = []
    for e in errors[:MAX_ERRORS]:
        where = ".".join(_loc(p) for p in e["loc"]) or "body"
        parts.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
    if len(errors) > MAX_ERRORS:
        parts.append(f"and {len(errors) - MAX_ERRORS} more")
    return "; ".join(parts)


def _loc(part) -> str:
    text = str(part)
    return text if len(text) <= 40 and text.isprintable() else quote(part)


def json_errors(method):
    """Map known errors to 400/404/409 with {"message": ...}."""

    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        try:
            return await method(self, *args, **kwargs)
        except ValidationError as e:
            raise web.HTTPError(400, pydantic_message(e)) from None
        except json.JSONDecodeError as e:
            raise web.HTTPError(400, f"the request body is not valid JSON: {e}") from None
        except tuple(kind for kind, _ in STATUS) as e:
            status = next(code for kind, code in STATUS if isinstance(e, kind))
            raise web.HTTPError(status, str(e)) from None

    return wrapper
