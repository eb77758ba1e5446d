r"""Lion (Chen et al. 2023): the sign of a momentum mix, as lion-pytorch 0.2.5 computes it.

Three models: the exact lift (:class:`LionLift`), the β-fixed limit ``ẋ ∈ −Sign(∇f) − λx``
(:class:`LionLimitFlow`, a Filippov inclusion) and the Lion-𝒦 ODE with 𝒦 = ‖·‖₁
(:class:`LionKFlow`, Chen, Liu, Liang & Liu, ICLR 2024). All three switch discontinuously: they
write ``sign`` through :meth:`simulate.models.base.Flow.sign`, which a solver smooths to
``tanh(z/δ)`` (theory §10.5, §10.9).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.base import ExactFlow, Flow
from .base import Optimizer, _assemble, _diag
from .hyper import EMA, hyper, lr_hyper, weight_decay_hyper

__all__ = ["Lion", "LionLift", "LionLimitFlow", "LionKFlow", "lion_update"]


def lion_update(x, g, m, lr, beta1, beta2, decay):
    """lion-pytorch's step: returns ``(x, m)`` (decay λ: wd, or wd/lr₀ when decoupled)."""
    x = x * (1.0 - lr * decay)
    c = m * beta1 + g * (1.0 - beta1)
    x = x + np.sign(c) * -lr
    return x, m * beta2 + g * (1.0 - beta2)


