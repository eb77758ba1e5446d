"""Views of runs on a matrix landscape (a point of matrix blocks, ``Landscape.matrix_shapes``): the loss,
the singular values of each block (and of the product a factorization stands for) over time, and the
path projected on a plane. :func:`matrix_figure` is what ``plot`` draws for such a landscape in place
of the contour panels.

The plane of :func:`plot_projection` is spanned by the top two principal directions of the drawn paths
(all their points, centred on their mean): the plane that holds most of their spread. Its axes are the
coordinates ``⟨x − mean, eᵢ⟩``; a listed minimum is projected on the same plane.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..landscapes.base import matrix_blocks, short_label
from .plotting import FLOW_STYLE, ITERATES_STYLE, _axes, loss_offset, plot_loss
from .style import COLORS, MARKERS, below, drawn_records, entry_note

__all__ = ["block_singular_values", "product_singular_values", "path_plane", "block_style", "plot_singular_values",
           "plot_projection", "matrix_figure"]

_BLOCK_STYLES = ("-", "--", ":", "-.")
#: Characters of a panel's title per line at the default size (a half-width panel, 10 pt).
_TITLE_WIDTH = 70
#: A minimum value within this share of the loss's scale (its size at the start) is 0 to rounding.
_ROUNDING = 64 * np.finfo(np.float64).eps


def _blocks(landscape, x) -> list[np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    out, start = [], 0
    for r, c in matrix_blocks(landscape):
        out.append(x[..., start:start + r * c].reshape(x.shape[:-1] + (r, c)))
        start += r * c
    return out


def block_singular_values(landscape, x) -> list[np.ndarray]:
    """Singular values of every block of the points ``x`` ``(..., d)``: one ``(..., min(r, c))`` per
    block, largest first (NaN where a point is not finite)."""
    return [_svals(b) for b in _blocks(landscape, x)]


def product_singular_values(landscape, x) -> np.ndarray | None:
    """Singular values of the product the factors stand for (``landscape.product``), or None."""
    P = landscape.product(np.asarray(x, dtype=np.float64))
    return None if P is None else _svals(P)


def _svals(M: np.ndarray) -> np.ndarray:
    finite = np.all(np.isfinite(M), axis=(-2, -1))
    safe = np.where(finite[..., None, None], M, 0.0)
    s = np.linalg.svd(safe, compute_uv=False)
    return np.where(finite[..., None], s, np.nan)


def path_plane(*paths) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, E)``: the mean ``(d,)`` of every finite point of the paths ``(..., d)`` and the top two
    principal directions ``E`` ``(2, d)`` of their spread (a second one of zeros when it is a line)."""
    points = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, np.shape(p)[-1]) for p in paths])
    points = points[np.all(np.isfinite(points), axis=-1)]
    d = points.shape[-1] if points.size else np.shape(paths[0])[-1]
    if len(points) == 0:
        return np.zeros(d), np.eye(2, d)
    mean = points.mean(axis=0)
    _, _, Vt = np.linalg.svd(points - mean, full_matrices=False)
    E = np.zeros((2, d))
    E[:min(2, len(Vt))] = Vt[:2]
    return mean, E


def block_style(b: int) -> str:
    """The line style of block ``b``'s singular values (solid, dashed, dotted, dash-dotted, then again)."""
    return _BLOCK_STYLES[b % len(_BLOCK_STYLES)]


def _time(traj, time: str) -> np.ndarray:
    return np.asarray(traj.t if time == "t" else traj.steps)


