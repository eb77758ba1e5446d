"""Optimizers twice: torch.optim's discrete update and the continuous field it is an Euler step of.

Every optimizer is a frozen dataclass of hyperparameters (torch.optim names and defaults) with

* ``init(x0) -> State`` and ``step(state, landscape, k) -> State``: the exact discrete update, in
  torch's operation order, float64. ``k`` is the 1-based step being taken (torch's ``step`` after
  its increment). Pure: the input state is never modified.
* ``flow_init(x0, landscape) -> State``, ``field(t, state, landscape) -> State`` and
  ``jacobian(t, state, landscape)``: the **exact lift**, a vector field on the augmented state (x and
  the optimizer's buffers) with an explicit ``time_per_step`` h, chosen so that one discrete step
  is one *semi-implicit* Euler step of the field (see :func:`simulate.solvers.continuous.euler_step`):
  the components are advanced in the order of the state (torch's update order, ``x`` last), each
  using the newest values of the ones before it, and the field is evaluated at the step's start
  time ``t = (k − 1)·h``. Iterates against an accurate solve of this field is then literally
  "Euler against the exact flow" (theory §1.2).

A ``State`` is a dict of arrays of shape ``(..., d)``, one per component, in update order.
Numeric hyperparameters may be arrays; they broadcast against the batch shape of ``x``
(``x`` is ``batch + (d,)``), so a sweep is one vectorized run. Structural flags (``nesterov``,
``centered``, ``amsgrad``) are plain bools.

Beyond the two views an optimizer answers what the rest of the package asks of it (its models,
the lift's order, scaling and energy, its stability threshold, SDE view, critical momentum and
elementwise kernel): the protocol section of :class:`Optimizer`, whose defaults say "not known",
so that no other module needs to know which optimizer it holds. Schedules and gradient transforms
are not an optimizer's fields: :mod:`simulate.optimizers.wrappers` puts them around any optimizer.

References: PyTorch's documented algorithms (torch.optim, version 2.13); theory.md §2.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._checks import reals, shown, time_step
from ..landscapes import Landscape
from ..models.base import ExactFlow, Flow
from ..spec import format_spec
from .hyper import Hyper, declared
from .transforms import seen_by

__all__ = ["Optimizer", "State"]

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
    # A bare optimizer has no schedule and no gradient transforms: simulate.optimizers.wrappers
    # composes them around any optimizer (the consumers read these, None here).
    schedule = clip_norm = clip_value = lr_scale = None
    # An optimizer without a weight_decay field has none (torch's coupled term λx is then absent).
    weight_decay = 0.0
    #: the continuous model :func:`simulate.models.flow` gives by default
    default_flow: ClassVar[str] = "exact"
    #: gradient evaluations per step (Runge–Kutta schemes take several)
    evaluations_per_step: ClassVar[int] = 1
    #: whether scaling the finished update per coordinate is a per-coordinate lr (``lr_scale``):
    #: not for steps that evaluate the gradient at points built with lr (stages, look-ahead)
    scales_its_update: ClassVar[bool] = True
    #: the order of the method on its own flow (a Runge–Kutta scheme's; 1 for an Euler step)
    method_order: ClassVar[int] = 1
    #: the time per step h as a formula in lr, for labels (Adagrad's ``lr²``, NAG-C's ``√lr``)
    clock_formula: ClassVar[str] = "lr"
    #: why one step is not the same linear map at every k ("" when it is; NAG-C's momentum moves)
    step_varies: ClassVar[str] = ""
    #: whether AdamW-style decoupled weight decay: the −λx term sits outside the gradient
    _decoupled: ClassVar[bool] = False

    # -- hyperparameters ---------------------------------------------------------------------
    @classmethod
    def hyperparameters(cls) -> dict[str, Hyper]:
        """The numeric hyperparameters, in field order, with their declarations
        (:mod:`simulate.optimizers.hyper`): the one source of validation, sweep axes, sliders and
        the order ladder's rescaling."""
        return declared(cls)

    def setting_fields(self) -> dict[str, tuple[str, ...]]:
        """Spec settings that set several hyperparameters at once, and which (``lookahead=(k, alpha)``);
        a setting not listed sets the field of its own name."""
        return {}

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
        time_step(self.time_per_step, f"{self.name}: the time per step")

    @property
    def transformed(self) -> bool:
        """Whether a gradient clip or a per-coordinate lr scale sits in front of the update (only
        a :class:`~simulate.optimizers.wrappers.Wrapped` optimizer has one)."""
        return False

    def replace(self, **changes) -> Optimizer:
        """This optimizer with other hyperparameters (checked again). A schedule or transforms
        are put around it by :func:`simulate.optimizers.wrappers.configure`."""
        return dataclasses.replace(self, **changes)

    def _cast(self, name: str, value) -> np.ndarray:
        try:
            kind = np.asarray(value).dtype.kind
        except (TypeError, ValueError):  # ragged lists
            raise ValueError(f"{self.name}: {name} must be a number or an array of numbers, got {shown(value)}") from None
        if isinstance(value, (str, bytes)) or kind in "bUS":  # True and '0.1' would silently become numbers
            raise ValueError(f"{self.name}: {name} must be a number, got {shown(value)}")
        arr = reals(value, f"{self.name}: {name}")  # finite, and of a size whose square stays finite
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
        try:
            return np.broadcast_shapes(*(a.shape for _, a, _ in self._elements()))
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
            pick = (lambda a: a if np.ndim(a) == 0 else np.broadcast_to(a, shape)[index])  # one number: every member's
            changes[f] = tuple(pick(a) for a in v) if h.pair else pick(v)
        return dataclasses.replace(self, **changes)

    @staticmethod
    def _b(h) -> np.ndarray:
        """A hyperparameter (or time) of batch shape, broadcastable against ``(..., d)``."""
        return np.asarray(h)[..., None]

    @property
    def time_per_step(self) -> np.ndarray:
        """h: iterate k is compared with the flow at ``t = k·h``. Array of the batch shape."""
        return np.asarray(self.lr)

    # -- learning rates along a run (a schedule's wrapper overrides these) ---------------------
    def lrs(self, steps: int) -> np.ndarray:
        """The step sizes of steps 1..steps, ``(steps,) + shape(lr)``: lr itself (a schedule's
        sequence where a :class:`~simulate.optimizers.wrappers.Wrapped` runs one)."""
        return np.broadcast_to(np.asarray(self.lr), (int(steps),) + np.shape(self.lr))

    def at_lr(self, lr) -> Optimizer:
        """This optimizer with a constant ``lr`` (one step of a scheduled run). A shallow copy:
        the hyperparameters were checked when this optimizer was made."""
        new = copy.copy(self)
        object.__setattr__(new, "lr", np.asarray(lr, dtype=np.float64))
        return new

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def short_name(self) -> str:
        """The name a crowded legend shows (no hyperparameters): :attr:`display_name`, unless a
        wrapper changes the dynamics and must be told apart (Lookahead)."""
        return self.display_name

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
    def presets(cls) -> tuple:
        """The names this class is registered under (:data:`simulate.optimizers.OPTIMIZERS`), as
        :class:`~simulate.optimizers.preset.Preset` entries; empty (the default): its own name,
        with torch's defaults. A family with named variants (SGD's gd, momentum, nesterov) lists
        them, each with the defaults it changes and the flags it fixes."""
        return ()

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

    # -- the continuous models and what the analyses ask -------------------------------------
    # Every consumer (simulate.models, order, sharpness, rate maps, ensembles, SDEs) asks these;
    # a family overrides what it knows, in its own module. The defaults say "not known".
    @classmethod
    def models(cls) -> dict[str, type[Flow] | str]:
        """This optimizer's continuous models by kind (:data:`simulate.models.base.KINDS`): a
        :class:`~simulate.models.base.Flow` class, or why the kind does not exist for it. Kinds
        not listed are refused with the kind's own wording. The exact lift, where ``field`` is
        written, is every optimizer's."""
        return {"exact": ExactFlow} if cls.field is not Optimizer.field else {}

    @property
    def lift_order(self) -> float:
        """The order at which the iterates approach the exact lift (the method's own order)."""
        return float(self.method_order)

    @property
    def lift_scaling(self) -> str:
        """The ladder scaling that holds the exact lift fixed (:data:`simulate.models.SCALINGS`)."""
        return "linear"

    def lift_state_names(self) -> tuple[str, ...]:
        """The lift's state components (the discrete state's unless the step keeps more)."""
        return self.state_names()

    def lift_is_gradient_flow(self) -> bool:
        """Whether the lift is the gradient flow ``ẋ = −(∇f + λx)`` itself (a gradient-flow
        integrator may then solve it)."""
        return False

    @property
    def lift_energy_name(self) -> str:
        """What :meth:`lift_energy` is, for labels ("" when none is known)."""
        return ""

    def lift_energy(self, state: State, landscape: Landscape) -> np.ndarray | None:
        """A Lyapunov function of the exact lift at a constant lr, ``None`` where none is known."""
        return None

    def lift_caveat(self, landscape: Landscape, x0, horizon: float):
        """The exact lift's known reason the iterates stay off it (:meth:`simulate.models.base.Flow.caveat`):
        ``(reason, the small parameter it needs ≪ 1)``, or None."""
        return None

    def lift_arrival(self, landscape: Landscape, x0):
        """Where the exact lift ends in finite time at a singular point
        (:meth:`simulate.models.base.Flow.arrival`); None where it has no such end."""
        return None

    def threshold_factor(self) -> np.ndarray | None:
        """``c`` with stability iff ``lr·λ < c`` on a quadratic mode (per batch member), or
        ``None`` where there is no such line (:func:`simulate.stability_threshold`)."""
        return None

    def threshold_factor_formula(self) -> str:
        """:meth:`threshold_factor` as a formula for legends (``2``, ``2(1+μ)``; "" if none)."""
        return ""

    def sde_refusal(self) -> str | None:
        """Why no stochastic modified equation is built for this optimizer (``None``: there is)."""
        return (f"no SDE model for {self.display_name}: the stochastic modified equations cover "
                f"torch.optim.SGD (gd, momentum, nesterov)")

    def diffusion(self, model: Flow) -> dict[str, np.ndarray]:
        """The coefficient of ``Σ^{1/2} dW`` in each state component of ``model``'s SDE."""
        raise ValueError(f"no SDE is built on the {model.kind} flow of {self.display_name}")

    def gibbs_temperature(self, sigma: float) -> float | None:
        """T of the law ∝ exp(−f/T) that the small-lr SDE with isotropic noise σ samples, or None."""
        return None

    def steepest_metric(self, state: State, k) -> tuple[np.ndarray, np.ndarray | None] | None:
        """``(P, u)``: step k, which produced ``state`` (its buffers after their update), is the
        unnormalized steepest-descent step of the diagonal metric ``P`` ``(..., d)``,
        ``Δx = argmin_d ⟨u, d⟩ + ‖d‖²_P/(2·lr) = −lr·u/P`` (theory §10.9), where ``u`` is the array
        given, or (None) the coupled gradient ``∇f + λx`` at the step's start, which the state does
        not keep. ``None``: not known (no such metric)."""
        return None

    def critical_momentum(self, lr_lambda) -> np.ndarray | None:
        """The fastest momentum for a mode with step ``lr·λ``, where the family has one."""
        return None

    def coupled_value(self, x, landscape: Landscape) -> np.ndarray:
        """f + λ/2·|x|²: the loss whose gradient is torch's coupled ``∇f + λx``."""
        f = landscape.value(x)
        if self._decay_free or self._decoupled:
            return f
        return f + 0.5 * np.asarray(self.weight_decay) * np.einsum("...i,...i->...", x, x)

    def seen(self, landscape: Landscape) -> Landscape:
        """The landscape as the update sees it: its gradient clipped where this optimizer clips."""
        return seen_by(self, landscape)

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
        """d field / d state of the lift, ``(..., n·d, n·d)``; optional (solvers then difference)."""
        raise NotImplementedError

    @property
    def has_jacobian(self) -> bool:
        """Whether :meth:`jacobian` is written (else implicit solvers use finite differences)."""
        return type(self).jacobian is not Optimizer.jacobian

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
    if a is None or b is None:
        return a is b
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
    if isinstance(value, (bool, np.bool_, str)):  # a flag, or a text option (Muon's newton_schulz)
        return str(value) if isinstance(value, str) else str(bool(value))
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{float(arr):g}"
    return f"[{arr.size} values {arr.min():g}…{arr.max():g}]"
