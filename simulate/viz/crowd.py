"""Many starts drawn as a crowd (:class:`~simulate.analysis.experiment.Crowd`): a density image of
where every start's iterates went, under the sample of paths drawn in full, and the loss as
quantile bands instead of one line per start. Each function takes ``ax=None`` and returns the Axes."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm

from ..analysis.experiment import Crowd
from .plotting import _axes
from .style import COLORS

__all__ = ["plot_density", "plot_loss_bands", "plot_thinning", "plot_crowd"]


def plot_density(crowd: Crowd, ax=None, *, cmap: str = "Greys", alpha: float = 0.55):
    """Every start's iterates as an image of counts per cell (log colour scale; empty cells clear),
    over the filled contours and under the paths. Nothing is drawn in 1-D (no plane to bin)."""
    ax = _axes(ax)
    if crowd.density is None:
        return ax
    counts = np.ma.masked_equal(crowd.density, 0)  # the array drawn is the counts themselves
    (x0, x1), (y0, y1) = (crowd.edges[0][[0, -1]], crowd.edges[1][[0, -1]])
    norm = LogNorm(vmin=1, vmax=max(int(crowd.density.max()), 2))
    ax.imshow(counts, origin="lower", extent=(x0, x1, y0, y1), cmap=cmap, norm=norm, alpha=alpha, aspect="auto",
              interpolation="nearest", zorder=1.5)  # over the filled contours (1), under the paths (2)
    ax.set(xlim=(x0, x1), ylim=(y0, y1))  # an image would otherwise set the view to its extent only
    return ax


def plot_loss_bands(crowd: Crowd, member: int, ax=None, *, color=None, offset: float | None = None,
                    time: str = "t", label: str | None = None):
    """The loss of optimizer ``member`` over every start: its median as a line and the 10-90% band
    (``f − f*`` on a log axis with ``offset`` f*, as :func:`~simulate.viz.plotting.plot_loss`)."""
    ax = _axes(ax)
    if time not in ("t", "steps"):
        raise ValueError(f"time must be 't' or 'steps', got {time!r}")
    x = crowd.times[member] if time == "t" else crowd.steps
    low, median, high = crowd.quantiles[member]
    if offset is not None:
        with np.errstate(invalid="ignore"):
            low, median, high = (np.where(q - offset > 0, q - offset, np.nan) for q in (low, median, high))
    line, = ax.plot(x, median, color=color, lw=1.6,
                    label=f"{label or crowd.labels[member]}: median, 10-90% of {len(crowd.starts)} starts"
                          f"{crowd.diverged_note(member)}")
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, lw=0)
    if offset is not None:
        ax.set_yscale("log")
    ax.set_ylabel(f"f − f* (f* = {offset:.4g})" if offset is not None else "f")
    ax.set_xlabel("time t" if time == "t" else "steps k = t / h")
    return ax


def plot_thinning(crowd: Crowd, ax=None):
    """The line that says what was thinned, as a legend entry (an empty handle) of ``ax``."""
    ax = _axes(ax)
    ax.plot([], [], ls="none", label=crowd.thinning)
    return ax


def plot_crowd(crowd: Crowd, ax_path=None, ax_loss=None, *, offset: float | None = None, time: str = "t"):
    """The whole crowd on a comparison figure's panels: the density on the paths' Axes (a flat one;
    not on a 3-D surface) with the thinning line in its legend, and each optimizer's loss bands (in
    its colour) on the loss Axes; either may be None. Returns the Axes that holds the thinning line."""
    if ax_path is None and ax_loss is None:
        ax_path = _axes(None)
    if ax_path is not None and ax_path.name != "3d":
        plot_density(crowd, ax_path)
    said = ax_path if ax_path is not None else ax_loss
    plot_thinning(crowd, said)
    if ax_loss is not None:
        for i in range(len(crowd.labels)):
            plot_loss_bands(crowd, i, ax_loss, color=COLORS[i % len(COLORS)], offset=offset, time=time)
    return said