def plot_singular_values(traj, ax=None, *, product: bool = False, color=None, time: str = "t", label=None, **kwargs):
    """The singular values of each block of the iterate (line style per block: :func:`block_style`;
    ``ls`` in ``kwargs`` is ignored), or with ``product`` of the product the factors stand for,
    against ``t`` (or steps) for every member. Returns the Axes."""
    ax = _axes(ax)
    land = traj.landscape
    series = [product_singular_values(land, traj.x)] if product else block_singular_values(land, traj.x)
    if series[0] is None:
        raise ValueError(f"{land.name} is not a product of factors: it has no product to take singular values of")
    style = dict(ITERATES_STYLE, markersize=2.5, markevery=max(1, len(traj.t) // 30)) if traj.kind == "iterates" \
        else dict(FLOW_STYLE, lw=2.0)
    style.update(kwargs)
    tt = _time(traj, time)
    for b, s in enumerate(series):
        for member in np.ndindex(traj.batch_shape):
            for i in range(s.shape[-1]):
                first = b == 0 and i == 0 and member == next(np.ndindex(traj.batch_shape))
                line, = ax.plot(tt, s[(slice(None), *member, i)], color=color, label=label if first else None,
                                **{**style, "ls": block_style(b)})
                color = line.get_color()
    ax.set_xlabel("time t" if time == "t" else "steps k = t / h")
    ax.set_ylabel("singular values of " + ("the product" if product else "each block"))
    return ax


def plot_projection(traj, ax=None, *, plane=None, color=None, label=None, **kwargs):
    """The path projected on ``plane`` = ``(mean, E)`` (default :func:`path_plane` of this path): the
    coordinates ``(x − mean)·Eᵀ``, every member. Returns the Axes."""
    ax = _axes(ax)
    mean, E = path_plane(traj.x) if plane is None else plane
    xy = (np.asarray(traj.x) - mean) @ E.T
    style = dict(ITERATES_STYLE) if traj.kind == "iterates" else dict(FLOW_STYLE)
    style.update(kwargs)
    for i, member in enumerate(np.ndindex(traj.batch_shape)):
        rows = (slice(None), *member)
        line, = ax.plot(xy[rows][:, 0], xy[rows][:, 1], color=color, label=label if i == 0 else None, **style)
        color = line.get_color()
    ax.set(xlabel="along the 1st principal direction of the paths", ylabel="along the 2nd")
    return ax


def matrix_figure(experiment, *, time: str | None = None, figsize=None) -> Figure:
    """The panels of runs on a matrix landscape: the paths projected on their principal plane (equal
    axes: the projection is orthogonal, so lengths in the plane are true lengths), the loss, the
    singular values of the blocks and, for a factorization, of the product, over time."""
    land = experiment.landscape
    time = time or "t"
    has_product = land.product(np.asarray(land.default_start)) is not None
    fig = Figure(figsize=figsize or (13, 9), layout="constrained")
    grid = fig.add_gridspec(2, 2)
    ax_path, ax_loss = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    # one matrix: no product to show, so its singular values take the whole lower row
    ax_blocks = fig.add_subplot(grid[1, 0] if has_product else grid[1, :])
    ax_product = fig.add_subplot(grid[1, 1]) if has_product else None
    plane = path_plane(*(t.x for t in drawn_records(experiment)))
    offset = _offset(experiment)
    for i, e in enumerate(experiment.entries):
        c, m = COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]
        if e.flow is not None:
            plot_projection(e.flow, ax_path, plane=plane, color=c)
            plot_loss(e.flow, ax_loss, color=c, offset=offset, time=time)
        plot_projection(e.iterates, ax_path, plane=plane, color=c, label=e.optimizer.label, marker=m)
        plot_loss(e.iterates, ax_loss, color=c, offset=offset, time=time, label=entry_note(e), marker=m)
        plot_singular_values(e.iterates, ax_blocks, color=c, time=time, marker=m)
        if has_product:
            plot_singular_values(e.iterates, ax_product, product=True, color=c, time=time, marker=m)
    mean, E = plane
    if len(land.minima):
        mins = (land.minima - mean) @ E.T
        ax_path.scatter(mins[:, 0], mins[:, 1], marker="*", s=160, c="black", zorder=5, label="listed minimum")
    start = (np.atleast_2d(experiment.start).reshape(-1, land.dim) - mean) @ E.T
    ax_path.scatter(start[:, 0], start[:, 1], marker="o", s=70, facecolors="none", edgecolors="black", zorder=6,
                    label="start")
    ax_path.set_aspect("equal", adjustable="datalim")  # the panel keeps its box; the shorter axis gets more range
    if has_product and len(land.minima):
        for s in product_singular_values(land, land.minima[0]):
            ax_product.axhline(s, color="0.3", lw=0.8, ls=":")
    kinds = [Line2D([], [], color="0.3", **{**ITERATES_STYLE, "markeredgecolor": "0.3"}, label="iterates"),
             Line2D([], [], color="0.3", **FLOW_STYLE, label="continuous flow")]
    below(ax_path, handles=ax_path.get_legend_handles_labels()[0] + kinds, ncols=2)
    below(ax_loss, ncols=1)
    shapes = [f"{r}×{c}" for r, c in matrix_blocks(land)]
    ax_path.set_title(textwrap.fill(f"{short_label(land)} (blocks {', '.join(shapes)}): paths on their principal plane",
                                    _TITLE_WIDTH), fontsize=10)  # a long spec is wrapped, not run into the next panel
    ax_loss.set_title("loss", fontsize=10)
    if len(shapes) > 1:  # the line style says which block; colour and marker which optimizer, as elsewhere
        ax_blocks.set_title("singular values of each block (iterates)", fontsize=10)
        below(ax_blocks, handles=[Line2D([], [], color="0.3", ls=block_style(b), label=f"block {b + 1} ({shape})")
                                  for b, shape in enumerate(shapes)], ncols=len(shapes))
    else:
        ax_blocks.set_title(f"singular values of the {shapes[0]} matrix (iterates)", fontsize=10)
        ax_blocks.set_ylabel("singular values")
    if has_product:
        ax_product.set_title("singular values of the product (iterates); dotted: at the listed minimum", fontsize=10)
    return fig


def _offset(experiment) -> float | None:
    """f* for the loss axis, 0 when the listed minimum's value is 0 to rounding (the figure said
    "f* = 3.236e-32", the value of ½‖r‖² at a minimum whose residual r is rounding); as the other
    figures do, f* is shown as its value, so a true f* = 0 reads "f* = 0"."""
    offset = loss_offset(experiment.landscape)
    if offset is None:
        return None
    f0 = experiment.landscape.value(np.atleast_2d(experiment.start).reshape(-1, experiment.landscape.dim))
    scale = float(np.max(np.abs(f0[np.isfinite(f0)]), initial=abs(offset)))
    return 0.0 if abs(offset) <= _ROUNDING * scale else offset

