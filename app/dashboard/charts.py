"""Inline SVG charts of a per-day series, computed here and drawn by the
template: the scale (a "nice" top of 1, 2 or 5 times a power of ten, or 1 for a
share), each point's position, and the labels. Pure: no I/O, no markup."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

WIDTH = 320
HEIGHT = 120
PAD_LEFT = 40
PAD_BOTTOM = 18
PAD_TOP = 8
PAD_RIGHT = 8


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    day: date
    value: float


@dataclass(frozen=True)
class Chart:
    name: str
    unit: str  # "share", "seconds" or "count"
    top: float  # the value at the top of the plot
    points: tuple[Point, ...]
    first: date | None
    last: date | None
    latest: float | None  # the newest measured value

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def has_data(self) -> bool:
        return bool(self.points)


def nice_top(largest: float) -> float:
    """The smallest of 1, 2, 5 times 10^k at or above `largest` (1 for nothing)."""
    if largest <= 0 or not math.isfinite(largest):
        return 1.0
    power = 10 ** math.floor(math.log10(largest))
    for step in (1, 2, 5, 10):
        if largest <= step * power * (1 + 1e-9):
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def build(name: str, unit: str, series: Sequence[tuple[date, float | None]]) -> Chart:
    """Place each measured day's value; a share is drawn on 0..1, anything else
    on 0..nice_top(max). Days without a value leave a gap in x, not a zero."""
    measured = [(d, v) for d, v in series if v is not None and math.isfinite(v)]
    top = 1.0 if unit == "share" else nice_top(max((v for _, v in measured), default=0.0))
    span = max(len(series) - 1, 1)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    index = {d: i for i, (d, _) in enumerate(series)}
    points = tuple(
        Point(
            x=PAD_LEFT + plot_w * index[d] / span,
            y=PAD_TOP + plot_h * (1 - min(max(v / top, 0.0), 1.0)),
            day=d,
            value=v,
        )
        for d, v in measured
    )
    return Chart(
        name=name,
        unit=unit,
        top=top,
        points=points,
        first=series[0][0] if series else None,
        last=series[-1][0] if series else None,
        latest=measured[-1][1] if measured else None,
    )


def label(value: float | None, unit: str) -> str:
    """A figure as people read it: 87%, 4m 10s, 12."""
    if value is None:
        return "—"
    if unit == "share":
        return f"{value * 100:.0f}%"
    if unit == "seconds":
        seconds = round(value)
        if seconds < 60:
            return f"{seconds}s"
        if seconds < 3600:
            return f"{seconds // 60}m {seconds % 60}s"
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{value:g}"
