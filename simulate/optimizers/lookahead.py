r"""Lookahead around any optimizer (Zhang, Lucas, Hinton & Ba, NeurIPS 2019; theory §10.8).

Slow weights φ and fast weights θ, ``φ = θ = x₀``; every step is one step of the inner optimizer
on θ (its state kept across cycles, its step counter running on), and every ``k``-th step::

    φ ← φ + α·(θ − φ),   θ ← φ                       (paper defaults k = 5, α = 0.5)

The iterate ``x`` is θ, the point the gradient is taken at (at a cycle's end θ = φ); φ is the state
``slow``. There is no torch class: the step is checked against a hand-written loop (tests).

It composes like a schedule: ``lookahead(opt, k=5, alpha=0.5)`` in Python, and the setting
``lookahead=k`` or ``lookahead=(k, alpha)`` in any optimizer's spec, e.g.
``adam(lr=0.01, lookahead=(5, 0.5))`` (:mod:`simulate.optimizers.wrappers`); the spec of a
Lookahead is its inner optimizer's with that setting, so every registered optimizer takes it.

**No exact lift.** The cycle map ``φ ↦ φ + α(Φ_K(φ) − φ)`` (Φ_K: K inner steps) depends on the
phase k mod K and resets θ; a per-step lift would jump. Models, on the clock **α·h per inner step**
(h the inner optimizer's time per step; a cycle covers αKh):

* ``limit`` (leading order): the inner optimizer's own limit flow ``ẋ = F(x)``, since a cycle moves
  φ by ``α(Φ_K(φ) − φ) = αKh·F(φ) + O(h²)``;
* ``modified`` (GD inner steps, lr η): ``ẋ = −∇[f + η/4·(1 − K(1 − α))·|∇f|²]``, from matching
  ``Φ_K(φ) − φ = −Kη∇f + η²K(K − 1)/2·H∇f + O(η³)`` with the flow over ``αKη``. α = 1 gives GD's
  η/4 and K = 1 GD with step αη; the defaults give −1.5·η/4 (the penalty reversed).

The iterates meet these models at cycle ends (mid-cycle θ runs ahead at speed 1/α).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.base import Flow
from .base import Optimizer
from .hyper import hyper
from .wrappers import COMPOSED, SPELLING, configure

__all__ = ["Lookahead", "lookahead", "LookaheadLimitFlow", "LookaheadModifiedFlow"]

#: The spec setting that puts Lookahead around an optimizer (:mod:`simulate.optimizers.wrappers`).
SETTING = "lookahead"


@dataclass(frozen=True)
class Lookahead(Optimizer):
    """``inner`` with slow weights (see the module's docstring)."""

    inner: Optimizer = None
    k: float = hyper(5, ">= 1", note="inner steps per cycle", slider=(1, 20), whole=True)
    alpha: float = hyper(0.5, "(0, 1]", note="the slow weights' step toward the fast ones", slider=(0.05, 1.0))

    default_flow: ClassVar[str] = "limit"
    scales_its_update: ClassVar[bool] = False  # θ is reset to φ: a coordinate's update is not the inner one's
    step_varies: ClassVar[str] = "slow weights move every k-th step"

    def __post_init__(self):
        if not isinstance(self.inner, Optimizer):
            raise ValueError(f"lookahead: the inner optimizer must be an optimizer, got {self.inner!r}")
        super().__post_init__()

    def _validate(self):
        k = np.asarray(self.k)
        self._require("k", k == np.floor(k), "must be a whole number of inner steps")
        if "slow" in self.inner.state_names():
            raise ValueError(f"lookahead: {self.inner.display_name} already has a state named 'slow'")

    def __getattr__(self, name):  # the inner optimizer's hyperparameters and family methods
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    # -- what Lookahead is made of ------------------------------------------------------------------
    @property
    def name(self):
        return self.inner.name

    @property
    def display_name(self):
        return self.inner.display_name

    @property
    def short_name(self):
        return f"{self.inner.short_name} + lookahead"

    @property
    def weight_decay(self):
        return self.inner.weight_decay

    @property
    def evaluations_per_step(self):
        return self.inner.evaluations_per_step

    def lookahead_setting(self) -> tuple:
        """The spec setting ``lookahead=(k, alpha)``."""
        return (self.k[()] if self.k.ndim == 0 else self.k, self.alpha[()] if self.alpha.ndim == 0 else self.alpha)

    def _changed(self):
        return {**self.inner._changed(), SETTING: self.lookahead_setting()}

    def setting_fields(self):
        return {**self.inner.setting_fields(), SETTING: ("k", "alpha")}

    @property
    def batch_shape(self):
        own = super().batch_shape
        try:
            return np.broadcast_shapes(self.inner.batch_shape, own)
        except ValueError:
            raise ValueError(f"lookahead: k and alpha of shape {own} do not broadcast against "
                             f"{self.inner.display_name}'s hyperparameters {self.inner.batch_shape}") from None

    def sweepable(self):
        return {**self.inner.sweepable(), **super().sweepable()}

    def member(self, index, batch_shape=None):
        shape = self.batch_shape if batch_shape is None else batch_shape
        pick = (lambda a: np.broadcast_to(a, shape)[index])
        return dataclasses.replace(self, inner=self.inner.member(index, shape), k=pick(self.k), alpha=pick(self.alpha))

    def replace(self, **changes):
        """``k``, ``alpha`` and ``lookahead`` (None: drop it) here; the rest to the inner optimizer."""
        setting = changes.pop(SETTING, self.lookahead_setting())
        if "k" in changes or "alpha" in changes:
            k, alpha = changes.pop("k", self.k), changes.pop("alpha", self.alpha)
            setting = (k, alpha)
        inner = configure(self.inner, **changes) if changes else self.inner
        return inner if setting is None else lookahead(inner, setting)

    def lrs(self, steps):
        return self.inner.lrs(steps)

    def at_lr(self, lr):
        return dataclasses.replace(self, inner=self.inner.at_lr(lr))

    @property
    def time_per_step(self):
        """α·h: a cycle of K inner steps moves φ by α·(K inner steps)."""
        return np.asarray(self.alpha) * np.asarray(self.inner.time_per_step)

    @property
    def clock_formula(self):
        return f"α·{self.inner.clock_formula}"

    def coupled_value(self, x, landscape):
        return self.inner.coupled_value(x, landscape)

    def _coupled_grad(self, x, landscape):
        return self.inner._coupled_grad(x, landscape)

    def _coupled_hess(self, x, landscape):
        return self.inner._coupled_hess(x, landscape)

    # -- the models ------------------------------------------------------------------------------
    def models(self):
        return {"exact": "Lookahead has no exact lift: the cycle map depends on the phase k mod K and resets the "
                         "fast weights (theory §10.8); its models are 'limit' and, for gd inner steps, 'modified'",
                "limit": LookaheadLimitFlow, "modified": LookaheadModifiedFlow}

    # -- the step --------------------------------------------------------------------------------
    def state_names(self):
        *buffers, x = self.inner.state_names()
        return (*buffers, "slow", x)

    def init(self, x0):
        state = self.inner.init(x0)
        x = state.pop("x")
        return {**state, "slow": x.copy(), "x": x}

    def step(self, state, landscape, k):
        new = self.inner.step({n: state[n] for n in self.inner.state_names()}, landscape, k)
        theta, phi = new.pop("x"), state["slow"]
        phi = np.broadcast_to(phi, theta.shape)
        sync = self._b(np.asarray(k % np.asarray(self.k) == 0))
        phi = np.where(sync, phi + self._b(self.alpha) * (theta - phi), phi)
        return {**new, "slow": phi, "x": np.where(sync, phi, theta)}


def lookahead(optimizer: Optimizer, k=5, alpha=0.5) -> Optimizer:
    """``optimizer`` with Lookahead around it; ``k`` may be the setting itself, ``(k, alpha)``. A
    schedule or transforms stay outside (the run reads them there); Lookahead around a Lookahead
    replaces its settings. By name: ``simulate.optimizer("adam(lr=0.01, lookahead=(5, 0.5))")``."""
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"lookahead: put it around an optimizer, e.g. lookahead(simulate.optimizer('adam'), k=5), "
                         f"or use the spec setting 'adam(lookahead=5)'; got {optimizer!r}")
    if isinstance(k, (tuple, list)):
        if len(k) != 2:
            raise ValueError(f"lookahead is k or (k, alpha), got {k!r}")
        k, alpha = k
    opt = optimizer
    if opt.schedule is not None or opt.transformed:  # a wrapper: Lookahead goes inside it
        return configure(opt.inner, **{SETTING: (k, alpha)}, **opt.settings())
    if isinstance(opt, Lookahead):
        opt = opt.inner
    return Lookahead(opt, k, alpha)


