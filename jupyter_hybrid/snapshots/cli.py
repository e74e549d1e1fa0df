"""``jupyter hybrid snapshot ...``: capture, list, diff, export and restore from the command line.

:func:`register` adds the ``snapshot`` command to the main parser. Every subcommand returns an
exit status; errors print one line on stderr (no traceback) and return 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir
from pydantic import ValidationError

from ..quote import quote
from . import capture, export, localstore, trust
from . import diff as diffs
from . import restore as restoring
from .errors import SnapshotError
from .model import Snapshot, load_snapshot


def save(snap: Snapshot) -> str:
    """Store ``snap``; returns where. The one place the command line writes snapshots."""
    return str(localstore.save(snap))


def load(ref: str) -> Snapshot:
    """A snapshot from a JSON file path, or by id / unique id prefix from the store."""
    return load_with_owner(ref)[0]


def load_with_owner(ref: str) -> tuple[Snapshot, str | None]:
    """:func:`load` and whose record it is in the store (None for a file)."""
    path = Path(ref).expanduser()
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise SnapshotError(f"{ref} is not a snapshot file: {_one_line(e)}") from None
        return load_snapshot(data, str(path)), None
    return localstore.load_with_owner(ref)


def envs_dir() -> Path:
    """Where restored environments go: ``$JUPYTER_HYBRID_ENVS_DIR`` or ``<data dir>/jupyter_hybrid/envs``."""
    env = os.environ.get("JUPYTER_HYBRID_ENVS_DIR")
    return Path(env).expanduser() if env else Path(jupyter_data_dir()) / "jupyter_hybrid" / "envs"


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``snapshot`` and its subcommands to ``subparsers`` (of the main ``jupyter hybrid`` parser)."""
    snap = subparsers.add_parser("snapshot", help="capture, diff, export and restore environment snapshots")
    sub = snap.add_subparsers(dest="snapshot_command", required=True)

    cap = sub.add_parser("capture", help="capture the environment of an interpreter, a kernel or a notebook")
    target = cap.add_mutually_exclusive_group(required=True)
    target.add_argument("--python", metavar="PATH", help="an interpreter (path, or a command on PATH)")
    target.add_argument("--kernel", metavar="NAME", help="a kernelspec name")
    target.add_argument("--notebook", metavar="PATH", help="a notebook: its kernel; writes the id into it")
    cap.add_argument("--root", default=".", help="the folder the notebook must be in (default: .)")
    cap.add_argument("--name", help="a name for the snapshot")
    cap.add_argument("--note", help="a note for the snapshot")
    cap.add_argument("--json", action="store_true", help="print the whole snapshot as JSON")
    cap.add_argument("--no-save", action="store_true", help="do not store the snapshot")
    cap.add_argument(
        "--rename",
        action="store_true",
        help="when this environment was captured before, give it --name/--note (else its name is kept)",
    )
    cap.set_defaults(func=_capture)

    ls = sub.add_parser("list", help="stored snapshots, newest first")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    d = sub.add_parser("diff", help="what changed from snapshot A to snapshot B")
    d.add_argument("a", help="id, unique id prefix, or snapshot JSON file")
    d.add_argument("b", help="id, unique id prefix, or snapshot JSON file")
    d.add_argument("--json", action="store_true", help="print the diff as JSON")
    d.set_defaults(func=_diff)

    ex = sub.add_parser("export", help="write a binder/ folder or a pinned requirements.txt")
    ex.add_argument("id", help="id, unique id prefix, or snapshot JSON file")
    ex.add_argument("--format", choices=("binder", "requirements"), default="binder")
    ex.add_argument(
        "--out",
        metavar="PATH",
        help="binder: a new or empty folder; requirements: a .txt file or a folder for requirements.txt "
        "(default: stdout)",
    )
    ex.add_argument("--force", action="store_true", help="requirements: overwrite the file if it exists")
    ex.set_defaults(func=_export)

    rs = sub.add_parser("restore", help="recreate the environment and register it as a kernel")
    rs.add_argument("id", help="id, unique id prefix, or snapshot JSON file")
    rs.add_argument("--name", help="kernel (and environment) name; default snapshot-<short id>")
    rs.add_argument("--envs-dir", help="where environments go (default $JUPYTER_HYBRID_ENVS_DIR or data dir)")
    rs.add_argument(
        "--prefix", help="install the kernelspec under PREFIX/share/jupyter/kernels, not the user's"
    )
    rs.add_argument(
        "--trust-sources",
        action="store_true",
        help="restore another user's snapshot (or a snapshot file) that installs from URLs or repositories",
    )
    rs.add_argument("--json", action="store_true", help="print the result as JSON")
    rs.set_defaults(func=_restore)
    return snap


