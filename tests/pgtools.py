"""A throwaway PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` in a temp dir, 127.0.0.1 only.

The server refuses to run as root, so under root the cluster belongs to the ``postgres`` system
user (created when missing) and every server binary runs through ``runuser``.
"""

from __future__ import annotations

import glob
import grp
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from .nettools import PORT_ATTEMPTS, free_port, is_port_conflict

PG_USER = "postgres"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in "
    "/usr/lib/postgresql/*/bin; run `make install` (it apt-get installs postgresql)"
)


class PgUnavailable(RuntimeError):
    """The cluster could not be started; ``str()`` says why and what to do."""


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: PATH first, then the newest Debian version."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")],
    )
    for bindir in reversed(candidates):
        if all(os.access(Path(bindir, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return Path(bindir)
    return None


def _ensure_pg_user() -> None:
    try:
        pwd.getpwnam(PG_USER)
        return
    except KeyError:
        pass
    try:
        grp.getgrnam(PG_USER)
        cmd = ["useradd", "--system", "--gid", PG_USER, "--no-create-home", PG_USER]
    except KeyError:
        cmd = ["useradd", "--system", "--user-group", "--no-create-home", PG_USER]
    _run(cmd, "create the postgres system user")


def _run(cmd: list[str], what: str, cwd: str | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise PgUnavailable(
            f"could not {what}: {' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


class PgCluster:
    """``with PgCluster() as pg: pg.create_database("x")`` -> a ``postgresql+psycopg://`` URL."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.root: Path | None = None
        self.port = 0
        self.as_root = os.geteuid() == 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _pg(self, binary: str, *args: str, what: str) -> str:
        cmd = [str(self.bindir / binary), *args]
        if self.as_root:
            cmd = ["runuser", "-u", PG_USER, "--", *cmd]
        return _run(cmd, what, cwd=str(self.root))

    def start(self) -> PgCluster:
        if self.bindir is None:
            raise PgUnavailable(INSTALL_HINT)
        # not under pytest's tmp_path: its parents are root-only (0700) and postgres must enter
        self.root = Path(tempfile.mkdtemp(prefix="jh-pg-"))
        sockdir = self.root / "sock"
        sockdir.mkdir()
        if self.as_root:
            _ensure_pg_user()
            for path in (self.root, sockdir):
                shutil.chown(path, PG_USER, PG_USER)
        self._pg(
            "initdb",
            *("-D", str(self.data), "-U", PG_USER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"),
            what="initialise a PostgreSQL cluster",
        )
        log = self.root / "server.log"
        for attempt in range(PORT_ATTEMPTS):  # the free port may be taken between probing and binding
            self.port = free_port()
            opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {sockdir} -c fsync=off"
            try:
                self._pg(
                    "pg_ctl",
                    *("-D", str(self.data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"),
                    what="start PostgreSQL",
                )
                return self
            except PgUnavailable as e:
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                if is_port_conflict(tail) and attempt < PORT_ATTEMPTS - 1:
                    continue
                self.stop()
                raise PgUnavailable(f"{e}\nserver.log:\n{tail}") from None
        raise AssertionError("unreachable")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (letters, digits, underscores) and return its URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name {name!r}: use letters, digits and underscores")
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=PG_USER, dbname="postgres") as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.data / "postmaster.pid").exists():
            try:
                self._pg(
                    "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", what="stop PostgreSQL"
                )
            except PgUnavailable:
                pass  # removed below either way
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
