r"""Error against step size: how fast the iterates approach a continuous model as lr shrinks.

``order(opt, landscape)`` runs the discrete map on a ladder of learning rates to a fixed horizon T,
integrates the chosen continuous model (:mod:`simulate.flows`) at the iterates' own times, and
regresses log(error) on log(h), h the model's time per step. The slope is the observed order: 1
for every optimizer against its own flow, 2 for GD against its modified flow, 3 against the
second-order one, ½ in lr (1 in h = √lr) for NAG-C and for heavy ball on the oscillator clock.

Holding the model fixed along the ladder is the point: each flow kind carries the scaling of the
EMA coefficients that does so (β fixed, 1 − β ∝ lr, 1 − β ∝ √lr; see :func:`simulate.flows.rescale`),
and the result says which it used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._inputs import resolve
from .continuous import METHODS, integrate
from .discrete import iterate
from .flows import FLOWS, SCALINGS, flow as make_flow, rescale
from .landscapes import Landscape
from .optimizers import Optimizer
from .trajectory import compare

__all__ = ["order", "OrderResult", "OrderStudy", "order_study", "order_figure", "fit_order", "METRICS"]

#: max: the largest distance over the run; late: the largest over t >= horizon/4 (past a transient
#: that decays geometrically, like momentum's fast mode); final: the distance at the end.
METRICS = ("max", "late", "final")


def fit_order(h, errors) -> tuple[float, float]:
    """Least-squares slope and intercept of log(error) against log(h) over the finite positive errors."""
    h, errors = np.asarray(h, float), np.asarray(errors, float)
    ok = np.isfinite(errors) & (errors > 0)
    if ok.sum() < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(np.log(h[ok]), np.log(errors[ok]), 1)
    return float(slope), float(intercept)


@dataclass(frozen=True, eq=False)
class OrderResult:
    """One ladder: per rung its optimizer, time per step, steps, gradient evaluations and error."""

    optimizer: Optimizer          # the ladder's first rung, as given
    landscape: Landscape
    x0: np.ndarray
    flow: str                     # the model's kind
    flow_description: str
    expected_order: float         # the model's order in h (the figure's reference slope)
    scaling: str
    horizon: float
    metric: str
    rungs: tuple[Optimizer, ...]
    lr: np.ndarray                # (n,)
    time_per_step: np.ndarray     # (n,)
    steps: np.ndarray             # (n,)
    evaluations: np.ndarray       # (n,) gradient evaluations of the discrete run
    error: np.ndarray             # (n,) inf where the run diverged, NaN where the flow failed
    status: tuple[str, ...]       # per rung: "ok", or why the rung has no error
    order: float                  # slope of log error against log h
    order_lr: float               # against log lr
    intercept: float
    method: str
    rtol: float
    atol: float

    @property
    def label(self) -> str:
        return f"{self.optimizer.display_name} vs {self.flow} flow"

    def table(self) -> list[dict]:
        """One row per rung (the CSV's rows)."""
        return [{"optimizer": o.spec, "lr": float(lr), "time_per_step": float(h), "steps": int(k),
                 "gradient_evaluations": int(e), "error": float(err), "status": s}
                for o, lr, h, k, e, err, s in zip(self.rungs, self.lr, self.time_per_step, self.steps,
                                                  self.evaluations, self.error, self.status)]

    def summary(self) -> dict:
        return {"optimizer": self.optimizer.spec, "landscape": self.landscape.label, "x0": self.x0,
                "flow": self.flow, "flow_description": self.flow_description,
                "expected_order": self.expected_order, "scaling": self.scaling,
                "scaling_description": SCALINGS[self.scaling], "horizon": self.horizon, "metric": self.metric,
                "observed_order": self.order, "observed_order_in_lr": self.order_lr,
                "method": self.method, "rtol": self.rtol, "atol": self.atol, "rungs": self.table()}

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {f"{prefix}{k}": np.asarray(v) for k, v in (
            ("optimizer", self.optimizer.spec), ("flow", self.flow), ("expected_order", self.expected_order),
            ("scaling", self.scaling),
            ("specs", [o.spec for o in self.rungs]), ("lr", self.lr), ("time_per_step", self.time_per_step),
            ("steps", self.steps), ("evaluations", self.evaluations), ("error", self.error),
            ("status", list(self.status)), ("order", self.order), ("order_lr", self.order_lr),
            ("intercept", self.intercept), ("horizon", self.horizon), ("metric", self.metric))}


def _ladder(opt: Optimizer, lrs, rungs: int, ratio: float) -> np.ndarray:
    if opt.batch_shape:
        raise ValueError("order() takes an optimizer with scalar hyperparameters (the ladder is the batch)")
    if lrs is None:
        if not (isinstance(rungs, (int, np.integer)) and not isinstance(rungs, bool) and rungs >= 2):
            raise ValueError(f"rungs must be a whole number >= 2, got {rungs!r}")
        if not (np.isfinite(ratio) and ratio > 1):
            raise ValueError(f"ratio must be a number > 1, got {ratio!r}")
        return float(opt.lr) / float(ratio) ** np.arange(rungs)
    lrs = np.asarray(lrs, dtype=np.float64).ravel()
    if lrs.size < 2 or not np.all(np.isfinite(lrs) & (lrs > 0)):
        raise ValueError("lrs must hold at least two positive learning rates")
    return np.sort(lrs)[::-1]


def order(opt, landscape, x0=None, *, flow: str | None = None, horizon: float = 1.0, lrs=None, rungs: int = 6,
          ratio: float = 2.0, scaling: str | None = None, metric: str | None = None, method: str = "DOP853",
          rtol: float = 1e-12, atol: float = 1e-14) -> OrderResult:
    """Observed order of ``opt``'s iterates against its continuous model ``flow`` on ``landscape``.

    The ladder is ``lrs`` or ``opt.lr / ratio**j`` for ``j < rungs``; rung j is
    ``rescale(opt, lr_j, scaling)`` with the flow kind's own scaling by default. Each rung runs
    ``round(horizon/h)`` steps and is compared with its model at the same times; ``metric`` is the
    largest distance over the run (``max``), over ``t >= horizon/4`` (``late``: past a transient
    such as momentum's fast mode) or the distance at the end (``final``); by default the flow's
    preferred one (``late`` for the momentum modified flows, else ``max``). The models
    are integrated with ``method`` at ``rtol``/``atol`` (keep them far below the errors measured).
    A rung whose run diverges has error inf, one whose flow fails NaN; both are left out of the
    fit and reported in ``status``.
    """
    opt, landscape, x0 = resolve(opt, landscape, x0)
    kind = flow or opt.default_flow
    model0 = make_flow(opt, kind)
    scaling = scaling or model0.scaling
    metric = metric or model0.preferred_metric
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; valid: {', '.join(SCALINGS)}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not (np.isfinite(horizon) and horizon > 0):
        raise ValueError(f"horizon must be a positive number, got {horizon!r}")
    if x0.ndim != 1:
        raise ValueError("order() takes one start point")
    ladder = _ladder(opt, lrs, rungs, ratio)
    rung_opts, hs, steps, errors, status = [], [], [], [], []
    for lr in ladder:
        o = rescale(opt, lr, scaling)
        model = make_flow(o, kind)
        h = float(model.time_per_step)
        k = max(1, int(round(horizon / h)))
        run = iterate(o, landscape, x0, k, time_per_step=h)
        exact = integrate(o, landscape, x0, t=run.t, flow=model, method=method, rtol=rtol, atol=atol)
        if run.diverged:
            errors.append(math.inf)
            status.append(f"the run {run.message}")
        elif exact.status == 3 or exact.diverged:
            errors.append(math.nan)
            status.append(f"the flow {exact.message}")
        else:
            c = compare(run, exact)
            late = np.asarray(run.t) >= horizon / 4
            errors.append(float({"max": c.max, "final": c.final, "late": np.max(c.distance[late])}[metric]))
            status.append("ok")
        rung_opts.append(o)
        hs.append(h)
        steps.append(k)
    hs, errors = np.array(hs), np.array(errors)
    slope, intercept = fit_order(hs, errors)
    slope_lr, _ = fit_order(ladder, errors)
    return OrderResult(opt, landscape, x0, kind, model0.description, model0.expected_order, scaling,
                       float(horizon), metric,
                       tuple(rung_opts), ladder, hs, np.array(steps),
                       np.array(steps) * opt.evaluations_per_step, errors, tuple(status), slope, slope_lr,
                       intercept, method, rtol, atol)


@dataclass(frozen=True, eq=False)
class OrderStudy:
    """Several ladders (optimizer × flow) on one landscape: what ``simulate order`` computes."""

    results: tuple[OrderResult, ...]

    def table(self) -> list[dict]:
        return [{"ladder": i, "flow": r.flow, "scaling": r.scaling, "metric": r.metric, **row}
                for i, r in enumerate(self.results) for row in r.table()]

    def summary(self) -> dict:
        return {"ladders": [r.summary() for r in self.results]}

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"ladders": np.array(len(self.results))}
        for i, r in enumerate(self.results):
            out.update(r.arrays(prefix=f"ladder{i}_"))
        return out

    def csv(self) -> str:
        rows = self.table()
        keys = list(rows[0])
        lines = [",".join(keys)]
        for row in rows:
            lines.append(",".join(_csv_cell(row[k]) for k in keys))
        return "\n".join(lines) + "\n"


