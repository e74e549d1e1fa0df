"""Turn domain errors into HTTP answers a person can act on (never a 500 for bad input)."""

from __future__ import annotations

import functools
import json

from pydantic import ValidationError
from tornado import web

from ..snapshots.errors import NotFound as SnapshotNotFound
from ..snapshots.errors import SnapshotError
from ..store.errors import Ambiguous, NotFound, Pinned

STATUS = [(NotFound, 404), (SnapshotNotFound, 404), (Pinned, 409), (Ambiguous, 400), (SnapshotError, 400)]


def pydantic_message(error: ValidationError) -> str:
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "body"
        parts.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


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
