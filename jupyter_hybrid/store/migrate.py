"""Bring a database to the current schema with alembic, safely from several processes at once.

A database made by the first release (tables, no `alembic_version`) is stamped at revision 0001
and upgraded in place. The hub, the control plane and the CLI all call `upgrade` when they open
the store: PostgreSQL serialises them with an advisory lock, SQLite with `BEGIN IMMEDIATE`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

FIRST = "0001"
_LOCK = 0x4A48_5942  # "JHYB": the advisory lock key all our processes agree on


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _migrate(engine: Engine, step, revision: str) -> None:
    with engine.begin() as conn:  # one transaction: a failed migration leaves the old schema
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        cfg = _config(conn)
        if current(conn) is None and inspect(conn).has_table("jh_snapshot_body"):
            command.stamp(cfg, FIRST)  # made by the first release, before migrations existed
        step(cfg, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade to `revision` (default: the newest)."""
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Go back to `revision` (an admin's way back after downgrading the package)."""
    _migrate(engine, command.downgrade, revision)
