"""Guarded NVML calls: one unsupported metric must not cost the whole sample.

``nvml`` everywhere here is a module-like object with the ``pynvml`` (nvidia-ml-py) names: the real
module in production, an NVML-shaped object in tests.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

# Errors that mean "this metric is not available on this device/driver": the metric stays None.
# NO_DATA means nvmlDeviceGetSamples has nothing newer than the timestamp passed.
_METRIC_GONE = ("NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_FUNCTION_NOT_FOUND", "NVML_ERROR_NOT_FOUND")


def load_nvml() -> tuple[Any | None, str | None]:
    """Import nvidia-ml-py's ``pynvml`` module; (None, reason) when it is missing."""
    try:
        import pynvml  # the module nvidia-ml-py installs (not the deprecated `pynvml` package)
    except ImportError:
        return None, "nvidia-ml-py is not installed"
    return pynvml, None


_SESSION: tuple[Any | None, str | None] | None = None
_SESSION_LOCK = threading.Lock()


def session() -> tuple[Any | None, str | None]:
    """This process's one NVML session: (nvml, None) once ``nvmlInit`` succeeded, else (None, reason).

    Initialised on first use and kept open until the process exits, not per read: ``nvmlInit``
    loads the driver library and attaches to every GPU (tens of milliseconds, more with many GPUs),
    which a hub would otherwise pay on every form render. A failure is kept too (no driver does not
    appear under a running process); ``close_session()`` forgets either. NVML is thread-safe and
    counts init/shutdown pairs, so the sampler's own init/shutdown does not close this session.
    """
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            nvml, reason = load_nvml()
            if nvml is not None:
                try:
                    nvml.nvmlInit()
                except nvml.NVMLError as e:
                    nvml, reason = None, error_reason(nvml, e)
                else:
                    atexit.register(close_session)
            _SESSION = (nvml, reason)
        return _SESSION


def close_session() -> None:
    """Shut the session down (if one is open) and forget it: the next ``session()`` starts anew."""
    global _SESSION
    with _SESSION_LOCK:
        nvml = _SESSION[0] if _SESSION else None
        _SESSION = None
    if nvml is not None:
        atexit.unregister(close_session)
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError:
            pass


def error_reason(nvml, error: Exception) -> str:
    """The sentence a person sees for an NVML failure at start-up."""
    if getattr(error, "value", None) in (
        getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", -1),
        getattr(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", -1),
    ):
        return "no NVIDIA driver"
    return f"NVML error: {error}"


def is_metric_gone(nvml, error: Exception) -> bool:
    codes = {getattr(nvml, name, None) for name in _METRIC_GONE}
    return getattr(error, "value", None) in codes


def guarded(nvml, fn_name: str, *args, unsupported: set | None = None):
    """Call ``nvml.<fn_name>(*args)``; None when the function or metric is not supported.

    ``unsupported`` remembers (fn_name, args[0]) pairs that failed so, so the next polls skip them
    instead of paying for the failing call again. Other NVML errors (GPU lost, ...) propagate.
    """
    key = (fn_name, id(args[0])) if args else (fn_name, None)
    if unsupported is not None and key in unsupported:
        return None
    fn = getattr(nvml, fn_name, None)
    if fn is None:
        if unsupported is not None:
            unsupported.add(key)
        return None
    try:
        return fn(*args)
    except nvml.NVMLError as e:
        if is_metric_gone(nvml, e):
            if unsupported is not None:
                unsupported.add(key)
            return None
        raise


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def sample_value(nvml, value_type: int, value) -> float:
    """Read an ``nvmlValue_t`` union by the type nvmlDeviceGetSamples reported."""
    field = {
        getattr(nvml, "NVML_VALUE_TYPE_DOUBLE", 0): "dVal",
        getattr(nvml, "NVML_VALUE_TYPE_UNSIGNED_INT", 1): "uiVal",
        getattr(nvml, "NVML_VALUE_TYPE_UNSIGNED_LONG", 2): "ulVal",
        getattr(nvml, "NVML_VALUE_TYPE_UNSIGNED_LONG_LONG", 3): "ullVal",
        getattr(nvml, "NVML_VALUE_TYPE_SIGNED_LONG_LONG", 4): "sllVal",
        getattr(nvml, "NVML_VALUE_TYPE_SIGNED_INT", 5): "siVal",
        getattr(nvml, "NVML_VALUE_TYPE_UNSIGNED_SHORT", 6): "usVal",
    }.get(value_type, "uiVal")
    return float(getattr(value, field))
