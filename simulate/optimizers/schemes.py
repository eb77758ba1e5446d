"""Optimizers built from ODE schemes: Runge–Kutta and implicit Euler on the gradient flow, and NAG-C.

These are not torch.optim optimizers; they make the ODE view's claims testable from the other side.

* :class:`Heun` and :class:`RK4` take explicit Runge–Kutta steps on ``ẋ = −∇f`` (2 and 4 gradient
  evaluations per step). They follow the flow to O(lr²) and O(lr⁴), and so lose GD's implicit
  regularization ``lr/4·|∇f|²`` (theory §2.2, §2.8; Su, kexue.fm 5879).
* :class:`ProximalPoint` is implicit Euler, ``x⁺ = x − lr·∇f(x⁺)``: unconditionally stable on convex
  quadratics, and its modified flow carries the opposite sign, ``f − lr/4·|∇f|²``.
* :class:`NagC` is Nesterov's method for convex functions with the ``(k − 1)/(k + r − 1)``
  momentum schedule, whose limit is Su, Boyd & Candès' ODE ``Ẍ + (r/t)Ẋ + ∇f = 0`` with time per
  step ``√lr`` (not lr).

Each is an :class:`~simulate.optimizers.Optimizer`: same ``init``/``step`` contract, same
hyperparameter arrays. Their ``field`` is the gradient flow (NAG-C has none: its model is the
second-order ODE, :class:`~simulate.optimizers.nagc.NagCFlow`). One step is *not* one Euler step of the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.gradient import ModifiedGradientFlow, ScaledGradientFlow
from .hyper import lr_hyper, weight_decay_hyper
from .base import Optimizer, _assemble

__all__ = ["RungeKutta", "Heun", "RK4", "ProximalPoint", "RK4_STABILITY_LIMIT"]

#: Where RK4's stability polynomial 1 − z + z²/2 − z³/6 + z⁴/24 reaches 1 on the negative real axis.
RK4_STABILITY_LIMIT = 2.785293563405282


@dataclass(frozen=True)
class _GradientFlowScheme(Optimizer):
    """Shared by the schemes on ``ẋ = −(∇f + λx)``: state ``x`` only, time per step ``lr``."""

    lr: float = lr_hyper(1e-2)
    weight_decay: float = weight_decay_hyper()

    @classmethod
    def models(cls):
        return {**super().models(), "limit": ScaledGradientFlow}

    def lift_is_gradient_flow(self):
        return True

    def limit_speed(self):
        return 1.0

    lift_energy_name: ClassVar[str] = "f"

    def lift_energy(self, state, landscape):
        return self.coupled_value(state["x"], landscape)

    def field(self, t, state, landscape):
        return {"x": -self._coupled_grad(state["x"], landscape)}

    def jacobian(self, t, state, landscape):
        x = state["x"]
        return _assemble(("x",), {("x", "x"): -self._coupled_hess(x, landscape)}, x.shape)


@dataclass(frozen=True)
class RungeKutta(_GradientFlowScheme):
    r"""An explicit Runge–Kutta method on the gradient flow, with Butcher tableau ``(a, b)``:
    ``kᵢ = −∇f(x + lr·Σⱼ aᵢⱼ kⱼ)``, ``x⁺ = x + lr·Σᵢ bᵢ kᵢ``; one gradient evaluation per stage."""

    tableau_a: ClassVar[tuple[tuple[float, ...], ...]] = ()
    tableau_b: ClassVar[tuple[float, ...]] = ()
    scales_its_update: ClassVar[bool] = False

    def step(self, state, landscape, k):
        x = state["x"]
        h = self._b(self.lr)
        stages = []
        for row in self.tableau_a:
            y = x
            for a, kj in zip(row, stages):
                if a:
                    y = y + (h * a) * kj
            stages.append(-self._coupled_grad(y, landscape))
        update = sum(b * kj for b, kj in zip(self.tableau_b, stages))
        return {"x": x + h * update}


@dataclass(frozen=True)
class Heun(RungeKutta):
    r"""Heun's method (explicit trapezoid, RK2) on ``ẋ = −∇f``: 2 gradient evaluations per step.

    ``x̃ = x − lr·∇f(x)``, ``x⁺ = x − lr/2·(∇f(x) + ∇f(x̃))``. Local error O(lr³): the iterates follow
    the gradient flow to O(lr²) and GD's regularizer ``lr/4·|∇f|²`` disappears. Stable on a
    quadratic for ``lr·λ ≤ 2`` (|1 − z + z²/2| ≤ 1).
    """

    name: ClassVar[str] = "heun"
    description: ClassVar[str] = "Heun's method (RK2) on the gradient flow: 2 gradients per step, order 2"
    tableau_a: ClassVar = ((), (1.0,))
    tableau_b: ClassVar = (0.5, 0.5)
    evaluations_per_step: ClassVar[int] = 2
    method_order: ClassVar[int] = 2

    def threshold_factor(self):
        return np.asarray(2.0)

    def threshold_factor_formula(self):
        return "2"


@dataclass(frozen=True)
class RK4(RungeKutta):
    r"""Classical Runge–Kutta (RK4) on ``ẋ = −∇f``: 4 gradient evaluations per step, order 4.

    Stable on a quadratic for ``lr·λ ≤ 2.7852935634…`` (where |Σ_{j≤4} (−z)ʲ/j!| = 1).
    """

    name: ClassVar[str] = "rk4"
    description: ClassVar[str] = "classical Runge-Kutta on the gradient flow: 4 gradients per step, order 4"
    tableau_a: ClassVar = ((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0))
    tableau_b: ClassVar = (1 / 6, 1 / 3, 1 / 3, 1 / 6)
    evaluations_per_step: ClassVar[int] = 4
    method_order: ClassVar[int] = 4

    def threshold_factor(self):
        return np.asarray(RK4_STABILITY_LIMIT)

    def threshold_factor_formula(self):
        return "2.785"


@dataclass(frozen=True)
class ProximalPoint(_GradientFlowScheme):
    r"""Implicit Euler on the gradient flow (the proximal point method): ``x⁺ + lr·∇f(x⁺) = x``.

    Solved by Newton's method on ``F(z) = z + lr·∇f(z) − x`` with the exact Hessian, from the GD
    step, to rounding (at most ``newton_steps`` iterations). On a quadratic one Newton step is exact
    and ``x⁺ = (I + lr·A)⁻¹x``: stable for every lr on a convex quadratic. Where ``I + lr·∇²f`` is
    singular or Newton does not converge (non-convex ``f`` with large lr) the step is NaN, which
    a run reports as divergence. Modified flow ``ẋ = −∇(f − lr/4·|∇f|²)`` (the sign of GD's flipped).
    """

    name: ClassVar[str] = "proximal"
    description: ClassVar[str] = "implicit Euler (proximal point) on the gradient flow: stable for every lr on convex f"
    newton_steps: ClassVar[int] = 50
    scales_its_update: ClassVar[bool] = False

    @classmethod
    def models(cls):
        return {**super().models(), "modified": ModifiedGradientFlow}

    def modified_coefficients(self):
        """``f̃ = f − lr/4·|∇f|²`` (GD's sign flipped), speed 1, no lag."""
        return np.asarray(-0.25), np.asarray(1.0), np.asarray(0.0)

    def step(self, state, landscape, k):
        x = state["x"]
        h = self._b(self.lr)[..., None]
        z = x - h[..., 0] * self._coupled_grad(x, landscape)
        eye = np.eye(x.shape[-1])
        for _ in range(self.newton_steps):
            residual = z + h[..., 0] * self._coupled_grad(z, landscape) - x
            J = eye + h * self._coupled_hess(z, landscape)
            try:
                dz = np.linalg.solve(J, residual[..., None])[..., 0]
            except np.linalg.LinAlgError:
                return {"x": np.full_like(x, np.nan)}
            z = z - dz
            if np.all(np.abs(dz) <= 1e-15 * (1 + np.abs(z))):
                return {"x": z}
        small = np.all(np.abs(dz) <= 1e-9 * (1 + np.abs(z)), axis=-1, keepdims=True)
        return {"x": np.where(small, z, np.nan)}  # not converged: report, never return a wrong point
