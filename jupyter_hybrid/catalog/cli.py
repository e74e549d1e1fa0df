"""``jupyter hybrid catalog ...``: validate a catalog; import and export KubeSpawner profile_lists.

Exit status: 0 done; 1 the catalog given is invalid (validate); 2 the input cannot be used
(unreadable file, no profile_list, a profile KubeSpawner could not use, an existing --out without --force).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from .bounded_yaml import YAMLInputError, load_yaml
from .load import CatalogError, load_catalog, parse_catalog
from .profiles import ProfileError, export_profiles, import_profiles


class _Stop(Exception):
    """Stop the command with a message for stderr and exit status 2."""


def _validate(args) -> int:
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


def _read(path: str):
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise _Stop(f"{path}: cannot read it ({e.strerror})") from None
    if path.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise _Stop(f"{path}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
        except RecursionError:
            raise _Stop(f"{path}: nested too deeply to read. Fix: flatten the file") from None
    try:
        return load_yaml(text, path)  # aliases bounded: a profile list is read like a catalog
    except YAMLInputError as e:
        raise _Stop(str(e)) from None


def _write(path: str | None, text: str, force: bool) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    out = Path(path)
    if out.exists() and not force:
        raise _Stop(f"{out}: exists; not overwritten. Fix: pass --force, or choose another --out")
    try:
        out.write_text(text)
    except OSError as e:
        raise _Stop(f"{out}: cannot write it ({e.strerror})") from None


def _import(args) -> int:
    if Path(args.out).exists() and not args.force:
        raise _Stop(f"{args.out}: exists; not overwritten. Fix: pass --force, or choose another --out")
    site_spec = {k: getattr(args, k) for k in ("region", "namespace", "context") if getattr(args, k)}
    result = import_profiles(
        _read(args.file),
        key=args.key,
        site=args.site,
        site_spec=site_spec,
        default_cpu=args.default_cpu,
        default_memory=args.default_memory,
        source=args.file,
    )
    try:  # what we write must load; a failure here is a bug in the import, said plainly
        parse_catalog(result.catalog, f"catalog imported from {args.file}")
    except CatalogError as e:
        raise _Stop(f"{e}\n(the imported catalog does not validate; please report this)") from None
    where = f"key {result.key}" if result.key else "the whole file"
    header = (
        f"# Imported from {args.file} ({where}) by `jupyter hybrid catalog import-profiles`.\n"
        f"# Check it with: jupyter hybrid catalog validate {args.out}\n"
    )
    _write(args.out, header + yaml.safe_dump(result.catalog, sort_keys=False, allow_unicode=True), True)
    tiers, envs = result.catalog["tiers"], result.catalog["environments"]
    print(f"{args.file}: profile_list read from {where}")
    print(
        f"{args.out}: {len(tiers)} tier(s) ({', '.join(tiers)}), {len(envs)} environment(s), "
        f"site {args.site!r}"
    )
    if result.carried:
        carried = "; ".join(f"{k} ({', '.join(v)})" for k, v in sorted(result.carried.items()))
        print(f"carried as kubespawner_override: {carried}")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def _export(args) -> int:
    try:
        catalog = load_catalog(args.catalog)
    except CatalogError as e:
        raise _Stop(str(e)) from None
    profiles = export_profiles(catalog, args.site)
    header = (
        f"# KubeSpawner profile_list for site {args.site!r} of {args.catalog}, written by\n"
        "# `jupyter hybrid catalog export-profiles`. Use it as singleuser.profileList (z2jh values)\n"
        "# or c.KubeSpawner.profile_list.\n"
    )
    _write(args.out, header + yaml.safe_dump(profiles, sort_keys=False, allow_unicode=True), args.force)
    if args.out:
        print(f"{args.out}: {len(profiles)} profile(s) ({', '.join(p['slug'] for p in profiles)})")
    return 0


def _guarded(func: Callable) -> Callable:
    def run(args) -> int:
        try:
            return func(args)
        except (_Stop, ProfileError) as e:
            print(e, file=sys.stderr)
            return 2

    return run


def register(sub) -> None:
    """Add ``catalog`` and its actions to the ``jupyter hybrid`` subparsers ``sub``."""
    catalog = sub.add_parser("catalog", help="work with the catalog of sites, tiers and environments")
    actions = catalog.add_subparsers(dest="action", required=True)
    validate = actions.add_parser("validate", help="check a catalog file; exit 1 with the error")
    validate.add_argument("file")
    validate.set_defaults(func=_validate)

    imp = actions.add_parser(
        "import-profiles",
        help="write a catalog from a KubeSpawner profile_list (z2jh values.yaml, hub config, or a bare list)",
    )
    imp.add_argument("file", help="YAML or JSON file holding the profile_list")
    imp.add_argument(
        "--key",
        help="dotted path of the profile_list, e.g. singleuser.profileList; default: the first found of "
        "the usual places",
    )
    imp.add_argument("--out", required=True, help="catalog file to write")
    imp.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    imp.add_argument("--site", default="imported", help="name of the kubernetes site (default: imported)")
    imp.add_argument("--namespace", help="the site's namespace (default: default)")
    imp.add_argument("--context", help="the site's kubeconfig context (default: the current one)")
    imp.add_argument("--region", help="the site's region, for data residency (default: local)")
    imp.add_argument(
        "--default-cpu",
        type=float,
        help="cores (guarantee = limit) for profiles that set and inherit no cpu_limit/guarantee "
        "(default: such a tier reserves none)",
    )
    imp.add_argument(
        "--default-memory",
        help="memory, e.g. 4G, for profiles that set and inherit no mem_limit/guarantee (default: none)",
    )
    imp.set_defaults(func=_guarded(_import))

    exp = actions.add_parser("export-profiles", help="write a KubeSpawner profile_list for one site's tiers")
    exp.add_argument("catalog", help="catalog file")
    exp.add_argument("--site", required=True, help="a kubernetes site of the catalog")
    exp.add_argument("--out", help="file to write (default: standard output)")
    exp.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    exp.set_defaults(func=_guarded(_export))
