"""Charts as records: a rendered PNG with the title and the one-line caption it ships with.

Concepts held here:

* :class:`Chart` -- ``name`` (the PNG's file stem), ``title``, ``caption`` (what to look
  for) and the PNG bytes.
* :func:`new_figure` / :func:`render` -- matplotlib through the Agg canvas directly (no
  pyplot: no global figure registry and no GUI backend, so reports work in threads and on
  servers), with a fixed style and PNG metadata stripped so that the same run renders to
  the same bytes.
* :func:`time_axis` -- scenario seconds shown in minutes or hours, labelled with the unit;
  :class:`TimeAxis` is what charts need of a time axis (this, or clock time).
* :func:`duration_scale` -- the one unit (s, min or h) a report shows durations in.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110
PALETTE = {
    "unassigned": "#d62728",
    "assigned": "#ff7f0e",
    "active": "#1f77b4",
    "completed": "#2ca02c",
    "failed": "#7f7f7f",
    "accent": "#9467bd",
    "pass": "#2ca02c",
    "fail": "#d62728",
}
_STYLE: Any = {
    "font.size": 9.5,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "svg.hashsalt": "fleetsim",
    "path.simplify": True,
}


@dataclass(frozen=True, slots=True)
class Chart:
    """One rendered chart and the words around it."""

    name: str
    title: str
    caption: str
    png: bytes


@contextmanager
def style() -> Iterator[None]:
    """The report's matplotlib style, scoped so a caller's rcParams are left alone."""
    with mpl.rc_context(_STYLE):
        yield


def new_figure(width_in: float = 9.0, height_in: float = 4.0) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def render(fig: Figure) -> bytes:
    """PNG bytes of ``fig``, byte-identical for identical content (no software/date tags)."""
    buf = io.BytesIO()
    fig.savefig(
        buf,
        format="png",
        dpi=DPI,
        metadata={"Software": None},
        bbox_inches="tight",
        pad_inches=0.08,
    )
    return buf.getvalue()


def chart(name: str, title: str, caption: str, fig: Figure) -> Chart:
    if fig.axes and not fig.axes[0].get_title() and not fig.get_suptitle():
        fig.axes[0].set_title(title)
    return Chart(name, title, caption, render(fig))


def empty_chart(name: str, title: str, message: str) -> Chart:
    """A small placeholder that says why a chart has nothing to show."""
    with style():
        fig = new_figure(9.0, 1.6)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_title(title)
        ax.text(0.5, 0.4, message, ha="center", va="center", transform=ax.transAxes)
        return Chart(name, title, message, render(fig))


@dataclass(frozen=True, slots=True)
class TimeScale:
    """How scenario seconds are shown: divide by ``divisor`` and label with ``unit``."""

    divisor: float
    unit: str

    def __call__(self, seconds: Any) -> Any:
        return np.asarray(seconds, dtype=float) / self.divisor

    @property
    def label(self) -> str:
        return f"time since scenario start ({self.unit})"

    def decorate(self, ax: Axes) -> None:
        """Nothing to do: plain numbers tick themselves (see ``ClockScale.decorate``)."""


class TimeAxis(Protocol):
    """What a chart needs of its time axis: elapsed (:class:`TimeScale`) or clock time
    (:class:`sim.report.clock.ClockScale`)."""

    def __call__(self, seconds: Any) -> Any: ...

    @property
    def label(self) -> str: ...

    def decorate(self, ax: Axes) -> None: ...


def time_axis(horizon_s: float) -> TimeScale:
    """Minutes for runs up to three hours, hours beyond."""
    if not math.isfinite(horizon_s) or horizon_s <= 3 * 3600:
        return TimeScale(60.0, "min")
    return TimeScale(3600.0, "h")


def duration_scale(values_s: np.ndarray) -> TimeScale:
    """Seconds, minutes or hours for a distribution of durations, by its 90th percentile."""
    finite = values_s[np.isfinite(values_s)]
    p90 = float(np.percentile(finite, 90)) if finite.size else 0.0
    if p90 < 180:
        return TimeScale(1.0, "s")
    if p90 < 3 * 3600:
        return TimeScale(60.0, "min")
    return TimeScale(3600.0, "h")
