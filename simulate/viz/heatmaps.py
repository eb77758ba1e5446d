"""Axes-level plots of sweeps: a metric over a 1-D or 2-D grid (either axis across), basins of attraction, rate maps.

Like :mod:`simulate.plotting`: each takes ``ax=None``, draws, returns the Axes. Diverged cells are
drawn in their own colour (never as an extreme of the scale); the stability thresholds of
:mod:`simulate.sharpness` are drawn where the grid's optimizer has one.
"""

from __future__ import annotations


import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib import colors
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .plotting import _axes, plot_minima
from ..analysis.sharpness import stability_threshold, threshold_factor_formula, threshold_formula
from ..analysis.sweep import VERDICTS, Sweep, start_coordinates, sweepable, with_axis

__all__ = ["plot_sweep", "plot_basins", "plot_verdicts", "VERDICT_COLORS", "plot_rate_map", "edges", "metric_label", "metric_norm", "DIVERGED_COLOR", "LOG_METRICS", "drawn_axes", "below_floor"]

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
    if scale != "log":
        return e
    with np.errstate(over="ignore"):  # the outer edge of a grid that ends near the float limit
        return np.minimum(np.exp(e), np.finfo(float).max)


def metric_label(sweep: Sweep, metric: str) -> str:
    if metric == "final_loss":
        return "final f − f*" if len(sweep.landscape.minima) else "final f"
    if metric == "steps_to_tol":
        return f"steps to {sweep.criterion}"
    return metric.replace("_", " ")


#: Below this fraction of the largest value a log scale shows solver tolerance and rounding, not
#: dynamics (as simulate plot's loss axis): smaller values are drawn at the floor (the data keep them).
LOG_FLOOR = 1e-12


def _values(sweep: Sweep, metric: str, member: int) -> tuple[np.ndarray, bool]:
    """The metric as drawn (f − f* for the loss; NaN where it has no value) and whether on a log scale."""
    v = np.array(sweep.metric(metric, member), dtype=float)
    if metric in ("steps_to_tol", "diverged_at"):
        v[v < 0] = np.nan  # never met / never diverged: not drawn as step −1
    if metric == "final_loss" and len(sweep.landscape.minima):
        v = v - sweep.lowest_minimum_values()  # each cell's own f* where an axis moves the landscape
    log = metric in LOG_METRICS
    finite = v[np.isfinite(v)]
    if log and metric == "final_loss" and np.any(finite < -1e-12 * max(1.0, np.max(np.abs(finite), initial=0))):
        log = False  # signed values (no listed minimum, e.g. a saddle): a linear axis
    if log:
        positive = finite[finite > 0]
        # A gap of exactly 0 is as small as it gets: drawn at the smallest positive value.
        v = np.where(v <= 0, positive.min() if positive.size else 1.0, v)
    return v, log


def _masks_divergence(metric: str) -> bool:
    """Whether diverged cells are drawn grey instead of by value (not for the divergence metrics)."""
    return metric not in ("diverged", "diverged_at")


def metric_norm(sweep: Sweep, metric: str, members=None):
    """One colour scale for a metric over the given members (default: all), diverged cells left
    out; logarithmic for :data:`LOG_METRICS` down to :data:`LOG_FLOOR` of the largest value.
    None when no cell has a finite value."""
    members = range(len(sweep.members)) if members is None else [sweep.member(m) for m in members]
    finite, log = [], False
    for i in members:
        v, log_i = _values(sweep, metric, i)
        log = log or log_i
        shown = np.isfinite(v) & ((sweep.metric("diverged", i) == 0) | (not _masks_divergence(metric)))
        finite.append(v[shown].ravel())
    finite = np.concatenate(finite) if finite else np.empty(0)
    if not finite.size:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    if log and lo > 0:
        lo = max(lo, LOG_FLOOR * hi)
        return colors.LogNorm(lo, hi if hi > lo else lo * 10, clip=True)
    return colors.Normalize(lo, hi if hi > lo else lo + 1)


def below_floor(sweep: Sweep, metric: str, norm, members=None) -> bool:
    """Whether some drawn cell of the given members (default: all) lies under a logarithmic
    ``norm``'s floor (:data:`LOG_FLOOR`): drawn at the floor, which the colour bar then says
    (``extend="min"``)."""
    if not isinstance(norm, colors.LogNorm):
        return False
    members = range(len(sweep.members)) if members is None else [sweep.member(m) for m in members]
    for i in members:
        v = _values(sweep, metric, i)[0]
        shown = np.isfinite(v) & ((sweep.metric("diverged", i) == 0) | (not _masks_divergence(metric)))
        if np.any(v[shown] < norm.vmin):
            return True
    return False


