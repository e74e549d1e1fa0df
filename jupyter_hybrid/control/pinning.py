"""Environment snapshots for jobs: a publish captures the environment's snapshot and pins it to the
job; each run records the snapshot it actually ran with, so drift since the publish shows.

Capturing probes the interpreter (about a second), too slow for every run. A cheap fingerprint —
the names of the installed distributions' metadata folders, which carry their versions — says
whether the environment changed since the last capture; only then is it captured again.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from pathlib import Path

from ..snapshots.capture import capture_python
from ..store.snapshots import SnapshotStore


def site_packages(python: str | None) -> list[Path]:
    """The site-packages folders of the environment whose prefix (or interpreter) is `python`."""
    if not python:
        return sorted({Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()})
    prefix = Path(python).expanduser()
    if prefix.is_file():
        prefix = prefix.parent.parent
    return sorted(prefix.glob("lib/python*/site-packages"))


def fingerprint(python: str | None) -> str:
    names: list[str] = []
    for folder in site_packages(python):
        try:
            names += [p.name for p in folder.iterdir() if p.suffix in (".dist-info", ".egg-info")]
        except OSError:
            continue
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()


def interpreter(python: str | None) -> str:
    if not python:
        return sys.executable
    path = Path(python).expanduser()
    return str(path if path.is_file() else path / "bin" / "python")


class EnvironmentPins:
    """Snapshot ids of environments as they are now, captured only when their fingerprint changed."""

    def __init__(self, snapshots: SnapshotStore, log: logging.Logger):
        self.snapshots, self.log = snapshots, log
        self._known: dict[tuple[str, str], str] = {}  # (owner, fingerprint) -> snapshot id

    def current(self, owner: str, python: str | None, name: str) -> str | None:
        """The id of `owner`'s snapshot of this environment as it is now (None: capture failed,
        logged; a run never fails for want of a snapshot)."""
        key = (owner, fingerprint(python))
        if key not in self._known:
            try:
                snap = capture_python(interpreter(python), name=name)
                saved = self.snapshots.save(owner, snap.model_dump(mode="json"), name=name, rename=False)
            except Exception as e:  # a broken environment: the run itself will say more
                self.log.warning("Could not capture the environment %s: %s", interpreter(python), e)
                return None
            self._known[key] = saved["id"]
        return self._known[key]

    def pin(self, owner: str, job: str, snapshot_id: str | None) -> None:
        if snapshot_id is not None:
            self.snapshots.pin(owner, snapshot_id, "job", f"{owner}/{job}")

    def unpin(self, owner: str, job: str) -> None:
        self.snapshots.unpin("job", f"{owner}/{job}")
