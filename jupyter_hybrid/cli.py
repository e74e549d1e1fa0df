"""``jupyter hybrid``: the command line of jupyter-hybrid.

jupyter hybrid catalog validate FILE
jupyter hybrid catalog import-profiles FILE --out CATALOG
jupyter hybrid catalog export-profiles CATALOG --site NAME
jupyter hybrid control-plane [--catalog FILE] [--runs-dir DIR]   (the hub service 'jupyter-hybrid')
jupyter hybrid job run|create|list|runs|logs|pause|resume|delete|cancel|run-now ...
"""

from __future__ import annotations

import argparse
import sys

from .catalog import cli as catalog_cli
from .jobs import cli as job_cli
from .placement import cli as placement_cli
from .service import control_plane as control_plane_cli
from .snapshots import cli as snapshot_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter hybrid", description="jupyter-hybrid commands")
    sub = parser.add_subparsers(dest="command", required=True)
    catalog_cli.register(sub)
    snapshot_cli.register(sub)
    placement_cli.register(sub)
    job_cli.register(sub)
    control_plane_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
