"""Axes-level plots of sweeps: a metric over a 1-D or 2-D grid, basins of attraction, rate maps.

Like :mod:`simulate.plotting`: each takes ``ax=None``, draws, returns the Axes. Diverged cells are
drawn in their own colour (never as an extreme of the scale); the stability thresholds of
:mod:`simulate.sharpness` are drawn where the grid's optimizer has one.
"""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
from matplotlib import colors
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .plotting import _axes, plot_minima
from .sharpness import stability_threshold, threshold_factor_formula, threshold_formula
from .sweep import Sweep, with_axis

__all__ = ["plot_sweep", "plot_basins", "plot_rate_map", "edges", "metric_label", "metric_norm", "DIVERGED_COLOR", "LOG_METRICS"]

DIVERGED_COLOR = "#b0b0b0"
ELSEWHERE_COLOR = "#7fb8e0"  # rate-map cells whose run left the minimum under study
#: Metrics drawn on a log scale (positive, spanning decades).
LOG_METRICS = ("final_loss", "distance", "flow_distance")


def edges(values: np.ndarray, scale: str) -> np.ndarray:
    """Cell edges around grid values: midpoints (geometric on a log axis), the ends extrapolated."""
    v = np.asarray(values, float)
    if v.size == 1:
        return v * np.array([0.9, 1.1]) if scale == "log" else v + np.array([-0.5, 0.5])
    w = np.log(v) if scale == "log" else v
    mid = (w[1:] + w[:-1]) / 2
    e = np.concatenate([[w[0] - (mid[0] - w[0])], mid, [w[-1] + (w[-1] - mid[-1])]])
    return np.exp(e) if scale == "log" else e


def metric_label(sweep: Sweep, metric: str) -> str:
    if metric == "final_loss":
        return "final f − f*" if len(sweep.landscape.minima) else "final f"
    if metric == "steps_to_tol":
        return f"steps to {sweep.criterion}"
    return metric.replace("_", " ")


def _values(sweep: Sweep, metric: str, member: int) -> tuple[np.ndarray, bool]:
    """The metric as drawn (f − f* for the loss) and whether it goes on a log scale."""
    v = np.array(sweep.metric(metric, member), dtype=float)
    if metric == "steps_to_tol":
        v[v < 0] = np.nan  # never met: left blank, not drawn as step −1
    if metric == "final_loss" and len(sweep.landscape.minima):
        v = v - float(np.min(sweep.landscape.value(sweep.landscape.minima)))
    log = metric in LOG_METRICS
    if log:
        positive = v[np.isfinite(v) & (v > 0)]
        # A gap of exactly 0 is as small as it gets: drawn at the smallest positive value.
        v = np.where(v <= 0, positive.min() if positive.size else 1.0, v)
    return v, log


def metric_norm(sweep: Sweep, metric: str, members=None):
    """One colour scale for a metric over the given members (default: all), diverged cells left
    out; logarithmic for :data:`LOG_METRICS`. None when no cell has a finite value."""
    members = range(len(sweep.members)) if members is None else [sweep.member(m) for m in members]
    finite, log = [], False
    for i in members:
        v, log = _values(sweep, metric, i)
        finite.append(v[np.isfinite(v) & (sweep.metric("diverged", i) == 0)].ravel())
    finite = np.concatenate(finite)
    if not finite.size:
        return None
    if log:
        return colors.LogNorm(finite.min(), max(finite.max(), finite.min() * 10))
    return colors.Normalize(finite.min(), finite.max())


def _stable(sweep: Sweep, member: int) -> np.ndarray | None:
    """Where the member's threshold says the reference minimum is stable (grid), or None."""
    if not np.isfinite(sweep.reference_sharpness) or sweep.kinds[member] != "iterates":
        return None
    threshold = stability_threshold(sweep.optimizers[member])
    if threshold is None:
        return None
    return np.broadcast_to(threshold, sweep.grid_shape) - sweep.reference_sharpness


