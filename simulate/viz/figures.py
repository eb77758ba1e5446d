"""Figure-level compositions of the axes-level plots (runs, ensembles, sweeps, order ladders, rate maps), and
:func:`plot`, the library side of ``simulate plot``."""

from __future__ import annotations

import itertools
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patheffects import Normal, Stroke

from .._checks import checked
from .._signature import Said, public, warn
from ..analysis.ensembles import DEFAULT_PATHS, Ensemble, ensemble, escape_times, gibbs_marginal, moments, relaxed
from ..analysis.averaging import average_label, check_beta
from ..analysis.experiment import (CROWD_ABOVE, DRAWN_PATHS, Experiment, crowd_memory, drawn_sample, run_crowd,
                                   run_experiment, with_lr, with_schedule)
from .heatmaps import below_floor, metric_label, metric_norm, plot_basins, plot_rate_map, plot_sweep, plot_verdicts
from ..analysis.order import OrderStudy
from ..analysis.ratemap import RateMap
from ..analysis.sweep import Sweep, start_coordinates
from ..optimizers import Optimizer, optimizer
from ..landscapes import landscape as get_landscape
from ..solvers.noise import noise as noise_model
from ..solvers.continuous import MAX_SECONDS
from ..solvers.trajectory import check_run_memory, runs_memory
from ..solvers.cost import Estimate, check_time, discrete_seconds, runs_estimate
from ..io.files import save_figure
from ..models import SCALINGS, energy_along
from ..landscapes.base import short_label
from ..landscapes.games import is_game, refuse_game
from . import animation
from .defaults import DEFAULT_LANDSCAPE, DEFAULT_OPTIMIZERS, DEFAULT_STEPS
from .style import (AVERAGE_STYLE, COLORS, MARKERS, below, check_font_scale, drawing_box, drawn_bounds, drawn_records,
                    entry_note, parse_size, restyle, shared_clock)
from .crowd import plot_crowd
from .plotting import (loss_offset, plane_labels, plot_cloud, plot_distance, plot_energy, plot_histogram, plot_identity, plot_landscape, plot_loss, plot_minima,
                       plot_moments, plot_path, plot_sharpness, plot_start, plot_surface, Height,
                       plot_schedule, plot_clipping, plot_order, focus_graph, pin_to_view, ITERATES_STYLE, FLOW_STYLE)

__all__ = ["add_caption", "comparison_figure", "ensemble_figure", "sweep_figure", "FacetWarning", "MAX_PANELS", "order_figure",
           "rate_map_figure", "plot", "PlotResult", "default_optimizers", "DEFAULT_OPTIMIZERS", "DEFAULT_LANDSCAPE"]

# The figure `simulate plot` draws with no arguments: three methods, each visibly following (or
# circling) its own flow into one of Himmelblau's four minima.


