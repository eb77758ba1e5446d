r"""Steepest descent in a norm: normalized GD (ℓ2), sign descent (ℓ∞), greedy coordinate descent
(ℓ1) and preconditioned GD (‖·‖_P); theory §10.9 (Boyd & Vandenberghe §9.4; Su, 从动力学角度看优化算法(三)).

For a norm ‖·‖ with dual ``‖g‖_* = max_{‖d‖≤1} ⟨g, d⟩`` and ``g = ∇f(x)``::

    d_nsd = argmin_{‖d‖≤1} ⟨g, d⟩                 (normalized: unit length in the norm)
    d_sd  = ‖g‖_*·d_nsd = argmin_v ⟨g, v⟩ + ½‖v‖²  (unnormalized)
    x ← x + lr·d                                   (no state; explicit Euler with h = lr)

=================  ===========  ==========================================  ====================
norm               ‖g‖_*        d_nsd                                        d_sd
=================  ===========  ==========================================  ====================
ℓ2                 ‖g‖₂         −g/‖g‖₂                                      −g (GD)
ℓ∞                 ‖g‖₁         −sign(g)                                     −‖g‖₁·sign(g)
ℓ1                 ‖g‖∞         −sign(g_i)·e_i, i = argmax |g_i|             −g_i·e_i
‖z‖_P = √(zᵀPz)    √(gᵀP⁻¹g)    −P⁻¹g/‖g‖_{P⁻¹}                              −P⁻¹g
=================  ===========  ==========================================  ====================

``d_nsd = 0`` where ``g = 0``. ℓ1 ties (several coordinates with the largest |g_i|) go to the
lowest index (numpy's ``argmax``), a rule of this module: the Filippov flow slides along the tie.

**The exact lift** is the flow ``ẋ = d(x)`` itself: one step is one explicit Euler step of it.
Along it ``df/dt = −‖∇f‖_*`` (normalized) or ``−‖∇f‖_*²`` (unnormalized): :meth:`SteepestFlow.decrease_rate`.
For ℓ∞ and ℓ1 (and normalized ℓ2 at ∇f = 0) the field is discontinuous: a Filippov system, which
:func:`simulate.integrate` integrates smoothed to width δ (:meth:`SteepestFlow.field`)::

    ℓ∞:  sign(g) → tanh(g/δ)
    ℓ1:  sign(g_i)·e_i → softmax(|g|/δ)_i · tanh(g_i/δ)     (theory §10.9, recipe 2)
    ℓ2:  g/‖g‖ → g/√(‖g‖² + δ²)   (and P⁻¹g/√(gᵀP⁻¹g + δ²))

Hyperparameters: ``lr``; ``norm`` ∈ {1, 2, inf}; ``metric`` P for the ℓ2 norm (empty: the identity;
a tuple of d positive numbers: diag(P); d tuples of d numbers: a symmetric positive definite P);
``normalized``. No weight decay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.base import ExactFlow
from .base import Optimizer
from .hyper import lr_hyper
from .preset import Preset

__all__ = ["Steepest", "SteepestFlow", "NORMS", "direction", "dual_norm"]

#: The norms by the values ``norm`` takes (and the words a spec may use for them).
NORMS = {1.0: "ℓ1", 2.0: "ℓ2", np.inf: "ℓ∞"}
_WORDS = {"1": 1.0, "l1": 1.0, "2": 2.0, "l2": 2.0, "inf": np.inf, "linf": np.inf, "max": np.inf}


def _metric_matrix(metric, d: int) -> np.ndarray | None:
    """P as a ``(d,)`` diagonal or a ``(d, d)`` matrix (None: the identity), checked against d."""
    if not metric:
        return None
    P = np.asarray(metric, dtype=np.float64)
    if P.shape[0] != d:
        raise ValueError(f"steepest: metric has {P.shape[0]} entries for a {d}-dimensional landscape")
    return P


def _solve(P, g):
    """P⁻¹g over a batch ``(..., d)``."""
    if P is None:
        return g
    if P.ndim == 1:
        return g / P
    return np.linalg.solve(P, g[..., None])[..., 0] if g.ndim > 1 else np.linalg.solve(P, g)


def dual_norm(g, norm: float, metric=()) -> np.ndarray:
    """``‖g‖_*`` of ``norm`` (with ``metric`` P for ℓ2: ``√(gᵀP⁻¹g)``), over the last axis."""
    g = np.asarray(g, dtype=np.float64)
    if norm == 1.0:
        return np.max(np.abs(g), axis=-1)
    if norm == np.inf:
        return np.sum(np.abs(g), axis=-1)
    u = _solve(_metric_matrix(metric, g.shape[-1]), g)
    return np.sqrt(np.maximum(np.einsum("...i,...i->...", g, u), 0.0))


def sign_update(x, g, lr):
    """Sign descent's step, ``x − lr·sign(g)``: returns ``(x,)`` (the bits of ``x + lr·direction(g)``)."""
    return (x + lr * -np.sign(g),)


