"""What a run will cost, in seconds on this machine, known before any work: one estimate for every command.

A run's work is a list of parts (``(what, seconds)``): discrete member-steps, flow solves, noisy
paths. The seconds come from the constants below, measured on the project's 2-core machine
(Dec 2026) with ``python benchmarks/bench_flows.py --calibrate``, which prints them again:

* discrete steps, the numpy loop: a fixed cost per step (the Python loop, the metrics a sweep
  tracks) plus a cost per member and step; the compiled engine: a cost per member and step;
* flow solves: a fixed cost per ``solve_ivp`` call plus a cost per field evaluation (the Python
  call dominates: ~100 µs), or the compiled Dormand–Prince's cost per evaluation (~40 ns);
* the field evaluations of a solve: from the horizon T and a stiffness proxy ρ (the spectral
  radius of the flow's Jacobian at the start, by finite differences of its field: lr·λmax per
  step for GD). An explicit method's step is held near its stability limit c/ρ once the
  transient is over, so it takes about ``stages·(T·ρ/c + transient)`` evaluations; LSODA switches
  to BDF when the flow is stiff, and its count grows like ``log(1 + T·ρ)`` (fitted on rosenbrock:
  159, 305, 890, 1032 evaluations at T·ρ ≈ 20, 2·10³, 2·10⁴, 2·10⁵). The evaluation budget
  bounds both.

These are estimates for planning and for progress bars, within a factor of a few; they are not
promises. :func:`check_time` refuses, before any work, a run whose estimate exceeds the time
limit in force (:func:`time_limit`; default :data:`DEFAULT_TIME_LIMIT`), naming the option
that makes it fit.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Estimate", "TooLongError", "check_time", "time_limit", "limit_in_force", "DEFAULT_TIME_LIMIT",
           "IN_FORCE", "Stiffness", "limited", "flow_part", "runs_estimate", "discrete_seconds", "flow_evaluations", "flow_seconds", "solve_seconds", "stiffness", "duration"]

#: The time limit of every command unless told otherwise (seconds).
DEFAULT_TIME_LIMIT = 3600.0

# -- calibration (seconds, this machine; benchmarks/bench_flows.py --calibrate measures them) -------
#: the numpy loop's cost per step whatever the batch (Python, the sweep's tracked metrics)
NUMPY_STEP = 1.5e-4
#: the numpy loop's cost per member and step
NUMPY_MEMBER_STEP = 6e-8
#: the compiled engine's cost per member and step (both cores)
COMPILED_MEMBER_STEP = 2e-8
#: how much a noisy step costs more than an exact one (a normal draw per coordinate)
NOISE_FACTOR = 2.0
#: one ``solve_ivp`` call's own cost, and its cost per field evaluation (Jacobians included)
SOLVE_IVP_CALL = 1e-3
SOLVE_IVP_EVALUATION = 1e-4
#: the compiled Dormand–Prince's cost per member and field evaluation (both cores)
COMPILED_EVALUATION = 4e-8
#: the first compiled solve of a landscape in a process: importing numba, loading the cached loop
COMPILED_LOAD = 1.5

#: per explicit method: (field evaluations per step, stability limit of h·ρ, order of the error estimate)
EXPLICIT = {"RK45": (6, 3.3, 4), "RK45-compiled": (6, 3.3, 4), "RK23": (3, 2.5, 2), "DOP853": (12, 6.0, 7)}
#: the stiff solvers' count: ``IMPLICIT_BASE + IMPLICIT_PER_LOG·log(1 + T·ρ)`` evaluations
IMPLICIT_BASE, IMPLICIT_PER_LOG = 50.0, 90.0
#: the accuracy-limited steps of the transient at rtol 1e-8 (scaled by rtol^(−1/(order+1)))
TRANSIENT_STEPS = 30.0


class TooLongError(ValueError):
    """A run refused before any work: its estimated time exceeds the time limit."""


class _InForce:
    def __repr__(self) -> str:
        return "IN_FORCE"


#: ``time_limit=IN_FORCE``: the limit set by the enclosing :func:`time_limit` block (default one hour).
IN_FORCE = _InForce()
_LIMIT: contextvars.ContextVar = contextvars.ContextVar("time_limit", default=DEFAULT_TIME_LIMIT)


def _checked_limit(seconds) -> float:
    """``seconds`` as a limit: a number >= 0; 0 or None means none (inf)."""
    if seconds is None:
        return math.inf
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.integer, np.floating)) \
            or not (seconds >= 0):
        raise ValueError(f"time_limit must be a number of seconds >= 0 (0 or None: no limit), got {seconds!r}")
    return math.inf if seconds == 0 else float(seconds)


@contextlib.contextmanager
def time_limit(seconds):
    """Within the block, every run is refused whose estimate exceeds ``seconds`` (0 or None: no limit)."""
    token = _LIMIT.set(_checked_limit(seconds))
    try:
        yield
    finally:
        _LIMIT.reset(token)


def limit_in_force(seconds=IN_FORCE) -> float:
    """The limit a run checks against: ``seconds`` where given (0 or None: none), else the block's."""
    return _LIMIT.get() if seconds is IN_FORCE else _checked_limit(seconds)


