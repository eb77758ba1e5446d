r"""What a continuous model is: the :class:`Flow` protocol, the kinds of model, and the exact lift.

An optimizer has several continuous models, one per way its hyperparameters behave as lr → 0
(theory §1.2). A :class:`Flow` is one of them for one optimizer: an initial state, a vector field,
optionally its Jacobian and a Lyapunov energy, a **time per step** h (iterate k is compared with the
flow at ``t = k·h``), and the **scaling** that holds the model fixed on a ladder of learning rates
(used by :func:`simulate.order` and :func:`simulate.models.rescale`).

Each optimizer declares its own models, in its own module (``Optimizer.models()``: kind → model
class); the kinds are named here, in :data:`KINDS`, with what each one means and what a missing
one is told. This module knows no concrete optimizer: it asks the optimizer through its protocol.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

# The optimizers import this module, never the reverse: a model reaches its optimizer only
# through the optimizer's protocol (simulate.optimizers.base.Optimizer), and its landscape through
# the landscape's (simulate.landscapes.base.Landscape); neither is imported here, so that naming
# the kinds (the command line's help) loads no landscape.
Optimizer = Any
Landscape = Any
State = dict  # component name -> array (..., d)

__all__ = ["SCALINGS", "Kind", "KINDS", "Flow", "ExactFlow", "SecondOrderFlow", "third_derivative"]

SCALINGS = {
    "fixed": "β fixed as lr → 0",
    "linear": "1 − β ∝ lr (the exact lift held fixed)",
    "sqrt": "1 − β ∝ √lr",
}


@dataclass(frozen=True)
class Kind:
    """A kind of continuous model: its name, what it is (help texts), and what an optimizer that
    does not declare it is told (``{opt}`` is the optimizer)."""

    kind: str
    summary: str
    missing: str

    def refusal(self, opt: Optimizer) -> str:
        return self.missing.format(opt=opt)


#: The kinds of model, in the order they are listed (:func:`simulate.models.available_flows`).
KINDS: dict[str, Kind] = {k.kind: k for k in (
    Kind("exact", "exact lift: one step is a semi-implicit Euler step of its field",
         "{opt.display_name} has no exact lift (its continuous model is the '{opt.default_flow}' flow)"),
    Kind("limit", "lr → 0 limit with β fixed", "no β-fixed limit is known for {opt.name}"),
    Kind("modified", "first-order modified equation (backward error analysis)",
         "no modified flow is implemented for {opt.display_name} "
         "(gd, momentum, nesterov, proximal and the game methods have one)"),
    Kind("modified2", "second-order modified equation of GD", "the second-order modified flow is implemented for gd only"),
    Kind("oscillator", "damped oscillator ẍ + γẋ + ∇f = 0, γ = (1 − μ)/√lr",
         "the oscillator model needs heavy ball or Nesterov (momentum > 0)"),
    Kind("highres", "Shi et al.'s high-resolution ODE, with the O(√lr) terms (Hessian damping for Nesterov)",
         "the high-resolution ODEs need heavy ball or Nesterov (momentum > 0)"),
    Kind("ema", "Barakat–Bianchi ODE: moments as EMAs at rates (1 − βᵢ)/lr, bias factors 1 − e^(−rate·t)",
         "the ema model is Adam's (RMSprop's exact lift already is its 1 − α ∝ lr model)"),
    Kind("lionk", "Lion-𝒦 ODE (Chen et al. 2024), 1 − β₂ = γ·lr, β₁ fixed: ṁ = γ(∇f − m), ẋ = −sign(β₁m + (1 − β₁)∇f) − λx",
         "the Lion-𝒦 ODE is Lion's"),
    Kind("penalty", "first order in ρ: the gradient flow of f + ρ‖∇f‖ (SAM) or f + ρ/2·‖∇f‖² (USAM)",
         "the gradient-norm penalty flow is SAM's and USAM's"),
    Kind("newton", "Newton flow ẋ = −∇²f⁻¹∇f: an idealization of quasi-Newton methods, not a derived limit",
         "the Newton flow is the idealization of lbfgs only"),
)}


@dataclass(frozen=True)
class Flow:
    """One continuous model of ``optimizer``; subclasses set the class attributes and the field."""

    optimizer: Optimizer
    #: the run's :class:`~simulate.optimizers.schedules.ScheduleClock` when the optimizer has a
    #: schedule (set by :meth:`for_steps`; only the exact lift takes one)
    schedule_clock: object = None
    #: δ > 0: the field's switches are smoothed to width δ (``sign(z) ≈ tanh(z/δ)``, see :meth:`sign`),
    #: how a discontinuous (Filippov) field is integrated; 0: the field as written
    smoothing: float = 0.0
    #: whether the field switches discontinuously (sign-type: signSGD's, Lion's, coordinate descent's
    #: flows): a Filippov system, which the solvers integrate smoothed (:attr:`smoothing`)
    discontinuous: ClassVar[bool] = False
    kind: ClassVar[str] = ""
    scaling: ClassVar[str] = "fixed"
    energy_name: ClassVar[str] = ""  # what :meth:`energy` is, for axis labels; "" when there is none
    #: the order in h at which the iterates approach this model (the figure's reference slope)
    expected_order: ClassVar[float] = 1.0
    #: why the iterates are not known to approach this model at all ("" for a derived limit): an
    #: idealization such as L-BFGS's Newton flow; an order ladder then measures, it tests nothing
    not_established: ClassVar[str] = ""

    @classmethod
    def unsupported(cls, opt: Optimizer) -> str | None:
        """Why this model does not exist for ``opt``'s hyperparameters (``None`` when it does)."""
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

    @property
    def has_jacobian(self) -> bool:
        """Whether :meth:`jacobian` is written (implicit solvers are then given it)."""
        return type(self).jacobian is not Flow.jacobian

    def energy(self, t, state: State, landscape: Landscape) -> np.ndarray | None:
        """A Lyapunov function, non-increasing along the flow; ``None`` where none is known."""
        return None

    def decrease_rate(self, state: State, landscape: Landscape) -> np.ndarray | None:
        """The predicted ``−df/dt`` at ``state`` where the model has an identity for it (steepest
        descent: ``‖∇f‖_*``), ``(...)``; ``None`` where it has none. The loss panel draws
        ``f(x₀) − ∫ rate dt`` against f along the flow."""
        return None

    @property
    def decrease_name(self) -> str:
        """What :meth:`decrease_rate` is, for labels (``‖∇f‖₁``)."""
        return "−df/dt"

    @property
    def is_gradient_flow(self) -> bool:
        """Whether this model is the gradient flow ``ẋ = −(∇f(x) + λx)`` itself (coupled weight
        decay λ), which a gradient-flow integrator may solve (:mod:`simulate.solvers.fastflow`)."""
        return False

    @property
    def time_per_step(self) -> np.ndarray:
        return np.asarray(self.optimizer.lr)

    @property
    def preferred_metric(self) -> str:
        """How :func:`simulate.order` measures the distance by default (see its ``metric``)."""
        return "max"

    def arrival(self, landscape: Landscape, x0):
        """Where this flow ends in finite time at a point where its field is singular (the
        target-value flow at a stationary point above its target), for the solver: ``(event, note)``,
        ``event(t, state)`` continuous and crossing zero just before that point, ``note`` what the
        member's message says. The member then rests where it arrived (its later samples repeat that
        point). None (the default): the flow has no such end."""
        return None

    def caveat(self, landscape: Landscape, x0, horizon: float) -> tuple[str, float] | None:
        """A known reason the iterates' observed order against this model falls short of
        :attr:`expected_order` on a ladder through this rung: ``(the reason, the small parameter it
        needs ≪ 1, at this rung)``; ``None`` when the model knows of none."""
        return None

    def ema_memory(self) -> float:
        """Steps the optimizer's moving averages remember, 1/(1 − β) for its largest active EMA
        coefficient β (those an order ladder moves); 0 without one."""
        opt = self.optimizer
        betas = [np.ravel(getattr(opt, f)) for f, h in opt.hyperparameters().items()
                 if h.ladder is not None and h.ladder.kind == "ema" and (h.gate is None or np.any(getattr(opt, h.gate) != 0))]
        beta = max((float(np.max(b)) for b in betas), default=0.0)
        return 1.0 / (1.0 - beta) if beta > 0 else 0.0

    @property
    def start_time(self) -> float:
        """Where the model's initial state sits on the iterates' clock (≤ 0; 0 for most models)."""
        return 0.0

    @property
    def summary(self) -> str:
        return KINDS[self.kind].summary if self.kind in KINDS else self.kind

    # -- switches (discontinuous fields) -------------------------------------------------------
    def sign(self, z) -> np.ndarray:
        """``sign(z)`` in a discontinuous field: exact, or ``tanh(z/δ)`` under :attr:`smoothing` δ.
        A model with switches writes its field with this and sets :attr:`discontinuous`."""
        delta = self.smoothing
        return np.tanh(np.asarray(z) / delta) if delta else np.sign(z)

    @property
    def regularization(self) -> str:
        """How :attr:`smoothing` smooths this model's switches, for the record's note and labels."""
        return "sign→tanh(·/δ)"

    def needs_smoothing(self, delta: float) -> bool:
        """Whether the solver integrates this model as a Filippov system, smoothed to width ``delta``
        (the solver's δ for this start): a discontinuous field always; a continuous one whose own
        switching layers are far narrower than δ (Adam's sign flow g/(|g| + ε) with ε ≪ δ) may say so
        too, since its plain solve is as stiff as a discontinuous one (∂field/∂g ~ 1/ε)."""
        return bool(self.discontinuous)

    @property
    def may_switch(self) -> bool:
        """Whether the solver asks :meth:`needs_smoothing` at all (it then evaluates the gradient at
        the start for δ): a discontinuous field, or a model that writes its own test."""
        return bool(self.discontinuous) or type(self).needs_smoothing is not Flow.needs_smoothing

    def smoothed(self, delta: float) -> Flow:
        """This model with its switches smoothed to width ``delta`` (0: exact)."""
        return dataclasses.replace(self, smoothing=float(delta))

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
        return self.optimizer.clock_formula

    @property
    def description(self) -> str:
        return f"{self.summary} (time per step {self.clock}; ladder scaling: {SCALINGS[self.scaling]})"

    def _g(self, x, landscape):
        return self.optimizer._coupled_grad(x, landscape)

    def _H(self, x, landscape):
        return self.optimizer._coupled_hess(x, landscape)

    def _f(self, x, landscape):
        return self.optimizer.coupled_value(x, landscape)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExactFlow(Flow):
    """The optimizer's exact lift (its ``field``): the discrete step is a semi-implicit Euler step of it.

    The lift's order, scaling and energy are the optimizer's to say (``lift_order``,
    ``lift_scaling``, ``lift_energy``); schedules and gradient transforms are carried here.
    """

    kind: ClassVar[str] = "exact"

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
        return float(self.optimizer.lift_order)

    @property
    def has_jacobian(self) -> bool:
        return self.optimizer.has_jacobian

    @property
    def scaling(self) -> str:
        return self.optimizer.lift_scaling

    @property
    def energy_name(self):
        return self.optimizer.lift_energy_name

    def state_names(self):
        return self.optimizer.lift_state_names()

    def init(self, x0, landscape):
        opt = self.optimizer
        return (opt if opt.schedule is None else opt.at_lr(opt.lrs(1)[0])).flow_init(x0, opt.seen(landscape))

    def field(self, t, state, landscape):
        opt = self.optimizer
        if opt.schedule is not None:
            opt, t = self._local(t)
        out = opt.field(t, state, opt.seen(landscape))  # the clipped gradient where the optimizer clips
        if opt.lr_scale is not None:  # a per-coordinate lr: the preconditioned flow ẋ = P·(…)
            out["x"] = np.asarray(opt.lr_scale) * out["x"]
        return out

    def jacobian(self, t, state, landscape):
        opt = self.optimizer
        if opt.schedule is not None:
            opt, t = self._local(t)
        J = opt.jacobian(t, state, opt.seen(landscape))
        if opt.lr_scale is not None:  # the x rows (last in the state) scaled like the field
            d = len(opt.lr_scale)
            J = np.array(J)
            J[..., -d:, :] *= np.asarray(opt.lr_scale)[:, None]
        return J

    def energy(self, t, state, landscape):
        if self.optimizer.schedule is not None or self.optimizer.transformed:
            return None  # the energies are for a constant lr and the plain gradient
        return self.optimizer.lift_energy(state, landscape)

    def arrival(self, landscape, x0):
        return self.optimizer.lift_arrival(landscape, x0)

    def caveat(self, landscape, x0, horizon):
        return self.optimizer.lift_caveat(landscape, x0, horizon)

    @property
    def is_gradient_flow(self) -> bool:
        return self.optimizer.lift_is_gradient_flow()

    @property
    def time_per_step(self):
        return np.asarray(self.optimizer.time_per_step)


@dataclass(frozen=True)
class SecondOrderFlow(Flow):
    """A second-order ODE for X written on ``(v, x)``, ``v = Ẋ``, on the clock ``h = √lr``, started
    at rest (the heavy-ball oscillator, the high-resolution ODEs, NAG-C's limit)."""

    clock: ClassVar[str] = "√lr"

    def state_names(self):
        return ("v", "x")

    def init(self, x0, landscape):
        x = self.optimizer._start(x0)
        return {"v": np.zeros_like(x), "x": x}

    @property
    def time_per_step(self):
        return np.sqrt(np.asarray(self.optimizer.lr))


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
