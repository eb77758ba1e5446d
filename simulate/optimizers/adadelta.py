"""torch.optim.Adadelta."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.gradient import ScaledGradientFlow
from .base import Optimizer
from .hyper import EMA, hyper, weight_decay_hyper
from .kernels import select

__all__ = ['Adadelta']


def adadelta_update(x, g, v, u, lr, rho, eps, weight_decay):
    """torch.optim.Adadelta's step: returns ``(x, v, u)``."""
    g = select(weight_decay != 0, g + weight_decay * x, g)
    v = v * rho + (1 - rho) * g * g
    delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
    u = u * rho + (1 - rho) * delta * delta
    return x + (-lr) * delta, v, u


@dataclass(frozen=True)
class Adadelta(Optimizer):
    r"""Adadelta: ``torch.optim.Adadelta`` (Zeiler 2012): steps in the units of x, from the ratio of
    two running averages.

    Update (torch), ``g = ∇f(x) + λx``, state v (``square_avg``), u (``acc_delta``), both from 0::

        v ← ρ·v + (1 − ρ)·g²;   Δ = √(u + ε)/√(v + ε)·g   (the old u);   u ← ρ·u + (1 − ρ)·Δ²;   x ← x − lr·Δ

    **The clock is the step, h = 1** (not lr·k). v, u and Δ do not involve lr at all: lr only scales
    how far x moves, and at the default lr = 1 there is no small parameter. Two regimes (theory §10.2):

    * transient, |g| ≫ √ε: sign-like steps that grow with the step count k, not with lr·k:
      ``|Δ_k|² ≈ ε(c_ρ + (1 − ρ)k)`` (c_ρ ≈ 11 at ρ = 0.9), while u relaxes towards g² only at the
      rate (1 − ρ)ε/(g² + ε) per step;
    * quasi-steady, u = v = g²: then Δ = g exactly, and Adadelta is GD with step lr, whose flow on the
      step clock is ``ẋ = −lr·(∇f + λx)`` (the ``limit`` model). Where g² ≪ ε (near a minimum) this
      holds from the first step (Δ = g(1 + O(g²/ε))).

    Exact lift on the step clock, state (v, u, x). x moves with the old u; inverting
    ``u_new = (ρ + q)·u_old + q·ε``, ``q = (1 − ρ)g²/(v + ε)``, writes its field in the new u::

        v̇ = (1 − ρ)(g² − v),   u̇ = (1 − ρ)((u + ε)g²/(v + ε) − u),
        ẋ = −lr·g·√((u + ρε)/((ρ + q)(v + ε)))

    An order ladder in lr does not shrink this clock: iterates and lift are compared step for step.

    **What a plot shows: the lift reaches the minimum while the iterates crawl.** One step is one
    semi-implicit Euler step of this field with h = 1, but h = 1 is far from small against the
    field's first time scale, (v + ε)/((1 − ρ)g²) (≈ 2·10⁻⁸ at the defaults on himmelblau from
    (0, 0), g = (−14, −22)). Along the lift u keeps pace with v from t = 0 (u̇/v̇ = (u + ε)/(v + ε)
    ≈ 1, so u ≈ v ≈ (1 − ρ)g²t), and its speed |ẋ| ≈ lr·|g|/√(ρ + q), q = (1 − ρ)g²/(v + ε), grows
    with v: about a quarter of |g| by t = 0.1. The iterates' first step sets
    v to (1 − ρ)g² ≫ ε in one jump and leaves u ≈ ε, so they are in the slow transient above: the
    first step moves each coordinate √(ε/(1 − ρ)) ≈ 3·10⁻³ and the steps grow only as u gains
    about (1 − ρ)ε per step. On himmelblau from (0, 0) (``simulate plot -o adadelta``) the lift is
    at f = 2.5·10⁻⁵ by t = 0.5 and at the minimum (3, 2) by t = 1, while the iterates are at
    f = 141 after 100 steps, 3.2 after 300 and 0.011 after 1000. The lift is exact for one step,
    not a model of the run; the ``limit`` model has the same caveat (:class:`AdadeltaLimitFlow`).
    """

    name: ClassVar[str] = "adadelta"
    description: ClassVar[str] = "torch.optim.Adadelta: steps √(u+ε)/√(v+ε)·g in x's units; its clock is the step"

    lr: float = hyper(1.0, "> 0", note="it scales every step", slider=(1e-3, 10.0, "log"))
    rho: float = hyper(0.9, "[0, 1]", ladder=EMA, slider=(0.5, 0.999))
    eps: float = hyper(1e-6, "> 0", note="it sets the size of the first steps, √ε", slider=(1e-10, 1e-1, "log"))
    weight_decay: float = weight_decay_hyper()

    clock_formula: ClassVar[str] = "1 (one step)"
    lift_scaling: ClassVar[str] = "fixed"

    @classmethod
    def models(cls):
        return {**super().models(), "limit": AdadeltaLimitFlow}

    @property
    def time_per_step(self):
        return np.ones(np.shape(self.lr))

    def limit_speed(self):
        """lr: GD with step lr, on the step clock."""
        return self.lr

    def state_names(self):
        return ("v", "u", "x")

    def step(self, state, landscape, k):
        x = state["x"]
        x_new, v, u = adadelta_update(x, landscape.grad(x), state["v"], state["u"], self._b(self.lr),
                                      self._b(self.rho), self._b(self.eps), self._b(self.weight_decay))
        return {"v": v, "u": u, "x": x_new}

    def field(self, t, state, landscape):
        g = self._coupled_grad(state["x"], landscape)
        rho, eps = self._b(self.rho), self._b(self.eps)
        v, u = state["v"], state["u"]
        q = (1 - rho) * g * g / (v + eps)
        with np.errstate(invalid="ignore", divide="ignore"):  # ρ + q = 0 only where ρ = 0 and g = 0
            dx = np.where(g != 0, -self._b(self.lr) * g * np.sqrt((u + rho * eps) / ((rho + q) * (v + eps))), 0.0)
        return {"v": (1 - rho) * (g * g - v), "u": (1 - rho) * ((u + eps) * g * g / (v + eps) - u), "x": dx}

    def lift_caveat(self, landscape, x0, horizon):
        # the lift's first time scale (v + ε)/((1 − ρ)g²) against its clock h = 1: v jumps in one step
        g2 = float(np.max(self._coupled_grad(np.asarray(x0, np.float64), landscape) ** 2))
        eps, rho = float(np.min(self.eps)), float(np.max(self.rho))
        return ("its clock h = 1 is long against the lift's first time scale (ε + v)/((1 − ρ)g²): the lift "
                "runs to the minimum while the iterates crawl in a sign-like transient", (1 - rho) * g2 / eps)

    def kernel(self):
        """The elementwise update for the compiled engine: the function ``step`` calls."""
        from .kernel import Kernel

        return Kernel(adadelta_update, ("v", "u"), ("lr", "rho", "eps", "weight_decay"),
                      hypers={"lr": self.lr, "rho": self.rho, "eps": self.eps, "weight_decay": self.weight_decay})


@dataclass(frozen=True)
class AdadeltaLimitFlow(ScaledGradientFlow):
    """Adadelta's quasi-steady model, GD's flow on the step clock: ``ẋ = −lr·(∇f + λx)``.

    It holds once u ≈ v ≈ g² (Δ = g): where g² ≪ ε from the start, elsewhere only after the
    sign-like transient of about g²/((1 − ρ)ε) steps (10⁷ at |g| = 1 and the defaults)."""

    def caveat(self, landscape, x0, horizon):
        opt = self.optimizer
        g2 = float(np.max(self._g(np.asarray(x0, np.float64), landscape) ** 2))
        eps, rho = float(np.min(opt.eps)), float(np.max(opt.rho))
        steps = float(horizon) / float(np.max(self.time_per_step))
        return ("Adadelta is GD with step lr only once u ≈ v ≈ g²: where g² ≪ ε, or after the sign-like transient "
                "of about g²/((1 − ρ)ε) steps, in which the iterates crawl (steps of about √(ε/(1 − ρ)) per "
                "coordinate at first, growing as u gains (1 − ρ)ε per step) while this flow runs to the minimum",
                g2 / (eps * (1 + (1 - rho) * steps)))
