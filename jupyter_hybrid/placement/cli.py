"""``jupyter hybrid placement explain``: the decision the hub would make, and why.

Exit status: 0 placed, 1 not placeable (the reasons say why), 2 bad input (message on stderr).
This is the I/O edge of the pure placement room: it reads files, and asks the sites of
``jupyter_hybrid.sites`` which environments they can run and (without ``--state``) their live
state. It then decides with ``place`` on the same inputs as the hub, so both say the same.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path

from ..catalog import Catalog, CatalogError, load_catalog
from ..quote import quote
from ..sitedata import SiteState
from ..wording import price_text, wait_text
from . import Request, Usage, environment_problems, place
from .rules import MAX_NAME, default_for
from .statefile import StateFileError, parse_state

DEFAULT_CATALOG = Path(__file__).parent.parent / "catalog" / "default.yaml"


class InputError(ValueError):
    """Bad input to the command: printed on stderr, exit 2."""


def catalog_path(given: str | None) -> str:
    """--catalog, else $JUPYTER_HYBRID_CATALOG, else the packaged default catalog."""
    return given or os.environ.get("JUPYTER_HYBRID_CATALOG") or str(DEFAULT_CATALOG)


def site_objects(catalog: Catalog) -> dict:
    """The catalog's site objects, as the hub builds them (no I/O until asked)."""
    from ..sites import SiteRegistry  # only the command line talks to sites

    return SiteRegistry().sync(catalog)


async def live_states(catalog: Catalog, sites: dict | None = None) -> dict[str, SiteState]:
    """Each site's state, refreshed now; a site that fails is reported unreachable with its error."""
    sites = site_objects(catalog) if sites is None else sites

    async def one(name, site):
        try:
            return await site.refresh()
        except Exception as e:  # any failure of one site must not hide the others
            spec = catalog.sites[name]
            return SiteState(
                name=name,
                kind=spec.kind,
                region=spec.region,
                on_prem=spec.on_prem,
                reachable=False,
                error=f"{type(e).__name__}: {e}",
            )

    results = await asyncio.gather(*(one(n, s) for n, s in sites.items()))
    return {s.name: s for s in results}


def read_state(path: str, catalog: Catalog, user: str) -> tuple[dict[str, SiteState], Usage]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(
            f"{path}: cannot read the state file ({e.strerror}). Fix: give an existing file"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    try:
        return parse_state(data, catalog, user)
    except StateFileError as e:
        raise InputError(f"{path}: {e}") from None


#: longest user or group name accepted (JupyterHub's own limit on names is 255)
MAX_USER = 255


def check_lengths(args) -> None:
    """Refuse names longer than the catalog (or the hub) allows, before any other check."""
    named = [("--tier", args.tier, MAX_NAME), ("--environment", args.environment, MAX_NAME)]
    named += [("--dataset", d, MAX_NAME) for d in args.dataset or ()]
    named += [("--user", args.user, MAX_USER)] + [("--group", g, MAX_USER) for g in args.group or ()]
    for flag, value, limit in named:
        if value is not None and len(value) > limit:
            raise InputError(
                f"{flag} {quote(value)} is {len(value):,} characters long. "
                f"Fix: give a name of at most {limit}"
            )


def build_request(args, catalog: Catalog, usage: Usage) -> Request:
    if args.tier not in catalog.tiers:
        raise InputError(f"unknown tier {quote(args.tier)}. Fix: use one of {', '.join(catalog.tiers)}")
    groups = frozenset(args.group or ())
    # the hub's default: the default environment among those the tier offers and the user may use
    env = args.environment or default_for(
        catalog, "environments", groups, catalog.tier_environments(args.tier)
    )
    if env is None:
        raise InputError(f"no environment of tier {args.tier!r} is open to {quote(args.user)}'s groups")
    if env not in catalog.environments:
        raise InputError(
            f"unknown environment {quote(env)}. Fix: use one of {', '.join(catalog.environments)}"
        )
    return Request(args.user, groups, args.tier, env, tuple(args.dataset or ()), usage)


def explain_text(request: Request, decision, catalog: Catalog) -> str:
    groups = ", ".join(sorted(request.groups)) or "no group"
    lines = [f"{request.user} ({groups}) asks for tier {request.tier!r}, environment {request.environment!r}"]
    if request.datasets:
        lines[0] += f", dataset(s) {', '.join(request.datasets)}"
    if decision.site is None:
        lines.append("Cannot be placed:")
        lines += [f"  - {r}" for r in decision.reasons]
        return "\n".join(lines)
    start = "starts now" if decision.wait_seconds is None else f"starts in {wait_text(decision.wait_seconds)}"
    lines.append(f"Placed on {decision.site} ({price_text(decision.price, catalog.currency)}, {start})")
    lines.append(f"Why: {decision.reasons[0]}")
    if len(decision.ranked) > 1:
        lines.append(f"Ranked: {', '.join(decision.ranked)}")
    if decision.reasons[1:]:
        lines.append("Left out:")
        lines += [f"  - {r}" for r in decision.reasons[1:]]
    return "\n".join(lines)


def _explain(args) -> int:
    try:
        check_lengths(args)
        path = catalog_path(args.catalog)
        try:
            catalog = load_catalog(path)
        except CatalogError as e:
            raise InputError(str(e)) from None
        if args.state:
            states, usage = read_state(args.state, catalog, args.user)
        request = build_request(args, catalog, Usage())
    except InputError as e:
        print(f"jupyter hybrid placement explain: {e}", file=sys.stderr)
        return 2
    sites = site_objects(catalog)
    if not args.state:
        states, usage = asyncio.run(live_states(catalog, sites)), Usage()
    request = dataclasses.replace(request, usage=usage)
    decision = place(catalog, request, states, environment_problems(catalog, sites))
    if args.json:
        print(json.dumps(decision.to_dict(), indent=2))
    else:
        print(explain_text(request, decision, catalog))
    return 0 if decision.site else 1


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``placement explain`` to ``subparsers`` (of the main ``jupyter hybrid`` parser)."""
    placement = subparsers.add_parser("placement", help="see where the hub would place a workload, and why")
    sub = placement.add_subparsers(dest="placement_command", required=True)
    explain = sub.add_parser(
        "explain",
        help="print the placement decision for a request (exit 0 placed, 1 not placeable, 2 bad input)",
    )
    explain.add_argument(
        "--catalog",
        metavar="FILE",
        help="catalog file; default: $JUPYTER_HYBRID_CATALOG, else the packaged one",
    )
    explain.add_argument(
        "--state",
        metavar="STATE.json",
        help="site states (and usage) as JSON instead of reading the live sites; "
        "without it, usage counts as zero",
    )
    explain.add_argument("--user", required=True, help="the user asking")
    explain.add_argument("--group", action="append", metavar="G", help="a group of the user (repeatable)")
    explain.add_argument("--tier", required=True, help="hardware tier name")
    explain.add_argument("--environment", metavar="E", help="environment; default: the tier's default")
    explain.add_argument("--dataset", action="append", metavar="D", help="a requested dataset (repeatable)")
    explain.add_argument(
        "--json", action="store_true", help='print {"site", "reasons", "ranked", ...} as JSON'
    )
    explain.set_defaults(func=_explain)
    return placement
