"""torch.optim.Adam and AdamW."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

import math

from ..models.base import Flow
from ..models.gradient import SignFlow
from .hyper import adam_betas_hyper, hyper, lr_hyper, weight_decay_hyper
from .base import Optimizer, _assemble, _diag
from .kernels import adam_update

#: Elementwise ``math.pow`` (libm's pow, what Python's float ``**`` computes).
_libm_pow = np.frompyfunc(math.pow, 2, 1)


def power(base, exponent, at_step: bool):
    """``base**exponent`` as torch computes it: at a step (a scalar computed in Python floats) libm's
    pow, elementwise; elsewhere (a fractional step of a flow) numpy's, which may differ in the last bit."""
    if at_step:
        return np.asarray(_libm_pow(base, exponent), dtype=np.float64)
    return np.asarray(base) ** exponent

__all__ = ['Adam', 'AdamW']


@dataclass(frozen=True)
class Adam(Optimizer):
    r"""Adam: ``torch.optim.Adam`` (coupled L2 ``weight_decay``; see :class:`AdamW` for decoupled).

    Update (torch), step k = 1, 2, …, ``g = ∇f(x) + λx``::

        m ← lerp(m, g, 1 − β₁);   v ← β₂·v + (1 − β₂)·g²
        v_max ← max(v_max, v)                             (amsgrad; raw v, not the corrected one)
        x ← x − (lr/(1 − β₁ᵏ)) · m / (√v/√(1 − β₂ᵏ) + ε)   (v_max for v with amsgrad)

    ε sits outside the root of the bias-corrected v̂.

    Exact lift, ``h = lr``, non-autonomous because of the bias correction (theory §2.6)::

        ṁ = (1 − β₁)(g − m)/lr,   v̇ = (1 − β₂)(g² − v)/lr,   v̇_max = max(v − v_max, 0)/lr,
        ẋ = −(m/(1 − β₁^κ)) / (√(v/(1 − β₂^κ)) + ε),   κ = t/lr + 1.

    The "+1" makes the Euler step from ``t = (k − 1)·lr`` use torch's counter k and keeps the field
    regular at t = 0. For fixed betas and lr → 0 the flow tends to the sign flow
    ``ẋ = −g/(|g| + ε)`` (Ma, Wu & E 2020); with ``1 − βᵢ ∝ lr`` to the Barakat–Bianchi ODE (2021).
    """

    name: ClassVar[str] = "adam"
    description: ClassVar[str] = "torch.optim.Adam: momentum on g and a per-coordinate scale from g², bias-corrected"

    lr: float = lr_hyper(1e-3)
    betas: tuple = adam_betas_hyper()
    eps: float = hyper(1e-8, "> 0", note="it guards the division by √v", slider=(1e-10, 1e-1, "log"))
    weight_decay: float = weight_decay_hyper()
    amsgrad: bool = False

    @classmethod
    def models(cls):
        return {**super().models(), "limit": SignFlow, "ema": EmaFlow}

    def limit_speed(self):
        return 1.0

    def steepest_metric(self, state, k):
        """``P = √v̂ + ε`` (v̂ = v/(1 − β₂ᵏ), v_max with amsgrad) and ``u = m̂ = m/(1 − β₁ᵏ)``: Adam's
        step is the steepest-descent step of ‖·‖_P for the momentum m̂, not for the gradient g.
        Not with AdamW's decay (λ > 0): its −lr·λx is outside that argmin."""
        if self._decoupled and np.any(self.weight_decay != 0):
            return None
        c1, c2 = (self._b(c) for c in self._corrections(k))
        w = state["vmax"] if self.amsgrad else state["v"]
        return np.sqrt(w) / c2 + self._b(self.eps), state["m"] / c1

    def state_names(self):
        return ("m", "v", "vmax", "x") if self.amsgrad else ("m", "v", "x")

    def _gradient(self, x, landscape):
        return landscape.grad(x) if self._decoupled else self._coupled_grad(x, landscape)

    def _corrections(self, k):
        """Bias corrections ``1 − β₁ᵏ`` and ``√(1 − β₂ᵏ)``. At a step (an integer k, or an array of
        them) βᵏ is libm's pow, as torch computes it in Python floats: numpy's vectorized power
        differs from it in the last bit for a few percent of (β, k). k may be fractional in the flow."""
        b1, b2 = self.betas
        at_step = np.issubdtype(np.asarray(k).dtype, np.integer)
        return 1 - power(b1, k, at_step), np.sqrt(1 - power(b2, k, at_step))

    def step(self, state, landscape, k):
        x = state["x"]
        c1, c2 = (self._b(c) for c in self._corrections(k))
        x_new, m, v, vmax = adam_update(x, landscape.grad(x), state["m"], state["v"], state.get("vmax"),
                                        self._b(self.lr), *(self._b(b) for b in self.betas), self._b(self.eps),
                                        self._b(self.weight_decay), c1, c2, self._decoupled, self.amsgrad)
        return {"m": m, "v": v, "vmax": vmax, "x": x_new} if self.amsgrad else {"m": m, "v": v, "x": x_new}

    def field(self, t, state, landscape):
        x = state["x"]
        lr = self._b(self.lr)
        g = self._gradient(x, landscape)
        b1, b2 = (self._b(b) for b in self.betas)
        out = {"m": (1 - b1) * (g - state["m"]) / lr, "v": (1 - b2) * (g * g - state["v"]) / lr}
        if self.amsgrad:
            out["vmax"] = np.maximum(state["v"] - state["vmax"], 0) / lr
        c1, c2 = self._corrections(np.asarray(t) / np.asarray(self.lr) + 1)
        w = state["vmax"] if self.amsgrad else state["v"]
        out["x"] = -(state["m"] / self._b(c1)) / (np.sqrt(w) / self._b(c2) + self._b(self.eps))
        if self._decoupled:
            out["x"] = out["x"] - self._b(self.weight_decay) * x
        return out

    def jacobian(self, t, state, landscape):
        x = state["x"]
        lr = self._b(self.lr)
        g = self._gradient(x, landscape)
        H = landscape.hess(x) if self._decoupled else self._coupled_hess(x, landscape)
        b1, b2 = (self._b(b) for b in self.betas)
        c1, c2 = (self._b(c) for c in self._corrections(np.asarray(t) / np.asarray(self.lr) + 1))
        names = tuple(state)
        one = np.ones_like(x)
        w_name = "vmax" if self.amsgrad else "v"
        w = state[w_name]
        root = np.sqrt(np.maximum(w, np.finfo(float).tiny))  # dD/dw is unbounded at w = 0
        D = np.sqrt(w) / c2 + self._b(self.eps)
        blocks = {
            ("m", "m"): _diag(-(1 - b1) / lr * one),
            ("m", "x"): ((1 - b1) / lr)[..., None] * H,
            ("v", "v"): _diag(-(1 - b2) / lr * one),
            ("v", "x"): (2 * (1 - b2) / lr * g)[..., :, None] * H,
            ("x", "m"): _diag(-1 / (c1 * D) * one),
            ("x", w_name): _diag(state["m"] / c1 / (D * D) / (2 * root * c2)),
        }
        if self.amsgrad:
            active = (state["v"] > state["vmax"]).astype(float)
            blocks[("vmax", "v")] = _diag(active / lr)
            blocks[("vmax", "vmax")] = _diag(-active / lr)
        if self._decoupled:
            blocks[("x", "x")] = _diag(-self._b(self.weight_decay) * one)
        return _assemble(names, blocks, x.shape)

    def kernel(self):
        """The elementwise update for the compiled engine (:mod:`simulate.optimizers.kernel`): the
        function ``step`` calls, with the bias corrections of every step as tables (``_corrections``,
        the numpy step's own values)."""
        from .kernel import Kernel

        b1, b2 = self.betas
        return Kernel(adam_update, ("m", "v", "vmax"),
                      ("lr", "beta1", "beta2", "eps", "weight_decay", "c1", "c2", "decoupled", "amsgrad"),
                      hypers={"lr": self.lr, "beta1": b1, "beta2": b2, "eps": self.eps, "weight_decay": self.weight_decay},
                      flags={"decoupled": bool(self._decoupled), "amsgrad": bool(self.amsgrad)},
                      table_names=("c1", "c2"), tables=self._corrections,
                      per_member_tables=any(np.ndim(b) for b in self.betas), carried=self.state_names()[:-1])


