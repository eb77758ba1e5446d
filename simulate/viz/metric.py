r"""RMSprop restated: its step is steepest descent in the metric it carries (theory §10.9).

With ``P = diag(√ṽ + ε)`` (ṽ after the step's update of v), RMSprop's step is the unnormalized
steepest-descent step of the norm ``‖d‖_P = √(dᵀPd)``::

    −lr·g/(√ṽ + ε) = argmin_d ⟨g, d⟩ + ‖d‖²_P/(2·lr)

(the objective's gradient ``g + Pd/lr`` vanishes there; it is strictly convex). Adam's step is the
same argmin with its momentum ``m̂`` in place of g. An optimizer says which metric its step is
steepest descent in through :meth:`simulate.optimizers.Optimizer.steepest_metric`.

:func:`steepest_step_data` runs the optimizer and, at sampled iterates, solves that argmin
*independently* (``scipy.optimize.minimize`` on the quadratic model, exact Hessian) and sets it
beside the step taken, and beside the Euclidean step ``−lr·u`` (the metric I, GD's). When v tracks
g² (α fixed, lr → 0) ``P⁻¹g → g/(|g| + ε)``: the metric turns the step into ℓ∞ steepest descent,
the sign flow (up to ε). :func:`steepest_steps` draws them (``simulate plot --steepest-steps``).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from ..solvers.inputs import resolve
from .plotting import _axes, plot_landscape, plot_minima

__all__ = ["steepest_step_data", "steepest_argmin", "steepest_steps", "add_steepest_panel"]


def steepest_argmin(u: np.ndarray, P: np.ndarray, lr: float) -> np.ndarray:
    """``argmin_d ⟨u, d⟩ + ‖d‖²_P/(2·lr)`` for a diagonal metric P > 0, solved numerically (a trust-region
    Newton method on the quadratic model, converged to rounding), not from the closed form."""
    u, P = np.asarray(u, dtype=np.float64), np.asarray(P, dtype=np.float64)
    scale = float(np.max(np.abs(u))) or 1.0  # the model in units of |u|: tolerances are relative

    def model(d):
        return float(u @ d / scale + d @ (P * d) / (2 * lr * scale))

    res = minimize(model, np.zeros_like(u), jac=lambda d: u / scale + P * d / (lr * scale),
                   hess=lambda d: np.diag(P / (lr * scale)), method="trust-exact", options={"gtol": 1e-15})
    return res.x


def steepest_step_data(landscape, optimizer="rmsprop(lr=0.01)", start=None, *, steps: int = 100,
                       samples: int = 8) -> dict[str, np.ndarray]:
    """The run and, at ``samples`` steps spread over it, the steps side by side.

    Returns ``path`` (steps + 1, d), ``k`` (samples,), ``at`` (samples, d) the iterates the steps
    start from, ``taken`` the steps the optimizer took, ``steepest`` the solved argmin of its metric,
    ``euclidean`` ``−lr·u`` (steepest descent in the metric I) and ``metric`` P (samples, d).
    Refuses an optimizer that knows no metric of its step, and one with gradient transforms."""
    opt, land, x0 = resolve(optimizer, landscape, start)
    if opt.transformed or opt.schedule is not None:
        raise ValueError(f"{opt.label}: the steepest-descent view takes a bare optimizer (no schedule, clip or lr_scale)")
    if opt.batch_shape != () or x0.ndim != 1:
        raise ValueError("the steepest-descent view takes one optimizer (scalar hyperparameters) and one start")
    if not 1 <= samples <= steps:
        raise ValueError(f"samples must be between 1 and steps ({steps}), got {samples}")
    state = opt.init(x0)
    path, rows = [x0], []
    marks = set(np.unique(np.linspace(1, steps, samples).round().astype(int)).tolist())
    for k in range(1, steps + 1):
        x = state["x"]
        state = opt.step(state, land, k)
        path.append(state["x"])
        if k in marks:
            known = opt.steepest_metric(state, k)
            if known is None:
                raise ValueError(f"{opt.label} knows no metric its step is steepest descent in (rmsprop without "
                                 f"momentum and adam do: Optimizer.steepest_metric)")
            P, u = known
            u = land.grad(x) + np.asarray(opt.weight_decay) * x if u is None else u
            lr = float(opt.lr)
            rows.append((k, x, state["x"] - x, steepest_argmin(u, P, lr), -lr * u, P))
    k, at, taken, steepest, euclidean, metric = (np.array(c) for c in zip(*rows))
    return {"path": np.array(path), "k": k, "at": at, "taken": taken, "steepest": steepest, "euclidean": euclidean,
            "metric": metric}


def steepest_steps(landscape, optimizer="rmsprop(lr=0.01)", start=None, *, steps: int = 100, samples: int = 8,
                   ax=None):
    """Draw ``optimizer``'s path over the contours and, at sampled iterates, its steps (arrows)
    beside the steepest-descent steps of its metric (solved independently, dashed) and the
    Euclidean direction −g (grey, drawn at the step's length): the first two coincide. Arrows are
    magnified by one common factor (in the title). 2-D landscapes. Returns the Axes (seaborn style)."""
    opt, land, x0 = resolve(optimizer, landscape, start)
    if land.dim != 2:
        raise ValueError(f"the steepest-descent view draws the plane: {land.name} is {land.dim}-dimensional")
    data = steepest_step_data(land, opt, x0, steps=steps, samples=samples)
    ax = _axes(ax)
    path = data["path"]
    span = np.ptp(path, axis=0).max() or 1.0
    pad = 0.25 * span
    lo, hi = path.min(axis=0) - pad, path.max(axis=0) + pad
    plot_landscape(land, ax, bounds=np.stack([lo, hi], axis=1))
    plot_minima(land, ax)
    ax.plot(path[:, 0], path[:, 1], color="C0", lw=1.2, label=opt.label)
    typical = np.median(np.linalg.norm(data["taken"], axis=1)) or 1.0  # step 1 (v small) is much longer
    magnify = 0.08 * span / typical
    at = data["at"]
    length = np.linalg.norm(data["taken"], axis=1, keepdims=True)
    unit = data["euclidean"] / np.maximum(np.linalg.norm(data["euclidean"], axis=1, keepdims=True), np.finfo(float).tiny)
    drawn = {"euclidean": unit * length, "taken": data["taken"], "steepest": data["steepest"]}
    for name, style in (("euclidean", dict(color="0.45", width=0.006, label="−g, steepest in I (at the step's length)")),
                        ("taken", dict(color="C3", width=0.009, label="the step taken")),
                        ("steepest", dict(color="gold", width=0.004, label="argmin ⟨g,d⟩ + ‖d‖²_P/(2lr), solved"))):
        d = drawn[name] * magnify
        ax.quiver(at[:, 0], at[:, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy", scale=1, gid=name, **style)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_title(f"{opt.label}: steepest descent in P = diag(√v + ε)  (arrows ×{magnify:.3g})")
    ax.legend(loc="best", fontsize="small")
    return ax


def add_steepest_panel(fig, experiment):
    """Add :func:`steepest_steps` as a column to the right of a :func:`simulate.plot` figure
    (``simulate plot --steepest-steps``): for the first of its optimizers whose step is steepest
    descent in a known metric, from the first start, over the run's steps. Returns the figure."""
    land, entries = experiment.landscape, experiment.entries
    x0 = np.reshape(experiment.start, (-1, land.dim))[0]
    known = [e.optimizer for e in entries if _knows_its_metric(e.optimizer, land, x0)]
    if not known:
        names = ", ".join(e.optimizer.label for e in entries)
        raise ValueError(f"--steepest-steps: none of the optimizers ({names}) knows a metric its step is steepest "
                         f"descent in (rmsprop without momentum and adam do), with scalar hyperparameters and no "
                         f"schedule or gradient transforms")
    axes = [a for a in fig.axes if a.get_subplotspec() is not None]
    old = axes[0].get_subplotspec().get_gridspec()
    rows, cols = old.get_geometry()
    new = fig.add_gridspec(rows, cols + 1, width_ratios=[*(old.get_width_ratios() or [1] * cols), 1],
                           height_ratios=old.get_height_ratios())
    for a in axes:  # the same places in a grid with one more column
        spec = a.get_subplotspec()
        a.set_subplotspec(new[spec.rowspan.start:spec.rowspan.stop, spec.colspan.start:spec.colspan.stop])
    w, h = fig.get_size_inches()
    fig.set_size_inches(w * (cols + 1) / cols, h)
    steepest_steps(land, known[0], x0, steps=max(int(experiment.steps), 1), samples=min(8, max(int(experiment.steps), 1)),
                   ax=fig.add_subplot(new[:, cols]))
    return fig


def _knows_its_metric(opt, land, x0) -> bool:
    if opt.transformed or opt.schedule is not None or opt.batch_shape != ():
        return False
    return opt.steepest_metric(opt.step(opt.init(x0), land, 1), 1) is not None
