"""Learning-rate schedules: torch.optim.lr_scheduler's sequences, exactly, and the clock they make.

A schedule turns an optimizer's ``lr`` (torch's ``base_lr``; OneCycleLR's ``max_lr``) into the
step sizes ``lr_1, lr_2, …`` of a run. Step k uses the value torch's scheduler holds after k − 1
calls of ``scheduler.step()`` (the documented order: ``optimizer.step()`` then
``scheduler.step()``). The chainable schedulers (StepLR, ExponentialLR, CosineAnnealingLR,
LinearLR, …) are computed by torch's own recursions on the previous value, in float64, so the
sequence is torch's to the bit, not a closed form that differs in the last place.

In the ODE view a schedule is a change of clock. GD with steps ``lr_k`` is Euler with variable
steps on the same gradient flow, at times ``t_k = lr_1 + … + lr_k``
(:class:`ScheduleClock`); for momentum and Adam the buffers relax at ``(1 − β)/lr(t)``, so the
exact lift itself changes with ``lr(t)`` (:class:`simulate.models.base.ExactFlow` on the run's clock).

Names (``schedule("cosine")``, ``--schedule cosine``): step, multistep, exponential, cosine,
linear, polynomial, onecycle (torch's classes), lambda (LambdaLR with a formula in the epoch
``k``), inverse-sqrt and inverse-time (LambdaLR factors ``(1 + k/t0)^(−1/2)`` and
``1/(1 + k/t0)``), constant. The named schedulers' sequences are torch's to the bit; a lambda
formula is evaluated by numpy, so it agrees with a Python lambda to rounding. ``warmup=W`` puts torch's ``SequentialLR([LinearLR(warmup_start, 1, W), S],
milestones=[W])`` in front of any of them (not OneCycleLR, which has its own). Lengths left out
(``T_max``, ``total_iters``, ``total_steps``) are the run's: the schedule ends with the run (torch's
own defaults differ: LinearLR and PolynomialLR default to total_iters = 5). OneCycleLR takes
``total_steps`` (not ``epochs``/``steps_per_epoch``), its ``max_lr`` being the optimizer's lr.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._names import lookup
from ..spec import format_spec, parse_spec

__all__ = ["Schedule", "SCHEDULES", "schedule", "ScheduleClock", "ScheduleGrid", "sweepable_parameters", "StepLR", "MultiStepLR", "ExponentialLR",
           "CosineAnnealingLR", "LinearLR", "PolynomialLR", "OneCycleLR", "LambdaLR", "Warmup"]


def _whole(name: str, value, minimum: int = 1, optional: bool = False):  # minimum named in the message
    if value is None and optional:
        return None
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _real(name: str, value, low=None, high=None, low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or (low is not None and (v <= low if low_open else v < low)) or (high is not None and v > high):
        where = f"{'>' if low_open else '>='} {low:g}" if low is not None else ""
        where += (" and " if where and high is not None else "") + (f"<= {high:g}" if high is not None else "")
        raise ValueError(f"{name} must be a finite number{' ' + where if where else ''}, got {value!r}")
    return v


@dataclass(frozen=True)
class Schedule:
    """Base class. Subclasses give :meth:`_sequence`: the lr at epochs 0, 1, …, n − 1."""

    name: ClassVar[str] = ""
    torch_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: the parameter that defaults to the run's length (None for none)
    _length: ClassVar[str | None] = None

    def lrs(self, lr, steps: int) -> np.ndarray:
        """The step sizes of steps 1..steps for base ``lr`` (a number or an array of the batch
        shape): ``(steps,) + shape(lr)``, float64."""
        lr = np.asarray(lr, dtype=np.float64)
        steps = int(steps)
        if steps == 0:
            return np.zeros((0,) + lr.shape)
        try:
            return np.stack(list(self.resolved(steps)._sequence(lr, steps)))
        except ZeroDivisionError:  # e.g. a OneCycle phase of no length: torch divides by zero too
            raise ValueError(f"{self.spec}: a phase of this schedule has no length over {steps} steps") from None

    def resolved(self, steps: int) -> Schedule:
        """This schedule with the lengths it leaves to the run set to ``steps``."""
        if self._length is not None and getattr(self, self._length) is None:
            return dataclasses.replace(self, **{self._length: max(1, int(steps))})
        return self

    def _sequence(self, lr0, n, first=None):
        """Epochs 0..n−1; ``first`` replaces epoch 0's value (SequentialLR's restart)."""
        raise NotImplementedError

    def _restart(self, lr0):
        """The value torch's SequentialLR gives at this schedule's milestone (its closed form at
        epoch 0); the same as the first value except where noted."""
        return next(iter(self._sequence(lr0, 1)))

    @property
    def spec(self) -> str:
        """Text that builds this schedule again: ``schedule(s.spec) == s``."""
        changed = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                   if getattr(self, f.name) != f.default}
        return format_spec(self.name, changed)

    @property
    def label(self) -> str:
        return self.spec

    def __str__(self) -> str:
        return self.spec


# -- torch's chainable schedulers ------------------------------------------------------------------
@dataclass(frozen=True)
class StepLR(Schedule):
    """``torch.optim.lr_scheduler.StepLR``: lr ← lr·γ every ``step_size`` epochs."""

    name: ClassVar[str] = "step"
    torch_name: ClassVar[str] = "StepLR"
    description: ClassVar[str] = "StepLR: multiply by gamma every step_size steps"
    step_size: int | None = None
    gamma: float = 0.1

    def __post_init__(self):
        if self.step_size is None:
            raise ValueError("step: give step_size, the steps between decays (torch requires it too)")
        object.__setattr__(self, "step_size", _whole("step: step_size", self.step_size))
        object.__setattr__(self, "gamma", _real("step: gamma", self.gamma, 0, low_open=True))

    def _sequence(self, lr0, n, first=None):
        cur = lr0 if first is None else first
        yield cur
        for e in range(1, n):
            if e % self.step_size == 0:
                cur = cur * self.gamma
            yield cur


@dataclass(frozen=True)
class MultiStepLR(Schedule):
    """``torch.optim.lr_scheduler.MultiStepLR``: lr ← lr·γ at each milestone epoch."""

    name: ClassVar[str] = "multistep"
    torch_name: ClassVar[str] = "MultiStepLR"
    description: ClassVar[str] = "MultiStepLR: multiply by gamma at each milestone"
    milestones: tuple = (10,)
    gamma: float = 0.1

    def __post_init__(self):
        ms = self.milestones if isinstance(self.milestones, (tuple, list)) else (self.milestones,)
        object.__setattr__(self, "milestones", tuple(_whole("multistep: milestones", m, 0) for m in ms))
        object.__setattr__(self, "gamma", _real("multistep: gamma", self.gamma, 0, low_open=True))

    def _sequence(self, lr0, n, first=None):
        cur = lr0 if first is None else first
        yield cur
        for e in range(1, n):
            times = self.milestones.count(e)
            if times:
                cur = cur * self.gamma ** times  # torch: a Python float power, then the product
            yield cur


@dataclass(frozen=True)
class ExponentialLR(Schedule):
    """``torch.optim.lr_scheduler.ExponentialLR``: lr ← lr·γ every epoch."""

    name: ClassVar[str] = "exponential"
    torch_name: ClassVar[str] = "ExponentialLR"
    description: ClassVar[str] = "ExponentialLR: multiply by gamma every step"
    gamma: float = 0.99

    def __post_init__(self):
        object.__setattr__(self, "gamma", _real("exponential: gamma", self.gamma, 0, low_open=True))

    def _sequence(self, lr0, n, first=None):
        cur = lr0 if first is None else first
        yield cur
        for _ in range(1, n):
            cur = cur * self.gamma
            yield cur


@dataclass(frozen=True)
class CosineAnnealingLR(Schedule):
    """``torch.optim.lr_scheduler.CosineAnnealingLR``: ≈ η_min + (lr − η_min)(1 + cos(πk/T_max))/2,
    by torch's recursion (after T_max it rises again, as torch's does)."""

    name: ClassVar[str] = "cosine"
    torch_name: ClassVar[str] = "CosineAnnealingLR"
    description: ClassVar[str] = "CosineAnnealingLR: half a cosine from lr down to eta_min over T_max steps"
    _length: ClassVar[str] = "T_max"
    T_max: int | None = None
    eta_min: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "T_max", _whole("cosine: T_max", self.T_max, optional=True))
        object.__setattr__(self, "eta_min", _real("cosine: eta_min", self.eta_min, 0))

    def _restart(self, lr0):
        return self.eta_min + (lr0 - self.eta_min) * (1 + math.cos(math.pi * 0 / self.T_max)) / 2

    def _sequence(self, lr0, n, first=None):
        T, eta = self.T_max, self.eta_min
        cur = lr0 if first is None else first
        yield cur
        for e in range(1, n):
            if (e - 1 - T) % (2 * T) == 0:
                cur = cur + (lr0 - eta) * (1 - math.cos(math.pi / T)) / 2
            else:
                cur = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (cur - eta) + eta
            yield cur


@dataclass(frozen=True)
class LinearLR(Schedule):
    """``torch.optim.lr_scheduler.LinearLR``: the factor moves linearly from ``start_factor`` to
    ``end_factor`` over ``total_iters`` epochs, then stays."""

    name: ClassVar[str] = "linear"
    torch_name: ClassVar[str] = "LinearLR"
    description: ClassVar[str] = "LinearLR: factor from start_factor to end_factor over total_iters steps"
    _length: ClassVar[str] = "total_iters"
    start_factor: float = 1.0 / 3
    end_factor: float = 1.0
    total_iters: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "start_factor", _real("linear: start_factor", self.start_factor, 0, 1, low_open=True))
        object.__setattr__(self, "end_factor", _real("linear: end_factor", self.end_factor, 0, 1))
        object.__setattr__(self, "total_iters", _whole("linear: total_iters", self.total_iters, optional=True))

    def _sequence(self, lr0, n, first=None):
        s, f, N = self.start_factor, self.end_factor, self.total_iters
        cur = lr0 * s if first is None else first
        yield cur
        for e in range(1, n):
            if e <= N:
                cur = cur * (1.0 + (f - s) / (N * s + (e - 1) * (f - s)))
            yield cur


@dataclass(frozen=True)
class PolynomialLR(Schedule):
    """``torch.optim.lr_scheduler.PolynomialLR``: lr·(1 − k/total_iters)^power, then 0."""

    name: ClassVar[str] = "polynomial"
    torch_name: ClassVar[str] = "PolynomialLR"
    description: ClassVar[str] = "PolynomialLR: lr·(1 − k/total_iters)^power down to 0"
    _length: ClassVar[str] = "total_iters"
    total_iters: int | None = None
    power: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "total_iters", _whole("polynomial: total_iters", self.total_iters, optional=True))
        object.__setattr__(self, "power", _real("polynomial: power", self.power, 0, low_open=True))

    def _sequence(self, lr0, n, first=None):
        N, p = self.total_iters, self.power
        cur = lr0 if first is None else first
        yield cur
        for e in range(1, n):
            if e <= N:
                cur = cur * ((1.0 - e / N) / (1.0 - (e - 1) / N)) ** p
            yield cur


@dataclass(frozen=True)
class OneCycleLR(Schedule):
    """``torch.optim.lr_scheduler.OneCycleLR`` with ``cycle_momentum=False``: from lr/div_factor up
    to lr (the optimizer's lr is torch's ``max_lr``) over ``pct_start`` of ``total_steps``, then down
    to lr/(div_factor·final_div_factor). Momentum is not cycled (torch's default cycles it: pass
    ``cycle_momentum=False`` to torch to compare)."""

    name: ClassVar[str] = "onecycle"
    torch_name: ClassVar[str] = "OneCycleLR"
    description: ClassVar[str] = "OneCycleLR: warm up to lr over pct_start, anneal to lr/(div·final_div)"
    _length: ClassVar[str] = "total_steps"
    total_steps: int | None = None
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def __post_init__(self):
        object.__setattr__(self, "total_steps", _whole("onecycle: total_steps", self.total_steps, optional=True))
        object.__setattr__(self, "pct_start", _real("onecycle: pct_start", self.pct_start, 0, 1))
        if self.anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"onecycle: anneal_strategy must be 'cos' or 'linear', got {self.anneal_strategy!r}")
        object.__setattr__(self, "div_factor", _real("onecycle: div_factor", self.div_factor, 0, low_open=True))
        object.__setattr__(self, "final_div_factor",
                           _real("onecycle: final_div_factor", self.final_div_factor, 0, low_open=True))
        if not isinstance(self.three_phase, bool):
            raise ValueError(f"onecycle: three_phase must be true or false, got {self.three_phase!r}")

    def resolved(self, steps):
        out = super().resolved(steps)
        if out.total_steps < int(steps):  # a training loop calls scheduler.step() after every step
            raise ValueError(f"onecycle: total_steps = {out.total_steps} is shorter than the run ({steps} steps; "
                             f"torch raises at scheduler step {out.total_steps + 1})")
        return out

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _sequence(self, lr0, n, first=None):
        total, p = self.total_steps, self.pct_start
        initial = lr0 / self.div_factor
        bounds = {"initial": initial, "max": lr0, "min": initial / self.final_div_factor}
        if self.three_phase:
            phases = [(float(p * total) - 1, "initial", "max"), (float(2 * p * total) - 2, "max", "initial"),
                      (total - 1, "initial", "min")]
        else:
            phases = [(float(p * total) - 1, "initial", "max"), (total - 1, "max", "min")]
        for e in range(n):
            start_step = 0.0
            for i, (end_step, a, b) in enumerate(phases):
                if e <= end_step or i == len(phases) - 1:
                    yield self._anneal(bounds[a], bounds[b], (e - start_step) / (end_step - start_step))
                    break
                start_step = end_step


# -- LambdaLR: a factor of the epoch ----------------------------------------------------------------
@dataclass(frozen=True)
class LambdaLR(Schedule):
    """``torch.optim.lr_scheduler.LambdaLR``: lr·factor(k), the factor a formula in the epoch k
    (read by :func:`simulate.formula.parse_formula`, never evaluated), e.g. ``"1/(1 + 0.01*k)"``."""

    name: ClassVar[str] = "lambda"
    torch_name: ClassVar[str] = "LambdaLR"
    description: ClassVar[str] = "LambdaLR: lr times a formula in the step k, e.g. f='1/(1 + 0.01*k)'"
    f: str | None = None

    def __post_init__(self):
        if not self.f:
            raise ValueError("lambda: give the factor f, a formula in the step k, e.g. f='0.99**k' (torch requires lr_lambda)")
        self._factor(np.zeros(1))  # a bad formula is refused when the schedule is made

    def _factor(self, k):
        from ..landscapes.formula import formula_function

        return formula_function(self.f, ("k",), where=f"{self.name}: f")(np.asarray(k, np.float64))

    def _sequence(self, lr0, n, first=None):
        factors = self._factor(np.arange(n))
        bad = ~np.isfinite(factors) | (factors < 0)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"{self.name}: the factor {self.f!r} is {factors[k]:g} at k = {k}: it must be finite and >= 0")
        for e in range(n):
            yield lr0 * float(factors[e]) if first is None or e else first


@dataclass(frozen=True)
class InverseSqrt(LambdaLR):
    """LambdaLR with the factor ``(1 + k/t0)^(−1/2)``: the inverse-square-root decay."""

    name: ClassVar[str] = "inverse-sqrt"
    description: ClassVar[str] = "lr·(1 + k/t0)^(−1/2) (LambdaLR)"
    t0: float = 1.0
    f: str = dataclasses.field(default="", repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "t0", _real("inverse-sqrt: t0", self.t0, 0, low_open=True))

    def _factor(self, k):  # Python floats: libm's pow, as a torch lambda computes it
        return np.array([(1.0 + float(j) / self.t0) ** -0.5 for j in np.ravel(k)]).reshape(np.shape(k))

    @property
    def spec(self):
        return format_spec(self.name, {} if self.t0 == 1.0 else {"t0": self.t0})


@dataclass(frozen=True)
class InverseTime(LambdaLR):
    """LambdaLR with the factor ``1/(1 + k/t0)``: the 1/t decay of stochastic approximation."""

    name: ClassVar[str] = "inverse-time"
    description: ClassVar[str] = "lr/(1 + k/t0), the 1/t decay (LambdaLR)"
    t0: float = 1.0
    f: str = dataclasses.field(default="", repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "t0", _real("inverse-time: t0", self.t0, 0, low_open=True))

    def _factor(self, k):
        return 1.0 / (1.0 + np.asarray(k, np.float64) / self.t0)

    @property
    def spec(self):
        return format_spec(self.name, {} if self.t0 == 1.0 else {"t0": self.t0})


@dataclass(frozen=True)
class Constant(LambdaLR):
    """A constant lr (LambdaLR with factor 1): what a warmup leads into by default."""

    name: ClassVar[str] = "constant"
    description: ClassVar[str] = "constant lr (with warmup: linear warmup, then constant)"
    f: str = dataclasses.field(default="", repr=False, compare=False)

    def __post_init__(self):
        pass

    def _factor(self, k):
        return np.ones(np.shape(k))

    @property
    def spec(self):
        return self.name


# -- warmup in front of any schedule ----------------------------------------------------------------
@dataclass(frozen=True)
class Warmup(Schedule):
    """torch's ``SequentialLR([LinearLR(warmup_start, 1.0, warmup), then], milestones=[warmup])``:
    the factor rises linearly from ``warmup_start`` to 1 over ``warmup`` steps, then ``then`` runs
    (restarted at the milestone as SequentialLR restarts it, its lengths the rest of the run)."""

    name: ClassVar[str] = "warmup"
    torch_name: ClassVar[str] = "SequentialLR"
    then: Schedule = None
    warmup: int = 1
    warmup_start: float = 0.01

    def __post_init__(self):
        object.__setattr__(self, "warmup", _whole("warmup", self.warmup))
        object.__setattr__(self, "warmup_start", _real("warmup_start", self.warmup_start, 0, 1, low_open=True))
        if isinstance(self.then, OneCycleLR):
            raise ValueError("onecycle has its own warmup (pct_start): it takes no warmup in front")
        if not isinstance(self.then, Schedule) or isinstance(self.then, Warmup):
            raise ValueError(f"warmup goes in front of one schedule, got {self.then!r}")

    def resolved(self, steps):
        return dataclasses.replace(self, then=self.then.resolved(max(1, int(steps) - self.warmup)))

    def _sequence(self, lr0, n, first=None):
        ramp = LinearLR(self.warmup_start, 1.0, self.warmup)
        w = min(n, self.warmup)
        yield from ramp._sequence(lr0, w)
        if n > self.warmup:
            yield from self.then._sequence(lr0, n - self.warmup, first=self.then._restart(lr0))

    @property
    def spec(self):
        name, params = parse_spec(self.then.spec)
        params["warmup"] = self.warmup
        if self.warmup_start != 0.01:
            params["warmup_start"] = self.warmup_start
        return format_spec(name, params)


@dataclass(frozen=True, eq=False)
class ScheduleGrid(Schedule):
    """A schedule whose parameters vary across a sweep's grid: ``values`` maps parameter names
    (``warmup``, ``T_max``, ``gamma``, …) to arrays that broadcast against each other and the
    batch; member j runs ``schedule(base, name=values[j], …)``. Each member's sequence is computed
    by its own recursion, then stacked, so a sweep over warmup lengths is one vectorized run."""

    name: ClassVar[str] = "grid"
    base: Schedule = None
    values: tuple = ()  # ((name, array), ...)

    @property
    def shape(self) -> tuple[int, ...]:
        return np.broadcast_shapes(*(np.shape(v) for _, v in self.values))

    def at(self, index, shape=None) -> Schedule:
        """The schedule of one member (``index`` into ``shape``, default the grid's); a slice of
        members keeps a grid."""
        shape = self.shape if shape is None else tuple(shape)
        picked = [(name, np.broadcast_to(v, shape)[index]) for name, v in self.values]
        if any(np.ndim(v) for _, v in picked):
            return ScheduleGrid(base=self.base, values=tuple(picked))
        params = {}
        for name, v in picked:
            value = v.item()
            params[name] = int(value) if float(value).is_integer() and name in _WHOLE else value
        return schedule(self.base, **params) or Constant()  # warmup = 0 in front of a constant: a constant

    def with_value(self, name: str, values) -> ScheduleGrid:
        return ScheduleGrid(base=self.base, values=tuple((n, v) for n, v in self.values if n != name)
                            + ((name, np.asarray(values)),))

    def resolved(self, steps):
        return self

    def lrs(self, lr, steps):
        lr = np.asarray(lr, dtype=np.float64)
        shape = np.broadcast_shapes(self.shape, lr.shape)
        lr = np.broadcast_to(lr, shape)
        out = np.empty((int(steps),) + shape)
        for index in np.ndindex(shape):
            out[(slice(None), *index)] = self.at(index, shape).lrs(lr[index], steps)
        return out

    def flattened(self, grid) -> ScheduleGrid:
        """The same grid, each array broadcast to ``grid`` and raveled (a sweep's cells in a row)."""
        return ScheduleGrid(base=self.base, values=tuple((n, np.broadcast_to(v, grid).reshape(-1)) for n, v in self.values))

    @property
    def spec(self):
        swept = ", ".join(f"{n}=[{np.size(v)} values {np.min(v):g}…{np.max(v):g}]" for n, v in self.values)
        return f"{self.base.spec} with {swept}"


def sweepable_parameters(s: Schedule) -> list[str]:
    """The numeric parameters of a schedule a sweep may vary (a warmup's and its schedule's)."""
    base = s.base if isinstance(s, ScheduleGrid) else s
    inner = base.then if isinstance(base, Warmup) else base
    names = [f.name for f in dataclasses.fields(inner) if f.init and f.repr and isinstance(f.default, (int, float, type(None)))
             and not isinstance(f.default, bool) and f.name not in ("f",)]
    return names + ["warmup", "warmup_start"]


_WHOLE = {"warmup", "step_size", "T_max", "total_iters", "total_steps"}


SCHEDULES: dict[str, type[Schedule]] = {c.name: c for c in (
    StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, PolynomialLR, OneCycleLR, LambdaLR,
    InverseSqrt, InverseTime, Constant)}
#: torch's class names are accepted too
_TORCH_NAMES = {c.torch_name: c.name for c in SCHEDULES.values() if c.torch_name and c.torch_name != "LambdaLR"}


def schedule(spec, **params) -> Schedule | None:
    """A schedule from a name or spec (``"cosine"``, ``"step(step_size=30, gamma=0.1)"``,
    ``"CosineAnnealingLR(T_max=100)"``, ``"lambda(f='0.99**k')"``), a :class:`Schedule` (returned
    as it is), or None / ``"constant"`` (no schedule). ``warmup=W`` (and ``warmup_start``) puts a
    linear warmup in front. Unknown names suggest the right ones."""
    if spec is None or isinstance(spec, Schedule) and not params:
        return spec
    if isinstance(spec, ScheduleGrid):
        raise ValueError("a schedule grid takes its parameters from a sweep's axes")
    if isinstance(spec, Schedule):
        name, given = parse_spec(spec.spec)
    else:
        name, given = parse_spec(str(spec))
    given.update(params)
    if name == "constant" and not given.get("warmup"):
        given.pop("warmup", None)
        if given:
            raise ValueError("constant takes no parameters but warmup")
        return None
    warm = {k: given.pop(k) for k in ("warmup", "warmup_start") if k in given}
    cls = lookup("schedule", _TORCH_NAMES.get(name, name), SCHEDULES)
    fields = {f.name for f in dataclasses.fields(cls) if f.init and f.repr}
    unknown = sorted(set(given) - fields)
    if unknown:
        raise ValueError(f"{cls.name}: unknown parameter {unknown[0]!r}; it takes {', '.join(sorted(fields)) or 'none'}")
    made = cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in given.items()})
    if warm.get("warmup", 0):
        return Warmup(then=made, **warm)
    if "warmup_start" in warm and "warmup" not in warm:
        raise ValueError("warmup_start needs warmup = the number of warmup steps")
    return made  # warmup = 0: none


