"""One NVML sampler per server, in a background thread (NVML calls block: never on the event loop).

Each poll reads memory and temperature, and pulls the *new* utilisation and power samples the driver
buffered since the last poll (``nvmlDeviceGetSamples`` with the last timestamp seen), so the history
holds the driver's full-resolution series (utilisation ~5 Hz, power ~50 Hz) even at 1 Hz polling.
With MIG on, every MIG instance is an entry of its own (memory and processes; the parent GPU keeps
utilisation, temperature and power, which NVML reports per physical GPU).

No GPU is a state, not an error: ``available`` is False and ``reason`` says why, logged once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from traitlets import Any as AnyTrait
from traitlets import Float, TraitError, validate
from traitlets.config import LoggingConfigurable

from .history import History
from .nvml import error_reason, guarded, load_nvml, sample_value, text

SERIES = ("utilization", "memory_used", "temperature", "power")
MAX_RATE_HZ = 5.0  # the utilisation counter updates every 200 ms on an H100: faster polls add nothing


@dataclass
class Device:
    """One entry of the panel: a physical GPU, or a MIG instance of one."""

    id: str  # "0", or "0/mig1" for MIG instance 1 of GPU 0
    handle: Any
    uuid: str
    name: str
    mig: bool = False
    parent: str | None = None
    mig_enabled: bool = False
    power_limit: float | None = None  # W
    last_ts: dict[int, int] = field(default_factory=dict)  # sampling type -> last NVML timestamp (µs)
    no_samples: set[int] = field(default_factory=set)  # sampling types this device does not buffer


class GpuSampler(LoggingConfigurable):
    interval = Float(
        1.0,
        help="Seconds between two NVML polls (default 1.0). The floor is 0.2 (5 Hz): faster adds nothing.",
    ).tag(config=True)

    history_seconds = Float(
        900.0, help="Seconds of history kept per GPU and metric (default 900 = 15 minutes)."
    ).tag(config=True)

    process_interval = Float(
        2.0, help="Seconds between two reads of the GPU process lists (default 2.0)."
    ).tag(config=True)

    nvml = AnyTrait(
        None, allow_none=True, help="NVML backend (the pynvml module of nvidia-ml-py); for tests only."
    )

    clock = AnyTrait(time.time, help="Wall clock, epoch seconds; for tests only.")

    @validate("interval")
    def _check_interval(self, proposal):
        if proposal["value"] < 1 / MAX_RATE_HZ:
            raise TraitError(
                f"GpuSampler.interval={proposal['value']}: the floor is {1 / MAX_RATE_HZ} s "
                f"({MAX_RATE_HZ:g} Hz); set 0.2 or more"
            )
        return proposal["value"]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.history = History(self.history_seconds)
        self.available = False
        self.reason: str | None = "not started"
        self.devices: list[Device] = []
        self.current: dict[str, dict] = {}  # id -> latest values
        self.processes: list[dict] = []  # raw NVML processes: gpu, pid, used_memory
        self._processes_at = float("-inf")
        self._unsupported: set = set()
        self._listeners: list[Callable[[dict], None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._logged: set[str] = set()

    # ---- lifecycle -------------------------------------------------------------------------------

    def open(self) -> bool:
        """Initialise NVML and enumerate devices; False (with ``reason``) when there is no GPU."""
        nvml = self.nvml
        if nvml is None:
            nvml, reason = load_nvml()
            if nvml is None:
                return self._unavailable(reason)
            self.nvml = nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as e:
            return self._unavailable(error_reason(nvml, e))
        try:
            self.devices = self._enumerate()
        except nvml.NVMLError as e:
            return self._unavailable(f"NVML error: {e}")
        if not self.devices:
            return self._unavailable("no GPU visible")
        self.available, self.reason = True, None
        self.log.info("GPU sampler: %s", ", ".join(f"{d.id} {d.name}" for d in self.devices))
        return True

    def start(self) -> None:
        """Open NVML and poll in a daemon thread; without a GPU, only record the reason."""
        if self._thread is not None or not self.open():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="jupyter-hybrid-gpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.available:
            try:
                self.nvml.nvmlShutdown()
            except Exception:  # noqa: S110 - shutting down: nothing left to tell anyone
                pass

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as e:  # one bad poll must not kill the thread; say it once per kind
                self._log_once(f"poll:{type(e).__name__}", "GPU sample failed: %s", e)
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (suspended machine, slow driver): do not burst to catch up
                next_at, delay = time.monotonic(), 0
            self._stop.wait(delay)

    def _unavailable(self, reason: str) -> bool:
        self.available, self.reason = False, reason
        self._log_once(f"unavailable:{reason}", "GPU monitoring off: %s", reason)
        return False

    def _log_once(self, key: str, msg: str, *args) -> None:
        if key not in self._logged:
            self._logged.add(key)
            self.log.warning(msg, *args)

    # ---- enumeration -------------------------------------------------------------------------------

    def _enumerate(self) -> list[Device]:
        nvml, devices = self.nvml, []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            gpu = Device(
                id=str(index),
                handle=handle,
                uuid=text(nvml.nvmlDeviceGetUUID(handle)),
                name=text(nvml.nvmlDeviceGetName(handle)),
            )
            limit = guarded(nvml, "nvmlDeviceGetEnforcedPowerLimit", handle)
            gpu.power_limit = limit / 1000 if limit is not None else None
            mode = guarded(nvml, "nvmlDeviceGetMigMode", handle)
            gpu.mig_enabled = bool(mode) and mode[0] == getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1)
            devices.append(gpu)
            if gpu.mig_enabled:
                devices.extend(self._mig_instances(gpu))
        return devices

    def _mig_instances(self, gpu: Device) -> list[Device]:
        nvml, found = self.nvml, []
        count = guarded(nvml, "nvmlDeviceGetMaxMigDeviceCount", gpu.handle) or 0
        for i in range(count):
            mig = guarded(nvml, "nvmlDeviceGetMigDeviceHandleByIndex", gpu.handle, i)  # NotFound: empty slot
            if mig is None:
                continue
            found.append(
                Device(
                    id=f"{gpu.id}/mig{i}",
                    handle=mig,
                    uuid=text(nvml.nvmlDeviceGetUUID(mig)),
                    name=text(guarded(nvml, "nvmlDeviceGetName", mig) or f"{gpu.name} MIG {i}"),
                    mig=True,
                    parent=gpu.id,
                )
            )
        return found

    # ---- one poll ----------------------------------------------------------------------------------

    def poll(self) -> dict:
        """Read every device once; store and publish what is new. Returns the published update."""
        now = self.clock()
        update: dict[str, Any] = {"time": now, "gpus": [], "series": {}}
        for device in self.devices:
            values, series = self._read(device, now)
            added = {}
            for name, points in series.items():
                new = self.history.extend(device.id, name, points)
                if new:
                    added[name] = [[t, v] for t, v in new]
            update["gpus"].append(values)
            if added:
                update["series"][device.id] = added
        with self._lock:
            self.current = {g["id"]: g for g in update["gpus"]}
        if now - self._processes_at >= self.process_interval:
            self._processes_at = now
            self.processes = self._read_processes()
        for listener in list(self._listeners):
            try:
                listener(update)
            except Exception as e:  # a broken listener must not stop the sampler
                self._log_once(f"listener:{type(e).__name__}", "GPU listener failed: %s", e)
        return update

    def _read(self, d: Device, now: float) -> tuple[dict, dict[str, list[tuple[float, float]]]]:
        nvml, skip = self.nvml, self._unsupported
        values: dict[str, Any] = {
            "id": d.id,
            "uuid": d.uuid,
            "name": d.name,
            "mig": d.mig,
            "parent": d.parent,
            "time": now,
            "utilization": None,
            "memory_used": None,
            "memory_total": None,
            "temperature": None,
            "power": None,
            "power_limit": d.power_limit,
        }
        series: dict[str, list[tuple[float, float]]] = {}
        mem = guarded(nvml, "nvmlDeviceGetMemoryInfo", d.handle, unsupported=skip)
        if mem is not None:
            values["memory_used"], values["memory_total"] = int(mem.used), int(mem.total)
            series["memory_used"] = [(now, values["memory_used"])]
        if d.mig:  # NVML reports utilisation, temperature and power per physical GPU
            return values, series
        temp = guarded(
            nvml, "nvmlDeviceGetTemperature", d.handle, nvml.NVML_TEMPERATURE_GPU, unsupported=skip
        )
        if temp is not None:
            values["temperature"] = float(temp)
            series["temperature"] = [(now, values["temperature"])]
        util = self._samples(d, nvml.NVML_GPU_UTILIZATION_SAMPLES, 1.0)
        if util is None:  # no sample buffer on this device: the instantaneous counter
            rates = guarded(nvml, "nvmlDeviceGetUtilizationRates", d.handle, unsupported=skip)
            util = [(now, float(rates.gpu))] if rates is not None else []
        power = self._samples(d, nvml.NVML_TOTAL_POWER_SAMPLES, 1e-3)  # mW -> W
        if power is None:
            mw = guarded(nvml, "nvmlDeviceGetPowerUsage", d.handle, unsupported=skip)
            power = [(now, mw / 1000)] if mw is not None else []
        if util:
            series["utilization"], values["utilization"] = util, util[-1][1]
        elif self.history.series(d.id, "utilization"):  # nothing new this poll: keep the last value
            values["utilization"] = self.history.series(d.id, "utilization")[-1][1]
        if power:
            series["power"], values["power"] = power, power[-1][1]
        elif self.history.series(d.id, "power"):
            values["power"] = self.history.series(d.id, "power")[-1][1]
        return values, series

    def _samples(self, d: Device, kind: int, scale: float) -> list[tuple[float, float]] | None:
        """New driver samples since the last poll as (epoch s, value); None when not supported."""
        nvml = self.nvml
        if kind in d.no_samples:
            return None
        fn = getattr(nvml, "nvmlDeviceGetSamples", None)
        try:
            if fn is None:
                raise nvml.NVMLError(nvml.NVML_ERROR_FUNCTION_NOT_FOUND)
            got = fn(d.handle, kind, d.last_ts.get(kind, 0))
        except nvml.NVMLError as e:
            # NOT_FOUND here means "no sample newer than the timestamp", not "no such metric"
            if e.value in (nvml.NVML_ERROR_NOT_FOUND, getattr(nvml, "NVML_ERROR_NO_DATA", -1)):
                return []
            if e.value in (nvml.NVML_ERROR_NOT_SUPPORTED, nvml.NVML_ERROR_FUNCTION_NOT_FOUND):
                d.no_samples.add(kind)
                return None
            raise
        value_type, samples = got
        last = d.last_ts.get(kind, 0)
        points = []
        for s in samples:
            if s.timeStamp > last:
                points.append((s.timeStamp / 1e6, sample_value(nvml, value_type, s.sampleValue) * scale))
        if samples:
            d.last_ts[kind] = max(last, max(s.timeStamp for s in samples))
        return points

    def _read_processes(self) -> list[dict]:
        """Compute and graphics processes per entry (MIG instances on their own handle)."""
        nvml, found = self.nvml, []
        for d in self.devices:
            if d.mig_enabled:  # the instances list their own processes
                continue
            by_pid: dict[int, dict] = {}
            for fn in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                try:
                    procs = guarded(nvml, fn, d.handle, unsupported=self._unsupported) or []
                except nvml.NVMLError as e:  # e.g. no permission inside a MIG parent
                    self._log_once(f"{fn}:{e}", "GPU processes of %s unreadable: %s", d.id, e)
                    procs = []
                for p in procs:
                    used = getattr(p, "usedGpuMemory", None)
                    entry = by_pid.setdefault(
                        int(p.pid), {"gpu": d.id, "pid": int(p.pid), "used_memory": None}
                    )
                    if used is not None:
                        entry["used_memory"] = max(entry["used_memory"] or 0, int(used))
            found.extend(by_pid.values())
        return found

    # ---- reading the state (any thread) ------------------------------------------------------------

    def state(self, since: float | None = None) -> dict:
        """What GET /jupyter-hybrid/gpu returns before attribution; ``since`` adds history."""
        with self._lock:
            gpus = [
                self.current.get(d.id) or {"id": d.id, "uuid": d.uuid, "name": d.name} for d in self.devices
            ]
        out: dict[str, Any] = {
            "available": self.available,
            "reason": self.reason,
            "interval": self.interval,
            "history_seconds": self.history_seconds,
            "gpus": gpus if self.available else [],
        }
        if since is not None:
            out["history"] = self.history.since(since)
        return out

    def subscribe(self, listener: Callable[[dict], None]) -> Callable[[], None]:
        """Call ``listener(update)`` from the sampler thread after each poll; returns unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe():
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe
