"""torch.optim.Adafactor, for vector parameters (its unfactored branch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.base import Flow
from .base import Optimizer
from .hyper import hyper, lr_hyper, weight_decay_hyper

__all__ = ["Adafactor"]

#: torch's ε1 when it is None: the machine epsilon of the parameters' dtype (float64 here)
EPS1 = float(np.finfo(np.float64).eps)


def _rms(z) -> np.ndarray:
    """‖z‖/√d over the coordinates, ``(..., d) -> (..., 1)``."""
    return np.linalg.norm(z, axis=-1, keepdims=True) / np.sqrt(z.shape[-1])


@dataclass(frozen=True)
class Adafactor(Optimizer):
    r"""Adafactor: ``torch.optim.Adafactor`` (Shazeer & Stern 2018) on a vector parameter, where
    torch keeps the full second moment v (the factored row/column statistics are for matrices).

    Update (torch), step k, ``g = ∇f(x)`` (weight decay λ is decoupled), RMS(z) = ‖z‖/√d::

        ρ_k = min(lr, 1/√k);   α_k = max(ε2, RMS(x))·ρ_k            (x before the decay)
        x ← x·(1 − lr·λ)
        v ← v + k^τ·(g² − v)                                          (v = g² at k = 1)
        U = g/√max(v, ε1²);   x ← x − α_k/max(1, RMS(U)/d)·U

    ``eps = (ε1, ε2)``: ε1 = None is torch's machine epsilon of the dtype (2.2e-16 in float64; a
    float32 run has 1.2e-7). ``beta2_decay`` τ ≤ 0, ``d`` ≥ 1 (torch's rules).

    Exact lift, ``h = lr`` (theory §10.2), ``k = t/h + 1``, components (v, x)::

        v̇ = (k^τ/h)·(g² − v)
        ẋ = −λx − max(ε2, RMS(x))·min(1, 1/(lr√k))·U/max(1, RMS(U)/d)

    Limit lr → 0 (τ > −1, d ≥ 1, derived): at fixed t the v-rate ``t^τ·h^(−1−τ)`` diverges (slowly,
    as ``h^(−0.2)`` for τ = −0.8), so v tracks g², U → sign(g), RMS(U) ≤ 1 and ``lr√k = √(lr·t) → 0``:
    the sign flow ``ẋ = −λx − max(ε2, RMS(x))·sign(∇f)`` whose speed is the parameters' own size
    (:class:`AdafactorSignFlow`, a discontinuous field).
    """

    name: ClassVar[str] = "adafactor"
    description: ClassVar[str] = "torch.optim.Adafactor (vector parameters): relative steps scaled by RMS(x) (sign-like flow)"

    lr: float = lr_hyper(1e-2)
    beta2_decay: float = hyper(-0.8, "<= 0", note="1 − β₂ = k^beta2_decay", slider=(-1.0, 0.0))
    eps: tuple = hyper((EPS1, 1e-3), ">= 0", pair=True, names=("eps1", "eps2"),
                       note="ε1 guards √v, ε2 is the smallest step scale")
    d: float = hyper(1.0, ">= 1", note="the clipping threshold of RMS(U)", slider=(1.0, 5.0))
    weight_decay: float = weight_decay_hyper()

    _decoupled: ClassVar[bool] = True

    def __post_init__(self):
        eps = self.eps
        if isinstance(eps, (tuple, list)) and len(eps) == 2 and eps[0] is None:  # torch's default: finfo(dtype).eps
            object.__setattr__(self, "eps", (EPS1, eps[1]))
        super().__post_init__()

    @classmethod
    def models(cls):
        return {**super().models(), "limit": AdafactorSignFlow}

    def state_names(self):
        return ("v", "x")

    def flow_init(self, x0, landscape):
        """The lift starts at ``v(0) = g(x0)²``: step 1 sets v to g² whatever v was (k^τ = 1), so this is
        as exact as v = 0 and spares the lift an initial layer in which ẋ divides by √v ≈ 0."""
        state = self.init(x0)
        g = landscape.grad(state["x"])
        return {"v": g * g, "x": state["x"]}

    def _moved(self, x, g, v, k):
        """x after step k with the new v: decay, then the clipped, RMS-scaled step (torch's order)."""
        lr = self._b(self.lr)
        alpha = np.maximum(self._b(self.eps[1]), _rms(x)) * np.minimum(lr, 1 / np.sqrt(k))
        if not self._decay_free:
            x = x * (1 - lr * self._b(self.weight_decay))
        # torch's order of rounding: rsqrt (1/√·) then × g, and ‖u‖/(√n·d) in one division
        u = (1.0 / np.sqrt(np.maximum(v, self._b(self.eps[0]) ** 2))) * g
        denom = np.maximum(1.0, np.linalg.norm(u, axis=-1, keepdims=True) / (np.sqrt(u.shape[-1]) * self._b(self.d)))
        return x - alpha / denom * u

    def _lerp(self, v, g, k):
        w = np.broadcast_to(np.asarray(k, dtype=np.float64) ** self._b(self.beta2_decay), v.shape)
        g2 = g * g
        return np.where(w < 0.5, v + w * (g2 - v), g2 - (g2 - v) * (1 - w))  # torch's lerp

    def step(self, state, landscape, k):
        x = state["x"]
        g = landscape.grad(x)
        v = self._lerp(state["v"], g, k)
        return {"v": v, "x": self._moved(x, g, v, k)}

    def field(self, t, state, landscape):
        h = self._b(self.time_per_step)
        k = self._b(t) / h + 1
        x = state["x"]
        g = landscape.grad(x)
        with np.errstate(divide="ignore", invalid="ignore"):  # asked for v's rate, x's part may see v = ε1 = 0
            dx = (self._moved(x, g, state["v"], k) - x) / h
        return {"v": k ** self._b(self.beta2_decay) / h * (g * g - state["v"]), "x": dx}


@dataclass(frozen=True)
class AdafactorSignFlow(Flow):
    r"""Adafactor's lr → 0 limit: ``ẋ = −λx − max(ε2, RMS(x))·sign(∇f)`` (τ > −1, d ≥ 1).

    A sign flow whose speed is proportional to RMS(x), a relative step; discontinuous where a
    gradient component vanishes (a Filippov system, integrated smoothed). The iterates approach it
    slowly: v's relaxation rate grows only as ``h^(−1−τ)``.
    """

    kind: ClassVar[str] = "limit"
    discontinuous: ClassVar[bool] = True

    @classmethod
    def unsupported(cls, opt):
        if np.any(np.asarray(opt.beta2_decay) <= -1):
            return ("beta2_decay ≤ −1: Σ k^τ converges, so v stays near its first values and never tracks g² "
                    "(no sign-flow limit)")
        return None

    def field(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        speed = np.maximum(opt._b(opt.eps[1]), _rms(x))
        return {"x": -opt._b(opt.weight_decay) * x - speed * self.sign(landscape.grad(x))}