def plot_sweep(sweep: Sweep, metric: str = "final_loss", member=0, ax=None, *, theory: bool = True,
               norm=None, cmap: str = "viridis", color=None, label=None, colorbar: bool = True):
    """One metric over the grid for one member: a line (1-D grid) or a heat map (2-D grid).

    Diverged cells are marked (grey cells; crosses on a line). With ``theory``, the stability
    boundary of the member's optimizer at the reference minimum (``threshold = λmax``, e.g.
    ``2/lr = λmax`` for GD) is drawn as a dashed line where it crosses the grid.
    """
    ax = _axes(ax)
    i = sweep.member(member)
    v, log = _values(sweep, metric, i)
    diverged = sweep.metric("diverged", i).astype(bool)
    margin = _stable(sweep, i) if theory else None
    if len(sweep.axes) == 1:
        a = sweep.axes[0]
        (line,) = ax.plot(a.values, np.where(diverged, np.nan, v), marker=".", color=color,
                          label=label or sweep.members[i])
        if diverged.any():  # a row of crosses under the curves, one row per member that diverged
            row = sum(1 for other in ax.lines if other.get_label().startswith("diverged ("))
            ax.plot(a.values[diverged], np.full(diverged.sum(), 0.03 + 0.04 * row), "x", color=line.get_color(),
                    ms=6, transform=ax.get_xaxis_transform(), label=f"diverged ({line.get_label()})")
        if margin is not None:
            for x in _crossings(a, margin):
                ax.axvline(x, ls="--", color=line.get_color(), lw=1, label=_theory_label(sweep, i))
        ax.set(xscale="log" if a.scale == "log" else "linear", yscale="log" if log else "linear", xlabel=a.name,
               ylabel=metric_label(sweep, metric))
        return ax
    if len(sweep.axes) != 2:
        raise ValueError(f"a sweep of {len(sweep.axes)} axes has no heat map; draw a slice of its metrics")
    ax_x, ax_y = sweep.axes
    X, Y = edges(ax_x.values, ax_x.scale), edges(ax_y.values, ax_y.scale)
    norm = metric_norm(sweep, metric, [i]) if norm is None else norm
    mesh = ax.pcolormesh(X, Y, np.ma.masked_where(diverged | ~np.isfinite(v), v).T, cmap=cmap, norm=norm,
                         shading="flat")
    if diverged.any():
        ax.pcolormesh(X, Y, np.ma.masked_where(~diverged, np.ones_like(v)).T,
                      cmap=colors.ListedColormap([DIVERGED_COLOR]), shading="flat")
    handles = [Patch(color=DIVERGED_COLOR, label="diverged")] if diverged.any() else []
    if margin is not None and np.any(margin > 0) and np.any(margin < 0):
        gx, gy = np.meshgrid(ax_x.values, ax_y.values, indexing="ij")
        ax.contour(gx, gy, margin, levels=[0], colors="red", linestyles="--", linewidths=1.5)
        handles.append(Line2D([], [], color="red", ls="--", label=_theory_label(sweep, i)))
    if handles:
        _legend_below(ax, handles)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=metric_label(sweep, metric))
    ax.set(xscale="log" if ax_x.scale == "log" else "linear", yscale="log" if ax_y.scale == "log" else "linear",
           xlabel=ax_x.name, ylabel=ax_y.name, title=sweep.members[i])
    return ax


def _legend_below(ax, handles) -> None:
    """A legend under the axes, so that it hides no cell of the map."""
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=min(len(handles), 3),
              fontsize="small", frameon=False)


def _theory_label(sweep: Sweep, i: int) -> str:
    return f"theory: {threshold_formula(sweep.optimizers[i])} = λmax = {sweep.reference_sharpness:.4g}"


def _crossings(axis, margin: np.ndarray) -> list[float]:
    """Axis values where ``margin`` changes sign, interpolated (in log space on a log axis)."""
    v = np.log(axis.values) if axis.scale == "log" else axis.values
    m = np.asarray(margin, float)
    out = []
    for j in np.nonzero(np.sign(m[:-1]) * np.sign(m[1:]) < 0)[0]:
        x = v[j] + (v[j + 1] - v[j]) * m[j] / (m[j] - m[j + 1])
        out.append(float(np.exp(x) if axis.scale == "log" else x))
    return out


def plot_basins(sweep: Sweep, member=0, ax=None, *, minima: bool = True, cmap: str = "tab10"):
    """The minimum each start reached, one colour per listed minimum; grey: diverged, white:
    unfinished (no minimum within ``near`` after the run). ``cmap`` is a qualitative colormap. Needs a sweep over two start coordinates."""
    ax = _axes(ax)
    i = sweep.member(member)
    if len(sweep.axes) != 2:
        raise ValueError("basins need a sweep over two start coordinates (axes x and y)")
    labels = sweep.metric("minimum", i)
    k = max(len(sweep.landscape.minima), 1)
    qualitative = matplotlib.colormaps[cmap]
    palette = [qualitative(j % qualitative.N) for j in range(k)]
    table = colors.ListedColormap([DIVERGED_COLOR, "white"] + palette)
    ax_x, ax_y = sweep.axes
    ax.pcolormesh(edges(ax_x.values, ax_x.scale), edges(ax_y.values, ax_y.scale), (labels + 2).T, cmap=table,
                  norm=colors.BoundaryNorm(np.arange(-0.5, k + 2.5), k + 2), shading="flat")
    if minima and sweep.landscape.dim == 2:
        plot_minima(sweep.landscape, ax)
    shown = [Patch(color=palette[j], label=f"minimum {j}") for j in range(len(sweep.landscape.minima))
             if np.any(labels == j)]
    shown += [Patch(facecolor="white", edgecolor="0.5", label="unfinished")] if np.any(labels == -1) else []
    shown += [Patch(color=DIVERGED_COLOR, label="diverged")] if np.any(labels == -2) else []
    _legend_below(ax, shown)
    ax.set(xlabel=ax_x.name, ylabel=ax_y.name, title=sweep.members[i], aspect="auto")
    return ax


