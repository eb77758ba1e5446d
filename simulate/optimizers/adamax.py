"""torch.optim.Adamax."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.gradient import SignFlow
from .adam import power
from .base import Optimizer, _assemble, _diag
from .hyper import adam_betas_hyper, hyper, lr_hyper, weight_decay_hyper
from .kernels import lerp, select

__all__ = ['Adamax']


def adamax_update(x, g, m, u, lr, beta1, beta2, eps, weight_decay, c1):
    """torch.optim.Adamax's step k: returns ``(x, m, u)``; ``c1 = 1 − β₁ᵏ`` (computed by the caller)."""
    g = select(weight_decay != 0, g + weight_decay * x, g)
    m = lerp(m, g, 1 - beta1)
    u = np.maximum(u * beta2, np.abs(g) + eps)
    return x + (-(lr / c1)) * m / u, m, u


@dataclass(frozen=True)
class Adamax(Optimizer):
    r"""Adamax: ``torch.optim.Adamax`` (Kingma & Ba 2015, §7.1): Adam with an exponentially weighted
    infinity norm in place of √v.

    Update (torch), step k, ``g = ∇f(x) + λx``::

        m ← lerp(m, g, 1 − β₁);   u ← max(β₂·u, |g| + ε);   x ← x − (lr/(1 − β₁ᵏ))·m/u

    ε is added to |g| inside the max and u has no bias correction; in closed form
    ``u_k = max_{j≤k} β₂^(k−j)(|g_j| + ε)``.

    Exact lift, ``h = lr``, state (m, u, x), κ = t/lr + 1::

        ṁ = (1 − β₁)(g − m)/lr,   u̇ = max(−(1 − β₂)u, |g| + ε − u)/lr,   ẋ = −m/((1 − β₁^κ)·u)

    At t = 0 (m = u = 0) ẋ takes its limit along the flow, −g/(|g| + ε) (m/(1 − β₁^κ) and u both grow
    like t/lr). For fixed betas and lr → 0, u → |g| + ε and m → g: the coordinatewise sign flow
    ``ẋ = −g/(|g| + ε)`` (not a flow in the ℓ∞ norm of the vector; theory §10.1).
    """

    name: ClassVar[str] = "adamax"
    description: ClassVar[str] = "torch.optim.Adamax: Adam with an infinity-norm scale max(β₂u, |g| + ε)"

    lr: float = lr_hyper(2e-3)
    betas: tuple = adam_betas_hyper()
    eps: float = hyper(1e-8, "> 0", note="it keeps u > 0", slider=(1e-10, 1e-1, "log"))
    weight_decay: float = weight_decay_hyper()

    @classmethod
    def models(cls):
        return {**super().models(), "limit": SignFlow}

    def limit_speed(self):
        return 1.0

    def state_names(self):
        return ("m", "u", "x")

    def _correction(self, k):
        """``1 − β₁ᵏ`` of step k (an integer or an array of them; fractional in the flow)."""
        return (1 - power(self.betas[0], k, np.issubdtype(np.asarray(k).dtype, np.integer)),)

    def step(self, state, landscape, k):
        x = state["x"]
        x_new, m, u = adamax_update(x, landscape.grad(x), state["m"], state["u"], self._b(self.lr),
                                    *(self._b(b) for b in self.betas), self._b(self.eps), self._b(self.weight_decay),
                                    self._b(self._correction(k)[0]))
        return {"m": m, "u": u, "x": x_new}

    def _speed(self, t, state, g):
        """``(m/((1 − β₁^κ)u), 1/((1 − β₁^κ)u))``; at u = 0 (t = 0) the first is its limit g/(|g| + ε)."""
        c1 = self._b(self._correction(np.asarray(t) / np.asarray(self.lr) + 1)[0])
        u = state["u"]
        safe = np.where(u > 0, u, 1.0)
        return np.where(u > 0, state["m"] / (c1 * safe), g / (np.abs(g) + self._b(self.eps))), 1 / (c1 * safe)

    def field(self, t, state, landscape):
        x = state["x"]
        lr = self._b(self.lr)
        g = self._coupled_grad(x, landscape)
        b1, b2 = (self._b(b) for b in self.betas)
        u = state["u"]
        du = np.maximum(-(1 - b2) * u, np.abs(g) + self._b(self.eps) - u) / lr
        return {"m": (1 - b1) * (g - state["m"]) / lr, "u": du, "x": -self._speed(t, state, g)[0]}

    def jacobian(self, t, state, landscape):
        x = state["x"]
        lr = self._b(self.lr)
        g = self._coupled_grad(x, landscape)
        H = self._coupled_hess(x, landscape)
        b1, b2 = (self._b(b) for b in self.betas)
        u = state["u"]
        rising = (np.abs(g) + self._b(self.eps) - u > -(1 - b2) * u).astype(float)  # the max's active branch
        ratio, inv = self._speed(t, state, g)
        one = np.ones_like(x)
        blocks = {
            ("m", "m"): _diag(-(1 - b1) / lr * one),
            ("m", "x"): ((1 - b1) / lr)[..., None] * H,
            ("u", "u"): _diag((-rising - (1 - rising) * (1 - b2)) / lr * one),
            ("u", "x"): (rising * np.sign(g) / lr)[..., :, None] * H,
            ("x", "m"): _diag(np.where(u > 0, -inv, 0.0)),
            ("x", "u"): _diag(np.where(u > 0, ratio / np.where(u > 0, u, 1.0), 0.0)),
        }
        return _assemble(("m", "u", "x"), blocks, x.shape)

    def kernel(self):
        """The elementwise update for the compiled engine: the function ``step`` calls, with
        ``1 − β₁ᵏ`` of every step as a table (``_correction``, the numpy step's own values)."""
        from .kernel import Kernel

        b1, b2 = self.betas
        return Kernel(adamax_update, ("m", "u"), ("lr", "beta1", "beta2", "eps", "weight_decay", "c1"),
                      hypers={"lr": self.lr, "beta1": b1, "beta2": b2, "eps": self.eps,
                              "weight_decay": self.weight_decay},
                      table_names=("c1",), tables=self._correction, per_member_tables=bool(np.ndim(b1)))