def comparison_figure(experiment: Experiment, *, time: str | None = None, sharpness: bool = False,
                      energy: bool = False, three_d: bool = False, box=None, figsize=None) -> Figure:
    """Left: paths over the contours (iterates as markers, flows as curves, same colour per
    optimizer; with the experiment's ``ema``, the moving average of each optimizer's iterates dashed
    in its colour). Right: loss against time for all of them (on a game, the distance to the
    equilibrium); with ``sharpness``, λmax(∇²f) along the runs
    with each optimizer's stability threshold; with ``energy``, each flow's Lyapunov energy. ``time``
    is ``"t"`` or ``"steps"``; by default ``"t"`` when every optimizer has the same time per step.
    ``three_d``: the paths on the surface of f (log-lifted, :class:`~simulate.plotting.Height`)
    instead of over its contours (2-D landscapes). ``box``: the region drawn (:func:`drawing_box`)."""
    land = experiment.landscape
    if land.matrix_shapes is not None:  # a point of matrices: its own views, not contours of two coordinates
        from .matrix import matrix_figure

        return matrix_figure(experiment, time=time, figsize=figsize)
    region = drawn_bounds(experiment, box)
    scheduled = any(e.optimizer.schedule is not None for e in experiment.entries)
    extra = int(sharpness) + int(energy) + int(scheduled)
    fig = Figure(figsize=figsize or (13, 5.5 + 2.5 * extra), layout="constrained")
    grid = fig.add_gridspec(1 + extra, 2, width_ratios=[1.15, 1])
    ax_path = fig.add_subplot(grid[:, 0], projection="3d" if three_d else None)
    ax_loss = fig.add_subplot(grid[0, 1])
    ax_sched = fig.add_subplot(grid[1, 1], sharex=ax_loss) if scheduled else None
    ax_sharp = fig.add_subplot(grid[1 + int(scheduled), 1], sharex=ax_loss) if sharpness else None
    ax_energy = fig.add_subplot(grid[1 + int(scheduled) + int(sharpness), 1], sharex=ax_loss) if energy else None
    height = None
    if three_d:
        height = Height(land, region)
        plot_surface(land, ax_path, height=height)
    elif land.dim <= 2:
        plot_landscape(land, ax_path, bounds=region)
    else:  # no contours of a d-dimensional function; its paths projected on (x₁, x₂)
        xlabel, ylabel = plane_labels(land)
        ax_path.set(xlabel=xlabel, ylabel=ylabel, xlim=region[0], ylim=region[1])
    if time is None:  # t when the optimizers share one clock (one h, or the same step sizes) and a flow uses it
        ts = [np.asarray(e.iterates.t) for e in experiment.entries]
        same = all(t.shape == ts[0].shape and np.array_equal(t, ts[0]) for t in ts)
        modelled = any(e.flow is not None for e in experiment.entries)
        time = "t" if modelled and (shared_clock(experiment) is not None or same) else "steps"
    offset = loss_offset(land)
    game = is_game(land)
    if experiment.crowd is not None:  # many starts: a density under the drawn sample, the loss as bands
        plot_crowd(experiment.crowd, ax_path, None if game else ax_loss, offset=offset, time=time)
    for i, e in enumerate(experiment.entries):
        c, m = COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]
        if e.flow is not None:
            plot_path(e.flow, ax_path, color=c, label=None, height=height)
        plot_path(e.iterates, ax_path, color=c, label=e.optimizer.label, height=height, marker=m)
        if e.optimizer.clip_norm is not None or e.optimizer.clip_value is not None:
            plot_clipping(e.iterates, ax_path, color=c, height=height)
        if game:  # the Hamiltonian ½|ξ|² is recorded as f; the distance to the target says more
            if e.flow is not None:
                plot_distance(e.flow, ax_loss, color=c, time=time)
            plot_distance(e.iterates, ax_loss, color=c, time=time, label=entry_note(e), marker=m)
        elif experiment.crowd is None:  # a crowd's loss is its bands
            if e.flow is not None:
                plot_loss(e.flow, ax_loss, color=c, offset=offset, time=time)
                plot_identity(e.flow, ax_loss, color=c, offset=offset, time=time, zorder=3)  # where the model predicts df/dt
            plot_loss(e.iterates, ax_loss, color=c, offset=offset, time=time, label=entry_note(e), marker=m)
        if experiment.ema is not None:  # the average of the same iterates: dashed, thinner, same colour
            avg = experiment.averages[i]
            plot_path(avg, ax_path, color=c, label=f"{e.optimizer.label} {average_label(experiment.ema)}", height=height,
                      **AVERAGE_STYLE)
            name = f"{e.optimizer.short_name} {average_label(experiment.ema)}"
            if game:
                plot_distance(avg, ax_loss, color=c, time=time, label=name, **AVERAGE_STYLE)
            else:
                plot_loss(avg, ax_loss, color=c, offset=offset, time=time, label=name, **AVERAGE_STYLE)
        if ax_sched is not None:
            plot_schedule(e.iterates, ax_sched, color=c, time=time, ls=("-", "--", ":", "-.")[i % 4], lw=1.5 + (i == 0),
                          label=f"{e.optimizer.short_name}: {e.optimizer.schedule.spec if e.optimizer.schedule else 'constant'}")
        if ax_sharp is not None:
            plot_sharpness(e.iterates, ax_sharp, color=c, time=time, label=e.optimizer.short_name)
        if ax_energy is not None and e.flow is not None:
            E, name = energy_along(e.flow)
            if E is not None:
                plot_energy(e.flow, ax_energy, color=c, time=time, label=f"{e.optimizer.short_name}: {name}")
    if ax_sched is not None:
        ax_sched.set_title("learning rate of each step (the schedule; t_k is the sum of the steps)", fontsize=10)
    for ax in (ax_sched, ax_sharp, ax_energy):
        if ax is not None and ax.get_legend_handles_labels()[0]:
            below(ax, fontsize=7)
    if ax_energy is not None and not ax_energy.lines:
        ax_energy.text(0.5, 0.5, "no known Lyapunov energy for these flows", ha="center", va="center",
                       transform=ax_energy.transAxes)
    if ax_sharp is not None:
        ax_sharp.set_title("sharpness of the iterates; dashed: the stability threshold", fontsize=10)
    if ax_energy is not None:
        ax_energy.set_title("Lyapunov energy of each flow (non-increasing)", fontsize=10)
    plot_minima(land, ax_path, height=height)
    plot_start(land, experiment.start, ax_path, height=height)
    if three_d:  # the surface's box, not the extent of what was drawn on it
        ax_path.set(xlim=region[0], ylim=region[1])
    if not game:
        _focus_loss_axis(ax_loss, experiment, offset)
    if land.dim == 1 and not three_d:
        focus_graph(ax_path, land, region, drawn_records(experiment))
    for ax in fig.axes:  # the crosses of diverged members at the edge of the final view
        pin_to_view(ax)
    kinds = [Line2D([], [], color="0.3", **{**ITERATES_STYLE, "markeredgecolor": "0.3"}, label="iterates (discrete map)")]
    if _flow_names(experiment):
        kinds.append(Line2D([], [], color="0.3", **FLOW_STYLE, label=f"continuous flow ({_flow_names(experiment)})"))
    if experiment.ema is not None:
        kinds.append(Line2D([], [], color="0.3", **AVERAGE_STYLE, label="EMA of the iterates: z̄ₖ = β·z̄ₖ₋₁ + (1−β)·zₖ"))
    handles = ax_path.get_legend_handles_labels()[0] + kinds
    # Below each panel, outside it: inside, wherever it went, some path or curve ran under it (and
    # in 3-D it covered the x₁ ticks or the surface). The constrained layout makes room for it.
    below(ax_path, handles=handles, ncols=1 if len(handles) > 4 and not three_d else 2, offset=0.0 if three_d else None)
    below(ax_loss, ncols=1)
    view = "" if land.dim <= 2 else f" (projected on x₁, x₂ of {land.dim})"
    what = "iterates and the flows they discretize" if _flow_names(experiment) else "iterates (no continuous model)"
    ax_path.set_title(f"{short_label(land)}: {what}{view}", fontsize=10)
    ax_loss.set_title(f"{'distance' if game else 'loss'}{_solver_title(experiment)}", fontsize=10)
    return fig


