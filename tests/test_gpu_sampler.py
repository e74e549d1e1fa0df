"""The GPU sampler with an NVML-shaped backend (tests/gputools.py), and its real no-GPU path."""

from __future__ import annotations

import logging
import threading

import pynvml
import pytest
from traitlets import TraitError

from jupyter_hybrid.gpu.devices import detect_gpus
from jupyter_hybrid.gpu.history import History
from jupyter_hybrid.gpu.sampler import GpuSampler

from .gputools import FakeGPU, FakeNVML

T0 = 1_700_000_000.0  # epoch s
US = 1_000_000


class Clock:
    def __init__(self, t=T0):
        self.t = t

    def __call__(self):
        return self.t


def make(gpus, clock=None, **kw):
    sampler = GpuSampler(nvml=FakeNVML(gpus), clock=clock or Clock(), **kw)
    assert sampler.open(), sampler.reason
    return sampler


def test_reads_every_metric():
    gpu = FakeGPU(memory_used=3 * 2**30, temperature=55, utilization=42, power_mw=250_000)
    sampler = make([gpu])
    sampler.poll()
    (g,) = sampler.state()["gpus"]
    assert g["id"] == "0" and g["name"] == "NVIDIA H100 80GB HBM3" and g["mig"] is False
    assert (g["memory_used"], g["memory_total"]) == (3 * 2**30, 80 * 2**30)
    assert g["temperature"] == 55.0 and g["power_limit"] == 700.0
    # nothing buffered by the "driver" yet: no value rather than a guess
    assert g["utilization"] is None and g["power"] is None
    gpu.util_samples = [(int(T0 * US), 42)]
    gpu.power_samples = [(int(T0 * US), 250_000)]
    sampler.poll()
    (g,) = sampler.state()["gpus"]
    assert g["utilization"] == 42.0 and g["power"] == 250.0


def test_not_supported_leaves_only_that_metric_empty():
    gpu = FakeGPU(unsupported={"nvmlDeviceGetTemperature", "nvmlDeviceGetSamples"}, utilization=7)
    sampler = make([gpu])
    sampler.poll()
    (g,) = sampler.state()["gpus"]
    assert g["temperature"] is None
    assert g["utilization"] == 7.0 and g["power"] == 100.0  # fell back to the instantaneous counters
    assert g["memory_used"] == 2**30
    gpu.calls.clear()
    sampler.poll()
    called = {fn for fn, _ in gpu.calls}
    # an unsupported call is not paid again on every poll
    assert "nvmlDeviceGetTemperature" not in called and "nvmlDeviceGetSamples" not in called


def test_other_nvml_errors_fail_the_poll_not_the_thread(caplog):
    gpu = FakeGPU()
    sampler = make([gpu], interval=0.2)

    failed_polls = threading.Semaphore(0)

    def lost(h):
        failed_polls.release()
        raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)

    sampler.nvml.nvmlDeviceGetMemoryInfo = lost
    with pytest.raises(pynvml.NVMLError):
        sampler.poll()
    assert failed_polls.acquire(timeout=0)
    with caplog.at_level(logging.WARNING):
        sampler._thread = threading.Thread(target=sampler._run, daemon=True)
        sampler._thread.start()
        try:
            for _ in range(3):  # three polls of the thread, each failing
                assert failed_polls.acquire(timeout=30), "the sampler thread stopped polling"
        finally:
            sampler.stop()
    failures = [r for r in caplog.records if "GPU sample failed" in r.getMessage()]
    assert len(failures) == 1, "one warning, not a traceback per poll"


def test_incremental_samples_keep_full_resolution():
    gpu = FakeGPU()
    clock = Clock()
    sampler = make([gpu], clock=clock)
    # the driver buffers utilisation at 5 Hz and power at 50 Hz between two 1 Hz polls
    gpu.util_samples = [(int((T0 - 1 + i * 0.2) * US), 10 * i) for i in range(5)]
    gpu.power_samples = [(int((T0 - 1 + i * 0.02) * US), 100_000 + i) for i in range(50)]
    first = sampler.poll()
    assert len(first["series"]["0"]["utilization"]) == 5
    assert len(first["series"]["0"]["power"]) == 50
    last_util = max(t for t, _ in gpu.util_samples)
    gpu.util_samples += [(int((T0 + i * 0.2) * US), 50 + i) for i in range(5)]
    clock.t = T0 + 1
    second = sampler.poll()
    util_calls = [a for fn, a in gpu.calls if fn == "nvmlDeviceGetSamples" and a[0] == 1]
    assert util_calls[-1][1] == last_util, "the second poll passes the last timestamp seen"
    assert [v for _, v in second["series"]["0"]["utilization"]] == [50, 51, 52, 53, 54]
    assert "power" not in second["series"]["0"], "no new power sample: nothing re-sent"
    history = sampler.state(since=0)["history"]["0"]
    assert len(history["utilization"]) == 10 and len(history["power"]) == 50
    assert history["power"][0] == [pytest.approx(T0 - 1), 100.0]
    # since= returns only what is newer
    assert len(sampler.state(since=T0 - 0.01)["history"]["0"]["utilization"]) == 5