def axis_positions(axis) -> tuple[np.ndarray, np.ndarray, str, list | None]:
    """Where an axis's values are drawn: ``(centers, edges, scale, tick labels)``. A list of values
    that is neither evenly nor geometrically spaced is drawn as equal cells labelled by value."""
    v = axis.values
    scale = axis.scale
    if scale == "list" and v.size > 2:
        steps = np.diff(v)
        if np.allclose(steps, steps[0], rtol=1e-6):
            scale = "linear"
        elif np.all(v > 0) and np.allclose(np.diff(np.log(v)), np.log(v[1] / v[0]), rtol=1e-6):
            scale = "log"
        else:
            idx = np.arange(v.size, dtype=float)
            return idx, np.arange(v.size + 1) - 0.5, "index", [f"{x:g}" for x in v]
    scale = "linear" if scale == "list" else scale
    return v, edges(v, scale), scale, None


def _set_axis(ax, which: str, axis) -> None:
    centers, _, scale, ticks = axis_positions(axis)
    getattr(ax, f"set_{which}scale")("log" if scale == "log" else "linear")
    getattr(ax, f"set_{which}label")(axis.name)
    if ticks is not None:
        getattr(ax, f"set_{which}ticks")(centers, ticks)
    elif scale == "linear" and 1 < centers.size <= 8:  # a few values: label them, not round numbers beside them
        getattr(ax, f"set_{which}ticks")(centers, [f"{v:.3g}" for v in centers])
    elif scale == "log" and centers.size > 1 and centers[-1] / centers[0] < 100:
        # under two decades matplotlib labels its minor ticks too, and they run together: label
        # up to six of the grid's own values instead
        shown = centers[np.unique(np.linspace(0, centers.size - 1, min(centers.size, 6)).round().astype(int))]
        getattr(ax, f"set_{which}ticks")(shown, [f"{v:.3g}" for v in shown])
        getattr(ax, f"{which}axis").set_minor_formatter(matplotlib.ticker.NullFormatter())


def _stable(sweep: Sweep, member: int) -> np.ndarray | None:
    """Where the member's threshold says the reference minimum is stable (grid), or None."""
    if not np.isfinite(sweep.reference_sharpness) or sweep.kinds[member] != "iterates":
        return None
    threshold = stability_threshold(sweep.optimizers[member])
    if threshold is None:
        return None
    return np.broadcast_to(threshold, sweep.grid_shape) - sweep.reference_sharpness


