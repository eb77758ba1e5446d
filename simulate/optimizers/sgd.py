"""torch.optim.SGD: gradient descent, heavy ball and Nesterov."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .hyper import EMA, Ladder, hyper, lr_hyper, weight_decay_hyper
from .base import Optimizer, Preset, _assemble, _diag
from .kernels import sgd_update

__all__ = ['SGD']


@dataclass(frozen=True)
class SGD(Optimizer):
    r"""Gradient descent, heavy ball and Nesterov: ``torch.optim.SGD``.

    Update (torch), ``g = ∇f(x) + λx``::

        b ← g                       at k = 1 (dampening is not applied on the first step)
        b ← μ·b + (1 − τ)·g         at k > 1
        d ← g + μ·b if nesterov else b          (d = g when μ = 0)
        x ← x − lr·d

    Exact lift, time per step ``h = lr`` (theory §2.2–2.4):

    * μ = 0 (GD): gradient flow ``ẋ = −(∇f + λx)``; GD is its explicit Euler method.
    * μ > 0: ``ḃ = ((1 − τ)·g − (1 − μ)·b)/lr``, then ``ẋ = −b`` (heavy ball) or
      ``ẋ = −g − μ·b`` (Nesterov). ``b(0) = τ·g(x0)/μ`` reproduces torch's ``b₁ = g``. The buffer
      relaxes at rate ``(1 − μ)/lr``: the lift is stiff, and its η → 0 limits (a rescaled gradient
      flow for fixed μ, a damped oscillator for ``1 − μ ∝ √lr``) are separate models.

    PyTorch's momentum ``b ← μb + g; x ← x − lr·b`` is not Sutskever's ``v ← μv + lr·g``; they agree
    only while lr is constant.
    """

    name: ClassVar[str] = "sgd"
    description: ClassVar[str] = "torch.optim.SGD: gradient descent, heavy-ball momentum, Nesterov"

    lr: float = lr_hyper(1e-3)
    # 1 − μ and 1 − τ keep their ratio to lr on the linear ladder (the lift's buffer rate), and
    # 1 − μ to √lr on the sqrt ladder (the damped oscillator); only where there is momentum.
    momentum: float = hyper(0.0, "[0, 1)", ladder=Ladder("ema", {"linear": 1.0, "sqrt": 0.5}), gate="momentum",
                            slider=(0.0, 0.99))
    dampening: float = hyper(0.0, "[0, 1]", ladder=EMA, gate="momentum", slider=(0.0, 1.0))
    weight_decay: float = weight_decay_hyper()
    nesterov: bool = False
    schedule: object = None
    clip_norm: object = None
    clip_value: object = None
    lr_scale: object = None

    @classmethod
    def presets(cls):
        return (
            Preset("gd", cls, "gradient descent: explicit Euler on the gradient flow (SGD, momentum 0)",
                   fixed={"momentum": 0.0}),
            Preset("momentum", cls, "heavy-ball momentum (SGD, momentum 0.9): a damped oscillator", {"momentum": 0.9},
                   fixed={"nesterov": False}),
            Preset("nesterov", cls, "Nesterov momentum (SGD, momentum 0.9, nesterov): look-ahead gradient",
                   {"momentum": 0.9}, fixed={"nesterov": True}),
            Preset("sgd", cls, cls.description),
        )

    def _validate(self):
        if self.nesterov and not (np.all(self.momentum > 0) and np.all(self.dampening == 0)):
            raise ValueError(f"{self.display_name}: nesterov requires momentum > 0 and dampening = 0 (as torch.optim.SGD)")

    @property
    def display_name(self) -> str:
        if self.nesterov:
            return "nesterov"
        return "gd" if np.all(self.momentum == 0) else "momentum"

    def state_names(self):
        return ("b", "x") if np.any(self.momentum != 0) else ("x",)

    def step(self, state, landscape, k):
        x = state["x"]
        buffered = "b" in state
        x_new, b = sgd_update(x, landscape.grad(x), state.get("b"), k == 1, self._b(self.lr), self._b(self.momentum),
                              self._b(self.dampening), self._b(self.weight_decay), self.nesterov, buffered)
        return {"b": b, "x": x_new} if buffered else {"x": x_new}

    def _tau(self):
        # torch ignores dampening where momentum is 0; so does the lift (b then tracks g exactly).
        return np.where(self.momentum == 0, 0.0, self.dampening)

    def flow_init(self, x0, landscape):
        state = self.init(x0)
        if "b" in state:
            g = self._coupled_grad(state["x"], landscape)
            mu = self._b(self.momentum)
            state["b"] = np.divide(self._b(self._tau()) * g, mu, out=np.zeros_like(g), where=mu != 0)
        return state

    def field(self, t, state, landscape):
        x = state["x"]
        g = self._coupled_grad(x, landscape)
        if "b" not in state:
            return {"x": -g}
        mu, lr, b = self._b(self.momentum), self._b(self.lr), state["b"]
        db = ((1 - self._b(self._tau())) * g - (1 - mu) * b) / lr
        dx = -g - mu * b if self.nesterov else -b
        return {"b": db, "x": dx}

    def jacobian(self, t, state, landscape):
        x = state["x"]
        H = self._coupled_hess(x, landscape)
        names = tuple(state)
        if names == ("x",):
            return _assemble(names, {("x", "x"): -H}, x.shape)
        mu, lr = self._b(self.momentum), self._b(self.lr)
        eye = np.ones_like(x)
        blocks = {
            ("b", "b"): _diag(-(1 - mu) / lr * eye),
            ("b", "x"): ((1 - self._b(self._tau())) / lr)[..., None] * H,
        }
        if self.nesterov:
            blocks[("x", "b")] = _diag(-mu * eye)
            blocks[("x", "x")] = -H
        else:
            blocks[("x", "b")] = _diag(-eye)
        return _assemble(names, blocks, x.shape)

    def kernel(self):
        """The elementwise update for the compiled engine (:mod:`simulate.optimizers.kernel`): the
        function ``step`` calls, the buffer only where some member has momentum."""
        from .kernel import Kernel

        buffered = bool(np.any(self.momentum != 0))
        return Kernel(sgd_update, ("b",), ("first", "lr", "momentum", "dampening", "weight_decay", "nesterov", "buffered"),
                      hypers={"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                              "weight_decay": self.weight_decay},
                      flags={"nesterov": bool(self.nesterov), "buffered": buffered}, carried=("b",) if buffered else ())
