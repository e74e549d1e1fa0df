"""Which NVIDIA GPUs this machine has, read through NVML (the ``nvidia-ml-py`` package).

Every failure becomes a plain reason ("no NVIDIA driver", "no GPU visible", "NVML error: ...")
rather than an exception, so callers can show it to a person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GpuDevice:
    index: int
    uuid: str
    model: str
    memory_total: int  # bytes

    def to_dict(self) -> dict:
        return asdict(self)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def detect_gpus() -> tuple[list[GpuDevice], str | None]:
    """Return (devices, reason); reason says why the list is empty, else None."""
    try:
        import pynvml  # provided by nvidia-ml-py
    except ImportError:
        return [], "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        return [], "no NVIDIA driver"
    except pynvml.NVMLError as e:
        return [], f"NVML error: {e}"
    try:
        devices = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            devices.append(
                GpuDevice(
                    index=index,
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                    model=_text(pynvml.nvmlDeviceGetName(handle)),
                    memory_total=int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
                )
            )
        return devices, (None if devices else "no GPU visible")
    except pynvml.NVMLError as e:
        return [], f"NVML error: {e}"
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass
