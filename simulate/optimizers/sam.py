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

from ..models.base import ExactFlow, Flow
from .base import Optimizer, _assemble
from .hyper import hyper, lr_hyper

__all__ = ["SAM", "USAM", "SamFlow", "PenaltyFlow", "SAM_NORM_GUARD"]

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
        return {**super().models(), "exact": SamFlow, "penalty": PenaltyFlow}

    lift_energy_name: ClassVar[str] = ""

    def ascent(self, x, g, smoothing: float = 0.0) -> np.ndarray:
        """The perturbation: ``ρ·g/(‖g‖ + 10⁻¹²)`` (USAM ``ρ·g``); with ``smoothing`` δ > 0 (how a
        solver integrates the penalty flow, discontinuous at ∇f = 0) ``ρ·g/√(‖g‖² + δ²)``."""
        rho = self._b(self.rho)
        if not self._normalized:
            return rho * g
        norm = np.linalg.norm(g, axis=-1, keepdims=True)
        return g * (rho / (np.sqrt(norm * norm + smoothing * smoothing) if smoothing else norm + SAM_NORM_GUARD))

    def field(self, t, state, landscape, *, smoothing: float = 0.0):
        r"""``−∇f(x + ρu)``; under ``smoothing`` δ (SAM) the mixture
        ``−[(1 + w)·∇f(x + ρu) + (1 − w)·∇f(x − ρu)]/2``, ``w = tanh(‖g‖/δ)``: the field as written
        where ‖g‖ ≫ δ, and across a valley of minima (where u flips to −u) affine in the switch w, so
        that it tends to the Filippov flow as δ → 0 (smoothing u itself, u → g/√(‖g‖² + δ²), would
        stop the flow on the valley: ∇f(x + ρ·0) = 0 there, and lose the drift to flatter minima)."""
        x = state["x"]
        g = landscape.grad(x)
        e = self.ascent(x, g)
        up = landscape.grad(x + e)
        if not (smoothing and self._normalized):
            return {"x": -up}
        w = np.tanh(np.linalg.norm(g, axis=-1, keepdims=True) / smoothing)
        return {"x": -(0.5 * (1 + w) * up + 0.5 * (1 - w) * landscape.grad(x - e))}

    def step(self, state, landscape, k):
        x = state["x"]
        return {"x": x - self._b(self.lr) * landscape.grad(x + self.ascent(x, landscape.grad(x)))}

    def jacobian(self, t, state, landscape, *, smoothing: float = 0.0):
        r"""``−∇²f(y)·(I + ρ·du/dx)``, u = g/(‖g‖ + e): ``du/dx = (I/n − g gᵀ/(‖g‖n²))·∇²f(x)``, n = ‖g‖ + e;
        under smoothing δ, that of the mixture (:meth:`field`), with ``dw/dx = (1 − w²)/δ·uᵀ∇²f(x)``."""
        x = state["x"]
        g, H = landscape.grad(x), landscape.hess(x)
        rho = np.asarray(self.rho)[..., None, None]
        eye = np.eye(x.shape[-1])
        du = self._unit_jacobian(g) @ H if self._normalized else H
        e = self.ascent(x, g)
        J = -landscape.hess(x + e) @ (eye + rho * du)
        if smoothing and self._normalized:
            norm = np.linalg.norm(g, axis=-1, keepdims=True)
            w = np.tanh(norm / smoothing)[..., None]
            unit = g / (norm + SAM_NORM_GUARD)
            dw = ((1 - w * w) / smoothing) * np.einsum("...i,...ij->...j", unit, H)[..., None, :]
            down = -landscape.hess(x - e) @ (eye - rho * du)
            jump = (landscape.grad(x + e) - landscape.grad(x - e))[..., :, None]
            J = 0.5 * (1 + w) * J + 0.5 * (1 - w) * down - 0.5 * jump * dw
        return _assemble(("x",), {("x", "x"): J}, x.shape)

    @staticmethod
    def _unit_jacobian(g) -> np.ndarray:
        """d(g/(‖g‖ + e))/dg: ``(..., d, d)``."""
        eye = np.eye(g.shape[-1])
        norm = np.linalg.norm(g, axis=-1)[..., None, None]
        gg = g[..., :, None] * g[..., None, :]
        n = norm + SAM_NORM_GUARD
        with np.errstate(invalid="ignore", divide="ignore"):
            return eye / n - np.where(norm > 0, gg / (norm * n * n), 0.0)


