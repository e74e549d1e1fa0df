"""user_options: parse the form and validate any options (form or REST) against the catalog.

The form is never trusted: the same ``validate_options`` runs for form posts, REST API spawns
and options saved from an earlier spawn. Sites and images are never user options: placement
picks the site, the catalog names the image.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from ..catalog import Catalog, Tier, TierOption
from ..placement import access_problem
from ..placement.rules import MAX_NAME, default_for
from ..quote import quote

OPTION_KEYS = ("tier", "environment", "datasets", "options")
#: value of the form's "Other..." entry: not a slug, so never a listed choice
OTHER = "__other__"
#: longest free-text (unlisted_choice) value accepted, in characters
MAX_VALUE = 512
#: most unknown names one message lists
_LISTED = 5
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class OptionsError(ValueError):
    """user_options that cannot be used; the message tells the user what to pick instead."""


@dataclass(frozen=True)
class Choice:
    """What the user chose, validated: names from the catalog and tier-option values."""

    tier: str
    environment: str
    datasets: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)  # tier option -> choice slug or free value

    def to_dict(self) -> dict:
        return {
            "tier": self.tier,
            "environment": self.environment,
            "datasets": list(self.datasets),
            "options": dict(self.options),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Choice:
        return cls(
            data["tier"], data["environment"], tuple(data.get("datasets", ())), dict(data.get("options", {}))
        )


# --- the form ----------------------------------------------------------------------------------


def _one(key: str, values: list[str]) -> str:
    if len(values) != 1:
        raise OptionsError(f"field {quote(key)} must have exactly one value")
    return values[0]


def _names(names) -> str:
    """Unknown names for a message: quoted, truncated, at most a few."""
    names = list(names)
    shown = ", ".join(quote(n) for n in names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _longest_value(catalog: Catalog | None) -> int:
    """Longest tier-option value the catalog can accept: a free value or a listed choice's key."""
    if catalog is None:
        return MAX_VALUE
    keys = [len(c) for t in catalog.tiers.values() for o in t.options.values() for c in o.choices]
    return max([MAX_VALUE, *keys])


def _too_long(what: str, value: str, limit: int, fix: str) -> OptionsError:
    return OptionsError(
        f"{what} {quote(value)} is {len(value):,} characters long; at most {limit} are allowed: {fix}"
    )


def check_form_sizes(form_data: dict[str, list[str]], catalog: Catalog | None) -> None:
    """Refuse overlong fields before any other check, so a huge value costs nothing further."""
    longest_field = len("option-") + MAX_NAME + len("-unlisted")
    longest_value = _longest_value(catalog)
    datasets = len(catalog.datasets) if catalog else None
    for key, values in form_data.items():
        if len(key) > longest_field:
            raise _too_long("form field", key, longest_field, "post only the form's own fields")
        if key == "_xsrf":
            continue
        if key == "datasets" and datasets is not None and len(values) > datasets:
            raise OptionsError(f"{len(values):,} datasets posted; the catalog has {datasets}")
        limit = longest_value if key.startswith("option-") else MAX_NAME
        for value in values:
            if len(value) > limit:
                raise _too_long(f"field {quote(key)}:", value, limit, "choose or type a shorter value")


def options_from_form(form_data: dict[str, list[str]], catalog: Catalog | None = None) -> dict:
    """Form fields (dict of lists of strings) -> user_options. Unknown fields are refused.

    ``environment-TIER`` (one select per tier) gives the chosen tier's environment, unless
    ``environment`` is posted. ``option-NAME`` (a listed choice, or ``__other__``) and
    ``option-NAME-unlisted`` (the free text) are kept for the chosen tier; fields of another
    tier's options are ignored (posted by a browser without JavaScript after the tier changed).
    Everything is validated afterwards by ``validate_options``."""
    options: dict[str, Any] = {}
    fields: dict[str, str] = {}  # option-NAME and option-NAME-unlisted, without "option-"
    per_tier: dict[str, str] = {}  # environment-TIER, without "environment-"
    check_form_sizes(form_data, catalog)
    for key, values in form_data.items():
        if key == "_xsrf":
            continue
        if key in ("tier", "environment"):
            options[key] = _one(key, values)
        elif key == "datasets":
            options["datasets"] = [v for v in values if v]
        elif key.startswith("environment-"):  # the form's environment select of each tier
            per_tier[key.removeprefix("environment-")] = _one(key, values)
        elif key.startswith("option-"):
            fields[key.removeprefix("option-")] = _one(key, values)
        else:
            raise OptionsError(
                f"unknown field {quote(key)}; "
                "this form takes only tier, environment, datasets and option-NAME"
            )
    if catalog is not None and any(t not in catalog.tiers for t in per_tier):
        bad = next(t for t in per_tier if t not in catalog.tiers)
        raise OptionsError(f"unknown field {quote('environment-' + bad)}; no tier has that name")
    if "environment" not in options and options.get("tier") in per_tier:
        options["environment"] = per_tier[options["tier"]]  # the chosen tier's; the others' ignored
    mine = _form_tier_options(catalog, options.get("tier"))
    every = {n for t in catalog.tiers.values() for n in t.options} if catalog else set()
    picked: dict[str, str] = {}
    unlisted: dict[str, str] = {}
    for key, value in fields.items():
        base = key.removesuffix("-unlisted")
        if key in mine:
            picked[key] = value
        elif base != key and base in mine:
            unlisted[base] = value
        elif key not in every and base not in every:
            raise OptionsError(f"unknown field {quote('option-' + key)}; no tier has an option {quote(base)}")
        # else: a field of another tier's option, posted after the tier changed: ignored
    values = {}
    for name in mine:
        value = picked.get(name)
        text = unlisted.get(name, "").strip()
        if value == OTHER or (value is None and text):
            if not text:
                raise OptionsError(f"option {name!r}: you chose Other... but typed no value; type one")
            value = text
        if value:
            values[name] = value
    if values:
        options["options"] = values
    return options


