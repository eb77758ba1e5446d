"""Finite-sum landscapes: least squares and logistic regression on synthetic data from a seed.

Both are linear models over N samples (aᵢ, tᵢ) with a per-sample loss ℓ of the margin zᵢ = aᵢᵀw:

    f(w) = (1/N) Σᵢ fᵢ(w),    fᵢ(w) = ℓ(aᵢᵀw, tᵢ) + ½·ridge·|w|²,

    ∇fᵢ(w) = ℓ′(aᵢᵀw, tᵢ)·aᵢ + ridge·w,    ∇²f(w) = (1/N) Aᵀ diag(ℓ″(Aw, t)) A + ridge·I.

The ridge term is inside every fᵢ, so the mean of the per-sample gradients is ∇f and a minibatch
gradient (1/b) Σ_{i∈B} ∇fᵢ is unbiased for it: the noise of SGD is that of the data alone.

Data come from ``np.random.default_rng(seed)``: a spec such as ``"least-squares(samples=32,
seed=3)"`` names one dataset bit for bit. Features are aᵢ = D zᵢ with zᵢ ~ N(0, I_d) and
D = diag(1, 1/2, …, 1/d): column j is scaled by 1/(j+1), so the Hessian is ≈ D² (curvatures
1, 1/4, …, condition ≈ d²) and the 2-D picture is an elongated valley rather than a round bowl.
The draws are made in a fixed order (features, then labels) so that a dataset never changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .base import Landscape, _integer, _real, _set, polish_minima, expit

__all__ = ["LeastSquares", "Logistic", "MAX_SAMPLES"]

#: value and grad hold N·d numbers per point (a 240² contour grid of a 2-D landscape: 115 200·N floats).
MAX_SAMPLES = 100_000

#: Offset of the default start from the origin, (−2, 3, −2, 3, …): off both axes of the valley,
#: so a run turns the corner from the stiff to the flat direction.
_START = (-2.0, 3.0)


def _features(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """(n, d) standard normal rows with column j scaled by 1/(j+1)."""
    return rng.standard_normal((n, d)) / np.arange(1, d + 1)


def _box(points: np.ndarray) -> np.ndarray:
    """A square plot box around ``points`` (k, d): their span plus a margin, ends on multiples of ½."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    half = 0.6 * float(np.max(hi - lo)) + 0.5
    mid = 0.5 * (lo + hi)
    return np.column_stack([np.floor(2 * (mid - half)) / 2, np.ceil(2 * (mid + half)) / 2])


#: Elements of the (points, N, d) temporaries that value and grad work on at a time: a whole
#: recorded run at once would take gigabytes, and cache-sized blocks are faster besides.
CHUNK_ELEMENTS = 1 << 18