def direction(g, norm: float, metric=(), normalized: bool = True, delta: float = 0.0, sign=np.sign) -> np.ndarray:
    """The steepest-descent direction ``d_nsd`` (or ``d_sd``) at gradient ``g``; ``delta > 0``: the
    switches smoothed to width δ (the module's docstring), ``sign`` the flow's own switch."""
    g = np.asarray(g, dtype=np.float64)
    scale = 1.0 if normalized else dual_norm(g, norm, metric)[..., None]
    if norm == np.inf:
        return -scale * sign(g)
    if norm == 1.0:
        a = np.abs(g)
        if delta:
            z = (a - np.max(a, axis=-1, keepdims=True)) / delta
            w = np.exp(z)
            w = w / np.sum(w, axis=-1, keepdims=True)
        else:
            w = np.zeros_like(g)
            np.put_along_axis(w, np.argmax(a, axis=-1)[..., None], 1.0, axis=-1)
        return -scale * w * sign(g)
    u = _solve(_metric_matrix(metric, g.shape[-1]), g)
    if not normalized:
        return -u
    n2 = np.maximum(np.einsum("...i,...i->...", g, u), 0.0)[..., None]
    if delta:
        return -u / np.sqrt(n2 + delta**2)
    n = np.sqrt(n2)
    return -np.divide(u, n, out=np.zeros_like(u), where=n > 0)


def _norm_value(norm) -> float:
    if isinstance(norm, str):
        key = norm.strip().lower().replace("ℓ", "l").replace("∞", "inf").replace("_", "")
        if key in _WORDS:
            return _WORDS[key]
    elif not isinstance(norm, (bool, np.bool_)):
        try:
            value = float(norm)
        except (TypeError, ValueError):
            value = None
        if value in NORMS:
            return value
    raise ValueError(f"steepest: norm must be 1, 2 or inf (ℓ1, ℓ2, ℓ∞; with metric= the ℓ2 norm √(zᵀPz)), "
                     f"got {norm!r}")


def _metric_value(metric) -> tuple:
    """``metric`` as a tuple of floats (a diagonal) or of tuples (a matrix), checked positive definite."""
    if metric is None:
        return ()
    try:
        P = np.asarray(metric, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"steepest: metric must be numbers (diag P) or rows of numbers (P), got {metric!r}") from None
    if P.size == 0:
        return ()
    if P.ndim == 0:
        P = P[None]
    if not np.all(np.isfinite(P)) or P.ndim > 2 or (P.ndim == 2 and P.shape[0] != P.shape[1]):
        raise ValueError(f"steepest: metric must be d positive numbers (diag P) or a d×d symmetric positive "
                         f"definite matrix, got {metric!r}")
    if P.ndim == 1:
        if not np.all(P > 0):
            raise ValueError(f"steepest: metric (diag P) must be positive, got {metric!r}: ‖z‖_P = √(zᵀPz) is a norm "
                             f"only for P positive definite")
        return tuple(float(v) for v in P)
    if not np.allclose(P, P.T, rtol=0, atol=0) or not np.all(np.linalg.eigvalsh(P) > 0):
        raise ValueError(f"steepest: metric must be symmetric positive definite, got {metric!r}")
    return tuple(tuple(float(v) for v in row) for row in P)