def plot_sweep(sweep: Sweep, metric: str = "final_loss", member=0, ax=None, *, theory: bool = True,
               norm=None, cmap: str = "viridis", color=None, label=None, colorbar: bool = True,
               x: str | None = None, y: str | None = None):
    """One metric over the grid for one member: a line (1-D grid) or a heat map (2-D grid), with
    the axis ``x`` across and ``y`` up (default: the grid's first and second; a sweep of more axes:
    draw a slice of it, :meth:`~simulate.analysis.sweep.Sweep.sel`, or all of it with
    :func:`~simulate.viz.figures.sweep_figure`).

    Diverged cells are marked (grey cells; crosses on a line), except for the metrics about
    divergence, which colour them by their value. Cells with no value (a tolerance never met) are
    white or open circles. Log scales stop at :data:`LOG_FLOOR` of the largest value. With
    ``theory``, the stability boundary of the member's optimizer at the reference minimum
    (``threshold = λmax``, e.g. ``2/lr = λmax`` for GD) is drawn dashed where it crosses the grid.
    """
    if metric == "verdict":
        return plot_verdicts(sweep, member, ax, x=x, y=y)
    plane = None if len(sweep.axes) == 1 and y is None else drawn_axes(sweep, x, y)
    if plane is None and x is not None:
        sweep.axis(x)  # a 1-D grid drawn against its one axis: an unknown name fails here
    ax = _axes(ax)
    i = sweep.member(member)
    v, log = _values(sweep, metric, i)
    diverged = sweep.metric("diverged", i).astype(bool)
    masked = diverged if _masks_divergence(metric) else np.zeros_like(diverged)
    margin = _stable(sweep, i) if theory else None
    missing = ~np.isfinite(v) & ~masked & (metric == "steps_to_tol")
    if len(sweep.axes) == 1:
        a = sweep.axes[0]
        x, _, _, _ = axis_positions(a)
        style = dict(ls="none", marker="o") if metric == "minimum" else dict(marker=".")
        (line,) = ax.plot(x, np.where(masked, np.nan, v), color=color, label=label or sweep.members[i], **style)
        rows = sum(1 for other in ax.lines if other.get_label().startswith(("diverged (", "never met (")))
        if masked.any():  # a row of crosses under the curves, one row per member that diverged
            ax.plot(x[masked], np.full(masked.sum(), 0.03 + 0.04 * rows), "x", color=line.get_color(),
                    ms=6, transform=ax.get_xaxis_transform(), label=f"diverged ({line.get_label()})")
            rows += 1
        if missing.any():
            ax.plot(x[missing], np.full(missing.sum(), 0.03 + 0.04 * rows), "o", mfc="none", color=line.get_color(),
                    ms=5, transform=ax.get_xaxis_transform(), label=f"never met ({line.get_label()})")
        if margin is not None:
            for c in _crossings(a, margin, _threshold_along(sweep, i, a)):
                ax.axvline(c, ls="--", color=line.get_color(), lw=1, label=_theory_label(sweep, i))
        _set_axis(ax, "x", a)
        shown = np.concatenate([np.ravel(ln.get_ydata()) for ln in ax.lines
                                if ln.get_transform() == ax.transData and len(ln.get_ydata())])
        shown = shown[np.isfinite(shown) & (shown > 0)]
        log = log and shown.size > 0  # no value on any line yet (every cell diverged): nothing to log-scale
        ax.set(yscale="log" if log else "linear", ylabel=metric_label(sweep, metric))
        if log:
            ax.set_ylim(max(shown.min(), LOG_FLOOR * shown.max()) / 2, shown.max() * 2)
        if not np.isfinite(v).any():
            why = "every cell diverged" if masked.all() else f"no cell has a {metric}"
            ax.text(0.5, 0.5 - 0.06 * len(ax.texts), f"{sweep.members[i]}: {why}", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9, color="0.4")
        return ax
    ax_x, ax_y, arranged = plane
    v, masked, missing = arranged(v), arranged(masked), arranged(missing)
    margin = None if margin is None else arranged(margin)
    cx, X, _, _ = axis_positions(ax_x)
    cy, Y, _, _ = axis_positions(ax_y)
    norm = metric_norm(sweep, metric, [i]) if norm is None else norm
    mesh = ax.pcolormesh(X, Y, np.ma.masked_where(masked | ~np.isfinite(v), v).T, cmap=cmap, norm=norm,
                         shading="flat")
    handles = []
    for cells, color_, text in ((masked, DIVERGED_COLOR, "diverged"), (missing, "white", "never met the tolerance")):
        if cells.any():
            ax.pcolormesh(X, Y, np.ma.masked_where(~cells, np.ones_like(v)).T, cmap=colors.ListedColormap([color_]),
                          shading="flat")
            handles.append(Patch(facecolor=color_, edgecolor="0.5", label=text))
    if margin is not None and np.any(margin > 0) and np.any(margin < 0):
        fx, fy, fine = _fine_margin(sweep, i, ax_x, ax_y) or (cx, cy, margin)
        gx, gy = np.meshgrid(fx, fy, indexing="ij")
        ax.contour(gx, gy, fine, levels=[0], colors="red", linestyles="--", linewidths=1.5)
        handles.append(Line2D([], [], color="red", ls="--", label=_theory_label(sweep, i)))
    if handles:
        _legend_below(ax, handles)
    if norm is None:
        ax.text(0.5, 0.5, "every cell diverged" if masked.all() else f"no cell has a {metric}", ha="center",
                va="center", transform=ax.transAxes)
    elif colorbar:
        clipped = isinstance(norm, colors.LogNorm) and np.nanmin(np.where(masked, np.nan, v)) < norm.vmin
        ax.figure.colorbar(mesh, ax=ax, label=metric_label(sweep, metric), extend="min" if clipped else "neither")
    _set_axis(ax, "x", ax_x)
    _set_axis(ax, "y", ax_y)
    ax.set_title(_wrapped(sweep.members[i]), fontsize=10)
    return ax


