"""``GPUMonitor()``: the GPU panel's live charts as an ipywidget, sampled inside the kernel."""

from __future__ import annotations

import threading

import ipywidgets as widgets

from ..gpu.sampler import GpuSampler
from .charts import render


class GPUMonitor(widgets.VBox):
    """Live utilisation, memory, temperature and power per GPU; the reason when there is none.

    ``interval``: seconds between samples (default 1.0, floor 0.2); ``window``: seconds of history
    shown (default 900). ``stop()`` ends sampling (closing the widget does too).
    """

    def __init__(self, interval: float = 1.0, window: float = 900.0, sampler: GpuSampler | None = None, **kw):
        self.window = window
        self.sampler = sampler or GpuSampler(interval=interval, history_seconds=window)
        self.view = widgets.HTML()
        super().__init__(children=[self.view], **kw)
        self._lock = threading.Lock()
        self.sampler.subscribe(self._on_sample)
        self.sampler.start()
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the sampler's current state and history."""
        state = self.sampler.state(since=0)
        html = render(state, state.get("history", {}), self.window)
        with self._lock:
            self.view.value = html

    def _on_sample(self, update: dict) -> None:  # the sampler's thread
        self.refresh()

    def stop(self) -> None:
        self.sampler.stop()

    def close(self):
        self.stop()
        super().close()