def _solver_title(experiment: Experiment) -> str:
    """How the flows were solved, for the loss title: the smooth ones by the experiment's method and
    rtol; a line for the discontinuous (Filippov) ones, which :func:`simulate.solvers.continuous.integrate`
    regularizes and solves with its own method and rtol (recorded in each flow's stats)."""
    flows = [e.flow for e in experiment.entries if e.flow is not None]
    stats = [f.stats for f in flows if "filippov" in f.stats]
    smooth = len(flows) - len(stats)
    out = (f"; flow{'s' * (smooth > 1)} by {experiment.method} (rtol {experiment.rtol:g})" if smooth else "")
    if not stats:
        return out
    delta = max(float(np.nanmax(s["smoothing"])) for s in stats)
    errors = [float(np.nanmax(s["smoothing_error"])) for s in stats]
    error = ("error not estimated" if not np.all(np.isfinite(errors))
             else "the δ and 2δ solves agree to rounding" if max(errors) == 0
             else f"estimated error ≤ {max(errors):.1e}")
    which = "1 flow is Filippov" if len(stats) == 1 else f"{len(stats)} flows are Filippov"
    return out + "\n" + textwrap.fill(f"{which}: switches regularized to width δ ≤ {delta:.2g}, {stats[0]['method']} "
                                      f"(rtol {stats[0]['rtol']:g}), {error}", 75)


def add_caption(fig: Figure, text: str | None, width: int = 140) -> Figure:
    """Print ``text`` under the figure (a demo's "what to look at"), wrapped to ``width`` characters."""
    if text:
        fig.supxlabel("\n".join(textwrap.wrap(" ".join(text.split()), width)), fontsize=9, ha="center",
                      style="italic", color="0.2", parse_math=False)  # text, not mathtext: any $ is kept
    return fig


def ensemble_figure(ens: Ensemble, *, box=None, figsize=None) -> Figure:
    """Top left: each optimizer's paths as a cloud over the contours, with its deterministic flow.
    Right: mean ± one standard deviation of x₁ (and x₂) against time, the iterates as a band and
    the SDE's paths as dashed mean and edges. Bottom left: the stationary histogram of x₁ (the last
    half of the horizon, pooled), filled for the iterates and outlined for the SDE, against the Gibbs
    marginal ∝ exp(−f/T) where the noise defines a temperature T. ``box``: the region of the paths'
    panel (:func:`drawing_box`; in 1-D the range of x)."""
    land = ens.landscape
    d = land.dim
    fig = Figure(figsize=figsize or (13, 9), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=[1.15, 1])
    ax_path, ax_hist = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0])
    ax_m = [fig.add_subplot(grid[0, 1])]
    ax_m.append(fig.add_subplot(grid[1, 1], sharex=ax_m[0]))  # x₂, or in 1-D the mean loss
    region = land.bounds[:2] if box is None else drawing_box(land, box)
    if d == 2:
        plot_landscape(land, ax_path, bounds=region)
    elif d > 2:  # paths projected on (x₁, x₂); 1-D paths are drawn against t (plot_cloud)
        xlabel, ylabel = plane_labels(land)
        ax_path.set(xlabel=xlabel, ylabel=ylabel, xlim=region[0], ylim=region[1])
    gibbs_drawn = False
    for i, e in enumerate(ens.entries):
        c = COLORS[i % len(COLORS)]
        name = e.optimizer.short_name
        plot_cloud(e.iterates, ax_path, color=c, label=f"{e.optimizer.label}: {ens.paths} paths")
        flow_style = dict(color=c, lw=2.0, zorder=5, path_effects=[Stroke(linewidth=3.5, foreground="white"), Normal()])
        if e.flow is not None and d >= 2:
            ax_path.plot(e.flow.x[:, 0], e.flow.x[:, 1], **flow_style)
        elif e.flow is not None:
            ax_path.plot(e.flow.t, e.flow.x[:, 0], **flow_style)
        for k, ax in enumerate(ax_m if d >= 2 else ax_m[:1]):
            plot_moments(moments(e.iterates), ax, coordinate=k, color=c, label=f"{name}: iterates")
            if e.sde is not None:
                plot_moments(moments(e.sde), ax, coordinate=k, color=c, band=False, ls="--", label=f"{name}: SDE")
        if d == 1:
            for traj, ls in ((e.iterates, "-"), (e.sde, "--")):
                if traj is not None:
                    ax_m[1].plot(moments(traj).t, np.nanmean(traj.f, axis=1), color=c, ls=ls)
        plot_histogram(ens.stationary(e.iterates), ax_hist, color=c, label=f"{name}: iterates{_fates(e.iterates, e.home)}")
        if e.sde is not None:
            plot_histogram(ens.stationary(e.sde), ax_hist, color=c, filled=False, label=f"{name}: SDE{_fates(e.sde, e.home)}")
    lo, hi = ax_hist.get_xlim()  # every Gibbs curve normalized over the same range: the histograms'
    for i, e in enumerate(ens.entries):
        T = e.temperature
        if T is not None and d <= 2:
            grid_x, density = gibbs_marginal(land, T, bounds=_widened(land.bounds, lo, hi), opt=e.optimizer)
            label = f"{e.optimizer.short_name}: Gibbs, T = {T:.3g}{_equilibrium(ens, e)}"
            ax_hist.plot(grid_x, density, color=COLORS[i % len(COLORS)], lw=1.2, ls=":", label=label)
            gibbs_drawn = True
    ax_hist.set_xlim(lo, hi)
    if d >= 2:
        plot_minima(land, ax_path)
    plot_start(land, ens.start, ax_path) if d >= 2 else None
    if d == 1 and box is not None:
        ax_path.set_ylim(*region[0])
    below(ax_path, fontsize=8)
    with_sde = any(e.sde is not None for e in ens.entries)
    for k, ax in enumerate(ax_m if d >= 2 else ax_m[:1]):
        ax.set_ylabel(f"x{'₁₂'[k]}: mean ± std")
        ax.set_title(f"x{'₁₂'[k]} over the paths: iterates (band)" + (" and SDE (dashed)" if with_sde else ""),
                     fontsize=10)
    if d == 1:
        ax_m[1].set(xlabel="time t", ylabel="mean f over the paths",
                    title="mean loss: iterates (solid)" + (", SDE (dashed)" if with_sde else ""))
    below(ax_m[0], fontsize=7)
    below(ax_hist, fontsize=7)
    sde_text = (f"SDE: {ens.drift} drift, {ens.scheme}, {ens.substeps} substeps per step"
                if with_sde else "no SDE model for these optimizers")
    ax_path.set_title(f"{short_label(land)}, noise {ens.noise.description}, seed {ens.seed}: paths and flows",
                      fontsize=10)
    ax_hist.set_title("x₁ over the run's last half (stationary once relaxed)"
                      + ("; dotted: Gibbs ∝ exp(−f/T), t → ∞" if gibbs_drawn else ""), fontsize=10)
    fig.suptitle(sde_text, fontsize=9)
    return fig


