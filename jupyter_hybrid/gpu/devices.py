"""Which NVIDIA GPUs this machine has, read through NVML (the ``nvidia-ml-py`` package).

Every failure becomes a plain reason ("no NVIDIA driver", "no GPU visible", "NVML error: ...")
rather than an exception, so callers can show it to a person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .nvml import session, text


@dataclass(frozen=True)
class GpuDevice:
    index: int
    uuid: str
    model: str
    memory_total: int  # bytes

    def to_dict(self) -> dict:
        return asdict(self)


def detect_gpus() -> tuple[list[GpuDevice], str | None]:
    """Return (devices, reason); reason says why the list is empty, else None.

    Reads through the process's one NVML session (``nvml.session()``): no init/shutdown per call.
    Blocking (a driver call per device): async callers run it in a thread."""
    nvml, reason = session()
    if nvml is None:
        return [], reason
    try:
        devices = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            devices.append(
                GpuDevice(
                    index=index,
                    uuid=text(nvml.nvmlDeviceGetUUID(handle)),
                    model=text(nvml.nvmlDeviceGetName(handle)),
                    memory_total=int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
                )
            )
        return devices, (None if devices else "no GPU visible")
    except nvml.NVMLError as e:
        return [], f"NVML error: {e}"
