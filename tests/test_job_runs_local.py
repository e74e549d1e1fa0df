"""Real papermill runs on the local site: pass, raise in cell 3, sys.exit(1), no parameters cell,
complex parameters, a hung kernel past the whole-run timeout, cancel, secrets withheld."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nbformat
import psutil
import pytest

from jupyter_hybrid.jobs.events import read_events, render
from jupyter_hybrid.jobs.execute import INPUT
from jupyter_hybrid.jobs.parameters import check_parameters, declared_parameters, inject
from jupyter_hybrid.sites import localrun

KERNEL = "python3"


def make_notebook(*cells: str, params: str | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def start(tmp_path: Path, nb, values=None, env=None) -> localrun.RunHandle:
    values = check_parameters(declared_parameters(nb), values or {})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    nbformat.write(inject(nb, values), run_dir / INPUT)  # stored before execution
    return localrun.submit(run_dir, KERNEL, env or {"CUDA_VISIBLE_DEVICES": ""})


def run(tmp_path, nb, values=None, timeout=120, env=None) -> tuple[localrun.Outcome, list[dict]]:
    handle = start(tmp_path, nb, values, env)
    result = asyncio.run(localrun.wait(handle, timeout))
    return result, localrun.events(handle)[0]


def test_a_passing_run_keeps_its_output_and_streams_cell_progress(tmp_path):
    nb = make_notebook(
        "print('hello', alpha)", "import sys; print('warn', file=sys.stderr)", params="alpha = 0.5"
    )
    result, events = run(tmp_path, nb, {"alpha": 2})
    assert result.status == "completed", result.error
    out = nbformat.read(result.output, as_version=4)
    assert out.cells[1].metadata["tags"] == ["injected-parameters"]
    assert out.cells[2].outputs[0]["text"] == "hello 2.0\n"  # converted to the declared float
    kinds = [(e["kind"], e.get("index")) for e in events]
    assert kinds[0] == ("start", None) and kinds[-1] == ("end", None)
    assert [i for k, i in kinds if k == "cell"] == [1, 2, 3, 4]
    streams = [(e["name"], e["text"]) for e in events if e["kind"] == "stream"]
    assert ("stdout", "hello 2.0\n") in streams and ("stderr", "warn\n") in streams
    assert "--- cell 3 of 4 ---" in "".join(map(render, events))


def test_a_cell_raising_records_the_cell_and_the_error(tmp_path):
    # cell 3 of the published notebook: the injected parameters cell is not counted
    nb = make_notebook(
        "y = 2", "raise ValueError('bad \\x1b[31mred\\x1b[0m input')", "print('never')", params="p = 1"
    )
    result, _ = run(tmp_path, nb, {"p": 2})
    assert result.status == "failed"
    assert result.error["cell"] == 3 and result.error["ename"] == "ValueError"
    assert "bad red input" in result.error["evalue"]
    assert "\x1b[" not in result.error["traceback"] and "ValueError" in result.error["traceback"]
    assert result.output and "cell 3 raised ValueError" in result.error["message"]


def test_sys_exit_fails_the_run(tmp_path):
    result, _ = run(tmp_path, make_notebook("import sys; sys.exit(1)"))
    assert result.status == "failed" and result.error["ename"] == "SystemExit"


def test_without_a_parameters_cell_values_are_injected_at_the_top(tmp_path):
    result, _ = run(tmp_path, make_notebook("print(repr(anything))"), {"anything": "x"})
    out = nbformat.read(result.output, as_version=4)
    assert result.status == "completed"
    assert out.cells[0].metadata["tags"] == ["injected-parameters"]
    assert out.cells[1].outputs[0]["text"] == "'x'\n"


def test_complex_parameters_arrive_as_the_same_values(tmp_path):
    values = {
        "items": [1, "two", None, {"k": [True]}],
        "cfg": {"ü": "日本", "n": None},
        "code": "__import__('os').system('echo pwned')",
        "maybe": None,
    }
    nb = make_notebook(
        "import json; print(json.dumps([items, cfg, code, maybe], ensure_ascii=False))",
        params='items = []\ncfg = {}\ncode = "x"\nmaybe = None',
    )
    result, _ = run(tmp_path, nb, values)
    assert result.status == "completed", result.error
    printed = nbformat.read(result.output, as_version=4).cells[2].outputs[0]["text"]
    assert json.loads(printed) == [values["items"], values["cfg"], values["code"], None]


def test_a_hung_kernel_is_ended_by_the_whole_run_timeout(tmp_path):
    handle = start(
        tmp_path, make_notebook("import os; print(os.getpid(), flush=True)", "import time; time.sleep(600)")
    )
    result = asyncio.run(localrun.wait(handle, timeout=8))
    assert result.status == "failed"
    assert "longer than its timeout of 8 s" in result.error["message"]
    assert not localrun.alive(handle)
    kernel_pid = int(next(e["text"] for e in localrun.events(handle)[0] if e["kind"] == "stream"))
    assert not psutil.pid_exists(kernel_pid) or psutil.Process(kernel_pid).status() == psutil.STATUS_ZOMBIE


def test_cancel_stops_the_process_tree_and_the_run_reads_interrupted(tmp_path):
    handle = start(
        tmp_path, make_notebook("import os; print(os.getpid(), flush=True)", "import time; time.sleep(600)")
    )

    async def until_kernel_runs() -> int:
        for _ in range(600):
            for e in localrun.events(handle)[0]:
                if e["kind"] == "stream":
                    return int(e["text"])
            await asyncio.sleep(0.1)
        raise AssertionError("the kernel never printed")

    kernel_pid = asyncio.run(until_kernel_runs())
    localrun.cancel(handle, grace=3)
    assert not localrun.alive(handle)
    assert not psutil.pid_exists(kernel_pid) or psutil.Process(kernel_pid).status() == psutil.STATUS_ZOMBIE
    ended = localrun.reconcile(handle)
    assert ended is not None and ended.status == "failed" and "interrupted" in ended.error["message"]


def test_the_run_process_gets_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-secret")
    monkeypatch.setenv("JUPYTER_HYBRID_DB_URL", "postgresql://u:pw@db/x")
    monkeypatch.setenv("MY_SERVICE_PASSWORD", "pw")
    nb = make_notebook(
        "import os, json; print(json.dumps({k: os.environ.get(k) for k in "
        "['JUPYTERHUB_API_TOKEN', 'JUPYTER_HYBRID_DB_URL', 'MY_SERVICE_PASSWORD', 'CUDA_VISIBLE_DEVICES']}))"
    )
    result, _ = run(tmp_path, nb, env={"CUDA_VISIBLE_DEVICES": "1"})
    assert result.status == "completed", result.error
    seen = json.loads(nbformat.read(result.output, as_version=4).cells[0].outputs[0]["text"])
    assert seen == {
        "JUPYTERHUB_API_TOKEN": None,
        "JUPYTER_HYBRID_DB_URL": None,
        "MY_SERVICE_PASSWORD": None,
        "CUDA_VISIBLE_DEVICES": "1",
    }


def test_events_are_read_incrementally_and_torn_lines_wait(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"kind": "start", "cells": 2}\n{"kind": "cell", "ind')
    events, offset = read_events(path)
    assert events == [{"kind": "start", "cells": 2}]
    with open(path, "a") as f:
        f.write('ex": 1, "cells": 2}\n')
    more, _ = read_events(path, offset)
    assert more == [{"kind": "cell", "index": 1, "cells": 2}]


@pytest.mark.parametrize("missing", [True])
def test_submit_refuses_without_a_stored_input(tmp_path, missing):
    with pytest.raises(FileNotFoundError, match="store the injected notebook first"):
        localrun.submit(tmp_path, KERNEL, {})


def test_a_run_started_ahead_waits_with_its_kernel_up_until_its_due_time(tmp_path):
    import time

    nb = make_notebook("print('go')")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    nbformat.write(inject(nb, {}), run_dir / INPUT)
    due = time.time() + 4.0
    handle = localrun.submit(run_dir, KERNEL, {"CUDA_VISIBLE_DEVICES": ""}, start_at=due)
    result = asyncio.run(localrun.wait(handle, 120))
    assert result.status == "completed", result.error
    events = localrun.events(handle)[0]
    first_cell = next(e for e in events if e["kind"] == "cell")
    assert due <= first_cell["t"] + 0.001 and first_cell["t"] - due < 0.5  # not before, and promptly