def _betas(opt: Optimizer) -> tuple:
    """The EMA coefficients of ``opt`` that a ladder's scaling moves (none for plain GD)."""
    if np.all(getattr(opt, "momentum", 1) == 0) and "betas" not in opt._rates and opt.name != "rmsprop":
        return ()
    return tuple(np.ravel(getattr(opt, name)).tolist() for name in opt._rates)


def _csv_cell(value) -> str:
    text = f"{value:.17g}" if isinstance(value, float) else str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


def order_study(landscape, optimizers=("gd(lr=0.01)",), flows=None, x0=None, **kwargs) -> OrderStudy:
    """:func:`order` for every optimizer and every flow kind in ``flows`` (default: each optimizer's
    own model). Keyword arguments go to :func:`order`."""
    if isinstance(optimizers, (str, Optimizer)):
        optimizers = [optimizers]
    if not optimizers:
        raise ValueError("give at least one optimizer")
    kinds = [None] if not flows else ([flows] if isinstance(flows, str) else list(flows))
    return OrderStudy(tuple(order(o, landscape, x0, flow=k, **kwargs) for o in optimizers for k in kinds))


def order_figure(study: OrderStudy, *, x: str = "h", figsize=(7.5, 5.5)):
    """Every ladder of ``study`` on one log–log Axes, with a title naming the landscape, horizon and scalings."""
    from matplotlib.figure import Figure

    from .plotting import plot_order

    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    scalings = []
    for i, r in enumerate(study.results):
        scale = ""
        if _betas(r.optimizer):  # the scaling matters only where there is a β to scale
            scale = f", {SCALINGS[r.scaling].split(' (')[0]}"
            scalings.append(SCALINGS[r.scaling])
        plot_order(r, ax, x=x, color=f"C{i % 10}", label=f"{r.optimizer.label} vs {r.flow} flow{scale}",
                   references=(r.expected_order,))
    first = study.results[0]
    said = f"ladder scaling: {'; '.join(dict.fromkeys(scalings))}; " if scalings else ""
    ax.set_title(f"{first.landscape.label}: distance to the flow at matching times, horizon T = {first.horizon:g}\n"
                 f"{said}dotted: the expected slope", fontsize=9)
    ax.legend(fontsize=8, loc="best", framealpha=0.85)
    return fig