def plot_rate_map(rmap, which: str = "analytic", ax=None, *, boundary: bool = True, cmap: str = "magma_r",
                  colorbar: bool = True):
    """A :class:`~simulate.ratemap.RateMap` as a heat map over (lr·λmax, y): the per-step
    contraction in [0, 1) on a colour scale, unstable cells (rate >= 1, or diverged) in grey, the
    analytic stability boundary dashed, and for a single mode of heavy ball the critical-damping
    curve β = (1 − √(lr·λ))² where it is fastest."""
    from .ratemap import critical_momentum

    ax = _axes(ax)
    if which not in ("analytic", "measured"):
        raise ValueError(f"which must be 'analytic' or 'measured', got {which!r}")
    rate = rmap.analytic if which == "analytic" else rmap.measured
    if rate is None:
        raise ValueError("this rate map has no measured rates: give rate_map a landscape")
    X, Y = edges(rmap.x.values, rmap.x.scale), edges(rmap.y.values, rmap.y.scale)
    unstable = ~(rate < 1)  # NaN (unmeasured) is drawn blank below, not as unstable
    unstable &= ~np.isnan(rate)
    mesh = ax.pcolormesh(X, Y, np.ma.masked_where(unstable | np.isnan(rate), rate).T, cmap=cmap,
                         norm=colors.Normalize(0, 1), shading="flat")
    if unstable.any():
        ax.pcolormesh(X, Y, np.ma.masked_where(~unstable, np.ones_like(rate)).T,
                      cmap=colors.ListedColormap([DIVERGED_COLOR]), shading="flat")
    handles = [Patch(color=DIVERGED_COLOR, label="unstable" if which == "analytic" else "diverged")] \
        if unstable.any() else []
    if which == "measured" and rmap.elsewhere is not None and rmap.elsewhere.any():
        ax.pcolormesh(X, Y, np.ma.masked_where(~rmap.elsewhere, np.ones_like(rate)).T,
                      cmap=colors.ListedColormap([ELSEWHERE_COLOR]), shading="flat")
        handles.append(Patch(color=ELSEWHERE_COLOR, label="ended at another minimum, or none"))
    if boundary:
        at_unit_lr = with_axis(dataclasses.replace(rmap.optimizer, lr=1.0), rmap.y.name, rmap.y.values)
        c = stability_threshold(at_unit_lr)  # with lr = 1 the threshold is the bound on lr·λ itself
        if c is not None:
            ax.plot(np.broadcast_to(c, rmap.y.values.shape), rmap.y.values, "--", color="tab:blue", lw=1.5)
            handles.append(Line2D([], [], color="tab:blue", ls="--",
                                  label=f"theory: stable iff lr·λmax < {threshold_factor_formula(rmap.optimizer)}"))
    if (len(rmap.eigenvalues) == 1 and rmap.y.name == "momentum" and rmap.optimizer.name == "sgd"
            and not getattr(rmap.optimizer, "nesterov", False)):
        xs = np.linspace(max(rmap.x.values[0], 1e-9), min(rmap.x.values[-1], 4.0), 200)
        ax.plot(xs, critical_momentum(xs), color="tab:green", lw=1.5)
        handles.append(Line2D([], [], color="tab:green", label="critical damping β = (1 − √(lr·λ))²"))
    if handles:
        _legend_below(ax, handles)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label="rate: per-step contraction")
    ax.set(xlim=(X[0], X[-1]), ylim=(Y[0], Y[-1]), xlabel="lr·λmax", ylabel=rmap.y.name,
           xscale="log" if rmap.x.scale == "log" else "linear", yscale="log" if rmap.y.scale == "log" else "linear")
    where = "one quadratic mode" if rmap.landscape is None else f"{rmap.landscape.label} at its minimum"
    ax.set_title(f"{rmap.optimizer.display_name}: {which} rate, {where}", fontsize=10)
    return ax