COMPOSED[SETTING] = lookahead  # the spec setting lookahead=k or (k, alpha) of every optimizer
SPELLING[SETTING] = ("(5, 0.5)", "Lookahead's slow weights around it, lookahead=k or (k, alpha)")


# ------------------------------------------------------------------------------------------------
class _OnAlphaClock:
    """Models of a Lookahead: the inner optimizer's time per step times α."""

    @property
    def time_per_step(self):
        return np.asarray(self.optimizer.time_per_step)


@dataclass(frozen=True)
class LookaheadLimitFlow(_OnAlphaClock, Flow):
    """The inner optimizer's own limit flow ``ẋ = F(x)`` (state ``(x,)``), on the clock α·h."""

    kind: ClassVar[str] = "limit"

    @classmethod
    def unsupported(cls, opt):
        from ..models import available_flows

        inner = opt.inner
        if "limit" not in available_flows(inner):
            return f"{inner.display_name} has no limit flow to carry"
        if cls._inner_model(inner).state_names() != ("x",):
            return f"the leading-order model carries a limit on x alone; {inner.display_name}'s has more state"
        return None

    @classmethod
    def _inner_model(cls, inner):
        from ..models import flow

        return flow(inner, "limit")

    @property
    def model(self):
        return self._inner_model(self.optimizer.inner).smoothed(self.smoothing)  # a Filippov solve smooths it

    @property
    def discontinuous(self):  # the inner model's switches are this flow's (Flow's class attribute, per inner)
        return self.model.discontinuous

    def needs_smoothing(self, delta):
        return self.model.needs_smoothing(delta)

    @property
    def regularization(self):
        return self.model.regularization

    @property
    def energy_name(self):
        return self.model.energy_name

    def init(self, x0, landscape):
        return self.model.init(x0, landscape)

    def field(self, t, state, landscape):
        return self.model.field(t, state, landscape)

    def jacobian(self, t, state, landscape):
        return self.model.jacobian(t, state, landscape)

    @property
    def has_jacobian(self):
        return self.model.has_jacobian

    def energy(self, t, state, landscape):
        return self.model.energy(t, state, landscape)