def drawn_axes(sweep: Sweep, x: str | None = None, y: str | None = None):
    """The two axes of a 2-D sweep drawn across (``x``) and up (``y``), by name (default: the grid's
    first and second; one name given, the other is the other axis), and the function that arranges a
    grid-shaped array as ``(x, y)``: the grid itself, or transposed."""
    if len(sweep.axes) == 1:
        raise ValueError(f"a sweep of one axis ({sweep.axes[0].name}) is drawn as lines against it: give no y")
    if len(sweep.axes) != 2:
        raise ValueError(f"a sweep of {len(sweep.axes)} axes has no single heat map: draw a slice of it "
                         f"(sweep.sel(...)) or all of it with sweep_figure(sweep, metric, x=..., y=...)")
    ix = sweep.axis(x) if x is not None else None
    iy = sweep.axis(y) if y is not None else None
    if ix is not None and ix == iy:
        raise ValueError(f"x and y are both {x}: give two different axes")
    ix = (1 - iy if iy is not None else 0) if ix is None else ix
    iy = 1 - ix
    order = (ix, iy)
    return sweep.axes[ix], sweep.axes[iy], (lambda a: a if order == (0, 1) else np.transpose(a))


def _legend_below(ax, handles, ncol: int = 3) -> None:
    """A legend under the axes, so that it hides no cell of the map; a long label (a theory line's
    formula) gets a row of its own, so that the legends of panels side by side do not overlap."""
    if any(len(h.get_label()) > 30 for h in handles):
        ncol = 1
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=min(len(handles), ncol),
              fontsize="small", frameon=False)


def _wrapped(title: str, width: int = 48) -> str:
    """A long member label (a spec with a schedule and transforms) over several lines, so that the
    titles of neighbouring panels do not run into each other."""
    import textwrap

    return "\n".join(textwrap.wrap(title, width, break_long_words=False, break_on_hyphens=False)) or title


def _theory_label(sweep: Sweep, i: int) -> str:
    return f"theory: {threshold_formula(sweep.optimizers[i])} = λmax = {sweep.reference_sharpness:.4g}"


#: Points per drawn axis on which a heat map's threshold line is computed.
FINE = 240


def _fine_margin(sweep: Sweep, member: int, ax_x, ax_y):
    """``(x, y, threshold − λmax)`` on a fine grid over the drawn plane, or None. The threshold is
    no linear function of the hyperparameters (2(1+β)/lr): a contour over the cells alone puts the
    line up to a cell away from where it is. An axis that is no hyperparameter of the member keeps
    its cells (the threshold does not vary along it)."""
    opt = sweep.optimizers[member]
    drawn = []
    for axis in (ax_x, ax_y):
        centers, _, scale, ticks = axis_positions(axis)
        if ticks is not None or axis.name not in sweepable(opt) or centers.size < 2:
            drawn.append((centers, None))
            continue
        fine = (np.geomspace if scale == "log" else np.linspace)(centers[0], centers[-1], FINE)
        drawn.append((fine, axis.name))
    if all(name is None for _, name in drawn):
        return None
    (fx, x_name), (fy, y_name) = drawn
    wanted = [(name, values) for name, values in ((x_name, fx[:, None]), (y_name, fy[None, :])) if name is not None]
    try:
        for name, values in wanted:  # first one value each, so that the cells' arrays never meet the fine ones
            opt = with_axis(opt, name, values.flat[0])
        for name, values in wanted:
            opt = with_axis(opt, name, values)
        threshold = stability_threshold(opt)
    except (ValueError, TypeError):  # a value between the cells the optimizer refuses: the cells' line
        return None
    if threshold is None:
        return None
    return fx, fy, np.broadcast_to(threshold, (fx.size, fy.size)) - sweep.reference_sharpness


def _threshold_along(sweep: Sweep, member: int, axis):
    """``values -> threshold − λmax`` of the member's optimizer with the axis's hyperparameter set to
    ``values``, or None (the axis is no hyperparameter of it, or the threshold is not known)."""
    opt = sweep.optimizers[member]
    field = sweepable(opt).get(axis.name, (None,))[0]
    if field is None:
        return None

    def margin(values):
        try:
            threshold = stability_threshold(opt.replace(**{field: values}))
        except (ValueError, TypeError):  # a value the optimizer refuses: no refined crossing
            return None
        return None if threshold is None else np.broadcast_to(threshold, values.shape) - sweep.reference_sharpness

    return margin


