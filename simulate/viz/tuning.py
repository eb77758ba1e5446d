"""The figure of :func:`simulate.tune`: every optimizer at its tuned settings, and how sharp its optimum is.

Left: each tuned optimizer's iterates and its continuous flow over the contours (as
``simulate plot`` draws them). Top right: f − f* against gradient evaluations (the budget they
share: Heun's steps count twice). Bottom right: the objective against lr per optimizer (the best
over its other hyperparameters at each lr), the tuned lr marked, and under it a bar over the lrs
whose best setting is within the reported share of the optimum (a long bar: a flat optimum).
Under them, one legend for all three: each optimizer with its search's summary, and what the
symbols mean.
"""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..analysis.tune import OBJECTIVES, Tuning
from ..landscapes.base import short_label
from .plotting import (FLOW_STYLE, ITERATES_STYLE, focus_graph, loss_offset, plane_labels, plot_landscape, plot_minima,
                       plot_path, plot_start, pin_to_view)
from .style import COLORS, MARKERS, below, drawn_bounds, drawn_records

__all__ = ["tune_figure"]


def tune_figure(tuning: Tuning, *, figsize=None) -> Figure:
    """Draw a :class:`~simulate.analysis.tune.Tuning` (see the module's docstring)."""
    land = tuning.landscape
    fig = Figure(figsize=figsize or (14, 9.5), layout="constrained")
    grid = fig.add_gridspec(3, 2, width_ratios=[1.1, 1], height_ratios=[1, 1, 0.001])
    ax_path, ax_loss, ax_obj = fig.add_subplot(grid[:2, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 1])
    drawn = [(i, r, run) for i, (r, run) in enumerate(zip(tuning.results, tuning.runs)) if run is not None]
    if drawn:
        combined = dataclasses.replace(drawn[0][2], entries=tuple(e for _, _, run in drawn for e in run.entries))
        region = drawn_bounds(combined)
    else:
        combined, region = None, land.bounds[:2]
    if land.dim <= 2:
        plot_landscape(land, ax_path, bounds=region)
    else:
        xlabel, ylabel = plane_labels(land)
        ax_path.set(xlabel=xlabel, ylabel=ylabel, xlim=region[0], ylim=region[1])
    offset = loss_offset(land)
    for i, r, run in drawn:
        c, m = COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]
        for e in run.entries:
            if e.flow is not None:
                plot_path(e.flow, ax_path, color=c)
            plot_path(e.iterates, ax_path, color=c, marker=m)
            for traj, style in ((e.flow, dict(lw=2.5, alpha=0.6)), (e.iterates, dict(marker=m, markersize=3, lw=0.8))):
                if traj is None:
                    continue
                y = traj.f - offset if offset is not None else traj.f
                k = np.asarray(traj.steps) * r.evaluations_per_step
                k = np.broadcast_to(k.reshape(k.shape + (1,) * (y.ndim - k.ndim)), y.shape).reshape(len(y), -1)
                with np.errstate(invalid="ignore"):
                    y = np.where(y > 0, y, np.nan) if offset is not None else y
                ax_loss.plot(k, y.reshape(len(y), -1), color=c, markevery=max(1, len(y) // 40), **style)
    for i, r in enumerate(tuning.results):
        c, m = COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]
        lr = r.axes[0].values
        profile = np.where(np.isfinite(r.profile("lr")), r.profile("lr"), np.nan)
        ax_obj.plot(lr, profile, color=c, marker=m, markersize=4)
        if r.optimizer is not None:
            ax_obj.plot([r.setting["lr"]], [r.best], color=c, marker="*", markersize=14, markeredgecolor="k")
            lo, hi = r.ranges["lr"]
            ax_obj.plot([lo, hi], [r.best, r.best], color=c, lw=6, alpha=0.35, solid_capstyle="butt")
    plot_minima(land, ax_path)
    plot_start(land, combined.start if combined is not None else tuning.starts[0], ax_path)
    if land.dim == 1 and combined is not None:
        focus_graph(ax_path, land, region, drawn_records(combined))
    ax_loss.set(xlabel="gradient evaluations", ylabel=f"f − f* (f* = {offset:.4g})" if offset is not None else "f",
                yscale="log" if offset is not None else "linear")
    ax_obj.set(xscale="log", xlabel="lr", ylabel=tuning.objective)
    values = np.concatenate([np.ravel(line.get_ydata()) for line in ax_obj.lines] or [np.empty(0)])
    values = values[np.isfinite(values)]  # what is drawn: the best over the other hyperparameters at each lr
    positive = values[values > 0]
    if positive.size and np.all(values >= 0) and positive.max() > 10 * positive.min():
        if positive.size == values.size:
            ax_obj.set_yscale("log")
        else:  # scores of exactly 0 (at the minimum to rounding): log above, linear through 0, not one flat line
            floor = max(float(positive.min()), 1e-16 * float(positive.max()))
            # a power of ten: the linear part's one tick (linthresh) then sits a decade above 0
            ax_obj.set_yscale("symlog", linthresh=10.0 ** np.floor(np.log10(floor)), linscale=1.0)
            ax_obj.set_ylim(0, 2 * float(positive.max()))
    for ax in (ax_loss, ax_obj):
        _floored(ax)
    for ax in fig.axes:
        pin_to_view(ax)
    _legend(fig.add_subplot(grid[2, :]), tuning, ax_path, paths=bool(drawn))
    view = "" if land.dim <= 2 else f" (projected on x₁, x₂ of {land.dim})"
    title = f"{short_label(land)}: each optimizer at its tuned settings{view}"
    ax_path.set_title(textwrap.fill(title, 70), fontsize=10)
    ax_loss.set_title(f"the same budget: {tuning.budget} gradient evaluations each", fontsize=10)
    # wrapped here to fit the panel at the default size and at larger type (restyle re-wraps one-line titles only)
    ax_obj.set_title(textwrap.fill(f"{tuning.objective}: {OBJECTIVES[tuning.objective]}; the mean over "
                                   f"{len(tuning.starts)} start(s), best over the other hyperparameters at each lr",
                                   64), fontsize=9)
    return fig


def _legend(ax_key, tuning: Tuning, ax_path, *, paths: bool = True):
    """One legend for every panel (a legend per panel ran into the next panel): each optimizer with
    its search's summary, then what the symbols mean. It hangs from ``ax_key``, a flat row under
    the panels with no axis, so that the layout makes room for it above a caption (a figure
    legend 'outside lower center' and the caption, a supxlabel, were put in the same place)."""
    rows = [(Line2D([], [], color=COLORS[i % len(COLORS)], marker=MARKERS[i % len(MARKERS)], markersize=5, lw=1.0),
             _row_label(r, tuning.within)) for i, r in enumerate(tuning.results)]
    rows += list(zip(*ax_path.get_legend_handles_labels()))  # the minima and the start
    grey = "0.35"
    if paths:  # without runs (runs=False) no iterates or flows are drawn
        rows += [(Line2D([], [], color=grey, **{**ITERATES_STYLE, "markeredgecolor": grey}), "iterates"),
                 (Line2D([], [], color=grey, **FLOW_STYLE), "continuous flow")]
    rows += [(Line2D([], [], ls="none", marker="*", markersize=12, color=grey, markeredgecolor="k"), "tuned lr"),
             (Line2D([], [], color=grey, lw=6, alpha=0.35, solid_capstyle="butt"),
              f"lrs whose best is within {tuning.within:.0%} of the optimum"),
             (Line2D([], [], color=grey, ls=(0, (4, 4)), lw=1.0),
              "a gap: no finite score at that lr (diverged or never reached tol)")]
    handles, labels = zip(*rows)
    ax_key.axis("off")
    return below(ax_key, offset=0.0, handles=handles, labels=labels, ncols=2)  # restyle can resize it as any below


def _floored(ax) -> None:
    """A log axis no deeper than 1e-16 of its largest value: below that a run has reached the
    minimum to rounding, and denormals (down to 1e-316) would squash every curve into the top."""
    if ax.get_yscale() != "log":
        return
    drawn = np.concatenate([np.ravel(line.get_ydata()) for line in ax.lines] or [np.empty(0)])
    drawn = drawn[np.isfinite(drawn) & (drawn > 0)]
    if drawn.size and drawn.min() < 1e-16 * drawn.max():
        ax.set_ylim(1e-16 * drawn.max(), drawn.max() * 2)


def _row_label(r, within: float) -> str:
    if r.optimizer is None:
        return f"{r.name}: no setting scored finite ({r.steps} steps)"
    note = f"{int(r.near.sum())} of {r.values.size} settings within {within:.0%}"
    if r.ties > 1:
        note += f", {r.ties} tie"
    if r.at_edge:
        note += f", best at the grid's edge in {', '.join(r.at_edge)}"
    return f"{r.optimizer.label} [{r.steps} steps; {note}]"