@dataclass(frozen=True)
class Steepest(Optimizer):
    r"""Steepest descent in a norm (the module's docstring): ``x ← x + lr·d(∇f(x))``, no state."""

    name: ClassVar[str] = "steepest"
    description: ClassVar[str] = "steepest descent in a norm (ℓ2, ℓ∞, ℓ1, √(zᵀPz)): x ← x + lr·d, d = argmin ⟨∇f, d⟩"

    lr: float = lr_hyper(1e-2)
    norm: float = np.inf
    metric: tuple = ()
    normalized: bool = True

    def __post_init__(self):
        object.__setattr__(self, "norm", _norm_value(self.norm))
        object.__setattr__(self, "metric", _metric_value(self.metric))
        super().__post_init__()

    def _validate(self):
        if self.metric and self.norm != 2.0:
            raise ValueError(f"steepest: metric P defines the norm √(zᵀPz) (an ℓ2 norm): give norm=2 with it, "
                             f"not norm={self.norm:g} (the preset {self.display_name}'s), or use preconditioned-gd")

    @classmethod
    def presets(cls):
        return (
            Preset("normalized-gd", cls, "normalized gradient descent: steepest descent in ℓ2, x ← x − lr·∇f/|∇f|",
                   fixed={"norm": 2.0, "normalized": True}),
            Preset("sign-gd", cls, "sign descent: steepest descent in ℓ∞, x ← x − lr·sign(∇f)",
                   fixed={"norm": np.inf, "normalized": True}),
            Preset("coordinate-gd", cls, "greedy coordinate descent: steepest descent in ℓ1, "
                   "x ← x − lr·sign(g_i)e_i, i = argmax|g_i|", fixed={"norm": 1.0, "normalized": True}),
            Preset("preconditioned-gd", cls, "preconditioned GD: unnormalized steepest descent in √(zᵀPz), "
                   "x ← x − lr·P⁻¹∇f (metric=diag P)", fixed={"norm": 2.0, "normalized": False}),
            Preset("steepest", cls, cls.description),
        )

    @classmethod
    def models(cls):
        return {"exact": SteepestFlow}

    @property
    def display_name(self) -> str:
        if self.norm == 2.0:
            return "preconditioned-gd" if not self.normalized else ("normalized-gd" if not self.metric else "steepest")
        if self.normalized:
            return "sign-gd" if self.norm == np.inf else "coordinate-gd"
        return "steepest"

    @property
    def norm_name(self) -> str:
        return "P-norm" if self.metric else NORMS[self.norm]

    # -- what the models and analyses ask ------------------------------------------------------
    @property
    def lift_scaling(self):
        return "fixed"  # no β: only lr moves

    def lift_is_gradient_flow(self):
        return self.norm == 2.0 and not self.normalized and not self.metric

    def limit_speed(self):
        return 1.0

    lift_energy_name: ClassVar[str] = "f"

    def lift_energy(self, state, landscape):
        return landscape.value(state["x"])

    def threshold_factor(self):
        # unnormalized ℓ2 (GD) and diagonal P: lr·λ(P⁻¹H) < 2; the others move a fixed length per step
        return np.asarray(2.0) if self.lift_is_gradient_flow() else None

    def threshold_factor_formula(self):
        return "2" if self.lift_is_gradient_flow() else ""

    def decrease(self, g) -> np.ndarray:
        """``−df/dt`` along the flow at gradient ``g``: ``‖g‖_*`` (normalized) or ``‖g‖_*²``."""
        n = dual_norm(g, self.norm, self.metric)
        return n if self.normalized else n**2

    # -- the two views -------------------------------------------------------------------------
    def direction(self, g, delta: float = 0.0, sign=np.sign):
        return direction(g, self.norm, self.metric, self.normalized, delta, sign)

    def step(self, state, landscape, k):
        x = state["x"]
        if self._elementwise:
            return {"x": sign_update(x, landscape.grad(x), self._b(self.lr))[0]}
        return {"x": x + self._b(self.lr) * self.direction(landscape.grad(x))}

    @property
    def _elementwise(self) -> bool:
        """Sign descent (normalized ℓ∞, no metric): each coordinate moves by its own gradient alone."""
        return self.norm == np.inf and self.normalized and not self.metric

    def kernel(self):
        """Sign descent's elementwise update for the compiled engine; None for the other norms,
        whose direction couples the coordinates."""
        from .kernel import Kernel

        return Kernel(sign_update, (), ("lr",), hypers={"lr": self.lr}) if self._elementwise else None

    def field(self, t, state, landscape):
        return {"x": self.direction(landscape.grad(state["x"]))}


@dataclass(frozen=True)
class SteepestFlow(ExactFlow):
    r"""The exact lift ``ẋ = d(∇f(x))``, with its switches written through :meth:`Flow.sign`: under
    :attr:`~simulate.models.base.Flow.smoothing` δ it is the smoothed field of the module's docstring,
    at δ = 0 the discontinuous one (a Filippov system for ℓ∞, ℓ1 and normalized ℓ2)."""

    @property
    def discontinuous(self) -> bool:  # the class attribute of Flow, per configuration
        opt = self.optimizer
        return opt.norm != 2.0 or bool(opt.normalized)

    def field(self, t, state, landscape):
        opt = self.optimizer
        g = opt.seen(landscape).grad(state["x"])
        out = {"x": opt.direction(g, self.smoothing, self.sign)}
        if opt.lr_scale is not None:
            out["x"] = np.asarray(opt.lr_scale) * out["x"]
        return out

    @property
    def regularization(self) -> str:
        opt = self.optimizer
        if opt.norm == 1.0:
            return "sign(g_i)e_i→softmax(|g|/δ)·tanh(g/δ)"
        return "sign→tanh(·/δ)" if opt.norm == np.inf else "g/‖g‖→g/√(‖g‖²+δ²)"

    @property
    def has_jacobian(self) -> bool:
        return False

    @property
    def decrease_name(self) -> str:
        opt = self.optimizer
        dual = "‖∇f‖_{P⁻¹}" if opt.metric else {1.0: "‖∇f‖∞", 2.0: "‖∇f‖₂", np.inf: "‖∇f‖₁"}[opt.norm]
        return dual if opt.normalized else f"{dual}²"

    def decrease_rate(self, state, landscape):
        """The predicted ``−df/dt`` at ``state`` (the exact identity, δ = 0): ``‖∇f‖_*`` or ``‖∇f‖_*²``."""
        if self.optimizer.transformed:
            return None
        return self.optimizer.decrease(landscape.grad(state["x"]))
