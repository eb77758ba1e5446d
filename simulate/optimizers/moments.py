"""What NAdam and RAdam share with Adam: torch's ``decoupled_weight_decay`` switch, the two moment
averages of the lift, and Adam's sign flow as the β-fixed limit."""

from __future__ import annotations

import numpy as np

from ..models.gradient import SignFlow
from .base import _diag

__all__ = ["AdamMoments"]


class AdamMoments:
    """Mixin (before :class:`~simulate.optimizers.base.Optimizer`) for an optimizer with ``betas``,
    ``weight_decay`` and the flag ``decoupled_weight_decay``, whose lift starts with
    ``ṁ = (1 − β₁)(g − m)/lr`` and ``v̇ = (1 − β₂)(g² − v)/lr``, and whose limit is ``ẋ = −g/(|g| + ε)``."""

    @classmethod
    def models(cls):
        return {**super().models(), "limit": SignFlow}

    def limit_speed(self):
        return 1.0

    @property
    def _decoupled(self):
        return bool(self.decoupled_weight_decay)

    def _moment_grad(self, x, landscape):
        """g the moments see, and its Jacobian: ∇f (decoupled) or ∇f + λx (coupled)."""
        if self._decoupled:
            return landscape.grad(x), landscape.hess(x)
        return self._coupled_grad(x, landscape), self._coupled_hess(x, landscape)

    def _moment_fields(self, g, state):
        lr = self._b(self.lr)
        b1, b2 = (self._b(b) for b in self.betas)
        return {"m": (1 - b1) * (g - state["m"]) / lr, "v": (1 - b2) * (g * g - state["v"]) / lr}

    def _moment_blocks(self, g, H):
        """The Jacobian blocks of the m and v rows."""
        lr = self._b(self.lr)
        b1, b2 = (self._b(b) for b in self.betas)
        one = np.ones_like(g)
        return {("m", "m"): _diag(-(1 - b1) / lr * one), ("m", "x"): ((1 - b1) / lr)[..., None] * H,
                ("v", "v"): _diag(-(1 - b2) / lr * one), ("v", "x"): (2 * (1 - b2) / lr * g)[..., :, None] * H}

    def _decay_field(self, dx, x):
        """ẋ with decoupled decay's −λx added (unchanged for coupled decay)."""
        return dx - self._b(self.weight_decay) * x if self._decoupled else dx
