"""``validation_regex`` between KubeSpawner (``re.match``: anchored at the start only) and the
catalog (``re.fullmatch``: the whole value, as the browser's ``pattern``)."""

from __future__ import annotations

import re
import re._constants as _sre_c  # the regex parser, to see where a regex may end (Python >= 3.11)
import re._parser as _sre


def anchored_at_end(regex: str) -> bool:
    """Whether every way ``regex`` can match ends at the end of the text (``$`` or ``\\Z`` last)."""
    try:
        tree = list(_sre.parse(regex))
    except re.error:
        return False

    def ends(items: list) -> bool:
        if not items:
            return False
        op, arg = items[-1]
        if op is _sre_c.AT:
            return arg in (_sre_c.AT_END, _sre_c.AT_END_STRING)
        if op is _sre_c.BRANCH:
            return all(ends(list(branch)) for branch in arg[1])
        if op is _sre_c.SUBPATTERN:
            return ends(list(arg[-1]))
        return False

    return ends(tree)


_WRAPPED = re.compile(r"\(\?:(?P<inner>.*)\)\$", re.DOTALL)


def regex_for_kubespawner(regex: str) -> str:
    """Our whole-value regex in a form KubeSpawner's ``re.match`` (and the form's pattern) read alike."""
    return regex if anchored_at_end(regex) else f"(?:{regex})$"


def regex_from_kubespawner(regex: str) -> str:
    """Undo ``regex_for_kubespawner`` (the same meaning under re.fullmatch); other regexes as they are."""
    match = _WRAPPED.fullmatch(regex)
    inner = match and match["inner"]
    if inner and not anchored_at_end(inner):
        try:
            re.compile(inner)
        except re.error:
            return regex
        return inner
    return regex