@dataclass(frozen=True)
class Lion(Optimizer):
    r"""Lion: ``lion_pytorch.Lion`` (0.2.5), float64, in its operation order.

    Update, step k = 1, 2, …, ``g = ∇f(x)`` (the plain gradient: the decay is outside it)::

        x ← x·(1 − lr·λ)                     λ = wd, or wd/lr₀ with decoupled_weight_decay
        c = β₁·m + (1 − β₁)·g;   x ← x − lr·sign(c)          (sign(0) = 0)
        m ← β₂·m + (1 − β₂)·g                               (after x; m₀ = 0)

    ``lr₀`` is the lr the optimizer was made with (a schedule's base lr): with the flag the package
    divides wd by it, so that wd is the decay per step at lr₀.

    Exact lift, ``h = lr``, with m advanced first (theory §10.5). Since
    ``c = (β₁·m_new + (β₂ − β₁)·g)/β₂`` and β₂ > 0::

        ṁ = (1 − β₂)(g − m)/lr,     ẋ = −λx − sign(β₁·m + (β₂ − β₁)·g).

    The semi-implicit Euler step gives x − lr·λ·x − lr·sign(c): the package's step to rounding
    (``x·(1 − lr·λ)`` rounds once less). Box: for lr·λ ≤ 1, ``|xᵢ| ≤ 1/λ`` is kept by every step and
    the excess outside it contracts by ``1 − lr·λ`` (theory §10.5).
    """

    name: ClassVar[str] = "lion"
    description: ClassVar[str] = "Lion (lion-pytorch): the sign of a momentum mix, decoupled decay; Filippov flows"

    lr: float = lr_hyper(1e-4)
    # The pair moves together on the linear ladder (1 − βᵢ ∝ lr): the lift is then fixed up to
    # the O(lr) term (β₂ − β₁)·g inside the sign, and β₁ → 1 along the ladder.
    betas: tuple = hyper((0.9, 0.99), "[0, 1]", pair=True, names=("beta1", "beta2"), ladder=EMA,
                         slider=((0.0, 0.99), (0.9, 0.9999)))
    weight_decay: float = weight_decay_hyper()
    decoupled_weight_decay: bool = False

    #: the lift's decay is outside the gradient (like AdamW's): coupled_value is f itself
    _decoupled: ClassVar[bool] = True

    @classmethod
    def models(cls):
        return {"exact": LionLift, "limit": LionLimitFlow, "lionk": LionKFlow}

    def _validate(self):
        self._require("betas[1]", np.asarray(self.betas[1]) > 0,
                      "must be > 0 (the lift recovers the old momentum from the new one, m = (m⁺ − (1 − β₂)g)/β₂)")

    def state_names(self):
        return ("m", "x")

    # -- the decay ---------------------------------------------------------------------------
    @property
    def initial_lr(self) -> np.ndarray:
        """lr₀: the lr this optimizer was made with (a scheduled step keeps its run's base lr)."""
        return self.__dict__.get("_initial_lr", self.lr)

    def at_lr(self, lr):
        new = super().at_lr(lr)
        object.__setattr__(new, "_initial_lr", self.initial_lr)
        return new

    def decay(self) -> np.ndarray:
        """λ of the decay ``x·(1 − lr·λ)``: wd, or wd/lr₀ with ``decoupled_weight_decay`` (the
        package's ``wd /= init_lr``)."""
        wd = np.asarray(self.weight_decay)
        return wd / np.asarray(self.initial_lr) if self.decoupled_weight_decay else wd

    # -- the two views -------------------------------------------------------------------------
    def step(self, state, landscape, k):
        x, m = state["x"], state["m"]
        b1, b2 = (self._b(b) for b in self.betas)
        x, m = lion_update(x, landscape.grad(x), m, self._b(self.lr), b1, b2, self._b(self.decay()))
        return {"m": m, "x": x}

    def kernel(self):
        """The elementwise update for the compiled engine (a constant lr there, so λ is fixed)."""
        from .kernel import Kernel

        return Kernel(lion_update, ("m",), ("lr", "beta1", "beta2", "decay"),
                      hypers={"lr": self.lr, "beta1": self.betas[0], "beta2": self.betas[1], "decay": self.decay()})

    def lift(self, state, landscape, sign) -> dict:
        """The exact lift's field, with ``sign`` the switch (exact, or a model's smoothed one)."""
        x, m = state["x"], state["m"]
        g = landscape.grad(x)
        b1, b2 = (self._b(b) for b in self.betas)
        return {"m": (1 - b2) * (g - m) / self._b(self.lr),
                "x": -self._b(self.decay()) * x - sign(b1 * m + (b2 - b1) * g)}

    def field(self, t, state, landscape):
        return self.lift(state, landscape, np.sign)

    def jacobian(self, t, state, landscape):
        """Away from the switches (sign is locally constant there)."""
        x = state["x"]
        rate = (1 - self._b(self.betas[1])) / self._b(self.lr)
        one = np.ones_like(x)
        return _assemble(("m", "x"), {("m", "m"): _diag(-rate * one), ("m", "x"): rate[..., None] * landscape.hess(x),
                                      ("x", "x"): _diag(-self._b(self.decay()) * one)}, x.shape)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LionLift(ExactFlow):
    """Lion's exact lift (:meth:`Lion.lift`) as a Filippov system: smoothed, its sign is ``tanh(z/δ)``."""

    discontinuous: ClassVar[bool] = True

    def field(self, t, state, landscape):
        if not self.smoothing:
            return super().field(t, state, landscape)
        # The lift with the smoothed switch: the optimizer's lift at this step's lr, with the
        # transforms the exact lift carries.
        smoothed = copy.copy(self)
        object.__setattr__(smoothed, "optimizer", _Smoothed(self.optimizer, self.sign))
        return ExactFlow.field(smoothed, t, state, landscape)

    @property
    def has_jacobian(self):
        return not self.smoothing and super().has_jacobian  # the optimizer's omits the switch's 1/δ

    def jacobian(self, t, state, landscape):
        return None if self.smoothing else super().jacobian(t, state, landscape)


class _Smoothed:
    """An optimizer whose ``field`` is its lift with another switch (everything else its own)."""

    def __init__(self, opt, sign):
        self._opt, self._sign = opt, sign

    def __getattr__(self, name):
        return getattr(self._opt, name)

    def at_lr(self, lr):
        return _Smoothed(self._opt.at_lr(lr), self._sign)

    def field(self, t, state, landscape):
        return self._opt.lift(state, landscape, self._sign)