# -- the clock --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ScheduleClock:
    """The times of a scheduled run: ``h`` ``(n,) + batch`` is the time each step takes (lr_k for
    the SGD family and Adam), ``times`` ``(n + 1,) + batch`` their running sums from 0, ``lr``
    the step sizes. A step
    k covers ``[times[k−1], times[k])``; beyond the last step its size is kept."""

    h: np.ndarray
    lr: np.ndarray  # (n,) + batch: the step sizes lr_k themselves (h = lr_k, or lr_k² for Adagrad)

    @property
    def times(self) -> np.ndarray:
        h = np.asarray(self.h, np.float64)
        return np.concatenate([np.zeros((1,) + h.shape[1:]), np.cumsum(h, axis=0)])

    def member(self, index, batch_shape) -> ScheduleClock:
        """The clock of one batch member."""
        h, lr = np.asarray(self.h), np.asarray(self.lr)
        if h.ndim == 1:
            return self
        pick = (lambda a: np.broadcast_to(a, a.shape[:1] + tuple(batch_shape))[(slice(None), *index)])
        return ScheduleClock(pick(h), pick(lr))

    def locate(self, t: float) -> tuple[int, float]:
        """``(k, s)`` for a scalar time of a single member: t lies in step k + 1 (0-based k) and
        ``s = k + (t − t_k)/h_k`` is the continuous step count there."""
        times = self.times
        k = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(self.h) - 1))
        h = float(self.h[k])
        return k, k + (t - float(times[k])) / h if h > 0 else float(k)

    def sample(self, per_step: int = 1) -> np.ndarray:
        """Sample times: every step's start and end, and ``per_step − 1`` evenly spaced times inside."""
        times = self.times
        if per_step == 1:
            return times
        n = len(self.h)
        s = np.arange(n * per_step + 1) / per_step
        k = np.minimum(np.floor(s).astype(int), n - 1)
        frac = (s - k).reshape((-1,) + (1,) * (times.ndim - 1))
        return times[k] + frac * np.asarray(self.h)[k]