def _errors(func):
    @functools.wraps(func)
    def wrapper(args) -> int:
        try:
            return func(args)
        except (SnapshotError, ValidationError, OSError) as e:
            print(f"error: {_one_line(e)}", file=sys.stderr)
            return 1

    return wrapper


def _one_line(e: Exception) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg'].removeprefix('Value error, ')}"
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    text = ""
    for line in lines:  # "failed:\nERROR: a\nERROR: b" -> "failed: ERROR: a | ERROR: b"
        text += line if not text else (" " if text.endswith(":") else " | ") + line
    return text or type(e).__name__


@_errors
def _capture(args) -> int:
    kw = {"name": args.name, "note": args.note}
    if args.python:
        snap = capture.capture_python(args.python, **kw)
    elif args.kernel:
        snap = capture.capture_kernel(args.kernel, **kw)
    else:
        snap = capture.capture_notebook(args.notebook, args.root, **kw)
    where, record = (None, None) if args.no_save else localstore.save_record(snap, rename=args.rename)
    if args.json:
        print(snap.model_dump_json(indent=1))
    else:
        print(_summary(snap))
        if where:
            print(f"saved to {where}")
    if record and record["identical_to"]:
        kept = args.name is not None and record["name"] != args.name
        print(
            f"identical to snapshot {record['identical_to']!r} ({snap.short_id}), captured before"
            + (f"; kept its name: pass --rename to rename it to {quote(args.name)}" if kept else ""),
            file=sys.stderr,
        )
    return 0


def _summary(s: Snapshot) -> str:
    label = f" {s.name!r}" if s.name else ""
    count = f"{len(s.packages)} package{'' if len(s.packages) == 1 else 's'}"
    return (
        f"snapshot {s.short_id}{label}: Python {s.python.version} ({s.python.implementation}), "
        f"{s.platform.system} {s.platform.machine}, {count}"
        + (f", GPU driver {s.gpu.driver_version} CUDA {s.gpu.cuda_version}" if s.gpu else "")
    )


@_errors
def _list(args) -> int:
    snaps = localstore.list_snapshots()
    if args.json:
        rows = [{k: v for k, v in s.model_dump(mode="json").items() if k != "packages"} for s in snaps]
        print(json.dumps(rows, indent=1))
    else:
        for s in snaps:
            print(f"{s.captured_at:%Y-%m-%d %H:%M}  {_summary(s)}")
    return 0


@_errors
def _diff(args) -> int:
    d = diffs.diff(load(args.a), load(args.b))
    print(json.dumps(d, indent=1) if args.json else diffs.render_text(d), end="\n" if args.json else "")
    return 0


@_errors
def _export(args) -> int:
    snap = load(args.id)
    if args.format == "requirements":
        text = export.export_requirements(snap)
        if not args.out:
            print(text, end="")
            return 0
        target = requirements_path(Path(args.out))
        if target.exists() and not (args.force and target.is_file()):
            what = "is not a file" if not target.is_file() else "exists"
            raise SnapshotError(
                f"{quote(str(target), limit=120)} {what}; choose another --out"
                + (" or pass --force to overwrite it" if target.is_file() else "")
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
        return 0
    if not args.out:
        raise SnapshotError("give --out DIR: the folder to write the binder files into")
    for path in export.export_binder(snap, args.out):
        print(f"wrote {path}")
    return 0


def requirements_path(out: Path) -> Path:
    """``--out`` for requirements: a file (an existing one, or a new ``.txt``), else a folder for it."""
    if out.is_file() or (not out.exists() and out.suffix == ".txt"):
        return out
    return out / "requirements.txt"


@_errors
def _restore(args) -> int:
    snap, whose = load_with_owner(args.id)
    sources = [] if args.trust_sources or whose == localstore.owner() else trust.direct_sources(snap)
    if sources:
        label = "a snapshot file" if whose is None else f"{whose}'s shared snapshot"
        raise SnapshotError(trust.trust_message(snap, label, sources, "pass --trust-sources"))
    where = Path(args.envs_dir) if args.envs_dir else envs_dir()
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    result = restoring.restore(snap, args.name, where, progress=say, prefix=args.prefix)
    if args.json:
        out = {
            "kernel_name": result.kernel_name,
            "display_name": result.display_name,
            "env_path": str(result.env_path),
            "diff": result.diff,
        }
        print(json.dumps(out, indent=1))
    else:
        print(f"kernel {result.kernel_name!r} ({result.display_name}) runs {result.env_path}")
        print(diffs.render_text(result.diff), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``snapshot ...`` alone (as the main ``jupyter hybrid`` command would, once it registers it)."""
    parser = argparse.ArgumentParser(prog="jupyter hybrid", description="jupyter-hybrid snapshots")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
