"""Differences between two snapshots, as a JSON-ready dict and as readable text.

The diff covers exactly what a snapshot's id covers, so ``is_empty(diff(a, b))`` holds when
``a.id == b.id``: packages (version, installer, source), Python version and implementation,
platform system/machine/libc, NVIDIA driver, CUDA and the container image.
"""

from __future__ import annotations

from collections import Counter

from .model import Package, Snapshot, canonical_name

FIELDS = ("python", "implementation", "system", "machine", "libc", "driver", "cuda", "image")


def diff(a: Snapshot, b: Snapshot) -> dict:
    """What changed from ``a`` to ``b``.

    ``{"a", "b", "packages": {"added", "removed", "changed"}, "changes": {field: {"old", "new"}}}``;
    added/removed hold ``{name, version, installer, source}``, changed ``{name, old, new,
    old_installer, new_installer, old_source, new_source}`` (old/new are versions).
    """
    old, new = _by_key(a.packages), _by_key(b.packages)
    added = [new[k].model_dump() for k in sorted(new.keys() - old.keys())]
    removed = [old[k].model_dump() for k in sorted(old.keys() - new.keys())]
    changed = []
    for k in sorted(old.keys() & new.keys()):
        p, q = old[k], new[k]
        if (p.version, p.installer, p.source) != (q.version, q.installer, q.source):
            changed.append(
                {
                    "name": q.name,
                    "old": p.version,
                    "new": q.version,
                    "old_installer": p.installer,
                    "new_installer": q.installer,
                    "old_source": p.source,
                    "new_source": q.source,
                }
            )
    fa, fb = _fields(a), _fields(b)
    changes = {f: {"old": fa[f], "new": fb[f]} for f in FIELDS if fa[f] != fb[f]}
    return {
        "a": a.id,
        "b": b.id,
        "packages": {"added": added, "removed": removed, "changed": changed},
        "changes": changes,
    }


def is_empty(d: dict) -> bool:
    """True when the diff shows no difference (``added_for_kernel`` of a restore is not one)."""
    pkgs = d["packages"]
    return not (pkgs["added"] or pkgs["removed"] or pkgs["changed"] or d["changes"])


def render_text(d: dict) -> str:
    """A unified-style diff: ``python 3.11.7 -> 3.12.1``, ``+ numpy 2.1.0``, ``- six 1.16.0``,
    ``~ requests 2.31.0 -> 2.32.3``; packages in name order."""
    lines = [f"--- {d['a'][:12]}", f"+++ {d['b'][:12]}"]
    for field, change in d["changes"].items():
        lines.append(f"{field} {change['old'] or '(none)'} -> {change['new'] or '(none)'}")
    pkgs = d["packages"]
    rows = [(p["name"], f"+ {p['name']} {p['version']}{_origin(p)}") for p in pkgs["added"]]
    rows += [(p["name"], f"- {p['name']} {p['version']}{_origin(p)}") for p in pkgs["removed"]]
    for c in pkgs["changed"]:
        text = f"~ {c['name']} {c['old']}" + (f" -> {c['new']}" if c["old"] != c["new"] else "")
        if c["old_installer"] != c["new_installer"]:
            text += f" (installer {c['old_installer']} -> {c['new_installer']})"
        if c["old_source"] != c["new_source"]:
            text += f" (source {c['old_source']} -> {c['new_source']})"
        rows.append((c["name"], text))
    lines += [text for _, text in sorted(rows, key=lambda r: canonical_name(r[0]))]
    extra = pkgs.get("added_for_kernel") or []
    if extra:
        lines.append("added to run the kernel (not in the snapshot):")
        lines += [f"+ {p['name']} {p['version']}" for p in extra]
    if is_empty(d):
        lines.insert(2, "no differences")
    return "\n".join(lines) + "\n"


def _origin(p: dict) -> str:
    return "" if p["source"] == "pypi" else f" ({p['source']})"


def _by_key(packages: list[Package]) -> dict[str, Package]:
    """Packages by PEP 503 name; a conda package sharing its name with a pip one is keyed ``name (conda)``."""
    out: dict[str, Package] = {}
    names = [canonical_name(p.name) for p in packages]
    clash = {n for n, count in Counter(names).items() if count > 1}
    for p, n in zip(packages, names, strict=True):
        out[f"{n} (conda)" if n in clash and p.is_conda else n] = p
    return out


def _fields(s: Snapshot) -> dict:
    return {
        "python": s.python.version,
        "implementation": s.python.implementation,
        "system": s.platform.system,
        "machine": s.platform.machine,
        "libc": s.platform.libc,
        "driver": s.gpu.driver_version if s.gpu else None,
        "cuda": s.gpu.cuda_version if s.gpu else None,
        "image": s.hub.image if s.hub else None,
    }
