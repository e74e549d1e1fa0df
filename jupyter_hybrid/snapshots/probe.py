"""Describe the Python environment this script runs in, as one JSON document on stdout.

Standalone and standard-library only: it is run as ``[python, path/to/probe.py]`` inside the
interpreter being captured, which may have neither jupyter-hybrid nor pydantic. Python 3.8+
(``importlib.metadata``); older interpreters get a JSON ``error`` and exit status 2.

Output keys: ``python``, ``platform``, ``distributions`` (one per PEP 503 name, the first on
``sys.path`` wins, as for ``import``) and ``conda`` (records of ``<prefix>/conda-meta``, or null).
"""

import glob
import json
import os
import platform
import re
import sys

_NORMALIZE = re.compile(r"[-_.]+")


def _canonical(name):
    return _NORMALIZE.sub("-", name).lower()


def _python():
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
    }


def _platform():
    libc_name, libc_version = platform.libc_ver()
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "libc": (libc_name + " " + libc_version).strip() if libc_name else "",
    }


def _headers(dist):
    """Name and Version from the metadata headers, reading no further than the headers."""
    path = getattr(dist, "_path", None)  # PathDistribution: read the file's head, not the whole text
    if path is not None:
        for filename in ("METADATA", "PKG-INFO"):
            meta = os.path.join(str(path), filename)
            if os.path.isfile(meta):
                name = version = None
                with open(meta, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        if line in ("\n", "\r\n"):
                            break
                        if line.startswith("Name:") and name is None:
                            name = line[5:].strip()
                        elif line.startswith("Version:") and version is None:
                            version = line[8:].strip()
                        if name and version:
                            break
                return name, version
    meta = dist.metadata
    return (meta["Name"] if meta else None), dist.version


def _read_json(dist, filename):
    try:
        text = dist.read_text(filename)
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None


def _distributions(conda_owned):
    from importlib import metadata

    seen = {}
    for dist in metadata.distributions():
        name, version = _headers(dist)
        if not name:
            continue
        key = _canonical(name)
        if key in seen:
            continue
        installer = (dist.read_text("INSTALLER") or "").strip() or "unknown"
        path = getattr(dist, "_path", None)
        folder = os.path.basename(str(path)) if path is not None else ""
        seen[key] = {
            "name": name,
            "version": version or "",
            "installer": installer,
            "direct_url": _read_json(dist, "direct_url.json"),
            "conda_package": conda_owned.get(folder),
        }
    return list(seen.values())


def _channel(record):
    channel = record.get("channel") or ""
    subdir = record.get("subdir") or ""
    if subdir and channel.endswith("/" + subdir):
        channel = channel[: -len(subdir) - 1]
    for prefix in ("https://conda.anaconda.org/", "http://conda.anaconda.org/"):
        if channel.startswith(prefix):
            channel = channel[len(prefix) :]
    if channel.startswith("https://repo.anaconda.com/"):
        channel = channel[len("https://repo.anaconda.com/") :]
    return channel or "unknown"


def _conda(prefix):
    """Conda packages of ``prefix`` and which dist-info folder belongs to which package."""
    files = sorted(glob.glob(os.path.join(prefix, "conda-meta", "*.json")))
    if not files:
        return None, {}
    packages, owned = [], {}
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or not record.get("name"):
            continue
        packages.append(
            {
                "name": record["name"],
                "version": str(record.get("version", "")),
                "build": str(record.get("build", "")),
                "channel": _channel(record),
            }
        )
        for entry in record.get("files") or ():
            if not isinstance(entry, str):
                continue
            for marker in (".dist-info/", ".egg-info/"):
                at = entry.find(marker)
                if at != -1:
                    owned[os.path.basename(entry[: at + len(marker) - 1])] = record["name"]
                    break
    return packages, owned


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import importlib.metadata  # noqa: F401
    except ImportError:
        json.dump(
            {"error": "Python " + platform.python_version() + " is too old: snapshots need Python 3.8+"},
            sys.stdout,
        )
        return 2
    conda, owned = _conda(sys.prefix)
    doc = {
        "python": _python(),
        "platform": _platform(),
        "distributions": _distributions(owned),
        "conda": conda,
    }
    json.dump(doc, sys.stdout, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
