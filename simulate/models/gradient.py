r"""Models that several optimizer families share, each asking the optimizer for its coefficients.

* :class:`ScaledGradientFlow` (``limit``): ``ẋ = −c·(∇f + λx)``, the lr → 0 limit of the SGD
  family (``c = (1 − τ)/(1 − μ)``; Kovachki & Stuart 2021) and the gradient flow the ODE schemes
  integrate (``c = 1``).
* :class:`SignFlow` (``limit``): ``ẋ = −c·g/(|g| + ε)``, the β-fixed limit of RMSprop and Adam
  (Ma, Wu & E 2020); AdamW adds ``−λx``.
* :class:`ModifiedGradientFlow` (``modified``): ``ẋ = −speed·∇f̃``, ``f̃ = f + c·lr·|∇f|²``, the
  first-order modified equation of GD, heavy ball, Nesterov and proximal point.
* :class:`CorrectedFlow` (``modified``): ``ż = F + lr·C(z)``, the game methods' modified fields.

The optimizer supplies ``limit_speed()``, ``modified_coefficients()`` or ``correction()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Flow

__all__ = ["ScaledGradientFlow", "SignFlow", "ModifiedGradientFlow", "CorrectedFlow"]


@dataclass(frozen=True)
class ScaledGradientFlow(Flow):
    """``ẋ = −c·(∇f + λx)`` with ``c = optimizer.limit_speed()``: the lr → 0 limit with β fixed."""

    kind: ClassVar[str] = "limit"
    energy_name: ClassVar[str] = "f"

    @property
    def expected_order(self) -> float:
        # For the ODE schemes the limit is the gradient flow they integrate: their own order.
        return float(self.optimizer.method_order)

    @property
    def time_per_step(self):
        return np.asarray(self.optimizer.time_per_step)

    @property
    def is_gradient_flow(self) -> bool:
        return self.optimizer.lift_is_gradient_flow()

    def _speed(self):
        return self.optimizer._b(self.optimizer.limit_speed())

    def caveat(self, landscape, x0, horizon):
        # β fixed: the iterates reach this limit once the momentum's memory h/(1 − β) is short
        # against the fastest mode's time 1/(c·λ) (theory §2.3: real roots need lr·λ < (1 − √β)²);
        # before that the error shrinks faster than h and the slope rises to its order from below.
        memory = self.ema_memory()
        if memory == 0:
            return None
        try:
            lam = float(np.max(np.abs(np.linalg.eigvalsh(self._H(np.asarray(x0, np.float64), landscape)))))
        except (ValueError, np.linalg.LinAlgError, NotImplementedError):
            return None
        size = float(np.max(self.time_per_step)) * memory * float(np.max(self._speed())) * lam
        return ("β is held fixed, and the limit holds once the momentum's memory of 1/(1 − β) steps is short "
                "against the fastest mode's time (lr·λ/(1 − β)² ≪ 1)", size)

    def field(self, t, state, landscape):
        return {"x": -self._speed() * self._g(state["x"], landscape)}

    def jacobian(self, t, state, landscape):
        return -np.asarray(self._speed())[..., None] * self._H(state["x"], landscape)

    def energy(self, t, state, landscape):
        return self._f(state["x"], landscape)


@dataclass(frozen=True)
class SignFlow(Flow):
    """``ẋ = −c·g/(|g| + ε)`` (``c = optimizer.limit_speed()``): v relaxes to g² as lr → 0 with β
    fixed. With decoupled weight decay (AdamW) g is the plain gradient and ``−λx`` is added.

    With torch's ε = 1e-8 this is a sign field: its Jacobian grows like ∇²f/ε where a component of g
    crosses 0, and the solver crawls (Rosenbrock's valley: a minute of LSODA). Where ε is below the
    solver's switching width δ (:meth:`needs_smoothing`) it is integrated as a Filippov flow: written
    ``sign(g)·|g|/(|g| + ε)`` with the sign smoothed to ``tanh(g/δ)``, which leaves the field
    unchanged to rounding where every |gᵢ| ≫ δ (``1 − tanh(20) < 1e-17``) and is, inside the
    layers, sign-gd's regularization, O(δ) from the ε-flow there (the record states it)."""

    kind: ClassVar[str] = "limit"
    energy_name: ClassVar[str] = "f"

    def needs_smoothing(self, delta):
        # the field's own switching width is ε: far below δ, the plain solve is a stiff sign field's
        return bool(np.any(np.asarray(self.optimizer.eps) < delta))

    @property
    def regularization(self) -> str:
        return "g/(|g|+ε) = sign(g)·|g|/(|g|+ε), sign→tanh(·/δ)"

    @property
    def time_per_step(self):
        return np.asarray(self.optimizer.time_per_step)

    def _grad(self, x, landscape):
        return landscape.grad(x) if self.optimizer._decoupled else self._g(x, landscape)

    def caveat(self, landscape, x0, horizon):
        # β fixed: v tracks g² only once the averages' memory of 1/(1 − β₂) steps is short
        # against the run; the iterates meanwhile lag the sign flow by more than O(h).
        memory = self.ema_memory()
        if memory == 0:
            return None
        return ("the betas are held fixed, and the sign flow holds once the averages' memory of 1/(1 − β) steps "
                "is short against the horizon (lr/((1 − β)·T) ≪ 1)",
                float(np.max(self.time_per_step)) * memory / float(horizon))

    def field(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        g = self._grad(x, landscape)
        a = np.abs(g)
        s = self.sign(g) * a if self.smoothing else g  # sign(g)·|g| = g: the plain field as written
        dx = -opt._b(opt.limit_speed()) * s / (a + opt._b(opt.eps))
        if opt._decoupled:
            dx = dx - opt._b(opt.weight_decay) * x
        return {"x": dx}

    def jacobian(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        H = landscape.hess(x) if opt._decoupled else self._H(x, landscape)
        g = self._grad(x, landscape)
        eps = opt._b(opt.eps)
        a = np.abs(g)
        slope = eps / (a + eps) ** 2  # d/dg of g/(|g| + ε)
        if self.smoothing:  # of tanh(g/δ)·|g|/(|g| + ε)
            th = np.tanh(g / self.smoothing)
            slope = (1 - th * th) / self.smoothing * a / (a + eps) + np.abs(th) * slope
        J = -(opt._b(opt.limit_speed()) * slope)[..., :, None] * H
        if opt._decoupled:
            J = J - np.asarray(opt.weight_decay)[..., None, None] * np.eye(x.shape[-1])
        return J

    def energy(self, t, state, landscape):
        opt = self.optimizer
        if opt._decoupled and np.any(opt.weight_decay != 0):
            return None  # AdamW's −λx term is not a descent direction of f
        return self._f(state["x"], landscape)


@dataclass(frozen=True)
class ModifiedGradientFlow(Flow):
    r"""First-order modified equation (backward error analysis), lr fixed inside the field:
    ``ẋ = −speed·∇f̃``, ``f̃ = f + c·lr·|∇f|²``, ``(c, speed, lag) = optimizer.modified_coefficients()``.

    The iterates stay O(lr²) from it. Started from a zero momentum buffer the iterates lag the
    flow's slow manifold by ``lag`` steps: the flow starts at ``x₀ + lr·lag·speed·∇f(x₀)``, and the
    fast mode still decays from an O(lr) size, so ``order`` measures such flows with the ``late``
    metric.
    """

    kind: ClassVar[str] = "modified"
    expected_order: ClassVar[float] = 2.0
    energy_name: ClassVar[str] = "modified loss f̃"

    def coefficient(self) -> tuple[np.ndarray, np.ndarray]:
        """``(c, speed)``: ``f̃ = f + c·lr·|∇f|²`` and ``ẋ = −speed·∇f̃`` (per batch member)."""
        c, speed, _ = self.optimizer.modified_coefficients()
        return c, speed

    def lag(self) -> np.ndarray:
        """Steps by which iterates started from a zero buffer trail the flow."""
        return np.asarray(self.optimizer.modified_coefficients()[2])

    @property
    def preferred_metric(self) -> str:
        return "late" if np.any(self.lag() != 0) else "max"

    def init(self, x0, landscape):
        x = self.optimizer._start(x0)
        lag = self.lag()
        if np.any(lag != 0):
            opt = self.optimizer
            _, speed = self.coefficient()
            x = x + opt._b(opt.lr * lag * speed) * self._g(x, landscape)
        return {"x": x}

    def field(self, t, state, landscape):
        x = state["x"]
        lr = self.optimizer._b(self.optimizer.lr)
        g, H = self._g(x, landscape), self._H(x, landscape)
        c, speed = (self.optimizer._b(v) for v in self.coefficient())
        return {"x": -speed * (g + 2 * c * lr * np.einsum("...ij,...j->...i", H, g))}

    def energy(self, t, state, landscape):
        x = state["x"]
        g = self._g(x, landscape)
        c, _ = self.coefficient()
        return self._f(x, landscape) + c * np.asarray(self.optimizer.lr) * np.einsum("...i,...i->...", g, g)


@dataclass(frozen=True)
class CorrectedFlow(Flow):
    """``ż = F + lr·C(z)``: F the method's own field (−ξ; consensus's −ξ − γJᵀξ) and C its
    ``correction`` (the game methods of :mod:`simulate.optimizers.gameplay`)."""

    kind: ClassVar[str] = "modified"
    expected_order: ClassVar[float] = 2.0

    def field(self, t, state, landscape):
        opt = self.optimizer
        lr = opt._b(opt.lr)
        return {"x": opt.field(t, state, landscape)["x"] + lr * opt.correction(state["x"], landscape)}
