"""What a publish checks before anything is stored: the notebook is valid nbformat, the parameters
are declared (and converted) as its `parameters` cell says, and the stored form of that cell.

Pure: the notebook arrives as JSON (the server extension or the CLI read it from the user's
files); the catalog checks (tier, environment) are the control plane's, with the same function
the spawn form uses.
"""

from __future__ import annotations

import json
from typing import Any

import nbformat

from ..quote import quote
from .model import JobError
from .parameters import Declared, Parameter, ParameterError, check_parameters, declared_parameters

MAX_NOTEBOOK_BYTES = 16 << 20  # a frozen version lives in the store: keep it to a sane size


def notebook_from(content: object) -> nbformat.NotebookNode:
    """`content` (a notebook's JSON) as a validated v4 notebook, or a JobError saying what is wrong."""
    if isinstance(content, (str, bytes)):
        if len(content) > MAX_NOTEBOOK_BYTES:
            raise JobError(f"the notebook is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB; clear its outputs")
        try:
            content = json.loads(content)
        except ValueError as e:
            raise JobError(f"the notebook is not JSON ({e}); is it an .ipynb file?") from None
    if not isinstance(content, dict):
        raise JobError(f"the notebook must be a JSON object (nbformat), got {quote(content)}")
    try:
        # as read from disk: sources as lists of lines are joined, older versions converted
        nb = nbformat.reads(json.dumps(content), as_version=4)
        nbformat.validate(nb)
    except (nbformat.ValidationError, KeyError, TypeError, AttributeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise JobError(f"the notebook is not valid nbformat: {quote(first, 120)}") from None
    return nb


def _json_default(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)  # an expression default (`n = len(x)`): shown, never converted to


def declared_to_json(declared: Declared) -> dict:
    """The parameters cell as stored with a version (and shown by the publish dialog)."""
    return {
        "has_cell": declared.cell_found,
        "note": declared.note(),
        "parameters": [
            {
                "name": p.name,
                "type": p.kind,
                "optional": p.optional,
                "default": _json_default(p.default),
                "help": p.help,
            }
            for p in declared.parameters.values()
        ],
    }


def declared_from_json(data: dict) -> Declared:
    params = {
        p["name"]: Parameter(p["name"], p["type"], p["optional"], p["default"], p.get("help", ""))
        for p in data.get("parameters", [])
    }
    return Declared(cell_found=bool(data.get("has_cell")), parameters=params)


def check_values(declared: Declared, values: object) -> dict[str, Any]:
    """Parameter values as the run will get them, or a JobError naming each bad one."""
    try:
        return check_parameters(declared, values if values is not None else {})
    except ParameterError as e:
        raise JobError(str(e)) from None


def read_version(content: object, values: object) -> tuple[dict, dict, dict]:
    """(notebook JSON, declared-parameters JSON, checked values) for a new version."""
    nb = notebook_from(content)
    declared = declared_parameters(nb)
    checked = check_values(declared, values)
    return json.loads(json.dumps(nb)), declared_to_json(declared), checked