def _crossings(axis, margin: np.ndarray, along=None) -> list[float]:
    """Where ``margin`` changes sign along an axis, in drawn coordinates. With ``along`` (the margin
    as a function of the axis's values, :func:`_threshold_along`) each crossing is found on a fine
    grid between the two cells, since a threshold such as 2/lr is not linear in lr; else
    interpolated between the cells (in log space on a log axis, between cells on a categorical one)."""
    centers, _, scale, _ = axis_positions(axis)
    v = np.log(centers) if scale == "log" else centers
    m = np.asarray(margin, float)
    out = []
    for j in np.nonzero(np.sign(m[:-1]) * np.sign(m[1:]) < 0)[0]:
        lo, hi, mlo, mhi = v[j], v[j + 1], m[j], m[j + 1]
        if along is not None and scale != "index":
            fine = np.linspace(lo, hi, 4097)
            fm = along(np.exp(fine) if scale == "log" else fine)
            k = np.nonzero(np.sign(fm[:-1]) * np.sign(fm[1:]) <= 0)[0] if fm is not None else []
            if len(k):
                lo, hi, mlo, mhi = fine[k[0]], fine[k[0] + 1], fm[k[0]], fm[k[0] + 1]
        x = lo if mlo == mhi else lo + (hi - lo) * mlo / (mlo - mhi)
        out.append(float(np.exp(x) if scale == "log" else x))
    out += [float(centers[j]) for j in np.flatnonzero(m == 0)]  # a cell exactly on the boundary (lr = 0.2 at λ = 10)
    return sorted(out)


def plot_basins(sweep: Sweep, member=0, ax=None, *, minima: bool = True, cmap: str = "tab10", x: str | None = None,
                y: str | None = None):
    """The minimum each cell reached, one colour per listed minimum; grey: diverged, white:
    unfinished (no minimum within ``near`` after the run). ``cmap`` is a qualitative colormap.
    Over the plane (axes x and y) these are the basins of attraction, drawn to scale with the
    minima marked; over hyperparameters, which minimum each setting reaches. ``x``, ``y``: the axes
    across and up (default: the grid's first and second)."""
    if len(sweep.axes) != 2:
        raise ValueError("a map of the minima reached needs two axes (for basins: x and y); a sweep of more: "
                         "draw a slice of it (sweep.sel(...)) or all of it with sweep_figure")
    ax_x, ax_y, arranged = drawn_axes(sweep, x, y)
    ax = _axes(ax)
    i = sweep.member(member)
    labels = arranged(sweep.metric("minimum", i))
    k = max(len(sweep.landscape.minima), 1)
    qualitative = matplotlib.colormaps[cmap]
    palette = [qualitative(j % qualitative.N) for j in range(k)]
    table = colors.ListedColormap([DIVERGED_COLOR, "white"] + palette)
    ax.pcolormesh(axis_positions(ax_x)[1], axis_positions(ax_y)[1], (labels + 2).T, cmap=table,
                  norm=colors.BoundaryNorm(np.arange(-0.5, k + 2.5), k + 2), shading="flat")
    coords = start_coordinates(sweep.landscape)
    plane = sweep.landscape.dim == 2 and (coords.get(ax_x.name), coords.get(ax_y.name)) == (0, 1)
    if minima and plane:  # stars in hyperparameter space would stretch the axes to nowhere
        plot_minima(sweep.landscape, ax)
    shown = [Patch(color=palette[j], label=f"minimum {j} ({', '.join(f'{c:.3g}' for c in sweep.landscape.minima[j])})")
             for j in range(len(sweep.landscape.minima)) if np.any(labels == j)]
    shown += [Patch(facecolor="white", edgecolor="0.5", label="unfinished")] if np.any(labels == -1) else []
    shown += [Patch(color=DIVERGED_COLOR, label="diverged")] if np.any(labels == -2) else []
    _legend_below(ax, shown, ncol=2)  # labels with coordinates are long: two columns stay under the axes
    _set_axis(ax, "x", ax_x)
    _set_axis(ax, "y", ax_y)
    ax.set_title(_wrapped(sweep.members[i]), fontsize=10)
    if ax_x.name in coords and ax_y.name in coords:
        ax.set_aspect("equal", adjustable="box")  # a map of the plane: no stretching
    if not np.any(labels >= 0):
        ax.text(0.5, 0.5, f"no start reached a listed minimum\n(within near = {sweep.near:g} in {sweep.steps} steps)",
                ha="center", va="center", transform=ax.transAxes, fontsize=9,
                bbox=dict(facecolor="white", alpha=0.8, edgecolor="0.6"))
    return ax


#: A colour per verdict (sweep.VERDICTS), "not measured" first: green ends, grey for divergence.
VERDICT_COLORS = ("white", "#1a9641", "#a6d96a", "#bf9f7a", "#4a90d9", "#f28e2b", DIVERGED_COLOR)


