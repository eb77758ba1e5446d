r"""Sharpness-aware minimization: SAM (Foret et al., ICLR 2021) and unnormalized SAM (USAM;
Andriushchenko & Flammarion, ICML 2022). No torch class: the update is the papers' and davda54/sam's.

Two models each (theory §10.6): the exact lift, the **SAM flow** ``ẋ = −∇f(x + ρ·u(∇f))`` that one
step is an explicit Euler step of (there is no state), and the ``penalty`` flow, first order in ρ:
the gradient flow of ``f + ρ‖∇f‖`` (SAM) or ``f + ρ/2·‖∇f‖²`` (USAM), O(ρ²) from the SAM flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.base import Flow
from .base import Optimizer, _assemble
from .hyper import hyper, lr_hyper

__all__ = ["SAM", "USAM", "PenaltyFlow", "SAM_NORM_GUARD"]

#: davda54/sam's guard in ``ρ/(‖g‖ + 1e-12)``: kept, so that a zero gradient ascends nowhere.
SAM_NORM_GUARD = 1e-12


def _mv(A, v):
    return np.einsum("...ij,...j->...i", A, v)


@dataclass(frozen=True)
class SAM(Optimizer):
    r"""SAM: one ascent step of length ρ along the gradient, then descent with the gradient there.

    Update (davda54/sam's ``first_step``/``second_step`` around SGD), ``g = ∇f(x)``::

        y = x + ρ·g/(‖g‖ + 10⁻¹²)          (USAM: y = x + ρ·g)
        x ← x − lr·∇f(y)

    ‖·‖ is the Euclidean norm over all coordinates. Two gradient evaluations per step.

    Exact lift, ``h = lr``: ``ẋ = −∇f(x + ρ·g/(‖g‖ + 10⁻¹²))``, the same expression (the theory's
    SAM flow has ‖g‖; the guard moves it by 10⁻¹²/‖g‖ relative). One step is its explicit Euler step.
    """

    name: ClassVar[str] = "sam"
    description: ClassVar[str] = "SAM (Foret et al.): descend with the gradient at the ascent point x + ρ∇f/‖∇f‖"
    evaluations_per_step: ClassVar[int] = 2
    _normalized: ClassVar[bool] = True

    lr: float = lr_hyper(1e-2)
    rho: float = hyper(0.05, ">= 0", note="the ascent radius", slider=(0.0, 0.5))

    @classmethod
    def models(cls):
        return {**super().models(), "penalty": PenaltyFlow}

    lift_energy_name: ClassVar[str] = ""

    def ascent(self, x, g) -> np.ndarray:
        """The perturbation: ``ρ·g/(‖g‖ + 10⁻¹²)`` (USAM ``ρ·g``)."""
        rho = self._b(self.rho)
        if not self._normalized:
            return rho * g
        return g * (rho / (np.linalg.norm(g, axis=-1, keepdims=True) + SAM_NORM_GUARD))

    def field(self, t, state, landscape):
        x = state["x"]
        return {"x": -landscape.grad(x + self.ascent(x, landscape.grad(x)))}

    def step(self, state, landscape, k):
        x = state["x"]
        return {"x": x - self._b(self.lr) * landscape.grad(x + self.ascent(x, landscape.grad(x)))}

    def jacobian(self, t, state, landscape):
        r"""``−∇²f(y)·(I + ρ·du/dx)``, u = g/(‖g‖ + e): ``du/dx = (I/n − g gᵀ/(‖g‖n²))·∇²f(x)``, n = ‖g‖ + e."""
        x = state["x"]
        g, H = landscape.grad(x), landscape.hess(x)
        rho = np.asarray(self.rho)[..., None, None]
        eye = np.eye(x.shape[-1])
        if self._normalized:
            norm = np.linalg.norm(g, axis=-1)[..., None, None]
            n = norm + SAM_NORM_GUARD
            with np.errstate(invalid="ignore", divide="ignore"):
                P = eye / n - np.where(norm > 0, g[..., :, None] * g[..., None, :] / (norm * n * n), 0.0)
            du = P @ H
        else:
            du = H
        J = -landscape.hess(x + self.ascent(x, g)) @ (eye + rho * du)
        return _assemble(("x",), {("x", "x"): J}, x.shape)


@dataclass(frozen=True)
class USAM(SAM):
    r"""Unnormalized SAM: ``x ← x − lr·∇f(x + ρ·∇f(x))`` (Andriushchenko & Flammarion 2022).

    On a quadratic ``f = ½xᵀAx`` its flow is exactly ``ẋ = −(A + ρA²)x`` and the iterates are stable
    iff ``lr·(λ + ρλ²) < 2`` for every eigenvalue λ (theory §10.6; tests/test_sam.py).
    """

    name: ClassVar[str] = "usam"
    description: ClassVar[str] = "unnormalized SAM: descend with the gradient at x + ρ∇f"
    _normalized: ClassVar[bool] = False


@dataclass(frozen=True)
class PenaltyFlow(Flow):
    r"""First order in ρ: ``ẋ = −∇f̃``, ``f̃ = f + ρ‖∇f‖`` (SAM) or ``f + ρ/2·‖∇f‖²`` (USAM), i.e.
    ``ẋ = −(∇f + ρ∇²f·∇f/‖∇f‖)`` or ``−(∇f + ρ∇²f·∇f)``. The SAM flow is ``−∇f(x + ρu)``
    = this + O(ρ²) (Taylor in ρ); the iterates approach it as lr → 0 only to that floor. f̃ is
    its Lyapunov function. Time per step lr, ρ fixed on the ladder.
    """

    kind: ClassVar[str] = "penalty"
    energy_name: ClassVar[str] = "f̃ = f + ρ·penalty"

    def caveat(self, landscape, x0, horizon):
        opt = self.optimizer
        x0 = np.asarray(x0, np.float64)
        try:
            lam = float(np.max(np.abs(np.linalg.eigvalsh(landscape.hess(x0)))))
        except (ValueError, np.linalg.LinAlgError, NotImplementedError):
            return None
        size = float(np.max(opt.rho)) * lam * (1.0 if opt._normalized else float(np.linalg.norm(landscape.grad(x0))))
        return ("the model is first order in ρ: the iterates stay O(ρ²) from it however small lr "
                "(ρ·λ ≪ 1 for SAM, ρ·λ·‖∇f‖ ≪ 1 for USAM)", size)

    def field(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        g = landscape.grad(x)
        return {"x": -(g + _mv(landscape.hess(x), opt.ascent(x, g)))}

    def energy(self, t, state, landscape):
        opt = self.optimizer
        g = landscape.grad(state["x"])
        n = np.linalg.norm(g, axis=-1)
        rho = np.asarray(opt.rho)
        return landscape.value(state["x"]) + (rho * n if opt._normalized else 0.5 * rho * n * n)
