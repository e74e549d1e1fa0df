"""jupyter_hybrid.store on SQLite (a temp file) and a real PostgreSQL cluster (tests/pgtools.py)."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text

from jupyter_hybrid.store import (
    Ambiguous,
    NotFound,
    Pin,
    Pinned,
    SnapshotBody,
    SnapshotRecord,
    SnapshotStore,
    default_url,
    make_engine,
    session,
)

from .pgtools import PgCluster, PgUnavailable


def make_body(n: int, python: str = "3.11.7", packages: int = 3) -> dict:
    """A snapshot body as the snapshots room captures it: content plus its sha256 ``id``."""
    content = {
        "n": n,
        "python": {"version": python, "executable": "/usr/bin/python3"},
        "packages": [{"name": f"pkg{i}", "version": "1.0"} for i in range(packages)],
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return {"id": digest, **content}


def bodies_sharing_prefix(length: int = 4) -> tuple[dict, dict]:
    """Two real bodies whose ids share their first ``length`` hex digits."""
    seen: dict[str, dict] = {}
    n = 0
    while True:
        b = make_body(10_000 + n)
        if b["id"][:length] in seen:
            return seen[b["id"][:length]], b
        seen[b["id"][:length]] = b
        n += 1


A, B, C = make_body(1), make_body(2, python="3.12.1", packages=5), make_body(3, packages=0)
MISSING = hashlib.sha256(b"never saved").hexdigest()


# -- fixtures ----------------------------------------------------------------------------------


# pg_cluster and db_url (SQLite and PostgreSQL) come from conftest.py


@pytest.fixture
def open_engine(db_url):
    """Open (another) engine on the test database; all are disposed at the end."""
    made = []

    def _open():
        made.append(make_engine(db_url))
        return made[-1]

    yield _open
    for engine in made:
        engine.dispose()


@pytest.fixture
def engine(open_engine):
    return open_engine()


@pytest.fixture
def store(engine) -> SnapshotStore:
    return SnapshotStore(engine)


def count(engine, model, *where) -> int:
    with session(engine, write=False) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


# -- db.py -------------------------------------------------------------------------------------


def test_default_url(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_HYBRID_DB_URL", "postgresql+psycopg://u@db/hybrid")
    assert default_url() == "postgresql+psycopg://u@db/hybrid"
    monkeypatch.delenv("JUPYTER_HYBRID_DB_URL")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    assert default_url() == f"sqlite:///{tmp_path / 'data' / 'jupyter_hybrid' / 'hybrid.sqlite'}"


def test_default_url_engine_creates_folder_and_schema(monkeypatch, tmp_path):
    monkeypatch.delenv("JUPYTER_HYBRID_DB_URL", raising=False)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    engine = make_engine()
    try:
        SnapshotStore(engine).save("alice", A)
        assert (tmp_path / "data" / "jupyter_hybrid" / "hybrid.sqlite").is_file()
    finally:
        engine.dispose()


def test_sqlite_connection_settings(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'h.sqlite'}", busy_timeout_ms=1234)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
            tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"jh_snapshot_body", "jh_snapshot_record", "jh_pin"} <= tables
    finally:
        engine.dispose()


def test_session_commits_or_rolls_back(engine):
    with pytest.raises(RuntimeError):
        with session(engine) as s:
            s.add(SnapshotBody(id=A["id"], body=A))
            s.flush()
            raise RuntimeError("crash mid-work")
    assert count(engine, SnapshotBody) == 0
    with session(engine) as s:
        s.add(SnapshotBody(id=A["id"], body=A))
    assert count(engine, SnapshotBody) == 1


def test_foreign_keys_enforced(engine):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with session(engine) as s:
            s.add(SnapshotRecord(owner="alice", snapshot_id=MISSING))


# -- save / get --------------------------------------------------------------------------------


def test_save_returns_record_view(store):
    view = store.save("alice", A, name="base env", note="before upgrade")
    assert set(view) == {
        "id",
        "short_id",
        "name",
        "note",
        "owner",
        "shared",
        "created_at",
        "python",
        "packages",
        "identical_to",
    }
    assert view["identical_to"] is None  # a new record
    assert view["id"] == A["id"] and view["short_id"] == A["id"][:12]
    assert (view["name"], view["note"], view["owner"], view["shared"]) == (
        "base env",
        "before upgrade",
        "alice",
        False,
    )
    assert (view["python"], view["packages"]) == ("3.11.7", 3)
    assert view["created_at"].endswith("+00:00")


def test_get_merges_body_and_record(store):
    saved = store.save("alice", A, name="base")
    got = store.get("alice", A["id"])
    assert got["packages"] == A["packages"] and got["python"] == A["python"] and got["n"] == 1
    assert got["id"] == A["id"]
    for key in ("owner", "name", "note", "shared", "created_at"):
        assert got[key] == saved[key]
    assert store.get("alice", A["id"][:4]) == got
    assert store.get("alice", A["id"][:12].upper()) == got


def test_save_is_idempotent_and_updates_only_given_fields(store, engine):
    first = store.save("alice", A, name="n1", note="x")
    again = store.save("alice", A)
    assert again == {**first, "identical_to": "n1"}
    assert store.save("alice", A, note="y")["name"] == "n1"
    assert store.get("alice", A["id"])["note"] == "y"
    cleared = store.save("alice", A, name="")
    assert cleared["name"] is None and cleared["note"] == "y"
    assert cleared["created_at"] == first["created_at"]
    assert count(engine, SnapshotBody) == 1 and count(engine, SnapshotRecord) == 1


def test_saving_the_same_content_again_keeps_the_first_name_unless_renamed(store, engine):
    first = store.save("alice", A, name="before upgrade", note="the good one")
    again = store.save("alice", A, name="second try", note="other", rename=False)
    assert again["identical_to"] == "before upgrade"
    assert (again["name"], again["note"]) == ("before upgrade", "the good one")
    assert store.get("alice", A["id"])["name"] == "before upgrade"
    renamed = store.save("alice", A, name="second try", rename=True)
    assert (renamed["identical_to"], renamed["name"], renamed["note"]) == (
        "before upgrade",
        "second try",
        "the good one",
    )
    assert renamed["created_at"] == first["created_at"] and count(engine, SnapshotRecord) == 1
    # a record with no name yet takes the given one: nothing is lost
    unnamed = store.save("bob", A)
    assert unnamed["identical_to"] is None
    named = store.save("bob", A, name="bob's", rename=False)
    assert (named["identical_to"], named["name"]) == (A["id"][:12], "bob's")


def test_save_keeps_first_body_for_an_id(store):
    store.save("alice", A)
    store.save("alice", {**A, "extra": "ignored"})
    assert "extra" not in store.get("alice", A["id"])


@pytest.mark.parametrize(
    "body, message",
    [
        ({"python": "3.11"}, "needs an 'id'"),
        ({"id": "abc"}, "64 characters"),
        ({"id": A["id"].upper()}, "64 characters"),
        (["not", "a", "dict"], "JSON object"),
        ({"id": A["id"], "when": object()}, "not plain JSON"),
    ],
)
def test_save_rejects_bad_bodies(store, engine, body, message):
    with pytest.raises(ValueError, match=message):
        store.save("alice", body)
    assert count(engine, SnapshotBody) == 0 and count(engine, SnapshotRecord) == 0


def test_save_rejects_bad_owner_and_long_name(store, engine):
    with pytest.raises(ValueError, match="owner must be a non-empty string"):
        store.save("", A)
    with pytest.raises(ValueError, match="the limit is 255"):
        store.save("alice", A, name="x" * 256)
    assert count(engine, SnapshotRecord) == 0


def test_two_users_same_body_stored_once(store, engine):
    store.save("alice", A, name="mine")
    store.save("bob", A, name="also mine")
    assert count(engine, SnapshotBody) == 1
    assert count(engine, SnapshotRecord) == 2
    assert store.get("alice", A["id"])["name"] == "mine"
    assert store.get("bob", A["id"])["name"] == "also mine"


def test_concurrent_saves_of_one_body(store, engine):
    errors: list[BaseException] = []

    def save(user):
        try:
            store.save(user, A, name=user)
        except BaseException as e:  # noqa: B036 - reported below
            errors.append(e)

    threads = [threading.Thread(target=save, args=(f"user{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(engine, SnapshotBody) == 1 and count(engine, SnapshotRecord) == 8


# -- lookup and visibility ---------------------------------------------------------------------


def test_prefix_lookup(store):
    b1, b2 = bodies_sharing_prefix(4)
    store.save("alice", b1)
    store.save("alice", b2)
    prefix = b1["id"][:4]
    with pytest.raises(Ambiguous, match=rf"^'{prefix}' matches 2 snapshots \(.*\); give more characters$"):
        store.get("alice", prefix)
    common = next(i for i, (x, y) in enumerate(zip(b1["id"], b2["id"], strict=True)) if x != y)
    assert store.get("alice", b1["id"][: common + 1])["id"] == b1["id"]
    with pytest.raises(ValueError, match="too short; give at least 4 characters"):
        store.get("alice", b1["id"][:3])
    with pytest.raises(NotFound, match="^snapshot 'zzzz' not found$"):
        store.get("alice", "zzzz")
    with pytest.raises(NotFound, match=f"^snapshot '{MISSING[:8]}' not found$"):
        store.get("alice", MISSING[:8])


def test_unshared_snapshot_of_another_user_is_not_found(store, engine):
    store.save("alice", A)
    store.pin("alice", A["id"], "job", "nightly")
    for ref in (A["id"], A["id"][:8]):
        for method, args in (
            (store.get, ("bob", ref)),
            (store.delete, ("bob", ref)),
            (store.share, ("bob", ref, True)),
            (store.pin, ("bob", ref, "api", "churn")),
            (store.pins, (ref, "bob")),
        ):
            with pytest.raises(NotFound) as info:
                method(*args)
            assert str(info.value) == f"snapshot {ref!r} not found"  # same words as a missing id
    assert store.list("bob") == []
    assert count(engine, SnapshotRecord) == 1 and count(engine, Pin) == 1


def test_shared_snapshot_visibility(store):
    store.save("alice", A, name="team env")
    store.share("alice", A["id"], True)
    got = store.get("bob", A["id"][:6])
    assert (got["owner"], got["name"], got["shared"]) == ("alice", "team env", True)
    assert [r["id"] for r in store.list("bob")] == [A["id"]]
    assert store.list("bob", include_shared=False) == []
    for call in (lambda: store.delete("bob", A["id"]), lambda: store.share("bob", A["id"], False)):
        with pytest.raises(NotFound, match="another user's shared snapshot; you can only"):
            call()
    assert store.share("alice", A["id"], False)["shared"] is False
    with pytest.raises(NotFound):
        store.get("bob", A["id"])
    assert store.list("bob") == []


def test_own_record_wins_over_shared(store):
    store.save("alice", A, name="alice's")
    store.share("alice", A["id"], True)
    store.save("bob", A, name="bob's")
    listed = store.list("bob")
    assert len(listed) == 1 and (listed[0]["owner"], listed[0]["name"]) == ("bob", "bob's")
    assert store.get("bob", A["id"])["owner"] == "bob"
    assert store.get("carol", A["id"])["owner"] == "alice"


def test_list_newest_first_without_body(store):
    store.save("alice", A, name="a")
    store.save("alice", B, note="b")
    store.save("bob", C)
    store.share("bob", C["id"], True)
    listed = store.list("alice")
    assert [r["id"] for r in listed] == [C["id"], B["id"], A["id"]]
    assert listed[1] == {
        "id": B["id"],
        "short_id": B["id"][:12],
        "name": None,
        "note": "b",
        "owner": "alice",
        "shared": False,
        "created_at": listed[1]["created_at"],
        "python": "3.12.1",
        "packages": 5,
    }
    assert (listed[0]["owner"], listed[0]["packages"]) == ("bob", 0)
    assert [r["id"] for r in store.list("alice", include_shared=False)] == [B["id"], A["id"]]


def test_list_tolerates_plain_python_string_and_no_packages(store):
    body = {"id": hashlib.sha256(b"minimal").hexdigest(), "python": "3.10.4"}
    store.save("alice", body)
    [row] = store.list("alice")
    assert (row["python"], row["packages"]) == ("3.10.4", 0)


# -- delete ------------------------------------------------------------------------------------


def test_delete_last_record_removes_body(store, engine):
    store.save("alice", A)
    store.delete("alice", A["id"][:6])
    assert count(engine, SnapshotRecord) == 0 and count(engine, SnapshotBody) == 0
    with pytest.raises(NotFound):
        store.get("alice", A["id"])
    with pytest.raises(NotFound):
        store.delete("alice", A["id"])


def test_delete_keeps_body_other_users_reference(store, engine):
    store.save("alice", A)
    store.save("bob", A)
    store.delete("alice", A["id"])
    assert count(engine, SnapshotBody) == 1 and count(engine, SnapshotRecord) == 1
    assert store.get("bob", A["id"])["owner"] == "bob"
    with pytest.raises(NotFound):
        store.get("alice", A["id"])


def test_delete_pinned_is_refused_and_deletes_nothing(store, engine):
    store.save("alice", A)
    store.pin("alice", A["id"], "job", "nightly")
    store.pin("alice", A["id"][:8], "api", "churn")
    with pytest.raises(Pinned) as info:
        store.delete("alice", A["id"])
    assert str(info.value) == (
        f"snapshot {A['id'][:12]} is pinned by job 'nightly' and api 'churn'; unpublish them first"
    )
    assert count(engine, SnapshotRecord) == 1 and count(engine, SnapshotBody) == 1 and count(engine, Pin) == 2
    assert store.unpin("job", "nightly") is True
    with pytest.raises(Pinned, match="pinned by api 'churn'; unpublish it first$"):
        store.delete("alice", A["id"])
    assert store.unpin("api", "churn") is True
    store.delete("alice", A["id"])
    assert count(engine, SnapshotBody) == 0


def test_pin_of_other_user_blocks_only_the_last_record(store, engine):
    store.save("alice", A)
    store.share("alice", A["id"], True)
    store.pin("bob", A["id"], "job", "bob-nightly")  # bob runs a job on alice's shared env
    with pytest.raises(Pinned, match="pinned by job 'bob-nightly' \\(of 'bob'\\); unpublish it first"):
        store.delete("alice", A["id"])
    store.save("carol", A)  # another record keeps the body alive: alice may go
    store.delete("alice", A["id"])
    assert count(engine, SnapshotBody) == 1
    assert [p["ref"] for p in store.pins(A["id"])] == ["bob-nightly"]


def test_crash_mid_save_or_delete_leaves_nothing_half_done(store, engine):
    def fail_on(sql_start):
        def hook(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith(sql_start):
                raise RuntimeError("simulated crash")

        return hook

    hook = fail_on("INSERT INTO JH_SNAPSHOT_RECORD")
    event.listen(engine, "before_cursor_execute", hook)
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.save("alice", A)
    event.remove(engine, "before_cursor_execute", hook)
    assert count(engine, SnapshotBody) == 0  # the body inserted just before was rolled back

    store.save("alice", A)
    hook = fail_on("DELETE FROM JH_SNAPSHOT_BODY")
    event.listen(engine, "before_cursor_execute", hook)
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.delete("alice", A["id"])
    event.remove(engine, "before_cursor_execute", hook)
    assert count(engine, SnapshotRecord) == 1 and count(engine, SnapshotBody) == 1


# -- share / pins ------------------------------------------------------------------------------


def test_share_returns_view(store):
    store.save("alice", A)
    assert store.share("alice", A["id"][:5], True)["shared"] is True
    assert store.get("alice", A["id"])["shared"] is True


def test_pins(store, engine):
    store.save("alice", A)
    store.save("alice", B)
    pin = store.pin("alice", A["id"][:6], "job", "nightly")
    assert {k: pin[k] for k in ("kind", "ref", "owner", "snapshot_id")} == {
        "kind": "job",
        "ref": "nightly",
        "owner": "alice",
        "snapshot_id": A["id"],
    }
    assert store.pin("alice", A["id"], "job", "nightly")["snapshot_id"] == A["id"]  # idempotent
    store.pin("alice", A["id"], "api", "nightly")  # same ref, other kind: a different pin
    assert [(p["kind"], p["ref"]) for p in store.pins(A["id"])] == [("job", "nightly"), ("api", "nightly")]
    assert store.pin("alice", B["id"], "job", "nightly")["snapshot_id"] == B["id"]  # re-pin moves it
    assert [p["kind"] for p in store.pins(A["id"][:8])] == ["api"]
    assert [p["ref"] for p in store.pins(B["id"], owner="alice")] == ["nightly"]
    assert count(engine, Pin) == 2
    with pytest.raises(ValueError, match="pin kind must be one of job, api, got 'cron'"):
        store.pin("alice", A["id"], "cron", "x")
    with pytest.raises(ValueError, match="ref must be a non-empty string"):
        store.pin("alice", A["id"], "job", "")
    store.share("alice", A["id"], True)
    with pytest.raises(ValueError, match="job 'nightly' belongs to another user; choose another job name"):
        store.pin("bob", A["id"], "job", "nightly")
    assert store.unpin("job", "nightly") is True
    assert store.unpin("job", "nightly") is False
    assert store.pins(B["id"]) == []
    with pytest.raises(NotFound):
        store.pins(MISSING)


def test_pin_kind_is_checked_by_the_database(engine):
    from sqlalchemy.exc import IntegrityError

    with session(engine) as s:
        s.add(SnapshotBody(id=A["id"], body=A))
    with pytest.raises(IntegrityError):
        with session(engine) as s:
            s.add(Pin(snapshot_id=A["id"], kind="cron", ref="x", owner="alice"))


# -- persistence -------------------------------------------------------------------------------


def test_data_survives_reopening(open_engine):
    first = open_engine()
    store = SnapshotStore(first)
    saved = store.save("alice", A, name="kept")
    saved.pop("identical_to")  # what save says of this save, not part of the record
    store.share("alice", A["id"], True)
    store.pin("alice", A["id"], "api", "churn")
    first.dispose()

    again = SnapshotStore(open_engine())
    assert again.get("alice", A["id"][:6])["name"] == "kept"
    assert again.list("bob") == [{**saved, "shared": True}]
    assert [p["ref"] for p in again.pins(A["id"])] == ["churn"]
    with pytest.raises(Pinned):
        again.delete("alice", A["id"])


def test_postgres_backend_is_real(pg_cluster):
    engine = make_engine(pg_cluster.create_database(f"t_{uuid.uuid4().hex[:16]}"))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version()")).scalar().startswith("PostgreSQL")
            kind = conn.execute(
                text(
                    "SELECT data_type FROM information_schema.columns"
                    " WHERE table_name = :t AND column_name = 'body'"
                ),
                {"t": "jh_snapshot_body"},
            ).scalar()
        assert kind == "jsonb"
    finally:
        engine.dispose()


def test_missing_postgres_binaries_fail_with_install_hint():
    cluster = PgCluster()
    cluster.bindir = None
    with pytest.raises(PgUnavailable, match=r"run `make install` \(it apt-get installs postgresql\)"):
        cluster.start()


def test_pg_cluster_lives_in_a_temp_dir(pg_cluster):
    assert pg_cluster.root is not None and Path(pg_cluster.root, "data", "PG_VERSION").is_file()


def test_messages_quote_user_values_short(store):
    store.save("alice", A)
    store.save("bob", A)
    with pytest.raises(NotFound) as e:
        store.get("alice", "z" * 1_000_000)
    assert len(str(e.value)) < 120 and "…" in str(e.value)
    store.pin("alice", A["id"], "job", "r" * 200)
    with pytest.raises(ValueError) as e:
        store.pin("bob", A["id"], "job", "r" * 200)
    assert "belongs to another user" in str(e.value) and len(str(e.value)) < 120
    with pytest.raises(ValueError, match="got 1") as e:
        store.save(1, A)
