"""``validation_regex`` (Python syntax) as an HTML ``pattern`` attribute with the same meaning."""

from __future__ import annotations

import re

#: what the browser's ``v``-flag regex syntax reserves in a character class: these alone, and these doubled
_CLASS_SYNTAX = set("()[]{}/-\\|")
_CLASS_DOUBLE = set("&!#$%*+,.:;<=>?@^`~")
#: escapes of punctuation valid with the ``v`` flag outside a class (``\\-`` or ``\\:`` are not)
_SYNTAX = set("^$\\.*+?()[]{}|/")
_QUANTIFIER = re.compile(r"\{(\d*)(,\d*)?\}")


def browser_pattern(regex: str) -> str:
    """A ``validation_regex`` (Python syntax) as an HTML ``pattern`` with the same meaning.

    Browsers compile ``pattern`` with the ``v`` flag and silently drop one that does not compile,
    and with it every check in the form: ``[a-z0-9._-]`` (a bare ``-`` or ``/`` in a class), a
    literal ``{``, ``\\-`` outside a class and ``(?P<name>`` are Python but not ``v`` syntax."""
    out: list[str] = []
    i, n, in_class, can_range, range_end = 0, len(regex), False, False, False

    def class_char(c: str, nxt: str) -> str:
        return "\\" + c if c in _CLASS_SYNTAX or (c in _CLASS_DOUBLE and nxt == c) else c

    while i < n:
        c, nxt = regex[i], regex[i + 1 : i + 2]
        if c == "\\" and nxt:
            i += 2
            if nxt.isalnum() or nxt == "_":
                out.append({"A": "^", "Z": "$"}.get(nxt, "\\" + nxt) if not in_class else "\\" + nxt)
                can_range, range_end = nxt not in "dDsSwW" and not range_end, False
            elif in_class:
                out.append(class_char(nxt, regex[i : i + 1]) if nxt not in _SYNTAX else "\\" + nxt)
                can_range, range_end = not range_end, False
            else:
                out.append("\\" + nxt if nxt in _SYNTAX else nxt)
            continue
        i += 1
        if in_class:
            if c == "]":
                in_class = False
                out.append(c)
            elif c == "-" and can_range and nxt not in ("", "]"):
                out.append(c)  # a range: its end is the next character or escape
                can_range, range_end = False, nxt == "\\"
                if nxt != "\\":
                    out.append(class_char(nxt, regex[i + 1 : i + 2]))
                    i += 1
            else:
                out.append(class_char(c, nxt))
                can_range = True
        elif c == "[":
            in_class, can_range = True, False
            out.append(c)
            if regex.startswith("^", i):
                out.append("^")
                i += 1
            if regex.startswith("]", i):  # a literal "]" first in a Python class
                out.append("\\]")
                i, can_range = i + 1, True
        elif c == "{":
            m = _QUANTIFIER.match(regex, i - 1)
            if m and (m.group(1) or m.group(2)):  # {,n} and {,}: from 0 in Python
                out.append("{" + (m.group(1) or "0") + (m.group(2) or "") + "}")
                i = m.end()
            else:
                out.append("\\{")  # a literal brace in Python
        elif c in "}]":
            out.append("\\" + c)
        elif c == "(" and regex.startswith("?P<", i):
            out.append("(?<")
            i += 3
        else:
            out.append(c)
    return "".join(out)
