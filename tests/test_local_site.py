"""LocalSite: live state, GPU reservation and stopping a whole process tree (real processes)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading

import psutil
import pynvml
import pytest

from jupyter_hybrid.catalog import Environment, parse_catalog
from jupyter_hybrid.gpu import nvml
from jupyter_hybrid.gpu.devices import GpuDevice, detect_gpus
from jupyter_hybrid.sites import CapacityError, LocalSite

from .gputools import NO_GPU_DIR, FakeGPU, FakeNVML, force_no_gpu

CATALOG = parse_catalog(
    {
        "sites": {"local": {"max_cpu": 1}},
        "tiers": {
            "small": {"cpu": 1, "memory": "1G"},
            "gpu-1": {"cpu": 1, "memory": "1G", "gpu": 1},
            "h100": {"cpu": 1, "memory": "1G", "gpu": 1, "gpu_model": "H100"},
        },
    }
)
A100 = [GpuDevice(i, f"GPU-{i}", "NVIDIA A100-SXM4-80GB", 80 * 1024**3) for i in range(2)]


@pytest.fixture
def site():
    return LocalSite("local", CATALOG.sites["local"])


def with_gpus(site, devices, reason=None):
    site._gpus = lambda: (devices, reason)
    site._detected = None  # forget an earlier read
    return site


def test_state_of_this_machine_without_gpu(site, no_gpu):
    """The no-GPU path: the real one on a machine without a driver, forced on one with a GPU."""
    state = site.state()
    assert state.cpu_total == 1 and state.memory_total > 0
    assert 0 < state.memory_free <= state.memory_total
    assert state.gpus_total == {} and state.gpu_reason == no_gpu
    assert no_gpu in ("no NVIDIA driver", "no GPU visible") or no_gpu.startswith("NVML error")


@pytest.mark.gpu
def test_state_of_this_machine_with_gpus(site):
    devices, reason = detect_gpus()
    if not devices:
        pytest.skip(f"no GPU: {reason}")
    state = site.state()
    models = {d.model for d in devices}
    assert state.gpus_total == {m: sum(d.model == m for d in devices) for m in models}
    assert state.gpus_free == state.gpus_total and state.gpu_reason is None


def test_forced_no_gpu_reaches_this_process_and_the_ones_it_starts(monkeypatch):
    """gputools.force_no_gpu (what the no_gpu fixture uses on GPU machines), tried here on any
    machine: NVML reads as no driver in this process and in a child Python."""
    force_no_gpu(monkeypatch)
    try:
        shim = str(NO_GPU_DIR / "pynvml.py")
        assert sys.modules["pynvml"].__file__ == shim
        assert detect_gpus() == ([], "no NVIDIA driver")
        code = (
            "import pynvml; from jupyter_hybrid.gpu import devices; "
            "print(pynvml.__file__, devices.detect_gpus())"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == f"{shim} ([], 'no NVIDIA driver')"
    finally:
        nvml.close_session()


def test_reservations_count_against_free_capacity(site):
    with_gpus(site, A100)
    site.reserve("a/", CATALOG.tiers["gpu-1"])
    state = site.state()
    assert state.cpu_free == 0
    assert state.gpus_free == {"NVIDIA A100-SXM4-80GB": 1}
    second = site.reserve("b/", CATALOG.tiers["gpu-1"])
    assert second.gpus == [1]
    with pytest.raises(CapacityError, match="needs 1 GPU"):
        site.reserve("c/", CATALOG.tiers["gpu-1"])
    site.release("a/")
    assert site.reserve("c/", CATALOG.tiers["gpu-1"]).gpus == [0]


def test_gpu_model_and_no_driver(site):
    with pytest.raises(CapacityError, match="needs 1 H100 GPU"):
        with_gpus(site, A100).reserve("a/", CATALOG.tiers["h100"])
    with pytest.raises(CapacityError, match="no NVIDIA driver"):
        with_gpus(site, [], "no NVIDIA driver").reserve("a/", CATALOG.tiers["gpu-1"])
    assert site.reserve("a/", CATALOG.tiers["small"]).gpus == []


# ---- NVML: one session per process, device reads cached and off the event loop -------------------


@pytest.fixture
def fake_nvml(monkeypatch):
    """A counting NVML-shaped module in place of ``pynvml`` (what gpu/nvml.py imports), with a fresh
    session before and after the test."""
    fake = FakeNVML([FakeGPU(uuid="GPU-a"), FakeGPU(uuid="GPU-b")])
    nvml.close_session()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    yield fake
    nvml.close_session()


def fresh_site(refresh_seconds: float) -> LocalSite:
    spec = CATALOG.sites["local"].model_copy(update={"refresh_seconds": refresh_seconds})
    return LocalSite("local", spec)


async def test_nvml_is_initialised_once_per_process(fake_nvml):
    site = fresh_site(0)  # every refresh reads the devices again
    for _ in range(20):
        state = await site.refresh()
        site.state()
    await fresh_site(0).refresh()  # another site object, same process
    assert state.gpus_total == {FakeGPU.name: 2}
    assert fake_nvml.counts >= 21  # the devices were read each time...
    assert fake_nvml.inits == 1 and fake_nvml.shutdowns == 0  # ...through one session


async def test_device_reads_are_cached_and_shared(fake_nvml):
    site = fresh_site(3600)
    states = await asyncio.gather(*(site.refresh() for _ in range(20)))  # 20 users open the form
    for _ in range(5):
        await site.refresh()
    assert {s.gpus_free[FakeGPU.name] for s in states} == {2}
    assert fake_nvml.counts == 1


async def test_nvml_never_runs_on_the_event_loop(fake_nvml):
    loop_thread = threading.get_ident()
    site = fresh_site(0)
    assert site.state().gpu_reason == "GPUs not read yet"  # on the loop, before any read: no NVML
    assert fake_nvml.threads == set()
    await site.refresh()
    site.state()
    assert site.reserve("a/", CATALOG.tiers["gpu-1"]).gpus == [0]
    assert fake_nvml.threads and loop_thread not in fake_nvml.threads


def test_nvml_failure_is_a_reason_and_kept(monkeypatch):
    fake = FakeNVML([], init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    nvml.close_session()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    try:
        assert detect_gpus() == ([], "no NVIDIA driver")
        assert detect_gpus() == ([], "no NVIDIA driver")
        assert fake.inits == 1
    finally:
        nvml.close_session()


def test_environment_problems(site, tmp_path):
    assert site.environment_problem(Environment()) is None  # the hub's own environment
    problem = site.environment_problem(Environment(python=str(tmp_path)))
    assert "jupyterhub-singleuser not found" in problem
    assert "container image" in site.environment_problem(Environment(image="quay.io/x/y"))


class _Server:
    """Stands in for LocalProcessSpawner: a real process, stopped by SIGTERM to its pid only."""

    def __init__(self, proc):
        self.proc, self.pid = proc, proc.pid

    async def stop(self, now=False):
        self.proc.terminate()
        self.proc.wait(10)


async def test_stop_kills_the_whole_tree(site, tmp_path):
    # a "server" whose child runs in its own session, like a kernel, and ignores the parent's end
    script = textwrap.dedent(f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        open({str(tmp_path / "ready")!r}, "w").close()
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    for _ in range(200):
        if (tmp_path / "ready").exists():
            break
        await __import__("asyncio").sleep(0.05)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children
    await site.stop_server(_Server(proc))
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive


def _parent():
    """A real HybridSpawner, as the hub builds it, to make the child spawner."""
    from types import SimpleNamespace

    from jupyter_hybrid.spawner.hybrid import HybridSpawner

    user = SimpleNamespace(name="alice", id=1, url="/user/alice/", groups=[])
    return HybridSpawner(user=user, hub=SimpleNamespace(api_url="http://127.0.0.1:8081/hub/api"))


def _datasets(tmp_path):
    return parse_catalog(
        {
            "sites": {"local": {}},
            "tiers": {"small": {"cpu": 1, "memory": "1G"}},
            "datasets": {
                "claims-2024": {"locations": {"local": {"path": str(tmp_path)}}},
                "lake": {"locations": {"local": {"url": "s3://lake/raw"}}},
                "missing": {"locations": {"local": {"path": str(tmp_path / "nope")}}},
            },
        }
    )


def test_datasets_become_env_vars(site, tmp_path):
    cat = _datasets(tmp_path)
    where = {n: cat.datasets[n].locations["local"] for n in ("claims-2024", "lake")}
    allocation = site.reserve("a/", CATALOG.tiers["small"])
    child = site.server_spawner(_parent(), CATALOG.tiers["small"], Environment(), {}, allocation, where)
    assert child.environment["JUPYTER_HYBRID_DATASET_CLAIMS_2024"] == str(tmp_path)
    assert child.environment["JUPYTER_HYBRID_DATASET_LAKE"] == "s3://lake/raw"


def test_missing_dataset_path_is_a_clear_error(site, tmp_path):
    from jupyter_hybrid.sites.datasets import DatasetError

    cat = _datasets(tmp_path)
    where = {"missing": cat.datasets["missing"].locations["local"]}
    allocation = site.reserve("a/", CATALOG.tiers["small"])
    with pytest.raises(
        DatasetError, match=r"does not exist on site local; create it or fix datasets.missing"
    ):
        site.server_spawner(_parent(), CATALOG.tiers["small"], Environment(), {}, allocation, where)