def _by_chunks(fn, x: np.ndarray, tail: tuple[int, ...], per_point: int) -> np.ndarray:
    """``fn`` on blocks of the points of ``x`` ``(..., d)``; the result ``(..., *tail)``. Each point's
    arithmetic is the same whatever block it is in, so the bits do not depend on the blocking."""
    batch = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    step = max(1, CHUNK_ELEMENTS // per_point)
    if len(flat) <= step:
        return fn(x)
    out = np.empty((len(flat),) + tail)
    for i in range(0, len(flat), step):
        out[i:i + step] = fn(flat[i:i + step])
    return out.reshape(batch + tail)


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class _FiniteSum(Landscape):
    """A mean of N per-sample losses ℓ(aᵢᵀw, tᵢ) plus ½·ridge·|w|² (see the module docstring).

    Subclasses set the fields ``samples``, ``dim``, ``ridge``, the data ``A`` (N, d) and targets
    ``_t`` (N,), and the loss ``_loss(z, t)`` with its derivatives ``_dloss`` and ``_ddloss`` in z.
    """

    # -- per-sample gradients ---------------------------------------------------------------------
    def per_sample_grads(self, x) -> np.ndarray:
        """∇fᵢ(x) for every sample i, ridge term included: shape ``(..., N, d)``.

        Their mean over axis −2 is ∇f(x). Holds N·d numbers per point; use :meth:`minibatch_grad`
        for minibatch gradients.
        """
        x = self.points(x)
        return self._dloss(self._margins(x), self._t)[..., None] * self.A + self.ridge * x[..., None, :]

    def minibatch_grad(self, x, idx) -> np.ndarray:
        """(1/b) Σ_{i∈idx} ∇fᵢ(x), the ridge term once: shape ``broadcast(x.shape[:-1], idx.shape[:-1]) + (d,)``.

        ``idx`` holds integer sample indices in [0, N), shape ``(..., b)``: its leading axes pair
        with (broadcast against) the batch axes of ``x``, so ``idx`` of shape (b,) is one minibatch
        for every point and shape (n, b) one minibatch per point of x (n, d). Repeated indices
        count repeatedly (sampling with replacement). Only the b rows A[idx] are gathered.
        """
        x, idx, rows, z = self._minibatch(x, idx)
        return np.mean(self._dloss(z, self._t[idx])[..., None] * rows, axis=-2) + self.ridge * x

    def minibatch_hess(self, x, idx) -> np.ndarray:
        """(1/b) Σ_{i∈idx} ∇²fᵢ(x) = (1/b) A_Bᵀ diag(ℓ″) A_B + ridge·I: the Hessian of the minibatch
        loss, ``broadcast(x.shape[:-1], idx.shape[:-1]) + (d, d)`` (a proximal step solves with it)."""
        x, idx, rows, z = self._minibatch(x, idx)
        s = self._ddloss(z, self._t[idx])
        H = np.einsum("...bi,...b,...bj->...ij", rows, s, rows) / idx.shape[-1]
        return 0.5 * (H + np.swapaxes(H, -1, -2)) + self.ridge * np.eye(self.dim)

    def _minibatch(self, x, idx):
        """``(x, idx, rows, z)``: checked points and indices, the gathered rows A[idx] ``(..., b, d)``
        and their margins ``(..., b)``, summed over d in the same order as :meth:`_margins`."""
        x = self.points(x)
        idx = self._indices(idx, x.shape[:-1])
        rows = self.A[idx]
        z = rows[..., 0] * x[..., 0, None]
        for j in range(1, self.dim):
            z = z + rows[..., j] * x[..., j, None]
        return x, idx, rows, z

    def _indices(self, idx, batch: tuple[int, ...]) -> np.ndarray:
        arr = np.asarray(idx)
        if arr.ndim == 0 or arr.shape[-1] == 0 or not (np.issubdtype(arr.dtype, np.integer)
                                                       and arr.dtype != np.bool_):
            raise ValueError(f"idx must be integer sample indices of shape (..., b) with b >= 1, "
                             f"got dtype {arr.dtype} and shape {arr.shape}")
        # Negative indices would wrap around silently in A[idx]: refuse them like any out-of-range one.
        if arr.min() < 0 or arr.max() >= self.samples:
            raise ValueError(f"sample indices must be in [0, {self.samples}), got {arr.min()} … {arr.max()}")
        try:
            np.broadcast_shapes(batch, arr.shape[:-1])
        except ValueError:
            raise ValueError(f"idx of shape {arr.shape} (batch {arr.shape[:-1]}) does not broadcast "
                             f"with points of batch shape {batch}") from None
        return arr

    # -- the landscape ----------------------------------------------------------------------------
    # Products are summed elementwise rather than by matmul: BLAS rounds gemv (one point) and gemm
    # (a batch) differently, by up to 1e-12 relative where the sum cancels, and a batch should equal
    # its points one at a time bit for bit.
    def _margins(self, x):
        """aᵢᵀx for every sample, ``(..., N)``: a sum over the d coordinates in a fixed order (a
        reduction over a short last axis would be slow; BLAS would round batches differently)."""
        z = x[..., 0, None] * self._AT[0]
        for j in range(1, self.dim):
            z = z + x[..., j, None] * self._AT[j]
        return z

    def _value(self, x):
        return _by_chunks(self._value_block, x, (), self.samples * self.dim)

    def _grad(self, x):
        return _by_chunks(self._grad_block, x, (self.dim,), self.samples * self.dim)

    def _value_block(self, x):
        return np.mean(self._loss(self._margins(x), self._t), axis=-1) + 0.5 * self.ridge * np.sum(x * x, axis=-1)

    def _grad_block(self, x):
        dl = self._dloss(self._margins(x), self._t)
        return np.sum(dl[..., None, :] * self._AT, axis=-1) / self.samples + self.ridge * x

    def weighted_grad(self, x, weights) -> np.ndarray:
        """Σᵢ wᵢ·∇fᵢ(x) for weights ``(..., N)``: shape ``(..., d)``, without the (..., N, d)
        per-sample gradients (the Brownian kick of the minibatch SDE, simulate.solvers.noise)."""
        x = self.points(x)
        dl = self._dloss(self._margins(x), self._t)
        return (weights * dl) @ self.A + self.ridge * x * np.sum(weights, axis=-1, keepdims=True)

    def _hess(self, x):
        s = self._ddloss(self._margins(x), self._t)  # (..., N)
        H = (self.A.T * s[..., None, :]) @ self.A / self.samples
        # The two triangles round differently; averaging makes H exactly symmetric.
        return 0.5 * (H + np.swapaxes(H, -1, -2)) + self.ridge * np.eye(self.dim)

    def _validate(self) -> tuple[int, int, float, int]:
        n = _integer("samples", self.samples, 1)
        if n > MAX_SAMPLES:
            raise ValueError(f"samples must be at most {MAX_SAMPLES}, got {self.samples!r}")
        return (n, _integer("dim", self.dim, 1), _real("ridge", self.ridge, nonnegative=True),
                _integer("seed", self.seed, 0))

    def _store(self, **data) -> None:
        """Set the validated parameters and data arrays (read-only), and Aᵀ contiguous for _grad."""
        data = {k: _frozen(v) if isinstance(v, np.ndarray) else v for k, v in data.items()}
        _set(self, **data, _AT=_frozen(data["A"].T))

    def _place(self, minima: np.ndarray) -> None:
        """Set minima, the default start (−2, 3, …) and a square box around them and the origin."""
        start = np.resize(np.array(_START), self.dim)
        _set(self, minima=minima, default_start=start, bounds=_box(np.vstack([minima, start, np.zeros(self.dim)])))


@dataclass(frozen=True, eq=False)
class LeastSquares(_FiniteSum):
    """f(w) = 1/(2N) Σᵢ (aᵢᵀw − bᵢ)² + ½·ridge·|w|²: linear regression, a random quadratic.

    fᵢ(w) = ½(aᵢᵀw − bᵢ)² + ½·ridge·|w|², ∇fᵢ(w) = (aᵢᵀw − bᵢ)·aᵢ + ridge·w,
    ∇²f = AᵀA/N + ridge·I (constant).

    Data: aᵢ = D zᵢ (zᵢ ~ N(0, I), D = diag(1, 1/2, …, 1/d)), bᵢ = aᵢᵀw* + noise·ξᵢ with
    w* = (1, …, 1) and ξᵢ ~ N(0, 1), drawn in that order from ``default_rng(seed)``.

    Minimum: the solution of (AᵀA + N·ridge·I) w = Aᵀb, computed by least squares on the stacked
    system [A/√N; √ridge·I] w ≈ [b/√N; 0] (no squared condition number) and refined by one Newton
    step. When AᵀA is singular (samples < dim) and ridge = 0 the minima form an affine subspace
    on which f takes its least value; the one listed is its point of least norm.
    """

    name = "least-squares"
    description = "least squares 1/(2N)·Σ(aᵢᵀw − bᵢ)² + ½·ridge·|w|² on seeded data: a random quadratic, any dimension"

    samples: int = 64
    dim: int = 2
    noise: float = 0.5
    ridge: float = 0.0
    seed: int = 0
    A: np.ndarray = field(init=False, repr=False)
    b: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        n, d, ridge, seed = self._validate()
        noise = _real("noise", self.noise, nonnegative=True)
        rng = np.random.default_rng(seed)
        A = _features(rng, n, d)
        b = A @ np.ones(d) + noise * rng.standard_normal(n)
        self._store(samples=n, dim=d, noise=noise, ridge=ridge, seed=seed, A=A, b=b)
        H = A.T @ A / n
        _set(self, _H=_frozen(0.5 * (H + H.T) + ridge * np.eye(d)))
        self._place(self._solve()[None, :])
        super().__post_init__()

    @property
    def _t(self):
        return self.b

    def _solve(self) -> np.ndarray:
        n, d = self.A.shape
        stacked = np.vstack([self.A / np.sqrt(n), np.sqrt(self.ridge) * np.eye(d)])
        w, _, rank, _ = np.linalg.lstsq(stacked, np.r_[self.b / np.sqrt(n), np.zeros(d)], rcond=None)
        if rank == d:  # unique: one Newton step from a backward-stable solution leaves rounding only
            w = w - np.linalg.solve(self._H, self._grad(w))
        return w

    @staticmethod
    def _loss(z, t):
        return 0.5 * (z - t) ** 2

    @staticmethod
    def _dloss(z, t):
        return z - t

    @staticmethod
    def _ddloss(z, t):
        return np.ones_like(z)

    def _hess(self, x):
        return np.broadcast_to(self._H, x.shape + (self.dim,)).copy()


@dataclass(frozen=True, eq=False)
class Logistic(_FiniteSum):
    """f(w) = (1/N) Σᵢ log(1 + exp(−yᵢaᵢᵀw)) + ½·ridge·|w|², labels yᵢ ∈ {−1, +1}.

    With mᵢ = yᵢaᵢᵀw and σ(m) = 1/(1 + e^{−m}): fᵢ(w) = log(1 + e^{−mᵢ}) + ½·ridge·|w|²,
    ∇fᵢ(w) = −σ(−mᵢ)·yᵢaᵢ + ridge·w, ∇²f(w) = (1/N) Σᵢ σ(mᵢ)σ(−mᵢ)·aᵢaᵢᵀ + ridge·I.
    Evaluated as logaddexp(0, −m) and scipy's expit: no overflow for any margin.

    Data: aᵢ = D zᵢ (zᵢ ~ N(0, I), D = diag(1, 1/2, …, 1/d)), then yᵢ = +1 with probability
    σ(aᵢᵀw*), w* = (2, …, 2), else −1 (drawn as uᵢ ~ U(0, 1) < σ(aᵢᵀw*)): labels of a logistic
    model, noisy near the boundary, so with samples ≫ dim the classes overlap.

    Minimum: unique for ridge > 0 (strictly convex, f → ∞), found by damped Newton from 0 and
    polished by Newton's method to machine precision. With ridge = 0 a minimum exists only if
    no w ≠ 0 has yᵢaᵢᵀw ≥ 0 for all i (else f decreases along w forever: separable data, certain
    when samples ≤ dim); this is decided by a linear program, and separable data list no minimum.
    """

    name = "logistic"
    description = "logistic regression (1/N)·Σ log(1 + e^(−yᵢaᵢᵀw)) + ½·ridge·|w|² on seeded data, any dimension"

    samples: int = 64
    dim: int = 2
    ridge: float = 0.01
    seed: int = 0
    A: np.ndarray = field(init=False, repr=False)
    y: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        n, d, ridge, seed = self._validate()
        rng = np.random.default_rng(seed)
        A = _features(rng, n, d)
        y = np.where(rng.uniform(size=n) < expit(A @ np.full(d, 2.0)), 1.0, -1.0)
        self._store(samples=n, dim=d, ridge=ridge, seed=seed, A=A, y=y)
        self._place(np.zeros((0, d)) if ridge == 0 and self._separable() else self._newton()[None, :])
        super().__post_init__()

    @property
    def _t(self):
        return self.y

    @staticmethod
    def _loss(z, y):
        return np.logaddexp(0.0, -y * z)

    @staticmethod
    def _dloss(z, y):
        return -y * expit(-y * z)

    @staticmethod
    def _ddloss(z, y):
        m = y * z
        return expit(m) * expit(-m)

    def _separable(self) -> bool:
        """Whether some w ≠ 0 has all margins yᵢaᵢᵀw ≥ 0 and one > 0: max Σ margins over |wⱼ| ≤ 1."""
        from scipy.optimize import linprog

        M = self.y[:, None] * self.A
        res = linprog(-M.sum(axis=0), A_ub=-M, b_ub=np.zeros(len(M)), bounds=[(-1, 1)] * self.dim,
                      method="highs")
        return res.status == 0 and -res.fun > 1e-9 * float(np.abs(M).sum())

    def _newton(self) -> np.ndarray:
        """Damped Newton from 0 (Armijo backtracking: pure Newton can overshoot far from the
        minimum), then polish_minima's pure Newton steps to machine precision."""
        w = np.zeros(self.dim)
        for _ in range(100):
            g = self._grad(w)
            step = np.linalg.solve(self._hess(w), g)
            if np.linalg.norm(step) <= 1e-8 * (1 + np.linalg.norm(w)):
                break
            t, f0, slope = 1.0, self._value(w), float(g @ step)
            while self._value(w - t * step) > f0 - 1e-4 * t * slope and t > 1e-12:
                t /= 2
            w = w - t * step
        return polish_minima(self, w, steps=10)[0]
