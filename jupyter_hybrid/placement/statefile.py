"""Site states and usage from a JSON document, so placement can be checked without clusters.

Two shapes are read::

    {"onprem": {"gpus_total": {"A100": 8}, "gpus_free": {"A100": 0}}, "cloud-eu": {...}}
    {"sites": {...as above...}, "usage": {"users": {"alice": {"gpus": 4, "cpu": 8}},
                                          "groups": {"ml": {"gpus": 10}}}}

A site's missing fields come from the catalog (name from the key, kind, region, display name,
on_prem, cost_per_hour, prices, provision_seconds) or default to an idle site: ``cpu_free``,
``memory_free`` and ``gpus_free`` default to the totals. Unknown sites and fields are refused.
"""

from __future__ import annotations

import dataclasses
import difflib

from pydantic import TypeAdapter, ValidationError

from ..catalog import Catalog
from ..sitedata import SiteState
from .model import Usage

FIELDS = [f.name for f in dataclasses.fields(SiteState)]
_ADAPTER = TypeAdapter(SiteState)


class StateFileError(ValueError):
    """A state document that cannot be used; ``str()`` names the key and the fix."""


def _unknown(where: str, key: str, allowed: list[str]) -> StateFileError:
    near = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return StateFileError(f"{where}: unknown key {key!r}. Fix: {hint}allowed keys: {', '.join(allowed)}")


def _is_wrapped(data: dict, catalog: Catalog) -> bool:
    if not data or not set(data) <= {"sites", "usage"}:
        return False
    if "sites" in catalog.sites and "usage" not in data:  # a site named 'sites' given alone
        inner = data["sites"]
        return isinstance(inner, dict) and not set(inner) <= set(FIELDS)
    return True


def site_state(name: str, fields: object, catalog: Catalog) -> SiteState:
    where = f"sites.{name}"
    if name not in catalog.sites:
        raise StateFileError(
            f"{where}: no such site in the catalog. Fix: use one of {', '.join(catalog.sites)}"
        )
    if not isinstance(fields, dict):
        raise StateFileError(f"{where}: expected an object of SiteState fields, got {type(fields).__name__}")
    for key in fields:
        if key not in FIELDS:
            raise _unknown(where, key, FIELDS)
    spec = catalog.sites[name]
    data = {
        "name": name,
        "kind": spec.kind,
        "region": spec.region,
        "display_name": spec.display_name,
        "on_prem": spec.on_prem,
        "cost_per_hour": spec.cost_per_hour,
        "prices": dict(spec.prices),
        "provision_seconds": spec.provision_seconds,
        **fields,
    }
    if data["name"] != name:
        raise StateFileError(f"{where}.name: is {data['name']!r}. Fix: leave it out or write {name!r}")
    for free, total in (
        ("cpu_free", "cpu_total"),
        ("memory_free", "memory_total"),
        ("gpus_free", "gpus_total"),
    ):
        if free not in fields and total in fields:
            data[free] = fields[total]
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise StateFileError(
            f"{where}.{key}: {err['msg']} (got {err.get('input')!r}). Fix: correct this value"
        ) from None


def _limits(where: str, data: object) -> tuple[int, float]:
    if not isinstance(data, dict):
        raise StateFileError(f'{where}: expected an object like {{"gpus": 4, "cpu": 8}}')
    for key in data:
        if key not in ("gpus", "cpu"):
            raise _unknown(where, key, ["cpu", "gpus"])
    gpus, cpu = data.get("gpus", 0), data.get("cpu", 0)
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 0:
        raise StateFileError(f"{where}.gpus: expected a whole number ≥ 0, got {gpus!r}")
    if not isinstance(cpu, (int, float)) or isinstance(cpu, bool) or cpu < 0:
        raise StateFileError(f"{where}.cpu: expected a number ≥ 0, got {cpu!r}")
    return gpus, float(cpu)


def usage_for(data: object, user: str) -> Usage:
    """``user``'s usage and every group's, from ``{"users": {...}, "groups": {...}}``."""
    if data is None:
        return Usage()
    if not isinstance(data, dict):
        raise StateFileError("usage: expected an object with 'users' and/or 'groups'")
    for key in data:
        if key not in ("users", "groups"):
            raise _unknown("usage", key, ["groups", "users"])
    users, groups = data.get("users", {}), data.get("groups", {})
    for section, value in (("users", users), ("groups", groups)):
        if not isinstance(value, dict):
            raise StateFileError(f"usage.{section}: expected an object of name -> {{gpus, cpu}}")
    parsed_users = {u: _limits(f"usage.users.{u}", v) for u, v in users.items()}
    parsed_groups = {g: _limits(f"usage.groups.{g}", v) for g, v in groups.items()}
    gpus, cpu = parsed_users.get(user, (0, 0.0))
    return Usage(
        gpus, cpu, {g: v[0] for g, v in parsed_groups.items()}, {g: v[1] for g, v in parsed_groups.items()}
    )


def parse_state(data: object, catalog: Catalog, user: str) -> tuple[dict[str, SiteState], Usage]:
    """Site states by name, and ``user``'s usage, from a parsed state document."""
    if not isinstance(data, dict):
        raise StateFileError('expected a JSON object of site name -> state, or {"sites": ..., "usage": ...}')
    usage = None
    if _is_wrapped(data, catalog):
        usage = data.get("usage")
        data = data.get("sites", {})
        if not isinstance(data, dict):
            raise StateFileError("sites: expected an object of site name -> state")
    states = {name: site_state(name, fields, catalog) for name, fields in data.items()}
    return states, usage_for(usage, user)
