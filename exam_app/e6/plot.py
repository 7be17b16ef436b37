"""Geometry of the harmonisation plot, drawn as server-side SVG by the template.

One row per correcteur and one for all copies: every mark is a dot on a 0-20
axis (same marks stack upwards), the band spans mean ± standard deviation, a
tick marks the mean; a dashed line carries the overall mean across rows.
"""

from __future__ import annotations

from dataclasses import dataclass

LEFT, RIGHT, TOP, ROW, AXIS = 230, 20, 20, 56, 36
WIDTH = 760


@dataclass(frozen=True)
class PlotRow:
    label: str
    y: float
    dots: tuple[tuple[float, float], ...]
    mean_x: float | None
    band: tuple[float, float] | None
    is_total: bool


@dataclass(frozen=True)
class Plot:
    width: int
    height: int
    left: int
    right_x: int
    axis_y: float
    ticks: tuple[tuple[float, int], ...]
    rows: tuple[PlotRow, ...]
    overall_mean_x: float | None


def x_of(mark: float, max_mark: int = 20) -> float:
    return round(LEFT + (WIDTH - LEFT - RIGHT) * float(mark) / max_mark, 1)


def build_plot(rows, everyone, max_mark: int = 20) -> Plot:
    """``rows`` and ``everyone``: statistics with ``label``, ``mean``, ``stdev`` and
    ``distribution()`` ((mark, copies) by mark), e.g. harmonisation.MarkerStats."""
    plot_rows = []
    for index, stats in enumerate([*rows, everyone]):
        y = TOP + ROW * index + ROW / 2 + 8
        dots = []
        for mark, copies in stats.distribution():
            # Stack equal marks upwards, six high at most so dots stay inside the row (the
            # SVG's size follows the marks' spread, not the number of copies).
            dots.extend((x_of(mark, max_mark), round(y - 4 * level, 1))
                        for level in range(min(copies, 6)))
        mean = stats.mean
        band = None
        if mean is not None and stats.stdev is not None:
            low = max(float(mean - stats.stdev), 0)
            high = min(float(mean + stats.stdev), max_mark)
            band = (x_of(low, max_mark), x_of(high, max_mark))
        plot_rows.append(PlotRow(stats.label, y, tuple(dots),
                                 x_of(mean, max_mark) if mean is not None else None, band,
                                 stats is everyone))
    axis_y = TOP + ROW * len(plot_rows) + 8
    return Plot(
        width=WIDTH, height=int(axis_y + AXIS), left=LEFT, right_x=WIDTH - RIGHT,
        axis_y=axis_y,
        ticks=tuple((x_of(v, max_mark), v) for v in range(0, max_mark + 1, 2)),
        rows=tuple(plot_rows),
        overall_mean_x=x_of(everyone.mean, max_mark) if everyone.mean is not None else None,
    )
