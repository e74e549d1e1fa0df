"""Alembic migrations on SQLite and a real PostgreSQL: a first-release database upgrades in place,
the migrated schema is exactly the models, several processes may open a new database at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select

from jupyter_hybrid.store import Job, Run, SnapshotBody, SnapshotRecord, make_engine, metadata, session
from jupyter_hybrid.store.migrate import current, downgrade, head, upgrade
from jupyter_hybrid.store.tables import Pin

FIRST_RELEASE = [SnapshotBody.__table__, SnapshotRecord.__table__, Pin.__table__]


def test_a_first_release_database_upgrades_in_place(db_url):
    if db_url.startswith("sqlite"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    old = create_engine(db_url)
    # what the first release's make_engine did: create_all of its three tables, no alembic
    metadata.create_all(old, tables=FIRST_RELEASE)
    with old.begin() as conn:
        now = datetime.now(UTC)
        conn.execute(SnapshotBody.__table__.insert().values(id="a" * 64, body={}, packages=0, created_at=now))
        record = {
            "owner": "alice",
            "snapshot_id": "a" * 64,
            "name": "kept",
            "shared": False,
            "created_at": now,
        }
        conn.execute(SnapshotRecord.__table__.insert().values(**record))
    old.dispose()

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert current(conn) == head()
            assert {"jh_job", "jh_run", "jh_job_version", "jh_allocation"} <= set(
                inspect(conn).get_table_names()
            )
        with session(engine, write=False) as s:
            assert s.scalars(select(SnapshotRecord.name)).all() == ["kept"]
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_models(db_url):
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        with session(engine) as s:  # and it is usable
            s.add(Job(owner="alice", name="nightly", spec={"schedule": "@daily"}))
        with session(engine) as s:
            job = s.scalars(select(Job)).one()
            s.add(Run(job_id=job.id, owner="alice", job_name="nightly", version=1, parameters={"a": [1]}))
        with session(engine, write=False) as s:
            run = s.scalars(select(Run)).one()
            assert run.status == "queued" and run.attempt == 1 and run.parameters == {"a": [1]}
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_again(db_url):
    engine = make_engine(db_url)
    try:
        downgrade(engine, "0001")
        with engine.connect() as conn:
            assert current(conn) == "0001" and not inspect(conn).has_table("jh_run")
        upgrade(engine)
        with engine.connect() as conn:
            assert current(conn) == head() and inspect(conn).has_table("jh_run")
    finally:
        engine.dispose()


OPEN = """
import sys
from jupyter_hybrid.store import make_engine
make_engine(sys.argv[1]).dispose()
print("opened")
"""


def test_processes_opening_a_new_database_at_once_all_succeed(db_url):
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN, db_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err.decode()[-2000:] for _, err in results]
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert current(conn) == head()
    finally:
        engine.dispose()