@dataclass(frozen=True)
class USAM(SAM):
    r"""Unnormalized SAM: ``x ← x − lr·∇f(x + ρ·∇f(x))`` (Andriushchenko & Flammarion 2022).

    On a quadratic ``f = ½xᵀAx`` its flow is exactly ``ẋ = −(A + ρA²)x`` and the iterates are stable
    iff ``lr·(λ + ρλ²) < 2`` for every eigenvalue λ (theory §10.6; tests/test_sam.py).

    Its flow rests wherever the ascent point ``x + ρ∇f(x)`` is a critical point of f, not only at
    them; such a rest point x attracts when ``−∇²f(x + ρ∇f)(I + ρ∇²f(x))`` is stable, which a
    maximum can give when ρ|λ| > 1 for the curvatures at x. From Himmelblau's default start (0, 0),
    ρ = 0.05, the flow and the iterates climb towards the local maximum (−0.27, −0.92) and rest at
    (−0.34, −0.53), f ≈ 180 and |∇f| ≈ 8, whose ascent point is that maximum (tests/test_sam.py).
    """

    name: ClassVar[str] = "usam"
    description: ClassVar[str] = "unnormalized SAM: descend with the gradient at x + ρ∇f"
    _normalized: ClassVar[bool] = False


#: How SAM's two flows are smoothed at ∇f = 0 (the Filippov record's note).
_PENALTY_REGULARIZATION = "g/‖g‖→g/√(‖g‖²+δ²)"
_LIFT_REGULARIZATION = "−∇f(x+ρu)→−[(1+w)∇f(x+ρu)+(1−w)∇f(x−ρu)]/2, w=tanh(‖g‖/δ)"


@dataclass(frozen=True)
class SamFlow(ExactFlow):
    r"""SAM's exact lift ``ẋ = −∇f(x + ρ·g/‖g‖)``. For SAM (not USAM) the ascent direction g/‖g‖
    jumps at ∇f = 0, i.e. at every minimum: there the field does not vanish (``−∇f(x* ± ρu)`` on
    either side) and a plain solve chatters across it until its budget runs out. So SAM's flow is
    declared discontinuous, and integrated as a Filippov flow, the fields at ±ρu mixed by
    ``w = tanh(‖g‖/δ)`` (:meth:`SAM.field`); USAM's is smooth and solved as written."""

    @property
    def discontinuous(self) -> bool:  # the class attribute of Flow, per optimizer
        return bool(self.optimizer._normalized)

    @property
    def regularization(self) -> str:
        return _LIFT_REGULARIZATION

    def field(self, t, state, landscape):
        if not self.smoothing:
            return super().field(t, state, landscape)
        opt = self.optimizer  # the field has no t or lr in it: a schedule does not enter
        out = opt.field(t, state, opt.seen(landscape), smoothing=self.smoothing)
        if opt.lr_scale is not None:
            out["x"] = np.asarray(opt.lr_scale) * out["x"]
        return out

    def jacobian(self, t, state, landscape):
        if not self.smoothing:
            return super().jacobian(t, state, landscape)
        opt = self.optimizer
        J = opt.jacobian(t, state, opt.seen(landscape), smoothing=self.smoothing)
        if opt.lr_scale is not None:
            J = np.asarray(opt.lr_scale)[:, None] * J
        return J


@dataclass(frozen=True)
class PenaltyFlow(Flow):
    r"""First order in ρ: ``ẋ = −∇f̃``, ``f̃ = f + ρ‖∇f‖`` (SAM) or ``f + ρ/2·‖∇f‖²`` (USAM), i.e.
    ``ẋ = −(∇f + ρ∇²f·∇f/‖∇f‖)`` or ``−(∇f + ρ∇²f·∇f)``. The SAM flow is ``−∇f(x + ρu)``
    = this + O(ρ²) (Taylor in ρ); the iterates approach it as lr → 0 only to that floor. f̃ is
    its Lyapunov function. Time per step lr, ρ fixed on the ladder.

    SAM's is discontinuous at ∇f = 0 (‖∇f‖ has a kink at every minimum), so it is integrated as a
    Filippov flow, ``∇f/‖∇f‖ → ∇f/√(‖∇f‖² + δ²)``: the gradient flow of ``f + ρ√(‖∇f‖² + δ²)``,
    which :meth:`energy` then is.
    """

    kind: ClassVar[str] = "penalty"
    energy_name: ClassVar[str] = "f̃ = f + ρ·penalty"

    @property
    def discontinuous(self) -> bool:  # the class attribute of Flow, per optimizer
        return bool(self.optimizer._normalized)

    @property
    def regularization(self) -> str:
        return _PENALTY_REGULARIZATION

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
        return {"x": -(g + _mv(landscape.hess(x), opt.ascent(x, g, self.smoothing)))}

    def energy(self, t, state, landscape):
        opt = self.optimizer
        g = landscape.grad(state["x"])
        n = np.linalg.norm(g, axis=-1)
        rho = np.asarray(opt.rho)
        if opt._normalized:  # ρ‖∇f‖, or its smoothing ρ√(‖∇f‖² + δ²) whose gradient flow is solved
            return landscape.value(state["x"]) + rho * (np.sqrt(n * n + self.smoothing**2) if self.smoothing else n)
        return landscape.value(state["x"]) + 0.5 * rho * n * n
