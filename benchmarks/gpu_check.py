"""GPU device check: does GET /jupyter-hybrid/gpu attribute a kernel's GPU memory to its notebook?

Starts a real Jupyter server with the extension, opens a notebook session (python3 kernel), makes
that kernel allocate GPU memory with torch, and polls the endpoint until a process row names the
kernel and the notebook with at least that much memory. Prints the rows and PASS, or FAIL with
what NVML and the kernel manager saw (e.g. NVML reporting host pids in a container).

    python benchmarks/gpu_check.py            # no GPU: prints "no GPU: skipped" and exits 0
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from jupyter_hybrid.gpu.devices import detect_gpus  # noqa: E402

NOTEBOOK = "gpu_check.ipynb"
ALLOC_GIB = 2
ALLOCATE = f"""
import torch
x = torch.empty({ALLOC_GIB} * 1024**3, dtype=torch.uint8, device="cuda")
torch.cuda.synchronize()
print(torch.cuda.memory_allocated())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `jupyter server` subprocess on a free port with its own runtime folders."""

    def __init__(
        self, workdir: Path, extensions: dict[str, bool], args: list[str] = (), env: dict | None = None
    ):
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.headers = {"Authorization": f"token {self.token}"}
        root = workdir / "root"
        root.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, **(env or {})}
        for name in ("CONFIG", "DATA", "RUNTIME"):
            self.env[f"JUPYTER_{name}_DIR"] = str(workdir / name.lower())
        self.env["JUPYTER_HYBRID_DB_URL"] = f"sqlite:///{workdir / 'hybrid.sqlite'}"
        self.log_path = workdir / "server.log"
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "server",
            "--no-browser",
            f"--port={self.port}",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={root}",
            f"--ServerApp.jpserver_extensions={extensions!r}",
            *args,
        ]
        if os.getuid() == 0:
            cmd.append("--allow-root")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log_path.read_text()}")
            try:
                if requests.get(f"{self.base}/api/status", headers=self.headers, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer in 90 s:\n{self.log_path.read_text()}")
            time.sleep(0.2)

    def api(self, method: str, path: str, **kw) -> requests.Response:
        r = requests.request(method, f"{self.base}/{path}", headers=self.headers, timeout=60, **kw)
        r.raise_for_status()
        return r

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_in_kernel(server: Server, kernel_id: str, code: str) -> str:
    """Execute ``code`` in the server's kernel through its connection file; returns stdout."""
    from jupyter_client import BlockingKernelClient

    client = BlockingKernelClient(
        connection_file=str(Path(server.env["JUPYTER_RUNTIME_DIR"]) / f"kernel-{kernel_id}.json")
    )
    client.load_connection_file()
    client.start_channels()
    out: list[str] = []
    try:
        client.wait_for_ready(timeout=120)
        reply = client.execute_interactive(
            code,
            timeout=300,
            output_hook=lambda m: (
                out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None
            ),
        )
        if reply["content"]["status"] != "ok":
            raise RuntimeError(
                f"kernel error: {reply['content'].get('ename')}: {reply['content'].get('evalue')}"
            )
    finally:
        client.stop_channels()
    return "".join(out)


def main() -> int:
    devices, reason = detect_gpus()
    if not devices:
        print(f"no GPU: skipped ({reason})")
        return 0
    print("GPUs:", ", ".join(f"{d.index} {d.model}" for d in devices))
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        server = Server(Path(tmp), {"jupyter_hybrid": True}, ["--GpuSampler.process_interval=0.5"])
        try:
            nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
            server.api("PUT", f"api/contents/{NOTEBOOK}", json={"type": "notebook", "content": nb})
            body = {"path": NOTEBOOK, "type": "notebook", "name": "", "kernel": {"name": "python3"}}
            kernel_id = server.api("POST", "api/sessions", json=body).json()["kernel"]["id"]
            print(
                "kernel", kernel_id, "allocated", run_in_kernel(server, kernel_id, ALLOCATE).strip(), "bytes"
            )
            deadline, state = time.monotonic() + 30, {}
            while time.monotonic() < deadline:
                state = server.api("GET", "jupyter-hybrid/gpu").json()
                ours = [
                    p
                    for p in state["processes"]
                    if p["kernel_id"] == kernel_id
                    and p["path"] == NOTEBOOK
                    and (p["used_memory"] or 0) >= ALLOC_GIB * 2**30
                ]
                if ours:
                    print(json.dumps(state["processes"], indent=1))
                    print(f"PASS: {ALLOC_GIB} GiB attributed to {NOTEBOOK} (kernel {kernel_id[:8]})")
                    return 0
                time.sleep(0.5)
            print("FAIL: no process row names the kernel's notebook with the memory it holds")
            print("endpoint:", json.dumps(state, indent=1)[:4000])
            kernel_pid = run_in_kernel(server, kernel_id, "import os; print(os.getpid())").strip()
            print("kernel pid as the kernel sees it:", kernel_pid)
            print("server log:", server.log_path.read_text()[-3000:])
            return 1
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
