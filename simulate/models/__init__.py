r"""Continuous models of an optimizer: which ODE, on which clock, under which scaling of β with lr.

An optimizer has several continuous models, one per way its hyperparameters behave as lr → 0
(theory §1.2). A :class:`Flow` is one of them for one optimizer: an initial state, a vector field,
optionally its Jacobian and a Lyapunov energy, a **time per step** h (iterate k is compared with the
flow at ``t = k·h``), and the **scaling** that holds the model fixed on a ladder of learning rates
(used by :func:`simulate.order.order` and :func:`rescale`):

=============  ==========================================================  =======  =========
kind           model                                                       h        scaling
=============  ==========================================================  =======  =========
``exact``      the exact lift: one step = one semi-implicit Euler step     lr       linear
``limit``      lr → 0 with β fixed: ẋ = −∇f/(1 − μ) (SGD family), the       lr       fixed
               sign flow ẋ = −g/(|g| + ε) (RMSprop, Adam); NAG-C's ODE      √lr
``modified``   backward error analysis, first order: GD ẋ = −∇(f + lr/4·    lr       fixed
               |∇f|²), heavy ball / Nesterov with fixed β, proximal point
``modified2``  GD's modified flow to second order (Hairer–Lubich–Wanner)   lr       fixed
``oscillator`` heavy ball / Nesterov with 1 − μ = γ√lr: ẍ + γẋ + ∇f = 0    √lr      sqrt
``highres``    Shi et al.'s high-resolution ODEs (HB, NAG-SC, NAG-C)       √lr      sqrt
``ema``        Adam with 1 − βᵢ = aᵢ·lr: Barakat & Bianchi's ODE            lr       linear
=============  ==========================================================  =======  =========

Scalings: ``fixed`` keeps every hyperparameter but lr; ``linear`` keeps ``(1 − β)/lr`` for the
optimizer's EMA coefficients (momentum and dampening, RMSprop's alpha, Adam's betas); ``sqrt``
keeps ``(1 − μ)/√lr``. :func:`flow` builds a model by kind and says which kinds an optimizer has.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._names import lookup
from ..landscapes import Landscape
from ..optimizers import SGD, Adam, Optimizer, RMSprop, State
from ..optimizers.base import _assemble, _diag
from ..optimizers.nagc import NagC
from ..optimizers.schemes import ProximalPoint, _GradientFlowScheme
from ..landscapes.games import is_game
from ..optimizers.transforms import seen_by

__all__ = ["energy_along", "Flow", "ExactFlow", "LimitFlow", "ModifiedFlow", "Modified2Flow", "OscillatorFlow",
           "HighResFlow", "EmaFlow",
           "FLOWS", "SCALINGS", "flow", "available_flows", "rescale"]

SCALINGS = {
    "fixed": "β fixed as lr → 0",
    "linear": "1 − β ∝ lr (the exact lift held fixed)",
    "sqrt": "1 − β ∝ √lr",
}


def _coupled_value(opt: Optimizer, x, landscape) -> np.ndarray:
    """f + λ/2·|x|²: the loss whose gradient is torch's coupled ``∇f + λx``."""
    f = landscape.value(x)
    if opt._decay_free or getattr(opt, "_decoupled", False):
        return f
    return f + 0.5 * np.asarray(opt.weight_decay) * np.einsum("...i,...i->...", x, x)


