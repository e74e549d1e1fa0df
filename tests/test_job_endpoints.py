"""Job endpoints through a real jupyter-server (plain lab: the control plane in-process): publish a
notebook from the server's own files, its run through real papermill, and the refusals."""

from __future__ import annotations

import asyncio
import json
import time

import nbformat
import pytest
from tornado.httpclient import HTTPClientError


async def call(jp_fetch, *parts, method="GET", body=None, **kwargs):
    if body is not None:
        kwargs["body"] = json.dumps(body)
    response = await jp_fetch("jupyter-hybrid", *parts, method=method, **kwargs)
    if response.body and response.headers.get("Content-Type", "").startswith("application/json"):
        return json.loads(response.body)
    return response


async def error(jp_fetch, *parts, **kwargs):
    with pytest.raises(HTTPClientError) as e:
        await call(jp_fetch, *parts, **kwargs)
    return e.value.code, json.loads(e.value.response.body).get("message", "")


def write_notebook(root, name, *cells, params=None):
    nb = nbformat.v4.new_notebook()
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, root / name)


async def test_publish_from_the_root_runs_and_keeps_the_frozen_version(jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir, "work/report.ipynb", "print('n =', n)", params="n = 1")
    body = {"name": "report", "notebook": "work/report.ipynb", "schedule": "once", "parameters": {"n": 5}}
    job = await call(jp_fetch, "jobs", method="POST", body=body)
    assert job["notebook"] == "work/report.ipynb" and job["declared"]["parameters"][0]["name"] == "n"
    write_notebook(jp_root_dir, "work/report.ipynb", "print('edited')", params="n = 1")  # changes nothing
    deadline = time.monotonic() + 90
    while True:
        runs = (await call(jp_fetch, "jobs", "report", "runs"))["runs"]
        if runs and runs[0]["status"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline, runs
        await asyncio.sleep(0.2)
    assert runs[0]["status"] == "completed", runs[0]["error"]
    log = await call(jp_fetch, "runs", str(runs[0]["id"]), "log")
    assert "n = 5" in log["text"] and "edited" not in log["text"]
    out = await call(jp_fetch, "runs", str(runs[0]["id"]), "output", params={"format": "ipynb"})
    assert "attachment" in out.headers["Content-Disposition"]
    version = await call(jp_fetch, "jobs", "report", "versions", method="POST", body={})
    assert version["version"] == 2  # frozen again from the job's own notebook path


@pytest.mark.parametrize(
    ("notebook", "status", "message"),
    [
        ("../outside.ipynb", 404, "no notebook"),
        ("/etc/passwd.ipynb", 404, "no notebook"),
        ("a\x00b.ipynb", 400, "notebook path"),
        ("missing.ipynb", 404, "no notebook"),
        ("notes.txt", 400, "not a notebook"),
        (None, 400, "notebook path"),
    ],
)
async def test_publish_refuses_paths_outside_or_missing(jp_fetch, jp_root_dir, notebook, status, message):
    code, text = await error(jp_fetch, "jobs", method="POST", body={"name": "x", "notebook": notebook})
    assert code == status and message in text
    assert (await call(jp_fetch, "jobs"))["jobs"] == []


async def test_a_file_that_is_not_a_notebook_is_400(jp_fetch, jp_root_dir):
    (jp_root_dir / "broken.ipynb").write_text("{not json")
    code, text = await error(jp_fetch, "jobs", method="POST", body={"name": "x", "notebook": "broken.ipynb"})
    assert code == 400 and "broken.ipynb" in text


async def test_inspect_reads_the_parameters_cell(jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir, "p.ipynb", "1", params="alpha: float = 0.5  # rate")
    doc = await call(jp_fetch, "publish", "inspect", method="POST", body={"notebook": "p.ipynb"})
    assert doc["has_cell"] and doc["parameters"][0]["help"] == "rate"
    options = await call(jp_fetch, "publish", "options")
    assert any(t["default"] for t in options["tiers"])


async def test_no_token_is_refused(jp_fetch):
    for parts in (("jobs",), ("runs", "1"), ("publish", "options")):
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch("jupyter-hybrid", *parts, headers={"Authorization": ""})
        assert e.value.code in (401, 403)