def test_mig_instances_are_entries_of_their_own():
    a = FakeGPU(
        name="MIG 1g.10gb", uuid="MIG-a", memory_total=10 * 2**30, memory_used=2**30, compute=[(111, 2**29)]
    )
    b = FakeGPU(name="MIG 3g.40gb", uuid="MIG-b", memory_total=40 * 2**30, memory_used=0)
    parent = FakeGPU(uuid="GPU-p", mig=[a, None, b], compute=[(999, 1)])
    plain = FakeGPU(uuid="GPU-q", compute=[(222, 2**30)], graphics=[(222, 2**20), (333, 5)])
    sampler = make([parent, plain])
    sampler.poll()
    gpus = {g["id"]: g for g in sampler.state()["gpus"]}
    assert list(gpus) == ["0", "0/mig0", "0/mig2", "1"]
    assert gpus["0/mig0"]["mig"] and gpus["0/mig0"]["parent"] == "0"
    assert gpus["0/mig0"]["memory_total"] == 10 * 2**30 and gpus["0/mig2"]["memory_used"] == 0
    assert gpus["0/mig0"]["temperature"] is None  # a physical-GPU metric: on the parent
    assert gpus["0"]["temperature"] == 40.0
    procs = sorted((p["gpu"], p["pid"], p["used_memory"]) for p in sampler.processes)
    # MIG: the instances' own lists, not the parent's; one row per pid and device (compute + graphics)
    assert procs == [("0/mig0", 111, 2**29), ("1", 222, 2**30), ("1", 333, 5)]


def test_history_window_drops_old_points():
    h = History(seconds=10)
    h.extend("0", "utilization", [(0, 1), (5, 2)])
    assert h.extend("0", "utilization", [(5, 9), (12, 3)]) == [(12, 3)]  # t=5 already held
    assert h.series("0", "utilization") == [(5, 2), (12, 3)]  # t=0 is older than 12-10


def test_interval_has_a_5hz_ceiling():
    with pytest.raises(TraitError, match="0.2"):
        GpuSampler(interval=0.1)
    assert GpuSampler(interval=0.2).interval == 0.2


@pytest.mark.parametrize(
    ("gpus", "init_error", "reason"),
    [
        ([FakeGPU()], pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "no NVIDIA driver"),
        ([FakeGPU()], pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "no NVIDIA driver"),
        ([FakeGPU()], pynvml.NVML_ERROR_NO_PERMISSION, "NVML error: Insufficient Permissions"),
        ([], None, "no GPU visible"),
    ],
)
def test_unavailable_reasons(gpus, init_error, reason):
    sampler = GpuSampler(nvml=FakeNVML(gpus, init_error=init_error))
    sampler.start()
    assert sampler._thread is None, "no thread without a GPU"
    state = sampler.state(since=0)
    assert state["available"] is False and state["reason"] == reason and state["gpus"] == []


def test_real_backend_without_gpu(no_gpu, caplog):
    """The real backend without a GPU (forced on a GPU machine): no thread, a reason, one log line."""
    reason = no_gpu
    with caplog.at_level(logging.WARNING):
        sampler = GpuSampler()
        sampler.start()
        sampler.start()
        sampler.stop()
    assert sampler.available is False and sampler.reason == reason
    assert [r.getMessage() for r in caplog.records] == [f"GPU monitoring off: {reason}"]


@pytest.mark.gpu
def test_real_gpu_sample():
    devices, reason = detect_gpus()
    if not devices:
        pytest.skip(f"no GPU: {reason}")
    sampler = GpuSampler()
    assert sampler.open(), sampler.reason
    try:
        sampler.poll()
        gpus = sampler.state()["gpus"]
        assert len([g for g in gpus if not g["mig"]]) == len(devices)
        assert all(g["memory_total"] for g in gpus)
    finally:
        sampler.stop()
