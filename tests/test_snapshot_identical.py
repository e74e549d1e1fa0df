"""Capturing the same environment again under a new name says so and keeps the first name,
unless the user asks to rename (REST ``"rename": true``, CLI ``--rename``)."""

from __future__ import annotations

import json
import sys


async def capture(jp_fetch, **body):
    response = await jp_fetch("jupyter-hybrid", "snapshots", method="POST", body=json.dumps(body))
    return json.loads(response.body)


async def test_capture_again_reports_identical_and_keeps_the_name(jp_fetch):
    first = await capture(jp_fetch, kernel="python3", name="before upgrade", note="good")
    assert first["identical_to"] is None and first["name"] == "before upgrade"
    again = await capture(jp_fetch, kernel="python3", name="second try")
    assert again["id"] == first["id"] and again["identical_to"] == "before upgrade"
    assert (again["name"], again["note"]) == ("before upgrade", "good")
    listed = json.loads((await jp_fetch("jupyter-hybrid", "snapshots")).body)["snapshots"]
    assert [(s["id"], s["name"]) for s in listed] == [(first["id"], "before upgrade")]

    renamed = await capture(jp_fetch, kernel="python3", name="second try", rename=True)
    assert (renamed["identical_to"], renamed["name"]) == ("before upgrade", "second try")
    listed = json.loads((await jp_fetch("jupyter-hybrid", "snapshots")).body)["snapshots"]
    assert [s["name"] for s in listed] == ["second try"]


def test_cli_capture_again_keeps_the_name_unless_rename(tmp_path, monkeypatch, capsys):
    from jupyter_hybrid.snapshots import cli, localstore

    monkeypatch.setenv("JUPYTER_HYBRID_DB_URL", f"sqlite:///{tmp_path / 'hybrid.sqlite'}")
    argv = ["snapshot", "capture", "--python", sys.executable, "--name"]
    assert cli.main([*argv, "base"]) == 0
    assert "identical" not in capsys.readouterr().err
    assert cli.main([*argv, "other"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("identical to snapshot 'base' (") and err.endswith(
        "captured before; kept its name: pass --rename to rename it to 'other'\n"
    )
    [snap] = localstore.list_snapshots()
    assert snap.name == "base"
    assert cli.main([*argv, "other", "--rename"]) == 0
    assert "kept its name" not in capsys.readouterr().err
    assert [s.name for s in localstore.list_snapshots()] == ["other"]
