"""Axes-level plots: each takes ``ax=None`` (then the current Axes), draws, and returns the Axes.

Nothing here creates a figure it was not asked for, saves, or shows; figure-level compositions
live in :mod:`simulate.figures`.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colors
from matplotlib.cbook import normalize_kwargs
from matplotlib.lines import Line2D

from ..landscapes.games import is_game
from ..landscapes import Landscape
from ..solvers.trajectory import Trajectory

__all__ = ["plot_identity", "identity_along", "plot_landscape", "plot_path", "plot_minima", "plot_start", "plot_loss", "loss_offset", "plot_order",
           "plot_sharpness", "plot_energy", "plot_surface", "Height", "graph_window", "drawn_xy", "plot_schedule", "plot_clipping", "plot_cloud", "plot_moments", "plot_histogram", "ORDER_AXES",
           "ITERATES_STYLE", "FLOW_STYLE"]


def _axes(ax, three_d: bool = False):
    """``ax``, or the current Axes; with ``three_d`` a 3-D one (the current one if it is 3-D, else
    a new one: on the current figure when that is empty, else on a new figure)."""
    import matplotlib.pyplot as plt

    if ax is None and not three_d:
        return plt.gca()
    if ax is None:
        fig = plt.gcf()
        current = fig.axes and fig.gca()
        if current and current.name == "3d":
            return current
        return (fig if not fig.axes else plt.figure()).add_subplot(projection="3d")
    if three_d and ax.name != "3d":
        raise ValueError("the 3-D view draws on a 3-D Axes: add_subplot(projection='3d')")
    return ax


def loss_offset(landscape: Landscape) -> float | None:
    """The lowest known minimum value f*, so that ``f − f*`` can go on a log scale (None if unknown)."""
    return landscape.lowest_minimum_value()


def plane_labels(landscape: Landscape) -> tuple[str, str]:
    """Names of the two coordinates drawn: x₁, x₂; on a game whose player each is (a GAN's θ and ψ)."""
    return getattr(landscape, "plane_labels", ("x₁", "x₂"))


def plot_landscape(landscape: Landscape, ax=None, *, bounds=None, resolution: int = 240, levels: int = 30,
                   cmap: str = "viridis", **kwargs):
    """Filled contours of ``f`` on log-spaced levels of ``f − min f`` over the plot box (2-D), or the
    graph of ``f`` (1-D). Extra keyword arguments go to ``contourf`` (2-D) or ``plot`` (1-D)."""
    ax = _axes(ax)
    bounds = landscape.bounds if bounds is None else np.asarray(bounds, float)
    if landscape.dim == 1:
        xs = np.linspace(*bounds[0], resolution)
        ax.plot(xs, landscape.value(xs[:, None]), color="0.3", lw=1.5, **kwargs)
        ax.set(xlabel="x", ylabel="f(x)", xlim=bounds[0])
        return ax
    if landscape.dim != 2:
        raise ValueError(f"contours need a 2-D landscape; {landscape.name} is {landscape.dim}-D")
    X, Y, Z = _grid(landscape, bounds, resolution)
    lifted = Z - Z.min() + _floor(Z)
    lv = np.geomspace(lifted.min(), lifted.max() * (1 + 1e-9), levels)
    ax.contourf(X, Y, lifted, levels=lv, norm=colors.LogNorm(), cmap=cmap, **kwargs)
    ax.contour(X, Y, lifted, levels=lv[::3], colors="white", linewidths=0.3, alpha=0.5)
    xlabel, ylabel = plane_labels(landscape)
    ax.set(xlim=bounds[0], ylim=bounds[1], xlabel=xlabel, ylabel=ylabel, aspect="auto")
    return ax


def graph_window(landscape: Landscape, visited, *, share: float = 0.2) -> np.ndarray:
    """The part of a 1-D plot box worth drawing for paths that visit the points ``visited``: their
    span, widened by half of it on each side, when f varies there by less than ``share`` of its
    range over the box (else the whole box). A path near the bottom of x⁴ on [−5, 5] would
    otherwise be a flat line under the walls."""
    lo, hi = landscape.bounds[0]
    v = np.asarray(visited, float).ravel()
    v = v[np.isfinite(v) & (v >= lo) & (v <= hi)]
    if v.size == 0:
        return landscape.bounds
    pad = 0.5 * max(v.max() - v.min(), 0.05 * (hi - lo))
    a, b = max(lo, v.min() - pad), min(hi, v.max() + pad)
    with np.errstate(all="ignore"):
        near = landscape.value(np.linspace(a, b, 200)[:, None])
        whole = landscape.value(np.linspace(lo, hi, 400)[:, None])
    if _spread(near) < share * _spread(whole):
        return np.array([[a, b]])
    return landscape.bounds


def _spread(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max() - finite.min()) if finite.size else 0.0


def _grid(landscape: Landscape, bounds, resolution: int):
    gx, gy = (np.linspace(lo, hi, resolution) for lo, hi in bounds)
    X, Y = np.meshgrid(gx, gy)
    with np.errstate(all="ignore"):  # a formula defined on part of the box (log x): masked outside it
        Z = np.ma.masked_invalid(landscape.value(np.stack([X, Y], axis=-1)))
    if Z.count() == 0:
        raise ValueError(f"{landscape.label} is not finite anywhere in the box drawn, {np.asarray(bounds).tolist()}: "
                         f"give a box inside its domain (--box)")
    return X, Y, Z


def _floor(Z: np.ndarray) -> float:
    """The small lift that puts f − min f on a log scale: the 0.5th percentile of its positive values."""
    lifted = np.ma.compressed(Z - Z.min())  # the finite values
    return max(float(np.percentile(lifted[lifted > 0], 0.5)), 1e-12) if np.any(lifted > 0) else 1.0


class Height:
    """The height of the 3-D view: log₁₀(f − f_min + ε) over the plot box (the contours' scale), so
    that deep valleys and high walls both show; the same map lifts the paths onto the surface."""

    def __init__(self, landscape: Landscape, bounds=None, resolution: int = 80):
        bounds = landscape.bounds if bounds is None else np.asarray(bounds, float)
        self.X, self.Y, Z = _grid(landscape, bounds, resolution)
        self.fmin, self.eps = float(Z.min()), _floor(Z)
        self.Z = self(Z)

    def __call__(self, f):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log10(np.maximum(np.asarray(f, dtype=np.float64) - self.fmin, 0.0) + self.eps)

    def lift(self, x, y, f) -> tuple:
        """``(x, y, height)`` of points, NaN outside the surface's box: 3-D axes do not clip, so a
        path leaving a zoomed box would be drawn beside it."""
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        outside = (x < self.X.min()) | (x > self.X.max()) | (y < self.Y.min()) | (y > self.Y.max())
        return np.where(outside, np.nan, x), np.where(outside, np.nan, y), np.where(outside, np.nan, self(f))


def plot_surface(landscape: Landscape, ax=None, *, height: Height | None = None, cmap: str = "viridis", **kwargs):
    """The surface of a 2-D landscape on a 3-D Axes (a new one for ``ax=None``), at ``height``
    (default :class:`Height` over the plot box; pass the same ``height`` to :func:`plot_path`,
    :func:`plot_minima` and :func:`plot_start` to lift paths onto it). Returns the Axes."""
    if landscape.dim != 2:
        raise ValueError(f"the 3-D view needs a 2-D landscape; {landscape.name} is {landscape.dim}-D")
    ax = _axes(ax, three_d=True)
    height = Height(landscape) if height is None else height
    ax.plot_surface(height.X, height.Y, height.Z, cmap=cmap, alpha=0.55, linewidth=0, antialiased=True, **kwargs)
    xlabel, ylabel = plane_labels(landscape)
    ax.set(xlabel=xlabel, ylabel=ylabel, zlabel="log₁₀(f − f_min + ε)")
    return ax


def _shown(traj: Trajectory, member) -> slice:
    """Samples drawn for a member: all, or those before the one that triggered divergence (that
    value is far outside the picture; it stays in the data)."""
    k = int(traj.diverged_at[member])
    return slice(None) if k < 0 else slice(0, k)


def drawn_xy(x: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What is drawn of points ``x (..., d)`` with values ``f (...)``: (x₁, x₂); in 1-D (x, f), the
    path on the graph of f."""
    return (x[..., 0], f) if x.shape[-1] == 1 else (x[..., 0], x[..., 1])


def _xy(traj: Trajectory, member) -> tuple[np.ndarray, np.ndarray]:
    rows = (_shown(traj, member), *member)
    return drawn_xy(traj.x[rows], traj.f[rows])


#: The gid of the crosses that mark where a diverged member was last seen (see :func:`pin_to_view`).
DIVERGED = "diverged"


def _mark_divergence(ax, xs, ys, color) -> None:
    """A cross where a diverged member was last seen (the point before it rides along, so that
    :func:`pin_to_view` can put the cross where the path left the view)."""
    if len(xs):
        line, = ax.plot(xs[-1:], ys[-1:], marker="X", markersize=9, color=color, markeredgecolor="black", lw=0,
                        gid=DIVERGED)
        line.came_from = (xs[-2], ys[-2]) if len(xs) > 1 else None


def pin_to_view(ax) -> None:
    """Move every divergence cross outside the view onto the view's edge: where the path's last
    step crosses it when that step starts inside, else at the nearest point of the edge. A
    diverging run must not set the axes, and its cross must stay in sight. Works on the axes'
    scales (log or linear); call it once the limits are final."""
    if getattr(ax, "name", "") == "3d":
        return
    forward = [np.log10 if s == "log" else (lambda v: v) for s in (ax.get_xscale(), ax.get_yscale())]
    back = [(lambda v: 10.0**v) if s == "log" else (lambda v: v) for s in (ax.get_xscale(), ax.get_yscale())]
    limits = np.array([[forward[i](v) for v in lim] for i, lim in enumerate((ax.get_xlim(), ax.get_ylim()))])
    lo, hi = limits.min(axis=1), limits.max(axis=1)

    def scaled(point):
        with np.errstate(all="ignore"):
            q = np.array([forward[i](float(v)) for i, v in enumerate(point)])
        return np.where(np.isnan(q), hi, np.clip(q, -1e300, 1e300))  # not a number: where it blew up

    for line in ax.lines:
        if line.get_gid() != DIVERGED:
            continue
        p = scaled([np.asarray(v, dtype=float)[-1] for v in line.get_data()])
        if np.all((p >= lo) & (p <= hi)):
            continue
        q = np.clip(p, lo, hi)
        start = getattr(line, "came_from", None)
        if start is not None and np.all(((a := scaled(start)) >= lo) & (a <= hi)):
            step = p - a  # the last step, from inside: where it crosses the edge
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.where(step > 0, (hi - a) / step, np.where(step < 0, (lo - a) / step, np.inf))
            q = a + min(1.0, float(np.min(t))) * step
        line.set_data([back[0](q[0])], [back[1](q[1])])
        line.set_clip_on(False)  # on the edge: whole, not half


def focus_graph(ax, landscape: Landscape, bounds, runs) -> None:
    """The height of a 1-D graph panel: the graph of f over ``bounds`` and the values of the runs
    in ``runs`` (trajectories) that did not diverge, so that a diverging run does not flatten it."""
    xs = np.linspace(*np.asarray(bounds, dtype=float)[0], 400)
    with np.errstate(all="ignore"):
        values = [np.ravel(landscape.value(xs[:, None]))]
        for traj in runs:
            inside = (traj.x[..., 0] >= xs[0]) & (traj.x[..., 0] <= xs[-1]) & ~np.broadcast_to(traj.diverged, traj.f.shape)
            values.append(traj.f[inside])
    v = np.concatenate(values)
    v = v[np.isfinite(v)]
    if v.size:
        pad = 0.05 * (v.max() - v.min() or 1.0)
        ax.set_ylim(v.min() - pad, v.max() + pad)


#: How :func:`plot_path` draws a run. Iterates: markers joined by a thin line, above the flows. Flows: a broad translucent band below
#: them, so that a flow shows around iterates that follow it and the markers stay on top of it.
ITERATES_STYLE = dict(marker="o", markersize=3.0, lw=0.7, ls="-", alpha=0.95, zorder=3,
                      markeredgecolor="white", markeredgewidth=0.3)
FLOW_STYLE = dict(lw=3.0, ls="-", alpha=0.55, zorder=2, solid_capstyle="round")


def plot_path(traj: Trajectory, ax=None, *, color=None, label=None, members=None, height=None, **kwargs):
    """The path of every batch member (or of ``members``, a list of batch indices).

    Iterates are drawn as markers joined by thin lines; a flow as a smooth curve. For ``d > 2`` the
    first two coordinates are shown. ``height`` (a :class:`Height`, on a 3-D Axes) lifts the path
    onto the surface of :func:`plot_surface`.
    """
    ax = _axes(ax, three_d=height is not None)
    members = list(np.ndindex(traj.batch_shape)) if members is None else [tuple(np.atleast_1d(m)) for m in members]
    # in matplotlib's full names, so that linestyle= or lw= given here replaces the default, not clashes with it
    style = normalize_kwargs(ITERATES_STYLE if traj.kind == "iterates" else FLOW_STYLE, Line2D)
    style.update(normalize_kwargs(kwargs, Line2D))
    for i, member in enumerate(members):
        xs, ys = _xy(traj, member)
        if height is not None:  # on the surface of the 3-D view
            line, = ax.plot(*height.lift(xs, ys, traj.f[(_shown(traj, member), *member)]), color=color, label=label if i == 0 else None, **style)
            color = line.get_color()
            continue
        line, = ax.plot(xs, ys, color=color, label=label if i == 0 else None, **style)
        color = line.get_color()
        if traj.diverged_at[member] >= 0:
            _mark_divergence(ax, xs, ys, color)
    return ax


MAX_MINIMA_DRAWN = 16


def plot_minima(landscape: Landscape, ax=None, height=None, **kwargs):
    """Known minima as white stars; where there are more than 16 (rastrigin), only the global ones.
    ``height``: on the surface of the 3-D view."""
    ax = _axes(ax, three_d=height is not None)
    if len(landscape.minima):
        pts = landscape.minima
        if len(pts) > MAX_MINIMA_DRAWN:
            values = landscape.value(pts)
            pts = pts[values <= values.min() + 1e-9 * max(1.0, abs(values.min()))]
        xy = (pts[:, 0], landscape.value(pts)) if landscape.dim == 1 else (pts[:, 0], pts[:, 1])
        if height is not None:
            xy = height.lift(*xy, landscape.value(pts))
        name = "equilibria" if is_game(landscape) else "known minima"  # a game's targets
        style = dict(marker="*", s=160, c="white", edgecolors="black", linewidths=0.8, zorder=5, label=name)
        style.update(kwargs)
        ax.scatter(*xy, **style)
    return ax


def plot_start(landscape: Landscape, x0, ax=None, height=None, **kwargs):
    """Start point(s) as hollow black circles (``height``: on the surface of the 3-D view)."""
    ax = _axes(ax, three_d=height is not None)
    pts = np.atleast_2d(np.asarray(x0, float)).reshape(-1, landscape.dim)
    xy = (pts[:, 0], landscape.value(pts)) if landscape.dim == 1 else (pts[:, 0], pts[:, 1])
    if height is not None:
        xy = height.lift(*xy, landscape.value(pts))
    style = dict(marker="o", s=70, facecolors="none", edgecolors="black", linewidths=1.5, zorder=6, label="start")
    style.update(kwargs)
    ax.scatter(*xy, **style)
    return ax


def _over_time(traj: Trajectory, y: np.ndarray, ax, *, color, label, time: str, **kwargs):
    """Draw ``y`` ``(T, *batch)`` against t or steps for every member; crosses where members diverged."""
    if time not in ("t", "steps"):
        raise ValueError(f"time must be 't' or 'steps', got {time!r}")
    tt = np.asarray(traj.t if time == "t" else traj.steps)
    tt = np.broadcast_to(tt.reshape(tt.shape + (1,) * (y.ndim - tt.ndim)), y.shape)
    # iterates: a marker of the series' shape every few steps, large enough to tell in grey, not a dot per step
    style = dict(ITERATES_STYLE, markersize=3.5, markevery=max(1, tt.shape[0] // 40)) if traj.kind == "iterates" \
        else dict(FLOW_STYLE, lw=2.5)
    style.update(kwargs)
    for i, member in enumerate(np.ndindex(traj.batch_shape)):
        rows = (_shown(traj, member), *member)
        line, = ax.plot(tt[rows], y[rows], color=color, label=label if i == 0 else None, **style)
        color = line.get_color()
        if traj.diverged_at[member] >= 0:
            _mark_divergence(ax, tt[rows], y[rows], color)
    scheduled = getattr(traj.optimizer, "schedule", None) is not None
    ax.set_xlabel("time t" if time == "t" else "steps k" if scheduled else "steps k = t / h")
    return color


def plot_loss(traj: Trajectory, ax=None, *, color=None, label=None, offset: float | None = None,
              time: str = "t", **kwargs):
    """Loss against time ``t`` (or ``time="steps"``: ``t/h``) for every member.

    With ``offset`` f*, ``f − f*`` is drawn on a log axis; otherwise ``f`` on a linear one.
    """
    ax = _axes(ax)
    with np.errstate(invalid="ignore"):
        y = traj.f - offset if offset is not None else traj.f
        if offset is not None:
            y = np.where(y > 0, y, np.nan)  # exactly at f*: off the log axis
    _over_time(traj, y, ax, color=color, label=label, time=time, **kwargs)
    if offset is not None:
        ax.set_yscale("log")
    ax.set_ylabel(f"f − f* (f* = {offset:.4g})" if offset is not None else "f")
    return ax


def identity_along(traj: Trajectory) -> tuple[np.ndarray | None, str]:
    """``f(x₀) − ∫₀ᵗ r dt`` along an integrated flow whose model predicts its decrease ``r = −df/dt``
    (:meth:`simulate.models.base.Flow.decrease_rate`; steepest descent's ``‖∇f‖_*``), the integral a
    trapezoid over the record's samples, ``(T, *batch)``, and its label; ``(None, "")`` without one."""
    from scipy.integrate import cumulative_trapezoid

    from ..models import flow as make_flow

    if traj.kind != "flow" or traj.state is None:
        return None, ""
    model = make_flow(traj.optimizer, traj.flow or None)
    with np.errstate(all="ignore"):
        rate = model.decrease_rate(traj.state, traj.landscape)
    if rate is None:
        return None, ""
    t = np.asarray(traj.t, dtype=np.float64)
    t = np.broadcast_to(t.reshape(t.shape + (1,) * (rate.ndim - t.ndim)), rate.shape)
    with np.errstate(all="ignore"):
        return traj.f[0] - cumulative_trapezoid(rate, t, axis=0, initial=0.0), f"f(x₀) − ∫{model.decrease_name}dt"


def plot_identity(traj: Trajectory, ax=None, *, color=None, offset: float | None = None, time: str = "t", **kwargs):
    """Dashed over the loss panel: :func:`identity_along`, which equals f along the flow (theory
    §10.9: ``df/dt = −‖∇f‖_*``). Nothing is drawn for a model without the identity. Returns the drawn
    values, or None."""
    y, name = identity_along(traj)
    if y is None:
        return None
    ax = _axes(ax)
    if offset is not None:
        with np.errstate(invalid="ignore"):
            y = np.where(y - offset > 0, y - offset, np.nan)
    style = dict(ls=(0, (2, 2)), lw=1.2, alpha=0.95)
    style.update(kwargs)
    _over_time(traj, y, ax, color=color, label=style.pop("label", f"{traj.optimizer.short_name}: {name}"), time=time,
               **style)
    return y


def plot_distance(traj: Trajectory, ax=None, *, color=None, label=None, time: str = "t", **kwargs):
    """A game's distance to its equilibrium (:meth:`simulate.landscapes.games.Game.distance`) against time, on
    a log axis: a straight line is a geometric rate, a flat one a cycle, a rising one a spiral out.
    A game that lists no equilibrium (a quadratic game with singular M: its equilibria are ker M)
    has no distance: then |ξ| is drawn, and the axis says so."""
    ax = _axes(ax)
    game = traj.landscape
    measured = game.measures_distance
    with np.errstate(invalid="ignore"):
        x = np.where(np.isfinite(traj.x), traj.x, np.nan)
        y = game.distance(x) if measured else np.linalg.norm(game.grad(x), axis=-1)
        y = np.where(y > 0, y, np.nan)  # exactly at the equilibrium: off the log axis
    _over_time(traj, y, ax, color=color, label=label, time=time, **kwargs)
    ax.set_yscale("log")
    ax.set_ylabel(game.distance_name if measured else "|ξ| (no equilibrium is listed: no distance)")
    return ax


def plot_sharpness(traj: Trajectory, ax=None, *, color=None, label=None, time: str = "t", threshold: bool = True,
                   **kwargs):
    """Sharpness λmax(∇²f) along the run; with ``threshold``, the optimizer's stability line
    (``2/lr`` for GD, ``2(1+μ)/lr`` heavy ball, ``(2+2μ)/((1+2μ)lr)`` Nesterov) dashed in the same colour."""
    from ..analysis.sharpness import sharpness_along, stability_threshold, threshold_formula

    ax = _axes(ax)
    color = _over_time(traj, sharpness_along(traj), ax, color=color, label=label, time=time, **kwargs)
    opt = traj.optimizer
    if threshold and opt.schedule is not None and traj.kind == "iterates":  # the threshold moves with lr_k
        steps = traj.x.shape[0] - 1
        with np.errstate(divide="ignore"):  # lr_k = 0: no threshold (infinite)
            along = stability_threshold(opt.at_lr(opt.lrs(steps)))
        if along is not None and np.ndim(along) == 1:
            tt = np.asarray(traj.t if time == "t" else traj.steps)
            ax.plot(tt[:steps + 1], np.append(along, along[-1]) if steps else along, drawstyle="steps-post", color=color,
                    ls="--", lw=1.0, alpha=0.8, label=f"{threshold_formula(opt)} along the schedule ({opt.short_name})")
            # the threshold grows without bound as lr_k → 0: the scale stays the sharpness's and the lowest threshold's
            with np.errstate(all="ignore"):
                finite = along[np.isfinite(along)]  # lr_k = 0 has no threshold
                top = max(float(np.nanmax(sharpness_along(traj), initial=0.0)), float(np.min(finite, initial=np.inf))
                          if finite.size else 0.0)
            top = max(top, getattr(ax, "_schedule_top", 0.0))  # over every optimizer drawn here
            ax._schedule_top = top
            if top > 0:
                ax.set_ylim(0, 1.3 * top)
        threshold = False
    limit = stability_threshold(traj.optimizer) if threshold else None
    if limit is not None:
        for value in np.unique(np.ravel(limit)):
            ax.axhline(value, color=color, ls="--", lw=1.0, alpha=0.8,
                       label=f"{threshold_formula(traj.optimizer)} = {value:.3g} ({traj.optimizer.short_name})")
    ax.set_ylabel("sharpness λmax(∇²f)")
    return ax


def plot_clipping(traj: Trajectory, ax=None, *, color=None, height=None, **kwargs):
    """Ring the iterates whose step had its gradient clipped (``clip_norm``/``clip_value`` active
    at the point the step started from); returns the Axes."""
    from ..optimizers.transforms import clip_active

    opt = traj.optimizer
    ax = _axes(ax, three_d=height is not None)
    steps = traj.x.shape[0] - 1
    with np.errstate(all="ignore"):
        x = traj.x[:steps]
        active = clip_active(traj.landscape.grad(np.nan_to_num(x)), opt.clip_norm, opt.clip_value) & np.isfinite(x).all(-1)
    pts = x[active]
    if pts.size:
        xy = drawn_xy(pts, traj.f[:steps][active])
        style = dict(marker="o", s=40, facecolors="none", edgecolors=color, linewidths=1.0, zorder=4,
                     label=f"{opt.short_name}: gradient clipped ({int(active.sum())} of {active.size} steps)")
        style.update(kwargs)
        if height is not None:
            ax.scatter(*height.lift(*xy, traj.f[:steps][active]), **style)
        else:
            ax.scatter(*xy, **style)
    return ax


def plot_schedule(traj: Trajectory, ax=None, *, color=None, label=None, time: str = "t", **kwargs):
    """The step size each step of ``traj`` (iterates) took, lr_k, held over the step: against the
    time t_{k−1} at which step k starts (or its index); constant without a schedule."""
    ax = _axes(ax)
    steps = traj.x.shape[0] - 1
    lrs = np.asarray(traj.optimizer.lrs(steps), dtype=np.float64).reshape((steps, -1))
    starts = np.asarray(traj.t if time == "t" else traj.steps)
    starts = np.broadcast_to(starts.reshape(starts.shape[:1] + (-1,)), (steps + 1, lrs.shape[1]))
    for j in range(lrs.shape[1]):
        xs = starts[:, j]
        ys = np.append(lrs[:, j], lrs[-1, j]) if steps else lrs[:, j]
        line, = ax.plot(xs[:len(ys)], ys, drawstyle="steps-post", color=color, label=label if j == 0 else None, **kwargs)
        color = line.get_color()
    top = max(float(np.max(lrs, initial=0.0)), getattr(ax, "_lr_top", 0.0))  # over every optimizer drawn here
    ax._lr_top = top
    ax.set(xlabel="time t" if time == "t" else "steps k", ylabel="lr_k", ylim=(0, 1.1 * top if top > 0 else 1.0))
    return ax


def plot_energy(traj: Trajectory, ax=None, *, color=None, label=None, time: str = "t", **kwargs):
    """The flow's Lyapunov energy along an integrated flow (see :meth:`simulate.models.base.Flow.energy`):
    f for gradient flows, f + |ẋ|²/2 for the damped oscillator, Su–Boyd–Candès' for NAG-C, …"""
    from ..models import energy_along

    ax = _axes(ax)
    E, name = energy_along(traj)
    if E is None:
        raise ValueError(f"the {traj.flow or 'exact'} flow of {traj.optimizer.display_name} has no known energy")
    _over_time(traj, E, ax, color=color, label=label or name, time=time, **kwargs)
    ax.set_ylabel("energy (Lyapunov function of the flow)")
    # Energies fall by decades: a log axis while every one drawn is positive, else linear.
    drawn = np.concatenate([np.ravel(line.get_ydata()) for line in ax.lines])
    drawn = drawn[np.isfinite(drawn)]
    if drawn.size and np.all(drawn > 0):
        # Below 1e-12 of the largest energy the solver's tolerance and rounding show, not the flow.
        ax.set_yscale("log")
        ax.set_ylim(max(drawn.min(), 1e-12 * drawn.max()) / 2, drawn.max() * 2)
    return ax


#: What :func:`plot_order` can put on its horizontal axis.
ORDER_AXES = {"h": "time per step h", "lr": "learning rate lr", "evaluations": "gradient evaluations to the horizon"}


def plot_order(result, ax=None, *, x: str = "h", color=None, label=None, references=(1, 2), **kwargs):
    """Error against step size on log–log axes for one :class:`~simulate.order.OrderResult`: the
    rungs as markers, the fitted line (its slope in the legend) and dashed reference slopes
    through the smallest rung. ``x`` is ``"h"``, ``"lr"`` or ``"evaluations"`` (the error at equal
    work: methods with several gradients per step move right)."""
    ax = _axes(ax)
    if x not in ORDER_AXES:
        raise ValueError(f"x must be one of {', '.join(ORDER_AXES)}, got {x!r}")
    xs = {"h": result.time_per_step, "lr": result.lr, "evaluations": result.evaluations}[x].astype(float)
    err = result.error
    ok = np.isfinite(err) & (err > 0)
    slope = {"h": result.observed_order, "lr": result.observed_order_in_lr, "evaluations": -result.observed_order}[x]
    text = label or result.label
    line, = ax.plot(xs[ok], err[ok], marker="o", lw=0, color=color, **kwargs)
    color = line.get_color()
    if ok.sum() >= 2:
        fit = np.polyfit(np.log(xs[ok]), np.log(err[ok]), 1)
        grid = np.geomspace(xs[ok].min(), xs[ok].max(), 20)
        last_pair = result.last_pair_order if x != "evaluations" else -result.last_pair_order
        pair = f" (last pair {last_pair:.2f})" if np.isfinite(last_pair) and x == "h" else ""
        ax.plot(grid, np.exp(np.polyval(fit, np.log(grid))), color=color, lw=1.3,
                label=f"{text}: slope {slope:.2f}{pair}")
        last = int(np.argmin(np.where(ok, xs, np.inf)))
        for p in references:
            sign = -1 if x == "evaluations" else 1
            ref = err[last] * (grid / xs[last]) ** (sign * p)
            ax.plot(grid, ref, color=color, lw=0.8, ls=":", alpha=0.7)
            # labelled at the small-step end, clear of the largest rung's marker
            ax.annotate(f"{sign * p:g}", (grid[0], ref[0]), xytext=(-10, -3), textcoords="offset points",
                        fontsize=7, color=color, alpha=0.8, ha="right")
    else:
        line.set_label(f"{text}: too few rungs to fit")
    bad = ~ok
    if bad.any():  # diverged (inf) or failed (NaN) rungs: marked on the axis floor
        floor = np.nanmin(err[ok]) if ok.any() else 1.0
        ax.plot(xs[bad], np.full(bad.sum(), floor), marker="x", lw=0, color=color)
    ax.set(xscale="log", yscale="log", xlabel=ORDER_AXES[x],
           ylabel={"max": "max |iterates − flow|", "late": "max |iterates − flow| for t ≥ T/4",
                   "final": "|iterates − flow| at T"}[result.metric])
    return ax


# -- ensembles of noisy paths ------------------------------------------------------------------------
#: At most this many paths of an ensemble are drawn as lines (all of them stay in the data).
MAX_PATHS_DRAWN = 40


def plot_cloud(traj: Trajectory, ax=None, *, color=None, label=None, paths: int = MAX_PATHS_DRAWN, **kwargs):
    """An ensemble's paths ``(T, n, d)`` as a faint cloud (the first ``paths`` of them) and every
    path's last point as a dot. 2-D: in the plane; 1-D: x against t."""
    ax = _axes(ax)
    x = traj.x
    style = dict(lw=0.5, alpha=0.25)
    style.update(kwargs)
    shown = x[:, :paths]
    if x.shape[-1] == 1:
        t = np.broadcast_to(np.asarray(traj.t).reshape(len(x), -1), shown.shape[:2])
        lines = ax.plot(t, shown[..., 0], color=color, **style)
        ends = (np.broadcast_to(np.asarray(traj.t).reshape(len(x), -1)[-1], x.shape[1:2]), x[-1, :, 0])
        ax.set(xlabel="time t", ylabel="x")
    else:
        lines = ax.plot(shown[..., 0], shown[..., 1], color=color, **style)
        ends = (x[-1, :, 0], x[-1, :, 1])
    color = lines[0].get_color() if lines else color
    ax.scatter(*ends, s=6, color=color, alpha=0.7, zorder=4, label=label, edgecolors="none")
    return ax


def plot_moments(moments, ax=None, *, coordinate: int = 0, color=None, label=None, band: bool = True, **kwargs):
    """Mean of one coordinate against time, with a ± one standard deviation band (``band``) or,
    without it, the two edges as thin lines of the same style."""
    ax = _axes(ax)
    mean, std = moments.mean[:, coordinate], moments.std[:, coordinate]
    line, = ax.plot(moments.t, mean, color=color, label=label, **kwargs)
    color = line.get_color()
    if band:
        ax.fill_between(moments.t, mean - std, mean + std, color=color, alpha=0.18, lw=0)
    else:
        edge = {**kwargs, "lw": 0.8}
        ax.plot(moments.t, mean - std, color=color, **edge)
        ax.plot(moments.t, mean + std, color=color, **edge)
    ax.set_xlabel("time t")
    return ax


def plot_histogram(samples: np.ndarray, ax=None, *, coordinate: int = 0, bins=60, color=None, label=None,
                   filled: bool = True, **kwargs):
    """A density histogram of one coordinate of pooled samples ``(m, d)``: filled, or as an outline."""
    ax = _axes(ax)
    if len(samples) == 0:  # every path stopped before the window: say so in the legend, draw nothing
        ax.plot([], [], color=color, label=f"{label}: no samples (every path stopped)" if label else None)
        return ax
    style = dict(alpha=0.35) if filled else dict(histtype="step", lw=1.4)
    style.update(kwargs)
    ax.hist(samples[:, coordinate], bins=bins, density=True, color=color, label=label, **style)
    ax.set(xlabel=f"x{'₁₂₃₄₅₆₇₈₉'[coordinate] if coordinate < 9 else coordinate + 1}", ylabel="density")
    return ax