def limited(function):
    """``function`` with one more keyword, ``time_limit`` (seconds; 0 or None: no limit; default
    :data:`DEFAULT_TIME_LIMIT`): the limit in force while it runs. The commands' library calls go
    through it, so every command, and every run inside one, checks its estimate against the
    command's ``--time-limit``."""

    @functools.wraps(function)
    def call(*args, time_limit=DEFAULT_TIME_LIMIT, **kwargs):
        token = _LIMIT.set(_checked_limit(time_limit))
        try:
            return function(*args, **kwargs)
        finally:
            _LIMIT.reset(token)

    signature = inspect.signature(function)
    params = [p for p in signature.parameters.values() if p.name != "time_limit"]
    keyword = inspect.Parameter("time_limit", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_TIME_LIMIT)
    at = len(params) - (params and params[-1].kind == inspect.Parameter.VAR_KEYWORD)
    call.__signature__ = signature.replace(parameters=params[:at] + [keyword] + params[at:])
    return call


def duration(seconds: float) -> str:
    """``seconds`` as a person reads it: 12 s, 3.5 min, 2.1 h, 4.2e+05 years."""
    if not math.isfinite(seconds):
        return "forever"
    for size, unit in ((3.156e7, "years"), (86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= 2 * size:
            n = seconds / size
            return f"{n:.3g} {unit}" if n < 1e6 else f"{n:.2g} {unit}"
    return f"{seconds:.2g} s"


@dataclass(frozen=True)
class Estimate:
    """A run's expected work: ``parts`` are ``(what, seconds)``, added up by :attr:`seconds`."""

    parts: tuple[tuple[str, float], ...] = ()

    @property
    def seconds(self) -> float:
        return float(sum(s for _, s in self.parts))

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(self.parts + other.parts)

    def describe(self) -> str:
        """One line: the total and its largest part."""
        if not self.parts:
            return "no work"
        what, largest = max(self.parts, key=lambda p: p[1])
        more = f" ({what}: {duration(largest)})" if len(self.parts) > 1 else f" ({what})"
        return f"about {duration(self.seconds)}{more}"


def check_time(estimate: Estimate, fits: str, limit=IN_FORCE) -> Estimate:
    """Refuse, before any work, a run whose estimate exceeds the time limit (``limit``, else the one
    in force): a :class:`TooLongError` that says the estimate and ``fits``, the options that make
    the run shorter. Returns ``estimate``."""
    limit = limit_in_force(limit)
    seconds = estimate.seconds
    if seconds > limit:
        raise TooLongError(f"this run would take {estimate.describe()} on this machine and the time limit is "
                           f"{duration(limit)}: use {fits}, or a larger --time-limit (0: no limit)")
    return estimate


# -- the parts -----------------------------------------------------------------------------------
def discrete_seconds(members, steps, *, compiled: bool = False, noisy: bool = False, overhead: bool = True) -> float:
    """Seconds of ``steps`` steps of a batch of ``members`` (numpy loop or compiled engine).
    ``overhead=False``: the numpy loop without per-step metrics (a run that measures only its end)."""
    members, steps = float(members), float(steps)
    if compiled:
        seconds = COMPILED_MEMBER_STEP * members * steps
    else:
        seconds = (NUMPY_STEP * (1.0 if overhead else 0.4) + NUMPY_MEMBER_STEP * members) * steps
    return seconds * (NOISE_FACTOR if noisy else 1.0)


def flow_evaluations(method: str, horizon_stiffness, rtol: float, budget: float, horizon_oscillation=0.0) -> np.ndarray:
    """Field evaluations of one solve per member, from ``horizon_stiffness`` = T·ρ (an array) and
    ``rtol``; at most ``budget`` (NaN T·ρ: the stiffness is unknown, taken as 1 per unit of T·ρ).
    ``horizon_oscillation`` = T·ω (per member), ω the largest weakly damped eigenvalue (|Im| > |Re|,
    a momentum lift): modes the stiff solvers must follow step by step as an explicit method does
    (measured on heavy ball's lift on rosenbrock: 2.5·10³–2.5·10⁴ evaluations at T·ρ = 10²–5·10³)."""
    tr = np.nan_to_num(np.asarray(horizon_stiffness, dtype=np.float64), nan=1.0, posinf=budget)
    tr = np.maximum(tr, 0.0)
    rk45 = EXPLICIT["RK45"]
    if method in EXPLICIT:
        stages, limit, order = EXPLICIT[method]
        transient = TRANSIENT_STEPS * (1e-8 / max(rtol, 1e-16)) ** (1.0 / (order + 1))
        evaluations = stages * (tr / limit + transient)
    else:  # LSODA, BDF, Radau: the stiff solvers
        explicit = 2 * rk45[0] * (tr / rk45[1] + TRANSIENT_STEPS)
        oscillation = np.nan_to_num(np.asarray(horizon_oscillation, dtype=np.float64), nan=0.0, posinf=budget)
        evaluations = np.minimum(IMPLICIT_BASE + IMPLICIT_PER_LOG * np.log1p(tr), explicit) \
            + 2 * rk45[0] * oscillation / rk45[1]
    return np.minimum(evaluations, float(budget))


def solve_seconds(method: str, evaluations, components: int = 1) -> np.ndarray:
    """Seconds of each solve, from its field ``evaluations`` (an array: one per solve) of a state of
    ``components`` parts (x, a velocity, moments: each one more array through the Python field)."""
    evaluations = np.asarray(evaluations, dtype=np.float64)
    if method == "RK45-compiled":
        return COMPILED_EVALUATION * evaluations
    return SOLVE_IVP_CALL + SOLVE_IVP_EVALUATION * components * evaluations


def flow_seconds(method: str, evaluations) -> float:
    """Seconds of solves that take ``evaluations`` field evaluations each (an array: one per solve)."""
    return float(np.sum(solve_seconds(method, evaluations)))


#: Members whose stiffness is measured (the rest take the nearest measured one's).
STIFFNESS_SAMPLE = 4096


@dataclass(frozen=True)
class Stiffness:
    """A flow's stiffness at its starts: ``rho`` the spectral radius of its Jacobian per member (NaN
    where unknown), ``omega`` the largest modulus of its weakly damped eigenvalues (|Im| > |Re|; 0
    where none), ``components`` the parts of its state."""

    rho: np.ndarray
    omega: np.ndarray
    components: int = 1

    @property
    def oscillating(self) -> np.ndarray:
        return self.omega > 0


def stiffness(model, landscape, x0) -> Stiffness:
    """The spectral radius of the flow's Jacobian at each start, by finite differences of the field
    (``model`` batched like ``x0``'s members, ``x0`` ``(B, d)``), and whether it oscillates. NaN
    where it cannot be measured (a non-finite field at the start)."""
    x0 = np.asarray(x0, dtype=np.float64)
    B = x0.shape[0]
    unknown = Stiffness(np.full(B, np.nan), np.zeros(B))
    idx = np.unique(np.linspace(0, B - 1, min(B, STIFFNESS_SAMPLE)).round().astype(np.intp))
    try:
        member = model.member((idx,), (B,)) if model.batch_shape else model
        from .continuous import pack, unpack

        state = member.init(x0[idx], landscape)
        names = tuple(state)
        y = pack(state)
        with np.errstate(all="ignore"):
            f0 = pack(member.field(0.0, state, landscape))
            n = y.shape[-1]
            J = np.empty(y.shape[:-1] + (n, n))
            for j in range(n):
                delta = 1e-7 * (1.0 + np.abs(y[..., j]))
                shifted = y.copy()
                shifted[..., j] += delta
                J[..., :, j] = (pack(member.field(0.0, unpack(shifted, names), landscape)) - f0) / delta[..., None]
            bad = ~np.all(np.isfinite(J), axis=(-2, -1))
            J[bad] = 0.0
            eigenvalues = np.linalg.eigvals(J)
            rho = np.max(np.abs(eigenvalues), axis=-1)
            weak = np.abs(eigenvalues.imag) > np.abs(eigenvalues.real)
            omega = np.max(np.where(weak, np.abs(eigenvalues), 0.0), axis=-1)
        rho[bad] = np.nan
    except Exception:  # noqa: BLE001 - advisory: a model that cannot be probed (a user's field, a
        return unknown  # callable landscape) has an unknown stiffness; the run itself reports real errors
    # every member takes the nearest measured one's value
    nearest = np.searchsorted(idx, np.arange(B)).clip(0, idx.size - 1)
    return Stiffness(rho[nearest], omega[nearest], len(names))


def flow_part(model, landscape, x0, horizon, method: str, rtol: float, budget: float,
              steps=None) -> tuple[str, np.ndarray]:
    """``(the method that will run, seconds per member)`` of integrating ``model`` from ``x0``
    (``(B, d)``) to ``horizon`` (per member or one); ``method="auto"`` is resolved as
    :func:`~simulate.solvers.continuous.integrate` does. ``steps``: the run's, which bound the
    oscillations the lift follows (a map of ``steps`` steps shows at most π·steps radians of them;
    faster ones are a probe's artefact, such as Adam's lift at v = 0)."""
    from .fastflow import AUTO, METHOD, auto_method, loaded

    x0 = np.atleast_2d(np.asarray(x0, dtype=np.float64))
    ran = auto_method(model, landscape, rtol) if method == AUTO else method
    probe = stiffness(model, landscape, x0)
    with np.errstate(all="ignore"):
        horizon = np.broadcast_to(np.asarray(horizon, dtype=np.float64), x0.shape[:1])
        oscillation = horizon * probe.omega if steps is None else np.minimum(horizon * probe.omega, np.pi * steps)
        evaluations = flow_evaluations(ran, horizon * probe.rho, rtol, budget, oscillation)
    seconds = solve_seconds(ran, evaluations, probe.components)
    if ran == METHOD and not loaded(landscape) and seconds.size:  # the first solve loads numba and the loop
        seconds[0] += COMPILED_LOAD
    return ran, seconds


def runs_estimate(optimizers, landscape, x0, steps: int, *, flow=None, method: str = "LSODA", rtol: float = 1e-8,
                  max_evaluations=None, paths: int = 0, substeps: int = 0) -> Estimate:
    """The work of running each of ``optimizers`` (resolved as :func:`~simulate.solvers.inputs.resolve`
    does) for ``steps`` steps from ``x0`` beside its flow ``flow`` (one solve per start, to the run's
    end); with ``paths``, noisy: that many paths from one start, their SDE at ``substeps`` per step,
    and one flow (:func:`simulate.analysis.ensembles.ensemble`)."""
    from ..models import flow as make_flow
    from .continuous import MAX_EVALUATIONS
    from .inputs import resolve

    budget = MAX_EVALUATIONS if max_evaluations is None else max_evaluations
    parts = []
    for item in optimizers:
        opt, land, start = resolve(item, landscape, x0)
        starts = start.reshape(-1, start.shape[-1])
        members = paths or starts.shape[0]
        name = opt.display_name
        parts.append((f"{name}'s {members} x {steps} steps", discrete_seconds(members, steps, noisy=bool(paths))))
        if paths and substeps:
            parts.append((f"{name}'s SDE ({paths} x {steps * substeps} steps)",
                          discrete_seconds(paths, steps * substeps, noisy=True)))
        try:
            model = make_flow(opt, flow if not paths or opt.sde_refusal() is None else None)
        except ValueError:  # no such model for this optimizer: the run itself says so
            continue
        model = model.for_steps(int(steps)) if opt.schedule is not None else model
        horizon = steps * np.asarray(model.time_per_step, dtype=np.float64).reshape(-1)[:1]
        ran, seconds = flow_part(model, land, starts[:1] if paths else starts, horizon, method, rtol, budget, steps)
        parts.append((f"{name}'s {seconds.size} flow solve{'s' * (seconds.size != 1)} ({ran})", float(seconds.sum())))
    return Estimate(tuple(parts))