@dataclass(frozen=True)
class LionLimitFlow(Flow):
    r"""Betas fixed, lr → 0: ``ẋ ∈ −Sign(∇f) − λx`` (a Filippov inclusion; theory §10.5 [D]).

    m relaxes to g within 1/(1 − β₂) steps, so ``c → g``; from m = 0 the first mix
    ``(1 − β₁)g`` already has g's sign. Along it ``df/dt = −‖∇f‖₁ − λ∇f·x``: f is a Lyapunov
    function without decay. Time per step lr, betas fixed on the ladder.
    """

    kind: ClassVar[str] = "limit"
    discontinuous: ClassVar[bool] = True

    @property
    def energy_name(self):
        return "f" if np.all(self.optimizer.decay() == 0) else ""

    def caveat(self, landscape, x0, horizon):
        memory = self.ema_memory()
        return ("the betas are held fixed, and the mix β₁m + (1 − β₁)g has g's sign once m has caught up, "
                "after 1/(1 − β₂) steps (lr/((1 − β₂)·T) ≪ 1)", float(np.max(self.time_per_step)) * memory / float(horizon))

    def field(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        return {"x": -self.sign(landscape.grad(x)) - opt._b(opt.decay()) * x}

    def energy(self, t, state, landscape):
        return landscape.value(state["x"]) if self.energy_name else None


@dataclass(frozen=True)
class LionKFlow(Flow):
    r"""The Lion-𝒦 ODE with 𝒦 = ‖·‖₁: ``1 − β₂ = γ·lr``, β₁ fixed, lr → 0 (Chen, Liu, Liang & Liu,
    ICLR 2024; theory §10.5)::

        ṁ = γ(∇f − m),     ẋ = −sign(β₁·m + (1 − β₁)·∇f) − λx.

    Smoothed to width δ the switch is ``tanh(z/δ) = ∇𝒦_δ`` with ``𝒦_δ(z) = Σ δ·log cosh(zᵢ/δ)``: the
    smoothed flow is the Lion-𝒦 ODE of 𝒦_δ, whose Lyapunov function (their ``M = −m``, α = γ,
    ε = (1 − β₁)/γ, εγ = 1 − β₁ ≤ 1) is, for λ > 0 inside the box ``‖λx‖∞ < 1``::

        H = γ·f(x) + (γ/λ)·𝒦*(λx) + β₁/(1 + ελ)·(𝒦*(λx) + 𝒦(m) + λ·mᵀx),
        𝒦*_δ(y) = Σ δ(yᵢ·artanh yᵢ + ½·log(1 − yᵢ²))   (0 for δ = 0: the box's indicator).

    On the package's linear ladder both betas keep (1 − β)/lr, so β₁ moves towards 1 with it.
    """

    kind: ClassVar[str] = "lionk"
    scaling: ClassVar[str] = "linear"
    discontinuous: ClassVar[bool] = True

    @property
    def energy_name(self):
        return "H (Lion-𝒦 Lyapunov)" if np.all(self.optimizer.decay() > 0) else ""

    def state_names(self):
        return ("m", "x")

    def init(self, x0, landscape):
        x = self.optimizer._start(x0)
        return {"m": np.zeros_like(x), "x": x}

    def gamma(self) -> np.ndarray:
        opt = self.optimizer
        return (1 - np.asarray(opt.betas[1])) / np.asarray(opt.lr)

    def field(self, t, state, landscape):
        opt = self.optimizer
        x, m = state["x"], state["m"]
        g = landscape.grad(x)
        b1 = opt._b(opt.betas[0])
        return {"m": opt._b(self.gamma()) * (g - m), "x": -self.sign(b1 * m + (1 - b1) * g) - opt._b(opt.decay()) * x}

    def _K(self, z):
        d = self.smoothing
        a = np.abs(z)
        return np.sum(a if not d else a + d * (np.log1p(np.exp(-2 * a / d)) - np.log(2)), axis=-1)

    def _Kstar(self, y):
        d = self.smoothing
        with np.errstate(all="ignore"):
            inside = np.all(np.abs(y) < 1, axis=-1) if d else np.all(np.abs(y) <= 1, axis=-1)
            val = np.sum(d * (y * np.arctanh(y) + 0.5 * np.log1p(-y * y)), axis=-1) if d else np.zeros(y.shape[:-1])
        return np.where(inside, val, np.inf)

    def energy(self, t, state, landscape):
        if not self.energy_name:
            return None  # the Lyapunov function divides by λ
        opt = self.optimizer
        x, m = state["x"], state["m"]
        lam, b1, gamma = np.asarray(opt.decay()), np.asarray(opt.betas[0]), self.gamma()
        eps = (1 - b1) / gamma
        ks = self._Kstar(lam[..., None] * x)
        return (gamma * landscape.value(x) + gamma / lam * ks
                + b1 / (1 + eps * lam) * (ks + self._K(m) + lam * np.einsum("...i,...i->...", m, x)))
