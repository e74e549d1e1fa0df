"""Malformed and hostile bodies against the snapshot endpoints: always a 400 (413) with a short
message, never a 500; nothing is started or stored for a refused request."""

from __future__ import annotations

import json

import pytest
from tornado import web
from tornado.httpclient import HTTPClientError

from jupyter_hybrid.server.errors import parse_body, read_json
from jupyter_hybrid.server.snapshots import CaptureRequest
from jupyter_hybrid.snapshots import cli, localstore

DEEP = "[" * 100_000 + "]" * 100_000


async def refused(jp_fetch, *parts, body, method="POST"):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("jupyter-hybrid", "snapshots", *parts, method=method, body=body)
    return e.value.code, json.loads(e.value.response.body)["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (DEEP, "nested too deeply"),
        ('{"kernel": ' + DEEP + "}", "nested too deeply"),
        (b'{"kernel": "\xff\xfe"}', "not UTF-8"),
        ('{"kernel": "python3", "name": NaN}', "NaN is not a JSON value"),
        ('{"kernel": "python3", "name": "\\ud800"}', "lone UTF-16 surrogate"),
        (json.dumps({"notebook": "a\x00b.ipynb"}), "holds a control character"),
        (json.dumps({"kernel": "py\x00thon3"}), "is not a kernelspec name"),
        (json.dumps({"kernel": "../../etc"}), "is not a kernelspec name"),
    ],
)
async def test_malformed_capture_bodies_are_400(jp_fetch, jp_serverapp, body, message):
    code, text = await refused(jp_fetch, body=body)
    assert code == 400 and message in text, text
    assert len(text) < 300
    store = jp_serverapp.web_app.settings["jupyter_hybrid.snapshot_store"]
    assert store.list(jp_serverapp.web_app.settings["jupyter_hybrid.owner"]) == []


async def test_huge_values_are_not_echoed(jp_fetch):
    code, text = await refused(jp_fetch, body=json.dumps({"kernel": "x" * 200_000 + "!"}))
    assert code == 400 and "at most 255 characters" in text and len(text) < 300
    many = {f"key{i}" * 20: 1 for i in range(5000)}
    code, text = await refused(jp_fetch, body=json.dumps({"kernel": "python3", **many}))
    assert code == 400 and "Extra inputs are not permitted" in text and "and 4997 more" in text
    assert len(text) < 600
    code, text = await refused(jp_fetch, body=json.dumps({"note": "n" * (2 << 20)}))
    assert code == 413 and "the limit is 1048576" in text


async def test_export_format_is_quoted_short(jp_fetch):
    snap = json.loads(
        (await jp_fetch("jupyter-hybrid", "snapshots", method="POST", body='{"kernel": "python3"}')).body
    )
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("jupyter-hybrid", "snapshots", snap["id"], "export", params={"format": "z" * 5000})
    message = json.loads(e.value.response.body)["message"]
    assert e.value.code == 400 and "format=binder" in message and len(message) < 200


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "-x", "a/b", "a" * 65, ""])
async def test_restore_names_are_checked_before_anything_starts(jp_fetch, jp_serverapp, tmp_path, name):
    snap = json.loads(
        (await jp_fetch("jupyter-hybrid", "snapshots", method="POST", body='{"kernel": "python3"}')).body
    )
    code, text = await refused(jp_fetch, snap["id"], "restore", body=json.dumps({"name": name}))
    assert code == 400 and "is not valid" in text and len(text) < 300, text
    assert jp_serverapp.web_app.settings["jupyter_hybrid.tasks"].tasks == {}
    assert not (tmp_path / "envs").exists()


async def test_restore_onto_an_existing_kernel_is_refused_up_front(jp_fetch, jp_serverapp):
    snap = json.loads(
        (await jp_fetch("jupyter-hybrid", "snapshots", method="POST", body='{"kernel": "python3"}')).body
    )
    code, text = await refused(jp_fetch, snap["id"], "restore", body=json.dumps({"name": "python3"}))
    assert code == 400 and "a kernel named 'python3' already exists" in text
    assert jp_serverapp.web_app.settings["jupyter_hybrid.tasks"].tasks == {}


def test_read_json_refusals_are_http_400():
    for raw in (DEEP.encode(), b"\xff", b"{", b"Infinity", b'"\\udfff"'):
        with pytest.raises(web.HTTPError) as e:
            read_json(raw)
        assert e.value.status_code == 400
    assert read_json(b"") == {} and read_json(b'"\\ud83d\\ude00"') == "\U0001f600"
    with pytest.raises(web.HTTPError) as e:
        parse_body(b'{"kernel": 1, "notebook": 2, "name": 3, "note": 4, "x": 5}', CaptureRequest)
    assert e.value.status_code == 400 and e.value.log_message.endswith("and 2 more")


# -- the command line: export onto an existing file ---------------------------------------------


@pytest.fixture
def stored(tmp_path, monkeypatch):
    from .test_snapshots import make_snapshot

    monkeypatch.setenv("JUPYTER_HYBRID_DB_URL", f"sqlite:///{tmp_path / 'store' / 'hybrid.sqlite'}")
    snap = make_snapshot([("six", "1.16.0", "pip", "pypi")])
    localstore.save(snap)
    return snap


def test_cli_export_onto_an_existing_file_says_what_to_do(stored, tmp_path, capsys):
    target = tmp_path / "reqs.txt"
    target.write_text("mine\n")
    code = cli.main(["snapshot", "export", stored.id[:8], "--format", "requirements", "--out", str(target)])
    err = capsys.readouterr().err
    assert code == 1 and "Errno" not in err
    assert err == f"error: {str(target)!r} exists; choose another --out or pass --force to overwrite it\n"
    assert target.read_text() == "mine\n"
    argv = ["snapshot", "export", stored.id[:8], "--format", "requirements", "--out", str(target), "--force"]
    assert cli.main(argv) == 0
    assert "six==1.16.0" in target.read_text().splitlines()
    # a folder: requirements.txt inside it, refused the second time unless --force
    folder = tmp_path / "out"
    argv = ["snapshot", "export", stored.id[:8], "--format", "requirements", "--out", str(folder)]
    assert cli.main(argv) == 0 and (folder / "requirements.txt").is_file()
    assert cli.main(argv) == 1 and "pass --force" in capsys.readouterr().err
    new = tmp_path / "new" / "pins.txt"
    assert cli.main([*argv[:-1], str(new)]) == 0 and new.is_file()
