"""torch.optim.RMSprop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.gradient import SignFlow
from .hyper import EMA, hyper, lr_hyper, weight_decay_hyper
from .base import Optimizer, _assemble, _diag
from .kernels import rmsprop_update

__all__ = ['RMSprop']


@dataclass(frozen=True)
class RMSprop(Optimizer):
    r"""RMSprop: ``torch.optim.RMSprop``. No bias correction; ε outside the root.

    Update (torch), ``g = ∇f(x) + λx``::

        v ← α·v + (1 − α)·g²                    ṽ = v
        ḡ ← lerp(ḡ, g, 1 − α);  ṽ = v − ḡ²        (centered)
        b ← μ·b + g/(√ṽ + ε);   x ← x − lr·b      (momentum > 0)
        x ← x − lr·g/(√ṽ + ε)                     (otherwise)

    Exact lift, ``h = lr`` (theory §2.5), components in torch's order (v, ḡ, b, x)::

        v̇ = (1 − α)(g² − v)/lr,   ḡ̇ = (1 − α)(g − ḡ)/lr,
        ḃ = (g/(√ṽ + ε) − (1 − μ)·b)/lr,   ẋ = −b      or, without momentum,   ẋ = −g/(√ṽ + ε).

    For fixed α and lr → 0, v relaxes to g² on the time scale lr/(1 − α) and the flow tends to the
    sign flow ``ẋ = −g/(|g| + ε)``. From ``v(0) = 0`` the lift starts with ``ẋ(0) = −g/ε``: a stiff
    initial layer that the discrete method skips by updating v first (step 1 moves
    ``lr·g/(√(1 − α)|g| + ε)``, about 10·lr for α = 0.99).
    """

    name: ClassVar[str] = "rmsprop"
    description: ClassVar[str] = "torch.optim.RMSprop: per-coordinate steps scaled by an EMA of g² (sign-like flow)"

    lr: float = lr_hyper(1e-2)
    alpha: float = hyper(0.99, "[0, 1)", ladder=EMA, slider=(0.5, 0.999))
    eps: float = hyper(1e-8, "> 0", note="it guards the division by √v", slider=(1e-10, 1e-1, "log"))
    weight_decay: float = weight_decay_hyper()
    momentum: float = hyper(0.0, "[0, 1)", slider=(0.0, 0.99))
    centered: bool = False

    @classmethod
    def models(cls):
        return {**super().models(), "limit": RMSpropLimitFlow}

    # Started from v = 0 the lift has a √t layer at t = 0 (the step divides by √v ~ √t): the
    # iterates approach it at order ½ (measured: docs/guide/dynamics-lab.md).
    lift_order: ClassVar[float] = 0.5

    @property
    def lift_energy_name(self):
        return "" if np.any(self.momentum != 0) else "f"

    def lift_energy(self, state, landscape):
        # without momentum ḟ = −Σ g²/(√ṽ + ε) ≤ 0
        return None if np.any(self.momentum != 0) else self.coupled_value(state["x"], landscape)

    def limit_speed(self):
        """``1/(1 − μ)``: the momentum buffer relaxes to g/((|g| + ε)(1 − μ))."""
        return 1 / (1 - self.momentum)

    def steepest_metric(self, state, k):
        """``P = √ṽ + ε`` (ṽ = v, or v − ḡ² centered, after the update) and u = g: RMSprop's step
        ``−lr·g/(√ṽ + ε)`` is the steepest-descent step of ‖·‖_P (theory §10.9). Not with momentum:
        its step −lr·b sums gradients preconditioned by the metrics of earlier steps."""
        return None if np.any(self.momentum != 0) else (self._denominator(state), None)

    def state_names(self):
        return ("v",) + (("gbar",) if self.centered else ()) + (("b",) if np.any(self.momentum != 0) else ()) + ("x",)

    def _denominator(self, state):
        v = state["v"] - state["gbar"] * state["gbar"] if self.centered else state["v"]
        return np.sqrt(v) + self._b(self.eps)

    def step(self, state, landscape, k):
        x = state["x"]
        x_new, v, gbar, b = rmsprop_update(x, landscape.grad(x), state["v"], state.get("gbar"), state.get("b"),
                                           self._b(self.lr), self._b(self.alpha), self._b(self.eps),
                                           self._b(self.weight_decay), self._b(self.momentum), self.centered,
                                           "b" in state)
        new = {"v": v, "gbar": gbar, "b": b, "x": x_new}
        return {name: new[name] for name in state}

    def field(self, t, state, landscape):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        rate = (1 - self._b(self.alpha)) / self._b(self.lr)
        out = {"v": rate * (g * g - state["v"])}
        if self.centered:
            out["gbar"] = rate * (g - state["gbar"])
        u = g / self._denominator(state)
        if "b" in state:
            out["b"] = (u - (1 - self._b(self.momentum)) * state["b"]) / self._b(self.lr)
            out["x"] = -state["b"]
        else:
            out["x"] = -u
        return out

    def jacobian(self, t, state, landscape):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        H = self._coupled_hess(x, landscape)
        names = tuple(state)
        lr = self._b(self.lr)
        rate = (1 - self._b(self.alpha)) / lr
        vt = state["v"] - state["gbar"] ** 2 if self.centered else state["v"]
        root = np.sqrt(np.maximum(vt, np.finfo(float).tiny))  # dD/dv is unbounded at v = 0
        D = np.sqrt(vt) + self._b(self.eps)
        du_dx = H / D[..., :, None]                  # u = g/D
        du_dv = -g / (D * D) / (2 * root)
        blocks = {("v", "v"): _diag(-rate * np.ones_like(x)), ("v", "x"): (2 * rate * g)[..., :, None] * H}
        dus = {"x": du_dx, "v": _diag(du_dv)}
        if self.centered:
            blocks[("gbar", "gbar")] = _diag(-rate * np.ones_like(x))
            blocks[("gbar", "x")] = rate[..., None] * H
            dus["gbar"] = _diag(-2 * state["gbar"] * du_dv)
        if "b" in state:
            blocks[("b", "b")] = _diag(-(1 - self._b(self.momentum)) / lr * np.ones_like(x))
            for col, du in dus.items():
                blocks[("b", col)] = du / lr[..., None]
            blocks[("x", "b")] = _diag(-np.ones_like(x))
        else:
            for col, du in dus.items():
                blocks[("x", col)] = -du
        return _assemble(names, blocks, x.shape)

    def kernel(self):
        """The elementwise update for the compiled engine (:mod:`simulate.optimizers.kernel`): the
        function ``step`` calls, with the buffers of this configuration."""
        from .kernel import Kernel

        kept = self.state_names()[:-1]
        return Kernel(rmsprop_update, ("v", "gbar", "b"),
                      ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "buffered"),
                      hypers={"lr": self.lr, "alpha": self.alpha, "eps": self.eps, "weight_decay": self.weight_decay,
                              "momentum": self.momentum},
                      flags={"centered": bool(self.centered), "buffered": "b" in kept}, carried=kept)


@dataclass(frozen=True)
class RMSpropLimitFlow(SignFlow):
    """RMSprop's β-fixed limit, the sign flow ``ẋ = −g/((|g| + ε)(1 − μ))`` (not for centered RMSprop)."""

    @classmethod
    def unsupported(cls, opt):
        return "centered RMSprop has no β-fixed limit (v − ḡ² tends to 0 for exact gradients)" if opt.centered else None
