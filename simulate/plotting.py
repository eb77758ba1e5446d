"""Axes-level plots: each takes ``ax=None`` (then the current Axes), draws, and returns the Axes.

Nothing here creates a figure it was not asked for, saves, or shows; figure-level compositions
live in :mod:`simulate.figures`.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colors

from .landscapes import Landscape
from .trajectory import Trajectory

__all__ = ["plot_landscape", "plot_path", "plot_minima", "plot_start", "plot_loss", "loss_offset"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def loss_offset(landscape: Landscape) -> float | None:
    """The lowest known minimum value f*, so that ``f − f*`` can go on a log scale (None if unknown)."""
    if len(landscape.minima) == 0:
        return None
    return float(np.min(landscape.value(landscape.minima)))


def plot_landscape(landscape: Landscape, ax=None, *, bounds=None, resolution: int = 240, levels: int = 30,
                   cmap: str = "viridis", **kwargs):
    """Filled contours of ``f`` on log-spaced levels of ``f − min f`` over the plot box (2-D), or the
    graph of ``f`` (1-D). Extra keyword arguments go to ``contourf`` (2-D) or ``plot`` (1-D)."""
    ax = _axes(ax)
    bounds = landscape.bounds if bounds is None else np.asarray(bounds, float)
    if landscape.dim == 1:
        xs = np.linspace(*bounds[0], resolution)
        ax.plot(xs, landscape.value(xs[:, None]), color="0.3", lw=1.5, **kwargs)
        ax.set(xlabel="x", ylabel="f(x)")
        return ax
    if landscape.dim != 2:
        raise ValueError(f"contours need a 2-D landscape; {landscape.name} is {landscape.dim}-D")
    gx, gy = (np.linspace(lo, hi, resolution) for lo, hi in bounds)
    X, Y = np.meshgrid(gx, gy)
    Z = landscape.value(np.stack([X, Y], axis=-1))
    lifted = Z - Z.min()
    floor = max(float(np.percentile(lifted[lifted > 0], 0.5)), 1e-12) if np.any(lifted > 0) else 1.0
    lifted = lifted + floor
    lv = np.geomspace(lifted.min(), lifted.max() * (1 + 1e-9), levels)
    ax.contourf(X, Y, lifted, levels=lv, norm=colors.LogNorm(), cmap=cmap, **kwargs)
    ax.contour(X, Y, lifted, levels=lv[::3], colors="white", linewidths=0.3, alpha=0.5)
    ax.set(xlim=bounds[0], ylim=bounds[1], xlabel="x₁", ylabel="x₂", aspect="auto")
    return ax


def _shown(traj: Trajectory, member) -> slice:
    """Samples drawn for a member: all, or those before the one that triggered divergence (that
    value is far outside the picture; it stays in the data)."""
    k = int(traj.diverged_at[member])
    return slice(None) if k < 0 else slice(0, k)


def _xy(traj: Trajectory, member) -> tuple[np.ndarray, np.ndarray]:
    rows = (_shown(traj, member), *member)
    x = traj.x[rows]
    if x.shape[-1] == 1:  # 1-D: the path on the graph of f
        return x[:, 0], traj.f[rows]
    return x[:, 0], x[:, 1]


def _mark_divergence(ax, xs, ys, color) -> None:
    """A cross where a diverged member was last seen."""
    if len(xs):
        ax.plot(xs[-1:], ys[-1:], marker="X", markersize=9, color=color, markeredgecolor="black", lw=0)


def plot_path(traj: Trajectory, ax=None, *, color=None, label=None, members=None, **kwargs):
    """The path of every batch member (or of ``members``, a list of batch indices).

    Iterates are drawn as markers joined by thin lines; a flow as a smooth curve. For ``d > 2`` the
    first two coordinates are shown.
    """
    ax = _axes(ax)
    members = list(np.ndindex(traj.batch_shape)) if members is None else [tuple(np.atleast_1d(m)) for m in members]
    style = (dict(marker="o", markersize=2.5, lw=0.6, alpha=0.9) if traj.kind == "iterates"
             else dict(lw=2.0, alpha=0.85))
    style.update(kwargs)
    for i, member in enumerate(members):
        xs, ys = _xy(traj, member)
        line, = ax.plot(xs, ys, color=color, label=label if i == 0 else None, **style)
        color = line.get_color()
        if traj.diverged_at[member] >= 0:
            _mark_divergence(ax, xs, ys, color)
    return ax


MAX_MINIMA_DRAWN = 16


def plot_minima(landscape: Landscape, ax=None, **kwargs):
    """Known minima as white stars; where there are more than 16 (rastrigin), only the global ones."""
    ax = _axes(ax)
    if len(landscape.minima):
        pts = landscape.minima
        if len(pts) > MAX_MINIMA_DRAWN:
            values = landscape.value(pts)
            pts = pts[values <= values.min() + 1e-9 * max(1.0, abs(values.min()))]
        xy = (pts[:, 0], landscape.value(pts)) if landscape.dim == 1 else (pts[:, 0], pts[:, 1])
        style = dict(marker="*", s=160, c="white", edgecolors="black", linewidths=0.8, zorder=5, label="known minima")
        style.update(kwargs)
        ax.scatter(*xy, **style)
    return ax


def plot_start(landscape: Landscape, x0, ax=None, **kwargs):
    """Start point(s) as hollow black circles."""
    ax = _axes(ax)
    pts = np.atleast_2d(np.asarray(x0, float)).reshape(-1, landscape.dim)
    xy = (pts[:, 0], landscape.value(pts)) if landscape.dim == 1 else (pts[:, 0], pts[:, 1])
    style = dict(marker="o", s=70, facecolors="none", edgecolors="black", linewidths=1.5, zorder=6, label="start")
    style.update(kwargs)
    ax.scatter(*xy, **style)
    return ax


def plot_loss(traj: Trajectory, ax=None, *, color=None, label=None, offset: float | None = None,
              time: str = "t", **kwargs):
    """Loss against time ``t`` (or ``time="steps"``: ``t/h``) for every member.

    With ``offset`` f*, ``f − f*`` is drawn on a log axis; otherwise ``f`` on a linear one.
    """
    ax = _axes(ax)
    if time not in ("t", "steps"):
        raise ValueError(f"time must be 't' or 'steps', got {time!r}")
    tt = np.asarray(traj.t if time == "t" else traj.steps)
    tt = np.broadcast_to(tt.reshape(tt.shape + (1,) * (traj.f.ndim - tt.ndim)), traj.f.shape)
    style = (dict(marker="o", markersize=2, lw=0.6) if traj.kind == "iterates" else dict(lw=2.0, alpha=0.85))
    style.update(kwargs)
    for i, member in enumerate(np.ndindex(traj.batch_shape)):
        rows = (_shown(traj, member), *member)
        f = traj.f[rows]
        with np.errstate(invalid="ignore"):
            y = f - offset if offset is not None else f
            if offset is not None:
                y = np.where(y > 0, y, np.nan)  # exactly at f*: off the log axis
        line, = ax.plot(tt[rows], y, color=color, label=label if i == 0 else None, **style)
        color = line.get_color()
        if traj.diverged_at[member] >= 0:
            _mark_divergence(ax, tt[rows], y, color)
    if offset is not None:
        ax.set_yscale("log")
    ax.set(xlabel="time t" if time == "t" else "steps k = t / h",
           ylabel=f"f − f* (f* = {offset:.4g})" if offset is not None else "f")
    return ax
