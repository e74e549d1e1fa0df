"""user_options: parse the form and validate any options (form or REST) against the catalog.

The form is never trusted: the same ``validate_options`` runs for form posts, REST API spawns
and options saved from an earlier spawn.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import Catalog
from ..placement import access_problem

OPTION_KEYS = ("tier", "environment")


class OptionsError(ValueError):
    """user_options that cannot be used; the message tells the user what to pick instead."""


@dataclass(frozen=True)
class Choice:
    tier: str
    environment: str


def options_from_form(form_data: dict[str, list[str]]) -> dict[str, str]:
    """Form fields (dict of lists of strings) -> user_options. Unknown fields are refused."""
    options = {}
    for key, values in form_data.items():
        if key == "_xsrf":
            continue
        if key not in OPTION_KEYS:
            raise OptionsError(f"unknown field {key!r}; this form takes only {', '.join(OPTION_KEYS)}")
        if len(values) != 1:
            raise OptionsError(f"field {key!r} must have exactly one value")
        options[key] = values[0]
    return options


def _allowed(catalog: Catalog, section: str, groups: frozenset[str]) -> list[str]:
    return [n for n in getattr(catalog, section) if not access_problem(catalog, section, n, groups)]


def _pick(catalog: Catalog, section: str, value: object, groups: frozenset[str]) -> str:
    kind = section.rstrip("s")
    allowed = _allowed(catalog, section, groups)
    if value is None or value == "":
        default = catalog.default_name(section, allowed)
        if default is None:
            raise OptionsError(f"no {kind} is available to you; ask an admin to grant one")
        return default
    if not isinstance(value, str):
        raise OptionsError(f"{kind} must be a name (a string), got {type(value).__name__}")
    choices = ", ".join(allowed) or "none"
    if value not in getattr(catalog, section):
        raise OptionsError(
            f"{kind} {value!r} is not in the catalog (it may have been removed); choose one of: {choices}"
        )
    problem = access_problem(catalog, section, value, groups)
    if problem:
        raise OptionsError(f"{problem}; choose one of: {choices}")
    return value


def validate_options(catalog: Catalog, user_options: object, groups: frozenset[str]) -> Choice:
    """Resolve user_options to a tier and environment this user may use, or raise OptionsError."""
    if user_options is None:
        user_options = {}
    if not isinstance(user_options, dict):
        raise OptionsError('user_options must be a JSON object such as {"tier": "small"}')
    unknown = sorted(set(user_options) - set(OPTION_KEYS))
    if unknown:
        raise OptionsError(f"unknown option(s) {', '.join(unknown)}; allowed: {', '.join(OPTION_KEYS)}")
    return Choice(
        tier=_pick(catalog, "tiers", user_options.get("tier"), groups),
        environment=_pick(catalog, "environments", user_options.get("environment"), groups),
    )
