"""torch.optim.Adagrad."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .hyper import INVERSE_LR2, hyper, lr_hyper, weight_decay_hyper
from .base import Optimizer, _assemble, _diag
from .kernels import adagrad_update

__all__ = ['Adagrad']


@dataclass(frozen=True)
class Adagrad(Optimizer):
    r"""Adagrad: ``torch.optim.Adagrad`` (Duchi, Hazan & Singer, JMLR 2011).

    Update (torch), step k, ``g = ∇f(x) + λx``::

        s ← s + g²                   (s starts at initial_accumulator_value)
        x ← x − lr/(1 + (k − 1)·δ) · g/(√s + ε)

    Exact lift with **time per step h = lr²** (theory §2.7), written in torch's own accumulator s::

        ṡ = g²/lr²,    ẋ = −g / (lr·(1 + δ·t/lr²)·(√s + ε)).

    In ``S = lr²·s`` this is ``Ṡ = g², ẋ = −g/((1 + δt/lr²)(√S + lr·ε))``: Adagrad's natural clock is
    ``t = k·lr²``, on which the flow depends on lr only through ``lr·ε`` and ``S(0)``. ``lr_decay`` δ
    keeps h fixed and makes the field non-autonomous. With ``s(0) = 0`` the start is stiff
    (``ẋ(0) = −g/(lr·ε)``).
    """

    name: ClassVar[str] = "adagrad"
    description: ClassVar[str] = "torch.optim.Adagrad: steps scaled by the accumulated g² (clock t = k·lr²)"

    lr: float = lr_hyper(1e-2)
    lr_decay: float = hyper(0.0, ">= 0")
    weight_decay: float = weight_decay_hyper()
    # the lift's accumulator starts at S(0) = lr²·s₀: the linear ladder keeps it
    initial_accumulator_value: float = hyper(0.0, ">= 0", ladder=INVERSE_LR2)
    eps: float = hyper(1e-10, "> 0", note="it guards the division by √s", slider=(1e-10, 1e-1, "log"))

    clock_formula: ClassVar[str] = "lr²"

    @classmethod
    def models(cls):
        return {**super().models(),
                "limit": "Adagrad's exact lift already is its lr → 0 model on the clock lr²; use the 'exact' flow"}

    @property
    def lift_order(self):
        # Started from s = 0 the lift has a √t layer at t = 0: the iterates approach it at order ½.
        return 0.5 if np.all(self.initial_accumulator_value == 0) else 1.0

    lift_energy_name: ClassVar[str] = "f"

    def lift_energy(self, state, landscape):
        return self.coupled_value(state["x"], landscape)  # ḟ = −Σ g²/(lr(…)(√s + ε)) ≤ 0

    def state_names(self):
        return ("s", "x")

    @property
    def time_per_step(self):
        return np.asarray(self.lr) ** 2

    def init(self, x0):
        x = self._start(x0)
        return {"s": np.broadcast_to(self._b(self.initial_accumulator_value), x.shape).copy(), "x": x}

    def step(self, state, landscape, k):
        x = state["x"]
        x_new, s = adagrad_update(x, landscape.grad(x), state["s"], k, self._b(self.lr), self._b(self.lr_decay),
                                  self._b(self.eps), self._b(self.weight_decay))
        return {"s": s, "x": x_new}

    def _slowdown(self, t):
        return 1 + self._b(self.lr_decay) * self._b(t) / self._b(self.lr) ** 2

    def field(self, t, state, landscape):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        lr = self._b(self.lr)
        return {"s": g * g / lr**2,
                "x": -g / (lr * self._slowdown(t) * (np.sqrt(state["s"]) + self._b(self.eps)))}

    def jacobian(self, t, state, landscape):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        H = self._coupled_hess(x, landscape)
        lr = self._b(self.lr)
        q = lr * self._slowdown(t)
        root = np.sqrt(np.maximum(state["s"], np.finfo(float).tiny))
        D = np.sqrt(state["s"]) + self._b(self.eps)
        blocks = {
            ("s", "x"): (2 * g / lr**2)[..., :, None] * H,
            ("x", "x"): -H / (q * D)[..., :, None],
            ("x", "s"): _diag(g / (q * D * D) / (2 * root)),
        }
        return _assemble(("s", "x"), blocks, x.shape)

    def kernel(self):
        """The elementwise update for the compiled engine (:mod:`simulate.optimizers.kernel`): the
        function ``step`` calls; the accumulator starts at ``initial_accumulator_value``."""
        from .kernel import Kernel

        return Kernel(adagrad_update, ("s",), ("k", "lr", "lr_decay", "eps", "weight_decay"),
                      hypers={"lr": self.lr, "lr_decay": self.lr_decay, "eps": self.eps, "weight_decay": self.weight_decay},
                      start={"s": self.initial_accumulator_value})
