"""An NVML-shaped backend for tests (no GPU on CI): the pynvml names the sampler calls, over plain data.

Errors, constants and the sample struct are nvidia-ml-py's own (``pynvml.NVMLError``,
``c_nvmlSample_t``), so the sampler's error handling and union decoding run as in production.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pynvml


@dataclass
class FakeGPU:
    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    memory_total: int = 80 * 2**30
    memory_used: int = 2**30
    temperature: int = 40
    power_limit_mw: int = 700_000
    power_mw: int = 100_000  # nvmlDeviceGetPowerUsage
    utilization: int = 0  # nvmlDeviceGetUtilizationRates
    util_samples: list = field(default_factory=list)  # [(timestamp µs, percent)]
    power_samples: list = field(default_factory=list)  # [(timestamp µs, mW)]
    unsupported: set = field(default_factory=set)  # pynvml function names raising NotSupported
    compute: list = field(default_factory=list)  # [(pid, bytes)]
    graphics: list = field(default_factory=list)
    mig: list = field(default_factory=list)  # FakeGPU per MIG slot, None for an empty slot
    calls: list = field(default_factory=list)  # (function, args) in call order


class FakeNVML:
    """Module-like: ``FakeNVML(gpus).nvmlDeviceGetCount()`` etc. ``init_error`` makes nvmlInit fail."""

    def __init__(self, gpus: list[FakeGPU], init_error: int | None = None):
        self.gpus = gpus
        self.init_error = init_error
        self.initialised = False
        self.inits = self.shutdowns = self.counts = 0  # nvmlInit / nvmlShutdown / nvmlDeviceGetCount calls
        self.threads: set[int] = set()  # threading.get_ident() of every thread that called those

    def __getattr__(self, name):  # NVMLError, NVML_* constants: the real module's
        if name.startswith(("NVML", "c_nvml")):
            return getattr(pynvml, name)
        raise AttributeError(name)

    def _call(self, gpu: FakeGPU, fn: str, *args):
        gpu.calls.append((fn, args))
        if fn in gpu.unsupported:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlInit(self):
        self.inits += 1
        self.threads.add(threading.get_ident())
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        self.initialised = True

    def nvmlShutdown(self):
        self.shutdowns += 1
        self.threads.add(threading.get_ident())
        self.initialised = False

    def nvmlDeviceGetCount(self):
        self.counts += 1
        self.threads.add(threading.get_ident())
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, h):
        return h.uuid

    def nvmlDeviceGetName(self, h):
        self._call(h, "nvmlDeviceGetName")
        return h.name.encode()

    def nvmlDeviceGetMemoryInfo(self, h):
        self._call(h, "nvmlDeviceGetMemoryInfo")
        return SimpleNamespace(total=h.memory_total, used=h.memory_used, free=h.memory_total - h.memory_used)

    def nvmlDeviceGetTemperature(self, h, sensor):
        self._call(h, "nvmlDeviceGetTemperature", sensor)
        return h.temperature

    def nvmlDeviceGetPowerUsage(self, h):
        self._call(h, "nvmlDeviceGetPowerUsage")
        return h.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        self._call(h, "nvmlDeviceGetEnforcedPowerLimit")
        return h.power_limit_mw

    def nvmlDeviceGetUtilizationRates(self, h):
        self._call(h, "nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=h.utilization, memory=0)

    def nvmlDeviceGetSamples(self, h, kind, last_seen):
        self._call(h, "nvmlDeviceGetSamples", kind, last_seen)
        buf = h.util_samples if kind == pynvml.NVML_GPU_UTILIZATION_SAMPLES else h.power_samples
        newer = [(t, v) for t, v in buf if t > last_seen]
        if not newer:  # what the driver answers when nothing is newer than the timestamp
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        out = []
        for t, v in newer:
            s = pynvml.c_nvmlSample_t()
            s.timeStamp = t
            s.sampleValue.uiVal = v
            out.append(s)
        return pynvml.NVML_VALUE_TYPE_UNSIGNED_INT, out

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        self._call(h, "nvmlDeviceGetComputeRunningProcesses")
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in h.compute]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h):
        self._call(h, "nvmlDeviceGetGraphicsRunningProcesses")
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in h.graphics]

    def nvmlDeviceGetMigMode(self, h):
        self._call(h, "nvmlDeviceGetMigMode")
        mode = pynvml.NVML_DEVICE_MIG_ENABLE if h.mig else pynvml.NVML_DEVICE_MIG_DISABLE
        return [mode, mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        self._call(h, "nvmlDeviceGetMaxMigDeviceCount")
        return len(h.mig)

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, index):
        self._call(h, "nvmlDeviceGetMigDeviceHandleByIndex", index)
        if h.mig[index] is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return h.mig[index]


# ---- no GPU, even on a GPU machine ----------------------------------------------------------------

NO_GPU_DIR = Path(__file__).parent / "nogpu"


def force_no_gpu(monkeypatch) -> None:
    """Make ``import pynvml`` find a library that cannot load (tests/nogpu/pynvml.py), in this
    process (``sys.modules``) and in the processes started after (``PYTHONPATH``, this folder first),
    and start a new NVML session. The ``no_gpu`` fixture (tests/conftest.py) calls it on GPU machines."""
    import importlib.util
    import os
    import sys

    from jupyter_hybrid.gpu import nvml

    spec = importlib.util.spec_from_file_location("pynvml", NO_GPU_DIR / "pynvml.py")
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    monkeypatch.setitem(sys.modules, "pynvml", shim)
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(NO_GPU_DIR), path])))
    nvml.close_session()


# ---- a simulated GPU inside a real `jupyter lab` (browser tests) ----------------------------------
#
# `--ServerApp.jpserver_extensions="{'jupyter_hybrid': True, 'tests.gputools': True}"` swaps the
# server's sampler for one over a simulated H100 whose driver buffer fills at 5 Hz (utilisation) and
# 50 Hz (power), and whose process list holds the server's kernels (its child processes).
#
# Utilisation follows a slow sine (50 +- 45 %) unless $JUPYTER_HYBRID_TEST_GPU_UTIL (tests only) says
# otherwise: a percent (constant), or the path of a file holding a percent, re-read at every sample so
# a test can make an idle GPU busy while the server runs (tests/test_gpu_culler_hub.py).

TEST_UTIL_ENV = "JUPYTER_HYBRID_TEST_GPU_UTIL"


def _test_utilisation(now: float) -> int:
    import math
    import os

    setting = os.environ.get(TEST_UTIL_ENV, "").strip()
    if not setting:
        return int(50 + 45 * math.sin(now / 5))
    try:
        return int(float(setting))
    except ValueError:
        pass
    try:
        with open(setting) as f:
            return int(float(f.read().strip() or 0))
    except (OSError, ValueError):
        return 0  # no file (yet): an idle GPU


def _jupyter_server_extension_points():
    return [{"module": "tests.gputools"}]


def _simulate(gpu: FakeGPU, stop) -> None:
    import math
    import os
    import time

    import psutil

    me = psutil.Process(os.getpid())
    while not stop.wait(0.2):
        now = time.time()
        t = int(now * 1e6)
        gpu.util_samples = [*gpu.util_samples[-100:], (t, _test_utilisation(now))]
        gpu.power_samples = [
            *gpu.power_samples[-500:],
            *((t - i * 20_000, int(300_000 + 150_000 * math.sin(now / 5))) for i in range(9, -1, -1)),
        ]
        gpu.temperature = int(60 + 10 * math.sin(now / 7))
        gpu.calls.clear()  # a long-running simulation: keep no call log
        kids = me.children()
        gpu.compute = [(p.pid, (i + 1) * 3 * 2**30) for i, p in enumerate(kids)]
        gpu.memory_used = 2**30 + sum(m for _, m in gpu.compute)


def _load_jupyter_server_extension(serverapp):
    from tornado.ioloop import IOLoop

    from jupyter_hybrid.gpu.sampler import GpuSampler

    def swap():
        gpu = FakeGPU(uuid="GPU-simulated")
        stop = threading.Event()
        threading.Thread(target=_simulate, args=(gpu, stop), daemon=True).start()
        settings = serverapp.web_app.settings
        settings["jupyter_hybrid.gpu_sampler"].stop()
        sampler = GpuSampler(nvml=FakeNVML([gpu]), parent=serverapp)
        sampler.start()
        settings["jupyter_hybrid.gpu_sampler"] = sampler
        serverapp.log.info("tests.gputools: simulated GPU in place")

    IOLoop.current().add_callback(swap)  # after every extension (jupyter_hybrid too) has loaded


# ---- a hub whose local site has GPUs (tests only) -------------------------------------------------


def use_simulated_gpu_sites(count: int = 4) -> None:
    """Make every ``kind: local`` site of this hub process report ``count`` simulated H100s.

    Called from a test hub's overlay config (tests/test_gpu_culler_hub.py), so that placement
    accepts GPU tiers on a machine without a GPU. Only the site's device list changes: reservation,
    ``CUDA_VISIBLE_DEVICES`` and process handling stay the real LocalSite's.
    """
    from jupyter_hybrid.gpu.devices import GpuDevice
    from jupyter_hybrid.sites import registry
    from jupyter_hybrid.sites.local import LocalSite

    devices = [GpuDevice(i, f"GPU-simulated-{i}", FakeGPU.name, FakeGPU.memory_total) for i in range(count)]

    class SimulatedGpuLocalSite(LocalSite):
        def _gpus(self):
            return list(devices), None

    registry.KINDS["local"] = lambda: SimulatedGpuLocalSite