def _fates(traj, home) -> str:
    """Legend text: how many paths reached a listed minimum other than the flow's (``home``), and
    how many diverged."""
    parts = []
    if len(traj.landscape.minima) >= 2:
        n = int(np.isfinite(escape_times(traj, home=home)).sum())
        parts.append(f"{n} of {traj.x.shape[1]} reached another minimum than the flow's")
    diverged = int(np.sum(traj.diverged_at >= 0))
    if diverged:
        parts.append(f"{diverged} diverged")
    if relaxed(traj) is False:
        parts.append("still relaxing")
    return f" ({'; '.join(parts)})" if parts else ""


def _equilibrium(ens, e) -> str:
    """Legend text where the Gibbs law is out of reach: escapes take far longer than the run."""
    time, _ = ens.kramers(e) if len(ens.landscape.minima) == 2 else (None, "")
    horizon = float(np.max(e.iterates.t))
    return f"; wells equalize after t ~ {time:.2g} ≫ {horizon:.3g}" if time is not None and time > 10 * horizon else ""


def _widened(bounds, lo: float, hi: float) -> np.ndarray:
    """The plot box with its first axis stretched to the histogram's range."""
    box = np.array(bounds, dtype=np.float64)
    box[0] = [min(box[0, 0], lo), max(box[0, 1], hi)]
    return box


# Below this fraction of the initial gap f(x0) − f*, a log loss axis shows solver tolerance and
# rounding (an rtol-1e-8 flow floors near 1e-17), not dynamics.
LOSS_FLOOR = 1e-12


def _focus_loss_axis(ax, experiment, offset) -> None:
    """Scale the loss axis to the members that did not diverge, and cut a log axis at LOSS_FLOOR
    of the initial gap. Only the view changes; the data are complete in the records."""
    kept = []
    for i, e in enumerate(experiment.entries):
        for traj in (t for t in (e.iterates, e.flow, *experiment.averages[i:i + 1]) if t is not None):
            f = traj.f[:, ~traj.diverged] if traj.batch_shape else (traj.f if not traj.diverged else traj.f[:0])
            kept.append(np.ravel(f - (offset or 0.0)))
    values = np.concatenate(kept)
    values = values[np.isfinite(values) & ((values > 0) if offset is not None else True)]
    if not values.size:
        return
    if offset is not None:
        start = float(np.max(np.ravel(experiment.entries[0].iterates.f[0]))) - offset
        ax.set_ylim(max(values.min(), LOSS_FLOOR * start) / 2, values.max() * 2)
    elif any(t.diverged.any() for t in drawn_records(experiment)):
        pad = 0.05 * (values.max() - values.min() or 1.0)
        ax.set_ylim(values.min() - pad, values.max() + pad)


def _flow_names(experiment: Experiment) -> str:
    kinds = list(dict.fromkeys(e.flow_kind for e in experiment.entries if e.flow is not None))
    return "exact lift" if kinds == ["exact"] else ", ".join(kinds)



@dataclass(frozen=True, eq=False)
class PlotResult:
    """What :func:`plot` returns: the numbers and the figure drawn from them."""

    experiment: Experiment | Ensemble  # an Ensemble when the gradients were noisy
    figure: Figure
    box: np.ndarray | None = None      # the region drawn, when one was asked for

    def __repr__(self) -> str:
        return f"PlotResult({self.experiment!r}, a figure of {len(self.figure.axes)} panels)"

    # In a notebook, the result shows as its figure (simulate.viz.display); the text stays the repr above.
    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        from .inline import figure_bundle

        return figure_bundle(self.figure, repr(self), close=False)

    def _repr_png_(self) -> bytes:
        from .inline import figure_png

        return figure_png(self.figure, close=False)

    def _repr_html_(self) -> str:
        return self._repr_mimebundle_()["text/html"]

    def save(self, path, *, data=None, dpi: int = 150):
        """Write the figure (png, svg, pdf) and, with ``data``, the arrays (npz); atomically."""
        written = [save_figure(self.figure, path, dpi=dpi)]
        if data is not None:
            written.append(self.experiment.save(data))
        return written

    def animate(self, path, **options):
        """Write the animation of these runs over the same region (:func:`simulate.animation.animate`)."""
        return animation.animate(self.experiment, path, **{"box": self.box, **options})


def default_optimizers(lr: float | None = None) -> list[Optimizer]:
    """The default optimizers; with ``lr`` they all take that learning rate instead of their own."""
    return [optimizer(name, **{**params, **({} if lr is None else {"lr": lr})}) for name, params in DEFAULT_OPTIMIZERS]


