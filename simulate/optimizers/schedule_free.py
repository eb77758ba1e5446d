r"""Schedule-Free SGD and AdamW (Defazio et al., "The road less scheduled", NeurIPS 2024): the
``schedulefree`` package's ``SGDScheduleFree`` and ``AdamWScheduleFree`` (version 1.4.1), in train mode.

Three sequences, ``x₀ = z₀ = y₀ = θ₀``, step k = 1, 2, …::

    y = (1 − β)·z + β·x                                          (the gradient point)
    γ_k = lr·min(1, k/warmup_steps);   w_k = k^r·(max_{j≤k} γ_j)^p;   c_k = w_k / Σ_{j≤k} w_j
    SGD:    d = ∇f(y) + λy
    AdamW:  v ← β₂·v + (1 − β₂)·∇f(y)²;   d = ∇f(y)/(√(v/(1 − β₂ᵏ)) + ε) + λy
    z ← z − γ_k·d                                                (the base sequence)
    x ← (1 − c_k)·x + c_k·z                                      (the average: evaluate here)

(β is SGD's ``momentum`` or AdamW's ``betas[0]``: an interpolation weight, not an EMA; p is
``weight_lr_power``; constant lr and r = 0 give c_k = 1/k, x the running mean of z.)

**Which point is the iterate.** The package's parameter holds y during training (it updates
``y ← lerp(y, z, c_k) + γ_k(β(1 − c_k) − 1)·d``, ``z ← z − γ_k·d`` and never forms x) and x after
``eval()``, which sets ``p ← lerp(y, z, 1 − 1/β)``. Here **x is the iterate** (``state["x"]``, the
trajectory, its loss): it is the point the method is evaluated at, and the point the continuous
models below are written for. The state also carries **y** and **z**, updated with the package's
own operations so that y is its train-mode parameter to the last bit, and x is formed from them as
``eval()`` forms it (hence β > 0). State ``(z, y, x)`` for SGD, ``(v, z, y, x)`` for AdamW.

**Exact lift** (theory §10.7), state ``(v), z, x`` in that order (y is not a component: it is
``(1 − β)z + βx`` of the newest values), ``h = lr``, ``κ = t/h + 1``::

    v̇ = (1 − β₂)(∇f(y)² − v)/lr,   ż = −(γ(κ)/lr)·d(y),   ẋ = (c(κ)/h)·(z − x)

with ``γ(κ) = lr·min(1, κ/warmup)`` and ``c(κ) = w(κ)/S(κ)``, ``S`` the cumulative weight
interpolated linearly between whole κ (``S(κ) = κ·w`` when the weights are constant, so
``ẋ = (z − x)/(t + h)``). One semi-implicit Euler step of it is one step of the paper form, which
is the package's x to rounding.

**Limit** (lr → 0, β fixed; kind ``limit``), state ``(z, x)``: ``ż = −D(y)``,
``ẋ = (1 + r)(z − x)/t`` (``c_k ≈ (1 + r)/k``), ``D`` = ``∇f + λy`` (SGD) or the sign-like
``∇f/(|∇f| + ε) + λy`` (AdamW, v → ∇f(y)² at fixed β₂). Warmup covers a time ``warmup·lr → 0`` and
drops out. Eliminating ``z = x + tẋ/(1 + r)`` gives, for r = 0,
``t·ẍ + 2ẋ + ∇f(x + (1 − β)tẋ) = 0``, regular at t = 0 with ``ẋ(0) = −D(x₀)/2``
(``−(1 + r)/(2 + r)·D(x₀)`` in general). On ``f = a/2·x²``:
``x(t) = x₀·₁F₁(1/(1 − β); 2; −a(1 − β)t)``.

Averaging weights under a schedule wrapper: the package's ``lr_max`` is the largest lr so far; a
step run at ``at_lr`` sees a constant lr, so the weights are those of a constant lr (the same as
the package's for any non-increasing schedule).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.base import Flow
from .base import Optimizer, _assemble, _diag
from .hyper import hyper, lr_hyper, weight_decay_hyper
from .kernels import lerp

__all__ = ["ScheduleFreeSGD", "ScheduleFreeAdamW", "ScheduleFreeLimitFlow"]

#: Elementwise ``math.pow`` (libm's pow, what the package's Python floats compute).
_libm_pow = np.frompyfunc(math.pow, 2, 1)


def _pow(a, b) -> np.ndarray:
    return np.asarray(_libm_pow(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)), dtype=np.float64)


@functools.lru_cache(maxsize=64)
def _weights(n: int, lr: bytes, warmup: bytes, r: bytes, p: bytes, shape: tuple) -> tuple[np.ndarray, ...]:
    """``(γ_k, w_k, S_k)`` for k = 0..n, each ``(n + 1,) + shape`` (row 0: zeros), computed as the
    package computes them in Python floats: ``w_k = k^r·lr_max^p``, ``S_k`` summed one after the other."""
    lr, warmup, r, p = (np.frombuffer(b, dtype=np.float64).reshape(shape) for b in (lr, warmup, r, p))
    k = np.arange(1, n + 1, dtype=np.float64).reshape((n,) + (1,) * len(shape))
    sched = np.where(k <= warmup, k / np.where(warmup > 0, warmup, 1.0), 1.0)
    gamma = lr * sched  # non-decreasing in k: lr_max = max(γ_j, j ≤ k) is γ_k itself
    w = _pow(k, r) * _pow(gamma, p)
    zero = np.zeros((1,) + shape)
    return tuple(np.concatenate([zero, a]) for a in (gamma, w, np.add.accumulate(w, axis=0)))


def _warmup_hyper():
    return hyper(0, ">= 0", note="a linear warmup of lr over these steps", slider=(0, 100), whole=True)


def _r_hyper():
    return hyper(0.0, ">= 0", note="the averaging weights grow as k^r", slider=(0.0, 4.0))


def _power_hyper():
    return hyper(2.0, ">= 0", note="the averaging weights grow as lr_max^p", slider=(0.0, 4.0))


@dataclass(frozen=True)
class _ScheduleFree(Optimizer):
    """The shared three-sequence step, lift and limit; a family says its β and its direction d."""

    default_flow: ClassVar[str] = "exact"
    # the update moves x, y and z together: scaling x's move alone would break y = (1 − β)z + βx
    scales_its_update: ClassVar[bool] = False
    step_varies: ClassVar[str] = "averaging weight c_k changes every step"

    @classmethod
    def models(cls):
        return {**super().models(), "limit": ScheduleFreeLimitFlow}

    @property
    def interpolation(self) -> np.ndarray:
        """β of ``y = (1 − β)z + βx``."""
        raise NotImplementedError

    def _validate(self):
        w = np.asarray(self.warmup_steps)
        self._require("warmup_steps", w == np.floor(w), "must be a whole number of steps")

    # -- the averaging weights ------------------------------------------------------------------
    def _table(self, n: int):
        n = max(64, 1 << (int(n) - 1).bit_length())  # grown by doubling: a run rebuilds it log(steps) times
        shape = self.batch_shape
        key = (np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.float64), shape)).tobytes()
               for v in (self.lr, self.warmup_steps, self.r, self.weight_lr_power))
        return _weights(n, *key, shape)

    def schedule_at(self, k):
        """``(γ_k, c_k)`` at the whole step k (the package's numbers, bit for bit), of the batch shape."""
        gamma, w, S = self._table(k)
        return gamma[k], w[k] / S[k]

    def schedule_along(self, kappa):
        """``(γ(κ), c(κ))`` at a real ``κ ≥ 1`` (an array of the batch shape, or a number): the
        weights' continuous extension, ``S`` linear between whole κ; the package's at whole κ."""
        kappa = np.asarray(kappa, dtype=np.float64)
        shape = np.broadcast_shapes(kappa.shape, self.batch_shape)
        kappa = np.broadcast_to(kappa, shape)
        whole = np.floor(kappa).astype(int)
        S = self._table(int(np.max(whole)) + 1)[2]
        S = np.broadcast_to(S.reshape(S.shape[:1] + (1,) * (len(shape) - S.ndim + 1) + S.shape[1:]), S.shape[:1] + shape)
        S_low = np.take_along_axis(S, whole[None], axis=0)[0]
        W = np.asarray(self.warmup_steps)
        gamma = np.asarray(self.lr) * np.where(kappa <= W, kappa / np.where(W > 0, W, 1.0), 1.0)
        w = kappa ** np.asarray(self.r) * gamma ** np.asarray(self.weight_lr_power)
        # S(κ) = S(⌊κ⌋) + (κ − ⌊κ⌋)·w(⌊κ⌋ + 1); at whole κ it is S_k, and c = w_k/S_k
        w_next = (whole + 1.0) ** np.asarray(self.r) * (np.asarray(self.lr) * np.where(
            whole + 1.0 <= W, (whole + 1.0) / np.where(W > 0, W, 1.0), 1.0)) ** np.asarray(self.weight_lr_power)
        return gamma, w / (S_low + (kappa - whole) * w_next)

    # -- the direction d (a family's own) -------------------------------------------------------
    def _moments(self, y, g, state, k):
        """The buffers before z (AdamW's v) after step k's update, from the gradient at y."""
        return {}

    def direction(self, y, g, buffers, k):
        """d at the gradient point y with gradient g and the new buffers (k: the step, real in the lift)."""
        raise NotImplementedError

    def limit_direction(self, y, g):
        """D of the limit ``ż = −D(y)``."""
        raise NotImplementedError

    def limit_direction_jacobian(self, y, landscape):
        """dD/dy, ``(..., d, d)``."""
        raise NotImplementedError

    def _decayed(self, y, d):
        """``d + λy`` (weight decay at the gradient point; skipped where λ = 0, as the package does)."""
        if self._decay_free:
            return d
        wd = self._b(self.weight_decay)
        return np.where(wd != 0, d + wd * y, d)

    # -- the discrete step (the package's operations) --------------------------------------------
    def init(self, x0):
        x = self._start(x0)
        return {**{n: np.zeros_like(x) for n in self.state_names()[:-3]}, "z": x.copy(), "y": x.copy(), "x": x}

    def step(self, state, landscape, k):
        y, z = state["y"], state["z"]
        g = landscape.grad(y)
        buffers = self._moments(y, g, state, k)
        d = self.direction(y, g, buffers, k)
        gamma, c = (self._b(a) for a in self.schedule_at(k))
        beta = self._b(self.interpolation)
        y = lerp(y, z, c)
        y = y + (gamma * (beta * (1 - c) - 1)) * d
        z = z - gamma * d
        return {**buffers, "z": z, "y": y, "x": lerp(y, z, 1 - 1 / beta)}  # eval()'s x

    # -- the exact lift on (v), z, x ----------------------------------------------------------------
    def lift_state_names(self):
        return tuple(n for n in self.state_names() if n != "y")

    def flow_init(self, x0, landscape):
        state = self.init(x0)
        return {n: state[n] for n in self.lift_state_names()}

    def gradient_point(self, state):
        beta = self._b(self.interpolation)
        return (1 - beta) * state["z"] + beta * state["x"]

    def field(self, t, state, landscape):
        h = self._b(self.time_per_step)
        kappa = np.asarray(t) / np.asarray(self.time_per_step) + 1
        gamma, c = (self._b(a) for a in self.schedule_along(kappa))
        y = self.gradient_point(state)
        g = landscape.grad(y)
        out = {n: (v - state[n]) / h for n, v in self._moments(y, g, state, kappa).items()}
        d = self.direction(y, g, {n: state[n] for n in out}, kappa)
        out["z"] = -(gamma / self._b(self.lr)) * d
        out["x"] = (c / h) * (state["z"] - state["x"])
        return out


@dataclass(frozen=True)
class ScheduleFreeSGD(_ScheduleFree):
    r"""Schedule-Free SGD: ``schedulefree.SGDScheduleFree`` (train mode), ``d = ∇f(y) + λy``.

    See :mod:`simulate.optimizers.schedule_free` for the three sequences, the iterate (x, the
    average; y and z in the state), the exact lift and the limit
    ``t·ẍ + 2ẋ + ∇f(x + (1 − β)tẋ) = 0``.
    """

    name: ClassVar[str] = "schedule-free-sgd"
    description: ClassVar[str] = ("Schedule-Free SGD (schedulefree): gradient at y = (1-β)z + βx, z an SGD sequence, "
                                  "x its weighted average; limit t·x'' + 2x' + grad f(x + (1-β)t·x') = 0")

    lr: float = lr_hyper(1.0)
    momentum: float = hyper(0.9, "(0, 1)", note="the interpolation weight β of y = (1 − β)z + βx",
                            slider=(0.01, 0.99))
    weight_decay: float = weight_decay_hyper()
    warmup_steps: float = _warmup_hyper()
    r: float = _r_hyper()
    weight_lr_power: float = _power_hyper()

    @property
    def interpolation(self):
        return self.momentum

    def state_names(self):
        return ("z", "y", "x")

    def direction(self, y, g, buffers, k):
        return self._decayed(y, g)

    def limit_direction(self, y, g):
        return self._decayed(y, g)

    def limit_direction_jacobian(self, y, landscape):
        return self._coupled_hess(y, landscape)



@dataclass(frozen=True)
class ScheduleFreeAdamW(_ScheduleFree):
    r"""Schedule-Free AdamW: ``schedulefree.AdamWScheduleFree`` (train mode)::

        v ← β₂·v + (1 − β₂)·∇f(y)²;   d = ∇f(y)/(√(v/(1 − β₂ᵏ)) + ε) + λy

    (weight decay at y, after the normalization; no first moment: β₁ is the interpolation weight).
    Lift: ``v̇ = (1 − β₂)(∇f(y)² − v)/lr`` first, bias correction at ``κ = t/lr + 1``. Limit at fixed
    betas: ``ż = −∇f(y)/(|∇f(y)| + ε) − λy``. See :mod:`simulate.optimizers.schedule_free`.
    """

    name: ClassVar[str] = "schedule-free-adamw"
    description: ClassVar[str] = ("Schedule-Free AdamW (schedulefree): Adam's normalized step on z at y = (1-β1)z + β1x, "
                                  "x the weighted average of z")

    lr: float = lr_hyper(0.0025)
    betas: tuple = hyper((0.9, 0.999), "[0, 1)", pair=True, names=("beta1", "beta2"),
                         slider=((0.01, 0.99), (0.9, 0.9999)))
    eps: float = hyper(1e-8, "> 0", note="it guards the division by √v", slider=(1e-10, 1e-1, "log"))
    weight_decay: float = weight_decay_hyper()
    warmup_steps: float = _warmup_hyper()
    r: float = _r_hyper()
    weight_lr_power: float = _power_hyper()

    @property
    def interpolation(self):
        return self.betas[0]

    def _validate(self):
        super()._validate()
        self._require("betas[0]", np.asarray(self.betas[0]) > 0,
                      "must be > 0 (x = y + (1 − 1/β₁)(z − y) is formed from y and z)")

    def state_names(self):
        return ("v", "z", "y", "x")

    def _moments(self, y, g, state, k):
        b2 = self._b(self.betas[1])
        return {"v": state["v"] * b2 + (1 - b2) * g * g}

    def direction(self, y, g, buffers, k):
        b2 = self.betas[1]
        if np.issubdtype(np.asarray(k).dtype, np.integer):
            correction = 1 - _pow(b2, k)  # the package's Python float pow
        else:
            correction = 1 - np.asarray(b2) ** k
        d = g / (np.sqrt(buffers["v"] / self._b(correction)) + self._b(self.eps))
        return self._decayed(y, d)

    def limit_direction(self, y, g):
        return self._decayed(y, g / (np.abs(g) + self._b(self.eps)))

    def limit_direction_jacobian(self, y, landscape):
        g, eps = landscape.grad(y), self._b(self.eps)
        J = (eps / (np.abs(g) + eps) ** 2)[..., :, None] * landscape.hess(y)
        return J + np.asarray(self.weight_decay)[..., None, None] * np.eye(y.shape[-1])


@dataclass(frozen=True)
class ScheduleFreeLimitFlow(Flow):
    r"""The lr → 0 limit at fixed β (theory §10.7), time per step lr::

        ż = −D(y),   ẋ = (1 + r)(z − x)/t,   y = (1 − β)z + βx

    ``D = ∇f + λy`` (SGD), ``∇f/(|∇f| + ε) + λy`` (AdamW). It is written on the state ``(e, x)``,
    ``e = z − x`` (the same ODE: ``ė = −D(y) − (1 + r)e/t``), because e is O(t) near the start and
    ``e/t`` is then computed from a small number with a small relative error, where ``(z − x)/t``
    from two O(1) numbers loses every digit as t → 0 (an integrator fails there). At t = 0,
    ``e = 0`` and the field takes its limit ``ẋ(0) = −(1 + r)/(2 + r)·D(x₀)``, ``ė(0) = −D(x₀)/(2 + r)``
    (from ``e ≈ t·ė(0)``). For r = 0 this is ``t·ẍ + 2ẋ + D(x + (1 − β)tẋ) = 0``.
    """

    kind: ClassVar[str] = "limit"

    def state_names(self):
        return ("e", "x")

    def init(self, x0, landscape):
        x = self.optimizer._start(x0)
        return {"e": np.zeros_like(x), "x": x}

    def field(self, t, state, landscape):
        opt = self.optimizer
        e, x = state["e"], state["x"]
        y = x + (1 - opt._b(opt.interpolation)) * e
        D = opt.limit_direction(y, landscape.grad(y))
        r, tt = opt._b(opt.r), opt._b(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            dx = np.where(tt > 0, (1 + r) * e / tt, -(1 + r) / (2 + r) * D)
        return {"e": -D - dx, "x": dx}

    def jacobian(self, t, state, landscape):
        opt = self.optimizer
        e, x = state["e"], state["x"]
        b = 1 - opt._b(opt.interpolation)
        y = x + b * e
        J = opt.limit_direction_jacobian(y, landscape)
        r, tt = opt._b(opt.r), opt._b(t)
        one = np.ones_like(x)
        if np.all(tt > 0):
            dxde, dxdx = _diag((1 + r) / tt * one), np.zeros_like(J)
        else:  # the t → 0 limit −(1 + r)/(2 + r)·D(x + (1 − β)e)
            dxde, dxdx = -((1 + r) / (2 + r) * b)[..., None] * J, -((1 + r) / (2 + r))[..., None] * J
        return _assemble(("e", "x"), {("e", "e"): -b[..., None] * J - dxde, ("e", "x"): -J - dxdx,
                                      ("x", "e"): dxde, ("x", "x"): dxdx}, x.shape)
