"""Time-windowed ring buffers of GPU series: ``{gpu id: {series: [(t, value), ...]}}``.

A window in seconds, not a point count: utilisation arrives at ~5 Hz and power at ~50 Hz from
nvmlDeviceGetSamples, so a fixed length would keep different spans for different series.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable


class History:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._series: dict[str, dict[str, deque]] = {}
        self._lock = threading.Lock()

    def extend(
        self, gpu: str, series: str, points: Iterable[tuple[float, float]]
    ) -> list[tuple[float, float]]:
        """Append points newer than the series' last one, drop points older than the window.

        Returns the points actually added (what a live client has not seen yet).
        """
        with self._lock:
            buf = self._series.setdefault(gpu, {}).setdefault(series, deque())
            last = buf[-1][0] if buf else float("-inf")
            added = []
            for t, v in sorted(points):
                if t > last:
                    buf.append((t, v))
                    added.append((t, v))
                    last = t
            horizon = last - self.seconds
            while buf and buf[0][0] < horizon:
                buf.popleft()
            return added

    def since(self, t: float) -> dict[str, dict[str, list[list[float]]]]:
        """Every point strictly after ``t`` (epoch seconds), JSON-ready."""
        with self._lock:
            return {
                gpu: {name: [[pt, pv] for pt, pv in buf if pt > t] for name, buf in series.items()}
                for gpu, series in self._series.items()
            }

    def series(self, gpu: str, name: str) -> list[tuple[float, float]]:
        with self._lock:
            return list(self._series.get(gpu, {}).get(name, ()))
