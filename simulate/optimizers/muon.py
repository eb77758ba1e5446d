r"""torch.optim.Muon (torch 2.13): momentum, then each matrix block orthogonalized by Newton–Schulz.

Update (torch ``_single_tensor_muon``), per matrix block of the point, ``g = ∇f(x)``::

    b ← lerp(b, g, 1 − μ)                        (EMA buffer, b₀ = 0)
    u = lerp(g, b, μ) = (1 − μ)g + μb   (nesterov)  |  u = b
    O = NS(u):  X = bf16(u);  transpose if rows > cols;  X ← X / max(‖X‖_F, eps)
                repeat ns_steps:  A = XXᵀ;  B = b·A + c·A²;  X = a·X + BX      (bf16)
    x ← x(1 − lr·λ);   x ← x − lr·s·O,
    s = √max(1, rows/cols) ("original", None) | 0.2·√max(rows, cols) ("match_rms_adamw")

The blocks are the landscape's ``matrix_shapes``; a vector landscape is one 1×d row. On a row
(rank 1) NS gives ``O = φ(1)·u/‖u‖`` with ``φ = p∘…∘p``, ``p(σ) = aσ + bσ³ + cσ⁵``: Muon on a vector
is normalized gradient descent with momentum and step lr·s·φ(1) (theory §10.4).

``newton_schulz`` (not torch's; the orthogonalizer):

* ``"bfloat16"`` (torch's): the iteration in bfloat16, emulated in numpy. f64 → bf16 rounds through
  float32, to nearest even. Every op computes in float32 and rounds once to bf16: the norm, the
  division, the products (float32 accumulation), and ``addmm(C, P, Q, beta=β, alpha=α)`` as
  ``fma(β, C, fl32(α·PQ))``. Measured: identical to torch's ``_zeropower_via_newtonschulz`` on 10⁴
  random inputs of shapes 2×2 … 4×4 over six decades of scale. Where float32 summation order
  differed, the error would be one bf16 unit (2⁻⁸ relative) of an entry of O.
* ``"float64"``: the same iteration in float64.
* ``"exact"``: the polar factor msign(u) = UVᵀ from the SVD u = UΣVᵀ (zero singular values dropped).

Exact lift, ``h = lr``, with the float64 iteration (or the exact polar factor), state (b, x)::

    ḃ = (1 − μ)(g − b)/lr,   ẋ = −λx − s·NS((1 − μ)g + μb)      (nesterov; u = b without)

One step of the float64 (or exact) optimizer is one semi-implicit Euler step of it. With bfloat16
the step differs from it by the rounding of O (≈ 2⁻⁸ of the step, lr·s·2⁻⁸): over T/lr steps these
errors add up like a random walk, to about s·2⁻⁸·√(T·lr), so the observed order against the lift
drops towards ½ (measured on matrix-sensing, T = 0.5, lr = 0.02 … 0.0025: slope 0.59).

β-fixed limit (μ fixed, lr → 0): b relaxes to g and ``ẋ = −λx − s·NS(∇f)`` (float64 NS; msign for
``"exact"``). With the exact polar factor and λ = 0 it is spectral steepest descent,
``df/dt = −s·‖∇f‖_*`` (nuclear norm). msign is discontinuous where a block's rank changes (∇f = 0
for a row): the limit flow is declared discontinuous, and under smoothing δ it uses
``u(uᵀu + δ²)^(−1/2)`` (singular values σ/√(σ² + δ²)). Float64 NS, ``U·φ(Σ/‖u‖_F)·Vᵀ``, is
continuous except at u = 0 (it is scale-invariant): at every minimum of f. Under smoothing δ its
normalization is ``u/√(‖u‖_F² + δ²)``; without it the solver chatters across ∇f = 0 (on the matrix
landscapes a default ``plot`` used its whole 60 s budget there).

References: torch/optim/_muon.py (2.13); Jordan et al. 2024; Liu et al., arXiv 2502.16982;
Bernstein & Newhouse, arXiv 2409.20325; theory.md §10.4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._checks import count, real
from ..landscapes.base import matrix_blocks
from ..models.base import Flow
from .base import Optimizer
from .hyper import EMA, hyper, lr_hyper, weight_decay_hyper
from .kernels import lerp

__all__ = ["Muon", "newton_schulz_bf16", "newton_schulz", "msign", "bf16", "NS_COEFFICIENTS", "ORTHOGONALIZERS"]

#: Keller Jordan's quintic coefficients (a, b, c), torch's defaults.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
#: The values of ``newton_schulz``.
ORTHOGONALIZERS = ("bfloat16", "float64", "exact")
ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


# -- bfloat16 arithmetic ------------------------------------------------------------------------------
def bf16(a) -> np.ndarray:
    """Round to bfloat16 as torch does (via float32, round to nearest even); float32 values whose low 16
    bits are zero."""
    f = np.asarray(a, dtype=np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(f), f, rounded)


def _mm32(A, B) -> np.ndarray:
    """A @ B accumulated in float32."""
    return np.einsum("...ij,...jk->...ik", A, B, dtype=np.float32)


def _addmm(beta, C, alpha, P) -> np.ndarray:
    """torch.addmm on bf16 (P = the float32 product): fma(β, C, fl32(α·P)) rounded to bf16. The float32
    values are exact in float64 and so is β·C, so float64 arithmetic gives the fused multiply-add."""
    scaled = (np.float64(alpha) * P.astype(np.float64)).astype(np.float32)
    return bf16((np.float64(beta) * C.astype(np.float64) + scaled.astype(np.float64)).astype(np.float32))


def newton_schulz_bf16(u, coefficients=NS_COEFFICIENTS, steps: int = 5, eps: float = 1e-7) -> np.ndarray:
    """torch's ``_zeropower_via_newtonschulz`` of matrices ``(..., rows, cols)``, in emulated bfloat16;
    returns float64 (the bf16 values)."""
    a, b, c = (np.float32(v) for v in coefficients)
    X = bf16(u)
    tall = X.shape[-2] > X.shape[-1]
    if tall:
        X = np.swapaxes(X, -1, -2)
    norm = bf16(np.sqrt(np.sum(X * X, axis=(-2, -1), dtype=np.float32)))
    norm = np.maximum(norm, bf16(np.float32(eps)))
    X = bf16(X / norm[..., None, None])
    for _ in range(int(steps)):
        A = bf16(_mm32(X, np.swapaxes(X, -1, -2)))
        B = _addmm(b, A, c, _mm32(A, A))
        X = _addmm(a, X, np.float32(1), _mm32(B, X))
    if tall:
        X = np.swapaxes(X, -1, -2)
    return X.astype(np.float64)


def newton_schulz(u, coefficients=NS_COEFFICIENTS, steps: int = 5, eps: float = 1e-7,
                  delta: float = 0.0) -> np.ndarray:
    """The same iteration in float64: ``U·φ(Σ/‖u‖_F)·Vᵀ`` with φ the quintic p applied ``steps`` times;
    with ``delta`` > 0 the normalization is smoothed, ``U·φ(Σ/√(‖u‖_F² + δ²))·Vᵀ`` (continuous at u = 0)."""
    a, b, c = coefficients
    X = np.asarray(u, dtype=np.float64)
    tall = X.shape[-2] > X.shape[-1]
    if tall:
        X = np.swapaxes(X, -1, -2)
    norm = np.sqrt(np.sum(X * X, axis=(-2, -1)))
    X = X / (np.sqrt(norm * norm + delta * delta) if delta else np.maximum(norm, eps))[..., None, None]
    for _ in range(int(steps)):
        A = X @ np.swapaxes(X, -1, -2)
        X = a * X + (b * A + c * A @ A) @ X
    return np.swapaxes(X, -1, -2) if tall else X


def newton_schulz_derivative(u, du, coefficients=NS_COEFFICIENTS, steps: int = 5, eps: float = 1e-7,
                             delta: float = 0.0) -> np.ndarray:
    """The directional derivatives of :func:`newton_schulz` at ``u`` ``(..., rows, cols)`` along
    ``du`` ``(k, ..., rows, cols)`` (forward mode through the normalization and each iteration):
    ``(k, ..., rows, cols)``. Exact where the normalization is smooth (δ > 0, or ‖u‖_F > eps)."""
    a, b, c = coefficients
    X, dX = np.asarray(u, dtype=np.float64), np.asarray(du, dtype=np.float64)
    tall = X.shape[-2] > X.shape[-1]
    if tall:
        X, dX = np.swapaxes(X, -1, -2), np.swapaxes(dX, -1, -2)
    norm = np.sqrt(np.sum(X * X, axis=(-2, -1)))[..., None, None]
    dnorm2 = 2 * np.sum(X * dX, axis=(-2, -1))[..., None, None]  # d‖u‖²
    if delta or np.all(norm > eps):
        n = np.sqrt(norm * norm + delta * delta)
        X, dX = X / n, dX / n - X * dnorm2 / (2 * n**3)
    else:  # the guard max(‖u‖, eps) holds the divisor fixed where ‖u‖ <= eps
        n = np.maximum(norm, eps)
        X, dX = X / n, dX / n - np.where(norm > eps, X * dnorm2 / (2 * n**3), 0.0)
    T = lambda M: np.swapaxes(M, -1, -2)  # noqa: E731
    for _ in range(int(steps)):
        A = X @ T(X)
        dA = dX @ T(X) + X @ T(dX)
        B = b * A + c * A @ A
        dB = b * dA + c * (dA @ A + A @ dA)
        X, dX = a * X + B @ X, a * dX + dB @ X + B @ dX
    return T(dX) if tall else dX


def msign(u, delta: float = 0.0) -> np.ndarray:
    """The polar factor UVᵀ of ``u = UΣVᵀ`` ``(..., rows, cols)``, zero singular values dropped; with
    ``delta`` > 0 the smoothed ``U·diag(σ/√(σ² + δ²))·Vᵀ``."""
    U, s, Vt = np.linalg.svd(np.asarray(u, dtype=np.float64), full_matrices=False)
    if delta:
        w = s / np.sqrt(s * s + delta * delta)
    else:
        w = (s > s[..., :1] * max(u.shape[-2:]) * np.finfo(float).eps).astype(float)
    return (U * w[..., None, :]) @ Vt


def fused_add(x, alpha, o) -> np.ndarray:
    """``x + alpha·o`` rounded once (a fused multiply-add, as torch's ``x.add_(o, alpha=alpha)`` computes
    it on CPU), for ``o`` of at most 26 significant bits (bf16 values): Dekker's exact product with
    Veltkamp's split of alpha, Knuth's TwoSum, then one rounding of the sum of the parts."""
    alpha, o, x = (np.asarray(v, dtype=np.float64) for v in (alpha, o, x))
    big = 134217729.0 * alpha  # 2²⁷ + 1
    high = big - (big - alpha)
    low = alpha - high
    product = alpha * o
    error = (high * o - product) + low * o  # exact: alpha·o = product + error
    total = x + product
    virtual = total - x
    rest = (x - (total - virtual)) + (product - virtual)  # exact: x + product = total + rest
    with np.errstate(invalid="ignore"):
        fused = total + (rest + error)
    return np.where(np.isfinite(fused), fused, x + product)


# -- the optimizer -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Muon(Optimizer):
    """Muon: ``torch.optim.Muon`` on each matrix block of the point (see the module docstring)."""

    name: ClassVar[str] = "muon"
    description: ClassVar[str] = ("torch.optim.Muon: momentum, each matrix block orthogonalized by bf16 Newton–Schulz "
                                  "(a vector is a 1×d row)")
    _decoupled: ClassVar[bool] = True
    scales_its_update: ClassVar[bool] = True

    lr: float = lr_hyper(1e-3)
    weight_decay: float = weight_decay_hyper(0.1)
    momentum: float = hyper(0.95, "[0, 1)", ladder=EMA, slider=(0.0, 0.99))
    nesterov: bool = True
    ns_coefficients: tuple = NS_COEFFICIENTS
    eps: float = hyper(1e-7, "> 0", note="it guards the division by ‖u‖_F", sweep=False)
    ns_steps: int = 5
    adjust_lr_fn: str | None = None
    newton_schulz: str = "bfloat16"

    def _validate(self):
        coeffs = self.ns_coefficients
        if not (isinstance(coeffs, (tuple, list)) and len(coeffs) == 3):
            raise ValueError(f"muon: ns_coefficients must be three numbers (a, b, c), got {coeffs!r}")
        object.__setattr__(self, "ns_coefficients",
                           tuple(real(v, f"muon: ns_coefficients[{i}]") for i, v in enumerate(coeffs)))
        object.__setattr__(self, "ns_steps", count(self.ns_steps, "muon: ns_steps", lo=0, hi=99))
        if self.adjust_lr_fn not in ADJUST_LR_FNS:
            raise ValueError(f"muon: adjust_lr_fn must be None, 'original' or 'match_rms_adamw' (torch's), "
                             f"got {self.adjust_lr_fn!r}")
        if np.ndim(self.eps):
            raise ValueError("muon: eps must be one number (it is not a sweep axis)")
        if self.newton_schulz not in ORTHOGONALIZERS:
            raise ValueError(f"muon: newton_schulz must be one of {', '.join(ORTHOGONALIZERS)} (bfloat16: torch's; "
                             f"float64: the same iteration exactly; exact: the polar factor), got {self.newton_schulz!r}")

    # -- pieces -------------------------------------------------------------------------------------
    def lr_ratio(self, shape) -> float:
        """s of a block of ``shape`` (torch's ``_adjust_lr``, in Python floats as torch computes it)."""
        A, B = shape
        if self.adjust_lr_fn == "match_rms_adamw":
            return 0.2 * math.sqrt(max(A, B))
        return math.sqrt(max(1, A / B))

    def orthogonalize(self, u, shape, *, exact: bool | None = None, delta: float = 0.0) -> np.ndarray:
        """O of matrices ``u`` ``(..., rows, cols)``: this optimizer's orthogonalizer (``exact``: float64
        rather than bf16; ``delta``: the smoothing of the exact polar factor's singular values, or of
        float64 NS's Frobenius normalization)."""
        mode = self.newton_schulz if not exact or self.newton_schulz == "exact" else "float64"
        if mode == "exact":
            return msign(u, delta)
        if mode == "bfloat16":
            return newton_schulz_bf16(u, self.ns_coefficients, self.ns_steps, float(self.eps))
        return newton_schulz(u, self.ns_coefficients, self.ns_steps, float(self.eps), delta)

    def direction(self, u, landscape, *, exact: bool | None = None, delta: float = 0.0) -> np.ndarray:
        """s·O block by block, of points ``u`` ``(..., d)``: ``(..., d)``."""
        out, start = [], 0
        for r, c in matrix_blocks(landscape):
            block = u[..., start:start + r * c].reshape(u.shape[:-1] + (r, c))
            O = self.orthogonalize(block, (r, c), exact=exact, delta=delta)
            out.append(O.reshape(u.shape[:-1] + (r * c,)))
            start += r * c
        return np.concatenate(out, axis=-1)

    def ratios(self, landscape) -> np.ndarray:
        """s per coordinate ``(d,)``."""
        return np.concatenate([np.full(r * c, self.lr_ratio((r, c))) for r, c in matrix_blocks(landscape)])

    def _update_input(self, g, b):
        return lerp(g, b, self._b(self.momentum)) if self.nesterov else b

    # -- the two views -----------------------------------------------------------------------------
    def state_names(self):
        return ("b", "x")

    def step(self, state, landscape, k):
        x = state["x"]
        g = landscape.grad(x)
        b = lerp(state["b"], g, 1 - self._b(self.momentum))
        O = self.direction(self._update_input(g, b), landscape)
        lr = self._b(self.lr)
        x_new = x * (1 - lr * self._b(self.weight_decay))
        out = np.empty_like(x_new)
        start = 0
        for r, c in matrix_blocks(landscape):  # torch: param.add_(O, alpha=−lr·s), fused; s in Python floats
            end = start + r * c
            out[..., start:end] = fused_add(x_new[..., start:end], -(lr * self.lr_ratio((r, c))), O[..., start:end])
            start = end
        return {"b": b, "x": out}

    def field(self, t, state, landscape):
        x = state["x"]
        g = landscape.grad(x)
        mu, lr = self._b(self.momentum), self._b(self.lr)
        O = self.direction(self._update_input(g, state["b"]), landscape, exact=True)
        return {"b": (1 - mu) * (g - state["b"]) / lr,
                "x": -self._b(self.weight_decay) * x - self.ratios(landscape) * O}

    @classmethod
    def models(cls):
        return {**super().models(), "limit": MuonLimitFlow}


@dataclass(frozen=True)
class MuonLimitFlow(Flow):
    """μ fixed, lr → 0: ``ẋ = −λx − s·NS(∇f)`` (float64 NS; the polar factor msign for
    ``newton_schulz="exact"``), time per step lr. Discontinuous where a block's rank changes (NS: at
    ∇f = 0); under :attr:`smoothing` δ the polar factor's singular values are σ/√(σ² + δ²), and NS
    normalizes by √(‖u‖_F² + δ²)."""

    kind: ClassVar[str] = "limit"
    discontinuous: ClassVar[bool] = True
    energy_name: ClassVar[str] = "f"

    @property
    def regularization(self) -> str:
        if self.optimizer.newton_schulz == "exact":
            return "msign: σ→σ/√(σ²+δ²)"
        return "NS: u/‖u‖_F→u/√(‖u‖_F²+δ²)"

    def field(self, t, state, landscape):
        opt = self.optimizer
        x = state["x"]
        O = opt.direction(landscape.grad(x), landscape, exact=True, delta=self.smoothing)
        return {"x": -opt._b(opt.weight_decay) * x - opt.ratios(landscape) * O}

    @property
    def has_jacobian(self) -> bool:  # float64 NS has one (forward mode); msign's is left to the solver
        return self.optimizer.newton_schulz != "exact"

    def jacobian(self, t, state, landscape):
        r"""``−λI − s·dNS(∇f)/d∇f · ∇²f``, the NS derivative in forward mode along each coordinate
        (:func:`newton_schulz_derivative`). The smoothed field is stiff near ∇f = 0 (rates ~ ∇²f/δ)
        and a finite-difference Jacobian there is noise (its increments ~1e-8·|x| are larger than
        the layer), which kept LSODA on tiny steps to the end of its budget."""
        opt = self.optimizer
        if opt.newton_schulz == "exact":
            return None
        x = state["x"]
        g, H = landscape.grad(x), landscape.hess(x)
        d = x.shape[-1]
        eye = np.eye(d)
        dO = np.empty(x.shape[:-1] + (d, d))  # dO_i/dg_j
        start = 0
        for r, c in matrix_blocks(landscape):
            end = start + r * c
            block = g[..., start:end].reshape(g.shape[:-1] + (r, c))
            basis = np.broadcast_to(eye[start:end, start:end].reshape((r * c,) + (1,) * (g.ndim - 1) + (r, c)),
                                    (r * c,) + block.shape)
            D = newton_schulz_derivative(block, basis, opt.ns_coefficients, opt.ns_steps, float(opt.eps),
                                         self.smoothing)
            dO[..., start:end, :] = 0.0
            dO[..., start:end, start:end] = np.moveaxis(D.reshape((r * c,) + g.shape[:-1] + (r * c,)), 0, -1)
            start = end
        J = -(opt.ratios(landscape)[:, None] * dO) @ H
        return J - np.asarray(opt._b(opt.weight_decay))[..., None] * eye

    def energy(self, t, state, landscape):
        # df/dt = −s·⟨∇f, O(∇f)⟩ ≤ 0 without decay (⟨G, NS(G)⟩ = Σσφ(σ/‖G‖) ≥ 0 while φ ≥ 0)
        return landscape.value(state["x"]) if np.all(np.asarray(self.optimizer.weight_decay) == 0) else None
