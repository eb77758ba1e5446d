r"""Error against step size: how fast the iterates approach a continuous model as lr shrinks.

``order(landscape, optimizer)`` runs the discrete map on a ladder of learning rates to a fixed horizon T,
integrates the chosen continuous model (:mod:`simulate.models`) at the iterates' own times, and
regresses log(error) on log(h), h the model's time per step. The slope is the observed order: 1
for every optimizer against its own flow, 2 for GD against its modified flow, 3 against the
second-order one, ½ in lr (1 in h = √lr) for NAG-C and for heavy ball on the oscillator clock.

Holding the model fixed along the ladder is the point: each flow kind carries the scaling of the
EMA coefficients that does so (β fixed, 1 − β ∝ lr, 1 − β ∝ √lr; see :func:`simulate.models.rescale`),
and the result says which it used.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .._checks import checked
from .._signature import Said, public, renamed, warn
from ..landscapes.base import short_label
from .experiment import check_starts
from ..solvers.inputs import is_optimizer, resolve
from ..solvers.continuous import MAX_SECONDS, METHODS, Stepping, integrate
from ..solvers.discrete import iterate
from ..models import SCALINGS, flow as make_flow, rescale
from ..landscapes import Landscape
from ..optimizers import Optimizer
from ..solvers.trajectory import check_run_memory, compare, runs_memory
from ..solvers.cost import Estimate, check_time, discrete_seconds, flow_part

__all__ = ["order", "OrderResult", "OrderStudy", "OrderWarning", "order_study", "fit_order", "METRICS",
           "MAX_LADDER_STEPS"]

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
    start: np.ndarray
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
    observed_order: float         # slope of log error against log h
    observed_order_in_lr: float   # against log lr
    intercept: float
    method: str
    rtol: float
    atol: float
    local_slopes: np.ndarray = None   # (n − 1,) slope between consecutive fitted rungs (NaN across gaps)
    warnings: tuple[str, ...] = ()    # why the fitted order may not be the asymptotic one
    note: str = ""                    # the model's known reason for a slope off the expected one ("" if none)

    @property
    def label(self) -> str:
        return f"{self.optimizer.display_name} vs {self.flow} flow"

    # the names before the result's attributes were named as its JSON names them
    order = renamed("observed_order")
    order_lr = renamed("observed_order_in_lr")
    last_slope = renamed("last_pair_order")
    x0 = renamed("start")

    @property
    def last_pair_order(self) -> float:
        """The slope between the two smallest rungs that have an error: the closest to asymptotic."""
        finite = self.local_slopes[np.isfinite(self.local_slopes)] if self.local_slopes is not None else []
        return float(finite[-1]) if len(finite) else math.nan

    def __repr__(self) -> str:  # one line; table() and summary() hold the rungs
        return (f"OrderResult({self.label} on {short_label(self.landscape)}: observed order {self.observed_order:.3g} "
                f"(expected {self.expected_order:g}) over {len(self.lr)} rungs, scaling {self.scaling}, metric {self.metric})")

    def table(self) -> list[dict]:
        """One row per rung (the CSV's rows)."""
        slopes = np.concatenate([[math.nan], self.local_slopes])  # from the rung before to this one
        return [{"optimizer": o.spec, "lr": float(lr), "time_per_step": float(h), "steps": int(k),
                 "gradient_evaluations": int(e), "error": float(err), "slope_from_previous": float(p), "status": s}
                for o, lr, h, k, e, err, p, s in zip(self.rungs, self.lr, self.time_per_step, self.steps,
                                                     self.evaluations, self.error, slopes, self.status)]

    def to_pandas(self):
        """The rungs as a tidy :class:`pandas.DataFrame`: the rows of :meth:`table` (one per rung:
        its optimizer, lr, time per step h, steps, gradient evaluations, error, the local slope from
        the rung before, status), with the ladder's flow, scaling and metric."""
        return _frame([{"flow": self.flow, "scaling": self.scaling, "metric": self.metric, **row} for row in self.table()],
                      "OrderResult.to_pandas")

    def summary(self) -> dict:
        return {"optimizer": self.optimizer.spec, "landscape": self.landscape.label, "start": self.start,
                "flow": self.flow, "flow_description": self.flow_description,
                "expected_order": self.expected_order, "scaling": self.scaling,
                "scaling_description": SCALINGS[self.scaling], "horizon": self.horizon, "metric": self.metric,
                "observed_order": self.observed_order, "observed_order_in_lr": self.observed_order_in_lr,
                "last_pair_order": self.last_pair_order, "local_slopes": self.local_slopes, "warnings": list(self.warnings),
                "note": self.note,
                "method": self.method, "rtol": self.rtol, "atol": self.atol, "rungs": self.table()}

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {f"{prefix}{k}": np.asarray(v) for k, v in (
            ("optimizer", self.optimizer.spec), ("flow", self.flow), ("expected_order", self.expected_order),
            ("scaling", self.scaling),
            ("specs", [o.spec for o in self.rungs]), ("lr", self.lr), ("time_per_step", self.time_per_step),
            ("steps", self.steps), ("evaluations", self.evaluations), ("error", self.error),
            ("status", list(self.status)), ("observed_order", self.observed_order),
            ("observed_order_in_lr", self.observed_order_in_lr),
            ("intercept", self.intercept), ("horizon", self.horizon), ("metric", self.metric),
            ("local_slopes", self.local_slopes), ("warnings", np.array(list(self.warnings), dtype=str)),
            ("note", self.note))}


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
    if np.unique(lrs).size != lrs.size:
        raise ValueError("lrs must be distinct (a slope needs different step sizes)")
    return np.sort(lrs)[::-1]


@public(before=("optimizer", "landscape"), recognise=is_optimizer)
@checked
def order(landscape, optimizer, start=None, *, flow: str | None = None, horizon: float = 1.0, lrs=None, rungs: int = 6,
          ratio: float = 2.0, scaling: str | None = None, metric: str | None = None, method: str = "DOP853",
          rtol: float = 1e-12, atol: float = 1e-14, max_evaluations: int | None = None,
          max_seconds: float | None = MAX_SECONDS) -> OrderResult:
    """Observed order of ``optimizer``'s iterates against its continuous model ``flow`` on ``landscape``.

    The ladder is ``lrs`` or ``optimizer.lr / ratio**j`` for ``j < rungs``; rung j is
    ``rescale(optimizer, lr_j, scaling)`` with the flow kind's own scaling by default. Each rung runs
    ``round(horizon/h)`` steps and is compared with its model at the same times; ``metric`` is the
    largest distance over the run (``max``), over ``t >= horizon/4`` (``late``: past a transient
    such as momentum's fast mode) or the distance at the end (``final``); by default the flow's
    preferred one (``late`` for the momentum modified flows, else ``max``). The models
    are integrated with ``method`` at ``rtol``/``atol`` (keep them far below the errors measured).
    A rung whose run diverges has error inf, one whose flow fails (or needs more than
    ``max_evaluations`` field evaluations, default :data:`ORDER_MAX_EVALUATIONS`, or ``max_seconds``
    of wall time, None for no bound) NaN; both are left
    out of the fit and reported in ``status``. A ladder of more than :data:`MAX_LADDER_STEPS` steps
    in all is refused before any work. The slopes between consecutive rungs are kept
    (``local_slopes``, ``last_pair_order``), and where the fit may not be the asymptotic order (errors at
    the solver's floor, not shrinking with h, or a last-pair slope far from the fit) the result
    carries ``warnings`` and an :class:`OrderWarning` is issued.
    """
    max_evaluations = ORDER_MAX_EVALUATIONS if max_evaluations is None else max_evaluations
    opt, landscape, x0 = resolve(optimizer, landscape, start)
    check_starts(landscape, x0)  # a stationary start has no error to fit: say why, not only "no slope"
    if opt.schedule is not None:
        raise ValueError(f"{opt.label}: the order ladder scales one constant lr; a schedule changes lr along the run "
                         f"(compare a scheduled run with its flow in simulate plot)")
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
    models = []
    for lr in ladder:
        o = rescale(opt, lr, scaling)
        try:
            models.append(make_flow(o, kind))
        except ValueError:
            if scaling == model0.scaling:
                raise
            raise ValueError(f"the {kind} flow holds β by the '{model0.scaling}' scaling along the ladder; scaling "
                             f"'{scaling}' moves β with lr and leaves that model: drop scaling or choose another "
                             f"flow") from None
    if len({float(m.time_per_step) for m in models}) < len(models):  # Adadelta's clock is the step
        raise ValueError(f"the time per step of the {kind} flow of {opt.display_name} is {model0.clock}, whatever "
                         f"lr: a ladder of learning rates does not shrink it, so there is no order to measure")
    steps = [max(1, int(round(horizon / float(m.time_per_step)))) for m in models]
    if sum(steps) > MAX_LADDER_STEPS:
        raise ValueError(f"this ladder takes {sum(steps):.3g} steps in all (the smallest rung alone {steps[-1]:.3g}); "
                         f"the limit is {MAX_LADDER_STEPS:.0e}: use fewer rungs, a smaller ratio or a shorter horizon")
    check_time(Estimate(tuple((f"rung h={float(m.time_per_step):.3g} ({k} steps, one flow solve)",
                               discrete_seconds(1, k) + float(flow_part(m, landscape, x0, horizon, method, rtol,
                                                                        max_evaluations, k)[1].sum()))
                              for m, k in zip(models, steps))), "fewer rungs, a smaller ratio or a shorter horizon")
    # one rung at a time: the longest holds its iterates and its flow at the iterates' times
    check_run_memory(runs_memory([str(opt.name)], max(steps) + 1, 1, x0.shape[-1], flow_samples=max(steps) + 1),
                     "fewer rungs, a smaller ratio or a shorter horizon")
    hs, errors, status, floors = [], [], [], []
    for model, k in zip(models, steps):
        o = model.optimizer
        h = float(model.time_per_step)
        run = iterate(landscape, o, x0, k, time_per_step=h)
        if run.diverged:  # its error is infinite whatever the flow does: no need to integrate it
            errors.append(math.inf)
            status.append(f"the run {run.message}")
            hs.append(h)
            continue
        exact = integrate(landscape, o, x0, t=run.t, flow=model, rtol=rtol, atol=atol,
                          stepping=Stepping(method=method, max_evaluations=max_evaluations, max_seconds=max_seconds))
        if exact.status == 3 or exact.diverged:
            errors.append(math.nan)
            status.append(f"the flow {exact.message}")
        else:
            c = compare(run, exact)
            # The solver's global error can reach ~1000× its local tolerance: errors below that
            # measure the solver, not the scheme.
            floors.append(1000 * (rtol * (1 + float(np.nanmax(np.abs(run.x)))) + atol))
            late = np.asarray(run.t) >= horizon / 4
            errors.append(float({"max": c.max, "final": c.final, "late": np.max(c.distance[late])}[metric]))
            status.append("ok")
        hs.append(h)
    hs, errors = np.array(hs), np.array(errors)
    slope, intercept = fit_order(hs, errors)
    slope_lr, _ = fit_order(ladder, errors)
    local = _local_slopes(hs, errors)
    floor = max(floors, default=0.0)
    result = OrderResult(opt, landscape, x0, kind, model0.description, model0.expected_order, scaling,
                         float(horizon), metric,
                         tuple(m.optimizer for m in models), ladder, hs, np.array(steps),
                         np.array(steps) * opt.evaluations_per_step, errors, tuple(status), slope, slope_lr,
                         intercept, method, rtol, atol, local_slopes=local)
    found = _diagnose(result, floor)
    if model0.not_established:
        found.insert(0, f"the {kind} flow is {model0.not_established}")
    for text in found:
        warn(OrderWarning(f"{result.label}: {text}"), stacklevel=2)  # at order()'s caller, past its decorators
    note = _known_reason(result, [m.caveat(landscape, x0, float(horizon)) for m in (models[0], models[-1])])
    return dataclasses.replace(result, warnings=tuple(found), note=note)


#: A fitted slope this far from the model's order is worth the model's known reason, when it has
#: one whose small parameter is above :data:`CAVEAT_SIZE` at the largest rung.
SLOPE_TOLERANCE = 0.05
CAVEAT_SIZE = 0.01


def _known_reason(r: OrderResult, caveats: list) -> str:
    """The note of a ladder whose slope is off the model's order for a reason the model states
    (:meth:`simulate.models.base.Flow.caveat` at the largest and the smallest rung), else ""."""
    first, last = caveats
    slope = r.observed_order
    if first is None or not np.isfinite(slope) or abs(slope - r.expected_order) <= SLOPE_TOLERANCE or first[1] <= CAVEAT_SIZE:
        return ""
    reason, size = first
    if last is not None and last[1] >= size:  # no small parameter (a condition of the start): smaller steps keep it
        return f"slope {slope:.2f}, not {r.expected_order:g}: {reason} (at every rung: smaller steps do not remove it)"
    smallest = f", {last[1]:.2g} at the smallest" if last is not None else ""
    return (f"slope {slope:.2f}, not {r.expected_order:g}: pre-asymptotic, since {reason}; that parameter is "
            f"{size:.2g} at the largest rung{smallest}: the local slopes rise towards {r.expected_order:g} as it shrinks")


#: The most steps one ladder may take (all rungs together): beyond it a clear error before any work.
MAX_LADDER_STEPS = 20_000_000
#: Field evaluations one rung's flow may use, so that a model far outside its regime (modified2
#: at lr = 1 is stiff and costly) gives up in seconds; the defaults' solves need at most ~5,000.
ORDER_MAX_EVALUATIONS = 20_000


class OrderWarning(Said):
    """The fitted slope may not be the asymptotic order (pre-asymptotic, floor, not monotone)."""


def _local_slopes(hs: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Slope of log error against log h between consecutive rungs (NaN where either has no error)."""
    with np.errstate(all="ignore"):
        ok = np.isfinite(errors) & (errors > 0)
        s = np.diff(np.log(np.where(ok, errors, np.nan))) / np.diff(np.log(hs))
    return s


#: Errors at most this (relative to the start's scale) are rounding: a step exact for its flow.
ROUNDING = 1e-12
#: A ladder whose errors stay within this factor of each other over 4x in h has hit a floor.
FLAT = 1.5


def _diagnose(r: OrderResult, floor: float) -> list[str]:
    """Why a ladder's fitted slope may mislead: each a sentence, none when the ladder looks asymptotic."""
    out = []
    left = [i for i, st in enumerate(r.status) if st != "ok"]
    if left:  # the fit is over fewer rungs than asked for: say which and why
        hs = ", ".join(f"{r.time_per_step[i]:.3g}" for i in left)
        out.append(f"{len(left)} of {len(r.status)} rungs left out of the fit (h = {hs}): {r.status[left[0]]}"
                   + (" (try --max-evaluations, max_evaluations= in Python)" if "evaluations" in r.status[left[0]] else ""))
    ok = np.isfinite(r.error) & (r.error > 0)
    if ok.sum() < 2:
        return out + ["fewer than two rungs have an error: no slope"]
    rounding = ROUNDING * (1 + float(np.max(np.abs(r.start))))
    if np.all(r.error[ok] <= rounding):  # nothing but rounding to fit: the slope is noise
        return [f"every rung's iterates equal the flow to rounding (errors ≤ {float(np.max(r.error[ok])):.1e}): on this "
                f"horizon the step is exact for this flow (sign descent before a component of ∇f changes sign, a "
                f"linear field), so there is no order to measure; lengthen --horizon or start elsewhere"]
    low = ok & (r.error < floor)
    if low.any():
        out.append(f"{int(low.sum())} rung(s) have errors below {floor:.1e}, within 1000× of the flow solver's "
                   f"tolerance: they measure the solver, not the scheme (tighten rtol/atol or use larger lrs)")
    e, h = r.error[ok], r.time_per_step[ok]
    if np.max(e) < FLAT * np.min(e) and np.max(h) > 4 * np.min(h):  # a floor independent of h
        out.append(f"the error hardly changes with h ({np.min(e):.2g} to {np.max(e):.2g} over a ratio "
                   f"{np.max(h) / np.min(h):.3g} of h): a floor that smaller steps do not lower (rounding inside "
                   f"the step, such as bfloat16 arithmetic, or a model that is not the step's limit), not an order")
    elif np.any(e[1:] > e[:-1] * 1.05):
        out.append("the error does not shrink with every rung: the ladder is not in the asymptotic regime "
                   "(e.g. iterates and flow end at different minima, or both have converged)")
    last = r.last_pair_order
    # (not where rungs sit at the solver's floor: smaller rungs would only go deeper into it)
    if not low.any() and np.isfinite(last) and np.isfinite(r.observed_order) and abs(last - r.observed_order) > 0.2:
        out.append(f"the slope between the two smallest rungs is {last:.2f} while the fit gives {r.observed_order:.2f}: "
                   f"pre-asymptotic, add smaller rungs")
    return out


@dataclass(frozen=True, eq=False)
class OrderStudy:
    """Several ladders (optimizer × flow) on one landscape: what ``simulate order`` computes."""

    results: tuple[OrderResult, ...]

    def __repr__(self) -> str:
        where = short_label(self.results[0].landscape) if self.results else "nothing"
        ladders = "; ".join(f"{r.label} {r.observed_order:.3g}" for r in self.results)
        return f"OrderStudy({len(self.results)} ladders on {where}: {ladders})"

    def table(self) -> list[dict]:
        return [{"ladder": i, "flow": r.flow, "scaling": r.scaling, "metric": r.metric, **row}
                for i, r in enumerate(self.results) for row in r.table()]

    def to_pandas(self):
        """The table (the CSV's rows) as a tidy :class:`pandas.DataFrame`: one row per ladder
        (optimizer × flow) and rung, with h (``time_per_step``), the error and the local slope."""
        return _frame(self.table(), "OrderStudy.to_pandas")

    def summary(self) -> dict:
        return {"ladders": [r.summary() for r in self.results]}

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"ladders": np.array(len(self.results))}
        for i, r in enumerate(self.results):
            out.update(r.arrays(prefix=f"ladder{i}_"))
        return out

    @property
    def warnings(self) -> list[str]:
        return [f"{r.label}: {w}" for r in self.results for w in r.warnings]

    @property
    def notes(self) -> list[str]:
        """Each ladder's known reason for a slope off its model's order (the models' caveats)."""
        return [f"{r.label}: {r.note}" for r in self.results if r.note]

    def save(self, path) -> list:
        """Write the numbers: the NPZ at ``path`` with a JSON summary and a CSV table beside it (the figure
        is :func:`simulate.viz.figures.order_figure`)."""
        from pathlib import Path

        from ..io.files import save_json, save_npz, save_text

        path = Path(path)
        return [save_npz(path, self.arrays()), save_json(path.with_suffix(".json"), self.summary()),
                save_text(path.with_suffix(".csv"), self.csv())]

    def csv(self) -> str:
        rows = self.table()
        keys = list(rows[0])
        lines = [",".join(keys)]
        for row in rows:
            lines.append(",".join(_csv_cell(row[k]) for k in keys))
        return "\n".join(lines) + "\n"


def _frame(rows: list[dict], what: str):
    """Rows of one table as a DataFrame (pandas is optional: imported here)."""
    from .._optional import optional

    return optional("pandas", what).DataFrame(rows)


def _csv_cell(value) -> str:
    text = f"{value:.17g}" if isinstance(value, float) else str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


@public
@checked
def order_study(landscape, optimizers=("gd(lr=0.01)",), flows=None, start=None, **kwargs) -> OrderStudy:
    """:func:`order` for every optimizer and every flow kind in ``flows`` (default: each optimizer's
    own model). Keyword arguments go to :func:`order`."""
    if isinstance(optimizers, (str, Optimizer)):
        optimizers = [optimizers]
    if not optimizers:
        raise ValueError("give at least one optimizer")
    kinds = [None] if not flows else ([flows] if isinstance(flows, str) else list(flows))
    for kind in kinds:
        if kinds.count(kind) > 1:
            raise ValueError(f"flow {kind} is given twice")
    return OrderStudy(tuple(order(landscape, o, start, flow=k, **kwargs) for o in optimizers for k in kinds))
