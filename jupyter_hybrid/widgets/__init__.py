"""ipywidgets for use inside notebooks: ``from jupyter_hybrid.widgets import GPUMonitor; GPUMonitor()``."""

from .gpu import GPUMonitor

__all__ = ["GPUMonitor"]
