"""Restoring another user's shared snapshot that installs from url:/vcs: sources asks first: a 409
with the sources (REST), --trust-sources (CLI); nothing is started or stored when refused."""

from __future__ import annotations

import json

from tornado.httpclient import HTTPClientError

from jupyter_hybrid.snapshots import cli, localstore
from jupyter_hybrid.snapshots.trust import direct_sources

from .test_snapshots import make_snapshot

VCS = "vcs:git+https://example.org/tool.git@0123abcd"
PACKAGES = [
    ("six", "1.16.0", "pip", "pypi"),
    ("tool", "0.3", "pip", VCS),
    ("wheelie", "2.0", "pip", "url:https://files.example/wheelie-2.0-py3-none-any.whl"),
    ("mine", "0.1", "pip", "url:file:///home/bob/mine-0.1.whl"),  # left out of a restore: not asked
]


def test_direct_sources_are_what_a_restore_would_fetch():
    assert direct_sources(make_snapshot(PACKAGES)) == [
        {"name": "tool", "version": "0.3", "source": VCS},
        {
            "name": "wheelie",
            "version": "2.0",
            "source": "url:https://files.example/wheelie-2.0-py3-none-any.whl",
        },
    ]
    assert direct_sources(make_snapshot(PACKAGES[:1])) == []


async def restore(jp_fetch, sid, body):
    try:
        response = await jp_fetch(
            "jupyter-hybrid", "snapshots", sid, "restore", method="POST", body=json.dumps(body)
        )
    except HTTPClientError as e:
        return e.code, json.loads(e.response.body)
    return response.code, json.loads(response.body)


async def test_another_users_snapshot_with_direct_sources_needs_trust(jp_fetch, jp_serverapp, tmp_path):
    settings = jp_serverapp.web_app.settings
    store, me = settings["jupyter_hybrid.snapshot_store"], settings["jupyter_hybrid.owner"]
    snap = make_snapshot(PACKAGES)
    store.save("bob", snap.model_dump(mode="json"), name="bob's env")
    store.share("bob", snap.id, True)

    code, body = await restore(jp_fetch, snap.id, {"name": "from-bob"})
    assert code == 409 and body["needs_trust"] is True
    assert body["sources"] == direct_sources(snap) and len(body["sources"]) == 2
    assert body["message"].startswith(
        f"snapshot {snap.short_id} is bob's shared snapshot and installs 2 packages"
    )
    assert "tool from 'git+https://example.org/tool.git@0123abcd'" in body["message"]
    assert body["message"].endswith('send "trust_sources": true')
    assert settings["jupyter_hybrid.tasks"].tasks == {} and not (tmp_path / "envs").exists()
    assert [r["owner"] for r in store.list(me)] == ["bob"]  # nothing stored for me

    code, body = await restore(jp_fetch, snap.id, {"name": "from-bob", "trust_sources": "yes"})
    assert code == 400 and "trust_sources" in body["message"]
    # trusted: it gets past the question to the next check (a kernel of that name exists)
    code, body = await restore(jp_fetch, snap.id, {"name": "python3", "trust_sources": True})
    assert code == 400 and "a kernel named 'python3' already exists" in body["message"]

    # my own record of the same content: my choice already, no question
    store.save(me, snap.model_dump(mode="json"))
    code, body = await restore(jp_fetch, snap.id, {"name": "python3"})
    assert code == 400 and "already exists" in body["message"]


async def test_another_users_snapshot_from_an_index_only_is_not_asked(jp_fetch, jp_serverapp):
    store = jp_serverapp.web_app.settings["jupyter_hybrid.snapshot_store"]
    snap = make_snapshot(PACKAGES[:1] + PACKAGES[3:])
    store.save("bob", snap.model_dump(mode="json"))
    store.share("bob", snap.id, True)
    code, body = await restore(jp_fetch, snap.id, {"name": "python3"})
    assert code == 400 and "already exists" in body["message"]


def test_cli_asks_for_trust_sources(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JUPYTER_HYBRID_DB_URL", f"sqlite:///{tmp_path / 'hybrid.sqlite'}")
    snap = make_snapshot(PACKAGES)
    store, _ = localstore._store()
    store.save("bob", snap.model_dump(mode="json"))
    store.share("bob", snap.id, True)
    argv = ["snapshot", "restore", snap.id[:8], "--name", "python3", "--envs-dir", str(tmp_path / "envs")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: snapshot {snap.short_id} is bob's shared snapshot and installs 2 packages")
    assert err.endswith("pass --trust-sources\n") and not (tmp_path / "envs").exists()
    assert cli.main([*argv, "--trust-sources"]) == 1
    assert "a kernel named 'python3' already exists" in capsys.readouterr().err

    path = tmp_path / "snap.json"  # a file from elsewhere is not known to be yours either
    path.write_text(snap.model_dump_json())
    argv[2] = str(path)
    assert cli.main(argv) == 1 and "is a snapshot file and installs 2 packages" in capsys.readouterr().err
    localstore.save(snap)  # now mine too
    argv[2] = snap.id[:8]
    assert cli.main(argv) == 1 and "already exists" in capsys.readouterr().err
