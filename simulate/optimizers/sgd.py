"""torch.optim.SGD: gradient descent, heavy ball and Nesterov."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.base import Flow, SecondOrderFlow, third_derivative
from ..models.gradient import ModifiedGradientFlow, ScaledGradientFlow
from .hyper import EMA, Ladder, hyper, lr_hyper, weight_decay_hyper
from .base import Optimizer, _assemble, _diag
from .preset import Preset
from .kernels import sgd_update

__all__ = ['SGD', 'heavy_ball_critical_momentum']


def heavy_ball_critical_momentum(lr_lambda) -> np.ndarray:
    """Heavy ball's fastest β for a mode with step ``lr·λ``: ``(1 − √(lr·λ))²`` (Goh 2017)."""
    return (1 - np.sqrt(np.asarray(lr_lambda, dtype=np.float64))) ** 2


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

    lr: float = lr_hyper(1e-3)
    # 1 − μ and 1 − τ keep their ratio to lr on the linear ladder (the lift's buffer rate), and
    # 1 − μ to √lr on the sqrt ladder (the damped oscillator); only where there is momentum.
    momentum: float = hyper(0.0, "[0, 1)", ladder=Ladder("ema", {"linear": 1.0, "sqrt": 0.5}), gate="momentum",
                            slider=(0.0, 0.99))
    dampening: float = hyper(0.0, "[0, 1]", ladder=EMA, gate="momentum", slider=(0.0, 1.0))
    weight_decay: float = weight_decay_hyper()
    nesterov: bool = False

    @classmethod
    def presets(cls):
        return (
            Preset("gd", cls, "gradient descent: explicit Euler on the gradient flow (SGD, momentum 0)",
                   fixed={"momentum": 0.0}),
            Preset("momentum", cls, "heavy-ball momentum (SGD, momentum 0.9): a damped oscillator", {"momentum": 0.9},
                   fixed={"nesterov": False}),
            Preset("nesterov", cls, "Nesterov momentum (SGD, momentum 0.9, nesterov): look-ahead gradient",
                   {"momentum": 0.9}, fixed={"nesterov": True, "dampening": 0.0}),
            Preset("sgd", cls, cls.description),
        )

    @classmethod
    def models(cls):
        return {**super().models(), "limit": ScaledGradientFlow, "modified": MomentumModifiedFlow,
                "modified2": Modified2Flow, "oscillator": OscillatorFlow, "highres": HighResFlow}

    # -- what the models and analyses ask (simulate.optimizers.base) ---------------------------
    @property
    def lift_scaling(self):
        # Nesterov's lift (ẋ = −g − μb, no dampening allowed) cannot be held fixed by moving μ.
        return "fixed" if self.nesterov else "linear"

    def lift_is_gradient_flow(self):
        return bool(np.all(self.momentum == 0))

    def _energy_form(self) -> str:
        if np.any(self.momentum != 0):
            return "hb" if np.all(self.momentum != 0) and np.all(self._tau() < 1) else ""
        return "f"

    @property
    def lift_energy_name(self):
        return {"f": "f", "hb": "f + lr·|b|²/(2(1 − τ))"}[self._energy_form()] if self._energy_form() else ""

    def lift_energy(self, state, landscape):
        form = self._energy_form()
        if not form:
            return None
        f = self.coupled_value(state["x"], landscape)
        if form == "f":  # the gradient flow
            return f
        # heavy ball / Nesterov lift: Ė = −(1 − μ)/(1 − τ)·|b|² (HB) or ≤ 0 (Nesterov, τ = 0)
        scale = np.asarray(self.lr) / (2 * (1 - self._tau()))
        return f + scale * np.einsum("...i,...i->...", state["b"], state["b"])

    def limit_speed(self):
        """``(1 − τ)/(1 − μ)``: with β fixed the buffer relaxes to ``(1 − τ)·g/(1 − μ)``."""
        return (1 - self._tau()) / (1 - self.momentum)

    def modified_coefficients(self):
        """``(c, speed, lag)`` of the modified flow ``ẋ = −speed·∇(f + c·lr·|∇f|²)`` with μ fixed
        (Kovachki & Stuart 2021; theory §2.3): heavy ball ``c = (1 + μ)/(4(1 − μ)²)``, torch's
        Nesterov ``c = (1 − μ + 2μ²)/(4(1 − μ)²)`` (derived from the slow root of the step's
        companion matrix and checked to give order 2), GD ``c = 1/4`` (Barrett & Dherin 2021);
        ``speed = 1/(1 − μ)``; a zero buffer makes the iterates lag by μ/(1 − μ) steps
        (Nesterov μ²/(1 − μ))."""
        mu = np.asarray(self.momentum)
        top = (1 - mu + 2 * mu**2) if self.nesterov else (1 + mu)
        return top / (4 * (1 - mu) ** 2), 1 / (1 - mu), (mu**2 if self.nesterov else mu) / (1 - mu)

    def steepest_metric(self, state, k):
        """``P = 1``: GD's step −lr·g is the steepest-descent step of the Euclidean norm (theory
        §10.9). Not with momentum: its step −lr·b sums the gradients of earlier steps."""
        return None if np.any(self.momentum != 0) else (np.ones_like(state["x"]), None)

    def threshold_factor(self):
        # GD 2, heavy ball 2(1 + μ)/(1 − τ), torch's Nesterov (2 + 2μ)/(1 + 2μ) (theory §4)
        mu, tau = np.asarray(self.momentum), np.asarray(self._tau())
        if self.nesterov:
            return (2 + 2 * mu) / (1 + 2 * mu)
        with np.errstate(divide="ignore"):
            return np.where(mu == 0, 2.0, 2 * (1 + mu) / (1 - tau))

    def threshold_factor_formula(self):
        if self.nesterov:
            return "(2+2μ)/(1+2μ)"
        return "2" if np.all(self.momentum == 0) else ("2(1+μ)" if np.all(self.dampening == 0) else "2(1+μ)/(1−τ)")

    def sde_refusal(self):
        return None

    def diffusion(self, model):
        """Noise rides on g: ``√lr·Σ^{1/2}dW`` enters where g does (theory §7)."""
        lr = np.asarray(self.lr, dtype=np.float64)
        if model.kind != "exact":  # ẋ = −c·g with c = (1 − τ)/(1 − μ)
            return {"x": -np.sqrt(lr) * (1 - self._tau()) / (1 - np.asarray(self.momentum))}
        if "b" not in self.state_names():
            return {"x": -np.sqrt(lr)}
        if self.nesterov:
            return {"b": 1 / np.sqrt(lr), "x": -np.sqrt(lr)}
        return {"b": (1 - self._tau()) / np.sqrt(lr)}

    def gibbs_temperature(self, sigma):
        """The small-lr SDE ``dX = −(1 − τ)/(1 − μ)·∇f dt + √lr·σ(1 − τ)/(1 − μ) dW`` has invariant
        density ∝ exp(−f/T), T = lr·(1 − τ)·σ²/(2(1 − μ))."""
        with np.errstate(over="ignore"):
            return float(self.lr * (1 - self._tau()) * sigma**2 / (2 * (1 - self.momentum)))

    def critical_momentum(self, lr_lambda):
        return None if self.nesterov else heavy_ball_critical_momentum(lr_lambda)

    def _validate(self):
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

    def kernel(self):
        """The elementwise update for the compiled engine (:mod:`simulate.optimizers.kernel`): the
        function ``step`` calls, the buffer only where some member has momentum."""
        from .kernel import Kernel

        buffered = bool(np.any(self.momentum != 0))
        return Kernel(sgd_update, ("b",), ("first", "lr", "momentum", "dampening", "weight_decay", "nesterov", "buffered"),
                      hypers={"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                              "weight_decay": self.weight_decay},
                      flags={"nesterov": bool(self.nesterov), "buffered": buffered}, carried=("b",) if buffered else ())


# -- SGD's continuous models beyond the lift and the limit --------------------------------------
@dataclass(frozen=True)
class MomentumModifiedFlow(ModifiedGradientFlow):
    """GD's, heavy ball's and Nesterov's first-order modified flow (:meth:`SGD.modified_coefficients`)."""

    @classmethod
    def unsupported(cls, opt):
        return ("modified flows need dampening = 0 (they hold β fixed; so does --scaling fixed)"
                if np.any(opt.dampening != 0) else None)


@dataclass(frozen=True)
class Modified2Flow(Flow):
    r"""GD's modified equation to second order (Hairer, Lubich & Wanner, ch. IX; theory §2.2)::

        ẋ = −g − (lr/2)·Hg − lr²·(H²g/3 + ∇³f[g, g]/12)

    GD stays O(lr³) from it. Beyond first order the field is not a gradient. ∇³f[g, g] comes from
    :func:`~simulate.models.base.third_derivative` (differences of the exact Hessian).
    """

    kind: ClassVar[str] = "modified2"
    expected_order: ClassVar[float] = 3.0

    @classmethod
    def unsupported(cls, opt):
        return None if np.all(opt.momentum == 0) else "the second-order modified flow is implemented for gd only"

    def field(self, t, state, landscape):
        x = state["x"]
        g, H = self._g(x, landscape), self._H(x, landscape)
        h = self.optimizer._b(self.optimizer.lr)
        Hg = np.einsum("...ij,...j->...i", H, g)
        HHg = np.einsum("...ij,...j->...i", H, Hg)
        return {"x": -g - h / 2 * Hg - h**2 * (HHg / 3 + third_derivative(landscape, x, g) / 12)}


def _needs_momentum(opt, model: str) -> str | None:
    if np.any(opt.momentum == 0):
        return f"{model} heavy ball or Nesterov (momentum > 0)"
    if np.any(opt.dampening != 0):
        return f"{model} dampening = 0"
    return None


@dataclass(frozen=True)
class OscillatorFlow(SecondOrderFlow):
    r"""Heavy ball (or Nesterov) with ``1 − μ = γ·√lr``: the damped oscillator ``ẍ + γẋ + ∇f = 0``.

    Time per step ``√lr`` (Su, kexue.fm; Su, Boyd & Candès' clock), ``γ = (1 − μ)/√lr``, state
    ``(v, x)`` with ``v = ẋ``, ``v(0) = 0`` (the iterates' velocity ``(x_k − x_{k−1})/√lr`` is O(√lr)).
    Energy ``f + |v|²/2`` decreases at the rate ``γ|v|²``. To keep γ when lr is cut by r, set
    ``μ → 1 − (1 − μ)·√r`` (the ``sqrt`` scaling).
    """

    kind: ClassVar[str] = "oscillator"
    scaling: ClassVar[str] = "sqrt"
    energy_name: ClassVar[str] = "f + |ẋ|²/2"

    @classmethod
    def unsupported(cls, opt):
        return _needs_momentum(opt, "the oscillator model needs")

    @property
    def friction(self) -> np.ndarray:
        opt = self.optimizer
        return (1 - np.asarray(opt.momentum)) / np.sqrt(np.asarray(opt.lr))

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
        return self._f(state["x"], landscape) + 0.5 * np.einsum("...i,...i->...", v, v)


@dataclass(frozen=True)
class HighResFlow(SecondOrderFlow):
    r"""High-resolution ODEs of heavy ball and Nesterov (Shi, Du, Jordan & Su, Math. Programming
    2022), time per step √s, s = lr.

    With ``q = (1 − μ)/(1 + μ)`` (their ``√(μ_f·s)``, so ``2√μ_f = 2q/√s``), state ``(v, x)``, ``v = Ẋ``:

    * heavy ball: ``Ẍ + (2q/√s)Ẋ + (1 + q)∇f(X) = 0``;
    * torch's Nesterov (NAG-SC): the same plus the gradient correction ``√s·∇²f(X)Ẋ`` (Hessian
      damping); torch's iterate is NAG-SC's look-ahead point, which sits one step ahead, so the
      flow starts at ``t = −√s``.

    The two-step schemes start with ``Ẋ(0) = −(√s/2)∇f(x₀)`` (from ``x₁ = x₀ − s∇f(x₀)``). With these
    starts the iterates approach the ODEs at order 2 in √s, where the low-resolution ODEs give 1
    (checked numerically; the time origins and initial velocities are ours, derived by matching
    the schemes' Taylor expansions). NAG-C's is :class:`simulate.optimizers.nagc.NagCHighResFlow`.
    """

    kind: ClassVar[str] = "highres"
    scaling: ClassVar[str] = "sqrt"
    expected_order: ClassVar[float] = 2.0

    @classmethod
    def unsupported(cls, opt):
        return _needs_momentum(opt, "the high-resolution ODEs need")

    @property
    def start_time(self) -> float:
        opt = self.optimizer
        return -float(np.max(np.sqrt(opt.lr))) if opt.nesterov else 0.0

    def init(self, x0, landscape):
        x = self.optimizer._start(x0)
        return {"v": -self.optimizer._b(self.time_per_step) / 2 * self._g(x, landscape), "x": x}

    def field(self, t, state, landscape):
        opt = self.optimizer
        x, v = state["x"], state["v"]
        g = self._g(x, landscape)
        rs = opt._b(self.time_per_step)
        q = opt._b((1 - np.asarray(opt.momentum)) / (1 + np.asarray(opt.momentum)))
        dv = -(2 * q / rs) * v - (1 + q) * g
        if opt.nesterov:
            dv = dv - rs * np.einsum("...ij,...j->...i", self._H(x, landscape), v)
        return {"v": dv, "x": v}
