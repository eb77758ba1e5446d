"""torch.optim.ASGD: averaged SGD (single-tensor path)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.base import Flow
from .base import Optimizer
from .hyper import Ladder, hyper, lr_hyper, weight_decay_hyper

__all__ = ["ASGD"]


@dataclass(frozen=True)
class ASGD(Optimizer):
    r"""Averaged SGD: ``torch.optim.ASGD`` (Polyak & Juditsky 1992), torch's single-tensor update.

    Update (torch), step k, ``g = ∇f(x) + wd·x`` (from x before the decay)::

        x  ← x·(1 − λ·η);   x ← x − η·g
        ax ← x  if μ = 1  else  ax + μ·(x − ax)          (the averaged iterate)
        η  ← lr/(1 + λ·lr·k)^α;   μ ← 1/max(1, k − t0)

    with η = lr and μ = 1, ax = 0 before step 1. ``lambd`` λ is an extra L2 decay. η and μ depend
    on the step alone (η on the lr of the step that sets it), and are kept per coordinate.
    With torch's defaults (λ·lr = 1e-6, t0 = 1e6) ASGD is SGD with decay 1e-4 and ax = x.

    State, in update order: ``x``, ``ax``, ``eta``, ``mu`` (ax is a passive output advanced after
    x, read by users as the averaged iterate: ``init``/``step`` return it, and an integrated lift
    keeps it in its record's ``state["ax"]``).

    Exact lift, ``h = lr`` (theory §10.2), ``k = t/h + 1``::

        ẋ  = −(η/h)·(∇f + (λ + wd)·x)    (evaluated as x(1 − λη) − η·g, torch's order)
        ȧx = (μ/h)·(x − ax)
        η̇  = (lr/(1 + λ·lr·k)^α − η)/h,   μ̇ = (1/max(1, k − t0) − μ)/h

    The η and μ equations are the schedule, written so that one Euler step sets them to the next
    step's values. Limit lr → 0 (λ, α, t0 fixed): ``ẋ = −(∇f + (λ + wd)x)/(1 + λt)^α``
    (:class:`ASGDLimitFlow`).
    """

    name: ClassVar[str] = "asgd"
    description: ClassVar[str] = "torch.optim.ASGD: SGD with a decaying step and a Polyak–Ruppert averaged iterate ax"

    lr: float = lr_hyper(1e-2)
    lambd: float = hyper(1e-4, ">= 0", note="the decay of the step size and the extra L2 term", slider=(0.0, 1.0))
    alpha: float = hyper(0.75, ">= 0", note="the power of the step-size decay", slider=(0.0, 1.0))
    # the averaging starts at the time t0·lr: the linear ladder keeps it (the exact lift's μ/h then has a limit)
    t0: float = hyper(1e6, ">= 0", note="the step after which averaging starts", slider=(0.0, 1000.0),
                      ladder=Ladder("scale", {"linear": -1.0}))
    weight_decay: float = weight_decay_hyper()

    @classmethod
    def models(cls):
        return {**super().models(), "limit": ASGDLimitFlow}

    def state_names(self):
        return ("x", "ax", "eta", "mu")

    def init(self, x0):
        x = self._start(x0)
        one = np.ones_like(x)
        return {"x": x, "ax": np.zeros_like(x), "eta": self._b(self.lr) * one, "mu": one}

    def _schedule(self, k):
        """η and μ that step k sets (for step k + 1)."""
        lr = self._b(self.lr)
        eta = lr / (1 + self._b(self.lambd) * lr * k) ** self._b(self.alpha)
        mu = 1 / np.maximum(1.0, k - self._b(self.t0))
        return eta, mu

    def _moved(self, x, eta, landscape):
        g = self._coupled_grad(x, landscape)
        return x * (1 - self._b(self.lambd) * eta) - eta * g

    def step(self, state, landscape, k):
        x = self._moved(state["x"], state["eta"], landscape)
        mu = state["mu"]
        ax = np.where(mu != 1, state["ax"] + (x - state["ax"]) * mu, x)
        eta, mu_new = self._schedule(k)
        shape = x.shape
        return {"x": x, "ax": ax, "eta": np.broadcast_to(eta, shape).copy(), "mu": np.broadcast_to(mu_new, shape).copy()}

    def field(self, t, state, landscape):
        h = self._b(self.time_per_step)
        k = self._b(t) / h + 1
        x = state["x"]
        eta, mu = self._schedule(k)
        return {"x": (self._moved(x, state["eta"], landscape) - x) / h,
                "ax": state["mu"] * (x - state["ax"]) / h,
                "eta": (eta - state["eta"]) / h,
                "mu": (mu - state["mu"]) / h}


@dataclass(frozen=True)
class ASGDLimitFlow(Flow):
    r"""ASGD's lr → 0 limit (λ, α, t0 fixed): ``ẋ = −(∇f + (λ + wd)·x)/(1 + λt)^α``, ``h = lr``.

    From ``η_k/h = 1/(1 + λ·t_k)^α`` at ``t_k = (k − 1)·lr``. It is the gradient flow of
    ``f + (λ + wd)/2·|x|²`` in the time ``τ = ((1 + λt)^(1−α) − 1)/(λ(1 − α))`` (``τ = t`` for λ = 0,
    ``log(1 + λt)/λ`` for α = 1): on a quadratic ``x − x* = e^(−(A + (λ + wd)I)τ)(x0 − x*)`` when
    λ + wd = 0. The iterates reach it at O(lr).
    """

    kind: ClassVar[str] = "limit"
    energy_name: ClassVar[str] = "f + (λ + wd)/2·|x|²"

    def _decay(self):
        opt = self.optimizer
        return opt._b(opt.lambd + opt.weight_decay)

    def field(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        g = landscape.grad(x) + self._decay() * x
        return {"x": -g / (1 + opt._b(opt.lambd) * opt._b(t)) ** opt._b(opt.alpha)}

    def jacobian(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        H = landscape.hess(x) + np.asarray(opt.lambd + opt.weight_decay)[..., None, None] * np.eye(x.shape[-1])
        speed = (1 + np.asarray(opt.lambd) * np.asarray(t)) ** np.asarray(opt.alpha)
        return -H / np.asarray(speed)[..., None, None]

    def energy(self, t, state, landscape):
        x = state["x"]
        return landscape.value(x) + 0.5 * np.asarray(self.optimizer.lambd + self.optimizer.weight_decay) * \
            np.einsum("...i,...i->...", x, x)
