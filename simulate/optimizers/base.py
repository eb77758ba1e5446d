"""Optimizers twice: torch.optim's discrete update and the continuous field it is an Euler step of.

Every optimizer is a frozen dataclass of hyperparameters (torch.optim names and defaults) with

* ``init(x0) -> State`` and ``step(state, landscape, k) -> State``: the exact discrete update, in
  torch's operation order, float64. ``k`` is the 1-based step being taken (torch's ``step`` after
  its increment). Pure: the input state is never modified.
* ``flow_init(x0, landscape) -> State``, ``field(t, state, landscape) -> State`` and
  ``jacobian(t, state, landscape)``: the **exact lift**, a vector field on the augmented state (x and
  the optimizer's buffers) with an explicit ``time_per_step`` h, chosen so that one discrete step
  is one *semi-implicit* Euler step of the field (see :func:`simulate.continuous.euler_step`):
  the components are advanced in the order of the state (torch's update order, ``x`` last), each
  using the newest values of the ones before it, and the field is evaluated at the step's start
  time ``t = (k − 1)·h``. Iterates against an accurate solve of this field is then literally
  "Euler against the exact flow" (theory §1.2).

A ``State`` is a dict of arrays of shape ``(..., d)``, one per component, in update order.
Numeric hyperparameters may be arrays; they broadcast against the batch shape of ``x``
(``x`` is ``batch + (d,)``), so a sweep is one vectorized run. Structural flags (``nesterov``,
``centered``, ``amsgrad``) are plain bools.

References: PyTorch's documented algorithms (torch.optim, version 2.13); theory.md §2.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._names import UnknownNameError, suggest
from ..landscapes import Landscape
from ..spec import format_spec
from .hyper import Hyper, declared

__all__ = ["Optimizer", "Preset", "State"]

State = dict  # dict[str, np.ndarray]: components in update order, "x" last




def _diag(v: np.ndarray) -> np.ndarray:
    """``(..., d) -> (..., d, d)`` diagonal matrices."""
    return v[..., :, None] * np.eye(v.shape[-1])


def _assemble(names: tuple[str, ...], blocks: dict, shape: tuple[int, ...]) -> np.ndarray:
    """Jacobian ``(..., n·d, n·d)`` of the packed state from blocks ``{(row, col): (..., d, d)}``."""
    *batch, d = shape
    n = len(names)
    J = np.zeros((*batch, n, d, n, d))
    for (row, col), block in blocks.items():
        J[..., names.index(row), :, names.index(col), :] = block
    return J.reshape(*batch, n * d, n * d)


@dataclass(frozen=True)
class Optimizer:
    """Base class: hyperparameter casting, validation, broadcasting and the shared plumbing."""

    name: ClassVar[str] = "optimizer"
    description: ClassVar[str] = ""
    # every optimizer's dataclass has these fields: a schedule (simulate.schedules) and the
    # gradient transforms in front of the update (simulate.transforms)
    schedule = clip_norm = clip_value = lr_scale = None
    #: the continuous model :func:`simulate.flows.flow` gives by default
    default_flow: ClassVar[str] = "exact"
    #: gradient evaluations per step (Runge–Kutta schemes take several)
    evaluations_per_step: ClassVar[int] = 1
    #: whether scaling the finished update per coordinate is a per-coordinate lr (``lr_scale``):
    #: not for steps that evaluate the gradient at points built with lr (stages, look-ahead)
    scales_its_update: ClassVar[bool] = True

    # -- hyperparameters ---------------------------------------------------------------------
    @classmethod
    def hyperparameters(cls) -> dict[str, Hyper]:
        """The numeric hyperparameters, in field order, with their declarations
        (:mod:`simulate.optimizers.hyper`): the one source of validation, sweep axes, sliders and
        the order ladder's rescaling."""
        return declared(cls)

    def sweepable(self) -> dict[str, tuple[str, int | None]]:
        """Axis names -> (field, index in a pair): ``lr``, ``momentum``, ``betas[0]``, ``beta1``, ..."""
        out = {}
        for f, h in self.hyperparameters().items():
            if not h.sweep:
                continue
            if h.pair:
                for i in range(2):
                    out[f"{f}[{i}]"] = (f, i)
                    if h.names:
                        out[h.names[i]] = (f, i)
            else:
                out[f] = (f, None)
        return out

    def _elements(self) -> list[tuple[str, np.ndarray, Hyper]]:
        """``(name, array, declaration)`` of every numeric value, a pair's elements one by one."""
        out = []
        for f, h in self.hyperparameters().items():
            v = getattr(self, f)
            out.extend(((f"{f}[{i}]", a, h) for i, a in enumerate(v)) if h.pair else ((f, v, h),))
        return out

    def __post_init__(self):
        for f, h in self.hyperparameters().items():
            value = getattr(self, f)
            if h.pair:
                if not (isinstance(value, (tuple, list)) and len(value) == 2):
                    raise ValueError(f"{self.name}: {f} must be a pair ({f}[0], {f}[1]), got {value!r}")
                cast = tuple(self._cast(f"{f}[{i}]", v) for i, v in enumerate(value))
            else:
                cast = self._cast(f, value)
            object.__setattr__(self, f, cast)
        for f in dataclasses.fields(self):
            if isinstance(f.default, bool) and not isinstance(getattr(self, f.name), (bool, np.bool_)):
                raise ValueError(f"{self.name}: {f.name} must be true or false, got {getattr(self, f.name)!r}")
        self.batch_shape  # raises if the hyperparameter arrays do not broadcast together
        for name, value, h in self._elements():
            if h.check is not None:
                self._require(name, h.check(value), h.rule)
        self._validate()
        self._cast_transforms()
        if getattr(self, "schedule", None) is not None:
            from .schedules import schedule as make_schedule

            try:
                object.__setattr__(self, "schedule", make_schedule(self.schedule))
            except ValueError as exc:
                raise ValueError(f"{self.display_name}: schedule: {exc}") from None

    def _cast_transforms(self) -> None:
        """clip_norm and clip_value as floats, lr_scale as a tuple of floats (simulate.transforms)."""
        from .transforms import check_transforms

        for name in ("clip_norm", "clip_value"):
            value = getattr(self, name, None)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise ValueError(f"{self.display_name}: {name} must be a positive number, got {value!r}")
                object.__setattr__(self, name, float(value))
        s = getattr(self, "lr_scale", None)
        if s is not None:
            try:
                s = tuple(float(v) for v in (s if isinstance(s, (tuple, list, np.ndarray)) else (s,)))
            except (TypeError, ValueError):
                raise ValueError(f"{self.display_name}: lr_scale must be numbers, one per coordinate, got {s!r}") from None
            object.__setattr__(self, "lr_scale", s)
        check_transforms(self)

    @property
    def transformed(self) -> bool:
        """Whether a gradient clip or a per-coordinate lr scale sits in front of the update."""
        return any(getattr(self, n, None) is not None for n in ("clip_norm", "clip_value", "lr_scale"))

    def _cast(self, name: str, value) -> np.ndarray:
        if isinstance(value, str) or np.asarray(value).dtype.kind in "bUS":  # True and '0.1' would silently become numbers
            raise ValueError(f"{self.name}: {name} must be a number, got {value!r}")
        try:
            arr = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}: {name} must be a number or an array of numbers, got {value!r}") from None
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{self.name}: {name} must be finite, got {value!r}")
        arr.setflags(write=False)
        return arr

    def _require(self, name: str, ok: np.ndarray, why: str) -> None:
        """Raise ``ValueError`` naming the hyperparameter, the rule and the offending value(s)."""
        if not np.all(ok):
            value = self._value_of(name)
            bad = value[~np.broadcast_to(ok, value.shape)] if value.ndim else value
            shown = ", ".join(f"{v:g}" for v in np.ravel(bad)[:3])
            raise ValueError(f"{self.name}: {name} {why}, got {shown}")

    def _value_of(self, name: str) -> np.ndarray:
        if "[" in name:  # betas[0]
            base, i = name[:-1].split("[")
            return getattr(self, base)[int(i)]
        return getattr(self, name)

    def _validate(self) -> None:
        """Rules that tie several hyperparameters together (each one's own rule is declared)."""

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the numeric hyperparameters (``()`` when all are scalars)."""
        grid = getattr(self.schedule, "shape", ())  # a schedule whose parameters a sweep varies
        try:
            return np.broadcast_shapes(*(a.shape for _, a, _ in self._elements()), grid)
        except ValueError:
            shapes = {f: np.shape(getattr(self, f)) for f in self.hyperparameters()}
            raise ValueError(f"{self.name}: hyperparameter arrays do not broadcast together: {shapes}") from None

    def member(self, index, batch_shape: tuple[int, ...] | None = None) -> Optimizer:
        """The optimizer of one batch member (scalar hyperparameters), e.g. for a per-member solve.

        ``index`` indexes ``batch_shape`` (default: the hyperparameters' own broadcast shape).
        """
        shape = self.batch_shape if batch_shape is None else batch_shape
        changes = {}
        for f, h in self.hyperparameters().items():
            v = getattr(self, f)
            pick = (lambda a: np.broadcast_to(a, shape)[index])
            changes[f] = tuple(pick(a) for a in v) if h.pair else pick(v)
        if hasattr(self.schedule, "at"):  # a ScheduleGrid: the member's own schedule
            changes["schedule"] = self.schedule.at(index, shape)
        return dataclasses.replace(self, **changes)

    @staticmethod
    def _b(h) -> np.ndarray:
        """A hyperparameter (or time) of batch shape, broadcastable against ``(..., d)``."""
        return np.asarray(h)[..., None]

    @property
    def time_per_step(self) -> np.ndarray:
        """h: iterate k is compared with the flow at ``t = k·h``. Array of the batch shape."""
        return np.asarray(self.lr)

    # -- schedules ---------------------------------------------------------------------------
    def lrs(self, steps: int) -> np.ndarray:
        """The step sizes of steps 1..steps, ``(steps,) + shape(lr)``: lr itself without a
        schedule, the schedule's sequence (:mod:`simulate.schedules`) with one."""
        if getattr(self, "schedule", None) is None:
            return np.broadcast_to(np.asarray(self.lr), (int(steps),) + np.shape(self.lr))
        return self.schedule.lrs(self.lr, steps)

    def at_lr(self, lr) -> Optimizer:
        """This optimizer with a constant ``lr`` and no schedule (one step of a scheduled run). A
        shallow copy: the hyperparameters were checked when this optimizer was made."""
        new = copy.copy(self)
        object.__setattr__(new, "lr", np.asarray(lr, dtype=np.float64))
        object.__setattr__(new, "schedule", None)
        return new

    def clock(self, steps: int):
        """The :class:`~simulate.schedules.ScheduleClock` of a scheduled run of ``steps`` steps:
        each step's time per step h(lr_k) (lr_k, or lr_k² for Adagrad), and their running sums."""
        from .schedules import ScheduleClock

        lrs = np.asarray(self.lrs(steps), dtype=np.float64)
        return ScheduleClock(np.asarray(self.at_lr(lrs).time_per_step, dtype=np.float64), lrs)

    @property
    def display_name(self) -> str:
        return self.name

    def _changed(self) -> dict:
        """lr and every hyperparameter that differs from the (preset's) default, in field order."""
        out = {}
        defaults = self._preset_defaults()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "lr" or not _same(value, defaults.get(f.name, f.default)):
                out[f.name] = value
        return out

    @classmethod
    def presets(cls) -> tuple[Preset, ...]:
        """The names this class is registered under (:data:`simulate.optimizers.OPTIMIZERS`): by
        default its own, with torch's defaults. A family with named variants (SGD's gd, momentum,
        nesterov) lists them, each with the defaults it changes and the flags it fixes."""
        return (Preset(cls.name, cls, cls.description),)

    def _preset_defaults(self) -> dict:
        """The defaults of the name this optimizer is shown under (a label leaves them out)."""
        for preset in type(self).presets():
            if preset.name == self.display_name:
                return {**preset.defaults, **preset.fixed}
        return {}

    @property
    def label(self) -> str:
        """``name(lr=…, …)`` for legends: the changed hyperparameters, arrays summarised."""
        return f"{self.display_name}({', '.join(f'{k}={_fmt(v)}' for k, v in self._changed().items())})"

    @property
    def spec(self) -> str:
        """A spec that rebuilds this optimizer exactly: ``optimizer(opt.spec)`` equals ``opt``."""
        return format_spec(self.display_name, self._changed())

    # -- the two views -----------------------------------------------------------------------
    def state_names(self) -> tuple[str, ...]:
        """The state's components for this configuration, in update order (``x`` last)."""
        return ("x",)

    def _start(self, x0) -> np.ndarray:
        x0 = np.asarray(x0, dtype=np.float64)
        shape = np.broadcast_shapes(x0.shape[:-1], self.batch_shape) + x0.shape[-1:]
        return np.array(np.broadcast_to(x0, shape))

    def init(self, x0) -> State:
        """Discrete state before step 1: buffers at torch's initial values, ``x`` broadcast to the batch."""
        x = self._start(x0)
        return {**{n: np.zeros_like(x) for n in self.state_names()[:-1]}, "x": x}

    def flow_init(self, x0, landscape: Landscape) -> State:
        """Initial state of the lift at t = 0 (the discrete initial state unless stated otherwise)."""
        return self.init(x0)

    def step(self, state: State, landscape: Landscape, k: int) -> State:
        raise NotImplementedError

    def field(self, t, state: State, landscape: Landscape) -> State:
        raise NotImplementedError

    def jacobian(self, t, state: State, landscape: Landscape) -> np.ndarray:
        raise NotImplementedError

    # shared pieces --------------------------------------------------------------------------
    @functools.cached_property
    def _decay_free(self) -> bool:
        return bool(np.all(self.weight_decay == 0))

    def _coupled_grad(self, x, landscape):
        """∇f + λx (torch's coupled weight decay); skipped where λ = 0, as torch does."""
        g = landscape.grad(x)
        if self._decay_free:
            return g
        wd = self._b(self.weight_decay)
        return np.where(wd != 0, g + wd * x, g)

    def _coupled_hess(self, x, landscape):
        H = landscape.hess(x)
        return H + np.asarray(self.weight_decay)[..., None, None] * np.eye(x.shape[-1])

    def kernel(self):
        """The elementwise update the compiled engine runs (:class:`~simulate.optimizers.kernel.Kernel`),
        or None: the step is not elementwise (or not declared), and runs in the numpy loop only."""
        return None


def _same(a, b) -> bool:
    if a is None or b is None or hasattr(a, "spec") or hasattr(b, "spec"):  # schedules
        return a == b
    try:
        if isinstance(a, tuple) or isinstance(b, tuple):
            return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
        return bool(np.all(np.asarray(a) == np.asarray(b)))
    except (TypeError, ValueError):
        return False


def _fmt(value) -> str:
    if hasattr(value, "spec"):  # a schedule
        return repr(value.spec)
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{float(arr):g}"
    return f"[{arr.size} values {arr.min():g}…{arr.max():g}]"


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preset:
    """A registry entry: a class, defaults that differ from torch's, and flags the name fixes."""

    name: str
    cls: type[Optimizer]
    description: str
    defaults: dict = dataclasses.field(default_factory=dict)
    fixed: dict = dataclasses.field(default_factory=dict)

    def __call__(self, **hyperparameters) -> Optimizer:
        valid = [f.name for f in dataclasses.fields(self.cls)]
        for key in hyperparameters:
            if key not in valid:
                raise UnknownNameError(suggest("hyperparameter", key, valid).replace(
                    "unknown hyperparameter", f"{self.name} has no hyperparameter"))
        for key, value in self.fixed.items():
            if key in hyperparameters and not _same(hyperparameters[key], value):
                raise ValueError(f"{self.name}: the name fixes {key}={value!r}; use '{self.cls.name}' to set it freely")
        try:
            return self.cls(**{**self.defaults, **hyperparameters, **self.fixed})
        except ValueError as exc:  # speak of the name the user typed ("momentum", not "sgd")
            message = str(exc)
            prefix = f"{self.cls.name}:"
            raise ValueError(f"{self.name}:{message[len(prefix):]}" if message.startswith(prefix) else message) from None