@dataclass(frozen=True)
class Flow:
    """One continuous model of ``optimizer``; subclasses set the class attributes and the field."""

    optimizer: Optimizer
    #: the run's :class:`~simulate.schedules.ScheduleClock` when the optimizer has a schedule
    #: (set by :meth:`for_steps`; only the exact lift takes one)
    schedule_clock: object = None
    kind: ClassVar[str] = ""
    scaling: ClassVar[str] = "fixed"
    summary: ClassVar[str] = ""
    energy_name: ClassVar[str] = ""  # what :meth:`energy` is, for axis labels; "" when there is none

    @classmethod
    def unsupported(cls, opt: Optimizer) -> str | None:
        """Why this model does not exist for ``opt`` (``None`` when it does)."""
        return None

    # -- the model -----------------------------------------------------------------------------
    def state_names(self) -> tuple[str, ...]:
        return ("x",)

    def init(self, x0, landscape: Landscape) -> State:
        return {"x": self.optimizer._start(x0)}

    def field(self, t, state: State, landscape: Landscape) -> State:
        raise NotImplementedError

    def jacobian(self, t, state: State, landscape: Landscape) -> np.ndarray | None:
        """d field / d state, ``(..., n·d, n·d)``; ``None`` lets the solver use finite differences."""
        return None

    def energy(self, t, state: State, landscape: Landscape) -> np.ndarray | None:
        """A Lyapunov function, non-increasing along the flow; ``None`` where none is known."""
        return None

    @property
    def time_per_step(self) -> np.ndarray:
        return np.asarray(self.optimizer.lr)

    @property
    def preferred_metric(self) -> str:
        """How :func:`simulate.order.order` measures the distance by default (see its ``metric``)."""
        return "max"

    @property
    def start_time(self) -> float:
        """Where the model's initial state sits on the iterates' clock (≤ 0; 0 for most models)."""
        return 0.0

    #: the order in h at which the iterates approach this model (the figure's reference slope)
    expected_order: ClassVar[float] = 1.0

    # -- plumbing ------------------------------------------------------------------------------
    def member(self, index, batch_shape=None) -> Flow:
        clock = self.schedule_clock
        if clock is not None:
            clock = clock.member(index, batch_shape if batch_shape is not None else self.optimizer.batch_shape)
        return dataclasses.replace(self, optimizer=self.optimizer.member(index, batch_shape), schedule_clock=clock)

    def for_steps(self, steps: int) -> Flow:
        """This model on the clock of a scheduled run of ``steps`` steps (itself without a schedule)."""
        if self.optimizer.schedule is None:
            return self
        return dataclasses.replace(self, schedule_clock=self.optimizer.clock(steps))

    @property
    def batch_shape(self):
        return self.optimizer.batch_shape

    @property
    def label(self) -> str:
        return f"{self.kind} flow"

    @property
    def clock(self) -> str:
        """The time per step as a formula in lr, for labels."""
        return {"adagrad": "lr²", "nag-c": "√lr"}.get(self.optimizer.name, "lr")

    @property
    def description(self) -> str:
        return f"{self.summary} (time per step {self.clock}; ladder scaling: {SCALINGS[self.scaling]})"

    def _g(self, x, landscape):
        return self.optimizer._coupled_grad(x, landscape)

    def _H(self, x, landscape):
        return self.optimizer._coupled_hess(x, landscape)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExactFlow(Flow):
    """The optimizer's exact lift (its ``field``): the discrete step is a semi-implicit Euler step of it."""

    kind: ClassVar[str] = "exact"
    summary: ClassVar[str] = "exact lift: the field one step is a semi-implicit Euler step of"

    def _local(self, t):
        """With a schedule: ``(the optimizer at the lr of the step that covers t, t on that step's
        constant-lr clock)``. Step k (1-based) covers ``[t_{k−1}, t_k)`` and runs at lr_k with
        time ``(k − 1 + fraction)·h_k``: a semi-implicit Euler step of size h_k from t_{k−1} is
        then the discrete step k, and the buffers relax at ``(1 − β)/lr(t)``."""
        clock = self.schedule_clock
        if clock is None:
            raise ValueError("a scheduled lift needs the run's clock: use flow.for_steps(steps) (integrate does)")
        k, s = clock.locate(float(np.asarray(t).reshape(-1)[0]))
        return self.optimizer.at_lr(clock.lr[k]), s * float(clock.h[k])

    @property
    def expected_order(self) -> float:
        opt = self.optimizer
        # Started from v = 0 the lifts of RMSprop and Adagrad have a √t layer at t = 0 (the
        # step divides by √v ~ √t): the iterates approach them at order ½ (measured, README).
        if opt.name == "rmsprop" or (opt.name == "adagrad" and np.all(opt.initial_accumulator_value == 0)):
            return 0.5
        return float(getattr(opt, "method_order", 1))

    @property
    def scaling(self) -> str:
        # Nesterov's lift (ẋ = −g − μb, no dampening allowed) cannot be held fixed by moving μ.
        return "fixed" if getattr(self.optimizer, "nesterov", False) else "linear"

    @classmethod
    def unsupported(cls, opt):
        if type(opt).field is Optimizer.field:
            return f"{opt.display_name} has no exact lift (its continuous model is the '{opt.default_flow}' flow)"
        return None

    @property
    def energy_name(self):
        if self._energy_form() == "potential":
            return self.optimizer.potential_name
        return {"f": "f", "hb": "f + lr·|b|²/(2(1 − τ))"}.get(self._energy_form(), "")

    def _energy_form(self) -> str:
        opt = self.optimizer
        if hasattr(opt, "potential"):  # a lift that is the gradient flow of its own potential (consensus)
            return "potential"
        if isinstance(opt, (SGD, _GradientFlowScheme)):
            if isinstance(opt, SGD) and np.any(opt.momentum != 0):
                return "hb" if np.all(opt.momentum != 0) and np.all(opt._tau() < 1) else ""
            return "f"
        if isinstance(opt, RMSprop):
            return "" if np.any(opt.momentum != 0) else "f"
        return "f" if opt.name == "adagrad" else ""

    def state_names(self):
        opt = self.optimizer  # optimistic GD keeps its last field, which its lift does not have
        return getattr(opt, "lift_state_names", opt.state_names)()

    def init(self, x0, landscape):
        opt = self.optimizer
        return (opt if opt.schedule is None else opt.at_lr(opt.lrs(1)[0])).flow_init(x0, seen_by(opt, landscape))

    def field(self, t, state, landscape):
        opt = self.optimizer
        if opt.schedule is not None:
            opt, t = self._local(t)
        out = opt.field(t, state, seen_by(opt, landscape))  # the clipped gradient where the optimizer clips
        if opt.lr_scale is not None:  # a per-coordinate lr: the preconditioned flow ẋ = P·(…)
            out["x"] = np.asarray(opt.lr_scale) * out["x"]
        return out

    def jacobian(self, t, state, landscape):
        opt = self.optimizer
        if opt.schedule is not None:
            opt, t = self._local(t)
        J = opt.jacobian(t, state, seen_by(opt, landscape))
        if opt.lr_scale is not None:  # the x rows (last in the state) scaled like the field
            d = len(opt.lr_scale)
            J = np.array(J)
            J[..., -d:, :] *= np.asarray(opt.lr_scale)[:, None]
        return J

    def energy(self, t, state, landscape):
        if self.optimizer.schedule is not None or self.optimizer.transformed:
            return None  # the energies below are for a constant lr and the plain gradient
        form = self._energy_form()
        if not form:
            return None
        if form == "potential":
            return self.optimizer.potential(state["x"], landscape)
        f = _coupled_value(self.optimizer, state["x"], landscape)
        if form == "f":  # gradient flow, and the adaptive lifts without momentum: ḟ = −Σ g²/D ≤ 0
            return f
        # heavy ball / Nesterov lift: Ė = −(1 − μ)/(1 − τ)·|b|² (HB) or ≤ 0 (Nesterov, τ = 0)
        opt = self.optimizer
        scale = np.asarray(opt.lr) / (2 * (1 - opt._tau()))
        return f + scale * np.einsum("...i,...i->...", state["b"], state["b"])

    @property
    def time_per_step(self):
        return np.asarray(self.optimizer.time_per_step)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LimitFlow(Flow):
    r"""lr → 0 with every other hyperparameter fixed.

    * SGD family: the buffer relaxes to ``(1 − τ)·g/(1 − μ)``, leaving ``ẋ = −(1 − τ)/(1 − μ)·∇f``
      (Kovachki & Stuart 2021): momentum is a larger learning rate; heavy ball and Nesterov agree.
    * RMSprop (not centered) and Adam/AdamW: v relaxes to g², leaving the sign flow
      ``ẋ = −g/((|g| + ε)(1 − μ))`` (Ma, Wu & E 2020); AdamW adds ``−λx``.
    * NAG-C: Su, Boyd & Candès' ``Ẍ + (r/t)Ẋ + ∇f = 0`` on the clock ``t = k·√lr``; state (v, x).
    """

    kind: ClassVar[str] = "limit"
    scaling: ClassVar[str] = "fixed"
    summary: ClassVar[str] = "lr → 0 limit with β fixed"

    @property
    def expected_order(self) -> float:
        # For the ODE schemes the limit is the gradient flow they integrate: their own order.
        return float(getattr(self.optimizer, "method_order", 1))

    @classmethod
    def unsupported(cls, opt):
        if isinstance(opt, RMSprop) and opt.centered:
            return "centered RMSprop has no β-fixed limit (v − ḡ² tends to 0 for exact gradients)"
        if opt.name == "adagrad":
            return "Adagrad's exact lift already is its lr → 0 model on the clock lr²; use the 'exact' flow"
        if opt.name == "consensus":
            return "consensus's exact lift ż = −ξ − γ·Jᵀξ does not depend on lr: it already is its lr → 0 model; use the 'exact' flow"
        if isinstance(opt, (_GradientFlowScheme, ProximalPoint)):
            return None
        return None if isinstance(opt, (SGD, RMSprop, Adam, NagC)) else f"no β-fixed limit is known for {opt.name}"

    @property
    def energy_name(self):
        return "2t²(f − f*)/(r − 1) + (r − 1)|X + tẊ/(r − 1) − x*|²" if isinstance(self.optimizer, NagC) else "f"

    def state_names(self):
        return ("v", "x") if isinstance(self.optimizer, NagC) else ("x",)

    def init(self, x0, landscape):
        x = self.optimizer._start(x0)
        return {"v": np.zeros_like(x), "x": x} if isinstance(self.optimizer, NagC) else {"x": x}

    @property
    def time_per_step(self):
        return np.asarray(self.optimizer.time_per_step)

    def _speed(self):
        """The scalar factor c in ``ẋ = −c·(g or sign-like g)``."""
        opt = self.optimizer
        if isinstance(opt, SGD):
            return self.optimizer._b((1 - opt._tau()) / (1 - opt.momentum))
        if isinstance(opt, RMSprop):
            return self.optimizer._b(1 / (1 - opt.momentum))
        return 1.0

    def field(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        if isinstance(opt, NagC):
            g = self._g(x, landscape)
            r = opt._b(opt.r)
            t = opt._b(t)
            with np.errstate(divide="ignore", invalid="ignore"):
                dv = np.where(t > 0, -(r / t) * state["v"] - g, -g / (1 + r))  # the t → 0 limit of the ODE
            return {"v": dv, "x": state["v"]}
        if isinstance(opt, (RMSprop, Adam)):
            g = landscape.grad(x) if getattr(opt, "_decoupled", False) else self._g(x, landscape)
            dx = -self._speed() * g / (np.abs(g) + opt._b(opt.eps))
            if getattr(opt, "_decoupled", False):
                dx = dx - opt._b(opt.weight_decay) * x
            return {"x": dx}
        return {"x": -self._speed() * self._g(x, landscape)}

    def jacobian(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        H = landscape.hess(x) if getattr(opt, "_decoupled", False) else self._H(x, landscape)
        if isinstance(opt, NagC):
            r, tt = opt._b(opt.r), opt._b(t)
            one = np.ones_like(x)
            with np.errstate(divide="ignore", invalid="ignore"):
                dvdv = np.where(tt > 0, -r / tt, 0.0) * one
                dvdx = -H / np.where(tt > 0, 1.0, 1 + r)[..., None]
            return _assemble(("v", "x"), {("v", "v"): _diag(dvdv), ("v", "x"): dvdx, ("x", "v"): _diag(one)},
                             x.shape)
        if isinstance(opt, (RMSprop, Adam)):
            g = landscape.grad(x) if getattr(opt, "_decoupled", False) else self._g(x, landscape)
            eps = opt._b(opt.eps)
            J = -(self._speed() * eps / (np.abs(g) + eps) ** 2)[..., :, None] * H
            if getattr(opt, "_decoupled", False):
                J = J - np.asarray(opt.weight_decay)[..., None, None] * np.eye(x.shape[-1])
            return J
        return -np.asarray(self._speed())[..., None] * H

    def energy(self, t, state, landscape):
        opt = self.optimizer
        if getattr(opt, "_decoupled", False) and np.any(opt.weight_decay != 0):
            return None  # AdamW's −λx term is not a descent direction of f
        if not isinstance(opt, NagC):
            return _coupled_value(opt, state["x"], landscape)
        # Su–Boyd–Candès: 2t²/(r−1)·(f − f*) + (r − 1)|X + t/(r−1)·Ẋ − x*|², non-increasing for
        # convex f and r ≥ 3, with x* the landscape's lowest listed minimum (so no weight decay,
        # which moves the minimizer).
        if landscape.minima.shape[0] == 0 or np.any(opt.r < 3) or not opt._decay_free:
            return None
        values = landscape.value(landscape.minima)
        xstar = landscape.minima[int(np.argmin(values))]
        r, tt = np.asarray(opt.r), np.asarray(t)
        f = _coupled_value(opt, state["x"], landscape) - float(np.min(values))
        d = state["x"] + (tt / (r - 1))[..., None] * state["v"] - xstar
        return 2 * tt**2 / (r - 1) * f + (r - 1) * np.einsum("...i,...i->...", d, d)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModifiedFlow(Flow):
    r"""First-order modified equations (backward error analysis), lr fixed inside the field.

    * GD (Barrett & Dherin 2021): ``ẋ = −∇f̃``, ``f̃ = f + lr/4·|∇f|²``, i.e. ``ẋ = −g − lr/2·Hg``;
      the iterates stay O(lr²) from it.
    * Proximal point: ``f̃ = f − lr/4·|∇f|²``.
    * Heavy ball and Nesterov with μ fixed (Kovachki & Stuart 2021; theory §2.3):
      ``ẋ = −∇f̃/(1 − μ)`` with ``f̃ = f + c·lr·|∇f|²``,

      - heavy ball ``c = (1 + μ)/(4(1 − μ)²)``: per effective step lr/(1 − μ), (1 + μ)/(1 − μ) times
        GD's regularizer (Ghosh et al. 2023);
      - torch's Nesterov ``c = (1 − μ + 2μ²)/(4(1 − μ)²)`` (derived from the slow root of the
        step's companion matrix and checked to give order 2).

      Started from torch's zero buffer the iterates lag the flow's slow manifold: the flow starts
      at ``x₀ + lr·ℓ/(1 − μ)·∇f(x₀)`` with lag ``ℓ = μ/(1 − μ)`` steps (heavy ball) or ``μ²/(1 − μ)``
      (Nesterov). The fast mode still decays like μᵏ from an O(lr) size, so the O(lr²) agreement holds
      once it has (``order`` measures these flows with the ``late`` metric).
    * The game methods (alternating GDA, extragradient, optimistic GD, consensus; :mod:`simulate.gameplay`):
      ``ż = F + lr·C(z)`` with F the method's own field (−ξ; consensus's −ξ − γJᵀξ) and each
      method's correction C. On a game GD's field above reads ``ż = −ξ − lr/2·Jξ`` (the same Taylor
      matching; J need not be symmetric).
    """

    kind: ClassVar[str] = "modified"
    expected_order: ClassVar[float] = 2.0
    scaling: ClassVar[str] = "fixed"
    summary: ClassVar[str] = "first-order modified equation (backward error analysis)"
    energy_name: ClassVar[str] = "modified loss f̃"

    @classmethod
    def unsupported(cls, opt):
        if isinstance(opt, SGD):
            return ("modified flows need dampening = 0 (they hold β fixed; so does --scaling fixed)"
                    if np.any(opt.dampening != 0) else None)
        if isinstance(opt, ProximalPoint) or hasattr(opt, "correction"):
            return None
        return (f"no modified flow is implemented for {opt.display_name} "
                "(gd, momentum, nesterov, proximal and the game methods have one)")

    @property
    def preferred_metric(self) -> str:
        return "late" if self._momentum else "max"

    @property
    def _corrected(self) -> bool:
        """A game method (simulate.gameplay): its field is ż = F + lr·C(z), F the optimizer's own field
        (−ξ for all but consensus) and C its own ``correction``."""
        return hasattr(self.optimizer, "correction")

    @property
    def _momentum(self) -> bool:
        return isinstance(self.optimizer, SGD) and bool(np.any(self.optimizer.momentum != 0))

    def coefficient(self) -> tuple[np.ndarray, np.ndarray]:
        """``(c, speed)``: ``f̃ = f + c·lr·|∇f|²`` and ``ẋ = −speed·∇f̃`` (per batch member)."""
        opt = self.optimizer
        if isinstance(opt, ProximalPoint):
            return np.asarray(-0.25), np.asarray(1.0)
        mu = np.asarray(opt.momentum)
        top = (1 - mu + 2 * mu**2) if opt.nesterov else (1 + mu)
        return top / (4 * (1 - mu) ** 2), 1 / (1 - mu)

    def lag(self) -> np.ndarray:
        """Steps by which iterates started from a zero buffer trail the flow: μ/(1 − μ), Nesterov μ²/(1 − μ)."""
        opt = self.optimizer
        if not isinstance(opt, SGD):
            return np.asarray(0.0)
        mu = np.asarray(opt.momentum)
        return (mu**2 if opt.nesterov else mu) / (1 - mu)

    def init(self, x0, landscape):
        x = self.optimizer._start(x0)
        if self._momentum:
            opt = self.optimizer
            x = x + opt._b(opt.lr * self.lag() / (1 - opt.momentum)) * self._g(x, landscape)
        return {"x": x}

    def field(self, t, state, landscape):
        x = state["x"]
        lr = self.optimizer._b(self.optimizer.lr)
        if self._corrected:
            return {"x": self.optimizer.field(t, state, landscape)["x"] + lr * self.optimizer.correction(x, landscape)}
        g, H = self._g(x, landscape), self._H(x, landscape)
        c, speed = (self.optimizer._b(v) for v in self.coefficient())
        return {"x": -speed * (g + 2 * c * lr * np.einsum("...ij,...j->...i", H, g))}

    def energy(self, t, state, landscape):
        if self._corrected:
            return None
        x = state["x"]
        g = self._g(x, landscape)
        c, _ = self.coefficient()
        return _coupled_value(self.optimizer, x, landscape) + c * np.asarray(self.optimizer.lr) * np.einsum(
            "...i,...i->...", g, g)


def third_derivative(landscape: Landscape, x, u) -> np.ndarray:
    """``∇³f(x)[u, u]`` (a vector) by a 4-point central difference of the exact Hessian along u.

    Error O(δ⁴) with δ = 1e-3·(1 + |x|)/|u| in the direction u; exact (zero) on quadratics.
    """
    norm = np.linalg.norm(u, axis=-1, keepdims=True)
    unit = np.divide(u, norm, out=np.zeros_like(u), where=norm > 0)
    delta = 1e-3 * (1 + np.linalg.norm(x, axis=-1, keepdims=True))
    hu = [np.einsum("...ij,...j->...i", landscape.hess(x + s * delta * unit), unit) for s in (-2, -1, 1, 2)]
    d = (hu[0] - 8 * hu[1] + 8 * hu[2] - hu[3]) / (12 * delta)
    return norm**2 * d


@dataclass(frozen=True)
class Modified2Flow(Flow):
    r"""GD's modified equation to second order (Hairer, Lubich & Wanner, ch. IX; theory §2.2)::

        ẋ = −g − (lr/2)·Hg − lr²·(H²g/3 + ∇³f[g, g]/12)

    GD stays O(lr³) from it. Beyond first order the field is not a gradient. ∇³f[g, g] comes from
    :func:`third_derivative` (differences of the exact Hessian).
    """

    kind: ClassVar[str] = "modified2"
    expected_order: ClassVar[float] = 3.0
    scaling: ClassVar[str] = "fixed"
    summary: ClassVar[str] = "second-order modified equation of GD"

    @classmethod
    def unsupported(cls, opt):
        if isinstance(opt, SGD) and np.all(opt.momentum == 0):
            return None
        return "the second-order modified flow is implemented for gd only"

    def field(self, t, state, landscape):
        x = state["x"]
        g, H = self._g(x, landscape), self._H(x, landscape)
        h = self.optimizer._b(self.optimizer.lr)
        Hg = np.einsum("...ij,...j->...i", H, g)
        HHg = np.einsum("...ij,...j->...i", H, Hg)
        return {"x": -g - h / 2 * Hg - h**2 * (HHg / 3 + third_derivative(landscape, x, g) / 12)}


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OscillatorFlow(Flow):
    r"""Heavy ball (or Nesterov) with ``1 − μ = γ·√lr``: the damped oscillator ``ẍ + γẋ + ∇f = 0``.

    Time per step ``√lr`` (Su, kexue.fm; Su, Boyd & Candès' clock), ``γ = (1 − μ)/√lr``, state
    ``(v, x)`` with ``v = ẋ``, ``v(0) = 0`` (the iterates' velocity ``(x_k − x_{k−1})/√lr`` is O(√lr)).
    Energy ``f + |v|²/2`` decreases at the rate ``γ|v|²``. To keep γ when lr is cut by r, set
    ``μ → 1 − (1 − μ)·√r`` (the ``sqrt`` scaling).
    """

    kind: ClassVar[str] = "oscillator"
    scaling: ClassVar[str] = "sqrt"
    summary: ClassVar[str] = "damped oscillator ẍ + γẋ + ∇f = 0, γ = (1 − μ)/√lr"
    energy_name: ClassVar[str] = "f + |ẋ|²/2"

    @classmethod
    def unsupported(cls, opt):
        if not isinstance(opt, SGD) or np.any(opt.momentum == 0):
            return "the oscillator model needs heavy ball or Nesterov (momentum > 0)"
        if np.any(opt.dampening != 0):
            return "the oscillator model needs dampening = 0"
        return None

    @property
    def friction(self) -> np.ndarray:
        opt = self.optimizer
        return (1 - np.asarray(opt.momentum)) / np.sqrt(np.asarray(opt.lr))

    @property
    def time_per_step(self):
        return np.sqrt(np.asarray(self.optimizer.lr))

    clock = "√lr"

    def state_names(self):
        return ("v", "x")

    def init(self, x0, landscape):
        x = self.optimizer._start(x0)
        return {"v": np.zeros_like(x), "x": x}

    def field(self, t, state, landscape):
        g = self._g(state["x"], landscape)
        return {"v": -self.optimizer._b(self.friction) * state["v"] - g, "x": state["v"]}

    def jacobian(self, t, state, landscape):
        x = state["x"]
        one = np.ones_like(x)
        return _assemble(("v", "x"), {("v", "v"): _diag(-self.optimizer._b(self.friction) * one),
                                      ("v", "x"): -self._H(x, landscape), ("x", "v"): _diag(one)}, x.shape)

    def energy(self, t, state, landscape):
        v = state["v"]
        return _coupled_value(self.optimizer, state["x"], landscape) + 0.5 * np.einsum("...i,...i->...", v, v)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HighResFlow(Flow):
    r"""High-resolution ODEs (Shi, Du, Jordan & Su, Math. Programming 2022), time per step √s, s = lr.

    With ``q = (1 − μ)/(1 + μ)`` (their ``√(μ_f·s)``, so ``2√μ_f = 2q/√s``), state ``(v, x)``, ``v = Ẋ``:

    * heavy ball: ``Ẍ + (2q/√s)Ẋ + (1 + q)∇f(X) = 0``;
    * torch's Nesterov (NAG-SC): the same plus the gradient correction ``√s·∇²f(X)Ẋ`` (Hessian
      damping); torch's iterate is NAG-SC's look-ahead point, which sits one step ahead, so the
      flow starts at ``t = −√s``;
    * NAG-C: ``Ẍ + (r/τ)Ẋ + √s·∇²f(X)Ẋ + (1 + r√s/(2τ))∇f(X) = 0`` on ``τ = t + (r/2 − 1)√s``, ``Ẋ = 0``
      at the start (needs r > 2).

    The two-step schemes start with ``Ẋ(0) = −(√s/2)∇f(x₀)`` (from ``x₁ = x₀ − s∇f(x₀)``). With these
    starts the iterates approach the ODEs at order 2 in √s, where the low-resolution ODEs give 1
    (checked numerically; the time origins and initial velocities are ours, derived by matching
    the schemes' Taylor expansions).
    """

    kind: ClassVar[str] = "highres"
    summary: ClassVar[str] = "Shi et al.'s high-resolution ODE, with the O(√lr) terms (Hessian damping for Nesterov)"
    expected_order: ClassVar[float] = 2.0
    clock: ClassVar[str] = "√lr"

    @classmethod
    def unsupported(cls, opt):
        if isinstance(opt, NagC):
            return None if np.all(opt.r > 2) else "NAG-C's high-resolution ODE needs r > 2"
        why = OscillatorFlow.unsupported(opt)
        return None if why is None else why.replace("the oscillator model needs", "the high-resolution ODEs need")

    @property
    def time_per_step(self):
        return np.sqrt(np.asarray(self.optimizer.lr))

    @property
    def scaling(self) -> str:
        return "fixed" if isinstance(self.optimizer, NagC) else "sqrt"  # NAG-C has no β to scale

    @property
    def start_time(self) -> float:
        opt = self.optimizer
        return -float(np.max(np.sqrt(opt.lr))) if getattr(opt, "nesterov", False) else 0.0

    def state_names(self):
        return ("v", "x")

    def init(self, x0, landscape):
        x = self.optimizer._start(x0)
        if isinstance(self.optimizer, NagC):
            return {"v": np.zeros_like(x), "x": x}
        return {"v": -self.optimizer._b(self.time_per_step) / 2 * self._g(x, landscape), "x": x}

    def field(self, t, state, landscape):
        opt = self.optimizer
        x, v = state["x"], state["v"]
        g = self._g(x, landscape)
        rs = opt._b(self.time_per_step)
        if isinstance(opt, NagC):
            r = opt._b(opt.r)
            tau = opt._b(t) + (r / 2 - 1) * rs
            Hv = np.einsum("...ij,...j->...i", self._H(x, landscape), v)
            return {"v": -(r / tau) * v - rs * Hv - (1 + r * rs / (2 * tau)) * g, "x": v}
        q = opt._b((1 - np.asarray(opt.momentum)) / (1 + np.asarray(opt.momentum)))
        dv = -(2 * q / rs) * v - (1 + q) * g
        if opt.nesterov:
            dv = dv - rs * np.einsum("...ij,...j->...i", self._H(x, landscape), v)
        return {"v": dv, "x": v}


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmaFlow(Flow):
    r"""Adam with ``1 − β₁ = a·lr``, ``1 − β₂ = b·lr``: Barakat & Bianchi's ODE (SIAM J. Optim. 2021)::

        ṁ = a(g − m),   v̇ = b(g² − v),   ẋ = −(m/(1 − e^{−at})) / (√(v/(1 − e^{−bt})) + ε)

    the lr → 0 limit of the exact lift, since ``(1 − a·lr)^{t/lr} → e^{−at}``. At t = 0 the bias-
    corrected moments take their limits g and g². AdamW adds ``−λx``. Time per step lr.
    """

    kind: ClassVar[str] = "ema"
    scaling: ClassVar[str] = "linear"
    summary: ClassVar[str] = "Barakat–Bianchi ODE: moments as EMAs at rates (1 − βᵢ)/lr, bias factors 1 − e^(−rate·t)"

    @classmethod
    def unsupported(cls, opt):
        if not isinstance(opt, Adam):
            return "the ema model is Adam's (RMSprop's exact lift already is its 1 − α ∝ lr model)"
        return "the ema model does not cover amsgrad" if opt.amsgrad else None

    def state_names(self):
        return ("m", "v", "x")

    def init(self, x0, landscape):
        x = self.optimizer._start(x0)
        return {"m": np.zeros_like(x), "v": np.zeros_like(x), "x": x}

    def rates(self):
        opt = self.optimizer
        return tuple((1 - np.asarray(b)) / np.asarray(opt.lr) for b in opt.betas)

    def field(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        g = opt._gradient(x, landscape)
        a, b = (opt._b(r) for r in self.rates())
        tt = opt._b(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            mhat = np.where(tt > 0, state["m"] / -np.expm1(-a * tt), g)
            vhat = np.where(tt > 0, state["v"] / -np.expm1(-b * tt), g * g)
        dx = -mhat / (np.sqrt(np.maximum(vhat, 0)) + opt._b(opt.eps))
        if opt._decoupled:
            dx = dx - opt._b(opt.weight_decay) * x
        return {"m": a * (g - state["m"]), "v": b * (g * g - state["v"]), "x": dx}


# ------------------------------------------------------------------------------------------------
FLOWS: dict[str, type[Flow]] = {cls.kind: cls for cls in (ExactFlow, LimitFlow, ModifiedFlow, Modified2Flow,
                                                          OscillatorFlow, HighResFlow, EmaFlow)}


def energy_along(traj) -> tuple[np.ndarray | None, str]:
    """The Lyapunov energy of an integrated flow at its samples, ``(T, *batch)``, and its name.

    ``(None, "")`` when the flow has no known energy or the record holds no state (iterates).
    """
    if traj.kind != "flow" or traj.state is None:
        return None, ""
    if is_game(traj.landscape):  # a game's field is no gradient: f (½|ξ|²) is no Lyapunov function
        return None, ""
    model = flow(traj.optimizer, traj.flow or None)
    t = np.asarray(traj.t)
    t = t.reshape(t.shape + (1,) * (traj.x.ndim - 1 - t.ndim))  # (T,) -> (T, 1, ...) against the batch
    with np.errstate(all="ignore"):
        E = model.energy(np.broadcast_to(t, traj.x.shape[:-1]), traj.state, traj.landscape)
    return (None, "") if E is None else (E, model.energy_name)


def available_flows(opt: Optimizer) -> list[str]:
    """The kinds of continuous model that exist for ``opt``."""
    return [kind for kind, cls in FLOWS.items() if cls.unsupported(opt) is None]


def flow(opt: Optimizer, kind: str | Flow | None = None) -> Flow:
    """The continuous model ``kind`` of ``opt`` (default: the optimizer's own, ``exact`` for torch's).

    Unknown kinds suggest the valid ones; a kind the optimizer does not have says why and lists
    the ones it has.
    """
    if isinstance(kind, Flow):
        if kind.optimizer is not opt and kind.optimizer.spec != opt.spec:
            raise ValueError(f"the flow given is a model of {kind.optimizer.label}, not of {opt.label}")
        return kind
    cls = lookup("flow", kind or opt.default_flow, FLOWS)
    why = cls.unsupported(opt)
    if not why and opt.transformed and cls is not ExactFlow:
        raise ValueError(f"{cls.kind} flow: it is derived for the plain gradient, and {opt.label} clips or "
                         f"scales it; the exact lift carries the transforms (ẋ = −clip(∇f), ẋ = −P∇f); use flow 'exact'")
    exact_missing = ExactFlow.unsupported(opt)
    if not why and (opt.schedule is not None or opt.transformed) and cls is not ExactFlow and exact_missing:
        raise ValueError(f"{cls.kind} flow: it assumes a constant lr and the plain gradient, and {opt.display_name} "
                         f"has no exact lift that could carry a schedule or transforms ({exact_missing})")
    if not why and opt.schedule is not None and cls is not ExactFlow:
        why = (f"it assumes a constant lr, and {opt.display_name} runs the schedule {opt.schedule.spec}; the exact "
               f"lift follows the schedule (its buffers relax at (1 − β)/lr(t))")
        raise ValueError(f"{cls.kind} flow: {why}; use flow 'exact'")
    if why:
        raise ValueError(f"{cls.kind} flow: {why}; {opt.display_name} has: {', '.join(available_flows(opt))}")
    return cls(opt)


def rescale(opt: Optimizer, lr, scaling: str, reference_lr=None) -> Optimizer:
    """``opt`` at learning rate ``lr``, its hyperparameters moved so that a model stays fixed.

    Each hyperparameter's declared ladder (:class:`simulate.optimizers.hyper.Ladder`) says how:
    ``fixed``: only lr changes. ``linear``: every EMA coefficient β keeps ``(1 − β)/lr`` (SGD's
    momentum only where it is non-zero, dampening along with it), and Adagrad keeps
    ``lr²·initial_accumulator_value``, so the exact lift stays the same ODE. ``sqrt``: the
    coefficients declared for it keep ``(1 − β)/√lr`` (heavy ball's and Nesterov's momentum, which
    must then be > 0). ``reference_lr`` defaults to ``opt.lr``.
    """
    lookup("scaling", scaling, SCALINGS)
    ref = np.asarray(opt.lr if reference_lr is None else reference_lr, dtype=np.float64)
    ratio = np.asarray(lr, dtype=np.float64) / ref
    changes = {"lr": np.asarray(lr, dtype=np.float64)}
    moving = {f: h for f, h in opt.hyperparameters().items() if h.ladder is not None and scaling in h.ladder.powers}
    if scaling == "sqrt" and (not moving or any(h.gate is not None and np.any(getattr(opt, h.gate) == 0)
                                                for h in moving.values())):
        raise ValueError(f"the sqrt scaling (1 − μ ∝ √lr) moves a momentum > 0 (heavy ball, Nesterov); "
                         f"{opt.display_name} has none declared for it")
    for f, h in moving.items():
        value = getattr(opt, f)
        moved = tuple(h.ladder.moved(v, ratio, scaling) for v in value) if h.pair else \
            h.ladder.moved(np.asarray(value), ratio, scaling)
        if h.gate is not None:  # only where the gate is on (momentum 0 stays plain GD)
            moved = np.where(np.asarray(getattr(opt, h.gate)) != 0, moved, value)
        changes[f] = moved
    try:
        return dataclasses.replace(opt, **{k: (v[()] if isinstance(v, np.ndarray) and v.ndim == 0 else v)
                                           for k, v in changes.items()})
    except ValueError as exc:
        raise ValueError(f"cannot rescale {opt.label} to lr={lr} under the {scaling} scaling: {exc}") from None
