"""Inline SVG line charts for the notebook widget: pure functions of the sampler's state.

SVG in an HTML widget needs no front-end code of ours in the notebook, so the widget works wherever
ipywidgets does (JupyterLab, Notebook 7, VS Code).
"""

from __future__ import annotations

from html import escape

GIB = 2**30
WIDTH, HEIGHT = 260, 70
METRICS = [
    # series, label, colour, scale, unit
    ("utilization", "Utilisation", "#1f77b4", 1, "%"),
    ("memory_used", "Memory", "#9467bd", 1 / GIB, " GiB"),
    ("temperature", "Temperature", "#d62728", 1, " °C"),
    ("power", "Power", "#ff7f0e", 1, " W"),
]


def svg_chart(points: list[tuple[float, float]], top: float, color: str, window: float) -> str:
    """A filled line chart of (t, value) over the last ``window`` seconds, y from 0 to ``top``."""
    top = max(top, max((v for _, v in points), default=0), 1e-9)
    body = ""
    if points:
        end = points[-1][0]
        # one point per pixel column (the highest): 50 Hz power over 15 min is 45,000 points
        columns: dict[int, float] = {}
        for t, v in points:
            if end - t <= window:
                x = int(WIDTH * (1 - (end - t) / window))
                columns[x] = max(columns.get(x, v), v)
        xy = [(x, HEIGHT * (1 - v / top)) for x, v in sorted(columns.items())]
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        area = f"{xy[0][0]:.1f},{HEIGHT} {line} {xy[-1][0]:.1f},{HEIGHT}"
        body = (
            f'<polygon points="{area}" fill="{color}" fill-opacity="0.2"/>'
            f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.5"/>'
        )
    return (
        f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'style="border:1px solid #ddd;background:#fff">{body}</svg>'
    )


def _value(gpu: dict, series: str, scale: float, unit: str) -> str:
    v = gpu.get(series)
    if v is None:
        return "n/a"
    text = f"{v * scale:.1f}{unit}" if scale != 1 else f"{v:.0f}{unit}"
    if series == "memory_used" and gpu.get("memory_total"):
        text += f" / {gpu['memory_total'] / GIB:.0f} GiB"
    if series == "power" and gpu.get("power_limit"):
        text += f" of {gpu['power_limit']:.0f} W"
    return text


def render(state: dict, history: dict[str, dict[str, list]], window: float) -> str:
    """The widget's HTML: the reason when there is no GPU, else four charts per GPU / MIG instance."""
    if not state["available"]:
        return (
            f'<div class="jp-hybrid-gpumonitor"><i>No GPU: {escape(state["reason"] or "unknown")}</i></div>'
        )
    cards = []
    for gpu in state["gpus"]:
        series = history.get(gpu["id"], {})
        charts = []
        for name, label, color, scale, unit in METRICS:
            if gpu.get("mig") and name in ("temperature", "power"):
                continue  # per physical GPU: on the parent's card
            points = [(t, v * scale) for t, v in series.get(name, [])]
            top = {"utilization": 100, "memory_used": (gpu.get("memory_total") or 0) / GIB}.get(name, 0)
            if name == "power":
                top = gpu.get("power_limit") or 0
            charts.append(
                f'<div style="margin:2px 8px 2px 0"><div style="color:#666">{label}: '
                f"{escape(_value(gpu, name, scale, unit))}</div>{svg_chart(points, top, color, window)}</div>"
            )
        cards.append(
            f'<div style="border:1px solid #ccc;border-radius:4px;padding:4px 8px;margin:4px 0">'
            f"<b>GPU {escape(gpu['id'])}: {escape(gpu.get('name', ''))}</b>"
            f'<div style="display:flex;flex-wrap:wrap">{"".join(charts)}</div></div>'
        )
    return f'<div class="jp-hybrid-gpumonitor">{"".join(cards)}</div>'
