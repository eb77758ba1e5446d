"""Integrate an optimizer's continuous model with ``scipy.integrate.solve_ivp`` (the only caller).

``integrate(opt, landscape, x0, t)`` returns the same record as :func:`~simulate.solvers.discrete.iterate`,
sampled at the requested times, so iterates and flow compare sample by sample. Each batch member
is one ``solve_ivp`` call: its step control, its failure and its status stay its own (flattening
members into one system would couple their steps through scipy's RMS error norm).

As in diffrax's ``diffeqsolve``, what is solved (the optimizer's model on a landscape, from ``x0``)
is kept apart from how it is stepped (:class:`Stepping`), the tolerances (:class:`Tolerances`), the
saved times (:class:`SaveAt`) and the events that end a member (:class:`Events`). Each record has
keyword shorthands (``method=``, ``rtol=``, ``atol=``, ``t``, ``escape_radius=``,
``max_evaluations=``) for the common one-field case.

:func:`euler_step` is the bridge between the two views: one semi-implicit Euler step of the lift,
which equals one discrete step of the optimizer to rounding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from .._checks import checked
from .._signature import public
from .inputs import is_optimizer, resolve
from ..models import Flow, flow as make_flow
from ..optimizers import Optimizer, State
from .trajectory import Trajectory, check_record_size, default_escape_radius, finish, sample_times

__all__ = ["integrate", "Stepping", "MAX_SECONDS", "WALL_TIME", "Tolerances", "SaveAt", "Events", "euler_step", "METHODS",
           "pack", "unpack"]

#: solve_ivp's methods (the implicit ones receive the analytic Jacobian built from the Hessian),
#: simulate.fastflow's compiled Dormand–Prince for plain gradient flows on many starts, and "auto"
#: (that one where it applies, else LSODA: :func:`simulate.solvers.fastflow.auto_method`).
METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA", "RK45-compiled", "auto")
IMPLICIT = ("Radau", "BDF", "LSODA")
#: What method "auto" retries a start with where LSODA itself failed (not a budget or a divergence).
FALLBACK_METHOD = "BDF"


def pack(state: State) -> np.ndarray:
    """State dict of ``(..., d)`` arrays -> ``(..., n·d)``, components in update order."""
    arrays = list(state.values())
    return np.stack(arrays, axis=-2).reshape(arrays[0].shape[:-1] + (-1,))


def unpack(y: np.ndarray, names: tuple[str, ...]) -> State:
    """Inverse of :func:`pack`."""
    parts = y.reshape(y.shape[:-1] + (len(names), y.shape[-1] // len(names)))
    return {name: parts[..., i, :] for i, name in enumerate(names)}


@public(before=("optimizer", "state", "landscape"), recognise=is_optimizer)
def euler_step(landscape, optimizer: Optimizer, state: State, k: int) -> State:
    """Step ``k`` as one semi-implicit Euler step of ``optimizer``'s lift, from ``t = (k − 1)·h``.

    Components advance in the state's order (torch's update order, ``x`` last), each with the
    field evaluated on the newest values of the components before it. By construction of the
    lifts this equals ``optimizer.step(state, landscape, k)`` to rounding.
    """
    opt = optimizer
    h = np.asarray(opt.time_per_step)
    t = (k - 1) * h
    new = dict(state)
    for name in state:
        new[name] = state[name] + h[..., None] * opt.field(t, new, landscape)[name]
    return new


#: Field evaluations one member may use before it is stopped as failed: no solve can hang.
MAX_EVALUATIONS = 2_000_000
#: Seconds of wall time one member may use before it is stopped as failed. Evaluations alone do not
#: bound the time: LSODA on a stiff lift spends ~0.5 ms per evaluation (Jacobians, LU), so 2e6
#: evaluations can take a quarter of an hour. 60 s is ~50 times the slowest flow of a default
#: ``plot`` (heavy ball's lift, ~1e5 evaluations). A budget in seconds depends on the machine: a
#: flow that ends within it is bit for bit the same anywhere; one it stops is said, never silent.
MAX_SECONDS = 60.0
#: How a member's message names the budget of :data:`MAX_SECONDS` (callers say what option sets it).
WALL_TIME = "wall-time budget"
COMPILED = "RK45-compiled"


@dataclass(frozen=True)
class Stepping:
    """How the model is stepped: ``method`` (one of :data:`METHODS`), the budgets of one member
    (``max_evaluations`` field evaluations and ``max_seconds`` of wall time, None for no time bound;
    past either it stops as failed, its samples so far kept), and solve_ivp's ``max_step`` and
    ``first_step`` (None: the solver's own choice).

    The compiled method (:data:`COMPILED`) has only the evaluation budget: it integrates the whole
    batch in one compiled loop at ~1 µs per evaluation, so the evaluations bound its time (2e6 of
    them take seconds) and a clock inside the loop would cost more than it saves."""

    method: str = "LSODA"
    max_evaluations: int = MAX_EVALUATIONS
    max_step: float | None = None
    first_step: float | None = None
    max_seconds: float | None = MAX_SECONDS

    def __post_init__(self):
        if self.method not in METHODS:
            from .._names import suggest
            raise ValueError(suggest("method", self.method, METHODS))
        for name in ("max_step", "first_step"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:  # inf (like None) is no bound
            raise ValueError(f"max_seconds must be a positive number of seconds or None, got {self.max_seconds!r}")
        if self.method == COMPILED and (self.max_step, self.first_step) != (None, None):
            raise ValueError(f"method {COMPILED} chooses its own steps: max_step and first_step are for the "
                             f"solve_ivp methods ({', '.join(m for m in METHODS if m != COMPILED)})")

    def options(self) -> dict:
        """The keyword arguments that solve_ivp takes from this record, besides the method."""
        return {name: getattr(self, name) for name in ("max_step", "first_step") if getattr(self, name) is not None}


@dataclass(frozen=True)
class Tolerances:
    """The solver's error control: relative ``rtol`` and absolute ``atol`` per component."""

    rtol: float = 1e-8
    atol: float = 1e-10

    def __post_init__(self):
        for name in ("rtol", "atol"):
            tol = getattr(self, name)
            if not (np.isfinite(tol) and tol > 0):
                raise ValueError(f"{name} must be a positive number, got {tol!r}")


@dataclass(frozen=True)
class SaveAt:
    """The times at which the record is sampled: ``t`` (``(T,)``, or ``(T, *batch)`` per member;
    non-decreasing, ``>= 0``), or, without ``t``, the run's steps on the model's clock (``t = k·h``,
    k = 0..steps, given by :func:`integrate`'s ``steps``), each cut into ``per_step`` equal parts
    (every ``per_step``-th sample is then a step's own time)."""

    t: object = None
    per_step: int = 1

    def __post_init__(self):
        if not (isinstance(self.per_step, (int, np.integer)) and self.per_step >= 1):
            raise ValueError(f"per_step must be an integer >= 1, got {self.per_step!r}")
        if self.t is not None and self.per_step != 1:
            raise ValueError("give the sample times t or the samples per step, not both")


@dataclass(frozen=True)
class Events:
    """What ends a member before the last sample: leaving the ball ``|x| <= escape_radius`` (a terminal
    event; the member is reported as diverged). None: :func:`~simulate.solvers.trajectory.default_escape_radius`."""

    escape_radius: float | None = None


def _record(given, cls, keyword: str, **shorthands):
    """``given`` (a ``cls`` record, or None), with the shorthand keywords that were set filled in."""
    set_ = {name: value for name, value in shorthands.items() if value is not None}
    if given is None:
        return cls(**set_)
    if not isinstance(given, cls):
        raise TypeError(f"{keyword}= takes a {cls.__name__}, got {type(given).__name__}")
    if set_:
        raise ValueError(f"{', '.join(set_)}: give {'it' if len(set_) == 1 else 'them'} in {keyword}= or as "
                         f"keyword{'s' if len(set_) > 1 else ''}, not both")
    return given


@public(before=("optimizer", "landscape"), recognise=is_optimizer)
@checked
def integrate(landscape, optimizer, start=None, t=None, *, steps: int | None = None, flow: str | Flow | None = None,
              stepping: Stepping | None = None, tolerances: Tolerances | None = None, saveat: SaveAt | None = None,
              events: Events | None = None, gtol: float = 1e-8, method: str | None = None, rtol: float | None = None,
              atol: float | None = None, escape_radius: float | None = None,
              max_evaluations: int | None = None, max_seconds: float | None = None) -> Trajectory:
    """Integrate a continuous model of ``optimizer`` on ``landscape`` from ``start`` and sample it at times ``t``.

    What is solved: ``flow`` is the model's kind (:data:`simulate.models.FLOWS`: ``exact``, ``limit``,
    ``modified``, ...) or a :class:`~simulate.models.base.Flow`; by default the optimizer's own (the exact
    lift for torch's optimizers). ``steps`` is the run's length: the samples ``t = k·h`` when no
    times are given (h the model's time per step), and the length of the optimizer's schedule.

    How: ``stepping`` (:class:`Stepping`; shorthands ``method=``, default LSODA (retried with
    :data:`FALLBACK_METHOD` for a start where LSODA itself fails, unless a method is asked for), and
    ``max_evaluations=``, ``max_seconds=``). Radau, BDF and LSODA get the model's analytic Jacobian
    where it has one (from the landscape's Hessian), which they need on the stiff lifts of momentum and adaptive
    methods. ``tolerances`` (:class:`Tolerances`; shorthands ``rtol=``, ``atol=``). Where:
    ``saveat`` (:class:`SaveAt`; shorthand ``t``). The record keeps the model's whole state at the
    samples (``state``), e.g. a velocity. ``events`` (:class:`Events`; shorthand ``escape_radius=``).

    A member that leaves the ball ``|x| <= escape_radius`` is stopped by a terminal event and
    reported as diverged (a start already outside it diverges at sample 0); a solver failure,
    or a member that needs more than ``max_evaluations`` field evaluations or ``max_seconds`` of
    wall time (default :data:`MAX_SECONDS`; ``inf`` or ``Stepping(max_seconds=None)`` for no bound),
    is reported as status ``FAILED`` with scipy's message or the budget that ended it. Samples after
    the stop are NaN. A member whose gradient ends below ``gtol`` is reported as converged. Never raises for numerical trouble.
    """
    # the method left to us (the default LSODA, or auto) is retried with FALLBACK_METHOD where LSODA fails
    chosen = (method or "auto") == "auto" and (stepping is None or stepping.method == "auto")
    stepping = _record(stepping, Stepping, "stepping", method=method, max_evaluations=max_evaluations,
                       max_seconds=max_seconds)
    tolerances = _record(tolerances, Tolerances, "tolerances", rtol=rtol, atol=atol)
    saveat = _record(saveat, SaveAt, "saveat", t=t)
    events = _record(events, Events, "events", escape_radius=escape_radius)
    opt, landscape, x0 = resolve(optimizer, landscape, start)
    model = make_flow(opt, flow)
    if opt.schedule is not None and model.schedule_clock is None:
        if steps is None:
            raise ValueError(f"{opt.display_name} runs a schedule whose lengths are the run's: give steps= (with or "
                             f"without t) or a flow made with flow.for_steps(steps)")
        model = model.for_steps(int(steps))
    batch = np.broadcast_shapes(x0.shape[:-1], opt.batch_shape)
    t = saveat.t
    built_here = t is None  # then its size is checked before it is built
    if t is None:
        if steps is None:
            raise ValueError("give the sample times t or a number of steps")  # t = k·h, or t_k = Σ h(lr_j) with a schedule
        check_record_size(int(steps) * saveat.per_step + 1, batch + x0.shape[-1:])
        t = sample_times(model, int(steps), batch, per_step=saveat.per_step)
    t = np.asarray(t, dtype=np.float64)
    if t.ndim not in (1, 1 + len(batch)) or (t.ndim > 1 and t.shape[1:] != batch):
        raise ValueError(f"t must have shape (T,) or (T, *{batch}), got {t.shape}")
    if t.shape[0] == 0 or not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(np.diff(t, axis=0) < 0):
        raise ValueError("t must be a non-empty, finite, non-decreasing array of times >= 0")
    radius = default_escape_radius(landscape) if events.escape_radius is None else float(events.escape_radius)
    if not built_here:
        check_record_size(t.shape[0], batch + x0.shape[-1:])

    x0 = np.broadcast_to(x0, batch + x0.shape[-1:])
    if stepping.method == "auto":  # the record says which method ran
        from .fastflow import auto_method

        own_steps = bool(stepping.options())
        stepping = replace(stepping, method=auto_method(model, landscape, tolerances.rtol, own_steps))
    if stepping.method == COMPILED:
        return _integrate_compiled(model, opt, landscape, x0, t, batch, tolerances, radius, gtol,
                                   stepping.max_evaluations)
    names = model.state_names()
    states = {name: np.full((t.shape[0],) + x0.shape, np.nan) for name in names}
    xs = states["x"]
    diverged_at = np.full(batch, -1)
    failed = np.zeros(batch, bool)
    messages = np.full(batch, "", dtype=object)
    stats = {key: np.zeros(batch, int) for key in ("nfev", "njev", "nlu")}
    # Filippov members: the discontinuous flows, and those whose switches are sharper than δ (per start)
    regularized = np.zeros(batch, bool)
    deltas, errors = np.full(batch, np.nan), np.full(batch, np.nan)
    fallback = np.zeros(batch, bool)  # members that method auto moved from LSODA to FALLBACK_METHOD
    for idx in np.ndindex(batch):
        times = t if t.ndim == 1 else t[(slice(None), *idx)]
        member = model.member(idx, batch)
        delta = filippov_width(member, landscape, x0[idx]) if member.may_switch and not model.smoothing else 0.0
        if delta and member.needs_smoothing(delta):
            regularized[idx] = True
            sol, errors[idx] = _solve_filippov(member, landscape, x0[idx], times, stepping, tolerances, radius, delta)
            deltas[idx] = delta
        else:
            sol = _solve_member(member, landscape, x0[idx], times, stepping, tolerances, radius)
            if chosen and sol.status < 0 and not sol.budget and stepping.method == "LSODA":
                # LSODA's own failures ("Unexpected istate", repeated convergence failures) depend on
                # rounding, hence on the machine; auto then takes the other stiff solver, and says so.
                sol = _solve_member(member, landscape, x0[idx], times, replace(stepping, method=FALLBACK_METHOD),
                                    tolerances, radius)
                fallback[idx] = True
        n = sol.t.size
        bad = ~np.all(np.isfinite(sol.y), axis=-1)
        if bad.any() and sol.status >= 0:  # LSODA can return NaN samples and report success
            n = int(np.argmax(bad))
            sol.status, sol.message = 2, f"diverged: non-finite state at t = {times[n]:.6g}"
        for name in sol.state:  # a member may have fewer components (momentum 0 has no buffer)
            states[name][(slice(0, n), *idx)] = sol.state[name][:n]
        for key in stats:
            stats[key][idx] = getattr(sol, key, 0)
        if sol.budget:  # a budget ran out (its event, or the clock in the middle of a step)
            failed[idx] = True
            messages[idx] = _budget_message(sol, stepping)
        elif sol.status == 1:  # the escape event fired between samples n-1 and n
            diverged_at[idx] = n
            where = "the start is outside" if n == 0 else f"|x| reached {radius:g} at t = {sol.t_events[0][0]:.6g}"
            messages[idx] = f"diverged: {where}"
        elif sol.status == 2:
            diverged_at[idx] = n
            messages[idx] = sol.message
        elif sol.status < 0:
            failed[idx] = True
            messages[idx] = f"solver failed at t = {sol.t_stop:.6g}: {sol.message}"
        elif sol.arrived:
            messages[idx] = sol.arrived
    stats.update(method=stepping.method, rtol=tolerances.rtol, atol=tolerances.atol, escape_radius=radius,
                 max_evaluations=stepping.max_evaluations,
                 max_seconds=np.inf if stepping.max_seconds is None else float(stepping.max_seconds))
    if fallback.any():
        stats.update(fallback=f"{FALLBACK_METHOD} where LSODA failed ({int(fallback.sum())} of {fallback.size} starts)")
    if model.schedule_clock is not None:
        stats.update(schedule=opt.schedule.spec, schedule_steps=len(model.schedule_clock.h))
    if regularized.any():
        stats.update(method=FILIPPOV_METHOD if stepping.method not in IMPLICIT else stepping.method,
                     rtol=min(tolerances.rtol, FILIPPOV_RTOL), atol=min(tolerances.atol, FILIPPOV_ATOL),
                     smoothing=deltas if batch else float(deltas), smoothing_error=errors if batch else float(errors),
                     filippov=filippov_note(deltas[regularized], errors[regularized], model.regularization))
    return finish("flow", t, xs, opt, landscape, diverged_at, gtol, failed=failed, messages=messages, stats=stats,
                  time_per_step=model.time_per_step, flow=model.kind, state=states)


def _integrate_compiled(model, opt, landscape, x0, t, batch, tolerances, radius, gtol, max_evaluations):
    """The whole batch through simulate.fastflow (plain gradient flows on 2-D pointwise landscapes)."""
    from .fastflow import compiled_gradient_flow, supports_flow

    if not supports_flow(model, landscape):
        raise ValueError(f"method {COMPILED} integrates plain gradient flows (gd, heun, rk4: exact or limit) on 2-D "
                         f"landscapes with a pointwise gradient (rosenbrock, himmelblau); use a solve_ivp method "
                         f"for the {model.kind} flow of {opt.display_name} on {landscape.name}")
    B = int(np.prod(batch))
    times = np.broadcast_to(t.reshape(t.shape[0], -1), (t.shape[0], B))
    rtol, atol = tolerances.rtol, tolerances.atol
    xs, diverged_at, failed, nfev = compiled_gradient_flow(model, landscape, x0.reshape(B, -1), times, rtol, atol,
                                                           radius, max_evaluations)
    messages = np.full(B, "", dtype=object)
    for i in np.nonzero(failed)[0]:
        messages[i] = f"solver failed: more than {max_evaluations} field evaluations"
    for i in np.nonzero(diverged_at >= 0)[0]:
        messages[i] = "diverged: the start is outside" if diverged_at[i] == 0 else \
            f"diverged: |x| reached {radius:g} before sample {diverged_at[i]}"
    xs = xs.reshape((t.shape[0],) + batch + (2,))
    stats = {"nfev": nfev.reshape(batch), "method": COMPILED, "rtol": rtol, "atol": atol, "escape_radius": radius,
             "max_evaluations": max_evaluations}
    return finish("flow", t, xs, opt, landscape, diverged_at.reshape(batch), gtol, failed=failed.reshape(batch),
                  messages=messages.reshape(batch), stats=stats,
                  time_per_step=model.time_per_step, flow=model.kind, state={"x": xs})


#: δ of a discontinuous (Filippov) flow, relative to the switching variable's scale: ``δ = FILIPPOV_WIDTH·‖∇f(x₀)‖∞``
#: (an absolute FILIPPOV_WIDTH where the start's gradient vanishes or is not finite).
FILIPPOV_WIDTH = 1e-6
#: The stiff solver a Filippov flow gets when the method asked for is explicit, and its tolerances (at most).
FILIPPOV_METHOD, FILIPPOV_RTOL, FILIPPOV_ATOL = "LSODA", 1e-10, 1e-12


def filippov_width(model: Flow, landscape, x0) -> float:
    """δ for ``model``'s switches at the start ``x0``: :data:`FILIPPOV_WIDTH` times the largest
    component of the gradient there, the scale of what the switches act on (the field's sign
    arguments are ∇f, or a momentum that tracks it)."""
    with np.errstate(all="ignore"):
        g = np.asarray(model.optimizer.seen(landscape).grad(np.asarray(x0, dtype=np.float64)))
    scale = float(np.max(np.abs(g))) if g.size and np.all(np.isfinite(g)) else 0.0
    return FILIPPOV_WIDTH * (scale if scale > 0 else 1.0)


def filippov_note(deltas, errors, regularization: str = "sign→tanh(·/δ)") -> str:
    """The line a Filippov flow's record carries (the figure's label says it): the regularization,
    δ and the estimated error."""
    deltas, errors = np.ravel(deltas), np.ravel(errors)
    delta = f"{deltas[0]:.2g}" if np.all(deltas == deltas[0]) else f"{np.nanmin(deltas):.2g}…{np.nanmax(deltas):.2g}"
    err = f"{np.nanmax(errors):.1e}" if np.any(np.isfinite(errors)) else "not estimated (a solve stopped)"
    return f"Filippov flow, regularized {regularization}, δ = {delta}, estimated error {err}"


def _solve_filippov(model: Flow, landscape, x0, times, stepping: Stepping, tolerances: Tolerances, radius, delta):
    r"""A discontinuous (Filippov) flow, regularized: its switches smoothed to width δ
    (:func:`filippov_width`; ``sign(z) → tanh(z/δ)``, :meth:`Flow.smoothed`) and integrated with a
    stiff solver (the method asked for if implicit, else :data:`FILIPPOV_METHOD`) at rtol ≤ 1e-10:
    the smoothed field's Jacobian grows like ∇²f/δ inside the switching layers, where an explicit
    method (and any method on the unsmoothed field) stalls on step rejections. Regularization
    converges at O(δ) (theory §10.9, recipe 2), so a second solve at 2δ estimates the error of
    this one: ``‖x_δ − x_2δ‖∞`` over the samples, within what the first solve left of the member's
    budgets. Returns ``(solution at δ, estimated error)``; the error is NaN where either solve
    stopped early (the second is not started when the first stopped). Arrival at a minimum in
    finite time is a stable node of the smoothed field (relaxation rate ~ ∇²f/δ), which the
    implicit solver steps over.
    """
    method = stepping.method if stepping.method in IMPLICIT else FILIPPOV_METHOD
    stepping = replace(stepping, method=method)
    tolerances = Tolerances(min(tolerances.rtol, FILIPPOV_RTOL), min(tolerances.atol, FILIPPOV_ATOL))
    began = time.perf_counter()
    sol = _solve_member(model.smoothed(delta), landscape, x0, times, stepping, tolerances, radius)
    # The check shares the member's budgets (what the first solve left of them), and is skipped where
    # the first solve stopped: a member costs at most its budget, not twice it.
    left = None if stepping.max_seconds is None else stepping.max_seconds - (time.perf_counter() - began)
    evaluations = stepping.max_evaluations - sol.nfev
    if sol.status != 0 or sol.budget or evaluations <= 0 or (left is not None and left <= 0):
        return sol, np.nan
    check = _solve_member(model.smoothed(2 * delta), landscape, x0, times,
                          replace(stepping, max_seconds=left, max_evaluations=evaluations), tolerances, radius)
    error = np.nan
    if check.status == 0 and not check.budget:
        error = float(np.max(np.abs(sol.state["x"] - check.state["x"]))) if sol.t.size else 0.0
    sol.nfev += check.nfev
    sol.njev += check.njev
    sol.nlu += check.nlu
    return sol, error


def _budget_message(sol, stepping: Stepping) -> str:
    """The line a member stopped by one of its budgets gets: which one, where, and what to try."""
    where = sol.t_events[1][0] if sol.t_events[1].size else sol.t_stop
    if sol.budget == "evaluations":
        return (f"solver failed at t = {where:.6g}: more than {stepping.max_evaluations} "
                f"field evaluations (a stiff or chaotic flow; try another method)")
    return (f"solver stopped at t = {where:.6g}: its {WALL_TIME} of {stepping.max_seconds:g} s ran out after "
            f"{sol.nfev} field evaluations (a tiny step size, a stiff flow or a singular start; try another "
            f"method, a larger time budget, or fewer steps)")


class _OutOfTime(Exception):
    """Raised by the field when a member is far past its wall-time budget in one step (a step that
    never ends); the samples of that member are then lost, its start kept."""


class _MemberSolution:
    """What :func:`integrate` keeps of one ``solve_ivp`` result."""

    def __init__(self, sol, names, times, size: int, budget: str = "", arrived: str = ""):
        self.budget = budget  # "evaluations" or "seconds" when one of the member's budgets stopped it
        self.arrived = arrived  # the model's note where it ended at a singular point (Flow.arrival)
        self.status, self.message = sol.status, sol.message
        self.t = np.asarray(sol.t, dtype=np.float64)  # scipy leaves lists where the first step fails
        self.t_events = sol.t_events
        self.t_stop = self.t[-1] if self.t.size else times[0]
        self.y = np.asarray(sol.y, dtype=np.float64).reshape(size, self.t.size).T  # scipy's (n, T), transposed here only
        self.state = unpack(self.y, names)
        self.nfev, self.njev, self.nlu = sol.nfev, sol.njev, sol.nlu


def _solve_member(model: Flow, landscape, x0, times, stepping: Stepping, tolerances: Tolerances, radius):
    from scipy.integrate import solve_ivp  # here, not at the top: the command line's help needs no scipy

    max_evaluations = stepping.max_evaluations
    seconds = np.inf if stepping.max_seconds is None else float(stepping.max_seconds)
    with np.errstate(all="ignore"):  # a start where the gradient is not finite is reported below
        state0 = model.init(x0, landscape)
    names = tuple(state0)
    y0 = pack(state0)
    evaluations = [0]
    began = time.perf_counter()
    arrived_at = ""
    spent = [""]  # the budget that ran out, if one did

    def field(t, y):
        return pack(model.field(t, unpack(y, names), landscape))

    def fun(t, y):  # the field as the solver sees it: counted and timed against the budgets
        evaluations[0] += 1
        # The clock is read here (~50 ns), the budget event reads the flag at the end of the step;
        # a single step that runs on to twice the budget (a solver's inner loop) is cut at once.
        if not spent[0] and time.perf_counter() - began > seconds:
            spent[0] = "seconds"
        if spent[0] == "seconds" and time.perf_counter() - began > 2 * seconds + 1:
            raise _OutOfTime
        return field(t, y)

    def jac(t, y):
        return model.jacobian(t, unpack(y, names), landscape)

    def escaped(t, y):
        return radius - np.linalg.norm(unpack(y, names)["x"])

    limit = [np.inf]

    def budget(t, y):
        # An event rather than an exception, so the samples so far are kept. scipy locates an
        # event by root-finding within the last step, so the value must be continuous in t:
        # once a budget is spent it becomes t_limit − t, which reaches 0 at this step's end.
        if limit[0] == np.inf:
            if evaluations[0] > max_evaluations:
                spent[0] = "evaluations"
            elif not spent[0] and time.perf_counter() - began > seconds:
                spent[0] = "seconds"
            if spent[0]:
                limit[0] = t
        return limit[0] - t

    escaped.terminal = budget.terminal = True
    events = (escaped, budget)
    end = model.arrival(landscape, x0)
    if end is not None:
        def arrived(t, y):
            return end[0](t, unpack(y, names))

        arrived.terminal = True
        events += (arrived,)
    kwargs = stepping.options()
    if stepping.method in IMPLICIT and model.has_jacobian:
        kwargs["jac"] = jac
    with np.errstate(all="ignore"):
        if not np.linalg.norm(x0) <= radius:  # outside the ball (or non-finite) from the start
            sol = _Constant(y0, times[:0], status=1)
        elif times[-1] == 0 and model.start_time == 0:  # nothing to integrate: every sample is the start
            sol = _Constant(y0, times)
        # a field not finite at the start: scipy would refuse in its own words, or spin to its budget
        elif not (np.all(np.isfinite(y0)) and np.all(np.isfinite(field(model.start_time, y0)))):
            sol = _Constant(y0, times[:0], status=-1,
                            message="the field is not finite at the start (the gradient is inf or NaN there)")
        else:
            # repeated times (steps of lr 0 at the end of a schedule) are one sample to the solver
            unique, index = np.unique(times, return_inverse=True)
            try:
                sol = solve_ivp(fun, (model.start_time, float(times[-1])), y0, method=stepping.method,
                                t_eval=unique, rtol=tolerances.rtol, atol=tolerances.atol, events=events,
                                **kwargs)
            except _OutOfTime:  # only the start is known
                sol = _Constant(y0, times[:1] if model.start_time == times[0] else times[:0], status=1)
                sol.nfev = evaluations[0]
            else:
                if end is not None and sol.status == 1 and sol.t_events[2].size:  # rests where it arrived
                    rest = unique[unique > sol.t_events[2][0]]
                    sol.t = np.concatenate([sol.t, rest])
                    sol.y = np.concatenate([sol.y, np.repeat(sol.y_events[2][0][:, None], rest.size, axis=1)], axis=1)
                    sol.status, arrived_at = 0, f"{end[1]} (at t = {sol.t_events[2][0]:.6g})"
                if unique.size < times.size:
                    kept = int(np.count_nonzero(index < sol.t.size))
                    sol.t, sol.y = times[:kept], sol.y[:, index[:kept]]
    stopped = spent[0] if sol.status == 1 and (sol.t_events[1].size or spent[0] == "seconds") else ""
    return _MemberSolution(sol, names, times, y0.size, budget=stopped, arrived=arrived_at)


class _Constant:
    """A solve_ivp-like result where nothing is integrated: a zero-length horizon, a start outside
    the ball (status 1, the escape event) or a field not finite at the start (status −1)."""

    def __init__(self, y0, times, status=0, message="no time to integrate"):
        self.status, self.message = status, message
        self.t = np.asarray(times)
        self.y = np.repeat(y0[:, None], times.size, axis=1)
        self.t_events = [np.zeros(1) if status == 1 else np.empty(0), np.empty(0)]
        self.nfev = self.njev = self.nlu = 0
