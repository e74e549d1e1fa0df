"""A ``pynvml`` whose library cannot load, as on a machine without an NVIDIA driver.

Tests of the no-GPU paths use it on a machine that has a GPU (the ``no_gpu`` fixture in
tests/conftest.py), so those paths are covered there too instead of skipped: in this process through
``sys.modules``, in the servers, hubs and kernels a test starts through ``PYTHONPATH`` (this folder
first). Error codes and messages are nvidia-ml-py's own.
"""

NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
}


class NVMLError(Exception):
    def __init__(self, value):
        super().__init__(value)
        self.value = value

    def __str__(self):
        return _MESSAGES.get(self.value, f"Unknown Error {self.value}")


class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801 - nvidia-ml-py's name
    def __init__(self, value=NVML_ERROR_LIBRARY_NOT_FOUND):
        super().__init__(value)


def nvmlInit():
    raise NVMLError_LibraryNotFound()


def __getattr__(name):
    if name.startswith("nvml"):  # any other NVML call: nothing was initialised

        def uninitialised(*args, **kwargs):
            raise NVMLError(NVML_ERROR_UNINITIALIZED)

        return uninitialised
    raise AttributeError(name)