def _form_tier_options(catalog: Catalog | None, tier: object) -> dict[str, TierOption]:
    if catalog is None:
        return {}
    if tier is None or tier == "":
        marked = [n for n, t in catalog.tiers.items() if t.default]
        tier = (marked or list(catalog.tiers))[0]
    chosen = catalog.tiers.get(tier) if isinstance(tier, str) else None
    return dict(chosen.options) if chosen else {}


# --- validation --------------------------------------------------------------------------------


def _allowed(catalog: Catalog, section: str, groups: frozenset[str]) -> list[str]:
    return [n for n in getattr(catalog, section) if not access_problem(catalog, section, n, groups)]


def _pick(
    catalog: Catalog, section: str, value: object, groups: frozenset[str], among: list[str] | None = None
) -> str:
    kind = section.rstrip("s")
    allowed = [n for n in _allowed(catalog, section, groups) if among is None or n in among]
    if value is None or value == "":
        default = default_for(catalog, section, groups, among)  # as placement explain picks it
        if default is None:
            raise OptionsError(f"no {kind} is available to you; ask an admin to grant one")
        return default
    if not isinstance(value, str):
        raise OptionsError(f"{kind} must be a name (a string), got {type(value).__name__}")
    choices = ", ".join(allowed) or "none"
    if value not in getattr(catalog, section):
        raise OptionsError(
            f"{kind} {quote(value)} is not in the catalog (it may have been removed); "
            f"choose one of: {choices}"
        )
    problem = access_problem(catalog, section, value, groups)
    if problem:
        raise OptionsError(f"{problem}; choose one of: {choices}")
    if among is not None and value not in among:
        raise OptionsError(f"{kind} {quote(value)} is not offered with this tier; choose one of: {choices}")
    return value


