"""Typed notebook parameters: what the `parameters` cell declares, values checked against it,
and the injected cell written as Python literals.

papermill reads the cell (`name: type = value  # help`) but converts nothing (`-p alpha 2` stays
an int where the cell says `alpha = 0.5`, its #55) and checks no names (a name holding a newline
injects code). Here every value is converted to the declared type and every name must be an
identifier declared in the cell; the injected source is built from `repr` of plain data only, so a
string that looks like code stays a string. Pure: no kernel, no I/O.
"""

from __future__ import annotations

import ast
import json
import keyword
import math
import re
from dataclasses import dataclass
from typing import Any

import nbformat
from papermill.translators import PythonTranslator

from ..quote import quote

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
KINDS = ("int", "float", "bool", "str", "list", "dict", "any")
_ANNOTATION = re.compile(r"^\s*(?:typing\.)?(?P<outer>\w+)\s*(?:\[(?P<inner>.*)\])?\s*$")
_ALIASES = {
    "int": "int",
    "float": "float",
    "bool": "bool",
    "str": "str",
    "list": "list",
    "List": "list",
    "tuple": "list",
    "Tuple": "list",
    "dict": "dict",
    "Dict": "dict",
    "Mapping": "dict",
    "Any": "any",
}


class ParameterError(ValueError):
    """A parameter a person must fix; the message names it and says what is allowed."""


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: its kind (one of KINDS), whether None is allowed, the default."""

    name: str
    kind: str
    optional: bool
    default: Any
    help: str = ""

    def describe(self) -> str:
        kind = f"{self.kind} or None" if self.optional and self.kind != "any" else self.kind
        return f"{self.name}: {kind} = {self.default!r}"


@dataclass(frozen=True)
class Declared:
    """The parameters cell as read; `cell_found` False means any identifier is accepted."""

    cell_found: bool
    parameters: dict[str, Parameter]

    def note(self) -> str:
        if self.cell_found:
            return ""
        return "This notebook has no cell tagged 'parameters': any name is accepted and injected at the top."


def _kind_of_annotation(annotation: str) -> tuple[str, bool] | None:
    """'Optional[int]' -> ('int', True), 'List[str]' -> ('list', False); None if not understood."""
    text = annotation.strip().strip("'\"")
    parts = [p.strip() for p in text.split("|")]
    optional = "None" in parts
    parts = [p for p in parts if p != "None"]
    if len(parts) != 1:
        return None
    match = _ANNOTATION.match(parts[0])
    if not match:
        return None
    outer, inner = match["outer"], match["inner"]
    if outer == "Optional" and inner:
        found = _kind_of_annotation(inner)
        return (found[0], True) if found else None
    kind = _ALIASES.get(outer)
    return (kind, optional) if kind else None


def _kind_of_value(value: Any) -> str:
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, types):
            return kind
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "any"


def _literal(text: str) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def declared_parameters(nb: nbformat.NotebookNode) -> Declared:
    """Read the first cell tagged `parameters` (papermill's own parser, then our types)."""
    cell = next((c for c in nb.cells if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return Declared(cell_found=False, parameters={})
    found: dict[str, Parameter] = {}
    for p in PythonTranslator.inspect(cell):
        is_literal, default = _literal(p.default)
        annotated = _kind_of_annotation(p.inferred_type_name) if p.inferred_type_name != "None" else None
        if annotated:
            kind, optional = annotated
        elif is_literal and default is not None:
            kind, optional = _kind_of_value(default), False
        else:  # `x = None`, or a default that is an expression: nothing to convert to
            kind, optional = "any", True
        optional = optional or (is_literal and default is None)
        found[p.name] = Parameter(p.name, kind, optional, default if is_literal else p.default, p.help)
    return Declared(cell_found=True, parameters=found)


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ParameterError(f"parameter name {quote(name)} is not a Python identifier")
    return name


def _plain(value: Any, where: str, depth: int = 0) -> Any:
    """Only JSON-shaped data may be injected; tuples become lists, dict keys must be strings."""
    if depth > 20:
        raise ParameterError(f"{where}: nested more than 20 levels deep")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, where, depth + 1) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ParameterError(f"{where}: dictionary keys must be strings")
        return {k: _plain(v, where, depth + 1) for k, v in value.items()}
    raise ParameterError(f"{where}: {type(value).__name__} values cannot be passed; use JSON data")


def convert(param: Parameter, value: Any) -> Any:
    """`value` (JSON data) as the declared kind: 2 -> 2.0 for a float; refused with a reason."""
    where = f"parameter '{param.name}'"
    value = _plain(value, where)
    if value is None:
        if param.optional:
            return None
        raise ParameterError(f"{where} may not be None; expected {param.kind} (declared {param.describe()})")
    kind = param.kind
    if kind == "any":
        return value
    ok = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int)
        and not isinstance(value, bool)
        or isinstance(value, float)
        and value.is_integer(),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "list": isinstance(value, list),
        "dict": isinstance(value, dict),
    }[kind]
    if not ok:
        raise ParameterError(
            f"{where} expects {kind} (declared {quote(param.describe(), 60)}); got {quote(value)}"
        )
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    return value


