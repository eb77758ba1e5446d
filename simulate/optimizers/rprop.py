"""torch.optim.Rprop: resilient backpropagation (iRprop⁻)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Optimizer
from .hyper import hyper, lr_hyper
from .kernels import select

__all__ = ["Rprop", "NO_FLOW"]

#: Why Rprop has no continuous model: its step sizes are a switched system.
NO_FLOW = ("Rprop has no continuous model: it is a switched system in step time, where lr only seeds the step "
           "sizes, which then change by factors {η−, 1, η+} per step, so no parameter goes to zero and no ODE "
           "limit exists (every map has only the trivial lift (F(x) − x)/h)")


def rprop_update(x, g, prev, s, minus, plus, smallest, largest):
    """torch.optim.Rprop's step: returns ``(x, prev, s)`` (np.clip written as max then min, its bits)."""
    p = np.sign(g * prev)
    s = s * select(p > 0, plus, select(p < 0, minus, 1.0))
    s = np.minimum(np.maximum(s, smallest), largest)
    g = select(p < 0, 0.0, g)
    return x - np.sign(g) * s, g, s


@dataclass(frozen=True)
class Rprop(Optimizer):
    r"""Rprop: ``torch.optim.Rprop`` (Riedmiller & Braun 1993), in its iRprop⁻ form (Igel & Hüsken 2000).

    Update (torch), per coordinate i, ``g = ∇f(x)`` (no weight decay), ``p = g_i·prev_i``::

        f = η+ (p > 0) | η− (p < 0) | 1 (p = 0)
        s_i ← clamp(s_i·f, Γmin, Γmax)
        g_i ← 0  where f = η−                 (a sign flip: skip this coordinate's move)
        x ← x − s ⊙ sign(g);   prev ← g

    from prev = 0 and s = lr: ``etas = (η−, η+)`` with 0 < η− < 1 < η+, ``step_sizes = (Γmin, Γmax)``.

    No continuous model (:data:`NO_FLOW`): while signs persist s grows geometrically to Γmax, a flip
    cuts s by η− and skips a move (bisection-like); lr only seeds s. A hybrid automaton in step time.
    """

    name: ClassVar[str] = "rprop"
    description: ClassVar[str] = "torch.optim.Rprop: sign steps with per-coordinate step sizes grown or cut by sign agreement"

    lr: float = lr_hyper(1e-2)
    etas: tuple = hyper((0.5, 1.2), "> 0", pair=True, names=("etaminus", "etaplus"),
                        note="the factors that cut and grow the step sizes")
    step_sizes: tuple = hyper((1e-6, 50.0), ">= 0", pair=True, names=("step_size_min", "step_size_max"),
                              note="the bounds of the step sizes")

    def _validate(self):
        self._require("etas[0]", self.etas[0] < 1, "must be < 1 (η− cuts the step size after a sign flip)")
        self._require("etas[1]", self.etas[1] > 1, "must be > 1 (η+ grows the step size while the sign holds)")
        self._require("step_sizes[1]", self.step_sizes[1] >= self.step_sizes[0],
                      "must be >= step_sizes[0] (the largest step size is at least the smallest)")

    @classmethod
    def models(cls):
        return {"exact": NO_FLOW, "limit": NO_FLOW}

    def state_names(self):
        return ("prev", "step_size", "x")

    def init(self, x0):
        x = self._start(x0)
        return {"prev": np.zeros_like(x), "step_size": np.broadcast_to(self._b(self.lr), x.shape).copy(), "x": x}

    def step(self, state, landscape, k):
        x = state["x"]
        x, prev, s = rprop_update(x, landscape.grad(x), state["prev"], state["step_size"],
                                  self._b(self.etas[0]), self._b(self.etas[1]),
                                  self._b(self.step_sizes[0]), self._b(self.step_sizes[1]))
        return {"prev": prev, "step_size": s, "x": x}

    def kernel(self):
        """The elementwise update for the compiled engine: the function ``step`` calls; the step
        sizes start at lr."""
        from .kernel import Kernel

        return Kernel(rprop_update, ("prev", "step_size"), ("minus", "plus", "smallest", "largest"),
                      hypers={"minus": self.etas[0], "plus": self.etas[1], "smallest": self.step_sizes[0],
                              "largest": self.step_sizes[1]},
                      start={"step_size": self.lr})
