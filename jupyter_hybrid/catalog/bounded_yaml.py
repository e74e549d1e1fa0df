"""YAML read with a bound on what its aliases expand to (catalogs and profile lists).

PyYAML shares the node an alias points at, so loading a "billion laughs" is cheap; what is not
cheap is everything after it: validation, error messages and dumps walk the expanded tree (a
545-byte catalog took minutes and gigabytes). So the composed node graph is measured as if every
alias were written out, before anything is constructed, and refused past a bound no real catalog or
z2jh values file comes near. The graph itself is the size of the text, so measuring costs little.
"""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

#: Values (scalars, lists, mappings) once aliases are written out (a big z2jh values file: a few thousand).
MAX_VALUES = 100_000
#: Characters of text once aliases are written out.
MAX_CHARS = 10_000_000


class YAMLInputError(ValueError):
    """YAML that cannot be used; ``str()`` names the source, where and the fix, never quoting the input."""


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: Node, source: str, max_values: int, max_chars: int) -> None:
    """Raise YAMLInputError if ``root`` written out (aliases expanded) exceeds the bounds, or is recursive.

    Iterative, with each shared node measured once: linear in the size of the text."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, characters) expanded
    open_: set[int] = set()  # nodes whose children are being measured: the current path
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, measured = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, ScalarNode):
            sizes[key] = (1, len(node.value))
            continue
        if not measured:
            if key in open_:
                mark = node.start_mark
                raise YAMLInputError(
                    f"{source}: the block at line {mark.line + 1} holds an alias to itself (a recursive "
                    "alias). Fix: write the value out instead of the alias"
                )
            open_.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
            continue
        open_.discard(key)
        values, chars = 1, 0
        for child in _children(node):
            v, c = sizes[id(child)]
            values, chars = values + v, chars + c
        if values > max_values or chars > max_chars:
            raise YAMLInputError(
                f"{source}: too big once its aliases (*name) are written out: more than {max_values} "
                f"values or {max_chars} characters (a YAML alias bomb?). Fix: write the aliased blocks "
                "out, or alias fewer or smaller blocks"
            )
        sizes[key] = (values, chars)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that measures each document's expansion before constructing it."""

    source = "the file"
    max_values = MAX_VALUES
    max_chars = MAX_CHARS

    def compose_document(self):
        node = super().compose_document()
        if node is not None:
            _check_expansion(node, self.source, self.max_values, self.max_chars)
        return node


def load_yaml(text: str, source: str, *, max_values: int = MAX_VALUES, max_chars: int = MAX_CHARS):
    """``yaml.safe_load(text)``, refusing alias bombs, recursive aliases and runaway nesting.

    Errors are YAMLInputError naming ``source``, the line and column, and the fix."""
    loader = _BoundedLoader(text)
    loader.source, loader.max_values, loader.max_chars = source, max_values, max_chars
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "cannot be read"
        if len(problem) > 120:  # it may hold a name from the file (an alias, a tag)
            problem = problem[:119] + "…"
        raise YAMLInputError(f"{source}: not valid YAML{where}: {problem}. Fix: correct the file") from None
    except RecursionError:
        raise YAMLInputError(
            f"{source}: nested too deeply to read. Fix: flatten the file (a catalog nests a few levels)"
        ) from None
    finally:
        loader.dispose()
