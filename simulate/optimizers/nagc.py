"""Nesterov's NAG-C (Su, Boyd & Candès): momentum (k − 1)/(k + r − 1), clock √lr."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.base import SecondOrderFlow
from .hyper import hyper, lr_hyper, weight_decay_hyper
from .base import Optimizer, _assemble, _diag

__all__ = ['NagC', 'NagCFlow', 'NagCHighResFlow']


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
    clock_formula: ClassVar[str] = "√lr"
    step_varies: ClassVar[str] = "momentum changes every step"

    lr: float = lr_hyper(1e-2)
    r: float = hyper(3.0, "> 0", note="the friction r/t")
    weight_decay: float = weight_decay_hyper()

    @classmethod
    def models(cls):
        return {**super().models(), "limit": NagCFlow, "highres": NagCHighResFlow}

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


@dataclass(frozen=True)
class NagCFlow(SecondOrderFlow):
    r"""Su, Boyd & Candès' ``Ẍ + (r/t)Ẋ + ∇f = 0`` on the clock ``t = k·√lr``, state ``(v, x)``,
    ``v = Ẋ``; NAG-C's lr → 0 limit. At t = 0 the field takes its limit ``v̇ = −∇f/(1 + r)``."""

    kind: ClassVar[str] = "limit"
    energy_name: ClassVar[str] = "2t²(f − f*)/(r − 1) + (r − 1)|X + tẊ/(r − 1) − x*|²"

    def field(self, t, state, landscape):
        opt = self.optimizer
        g = self._g(state["x"], landscape)
        r, t = opt._b(opt.r), opt._b(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            dv = np.where(t > 0, -(r / t) * state["v"] - g, -g / (1 + r))  # the t → 0 limit of the ODE
        return {"v": dv, "x": state["v"]}

    def jacobian(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        H = self._H(x, landscape)
        r, tt = opt._b(opt.r), opt._b(t)
        one = np.ones_like(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            dvdv = np.where(tt > 0, -r / tt, 0.0) * one
            dvdx = -H / np.where(tt > 0, 1.0, 1 + r)[..., None]
        return _assemble(("v", "x"), {("v", "v"): _diag(dvdv), ("v", "x"): dvdx, ("x", "v"): _diag(one)}, x.shape)

    def energy(self, t, state, landscape):
        # Su–Boyd–Candès: 2t²/(r−1)·(f − f*) + (r − 1)|X + t/(r−1)·Ẋ − x*|², non-increasing for
        # convex f and r ≥ 3, with x* the landscape's lowest listed minimum (so no weight decay,
        # which moves the minimizer).
        opt = self.optimizer
        if landscape.minima.shape[0] == 0 or np.any(opt.r < 3) or not opt._decay_free:
            return None
        values = landscape.value(landscape.minima)
        xstar = landscape.minima[int(np.argmin(values))]
        r, tt = np.asarray(opt.r), np.asarray(t)
        f = self._f(state["x"], landscape) - float(np.min(values))
        d = state["x"] + (tt / (r - 1))[..., None] * state["v"] - xstar
        return 2 * tt**2 / (r - 1) * f + (r - 1) * np.einsum("...i,...i->...", d, d)


@dataclass(frozen=True)
class NagCHighResFlow(SecondOrderFlow):
    r"""NAG-C's high-resolution ODE (Shi, Du, Jordan & Su 2022), time per step √s, s = lr:
    ``Ẍ + (r/τ)Ẋ + √s·∇²f(X)Ẋ + (1 + r√s/(2τ))∇f(X) = 0`` on ``τ = t + (r/2 − 1)√s``, ``Ẋ = 0`` at
    the start (needs r > 2). The iterates approach it at order 2 in √s."""

    kind: ClassVar[str] = "highres"
    expected_order: ClassVar[float] = 2.0

    @classmethod
    def unsupported(cls, opt):
        return None if np.all(opt.r > 2) else "NAG-C's high-resolution ODE needs r > 2"

    def field(self, t, state, landscape):
        opt = self.optimizer
        x, v = state["x"], state["v"]
        g = self._g(x, landscape)
        rs = opt._b(self.time_per_step)
        r = opt._b(opt.r)
        tau = opt._b(t) + (r / 2 - 1) * rs
        Hv = np.einsum("...ij,...j->...i", self._H(x, landscape), v)
        return {"v": -(r / tau) * v - rs * Hv - (1 + r * rs / (2 * tau)) * g, "x": v}
