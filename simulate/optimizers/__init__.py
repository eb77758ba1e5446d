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
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._names import UnknownNameError, lookup, suggest
from .kernels import adam_update, lerp, sgd_update
from ..landscapes import Landscape
from ..spec import format_spec, parse_spec

#: Elementwise ``math.pow`` (libm's pow, what Python's float ``**`` computes).
_libm_pow = np.frompyfunc(math.pow, 2, 1)

__all__ = [
    "Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "State",
    "OPTIMIZERS", "optimizer",
]

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
    _numeric: ClassVar[tuple[str, ...]] = ()  # hyperparameters that may be arrays
    _pairs: ClassVar[tuple[str, ...]] = ()    # of those, the ones that are a pair of such (betas)
    #: EMA coefficients β whose 1 − β is a rate times lr in the exact lift (see simulate.flows.rescale)
    _rates: ClassVar[tuple[str, ...]] = ()
    #: the continuous model :func:`simulate.flows.flow` gives by default
    default_flow: ClassVar[str] = "exact"
    #: gradient evaluations per step (Runge–Kutta schemes take several)
    evaluations_per_step: ClassVar[int] = 1
    #: whether scaling the finished update per coordinate is a per-coordinate lr (``lr_scale``):
    #: not for steps that evaluate the gradient at points built with lr (stages, look-ahead)
    scales_its_update: ClassVar[bool] = True

    # -- hyperparameters ---------------------------------------------------------------------
    def __post_init__(self):
        for f in self._numeric:
            value = getattr(self, f)
            if f in self._pairs:
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
        # Every torch optimizer has lr and weight_decay; subclasses add their own rules.
        self._require("lr", self.lr > 0, "must be > 0 (the time per step is built from it)")
        self._require("weight_decay", self.weight_decay >= 0, "must be >= 0")

    def _arrays(self) -> list[np.ndarray]:
        out = []
        for f in self._numeric:
            v = getattr(self, f)
            out.extend(v if f in self._pairs else (v,))
        return out

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the numeric hyperparameters (``()`` when all are scalars)."""
        grid = getattr(self.schedule, "shape", ())  # a schedule whose parameters a sweep varies
        try:
            return np.broadcast_shapes(*(a.shape for a in self._arrays()), grid)
        except ValueError:
            shapes = {f: np.shape(getattr(self, f)) for f in self._numeric}
            raise ValueError(f"{self.name}: hyperparameter arrays do not broadcast together: {shapes}") from None

    def member(self, index, batch_shape: tuple[int, ...] | None = None) -> Optimizer:
        """The optimizer of one batch member (scalar hyperparameters), e.g. for a per-member solve.

        ``index`` indexes ``batch_shape`` (default: the hyperparameters' own broadcast shape).
        """
        shape = self.batch_shape if batch_shape is None else batch_shape
        changes = {}
        for f in self._numeric:
            v = getattr(self, f)
            pick = (lambda a: np.broadcast_to(a, shape)[index])
            changes[f] = tuple(pick(a) for a in v) if f in self._pairs else pick(v)
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
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "lr" or not _same(value, OPTIMIZER_DEFAULTS.get((self.display_name, f.name), f.default)):
                out[f.name] = value
        return out

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
class SGD(Optimizer):
    r"""Gradient descent, heavy ball and Nesterov: ``torch.optim.SGD``.

    Update (torch), ``g = ∇f(x) + λx``::

        b ← g                       at k = 1 (dampening is not applied on the first step)
        b ← μ·b + (1 − τ)·g         at k > 1
        d ← g + μ·b if nesterov else b          (d = g when μ = 0)
        x ← x − lr·d

    Exact lift, time per step ``h = lr`` (theory §2.2–2.4):

    * μ = 0 (GD): gradient flow ``ẋ = −(∇f + λx)``; GD is its explicit Euler method.
    * μ > 0: ``ḃ = ((1 − τ)·g − (1 − μ)·b)/lr``, then ``ẋ = −b`` (heavy ball) or
      ``ẋ = −g − μ·b`` (Nesterov). ``b(0) = τ·g(x0)/μ`` reproduces torch's ``b₁ = g``. The buffer
      relaxes at rate ``(1 − μ)/lr``: the lift is stiff, and its η → 0 limits (a rescaled gradient
      flow for fixed μ, a damped oscillator for ``1 − μ ∝ √lr``) are separate models.

    PyTorch's momentum ``b ← μb + g; x ← x − lr·b`` is not Sutskever's ``v ← μv + lr·g``; they agree
    only while lr is constant.
    """

    name: ClassVar[str] = "sgd"
    description: ClassVar[str] = "torch.optim.SGD: gradient descent, heavy-ball momentum, Nesterov"
    _numeric: ClassVar[tuple[str, ...]] = ("lr", "momentum", "dampening", "weight_decay")
    _rates: ClassVar[tuple[str, ...]] = ("momentum", "dampening")

    lr: float = 1e-3
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    schedule: object = None
    clip_norm: object = None
    clip_value: object = None
    lr_scale: object = None

    def _validate(self):
        super()._validate()
        self._require("momentum", (self.momentum >= 0) & (self.momentum < 1), "must be in [0, 1)")
        self._require("dampening", (self.dampening >= 0) & (self.dampening <= 1), "must be in [0, 1]")
        if self.nesterov and not (np.all(self.momentum > 0) and np.all(self.dampening == 0)):
            raise ValueError(f"{self.display_name}: nesterov requires momentum > 0 and dampening = 0 (as torch.optim.SGD)")

    @property
    def display_name(self) -> str:
        if self.nesterov:
            return "nesterov"
        return "gd" if np.all(self.momentum == 0) else "momentum"

    def state_names(self):
        return ("b", "x") if np.any(self.momentum != 0) else ("x",)

    def step(self, state, landscape, k):
        x = state["x"]
        buffered = "b" in state
        x_new, b = sgd_update(x, landscape.grad(x), state.get("b"), k == 1, self._b(self.lr), self._b(self.momentum),
                              self._b(self.dampening), self._b(self.weight_decay), self.nesterov, buffered)
        return {"b": b, "x": x_new} if buffered else {"x": x_new}

    def _tau(self):
        # torch ignores dampening where momentum is 0; so does the lift (b then tracks g exactly).
        return np.where(self.momentum == 0, 0.0, self.dampening)

    def flow_init(self, x0, landscape):
        state = self.init(x0)
        if "b" in state:
            g = self._coupled_grad(state["x"], landscape)
            mu = self._b(self.momentum)
            state["b"] = np.divide(self._b(self._tau()) * g, mu, out=np.zeros_like(g), where=mu != 0)
        return state

    def field(self, t, state, landscape):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        if "b" not in state:
            return {"x": -g}
        mu, lr, b = self._b(self.momentum), self._b(self.lr), state["b"]
        db = ((1 - self._b(self._tau())) * g - (1 - mu) * b) / lr
        dx = -g - mu * b if self.nesterov else -b
        return {"b": db, "x": dx}

    def jacobian(self, t, state, landscape):
        x = state["x"]
        H = self._coupled_hess(x, landscape)
        names = tuple(state)
        if names == ("x",):
            return _assemble(names, {("x", "x"): -H}, x.shape)
        mu, lr = self._b(self.momentum), self._b(self.lr)
        eye = np.ones_like(x)
        blocks = {
            ("b", "b"): _diag(-(1 - mu) / lr * eye),
            ("b", "x"): ((1 - self._b(self._tau())) / lr)[..., None] * H,
        }
        if self.nesterov:
            blocks[("x", "b")] = _diag(-mu * eye)
            blocks[("x", "x")] = -H
        else:
            blocks[("x", "b")] = _diag(-eye)
        return _assemble(names, blocks, x.shape)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RMSprop(Optimizer):
    r"""RMSprop: ``torch.optim.RMSprop``. No bias correction; ε outside the root.

    Update (torch), ``g = ∇f(x) + λx``::

        v ← α·v + (1 − α)·g²                    ṽ = v
        ḡ ← lerp(ḡ, g, 1 − α);  ṽ = v − ḡ²        (centered)
        b ← μ·b + g/(√ṽ + ε);   x ← x − lr·b      (momentum > 0)
        x ← x − lr·g/(√ṽ + ε)                     (otherwise)

    Exact lift, ``h = lr`` (theory §2.5), components in torch's order (v, ḡ, b, x)::

        v̇ = (1 − α)(g² − v)/lr,   ḡ̇ = (1 − α)(g − ḡ)/lr,
        ḃ = (g/(√ṽ + ε) − (1 − μ)·b)/lr,   ẋ = −b      or, without momentum,   ẋ = −g/(√ṽ + ε).

    For fixed α and lr → 0, v relaxes to g² on the time scale lr/(1 − α) and the flow tends to the
    sign flow ``ẋ = −g/(|g| + ε)``. From ``v(0) = 0`` the lift starts with ``ẋ(0) = −g/ε``: a stiff
    initial layer that the discrete method skips by updating v first (step 1 moves
    ``lr·g/(√(1 − α)|g| + ε)``, about 10·lr for α = 0.99).
    """

    name: ClassVar[str] = "rmsprop"
    description: ClassVar[str] = "torch.optim.RMSprop: per-coordinate steps scaled by an EMA of g² (sign-like flow)"
    _numeric: ClassVar[tuple[str, ...]] = ("lr", "alpha", "eps", "weight_decay", "momentum")
    _rates: ClassVar[tuple[str, ...]] = ("alpha",)

    lr: float = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False
    schedule: object = None
    clip_norm: object = None
    clip_value: object = None
    lr_scale: object = None

    def _validate(self):
        super()._validate()
        self._require("alpha", (self.alpha >= 0) & (self.alpha < 1), "must be in [0, 1)")
        self._require("eps", self.eps > 0, "must be > 0 (it guards the division by √v)")
        self._require("momentum", (self.momentum >= 0) & (self.momentum < 1), "must be in [0, 1)")

    def state_names(self):
        return ("v",) + (("gbar",) if self.centered else ()) + (("b",) if np.any(self.momentum != 0) else ()) + ("x",)

    def _denominator(self, state):
        v = state["v"] - state["gbar"] * state["gbar"] if self.centered else state["v"]
        return np.sqrt(v) + self._b(self.eps)

    def step(self, state, landscape, k):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        alpha = self._b(self.alpha)
        new = {"v": state["v"] * alpha + (1 - alpha) * g * g}
        if self.centered:
            new["gbar"] = lerp(state["gbar"], g, 1 - alpha)
        avg = self._denominator(new)
        if "b" in state:
            new["b"] = state["b"] * self._b(self.momentum) + g / avg
            new["x"] = x + (-self._b(self.lr)) * new["b"]
        else:
            new["x"] = x + (-self._b(self.lr)) * (g / avg)
        return new

    def field(self, t, state, landscape):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        rate = (1 - self._b(self.alpha)) / self._b(self.lr)
        out = {"v": rate * (g * g - state["v"])}
        if self.centered:
            out["gbar"] = rate * (g - state["gbar"])
        u = g / self._denominator(state)
        if "b" in state:
            out["b"] = (u - (1 - self._b(self.momentum)) * state["b"]) / self._b(self.lr)
            out["x"] = -state["b"]
        else:
            out["x"] = -u
        return out

    def jacobian(self, t, state, landscape):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        H = self._coupled_hess(x, landscape)
        names = tuple(state)
        lr = self._b(self.lr)
        rate = (1 - self._b(self.alpha)) / lr
        vt = state["v"] - state["gbar"] ** 2 if self.centered else state["v"]
        root = np.sqrt(np.maximum(vt, np.finfo(float).tiny))  # dD/dv is unbounded at v = 0
        D = np.sqrt(vt) + self._b(self.eps)
        du_dx = H / D[..., :, None]                  # u = g/D
        du_dv = -g / (D * D) / (2 * root)
        blocks = {("v", "v"): _diag(-rate * np.ones_like(x)), ("v", "x"): (2 * rate * g)[..., :, None] * H}
        dus = {"x": du_dx, "v": _diag(du_dv)}
        if self.centered:
            blocks[("gbar", "gbar")] = _diag(-rate * np.ones_like(x))
            blocks[("gbar", "x")] = rate[..., None] * H
            dus["gbar"] = _diag(-2 * state["gbar"] * du_dv)
        if "b" in state:
            blocks[("b", "b")] = _diag(-(1 - self._b(self.momentum)) / lr * np.ones_like(x))
            for col, du in dus.items():
                blocks[("b", col)] = du / lr[..., None]
            blocks[("x", "b")] = _diag(-np.ones_like(x))
        else:
            for col, du in dus.items():
                blocks[("x", col)] = -du
        return _assemble(names, blocks, x.shape)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Adam(Optimizer):
    r"""Adam: ``torch.optim.Adam`` (coupled L2 ``weight_decay``; see :class:`AdamW` for decoupled).

    Update (torch), step k = 1, 2, …, ``g = ∇f(x) + λx``::

        m ← lerp(m, g, 1 − β₁);   v ← β₂·v + (1 − β₂)·g²
        v_max ← max(v_max, v)                             (amsgrad; raw v, not the corrected one)
        x ← x − (lr/(1 − β₁ᵏ)) · m / (√v/√(1 − β₂ᵏ) + ε)   (v_max for v with amsgrad)

    ε sits outside the root of the bias-corrected v̂.

    Exact lift, ``h = lr``, non-autonomous because of the bias correction (theory §2.6)::

        ṁ = (1 − β₁)(g − m)/lr,   v̇ = (1 − β₂)(g² − v)/lr,   v̇_max = max(v − v_max, 0)/lr,
        ẋ = −(m/(1 − β₁^κ)) / (√(v/(1 − β₂^κ)) + ε),   κ = t/lr + 1.

    The "+1" makes the Euler step from ``t = (k − 1)·lr`` use torch's counter k and keeps the field
    regular at t = 0. For fixed betas and lr → 0 the flow tends to the sign flow
    ``ẋ = −g/(|g| + ε)`` (Ma, Wu & E 2020); with ``1 − βᵢ ∝ lr`` to the Barakat–Bianchi ODE (2021).
    """

    name: ClassVar[str] = "adam"
    description: ClassVar[str] = "torch.optim.Adam: momentum on g and a per-coordinate scale from g², bias-corrected"
    _numeric: ClassVar[tuple[str, ...]] = ("lr", "betas", "eps", "weight_decay")
    _pairs: ClassVar[tuple[str, ...]] = ("betas",)
    _rates: ClassVar[tuple[str, ...]] = ("betas",)
    _decoupled: ClassVar[bool] = False

    lr: float = 1e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    schedule: object = None
    clip_norm: object = None
    clip_value: object = None
    lr_scale: object = None

    def _validate(self):
        super()._validate()
        for i in (0, 1):
            self._require(f"betas[{i}]", (self.betas[i] >= 0) & (self.betas[i] < 1), "must be in [0, 1)")
        self._require("eps", self.eps > 0, "must be > 0 (it guards the division by √v)")

    def state_names(self):
        return ("m", "v", "vmax", "x") if self.amsgrad else ("m", "v", "x")

    def _gradient(self, x, landscape):
        return landscape.grad(x) if self._decoupled else self._coupled_grad(x, landscape)

    def _corrections(self, k):
        """Bias corrections ``1 − β₁ᵏ`` and ``√(1 − β₂ᵏ)``. At a step (an integer k, or an array of
        them) βᵏ is libm's pow, as torch computes it in Python floats: numpy's vectorized power
        differs from it in the last bit for a few percent of (β, k). k may be fractional in the flow."""
        b1, b2 = self.betas
        if np.issubdtype(np.asarray(k).dtype, np.integer):
            p1, p2 = (np.asarray(_libm_pow(b, k), dtype=np.float64) for b in (b1, b2))
            return 1 - p1, np.sqrt(1 - p2)
        return 1 - b1 ** k, np.sqrt(1 - b2 ** k)

    def step(self, state, landscape, k):
        x = state["x"]
        c1, c2 = (self._b(c) for c in self._corrections(k))
        x_new, m, v, vmax = adam_update(x, landscape.grad(x), state["m"], state["v"], state.get("vmax"),
                                        self._b(self.lr), *(self._b(b) for b in self.betas), self._b(self.eps),
                                        self._b(self.weight_decay), c1, c2, self._decoupled, self.amsgrad)
        return {"m": m, "v": v, "vmax": vmax, "x": x_new} if self.amsgrad else {"m": m, "v": v, "x": x_new}

    def field(self, t, state, landscape):
        x = state["x"]
        lr = self._b(self.lr)
        g = self._gradient(x, landscape)
        b1, b2 = (self._b(b) for b in self.betas)
        out = {"m": (1 - b1) * (g - state["m"]) / lr, "v": (1 - b2) * (g * g - state["v"]) / lr}
        if self.amsgrad:
            out["vmax"] = np.maximum(state["v"] - state["vmax"], 0) / lr
        c1, c2 = self._corrections(np.asarray(t) / np.asarray(self.lr) + 1)
        w = state["vmax"] if self.amsgrad else state["v"]
        out["x"] = -(state["m"] / self._b(c1)) / (np.sqrt(w) / self._b(c2) + self._b(self.eps))
        if self._decoupled:
            out["x"] = out["x"] - self._b(self.weight_decay) * x
        return out

    def jacobian(self, t, state, landscape):
        x = state["x"]
        lr = self._b(self.lr)
        g = self._gradient(x, landscape)
        H = landscape.hess(x) if self._decoupled else self._coupled_hess(x, landscape)
        b1, b2 = (self._b(b) for b in self.betas)
        c1, c2 = (self._b(c) for c in self._corrections(np.asarray(t) / np.asarray(self.lr) + 1))
        names = tuple(state)
        one = np.ones_like(x)
        w_name = "vmax" if self.amsgrad else "v"
        w = state[w_name]
        root = np.sqrt(np.maximum(w, np.finfo(float).tiny))  # dD/dw is unbounded at w = 0
        D = np.sqrt(w) / c2 + self._b(self.eps)
        blocks = {
            ("m", "m"): _diag(-(1 - b1) / lr * one),
            ("m", "x"): ((1 - b1) / lr)[..., None] * H,
            ("v", "v"): _diag(-(1 - b2) / lr * one),
            ("v", "x"): (2 * (1 - b2) / lr * g)[..., :, None] * H,
            ("x", "m"): _diag(-1 / (c1 * D) * one),
            ("x", w_name): _diag(state["m"] / c1 / (D * D) / (2 * root * c2)),
        }
        if self.amsgrad:
            active = (state["v"] > state["vmax"]).astype(float)
            blocks[("vmax", "v")] = _diag(active / lr)
            blocks[("vmax", "vmax")] = _diag(-active / lr)
        if self._decoupled:
            blocks[("x", "x")] = _diag(-self._b(self.weight_decay) * one)
        return _assemble(names, blocks, x.shape)


@dataclass(frozen=True)
class AdamW(Adam):
    r"""AdamW: ``torch.optim.AdamW``, decoupled weight decay (Loshchilov & Hutter, ICLR 2019).

    Update: ``x ← x·(1 − lr·λ)`` first, then Adam's step with ``g = ∇f(x)`` (no λx inside the
    moments). Default λ = 0.01. Exact lift: Adam's field with ``−λx`` added to ``ẋ``, ``h = lr``.
    """

    name: ClassVar[str] = "adamw"
    description: ClassVar[str] = "torch.optim.AdamW: Adam with decoupled weight decay (adds −λx to the flow)"
    _decoupled: ClassVar[bool] = True

    weight_decay: float = 1e-2


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Adagrad(Optimizer):
    r"""Adagrad: ``torch.optim.Adagrad`` (Duchi, Hazan & Singer, JMLR 2011).

    Update (torch), step k, ``g = ∇f(x) + λx``::

        s ← s + g²                   (s starts at initial_accumulator_value)
        x ← x − lr/(1 + (k − 1)·δ) · g/(√s + ε)

    Exact lift with **time per step h = lr²** (theory §2.7), written in torch's own accumulator s::

        ṡ = g²/lr²,    ẋ = −g / (lr·(1 + δ·t/lr²)·(√s + ε)).

    In ``S = lr²·s`` this is ``Ṡ = g², ẋ = −g/((1 + δt/lr²)(√S + lr·ε))``: Adagrad's natural clock is
    ``t = k·lr²``, on which the flow depends on lr only through ``lr·ε`` and ``S(0)``. ``lr_decay`` δ
    keeps h fixed and makes the field non-autonomous. With ``s(0) = 0`` the start is stiff
    (``ẋ(0) = −g/(lr·ε)``).
    """

    name: ClassVar[str] = "adagrad"
    description: ClassVar[str] = "torch.optim.Adagrad: steps scaled by the accumulated g² (clock t = k·lr²)"
    _numeric: ClassVar[tuple[str, ...]] = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    lr: float = 1e-2
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10
    schedule: object = None
    clip_norm: object = None
    clip_value: object = None
    lr_scale: object = None

    def _validate(self):
        super()._validate()
        self._require("lr_decay", self.lr_decay >= 0, "must be >= 0")
        self._require("initial_accumulator_value", self.initial_accumulator_value >= 0, "must be >= 0")
        self._require("eps", self.eps > 0, "must be > 0 (it guards the division by √s)")

    def state_names(self):
        return ("s", "x")

    @property
    def time_per_step(self):
        return np.asarray(self.lr) ** 2

    def init(self, x0):
        x = self._start(x0)
        return {"s": np.broadcast_to(self._b(self.initial_accumulator_value), x.shape).copy(), "x": x}

    def step(self, state, landscape, k):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        clr = self._b(self.lr) / (1 + (k - 1) * self._b(self.lr_decay))
        s = state["s"] + g * g
        return {"s": s, "x": x + (-clr) * (g / (np.sqrt(s) + self._b(self.eps)))}

    def _slowdown(self, t):
        return 1 + self._b(self.lr_decay) * self._b(t) / self._b(self.lr) ** 2

    def field(self, t, state, landscape):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        lr = self._b(self.lr)
        return {"s": g * g / lr**2,
                "x": -g / (lr * self._slowdown(t) * (np.sqrt(state["s"]) + self._b(self.eps)))}

    def jacobian(self, t, state, landscape):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        H = self._coupled_hess(x, landscape)
        lr = self._b(self.lr)
        q = lr * self._slowdown(t)
        root = np.sqrt(np.maximum(state["s"], np.finfo(float).tiny))
        D = np.sqrt(state["s"]) + self._b(self.eps)
        blocks = {
            ("s", "x"): (2 * g / lr**2)[..., :, None] * H,
            ("x", "x"): -H / (q * D)[..., :, None],
            ("x", "s"): _diag(g / (q * D * D) / (2 * root)),
        }
        return _assemble(("s", "x"), blocks, x.shape)


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


OPTIMIZERS: dict[str, Preset] = {
    "gd": Preset("gd", SGD, "gradient descent: explicit Euler on the gradient flow (SGD, momentum 0)", fixed={"momentum": 0.0}),
    "momentum": Preset("momentum", SGD, "heavy-ball momentum (SGD, momentum 0.9): a damped oscillator", {"momentum": 0.9},
                       fixed={"nesterov": False}),
    "nesterov": Preset("nesterov", SGD, "Nesterov momentum (SGD, momentum 0.9, nesterov): look-ahead gradient", {"momentum": 0.9},
                       fixed={"nesterov": True}),
    "sgd": Preset("sgd", SGD, SGD.description),
    "rmsprop": Preset("rmsprop", RMSprop, RMSprop.description),
    "adam": Preset("adam", Adam, Adam.description),
    "adamw": Preset("adamw", AdamW, AdamW.description),
    "adagrad": Preset("adagrad", Adagrad, Adagrad.description),
}

# The ODE-scheme optimizers subclass Optimizer, so they are imported once it exists.
from .schemes import RK4, Heun, NagC, ProximalPoint  # noqa: E402

from .gameplay import GAME_OPTIMIZERS  # noqa: E402

OPTIMIZERS.update({cls.name: Preset(cls.name, cls, cls.description)
                   for cls in (Heun, RK4, ProximalPoint, NagC, *GAME_OPTIMIZERS)})

# Defaults a label leaves out: the preset's, where it sets one.
OPTIMIZER_DEFAULTS = {(name, k): v for name, p in OPTIMIZERS.items() for k, v in {**p.defaults, **p.fixed}.items()}


def optimizer(name: str | Optimizer, **hyperparameters) -> Optimizer:
    """An optimizer by name with torch's defaults, e.g. ``optimizer("adam", lr=1e-2)``.

    A spec string works too: ``optimizer("adam(lr=0.01, betas=(0.9, 0.99))")``.
    ``gd``, ``momentum`` and ``nesterov`` are presets of ``sgd``. Unknown names and hyperparameters
    raise an error listing the valid ones with the closest match.
    """
    if isinstance(name, Optimizer):
        return dataclasses.replace(name, **hyperparameters) if hyperparameters else name
    if "(" in name or ":" in name:  # a spec such as "adam(lr=0.01, betas=(0.9, 0.99))"
        name, spec_params = parse_spec(name)
        hyperparameters = {**spec_params, **hyperparameters}
    preset: Callable[..., Optimizer] = lookup("optimizer", name, OPTIMIZERS)
    return preset(**hyperparameters)
