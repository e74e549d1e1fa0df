"""Typed notebook parameters: declared types, conversion, names, literal injection."""

from __future__ import annotations

import math

import nbformat
import pytest

from jupyter_hybrid.jobs.parameters import (
    INJECTED_TAG,
    ParameterError,
    check_parameters,
    declared_parameters,
    inject,
    injected_source,
    parse_text,
)

CELL = """\
alpha = 0.5
n: int = 3  # how many rounds
names = ["a", "b"]
cfg: dict = {"x": 1}
maybe = None
flag = True
title = "héllo"  # the title
limit: Optional[int] = None
"""


def notebook(params: str | None = CELL) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_code_cell("print(alpha)"))
    return nb


def test_declared_types_from_annotations_and_defaults():
    declared = declared_parameters(notebook())
    kinds = {name: (p.kind, p.optional) for name, p in declared.parameters.items()}
    assert kinds == {
        "alpha": ("float", False),
        "n": ("int", False),
        "names": ("list", False),
        "cfg": ("dict", False),
        "maybe": ("any", True),
        "flag": ("bool", False),
        "title": ("str", False),
        "limit": ("int", True),
    }
    assert declared.parameters["n"].help == "how many rounds"
    assert declared.cell_found and declared.note() == ""


def test_int_for_a_float_parameter_becomes_a_float():
    # papermill leaves `-p alpha 2` an int where the cell says 0.5 (papermill #55)
    got = check_parameters(declared_parameters(notebook()), {"alpha": 2, "n": 4.0})
    assert got == {"alpha": 2.0, "n": 4}
    assert isinstance(got["alpha"], float) and isinstance(got["n"], int)


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"alpha": "2"}, "parameter 'alpha' expects float"),
        ({"n": 2.5}, "parameter 'n' expects int"),
        ({"flag": 1}, "parameter 'flag' expects bool"),
        ({"title": None}, "parameter 'title' may not be None"),
        ({"names": {"a": 1}}, "parameter 'names' expects list"),
        ({"cfg": [1]}, "parameter 'cfg' expects dict"),
        ({"beta": 1}, "not declared in the notebook's parameters cell"),
        ({"a\nimport os": 1}, "is not a Python identifier"),
        ({"class": 1}, "is not a Python identifier"),
    ],
)
def test_refused_values_say_what_is_wrong(values, expected):
    with pytest.raises(ParameterError, match=expected):
        check_parameters(declared_parameters(notebook()), values)


def test_every_problem_reported_and_long_values_quoted_short():
    with pytest.raises(ParameterError) as e:
        check_parameters(declared_parameters(notebook()), {"alpha": "x" * 10_000_000, "beta": 1})
    message = str(e.value)
    assert "alpha" in message and "beta" in message
    assert len(message) < 600


def test_none_lists_dicts_unicode_and_code_like_strings_are_literals():
    values = {
        "maybe": None,
        "limit": None,
        "names": ["é", "日本", None, 1.5],
        "cfg": {"nested": {"k": [True, False]}, "nan": float("nan")},
        "title": "__import__('os').system('touch /tmp/pwned')",
    }
    checked = check_parameters(declared_parameters(notebook()), values)
    namespace: dict = {}
    exec(injected_source(checked), {}, namespace)  # what the kernel will run
    assert namespace["title"] == values["title"]  # still a string, never executed
    assert namespace["names"] == ["é", "日本", None, 1.5]
    assert namespace["cfg"]["nested"] == {"k": [True, False]}
    assert math.isnan(namespace["cfg"]["nan"])
    assert namespace["maybe"] is None and namespace["limit"] is None


def test_without_a_parameters_cell_any_identifier_is_accepted():
    declared = declared_parameters(notebook(None))
    assert not declared.cell_found
    assert "no cell tagged 'parameters'" in declared.note()
    assert check_parameters(declared, {"anything": [1, 2]}) == {"anything": [1, 2]}
    with pytest.raises(ParameterError, match="not a Python identifier"):
        check_parameters(declared, {"x = 1; import os; y": 1})


def test_objects_that_are_not_json_data_are_refused():
    declared = declared_parameters(notebook(None))
    with pytest.raises(ParameterError, match="use JSON data"):
        check_parameters(declared, {"x": object()})
    with pytest.raises(ParameterError, match="keys must be strings"):
        check_parameters(declared, {"x": {1: 2}})


def test_command_line_text_is_read_by_the_declared_type():
    p = declared_parameters(notebook()).parameters
    assert parse_text(p["alpha"], "2") == 2  # then converted to 2.0 by check_parameters
    assert parse_text(p["title"], "[1, 2]") == "[1, 2]"  # a str parameter takes the text as is
    assert parse_text(p["flag"], "false") is False
    assert parse_text(p["names"], "['a', 'b']") == ["a", "b"]
    assert parse_text(p["maybe"], "None") is None
    assert parse_text(None, "plain words") == "plain words"
    with pytest.raises(ParameterError, match="is not a list value"):
        parse_text(p["names"], "a, b")


def test_inject_after_the_parameters_cell_and_replace_an_earlier_injection():
    nb = notebook()
    once = inject(nb, {"alpha": 2.0})
    assert [c.metadata.get("tags") for c in once.cells][:2] == [["parameters"], [INJECTED_TAG]]
    assert once.cells[1].source == "# Parameters\nalpha = 2.0\n"
    assert once.metadata.papermill.parameters == {"alpha": 2.0}
    twice = inject(once, {"alpha": 3.0})
    assert len(twice.cells) == 3 and twice.cells[1].source.endswith("alpha = 3.0\n")
    assert len(nb.cells) == 2  # the original is not changed
    top = inject(notebook(None), {"x": 1})
    assert top.cells[0].metadata["tags"] == [INJECTED_TAG]
    nbformat.validate(twice)
