"""Engine and transactions: SQLite by default (WAL, foreign keys), PostgreSQL by URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from .migrate import upgrade

URL_ENV = "JUPYTER_HYBRID_DB_URL"
_WRITE = "jupyter_hybrid_write"


def default_url() -> str:
    """``$JUPYTER_HYBRID_DB_URL``, else a SQLite file in the Jupyter data dir."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return url
    return f"sqlite:///{Path(jupyter_data_dir()) / 'jupyter_hybrid' / 'hybrid.sqlite'}"


def make_engine(url: str | None = None, *, busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    """An engine for ``url`` (default: :func:`default_url`) with the schema migrated to the
    current revision (alembic; see ``migrate.py``).

    SQLite: the parent folder is created; each connection uses WAL, enforces foreign keys and
    waits up to ``busy_timeout_ms`` for a lock. Write transactions start with ``BEGIN IMMEDIATE``
    so two writers queue instead of failing half-way.
    """
    parsed = make_url(url or default_url())
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed, busy_timeout_ms, echo)
    else:
        engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
    upgrade(engine)
    return engine


def _sqlite_engine(parsed, busy_timeout_ms: int, echo: bool) -> Engine:
    db = parsed.database or ""
    if db and db != ":memory:" and not db.startswith("file:"):
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, echo=echo)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        write = conn.get_execution_options().get(_WRITE, True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")

    return engine


@contextmanager
def session(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises.

    ``write=False`` marks a read-only transaction (SQLite then takes no write lock).
    """
    bind = engine if write else engine.execution_options(**{_WRITE: False})
    with Session(bind, expire_on_commit=False) as s, s.begin():
        yield s
