"""Stacked bar charts as geometry: the template draws them as inline SVG.

No library and no script: numbers in, rectangles and axis labels out. The
template escapes every text, so a label can never become markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 720, 190
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 24     # room for the axis labels
LABEL_EVERY = 3                              # an x label every third bar


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str          # the CSS class that colours it
    title: str           # the tooltip: what the bar counts


@dataclass(slots=True)
class Chart:
    title: str
    series: list[str]
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)    # (y, label)
    x_labels: list[tuple[float, str]] = field(default_factory=list)   # (x of the bar's middle, label)
    total: int = 0

    @property
    def plot(self) -> tuple[float, float, float, float]:
        """The plotting area: left, top, right, bottom."""
        return LEFT, TOP, self.width - RIGHT, self.height - BOTTOM


def nice_step(top: float, ticks: int = 4) -> int:
    """A round step (1, 2, 5 × 10^n) that covers `top` in about `ticks` steps."""
    raw = max(top, 1) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw)) or 1


def stacked_bars(title: str, labels: list[str], series: dict[str, list[int]], unit: str,
                 spans: list[str] | None = None) -> Chart:
    """One bar per label, its series stacked in the order given.

    `labels` name the x positions (shown every few bars); `spans` say what each
    bar covers, for its tooltip ("14:00–15:00 UTC"); `unit` is what is counted.
    """
    chart = Chart(title=title, series=list(series))
    left, top, right, bottom = chart.plot
    count = len(labels)
    sums = [sum(values[i] for values in series.values()) for i in range(count)]
    chart.total = sum(sums)
    step = nice_step(max(sums, default=0))
    ceiling = step * max(1, math.ceil(max(sums, default=0) / step))
    scale = (bottom - top) / ceiling
    chart.y_ticks = [(bottom - v * scale, f"{v:,}") for v in range(0, ceiling + 1, step)]
    slot = (right - left) / max(count, 1)
    gap = min(4.0, slot * 0.2)
    for i, label in enumerate(labels):
        x = left + i * slot + gap / 2
        if i % LABEL_EVERY == 0:
            chart.x_labels.append((x + (slot - gap) / 2, label))
        base = bottom
        for name, values in series.items():
            if values[i] <= 0:
                continue
            height = values[i] * scale
            base -= height
            span = spans[i] if spans else label
            chart.bars.append(Bar(round(x, 2), round(base, 2), round(slot - gap, 2), round(height, 2), name,
                                  f"{span}: {values[i]:,} {unit} {name}"))
    return chart