def parse_text(param: Parameter | None, text: str) -> Any:
    """A value typed on a command line (`-p NAME VALUE`): a str parameter takes it as it is;
    others read it as JSON or a Python literal (`true`/`True`, `[1, 2]`, `None`)."""
    if param is not None and param.kind == "str":
        return text
    lowered = {"true": True, "false": False, "none": None, "null": None}
    if text.strip().lower() in lowered:
        return lowered[text.strip().lower()]
    for read in (json.loads, ast.literal_eval):
        try:
            return read(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    if param is None or param.kind == "any":
        return text  # undeclared or untyped: a plain string, as papermill would take it
    raise ParameterError(f"parameter '{param.name}': {quote(text)} is not a {param.kind} value")


def check_parameters(declared: Declared, values: dict[str, Any]) -> dict[str, Any]:
    """Every name an identifier declared in the cell (any identifier when there is no cell);
    every value converted. All problems are reported at once."""
    if not isinstance(values, dict):
        raise ParameterError(f"parameters must be an object of name: value, got {quote(values)}")
    problems: list[str] = []
    checked: dict[str, Any] = {}
    for name, value in values.items():
        try:
            check_name(name)
            param = declared.parameters.get(name)
            if declared.cell_found and param is None:
                known = ", ".join(sorted(declared.parameters)) or "none"
                raise ParameterError(
                    f"parameter {quote(name)} is not declared in the notebook's parameters cell"
                    f" (declared: {known})"
                )
            checked[name] = convert(param, value) if param else _plain(value, f"parameter '{name}'")
        except ParameterError as e:
            problems.append(str(e))
    if problems:
        raise ParameterError("; ".join(problems))
    return checked


def _source(value: Any) -> str:
    """A Python literal for plain data; floats that repr cannot round-trip are spelled out."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, list):
        return "[" + ", ".join(_source(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_source(v)}" for k, v in value.items()) + "}"
    return repr(value)


def injected_source(values: dict[str, Any]) -> str:
    lines = ["# Parameters"]
    lines += [f"{check_name(name)} = {_source(_plain(v, name))}" for name, v in values.items()]
    return "\n".join(lines) + "\n"


def inject(nb: nbformat.NotebookNode, values: dict[str, Any]) -> nbformat.NotebookNode:
    """A copy of `nb` with one cell tagged `injected-parameters` after the parameters cell (at
    the top without one), replacing an earlier injected cell; recorded as papermill records it.
    No values, no cell (the defaults stand)."""
    nb = nbformat.v4.upgrade(nbformat.from_dict(json.loads(json.dumps(nb))))
    nb.metadata.setdefault("papermill", nbformat.NotebookNode())["parameters"] = values
    if not values:
        return nb
    cell = nbformat.v4.new_code_cell(source=injected_source(values))
    cell.metadata["tags"] = [INJECTED_TAG]

    def tagged(tag: str) -> int:
        return next((i for i, c in enumerate(nb.cells) if tag in c.get("metadata", {}).get("tags", [])), -1)

    if (i := tagged(INJECTED_TAG)) >= 0:
        nb.cells[i] = cell
    else:
        nb.cells.insert(tagged(PARAMETERS_TAG) + 1, cell)
    return nb