def _datasets(catalog: Catalog, value: object, groups: frozenset[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OptionsError('datasets must be a list of dataset names, e.g. ["claims"]')
    allowed = ", ".join(_allowed(catalog, "datasets", groups)) or "none"
    for name in value:
        if name not in catalog.datasets:
            raise OptionsError(f"dataset {quote(name)} is not in the catalog; choose from: {allowed}")
        problem = access_problem(catalog, "datasets", name, groups)
        if problem:
            raise OptionsError(f"{problem}; choose from: {allowed}")
    return tuple(dict.fromkeys(value))  # each once, in the order given


def check_unlisted(name: str, option: TierOption, value: str) -> str | None:
    """Why a free-text value is refused for ``option``, or None. The regex must match it WHOLE."""
    unlisted = option.unlisted_choice
    listed = ", ".join(option.choices) or "none"
    if unlisted is None or not unlisted.enabled:
        return f"option {name!r}: {quote(value)} is not one of its choices; choose one of: {listed}"
    if len(value) > MAX_VALUE:
        return f"option {name!r}: the value is longer than {MAX_VALUE} characters; shorten it"
    if _CONTROL.search(value) or "{" in value or "}" in value:
        return f"option {name!r}: the value may not contain control characters (such as a newline), {{ or }}"
    if unlisted.validation_regex is not None and not re.fullmatch(unlisted.validation_regex, value):
        why = unlisted.validation_message or f"{quote(value)} must match {unlisted.validation_regex}"
        return f"option {name!r}: {why}"
    return None


def _tier_options(tier_name: str, tier: Tier, value: object) -> dict[str, str]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise OptionsError('options must be a JSON object of tier option -> value, e.g. {"image": "v2"}')
    unknown = sorted(set(value) - set(tier.options))
    if unknown:
        offered = ", ".join(tier.options) or "none"
        raise OptionsError(f"tier {tier_name!r} has no option(s) {_names(unknown)}; its options: {offered}")
    chosen = {}
    for name, option in tier.options.items():
        given = value.get(name)
        if given is None or given == "":
            marked = [c for c, choice in option.choices.items() if choice.default]
            given = (marked or list(option.choices) or [None])[0]
            if given is None:
                raise OptionsError(f"option {name!r} of tier {tier_name!r} needs a value; type one")
        if not isinstance(given, str):
            raise OptionsError(f"option {name!r} must be a string, got {type(given).__name__}")
        if given not in option.choices:
            problem = check_unlisted(name, option, given)
            if problem:
                raise OptionsError(problem)
        chosen[name] = given
    return chosen


def check_sizes(catalog: Catalog, user_options: dict) -> None:
    """Refuse names and values longer (or lists longer) than the catalog allows, before any other
    check: a 10 MB tier name costs one length test, and no message ever holds it whole."""
    for key in user_options:
        if isinstance(key, str) and len(key) > MAX_NAME:
            raise _too_long("option name", key, MAX_NAME, f"use {', '.join(OPTION_KEYS)}")
    fix = "catalog names are at most that long; choose one from the form"
    for key in ("tier", "environment"):
        value = user_options.get(key)
        if isinstance(value, str) and len(value) > MAX_NAME:
            raise _too_long(key, value, MAX_NAME, fix)
    datasets = user_options.get("datasets")
    if isinstance(datasets, list):
        if len(datasets) > len(catalog.datasets):
            raise OptionsError(
                f"{len(datasets):,} datasets asked for; the catalog has {len(catalog.datasets)}"
            )
        for name in datasets:
            if isinstance(name, str) and len(name) > MAX_NAME:
                raise _too_long("dataset", name, MAX_NAME, fix)
    options = user_options.get("options")
    if isinstance(options, dict):
        most = max(len(t.options) for t in catalog.tiers.values())
        if len(options) > most:
            raise OptionsError(f"{len(options):,} tier options given; no tier has more than {most}")
        longest = _longest_value(catalog)
        for name, value in options.items():
            if isinstance(name, str) and len(name) > MAX_NAME:
                raise _too_long("tier option", name, MAX_NAME, fix)
            if isinstance(value, str) and len(value) > longest:
                raise _too_long(f"option {quote(name)}:", value, longest, "shorten it")


def validate_options(catalog: Catalog, user_options: object, groups: frozenset[str]) -> Choice:
    """Resolve user_options to names this user may use and checked option values, or raise."""
    if user_options is None:
        user_options = {}
    if not isinstance(user_options, dict):
        raise OptionsError('user_options must be a JSON object such as {"tier": "small"}')
    check_sizes(catalog, user_options)
    unknown = sorted(set(user_options) - set(OPTION_KEYS))
    if unknown:
        raise OptionsError(
            f"unknown option(s) {_names(unknown)}; allowed: {', '.join(OPTION_KEYS)} "
            "(the site and the image follow from the tier and environment)"
        )
    tier = _pick(catalog, "tiers", user_options.get("tier"), groups)
    environment = _pick(
        catalog, "environments", user_options.get("environment"), groups, catalog.tier_environments(tier)
    )
    return Choice(
        tier=tier,
        environment=environment,
        datasets=_datasets(catalog, user_options.get("datasets"), groups),
        options=_tier_options(tier, catalog.tiers[tier], user_options.get("options")),
    )


# --- what the chosen options change ------------------------------------------------------------


def _substitute(obj: Any, value: str) -> Any:
    if isinstance(obj, str):
        return obj.replace("{value}", value)
    if isinstance(obj, list):
        return [_substitute(v, value) for v in obj]
    if isinstance(obj, dict):
        return {k: _substitute(v, value) for k, v in obj.items()}
    return obj


def option_overrides(tier: Tier, options: dict[str, str]) -> dict:
    """KubeSpawner traits from the chosen tier options, in the tier's option order.

    ``{value}`` is replaced (plain text replacement, never ``str.format``) only in string values of
    an unlisted_choice's ``kubespawner_override``."""
    out: dict = {}
    for name, option in tier.options.items():
        value = options.get(name)
        if value is None:
            continue
        if value in option.choices:
            out.update(copy.deepcopy(option.choices[value].kubespawner_override))
        elif option.unlisted_choice is not None:
            out.update(_substitute(option.unlisted_choice.kubespawner_override, value))
    return out