@public
@checked
def plot(landscape=DEFAULT_LANDSCAPE, optimizers: Sequence | None = None, start=None, steps: int = DEFAULT_STEPS,
         *, random_starts: int = 0, lr: float | None = None, flow: str | None = None, method: str = "LSODA", rtol: float = 1e-8,
         atol: float = 1e-10, time: str | None = None, sharpness: bool = False, energy: bool = False,
         noise=None, batch_size: int | None = None, paths: int = DEFAULT_PATHS, seed: int = 0,
         scheme: str = "euler-maruyama", substeps: int = 10, three_d: bool = False, box=None,
         caption: str | None = None, schedule=None, clip_norm=None, clip_value=None, lr_scale=None,
         ema=None, max_evaluations: int | None = None, figsize=None, font_scale: float = 1.0,
         max_seconds: float | None = MAX_SECONDS) -> PlotResult:
    """Run ``optimizers`` on ``landscape`` from ``start`` both as discrete maps and as flows, and draw them.

    The library side of ``simulate plot``: same names, same defaults. ``optimizers=None`` is
    :data:`DEFAULT_OPTIMIZERS`, whose own learning rates give way to ``lr`` when it is given.

    With ``noise`` (or ``batch_size`` on a finite-sum landscape) the gradients are stochastic: each
    optimizer runs ``paths`` times from one start, beside its SDE (whose drift is the model ``flow``;
    stepped by ``scheme`` with ``substeps`` per step) and its flow
    (:func:`simulate.ensembles.ensemble`), and the figure is :func:`ensemble_figure`; the result's
    ``experiment`` is then an :class:`~simulate.ensembles.Ensemble`. ``three_d``: the paths on the
    surface of f (2-D landscapes, exact gradients). ``random_starts``: instead of ``start``, this many
    starts drawn uniformly in the landscape's plot box with ``seed``. More than
    :data:`~simulate.analysis.experiment.CROWD_ABOVE` starts (random or given) are drawn as a crowd: every
    start's iterates run (in chunks of bounded memory) and are drawn as a density under a seeded sample of
    :data:`~simulate.analysis.experiment.DRAWN_PATHS` paths, the only ones whose flows are integrated, and
    the loss as quantile bands (``experiment.crowd``; one line, a :class:`~simulate.analysis.experiment.Thinned`
    warning, says what was thinned). ``box``: the region drawn, pairs (low, high)
    for x₁ and x₂ or ``"lo:hi,lo:hi"`` (one pair in 1-D; default the landscape's plot box).
    ``schedule`` (``"cosine(warmup=10)"``, a :class:`~simulate.optimizers.schedules.Schedule`) goes to every
    optimizer without one of its own; the figure then adds a panel of the step sizes and the flows
    run on the schedule's clock. ``clip_norm``, ``clip_value`` and ``lr_scale`` put gradient
    transforms in front of every optimizer without its own (:mod:`simulate.optimizers.transforms`); where a
    clip was active the iterates are ringed. ``caption``: a sentence printed under the figure (:func:`add_caption`). The result's
    :meth:`PlotResult.animate` writes the animation of the same runs. ``ema``: a β in [0, 1); each
    optimizer's exponential moving average of its iterates, z̄ₖ = β·z̄ₖ₋₁ + (1−β)·zₖ
    (:func:`simulate.averaging.ema`), is drawn dashed beside them in both panels (and in the 3-D
    view and the animation), carried by the experiment (``experiment.averages``) and exported with
    it. Exact gradients only: with noise it is refused. ``max_evaluations`` bounds each flow's field
    evaluations and ``max_seconds`` its wall time (:data:`~simulate.solvers.continuous.MAX_SECONDS` by
    default, None for no bound); a flow stopped by either (or by any solver failure) is said as a
    :class:`~simulate.analysis.experiment.FlowWarning`, one line per member, and marked in the figure.
    ``figsize`` (inches: a pair or ``"8x4.5"``) and ``font_scale`` (every text times it): a figure for
    slides (:func:`~simulate.viz.style.restyle`).
    """
    x0 = start
    figsize, font_scale = parse_size(figsize, name="figsize"), check_font_scale(font_scale)
    if optimizers is None:
        optimizers, lr = default_optimizers(lr), None
    if any(v is not None for v in (schedule, clip_norm, clip_value, lr_scale)):
        optimizers, lr = with_schedule(with_lr(optimizers, lr), schedule, clip_norm=clip_norm, clip_value=clip_value,
                                       lr_scale=lr_scale), None
    land = get_landscape(landscape)
    if random_starts:
        if x0 is not None:
            raise ValueError("give either start points or random_starts, not both")
        landscape, x0 = land, land.sample(int(random_starts), seed=seed)
    if three_d and land.dim != 2:  # checked before any work
        raise ValueError(f"the 3-D view needs a 2-D landscape; {land.name} is {land.dim}-D")
    if sharpness:
        refuse_game(land, "the sharpness panel (λmax(∇²f) against 2/lr)")
    if box is not None:
        box = drawing_box(land, box)
    if ema is not None:
        ema = check_beta(ema)
    model = noise_model(noise, batch_size=batch_size)
    if model is not None:
        if sharpness or energy or time is not None or three_d:
            raise ValueError("the sharpness and energy panels, the time axis and the 3-D view belong to the figure "
                             "of exact gradients; with noise the figure shows the ensemble against t")
        if ema is not None:
            raise ValueError("ema: the averaged path is drawn on the figure of exact gradients; with noise "
                             "(--noise, --batch-size) the figure is an ensemble of paths, and averaging it is not supported")
        check_time(runs_estimate(with_lr(optimizers, lr), landscape, x0, int(steps), flow=flow, method=method, rtol=rtol,
                                 paths=int(paths), substeps=int(substeps)), "fewer --steps, --paths or --substeps")
        ens = ensemble(landscape, with_lr(optimizers, lr), x0, steps, noise=model, paths=paths, seed=seed, drift=flow,
                       scheme=scheme, substeps=substeps, method=method, rtol=rtol, atol=atol,
                       max_evaluations=max_evaluations, max_seconds=max_seconds)
        figure = add_caption(ensemble_figure(ens, box=box, figsize=figsize), caption)
        return PlotResult(ens, restyle(figure, font_scale=font_scale), box)
    names = list(optimizers) if isinstance(optimizers, (list, tuple)) else [optimizers]
    batch = int(np.prod(np.shape(x0)[:-1])) if x0 is not None and np.ndim(x0) > 1 else 1
    crowded = batch > CROWD_ABOVE  # then a sample is drawn (and integrated) in full, every start reduced
    check_run_memory(runs_memory(names, int(steps) + 1, DRAWN_PATHS if crowded else batch, land.dim,
                                 flow_samples=int(steps) * max(1, math.ceil(400 / max(int(steps), 1))) + 1)
                     + (crowd_memory(batch, steps, land.dim, len(names)) if crowded else []),
                     "fewer --steps or fewer starts")
    # a crowd integrates the flows of its drawn sample only, and runs every start's iterates
    drawn = None if not crowded else np.asarray(x0)[drawn_sample(batch, seed)]
    estimate = runs_estimate(with_lr(optimizers, lr), landscape, x0 if drawn is None else drawn, int(steps), flow=flow,
                             method=method, rtol=rtol, max_evaluations=max_evaluations)
    if crowded:
        estimate += Estimate(((f"every start's iterates ({len(names)} x {batch} x {steps} steps)",
                               discrete_seconds(len(names) * batch, int(steps))),))
    check_time(estimate, "fewer --steps or fewer starts")
    crowd = run_crowd(landscape, optimizers, x0, steps, lr=lr, flow=flow, seed=seed, region=box) if crowded else None
    experiment = run_experiment(landscape, optimizers, x0 if crowd is None else crowd.starts[crowd.drawn], steps,
                                lr=lr, flow=flow, method=method, rtol=rtol, atol=atol,
                                max_evaluations=max_evaluations, max_seconds=max_seconds)
    panels = tuple(name for name, wanted in (("sharpness", sharpness), ("energy", energy)) if wanted)
    experiment = replace(experiment, panels=panels, ema=ema, crowd=crowd)  # what --data exports besides the runs
    experiment.warn_flow_failures()  # one line per member whose flow stopped early (the figure marks it too)
    figure = comparison_figure(experiment, time=time, sharpness=sharpness, energy=energy, three_d=three_d, box=box,
                               figsize=figsize)
    return PlotResult(experiment, restyle(add_caption(figure, caption), font_scale=font_scale), box)


