r"""The Polyak step: steering by the target value f* (Polyak 1987), and its target-value flow.

Update, ``g = ∇f(x)``::

    x ← x − c·(f(x) − f*)/‖g‖²·g            c ∈ (0, 2), classically 1

and the iterate stays where ``g = 0`` (a step of 0, never NaN: at a stationary point with f > f*
the step is undefined, and the method has nowhere to go).

Exact lift, **time per step h = c** (theory §10.10): the target-value flow

    ẋ = −(f − f*)·∇f/‖∇f‖²,

the minimum-norm solution of ``⟨∇f, ẋ⟩ = −(f − f*)``: a continuous Newton method for the scalar
equation f = f*. The step is its explicit Euler step with h = c. Along the flow, while ∇f ≠ 0,
``d(f − f*)/dt = −(f − f*)``, so ``f(x(t)) − f* = (f(x₀) − f*)·e^{−t}`` exactly, on any landscape.
For convex f the distance to a minimizer x* obeys ``‖x⁺ − x*‖² ≤ ‖x − x*‖² − c(2 − c)(f − f*)²/‖g‖²``
(from ``⟨g, x − x*⟩ ≥ f − f*``). On a 1-D quadratic one step gives ``f⁺/f = (1 − c/2)²``, against
``e^{−c}`` from the flow: the per-step error is O(c²), and the iterates approach the flow at order 1.

**c is the field ``lr``.** Everything that moves a step size (sweeps, order ladders, run records,
the time per step) reads ``opt.lr``; Polyak's step size *is* c, and c is also the time per step,
exactly as lr is GD's. So the step size is stored under the name every consumer knows, and ``c`` is
its name for people: specs and sweep axes accept ``c`` (``polyak(c=0.5, f_star=0)``,
``--sweep c=0.1:1.9:10``), and labels and specs print ``c``. Giving both ``c`` and ``lr`` is refused.
A protocol in which each optimizer names its step parameter would touch every consumer of ``lr`` for
one optimizer whose step parameter behaves in every respect like lr.

**f*.** ``f_star`` is the target value; a lower bound of f may stand in (the flow then converges
at rate e^{−t} to f*, which the iterates cannot reach: they stall where ∇f = 0, or keep moving).
Not given (None, the default), it is the landscape's lowest listed minimum value; a landscape
that lists no minima is refused with a message asking for ``f_star``.

A target *above* the lowest minimum is no lower bound: since f − f* = (f₀ − f*)e^{−t}, the flow
stops on the level set f = f*, short of every minimum below it, and the iterates (Newton's method
for f = f*) land on that level set and stay (on Himmelblau from (0, 0), f = 170, ``f_star=5`` ends
at f = 5 within 10 steps). The first step says so with a :class:`TargetWarning`. A target above
f(x₀) is refused (the first step and the flow's start): f − f* < 0 there, so the step
−c(f − f*)∇f/‖∇f‖² points uphill and the flow climbs to the level set f = f*.

Source: B. T. Polyak, *Introduction to Optimization* (1987), §5.3; Hazan & Kakade, arXiv 1905.00313.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._signature import Said, warn
from .base import Optimizer, _assemble
from .hyper import hyper, lr_hyper
from .preset import Preset

__all__ = ["Polyak", "TargetWarning", "target_value"]


#: Where the target-value flow's speed (f − f*)/‖∇f‖ passes this many times its start's, it has
#: reached a stationary point above f* (the speed grows like 1/|x − x*| there, and falls to 0 where f*
#: is the minimum value): ~1e-6 of the start's scale from x*, a few 1e-13 of time before t*.
ARRIVAL_SPEED = 1e6


class TargetWarning(Said):
    """A Polyak target f* above the landscape's lowest minimum: the run stops on the level set f = f*."""


def target_value(f_star, landscape) -> np.ndarray:
    """f*: ``f_star`` where given, else (None) the landscape's lowest listed minimum value."""
    if f_star is not None:
        return np.asarray(f_star)
    while not hasattr(landscape, "minima") and hasattr(landscape, "landscape"):
        landscape = landscape.landscape  # a view of it (noisy or clipped gradients): its landscape's minima
    minima = np.asarray(landscape.minima, dtype=np.float64)
    if minima.size == 0:
        raise ValueError(f"polyak needs the target value f_star: the landscape {landscape.name} lists no minima "
                         f"to take the lowest of; give f_star (a lower bound of f may stand in), e.g. "
                         f"polyak(c=1, f_star=0)")
    return np.min(landscape.value(minima))


