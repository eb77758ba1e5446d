"""torch.optim.NAdam."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .adam import power
from .base import Optimizer, _assemble, _diag
from .hyper import adam_betas_hyper, hyper, lr_hyper, weight_decay_hyper
from .moments import AdamMoments
from .kernels import lerp, select

__all__ = ['NAdam']


def nadam_update(x, g, mu_product, m, v, lr, beta1, beta2, eps, weight_decay, mu, mu_next, c2, decoupled):
    """torch.optim.NAdam's step k: returns ``(x, mu_product, m, v)``. ``mu``, ``mu_next`` are μ_k,
    μ_{k+1} and ``c2 = 1 − β₂ᵏ`` (computed by the caller, as torch does in Python floats)."""
    if decoupled:
        x = select(weight_decay != 0, x * (1 - lr * weight_decay), x)
    else:
        g = select(weight_decay != 0, g + weight_decay * x, g)
    mu_product = mu_product * mu
    m = lerp(m, g, 1 - beta1)
    v = v * beta2 + (1 - beta2) * g * g
    denom = np.sqrt(v / c2) + eps
    x = x + (-lr * (1 - mu) / (1 - mu_product)) * g / denom
    x = x + (-lr * mu_next / (1 - mu_product * mu_next)) * m / denom
    return x, mu_product, m, v


@functools.lru_cache(maxsize=64)
def _products(beta1: float, psi: float, n: int) -> np.ndarray:
    """``Π_0 … Π_n`` (Π_0 = 1) for scalar β₁ and ψ, multiplied in order as torch's ``mu_product``."""
    k = np.arange(1, n + 1)
    mu = beta1 * (1.0 - 0.5 * power(0.96, k * psi, True))
    return np.concatenate(([1.0], np.cumprod(mu)))