@dataclass(frozen=True)
class LookaheadModifiedFlow(_OnAlphaClock, Flow):
    r"""GD inner steps, lr η: ``ẋ = −∇[f + c·η·|∇f|²]``, ``c = (1 − K(1 − α))/4``, on the clock α·η."""

    kind: ClassVar[str] = "modified"
    expected_order: ClassVar[float] = 2.0
    energy_name: ClassVar[str] = "modified loss f̃"

    @classmethod
    def unsupported(cls, opt):
        inner = opt.inner
        gd = inner.lift_is_gradient_flow() and hasattr(inner, "modified_coefficients") and \
            np.all(np.asarray(inner.modified_coefficients()[1]) == 1) and np.all(inner.modified_coefficients()[0] == 0.25)
        return None if gd else f"Lookahead's modified flow is derived for gd inner steps, not {inner.display_name}"

    def caveat(self, landscape, x0, horizon):
        return ("the fast weights run O(h) ahead of the slow ones within a cycle: the model is met at the cycle ends "
                "(every k-th step), and over all steps the distance is O(h)", 1.0)

    def coefficient(self):
        opt = self.optimizer
        return (1 - np.asarray(opt.k) * (1 - np.asarray(opt.alpha))) / 4

    def field(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        g, H = self._g(x, landscape), self._H(x, landscape)
        c = opt._b(self.coefficient() * np.asarray(opt.inner.lr))
        return {"x": -(g + 2 * c * np.einsum("...ij,...j->...i", H, g))}

    def energy(self, t, state, landscape):
        g = self._g(state["x"], landscape)
        c = self.coefficient() * np.asarray(self.optimizer.inner.lr)
        return self._f(state["x"], landscape) + c * np.einsum("...i,...i->...", g, g)
