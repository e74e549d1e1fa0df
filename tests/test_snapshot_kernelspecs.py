"""Capture, drift and restore ask the server's kernel_spec_manager, not a default KernelSpecManager():
a kernel only the server knows (its own kernel_dirs) is found, and its name counts as taken."""

from __future__ import annotations

import json
import sys

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from tornado.httpclient import HTTPClientError
from traitlets import default


class ServerOnlyKernels(KernelSpecManager):
    """The server's manager, with one more kernels folder than a default manager has."""

    extra_dir = ""

    @default("kernel_dirs")
    def _kernel_dirs_default(self):
        return [*super()._kernel_dirs_default(), self.extra_dir]


@pytest.fixture
def jp_server_config(jp_server_config, tmp_path):
    folder = tmp_path / "server-kernels" / "onlyhere"
    folder.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Only on this server",
        "language": "python",
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    ServerOnlyKernels.extra_dir = str(folder.parent)
    jp_server_config["ServerApp"]["kernel_spec_manager_class"] = ServerOnlyKernels
    return jp_server_config


async def test_the_servers_kernels_are_the_ones_used(jp_fetch, jp_serverapp):
    assert "onlyhere" not in KernelSpecManager().find_kernel_specs()  # a default manager: unknown
    assert "onlyhere" in jp_serverapp.kernel_spec_manager.find_kernel_specs()
    body = json.dumps({"kernel": "onlyhere"})
    snap = json.loads((await jp_fetch("jupyter-hybrid", "snapshots", method="POST", body=body)).body)
    assert (
        snap["kernelspec"]["name"] == "onlyhere"
        and snap["kernelspec"]["display_name"] == "Only on this server"
    )
    drift = await jp_fetch("jupyter-hybrid", "snapshots", snap["id"], "drift", params={"kernel": "onlyhere"})
    assert json.loads(drift.body)["matches"] is True
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(
            "jupyter-hybrid",
            "snapshots",
            snap["id"],
            "restore",
            method="POST",
            body=json.dumps({"name": "onlyhere"}),
        )
    assert e.value.code == 400
    assert "a kernel named 'onlyhere' already exists" in json.loads(e.value.response.body)["message"]
    assert jp_serverapp.web_app.settings["jupyter_hybrid.tasks"].tasks == {}
