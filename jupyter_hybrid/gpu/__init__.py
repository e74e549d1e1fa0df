"""GPU discovery and monitoring through NVML (nvidia-ml-py)."""
