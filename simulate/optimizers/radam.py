"""torch.optim.RAdam."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .adam import power
from .base import Optimizer, _assemble, _diag
from .hyper import adam_betas_hyper, hyper, lr_hyper, weight_decay_hyper
from .moments import AdamMoments
from .kernels import lerp, select

__all__ = ['RAdam']


def radam_update(x, g, m, v, lr, beta1, beta2, eps, weight_decay, c1, root_c2, rect, rectified, decoupled):
    """torch.optim.RAdam's step k: returns ``(x, m, v)``. ``c1 = 1 − β₁ᵏ``, ``root_c2 = (1 − β₂ᵏ)^½``,
    ``rect = r_k`` and ``rectified`` (1 where ρ_k > 5, else 0) are computed by the caller as torch
    does in Python floats."""
    if decoupled:
        x = select(weight_decay != 0, x * (1 - lr * weight_decay), x)
    else:
        g = select(weight_decay != 0, g + weight_decay * x, g)
    m = lerp(m, g, 1 - beta1)
    v = v * beta2 + (1 - beta2) * g * g
    mhat = m / c1
    adaptive = 1 / (np.sqrt(v) + eps) * root_c2  # torch: float / tensor is reciprocal(tensor) * float
    return select(rectified != 0, x - mhat * lr * adaptive * rect, x - mhat * lr), m, v


@dataclass(frozen=True)
class RAdam(AdamMoments, Optimizer):
    r"""RAdam: ``torch.optim.RAdam`` (Liu et al., ICLR 2020): Adam whose adaptive step is switched on
    and rectified by the length of the approximated simple moving average.

    Update (torch), step k, ``g = ∇f(x) + λx`` (coupled) or first ``x ← x(1 − lr·λ)`` (decoupled)::

        m ← lerp(m, g, 1 − β₁);   v ← β₂·v + (1 − β₂)·g²;   m̂ = m/(1 − β₁ᵏ)
        ρ∞ = 2/(1 − β₂) − 1;   ρ_k = ρ∞ − 2k·β₂ᵏ/(1 − β₂ᵏ)
        ρ_k > 5:  x ← x − lr·m̂·r_k·√(1 − β₂ᵏ)/(√v + ε),   r_k = √((ρ_k − 4)(ρ_k − 2)ρ∞/((ρ∞ − 4)(ρ∞ − 2)ρ_k))
        else:     x ← x − lr·m̂                        (momentum SGD: steps 1–5 at β₂ = 0.999)

    ε sits on the uncorrected √v. Exact lift, ``h = lr``, state (m, v, x), κ = t/lr + 1::

        ṁ = (1 − β₁)(g − m)/lr,   v̇ = (1 − β₂)(g² − v)/lr,   ẋ = −m/(1 − β₁^κ)·R_κ(v)   (− λx decoupled)
        R_κ = r_κ·√(1 − β₂^κ)/(√v + ε) where ρ_κ > 5, else 1.

    The switch at ρ_κ = 5 is a jump of the field in time (between steps 5 and 6 at β₂ = 0.999).
    For fixed betas and lr → 0 the warm-up (about 1/(1 − β₂) steps) takes O(lr) time, r_κ → 1,
    m → g, v → g²: the flow tends to Adam's sign flow ``ẋ = −g/(|g| + ε)`` (theory §10.1).
    """

    name: ClassVar[str] = "radam"
    description: ClassVar[str] = "torch.optim.RAdam: Adam with its adaptive step rectified (momentum SGD at first)"

    lr: float = lr_hyper(1e-3)
    betas: tuple = adam_betas_hyper()
    eps: float = hyper(1e-8, "> 0", note="it guards the division by √v", slider=(1e-10, 1e-1, "log"))
    weight_decay: float = weight_decay_hyper()
    decoupled_weight_decay: bool = False

    def state_names(self):
        return ("m", "v", "x")

    def _schedule(self, k):
        """``(1 − β₁ᵏ, (1 − β₂ᵏ)^½, r_k, 1.0 where ρ_k > 5 else 0.0)`` of step k (an integer, an
        array of them, or fractional in the flow); r_k is 1 where it is not used."""
        b1, b2 = self.betas
        at_step = np.issubdtype(np.asarray(k).dtype, np.integer)
        c2 = 1 - power(b2, k, at_step)
        rho_inf = 2 / (1 - b2) - 1
        with np.errstate(invalid="ignore", divide="ignore"):  # k = 0: the unused row of a kernel's table
            rho = rho_inf - 2 * k * power(b2, k, at_step) / c2
            rectified = rho > 5.0
            ratio = np.where(rectified, (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho), 1.0)
        return 1 - power(b1, k, at_step), power(c2, 0.5, at_step), power(ratio, 0.5, at_step), rectified * 1.0

    def step(self, state, landscape, k):
        x = state["x"]
        tables = (self._b(c) for c in self._schedule(k))
        x_new, m, v = radam_update(x, landscape.grad(x), state["m"], state["v"], self._b(self.lr),
                                   *(self._b(b) for b in self.betas), self._b(self.eps), self._b(self.weight_decay),
                                   *tables, self._decoupled)
        return {"m": m, "v": v, "x": x_new}

    def _scale(self, t, v):
        """``(1/(1 − β₁^κ), R_κ(v), rectified)`` at κ = t/lr + 1."""
        c1, root_c2, rect, rectified = (self._b(c) for c in self._schedule(np.asarray(t) / np.asarray(self.lr) + 1))
        D = np.sqrt(v) + self._b(self.eps)
        return 1 / c1, np.where(rectified != 0, rect * root_c2 / D, 1.0), rectified * rect * root_c2

    def field(self, t, state, landscape):
        x = state["x"]
        g = landscape.grad(x) if self._decoupled else self._coupled_grad(x, landscape)
        inv_c1, R, _ = self._scale(t, state["v"])
        return {**self._moment_fields(g, state), "x": self._decay_field(-state["m"] * inv_c1 * R, x)}

    def jacobian(self, t, state, landscape):
        x = state["x"]
        g, H = self._moment_grad(x, landscape)
        inv_c1, R, gain = self._scale(t, state["v"])
        root = np.sqrt(np.maximum(state["v"], np.finfo(float).tiny))  # dR/dv is unbounded at v = 0
        D = np.sqrt(state["v"]) + self._b(self.eps)
        blocks = {**self._moment_blocks(g, H),
                  ("x", "m"): _diag(-inv_c1 * R * np.ones_like(x)),
                  ("x", "v"): _diag(state["m"] * inv_c1 * gain / (D * D) / (2 * root))}
        if self._decoupled:
            blocks[("x", "x")] = _diag(-self._b(self.weight_decay) * np.ones_like(x))
        return _assemble(("m", "v", "x"), blocks, x.shape)

    def kernel(self):
        """The elementwise update for the compiled engine: the function ``step`` calls, with the
        corrections, r_k and the switch of every step as tables (``_schedule``, the numpy step's own)."""
        from .kernel import Kernel

        b1, b2 = self.betas
        return Kernel(radam_update, ("m", "v"),
                      ("lr", "beta1", "beta2", "eps", "weight_decay", "c1", "root_c2", "rect", "rectified",
                       "decoupled"),
                      hypers={"lr": self.lr, "beta1": b1, "beta2": b2, "eps": self.eps,
                              "weight_decay": self.weight_decay},
                      flags={"decoupled": self._decoupled}, table_names=("c1", "root_c2", "rect", "rectified"),
                      tables=self._schedule, per_member_tables=bool(np.ndim(b1) or np.ndim(b2)))