#: The most panels :func:`sweep_figure` draws for a sweep of more than two axes (members times
#: combinations of the other axes' values): beyond it, evenly spaced values of those axes, said in
#: the figure and on the terminal. Sixteen heat maps still read at a glance (a 4 × 4 grid).
MAX_PANELS = 16


class FacetWarning(Said):
    """A sweep figure that draws evenly spaced values of the axes it facets over, not all of them
    (the data hold every cell)."""


def sweep_figure(sweep: Sweep, metric: str | None = None, *, x: str | None = None, y: str | None = None,
                 theory: bool = True, figsize=None, max_panels: int | None = MAX_PANELS, norm=None) -> Figure:
    """A sweep drawn whole: a 1-D grid as one panel with a line per member; a 2-D grid as one heat
    map per member on a shared colour scale (the basins of attraction, for ``metric="minimum"``);
    a grid of more axes as facets: one heat map per member and combination of the other axes'
    values, each titled with them, on one colour scale.

    ``x``, ``y``: the axes drawn across and up (default: the first two; over more than two axes
    with exactly two start coordinates among them, those two, so that every panel is a map of the
    plane). ``max_panels``: the most panels of a faceted figure (None: :data:`MAX_PANELS`); beyond it, evenly spaced values
    of the faceted axes (the first and last included) are drawn, and the figure and a
    :class:`FacetWarning` say so. ``metric`` defaults to ``minimum`` where the drawn axes are two
    start coordinates, else ``final_loss`` (on a game ``verdict``: converged, cycling or spiralling
    out; its ½|ξ|² says little). ``norm``: the colour scale of the heat maps (default: over the cells
    drawn); a slider over a sweep's other axes passes the whole sweep's, so that colours compare.
    """
    x, y = drawn_names(sweep, x, y)
    coords = start_coordinates(sweep.landscape)
    start_axes = y is not None and x in coords and y in coords
    basins = start_axes and len(sweep.landscape.minima) > 0
    metric = metric or default_metric(sweep, x, y)
    sweep.metric(metric)  # an unknown metric fails here, with the valid ones
    label = short_label(sweep.landscape)
    title = f"{label}, {sweep.steps} steps from {_start_text(sweep)}"
    if "noise" in sweep.stats:  # every cell is one noisy path
        title += f", one path per cell with {noise_model(sweep.stats['noise']).description} (seed {sweep.stats['seed']})"
    # Members with nothing to draw (the flow's endpoints have no flow_distance, no verdict) are left out.
    drawn = [i for i in range(len(sweep.members)) if _has_values(sweep, metric, i)] or list(range(len(sweep.members)))
    if len(sweep.axes) == 1:
        fig = Figure(figsize=figsize or (8, 5), layout="constrained")
        ax = fig.add_subplot()
        if metric == "verdict":  # a row of cells per member
            plot_verdicts(sweep, drawn, ax)
        else:
            for i in drawn:
                plot_sweep(sweep, metric, i, ax, theory=theory, color=COLORS[i % len(COLORS)])
            below(ax, fontsize=7)
        ax.set_title(f"{metric_label(sweep, metric)} against {sweep.axes[0].name}: {title}", fontsize=10)
        return fig
    what = "basins of attraction" if metric == "minimum" else metric_label(sweep, metric)
    if start_axes and not basins:
        what += f" ({sweep.landscape.name} lists no minima: no basins to draw)"
    if len(sweep.axes) > 2:
        return _facets(sweep, metric, drawn, x, y, theory=theory, figsize=figsize, max_panels=max_panels,
                       title=f"{what}: {title}", norm=norm)
    n = max(len(drawn), 1)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig = Figure(figsize=figsize or (5.2 * cols + 1, 4.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    if metric in ("minimum", "verdict"):
        norm = None
    elif norm is None:
        norm = metric_norm(sweep, metric, drawn)
    for ax, i in zip(axes, drawn):
        if metric == "minimum":
            plot_basins(sweep, i, ax, x=x, y=y)
        else:
            plot_sweep(sweep, metric, i, ax, theory=theory, norm=norm, colorbar=i == drawn[-1], x=x, y=y)
    for ax in axes[len(drawn):]:
        ax.set_visible(False)
    fig.suptitle(f"{what}: {title}", fontsize=11)
    return fig


def default_metric(sweep: Sweep, x: str, y: str | None) -> str:
    """What :func:`sweep_figure` draws unless told: the basins where the drawn axes are two start
    coordinates and the landscape lists minima, a game's verdicts, else the final loss."""
    coords = start_coordinates(sweep.landscape)
    if y is not None and x in coords and y in coords and len(sweep.landscape.minima) > 0:
        return "minimum"
    return "verdict" if is_game(sweep.landscape) and "verdict" in sweep.metrics else "final_loss"


def drawn_names(sweep: Sweep, x: str | None, y: str | None) -> tuple[str, str | None]:
    """The names of the axes drawn across and up (y None for a 1-D sweep, drawn as lines), checked."""
    names = [a.name for a in sweep.axes]
    for name in (x, y):
        if name is not None:
            sweep.axis(name)  # an unknown name suggests the axes there are
    if len(names) == 1:
        if y is not None:
            raise ValueError(f"a sweep of one axis ({names[0]}) is drawn as lines against it: give no y")
        return names[0], None
    if x is not None and x == y:
        raise ValueError(f"x and y are both {x}: give two different axes of {', '.join(names)}")
    if x is None and y is None:
        # two start coordinates: the plane, its first coordinate across whatever order they were given in
        index = start_coordinates(sweep.landscape)
        coords = sorted((n for n in names if n in index), key=index.get)
        return tuple(coords) if len(coords) == 2 else (names[0], names[1])
    x = x if x is not None else next(n for n in names if n != y)
    return x, (y if y is not None else next(n for n in names if n != x))


def _facet_values(sweep: Sweep, facets: list, members: int, max_panels: int) -> dict[str, np.ndarray]:
    """Positions drawn along each faceted axis: all of them, or, where ``members`` times their
    combinations exceed ``max_panels``, evenly spaced ones (first and last kept), the longest axis
    thinned first."""
    if isinstance(max_panels, bool) or not isinstance(max_panels, (int, np.integer)) or max_panels < 1:
        raise ValueError(f"max_panels must be a whole number >= 1, got {max_panels!r}")
    picks = {a.name: np.arange(len(a)) for a in facets}
    budget = max(1, max_panels // max(members, 1))  # every member keeps a panel at least
    while math.prod(len(p) for p in picks.values()) > budget:
        name = max(picks, key=lambda n: len(picks[n]))
        total = math.prod(len(p) for p in picks.values())
        keep = max(1, min(len(picks[name]) - 1, len(picks[name]) * budget // total))
        n = len(sweep.axes[sweep.axis(name)])
        picks[name] = np.unique(np.linspace(0, n - 1, keep).round().astype(int))
    return picks


def _facets(sweep: Sweep, metric: str, drawn: list[int], x: str, y: str, *, theory: bool, figsize, max_panels: int,
            title: str, norm=None) -> Figure:
    """A sweep of more than two axes: a heat map of ``x`` and ``y`` per member and combination of the
    other axes' values (each panel a slice, :meth:`Sweep.isel`), one colour scale over all panels."""
    facets = [a for a in sweep.axes if a.name not in (x, y)]
    max_panels = MAX_PANELS if max_panels is None else max_panels
    picks = _facet_values(sweep, facets, len(drawn), max_panels)
    thinned = {a.name: (len(picks[a.name]), len(a)) for a in facets if len(picks[a.name]) < len(a)}
    shown = sweep.isel({name: list(p) for name, p in picks.items() if name in thinned})
    facets = [shown.axes[shown.axis(a.name)] for a in facets]
    combos = list(itertools.product(*(range(len(a)) for a in facets)))
    last = len(facets[-1])
    cols = min(len(combos), last if last <= 4 else 3)  # a notebook cell is ~860 px wide: at most four across
    per_member = -(-len(combos) // cols)
    rows = per_member * len(drawn)
    fig = Figure(figsize=figsize or (4.2 * cols + 1.2, 3.7 * rows + 1.0), layout="constrained")
    grid = fig.subplots(rows, cols, squeeze=False)
    if metric in ("minimum", "verdict"):
        norm = None
    elif norm is None:
        norm = metric_norm(shown, metric, drawn)
    used = []
    for b, i in enumerate(drawn):
        for p, combo in enumerate(combos):
            ax = grid[b * per_member + p // cols, p % cols]
            panel = shown.isel({a.name: j for a, j in zip(facets, combo)})
            if metric == "minimum":
                plot_basins(panel, i, ax, x=x, y=y)
            else:
                plot_sweep(panel, metric, i, ax, theory=theory, norm=norm, colorbar=False, x=x, y=y)
            where = ", ".join(f"{a.name} = {a.values[j]:.4g}" for a, j in zip(facets, combo))
            ax.set_title(f"{_wrapped_label(sweep.members[i])}\n{where}", fontsize=9)
            used.append(ax)
    for ax in grid.ravel():
        if ax not in used:
            ax.set_visible(False)
    if norm is not None:
        from matplotlib.cm import ScalarMappable

        fig.colorbar(ScalarMappable(norm=norm, cmap="viridis"), ax=used, label=metric_label(sweep, metric),
                     shrink=0.6 if rows > 1 else 1.0,
                     extend="min" if below_floor(shown, metric, norm, drawn) else "neither")
    per = f"value of {facets[0].name}" if len(facets) == 1 else \
        f"combination of {', '.join(a.name for a in facets[:-1])} and {facets[-1].name}"
    lines = [title, f"{x} across, {y} up; a panel per {per}" + ("; the members one below the other" if len(drawn) > 1 else "")]
    if thinned:
        said = "; ".join(f"{k} of {n} values of {name}" for name, (k, n) in thinned.items())
        lines[-1] += f"; showing {said}, evenly spaced (the data hold every cell)"
        needed = len(drawn) * math.prod(len(a) for a in sweep.axes if a.name not in (x, y))
        warn(f"the figure shows {said} (evenly spaced) to stay within {max_panels} panels; max_panels={needed} "
             f"(--max-panels {needed}) draws all, sweep.sel(...) any one", FacetWarning, stacklevel=3)
    fig.suptitle("\n".join(lines), fontsize=11)
    return fig


def _wrapped_label(label: str, width: int = 40) -> str:
    """A member's label over several lines where it is long (a panel of a facet grid is narrow)."""
    return "\n".join(textwrap.wrap(label, width, break_long_words=False, break_on_hyphens=False)) or label


def _has_values(sweep: Sweep, metric: str, member: int) -> bool:
    """Whether a member has something to draw for ``metric`` (a value, or a cell that diverged)."""
    values = sweep.metric(metric, member)
    if metric == "verdict":
        return bool(np.any(values >= 0))
    return metric in ("diverged", "diverged_at", "minimum") or bool(np.any(np.isfinite(values))) \
        or bool(np.any(sweep.metric("diverged", member)))


def _start_text(sweep: Sweep) -> str:
    """The start as the figure states it: the swept coordinates by name, the others by value."""
    coords = start_coordinates(sweep.landscape)
    swept = {coords[a.name] for a in sweep.axes if a.name in coords}
    first = sweep.start.reshape(-1, sweep.landscape.dim)[0]
    parts = ["·" if j in swept else f"{first[j]:g}" for j in range(sweep.landscape.dim)]
    return "the grid's starts" if len(swept) == sweep.landscape.dim else \
        ("(" + ", ".join(parts) + ")" if len(parts) <= 4 else "the landscape's start")


def _betas(opt: Optimizer) -> tuple:
    """The EMA coefficients of ``opt`` that a ladder's scaling moves (none for plain GD)."""
    emas = {f: h for f, h in opt.hyperparameters().items() if h.ladder is not None and h.ladder.kind == "ema"}
    if not any(h.gate is None or np.any(getattr(opt, h.gate) != 0) for h in emas.values()):
        return ()
    return tuple(np.ravel(getattr(opt, name)).tolist() for name in emas)


def order_figure(study: OrderStudy, *, x: str = "h", figsize=(7.5, 5.5)) -> Figure:
    """Every ladder of ``study`` on one log–log Axes, with a title naming the landscape, horizon and scalings."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    scalings = []
    for i, r in enumerate(study.results):
        scale = ""
        if _betas(r.optimizer):  # the scaling matters only where there is a β to scale
            scale = f", {SCALINGS[r.scaling].split(' (')[0]}"
            scalings.append(SCALINGS[r.scaling])
        metric = "" if len({q.metric for q in study.results}) == 1 else f", {r.metric} error"
        warn = (" ⚠" if r.warnings else "") + (" †" if r.note else "")
        # The first rung's label: the ladder starts there (with --lrs the given lr is not a rung).
        plot_order(r, ax, x=x, color=COLORS[i % len(COLORS)], label=f"{r.rungs[0].label} vs {r.flow} flow{scale}{metric}{warn}",
                   references=(r.expected_order,))
    first = study.results[0]
    said = f"ladder scaling: {'; '.join(dict.fromkeys(scalings))}; " if scalings else ""
    ax.set_title(f"{short_label(first.landscape)}: distance to the flow at matching times, horizon T = {first.horizon:g}\n"
                 f"{said}dotted: the expected slope", fontsize=9)
    if len({r.metric for r in study.results}) > 1:
        ax.set_ylabel("|iterates − flow| (max, or for t ≥ T/4 where the legend says late)")
    # the models' known reasons (†) and the ladder's own doubts (⚠) under the x label, the legend under them
    said = [f"† {n}" for n in study.notes] + [f"⚠ {w}" for w in study.warnings]
    lines = [line for text in said for line in textwrap.wrap(text, 150, subsequent_indent="   ")]
    if lines:  # inside the layout (a caption goes under it)
        ax.annotate("\n".join(lines), (0, 0), xycoords="axes fraction", xytext=(-40, -34), textcoords="offset points",
                    fontsize=6.5, color="darkred", va="top", ha="left", annotation_clip=False)
    below(ax, fontsize=8, extra=len(lines) * 6.5 * 1.25 + (4.0 if lines else 0.0))
    return fig


def rate_map_figure(maps: list[RateMap]) -> Figure:
    """One row per optimizer: the analytic map, and beside it the measured one where there is one."""
    cols = 1 if maps[0].measured is None else 2
    fig = Figure(figsize=(6.2 * cols, 4.6 * len(maps)), layout="constrained")
    axes = fig.subplots(len(maps), cols, squeeze=False)
    for row, m in zip(axes, maps):
        plot_rate_map(m, "analytic", row[0])
        if cols == 2:
            plot_rate_map(m, "measured", row[1])
    return fig
