"""Server-rendered SVG bar charts: geometry computed here, drawn by templates/audit/_*.svg
with presentation attributes and classes only (the CSP allows no inline style or script)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    label_x: float
    label_y: float
    value_x: float
    value_y: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    axis_y: float

    @property
    def empty(self) -> bool:
        return not any(bar.value for bar in self.bars)


def _nice_peak(values: Sequence[int]) -> int:
    peak = max([*values, 1])
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if peak <= step * 4:
            return -(-peak // step) * step
    return peak


def columns(points: Sequence[tuple[str, int]], *, width: int = 720, height: int = 220) -> Chart:
    """Vertical bars, one per point (e.g. per day), left to right."""
    top, bottom, left = 16.0, 36.0, 8.0
    plot_h = height - top - bottom
    peak = _nice_peak([v for _, v in points])
    slot = (width - 2 * left) / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        h = plot_h * value / peak
        x = left + i * slot + slot * 0.1
        bars.append(
            Bar(
                x=round(x, 2),
                y=round(top + plot_h - h, 2),
                width=round(slot * 0.8, 2),
                height=round(h, 2),
                label=label,
                value=value,
                label_x=round(x + slot * 0.4, 2),
                label_y=height - bottom + 14,
                value_x=round(x + slot * 0.4, 2),
                value_y=round(top + plot_h - h - 3, 2),
            )
        )
    return Chart(width=width, height=height, bars=bars, peak=peak, axis_y=top + plot_h)


def rows(points: Sequence[tuple[str, int]], *, width: int = 720, row: int = 28) -> Chart:
    """Horizontal bars, one per labelled point, top to bottom."""
    label_w, right = 240.0, 48.0
    peak = _nice_peak([v for _, v in points])
    plot_w = width - label_w - right
    bars = []
    for i, (label, value) in enumerate(points):
        w = plot_w * value / peak
        y = 4 + i * row
        bars.append(
            Bar(
                x=label_w,
                y=y,
                width=round(w, 2),
                height=row - 8,
                label=label,
                value=value,
                label_x=label_w - 8,
                label_y=y + row / 2,
                value_x=round(label_w + w + 6, 2),
                value_y=y + row / 2,
            )
        )
    height = max(len(points), 1) * row + 8
    return Chart(width=width, height=height, bars=bars, peak=peak, axis_y=height)