def plot_verdicts(sweep: Sweep, member=0, ax=None, *, x: str | None = None, y: str | None = None):
    """How each cell's run ended (:data:`simulate.analysis.sweep.VERDICTS`: converged, converging, stalled,
    cycling, spiralling out, diverged), one colour each: over a 1-D grid a row of cells per member
    (``member`` may be a list of them), over a 2-D grid a map (on a game over lr and a penalty
    strength: where each method converges, cycles or diverges), ``x`` across and ``y`` up (default:
    the grid's first and second)."""
    ax = _axes(ax)
    rows = [sweep.member(m) for m in (member if isinstance(member, (list, tuple)) else [member])]
    names = ("not measured",) + VERDICTS
    table = colors.ListedColormap(list(VERDICT_COLORS))
    norm = colors.BoundaryNorm(np.arange(-1.5, len(VERDICTS) + 0.5), len(names))
    codes = np.stack([sweep.metric("verdict", i) for i in rows])
    if len(sweep.axes) == 1:
        a = sweep.axes[0]
        ax.pcolormesh(axis_positions(a)[1], np.arange(len(rows) + 1) - 0.5, codes, cmap=table, norm=norm,
                      shading="flat", edgecolors="white", linewidth=0.5)
        ax.set_yticks(range(len(rows)), [_wrapped(sweep.members[i], 30) for i in rows])
        ax.invert_yaxis()  # the first member on top, as in the legend of other metrics
        _set_axis(ax, "x", a)
        ax.set_ylabel("")
    elif len(sweep.axes) == 2:
        if len(rows) != 1:
            raise ValueError("a map of verdicts shows one member; draw one per member")
        ax_x, ax_y, arranged = drawn_axes(sweep, x, y)
        ax.pcolormesh(axis_positions(ax_x)[1], axis_positions(ax_y)[1], arranged(codes[0]).T, cmap=table, norm=norm,
                      shading="flat")
        _set_axis(ax, "x", ax_x)
        _set_axis(ax, "y", ax_y)
        ax.set_title(_wrapped(sweep.members[rows[0]]), fontsize=10)
    else:
        raise ValueError(f"a sweep of {len(sweep.axes)} axes has no single map: draw a slice of it (sweep.sel(...)) "
                         f"or all of it with sweep_figure")
    _legend_below(ax, [Patch(facecolor=VERDICT_COLORS[c + 1], edgecolor="0.5", label=names[c + 1])
                       for c in range(-1, len(VERDICTS)) if np.any(codes == c)])
    return ax


def plot_rate_map(rmap, which: str = "analytic", ax=None, *, boundary: bool = True, cmap: str = "magma_r",
                  colorbar: bool = True):
    """A :class:`~simulate.analysis.ratemap.RateMap` as a heat map over (lr·λmax, y): the per-step
    contraction in [0, 1) on a colour scale, unstable cells (rate >= 1, or diverged) in grey, the
    analytic stability boundary dashed, and for a single mode of heavy ball the critical-damping
    curve β = (1 − √(lr·λ))² where it is fastest."""
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
        at_unit_lr = with_axis(rmap.optimizer.replace(lr=1.0), rmap.y.name, rmap.y.values)
        wd = np.broadcast_to(np.asarray(at_unit_lr.weight_decay, float), rmap.y.values.shape)
        # the bound c on lr·(λ + wd), from the threshold at lr = 1 without decay; on the lr·λmax axis
        # it sits at c/(1 + wd/λmax)
        decayed = "weight_decay" in at_unit_lr.hyperparameters()
        c = stability_threshold(at_unit_lr.replace(weight_decay=0.0) if decayed else at_unit_lr)
        if c is not None:
            ax.plot(np.broadcast_to(c, wd.shape) / (1 + wd / float(np.max(rmap.eigenvalues))), rmap.y.values, "--",
                    color="tab:blue", lw=1.5)
            lhs = "lr·(λmax + wd)" if np.any(wd != 0) else "lr·λmax"
            handles.append(Line2D([], [], color="tab:blue", ls="--",
                                  label=f"theory: stable iff {lhs} < {threshold_factor_formula(at_unit_lr)}"))
    xs = np.linspace(max(rmap.x.values[0], 1e-9), min(rmap.x.values[-1], 4.0), 200)
    best = rmap.optimizer.critical_momentum(xs) if len(rmap.eigenvalues) == 1 and rmap.y.name == "momentum" else None
    if best is not None:  # the optimizer knows its fastest momentum (heavy ball: critical damping)
        ax.plot(xs, best, color="tab:green", lw=1.5)
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