class _CPreset(Preset):
    """The registry entry: ``c`` is accepted as the name of the field ``lr`` (the module docstring)."""

    def __call__(self, **hyperparameters):
        if "c" in hyperparameters:
            if "lr" in hyperparameters:
                raise ValueError(f"{self.name}: c and lr are the same hyperparameter (the step size c, stored as "
                                 f"lr); give one of them, got c={hyperparameters['c']!r} and lr={hyperparameters['lr']!r}")
            hyperparameters["lr"] = hyperparameters.pop("c")
        return super().__call__(**hyperparameters)


@dataclass(frozen=True)
class Polyak(Optimizer):
    r"""The Polyak step ``x ← x − c·(f − f*)·g/‖g‖²`` (``lr`` is c); exact lift the target-value flow
    ``ẋ = −(f − f*)∇f/‖∇f‖²`` with h = c. See :mod:`simulate.optimizers.polyak`."""

    name: ClassVar[str] = "polyak"
    description: ClassVar[str] = "Polyak step c·(f − f*)/|g|²: target-value flow, f − f* = (f0 − f*)e^(−t) (needs f*)"
    clock_formula: ClassVar[str] = "c"

    lr: float = lr_hyper(1.0, slider=(0.01, 1.99, "log"))
    f_star: float | None = hyper(None)  # None: the landscape's lowest listed minimum value

    @classmethod
    def presets(cls):
        return (_CPreset(cls.name, cls, cls.description),)

    def _cast(self, name, value):
        if name == "f_star" and _not_given(value):
            return None
        return super()._cast(name, value)

    def _elements(self):
        return [e for e in super()._elements() if e[1] is not None]  # f_star not given: no number to check

    def _validate(self):
        bad = np.ravel(self.lr[~(self.lr < 2)])
        if bad.size:
            raise ValueError(f"{self.name}: c (stored as lr) must be in (0, 2), where the step shrinks the distance "
                             f"to a convex f's minimizers, got {', '.join(f'{v:g}' for v in bad[:3])}")

    def sweepable(self):
        return {**super().sweepable(), "c": ("lr", None)}

    def _changed(self):
        out = {("c" if k == "lr" else k): v for k, v in super()._changed().items()}
        return out

    # -- the discrete step and the lift ------------------------------------------------------
    def _direction(self, x, landscape):
        """``(f − f*)·g/‖g‖²``, 0 where g = 0; and its pieces ``(f − f*, g, ‖g‖²)``."""
        g = landscape.grad(x)
        gap = landscape.value(x) - target_value(self.f_star, landscape)
        gg = np.einsum("...i,...i->...", g, g)
        scale = np.divide(gap, gg, out=np.zeros(np.broadcast_shapes(gap.shape, gg.shape)), where=gg > 0)
        return scale[..., None] * g, gap, g, gg

    def step(self, state, landscape, k):
        x = state["x"]
        if k == 1:  # x is the start: the target checked against it once per run
            self._check_target(x, landscape, warn_above_minimum=True)
        return {"x": x - self._b(self.lr) * self._direction(x, landscape)[0]}

    def lift_arrival(self, landscape, x0):
        """With f* below every value of f near a stationary point (a lower bound in place of f*), the
        flow reaches that point in finite time t* = ln((f₀ − f*)/(f(x*) − f*)), its speed
        (f − f*)/‖∇f‖ growing like 1/|x − x*|: it ends there (a solver would spin at t* to its budget).
        Where f* is the minimum value the speed falls to 0 instead and the event never fires."""
        target = target_value(self.f_star, landscape)
        x0 = np.asarray(x0, dtype=np.float64)
        with np.errstate(all="ignore"):
            speed0 = float(np.max(np.abs(landscape.value(x0) - target) / np.linalg.norm(landscape.grad(x0), axis=-1)))
        if not (np.isfinite(speed0) and speed0 > 0):  # a stationary start (it stays) or one at its target
            return None
        bound = ARRIVAL_SPEED * speed0

        def event(t, state):
            x = state["x"]
            return bound * float(np.linalg.norm(landscape.grad(x))) - float(np.max(landscape.value(x) - target))

        return event, (f"reached a stationary point above its target f* (its speed (f − f*)/‖∇f‖ passed "
                       f"{ARRIVAL_SPEED:.0e} times its start's): the flow ends there in finite time and rests")

    def flow_init(self, x0, landscape):
        state = super().flow_init(x0, landscape)
        self._check_target(state["x"], landscape, warn_above_minimum=False)  # the iterates' first step warns
        return state

    def _check_target(self, x0, landscape, warn_above_minimum: bool) -> None:
        """Refuse f* > f(x₀) (the step would climb); warn where f* is above the lowest listed minimum."""
        if self.f_star is None:
            return
        f_star = np.asarray(self.f_star, dtype=np.float64)
        f0 = landscape.value(x0)
        above = np.broadcast_to(f_star, np.broadcast_shapes(f_star.shape, f0.shape)) > f0
        if np.any(above):
            i = np.unravel_index(np.argmax(above), above.shape)
            start = np.broadcast_to(x0, above.shape + x0.shape[-1:])[i]
            target, value = float(np.broadcast_to(f_star, above.shape)[i]), float(np.broadcast_to(f0, above.shape)[i])
            raise ValueError(f"{self.display_name}: f_star={target:g} is above f at the start "
                             f"({', '.join(f'{v:g}' for v in start)}), f(x0)={value:g}: there f − f* < 0, so the "
                             f"step −c(f − f*)∇f/‖∇f‖² points uphill and the flow climbs to the level set "
                             f"f = {target:g}; give a target at most the lowest value of f (a lower bound may "
                             f"stand in), or leave f_star out to use the lowest listed minimum")
        if not warn_above_minimum:
            return
        try:
            lowest = float(target_value(None, landscape))
        except ValueError:  # no minima listed: nothing to compare with
            return
        highest, below = float(np.max(f_star)), float(np.min(f_star))
        if below < lowest - 1e-8 * (1 + abs(lowest)):
            f0 = float(np.max(landscape.value(x0)))
            warn(f"{self.display_name}: f_star={below:g} is below the lowest minimum value of {landscape.name}, "
                 f"f={lowest:g} (a lower bound): the target-value flow reaches a minimum in finite time, "
                 f"t* = ln((f0 − f*)/(f_min − f*)) = {np.log((f0 - below) / (lowest - below)):.4g} from this start, "
                 f"and ends there; near it the steps c·(f − f*)/‖∇f‖ grow, so the iterates overshoot "
                 f"around it", TargetWarning, stacklevel=2)
        if highest > lowest + 1e-8 * (1 + abs(lowest)):
            warn(f"{self.display_name}: f_star={highest:g} is above the lowest minimum value of {landscape.name}, "
                 f"f={lowest:g}: the run stops on the level set f = {highest:g}, not at a "
                 f"minimum (f − f* = (f0 − f*)·e^(−t) along the flow); give f_star <= {lowest:g} (a lower bound "
                 f"may stand in), or leave it out", TargetWarning, stacklevel=2)

    def field(self, t, state, landscape):
        return {"x": -self._direction(state["x"], landscape)[0]}

    def jacobian(self, t, state, landscape):
        r"""``−[g gᵀ/‖g‖² + (f − f*)(H/‖g‖² − 2g(Hg)ᵀ/‖g‖⁴)]``, 0 where g = 0."""
        x = state["x"]
        _, gap, g, gg = self._direction(x, landscape)
        H = landscape.hess(x)
        inv = np.divide(1.0, gg, out=np.zeros_like(gg), where=gg > 0)[..., None, None]
        Hg = np.einsum("...ij,...j->...i", H, g)
        outer = g[..., :, None] * g[..., None, :]
        J = -(outer * inv + gap[..., None, None] * (H * inv - 2 * g[..., :, None] * Hg[..., None, :] * inv * inv))
        return _assemble(("x",), {("x", "x"): J}, x.shape)

    @property
    def lift_energy_name(self):
        return "|f − f*|"

    def lift_energy(self, state, landscape):
        # d|f − f*|/dt = −|f − f*| along the flow while ∇f ≠ 0
        return np.abs(landscape.value(state["x"]) - target_value(self.f_star, landscape))


def _not_given(value) -> bool:
    """None, or an array of Nones (a sweep's grid of an optimizer without f_star)."""
    return value is None or (isinstance(value, np.ndarray) and value.dtype == object
                             and all(v is None for v in value.ravel()))
