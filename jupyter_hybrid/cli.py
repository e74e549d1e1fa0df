"""``jupyter hybrid``: the command line of jupyter-hybrid.

jupyter hybrid catalog validate FILE
"""

from __future__ import annotations

import argparse
import sys

from .catalog import CatalogError, load_catalog
from .placement import cli as placement_cli
from .snapshots import cli as snapshot_cli


def _catalog_validate(args) -> int:
    try:
        catalog = load_catalog(args.file)
    except CatalogError as e:
        print(e, file=sys.stderr)
        return 1
    print(
        f"{args.file}: valid ({len(catalog.sites)} site(s), {len(catalog.tiers)} tier(s), "
        f"{len(catalog.environments)} environment(s))"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter hybrid", description="jupyter-hybrid commands")
    sub = parser.add_subparsers(dest="command", required=True)
    catalog = sub.add_parser("catalog", help="work with the catalog of sites, tiers and environments")
    catalog_sub = catalog.add_subparsers(dest="action", required=True)
    validate = catalog_sub.add_parser("validate", help="check a catalog file; exit 1 with the error")
    validate.add_argument("file")
    validate.set_defaults(func=_catalog_validate)
    snapshot_cli.register(sub)
    placement_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