@dataclass(frozen=True)
class AdamW(Adam):
    r"""AdamW: ``torch.optim.AdamW``, decoupled weight decay (Loshchilov & Hutter, ICLR 2019).

    Update: ``x ← x·(1 − lr·λ)`` first, then Adam's step with ``g = ∇f(x)`` (no λx inside the
    moments). Default λ = 0.01. Exact lift: Adam's field with ``−λx`` added to ``ẋ``, ``h = lr``.
    """

    name: ClassVar[str] = "adamw"
    description: ClassVar[str] = "torch.optim.AdamW: Adam with decoupled weight decay (adds −λx to the flow)"
    _decoupled: ClassVar[bool] = True

    weight_decay: float = weight_decay_hyper(1e-2)



@dataclass(frozen=True)
class EmaFlow(Flow):
    r"""Adam with ``1 − β₁ = a·lr``, ``1 − β₂ = b·lr``: Barakat & Bianchi's ODE (SIAM J. Optim. 2021)::

        ṁ = a(g − m),   v̇ = b(g² − v),   ẋ = −(m/(1 − e^{−at})) / (√(v/(1 − e^{−bt})) + ε)

    the lr → 0 limit of the exact lift, since ``(1 − a·lr)^{t/lr} → e^{−at}``. At t = 0 the bias-
    corrected moments take their limits g and g². AdamW adds ``−λx``. Time per step lr.
    """

    kind: ClassVar[str] = "ema"
    scaling: ClassVar[str] = "linear"

    @classmethod
    def unsupported(cls, opt):
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
