"""Loading ``catalog.yaml`` with errors that name the file, the key and the fix."""

from __future__ import annotations

import difflib
import os
import typing
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ..quote import quote
from .bounded_yaml import YAMLInputError, load_yaml
from .model import Catalog, CrossReferenceError, LocatedError

#: Errors listed in one message; a file with thousands of bad values gets the first ones and a count.
MAX_ERRORS = 20


class CatalogError(ValueError):
    """A catalog that cannot be used; ``str()`` is the message for the admin."""


def _key(loc: tuple) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for an invalid dict key: the key itself is named
            continue
        if not isinstance(part, int):
            part = str(part) if len(str(part)) <= 40 else quote(str(part))  # a key can be any text
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of ``loc`` (to list its allowed keys)."""
    model: type[BaseModel] | None = Catalog
    parts = list(loc[:-1])
    while parts and model is not None:
        part = parts.pop(0)
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        args = getattr(field.annotation, "__args__", ()) or (field.annotation,)
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        model = models[0] if models else None
        if model is not None and typing.get_origin(field.annotation) is dict and parts:
            parts.pop(0)  # skip the dict key (the item's name)
    return model


def _explain(error: dict) -> str:
    loc, kind = error["loc"], error["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc)
        allowed = sorted(model.model_fields) if model else []
        near = difflib.get_close_matches(str(loc[-1])[:100], allowed, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        return f"unknown key. Fix: {hint}allowed keys here: {', '.join(allowed)}"
    if kind == "string_pattern_mismatch":
        return "names must be lowercase letters, digits and '-' (e.g. gpu-1). Fix: rename it"
    if kind == "missing":
        return "is required. Fix: add it"
    message = error["msg"].removeprefix("Value error, ")
    return f"{message} (got {quote(error.get('input'))}). Fix: correct this value"


def parse_catalog(data: object, source: str = "catalog") -> Catalog:
    """Validate already-parsed YAML data; raise CatalogError naming ``source``, key and fix."""
    if not isinstance(data, dict):
        raise CatalogError(f"{source}: the catalog must be a mapping with 'sites' and 'tiers' keys")
    try:
        return Catalog.model_validate(data)
    except CrossReferenceError as e:
        raise CatalogError(f"{source}: {_key(e.loc)}: {e.message}. Fix: {e.fix}") from None
    except ValidationError as e:
        lines, errors = [], e.errors()
        for err in errors[:MAX_ERRORS]:
            ctx = err.get("ctx", {}).get("error")
            if isinstance(ctx, CrossReferenceError):
                lines.append(f"{_key(ctx.loc)}: {ctx.message}. Fix: {ctx.fix}")
            elif isinstance(ctx, LocatedError):
                lines.append(f"{_key(tuple(err['loc']) + ctx.loc)}: {ctx.message}. Fix: {ctx.fix}")
            else:
                lines.append(f"{_key(err['loc'])}: {_explain(err)}")
        if len(errors) > MAX_ERRORS:
            lines.append(f"… and {len(errors) - MAX_ERRORS} more errors. Fix: correct the ones above first")
        raise CatalogError(f"{source}: " + f"\n{source}: ".join(lines)) from None


def load_catalog(path: str | os.PathLike) -> Catalog:
    """Read and validate a catalog file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise CatalogError(f"{path}: cannot read the catalog ({e.strerror})") from None
    try:
        data = load_yaml(text, str(path))
    except YAMLInputError as e:
        raise CatalogError(str(e)) from None
    return parse_catalog(data, str(path))


class CatalogFile:
    """A catalog file re-read when it changes on disk; keeps the last good one if an edit breaks it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._mtime: float | None = None
        self._catalog: Catalog | None = None
        self.error: str | None = None

    def get(self) -> Catalog:
        mtime = self.path.stat().st_mtime if self.path.exists() else None
        if self._catalog is None or mtime != self._mtime:
            try:
                self._catalog, self.error = load_catalog(self.path), None
            except CatalogError as e:
                self.error = str(e)
                if self._catalog is None:
                    raise
            self._mtime = mtime
        return self._catalog
