"""Nesterov's NAG-C (Su, Boyd & Candès): momentum (k − 1)/(k + r − 1), clock √lr."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .hyper import hyper, lr_hyper, weight_decay_hyper
from .base import Optimizer

__all__ = ['NagC']


@dataclass(frozen=True)
class NagC(Optimizer):
    r"""Nesterov's accelerated gradient for convex f, NAG-C (Su, Boyd & Candès, JMLR 2016).

    With step size ``s = lr`` and ``y₀ = x₀``::

        x_k = y_{k−1} − s·∇f(y_{k−1}),    y_k = x_k + (k − 1)/(k + r − 1)·(x_k − x_{k−1})

    (r = 3 is Nesterov's (k − 1)/(k + 2)). Its limit as s → 0, with **time per step √s**, is
    ``Ẍ + (r/t)·Ẋ + ∇f(X) = 0``, ``X(0) = x₀``, ``Ẋ(0) = 0`` (flow ``limit``), approached at order ½ in s;
    for convex f, ``f(x_k) − f* ≤ 2|x₀ − x*|²/(s(k + 1)²)`` when ``s ≤ 1/L`` and r = 3.
    State: the previous iterate and the current one (``y`` is formed from them).
    """

    name: ClassVar[str] = "nag-c"
    description: ClassVar[str] = "Nesterov's NAG-C, momentum (k-1)/(k+r-1): limit ODE X'' + (r/t)X' + grad f = 0, clock sqrt(lr)"
    default_flow: ClassVar[str] = "limit"
    scales_its_update: ClassVar[bool] = False

    lr: float = lr_hyper(1e-2)
    r: float = hyper(3.0, "> 0", note="the friction r/t")
    weight_decay: float = weight_decay_hyper()
    schedule: object = None
    clip_norm: object = None
    clip_value: object = None
    lr_scale: object = None

    @property
    def time_per_step(self):
        return np.sqrt(np.asarray(self.lr))

    def state_names(self):
        return ("xprev", "x")

    def init(self, x0):
        x = self._start(x0)
        return {"xprev": x.copy(), "x": x}

    def step(self, state, landscape, k):
        x, xprev = state["x"], state["xprev"]
        if k >= 3:  # (k−2)/(k+r−2) is the coefficient that forms y_{k−1}; it is 0 for k ≤ 2
            c = (k - 2) / (k + self._b(self.r) - 2)
            y = x + c * (x - xprev)
        else:
            y = x
        return {"xprev": x, "x": y + (-self._b(self.lr)) * self._coupled_grad(y, landscape)}
