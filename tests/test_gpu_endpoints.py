"""GPU endpoints through a real jupyter-server (pytest-jupyter): the real no-GPU path, auth, bad
input, the WebSocket, notices (post, dismiss), and attribution of GPU processes to a real kernel's
notebook."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import psutil
import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError

from jupyter_hybrid.gpu.attribution import kernel_pid
from jupyter_hybrid.gpu.devices import detect_gpus
from jupyter_hybrid.gpu.sampler import GpuSampler

from .gputools import FakeGPU, FakeNVML

T0 = time.time()


def use_fake(serverapp, gpus: list[FakeGPU]) -> GpuSampler:
    sampler = GpuSampler(nvml=FakeNVML(gpus))
    assert sampler.open()
    serverapp.web_app.settings["jupyter_hybrid.gpu_sampler"] = sampler
    return sampler


async def get_gpu(jp_fetch, **params) -> dict:
    return json.loads((await jp_fetch("jupyter-hybrid", "gpu", params=params)).body)


async def test_no_gpu_is_reported_plainly(jp_fetch):
    devices, reason = detect_gpus()
    if devices:
        pytest.skip("a GPU is visible here")
    state = await get_gpu(jp_fetch, since="0")
    assert state["available"] is False and state["reason"] == reason
    assert state["gpus"] == [] and state["processes"] == [] and state["history"] == {}
    assert state["interval"] == 1.0


@pytest.mark.parametrize("since", ["yesterday", "-1", "nan", "inf", ""])
async def test_bad_since_is_400(jp_fetch, since):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("jupyter-hybrid", "gpu", params={"since": since})
    assert e.value.code == 400
    assert "epoch seconds" in e.value.response.body.decode()


@pytest.mark.parametrize("auth", ["", "token not-the-token"])
async def test_unauthenticated_is_refused(jp_fetch, jp_ws_fetch, auth):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("jupyter-hybrid", "gpu", headers={"Authorization": auth})
    assert e.value.code in (401, 403)
    with pytest.raises(HTTPClientError) as e:
        await jp_ws_fetch("jupyter-hybrid", "gpu", "stream", headers={"Authorization": auth})
    assert e.value.code == 403


async def test_history_since(jp_fetch, jp_serverapp):
    gpu = FakeGPU(util_samples=[(int((T0 + i * 0.2) * 1e6), i) for i in range(10)])
    sampler = use_fake(jp_serverapp, [gpu])
    sampler.poll()
    state = await get_gpu(jp_fetch)
    assert state["available"] is True and "history" not in state
    assert state["gpus"][0]["utilization"] == 9.0
    state = await get_gpu(jp_fetch, since=str(T0 + 1.1))
    assert [v for _, v in state["history"]["0"]["utilization"]] == [6, 7, 8, 9]


async def test_stream_pushes_samples_and_notices(jp_fetch, jp_ws_fetch, jp_serverapp):
    gpu = FakeGPU()
    sampler = use_fake(jp_serverapp, [gpu])
    ws = await jp_ws_fetch("jupyter-hybrid", "gpu", "stream")
    try:
        first = json.loads(await ws.read_message())
        assert first["type"] == "snapshot" and first["available"] is True and "history" in first
        gpu.util_samples = [(int(time.time() * 1e6), 77)]
        await asyncio.to_thread(sampler.poll)  # from another thread, as the sampler's own
        sample = json.loads(await asyncio.wait_for(ws.read_message(), 10))
        assert sample["type"] == "sample" and sample["gpus"][0]["utilization"] == 77.0
        assert [v for _, v in sample["series"]["0"]["utilization"]] == [77]

        body = {"message": "GPU idle: this server stops in 10 minutes", "source": "gpu-culler", "ttl": 60}
        r = await jp_fetch("jupyter-hybrid", "gpu", "notices", method="POST", body=json.dumps(body))
        assert r.code == 201
        while (msg := json.loads(await asyncio.wait_for(ws.read_message(), 10)))["type"] != "notice":
            pass
        assert msg["notice"]["message"] == body["message"] and msg["notice"]["level"] == "warning"
        assert [n["message"] for n in (await get_gpu(jp_fetch))["notices"]] == [body["message"]]
    finally:
        ws.close()


@pytest.mark.parametrize(
    ("body", "where"),
    [({}, "message"), ({"message": "x", "level": "panic"}, "level"), ({"message": "x", "color": 1}, "color")],
)
async def test_bad_notice_is_400(jp_fetch, body, where):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("jupyter-hybrid", "gpu", "notices", method="POST", body=json.dumps(body))
    assert e.value.code == 400 and where in e.value.response.body.decode()


def missing_pid() -> int:
    pid = int(open("/proc/sys/kernel/pid_max").read()) - 1
    while psutil.pid_exists(pid):
        pid -= 1
    return pid


GRANDCHILD = "import time; time.sleep(300)"
CHILD = (
    f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {GRANDCHILD!r}]); time.sleep(300)"
)
SPAWN_TREE = f"import subprocess; subprocess.Popen([{sys.executable!r}, '-c', {CHILD!r}])"


async def test_gpu_memory_is_attributed_to_the_kernels_notebook(jp_fetch, jp_serverapp):
    body = {"path": "work/train.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}}
    session = json.loads((await jp_fetch("api", "sessions", method="POST", body=json.dumps(body))).body)
    kid = session["kernel"]["id"]
    km = jp_serverapp.kernel_manager
    kpid = kernel_pid(km, kid)
    assert kpid and psutil.pid_exists(kpid)
    client = km.get_kernel(kid).client()
    client.start_channels()
    descendants = []
    try:
        await client.wait_for_ready(timeout=60)
        reply = await client.execute_interactive(SPAWN_TREE, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        deadline = time.monotonic() + 30
        while len(descendants := psutil.Process(kpid).children(recursive=True)) < 2:
            assert time.monotonic() < deadline, "the kernel's child and grandchild did not start"
            await asyncio.sleep(0.1)
        child, grandchild = sorted(descendants, key=lambda p: len(p.parents()))
        ghost = missing_pid()
        gpu = FakeGPU(
            compute=[
                (kpid, 1 * 2**30),
                (child.pid, 2 * 2**30),
                (grandchild.pid, 3 * 2**30),
                (ghost, 4 * 2**30),
            ],
            graphics=[(os.getpid(), 5 * 2**30)],  # the test process: visible, but no kernel of this server
        )
        sampler = use_fake(jp_serverapp, [gpu])
        sampler.poll()
        rows = {r["pid"]: r for r in (await get_gpu(jp_fetch))["processes"]}
        for pid in (kpid, child.pid, grandchild.pid):
            assert rows[pid]["kind"] == "kernel" and rows[pid]["kernel_id"] == kid
            assert rows[pid]["path"] == "work/train.ipynb" and rows[pid]["label"] == "work/train.ipynb"
        assert rows[grandchild.pid]["used_memory"] == 3 * 2**30
        assert rows[ghost]["kind"] == "other" and rows[ghost]["label"] == "other process"
        assert rows[ghost]["visible"] is False
        assert rows[os.getpid()]["kind"] == "other" and rows[os.getpid()]["visible"] is True
        # largest memory first
        assert [r["pid"] for r in (await get_gpu(jp_fetch))["processes"]][0] == os.getpid()
    finally:
        client.stop_channels()
        for p in descendants:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        await jp_fetch("api", "sessions", session["id"], method="DELETE")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"message": "x", "ttl": NaN}', "NaN is not a JSON value"),
        (b'{"message": "x", "ttl": Infinity}', "Infinity is not a JSON value"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"message": "\xff"}', "not UTF-8"),
        (b'{"message": ', "not valid JSON"),
    ],
)
async def test_malformed_notice_bodies_are_400(jp_fetch, raw, expected):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("jupyter-hybrid", "gpu", "notices", method="POST", body=raw)
    assert e.value.code == 400 and expected in json.loads(e.value.response.body)["message"]


@pytest.mark.parametrize("ttl", [0, -5, 7 * 86400 + 1])
async def test_bad_ttl_states_the_rule(jp_fetch, ttl):
    body = json.dumps({"message": "x", "ttl": ttl})
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("jupyter-hybrid", "gpu", "notices", method="POST", body=body)
    message = json.loads(e.value.response.body)["message"]
    assert e.value.code == 400
    assert (
        "ttl: give the seconds the notice stays shown, a number greater than 0 and at most 604800" in message
    )
    assert f"got {ttl!r}" in message, message


async def post_notice(jp_fetch, message: str) -> dict:
    body = json.dumps({"message": message, "ttl": 60})
    return json.loads((await jp_fetch("jupyter-hybrid", "gpu", "notices", method="POST", body=body)).body)


async def notice_messages(jp_fetch) -> list[str]:
    return [
        n["message"] for n in json.loads((await jp_fetch("jupyter-hybrid", "gpu", "notices")).body)["notices"]
    ]


async def test_dismiss_one_notice_then_all(jp_fetch, jp_ws_fetch):
    first, second, third = [await post_notice(jp_fetch, m) for m in ("one", "two", "three")]
    ws = await jp_ws_fetch("jupyter-hybrid", "gpu", "stream")
    try:
        assert json.loads(await ws.read_message())["type"] == "snapshot"
        r = await jp_fetch("jupyter-hybrid", "gpu", "notices", second["id"], method="DELETE")
        assert json.loads(r.body) == {"dismissed": [second["id"]]}
        assert await notice_messages(jp_fetch) == ["one", "three"]
        # other open panels hear of it on the stream
        while (msg := json.loads(await asyncio.wait_for(ws.read_message(), 10)))["type"] != "dismissed":
            pass
        assert msg["ids"] == [second["id"]]

        with pytest.raises(HTTPClientError) as e:  # once only
            await jp_fetch("jupyter-hybrid", "gpu", "notices", second["id"], method="DELETE")
        assert e.value.code == 404 and "dismissed already or has expired" in e.value.response.body.decode()

        r = await jp_fetch("jupyter-hybrid", "gpu", "notices", method="DELETE")
        assert sorted(json.loads(r.body)["dismissed"]) == sorted([first["id"], third["id"]])
        assert await notice_messages(jp_fetch) == []
        r = await jp_fetch("jupyter-hybrid", "gpu", "notices", method="DELETE")  # nothing left: not an error
        assert json.loads(r.body) == {"dismissed": []}
    finally:
        ws.close()


class ReadOnlyAuthorizer(Authorizer):
    """May read jupyter_hybrid, may not write it (a read-only share of the server)."""

    def is_authorized(self, handler, user, action, resource):
        return action == "read"


@pytest.mark.parametrize("one", [True, False], ids=["one", "all"])
async def test_dismiss_needs_authentication_and_write_permission(jp_fetch, jp_serverapp, one):
    notice = await post_notice(jp_fetch, "keep me")
    path = ("jupyter-hybrid", "gpu", "notices", *([notice["id"]] if one else []))
    for auth in ("", "token not-the-token"):
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch(*path, method="DELETE", headers={"Authorization": auth})
        assert e.value.code in (401, 403)
    jp_serverapp.web_app.settings["authorizer"] = ReadOnlyAuthorizer(parent=jp_serverapp)
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(*path, method="DELETE")
    assert e.value.code == 403
    assert await notice_messages(jp_fetch) == ["keep me"]  # read still allowed; nothing dismissed
