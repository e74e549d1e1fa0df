"""Snapshot endpoints through a real jupyter-server: real kernelspec capture, store, diff, export,
and the errors a person gets for bad input."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_hybrid.snapshots.model import Snapshot


async def call(jp_fetch, *parts, method="GET", body=None, **kwargs):
    if body is not None:
        kwargs["body"] = json.dumps(body)
    response = await jp_fetch("jupyter-hybrid", "snapshots", *parts, method=method, **kwargs)
    return (
        json.loads(response.body)
        if response.body and response.headers.get("Content-Type", "").startswith("application/json")
        else response
    )


async def error(jp_fetch, *parts, **kwargs):
    with pytest.raises(HTTPClientError) as e:
        await call(jp_fetch, *parts, **kwargs)
    return e.value.code, json.loads(e.value.response.body).get("message", "")


async def test_capture_list_diff_export_delete(jp_fetch, jp_serverapp):
    snap = await call(jp_fetch, method="POST", body={"kernel": "python3", "name": "base"})
    assert len(snap["id"]) == 64 and snap["name"] == "base"
    names = {p["name"] for p in snap["packages"]}
    assert "ipykernel" in names
    assert snap["kernelspec"]["name"] == "python3"

    listed = (await call(jp_fetch))["snapshots"]
    assert [s["id"] for s in listed] == [snap["id"]] and listed[0]["packages"] == len(snap["packages"])

    # a second, different snapshot through the same store, to diff against
    store = jp_serverapp.web_app.settings["jupyter_hybrid.snapshot_store"]
    owner = jp_serverapp.web_app.settings["jupyter_hybrid.owner"]
    base = Snapshot.model_validate(await call(jp_fetch, snap["id"][:8]))
    changed = base.model_copy(
        update={"id": "", "packages": [p for p in base.packages if p.name != "ipykernel"]}
    )
    changed = Snapshot.model_validate(changed.model_dump(mode="json"))
    store.save(owner, changed.model_dump(mode="json"))
    d = await call(jp_fetch, snap["id"], "diff", changed.id)
    assert [p["name"] for p in d["diff"]["packages"]["removed"]] == ["ipykernel"]
    assert "- ipykernel" in d["text"]

    drift = await call(jp_fetch, snap["id"], "drift", params={"kernel": "python3"})
    assert drift["matches"] is True

    zipped = await call(jp_fetch, snap["id"], "export", params={"format": "binder"})
    files = zipfile.ZipFile(io.BytesIO(zipped.body)).namelist()
    assert "binder/requirements.txt" in files and "binder/runtime.txt" in files
    reqs = (await call(jp_fetch, snap["id"], "export", params={"format": "requirements"})).body.decode()
    assert any(line.startswith("ipykernel==") for line in reqs.splitlines())

    response = await call(jp_fetch, changed.id, method="DELETE")
    assert response.code == 204
    assert [s["id"] for s in (await call(jp_fetch))["snapshots"]] == [snap["id"]]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, 'give exactly one of "kernel"'),
        ({"kernel": "python3", "notebook": "a.ipynb"}, 400, 'give exactly one of "kernel"'),
        ({"kernel": "python3", "python": "/usr/bin/python3"}, 400, "python: Extra inputs are not permitted"),
        ({"kernel": "no-such-kernel"}, 400, "no kernel named 'no-such-kernel'"),
        ({"notebook": "../../etc/passwd.ipynb"}, 400, "outside"),
    ],
)
async def test_capture_refusals(jp_fetch, body, status, message):
    code, text = await error(jp_fetch, method="POST", body=body)
    assert (code, message in text) == (status, True), text


async def test_unknown_ids_and_formats(jp_fetch):
    assert (await error(jp_fetch, "abcd1234"))[0] == 404
    assert (await error(jp_fetch, "abcd1234", method="DELETE"))[0] == 404
    snap = await call(jp_fetch, method="POST", body={"kernel": "python3"})
    code, text = await error(jp_fetch, snap["id"], "export", params={"format": "docker"})
    assert code == 400 and "format=binder" in text
    code, text = await error(jp_fetch, snap["id"], "restore", method="POST", body={"name": "bad name!"})
    assert code == 400 and "name" in text


async def test_not_json(jp_fetch):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("jupyter-hybrid", "snapshots", method="POST", body="{not json")
    assert e.value.code == 400 and b"not valid JSON" in e.value.response.body


@pytest.mark.parametrize("path", ["", "/abcd1234", "/abcd1234/export"])
async def test_no_token_is_refused(jp_fetch, path):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("jupyter-hybrid", f"snapshots{path}", headers={"Authorization": ""})
    assert e.value.code in (401, 403)


async def test_a_failed_restore_is_reported_and_leaves_nothing(jp_fetch, jp_serverapp, tmp_path):
    import asyncio

    settings = jp_serverapp.web_app.settings
    snap = Snapshot.model_validate(await call(jp_fetch, method="POST", body={"kernel": "python3"}))
    six = next(p for p in snap.packages if p.name == "ipykernel").model_copy(
        update={"name": "six", "version": "0.0.999"}
    )
    broken = Snapshot.model_validate(
        {**snap.model_dump(mode="json"), "id": "", "packages": [six.model_dump()]}
    )
    settings["jupyter_hybrid.snapshot_store"].save(
        settings["jupyter_hybrid.owner"], broken.model_dump(mode="json")
    )
    started = await call(jp_fetch, broken.id, "restore", method="POST", body={"name": "broken-restore"})
    for _ in range(600):
        task = await call(jp_fetch, "tasks", started["task"])
        if task["status"] != "running":
            break
        await asyncio.sleep(0.2)
    assert task["status"] == "failed" and "six==0.0.999" in task["error"]
    assert not (tmp_path / "envs" / "broken-restore").exists()
    assert (await error(jp_fetch, "tasks", "0" * 32))[0] == 404