@dataclass(frozen=True)
class NAdam(AdamMoments, Optimizer):
    r"""NAdam: ``torch.optim.NAdam`` (Dozat 2016): Adam with Nesterov momentum and a warming momentum.

    Update (torch), step k = 1, 2, …, ``g = ∇f(x) + λx`` (coupled), or first ``x ← x(1 − lr·λ)``
    with ``decoupled_weight_decay``::

        μ_k = β₁(1 − ½·0.96^(kψ)),   Π ← Π·μ_k                    (mu_product, Π₀ = 1)
        m ← lerp(m, g, 1 − β₁);   v ← β₂·v + (1 − β₂)·g²;   D = √(v/(1 − β₂ᵏ)) + ε
        x ← x − lr(1 − μ_k)/(1 − Π)·g/D − lr·μ_{k+1}/(1 − Π·μ_{k+1})·m/D

    μ starts at β₁·0.45 and reaches β₁ on ``1/(ψ ln(1/0.96)) ≈ 6100`` steps (ψ = 4e-3).

    Exact lift, ``h = lr``, state (m, v, x), coefficients read at κ = t/lr + 1::

        ṁ = (1 − β₁)(g − m)/lr,   v̇ = (1 − β₂)(g² − v)/lr,
        ẋ = −((1 − μ_κ)/(1 − Π_κ)·g + μ_{κ+1}/(1 − Π_κ·μ_{κ+1})·m)/(√(v/(1 − β₂^κ)) + ε)   (− λx decoupled)

    Π_κ is a function of the step, not a state of the lift: as a state (``Π̇ = Π(μ_κ − 1)/lr`` from
    Π = 1) the weight (1 − μ)/(1 − Π) would be ~lr/t at t → 0, a start the flow cannot leave. Between
    steps ``Π_κ = Π_⌊κ⌋·μ_{⌊κ⌋+1}^(κ − ⌊κ⌋)`` (exactly the running product at every step). The discrete
    state keeps torch's ``mu_product``. From v = 0 the lift starts with ``ẋ = −g/ε``, but only for a
    layer of about one step: the bias correction makes v/(1 − β₂^κ) ≈ g²·t/(t + lr).

    For fixed betas and ψ and lr → 0: μ_κ → β₁ and Π_κ → 0 within O(lr) time, m → g and v → g²,
    so the flow tends to Adam's sign flow ``ẋ = −g/(|g| + ε)`` (theory §10.1).
    """

    name: ClassVar[str] = "nadam"
    description: ClassVar[str] = "torch.optim.NAdam: Adam with Nesterov momentum and a warming momentum schedule"

    lr: float = lr_hyper(2e-3)
    betas: tuple = adam_betas_hyper()
    eps: float = hyper(1e-8, "> 0", note="it guards the division by √v", slider=(1e-10, 1e-1, "log"))
    weight_decay: float = weight_decay_hyper()
    momentum_decay: float = hyper(4e-3, ">= 0", note="μ_k = β₁(1 − ½·0.96^(k·momentum_decay))",
                                  slider=(0.0, 0.1))
    decoupled_weight_decay: bool = False

    def state_names(self):
        return ("mu_product", "m", "v", "x")

    def lift_state_names(self):
        return ("m", "v", "x")

    def init(self, x0):
        x = self._start(x0)
        return {"mu_product": np.ones_like(x), "m": np.zeros_like(x), "v": np.zeros_like(x), "x": x}

    def flow_init(self, x0, landscape):
        x = self._start(x0)
        return {"m": np.zeros_like(x), "v": np.zeros_like(x), "x": x}

    def _mu(self, k, at_step):
        """μ_k = β₁(1 − ½·0.96^(kψ)), as torch computes it at a step (Python floats)."""
        return self.betas[0] * (1.0 - 0.5 * power(0.96, k * self.momentum_decay, at_step))

    def _schedule(self, k):
        """``(μ_k, μ_{k+1}, 1 − β₂ᵏ)`` of step k (an integer or an array of them; fractional in the flow)."""
        at_step = np.issubdtype(np.asarray(k).dtype, np.integer)
        return self._mu(k, at_step), self._mu(k + 1, at_step), 1 - power(self.betas[1], k, at_step)

    def _product(self, kappa) -> np.ndarray:
        """Π_κ (batch shape): the running product through step ⌊κ⌋ times μ_{⌊κ⌋+1}^(κ − ⌊κ⌋)."""
        b1, psi = self.betas[0], self.momentum_decay
        shape = np.broadcast_shapes(np.shape(kappa), np.shape(b1), np.shape(psi))
        kap, B, P = (np.broadcast_to(np.asarray(a, dtype=np.float64), shape) for a in (kappa, b1, psi))
        out = np.empty(shape)
        for i in np.ndindex(shape):
            k0 = int(math.floor(kap[i]))
            table = _products(float(B[i]), float(P[i]), max(1024, 1 << (k0 + 1).bit_length()))
            frac = kap[i] - k0
            out[i] = table[k0] * (B[i] * (1.0 - 0.5 * 0.96 ** ((k0 + 1) * P[i]))) ** frac if frac else table[k0]
        return out

    def step(self, state, landscape, k):
        x = state["x"]
        mu, mu_next, c2 = (self._b(c) for c in self._schedule(k))
        x_new, pi, m, v = nadam_update(x, landscape.grad(x), state["mu_product"], state["m"], state["v"],
                                       self._b(self.lr), *(self._b(b) for b in self.betas), self._b(self.eps),
                                       self._b(self.weight_decay), mu, mu_next, c2, self._decoupled)
        return {"mu_product": pi, "m": m, "v": v, "x": x_new}

    def _weights(self, t):
        """The lift's ``(a, b, c2)``: ẋ = −(a·g + b·m)/(√(v/c2) + ε) at κ = t/lr + 1."""
        kappa = np.asarray(t) / np.asarray(self.lr) + 1
        mu, mu_next, c2 = self._schedule(kappa)
        pi = self._product(kappa)
        return (self._b(c) for c in ((1 - mu) / (1 - pi), mu_next / (1 - pi * mu_next), c2))

    def field(self, t, state, landscape):
        x = state["x"]
        g = landscape.grad(x) if self._decoupled else self._coupled_grad(x, landscape)
        a, b, c2 = self._weights(t)
        dx = -(a * g + b * state["m"]) / (np.sqrt(state["v"] / c2) + self._b(self.eps))
        return {**self._moment_fields(g, state), "x": self._decay_field(dx, x)}

    def jacobian(self, t, state, landscape):
        x = state["x"]
        g, H = self._moment_grad(x, landscape)
        a, b, c2 = self._weights(t)
        root = np.sqrt(np.maximum(state["v"] / c2, np.finfo(float).tiny))  # dD/dv is unbounded at v = 0
        D = np.sqrt(state["v"] / c2) + self._b(self.eps)
        blocks = {**self._moment_blocks(g, H),
                  ("x", "m"): _diag(-b / D * np.ones_like(x)),
                  ("x", "v"): _diag((a * g + b * state["m"]) / (D * D) / (2 * root * c2)),
                  ("x", "x"): -(a / D)[..., :, None] * H}
        if self._decoupled:
            blocks[("x", "x")] = blocks[("x", "x")] - _diag(self._b(self.weight_decay) * np.ones_like(x))
        return _assemble(("m", "v", "x"), blocks, x.shape)

    def kernel(self):
        """The elementwise update for the compiled engine: the function ``step`` calls, with μ_k,
        μ_{k+1} and 1 − β₂ᵏ of every step as tables (``_schedule``, the numpy step's own values);
        ``mu_product`` is carried per coordinate from 1."""
        from .kernel import Kernel

        b1, b2 = self.betas
        return Kernel(nadam_update, ("mu_product", "m", "v"),
                      ("lr", "beta1", "beta2", "eps", "weight_decay", "mu", "mu_next", "c2", "decoupled"),
                      hypers={"lr": self.lr, "beta1": b1, "beta2": b2, "eps": self.eps,
                              "weight_decay": self.weight_decay},
                      flags={"decoupled": self._decoupled}, table_names=("mu", "mu_next", "c2"),
                      tables=self._schedule, per_member_tables=bool(np.ndim(b1) or np.ndim(b2)
                                                                    or np.ndim(self.momentum_decay)),
                      start={"mu_product": np.ones(self.batch_shape)})
