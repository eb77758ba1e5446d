r"""Matrix landscapes: the point is one matrix or a tuple of matrix blocks, stored flattened.

A point of ``d`` coordinates holds the blocks of :attr:`~simulate.landscapes.base.Landscape.matrix_shapes`,
each row-major, one after the other (points ``(..., d)``, batch first as everywhere). An optimizer that
acts on matrices (Muon) orthogonalizes block by block, as torch does parameter by parameter.

* ``matrix-factorization``: :class:`MatrixFactorization`, ½‖UVᵀ − M‖²_F, point (U m×r, V n×r).
* ``matrix-sensing``: :class:`MatrixSensing`, ½Σᵢ(⟨Aᵢ, X⟩ − yᵢ)², point X (m×n).
* ``linear-net``: :class:`LinearNet`, ½‖W₂W₁X − Y‖²_F, point (W₁ h×p, W₂ q×h).

The two products are one loss in the canonical blocks (W₁, W₂) with P = W₂W₁, data X (p×N) and
targets Y (q×N); the factorization is X = I, Y = M, W₂ = U, W₁ = Vᵀ::

    R = PX − Y,   f = ½‖R‖²,   G = RXᵀ,   ∇_{W₁} f = W₂ᵀG,   ∇_{W₂} f = GW₁ᵀ,
    ∇²f[(W₁)ki,(W₁)k'i'] = (W₂ᵀW₂)kk'·Sii',   ∇²f[(W₂)ok,(W₂)o'k'] = δoo'·(W₁SW₁ᵀ)kk',
    ∇²f[(W₂)ok,(W₁)k'i] = W₂ok'·(W₁S)ki + δkk'·Goi,     S = XXᵀ

(the Gauss–Newton part JᵀJ plus the residual times the second derivative of the bilinear P).
Matrix sensing is a quadratic: ∇f = Σᵢ rᵢAᵢ, ∇²f = Σᵢ vec(Aᵢ)vec(Aᵢ)ᵀ, rᵢ = ⟨Aᵢ, X⟩ − yᵢ.

Every target is realizable (M of rank ≤ r, Y = TX with rank T ≤ h, y from a low-rank X*), so the
global minimum value is 0; the listed minimum is the balanced factorization from the SVD (U = P√Σ,
V = Q√Σ), or X*. The minima of the products are not isolated (UVᵀ is invariant under U → UA,
V → VA⁻ᵀ): their Hessians there are positive semidefinite with zero eigenvalues. Data come from
``np.random.default_rng(seed)`` in a fixed order, so a spec names one problem bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Landscape, _integer, _set

__all__ = ["MatrixLandscape", "MatrixFactorization", "MatrixSensing", "LinearNet", "MAX_SIDE"]

#: Largest side of a block: Hessians are dense (d, d) per point and the views are for small matrices.
MAX_SIDE = 20


def _frozen(arr) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    arr.setflags(write=False)
    return arr


def _box(*points) -> np.ndarray:
    """A symmetric box around the start and the minima: 1.5 times their largest entry, at least 1."""
    half = max(1.0, 1.5 * max(float(np.max(np.abs(p))) for p in points))
    half = float(np.ceil(2 * half) / 2)
    return [[-half, half]] * int(np.size(points[0]))


@dataclass(frozen=True, eq=False)
class MatrixLandscape(Landscape):
    """A landscape whose point is matrix blocks (:attr:`matrix_shapes`): splitting and joining points."""

    def blocks(self, x) -> list[np.ndarray]:
        """The blocks of the points ``x`` ``(..., d)`` as matrices ``(..., rows, cols)`` (views)."""
        x = np.asarray(x, dtype=np.float64)
        out, start = [], 0
        for r, c in self.matrix_shapes:
            out.append(x[..., start:start + r * c].reshape(x.shape[:-1] + (r, c)))
            start += r * c
        return out

    def join(self, blocks) -> np.ndarray:
        """Blocks ``(..., rows, cols)`` back into points ``(..., d)``."""
        blocks = [np.asarray(b, dtype=np.float64) for b in blocks]
        batch = np.broadcast_shapes(*(b.shape[:-2] for b in blocks))
        return np.concatenate([np.broadcast_to(b, batch + b.shape[-2:]).reshape(batch + (-1,)) for b in blocks], axis=-1)


@dataclass(frozen=True, eq=False)
class _Product(MatrixLandscape):
    """½‖W₂W₁X − Y‖² in the canonical blocks (W₁ h×p, W₂ q×h) of the module docstring. Subclasses
    set ``_X`` (p×N), ``_Y`` (q×N), the sizes ``_p, _h, _q`` and ``_perm``: point coordinate j is
    canonical coordinate ``_perm[j]``."""

    def _canonical(self, x):
        z = x[..., self._perm_inverse]
        h, p, q = self._h, self._p, self._q
        W1 = z[..., :h * p].reshape(x.shape[:-1] + (h, p))
        W2 = z[..., h * p:].reshape(x.shape[:-1] + (q, h))
        return W1, W2

    def _residual(self, x):
        W1, W2 = self._canonical(x)
        return W1, W2, W2 @ W1 @ self._X - self._Y

    def _value(self, x):
        R = self._residual(x)[2]
        return 0.5 * np.sum(R * R, axis=(-2, -1))

    def _grad(self, x):
        W1, W2, R = self._residual(x)
        G = R @ self._X.T
        z = np.concatenate([(np.swapaxes(W2, -1, -2) @ G).reshape(x.shape[:-1] + (-1,)),
                            (G @ np.swapaxes(W1, -1, -2)).reshape(x.shape[:-1] + (-1,))], axis=-1)
        return z[..., self._perm]

    def _hess(self, x):
        W1, W2, R = self._residual(x)
        S, G = self._S, R @ self._X.T
        h, p, q = self._h, self._p, self._q
        batch = x.shape[:-1]
        n1, n2 = h * p, q * h
        H = np.zeros(batch + (n1 + n2, n1 + n2))
        H11 = np.einsum("...ak,...al,ij->...kilj", W2, W2, S).reshape(batch + (n1, n1))
        H22 = np.einsum("or,...kj,...lj->...okrl", np.eye(q), W1 @ S, W1).reshape(batch + (n2, n2))
        H21 = (np.einsum("...ol,...ki->...okli", W2, W1 @ S)
               + np.einsum("kl,...oi->...okli", np.eye(h), G)).reshape(batch + (n2, n1))
        H[..., :n1, :n1], H[..., n1:, n1:] = H11, H22
        H[..., n1:, :n1], H[..., :n1, n1:] = H21, np.swapaxes(H21, -1, -2)
        H = H[..., self._perm, :][..., :, self._perm]
        return 0.5 * (H + np.swapaxes(H, -1, -2))

    def _setup(self, X, Y, p, h, q, perm, shapes, minimum, start):
        perm = np.asarray(perm)
        _set(self, _X=_frozen(X), _Y=_frozen(Y), _S=_frozen(X @ X.T), _p=p, _h=h, _q=q, _perm=perm,
             _perm_inverse=np.argsort(perm), matrix_shapes=tuple(shapes), dim=int(perm.size))
        _set(self, minima=[minimum], default_start=start, bounds=_box(start, minimum))


@dataclass(frozen=True, eq=False)
class MatrixFactorization(_Product):
    """½‖UVᵀ − M‖²_F with U (m×r), V (n×r) and a seeded target M of rank ``rank`` (≤ r); point (U, V).

    M = AB ᵀ/√r with A, B standard normal (m×rank, n×rank); the start is U, V with entries
    N(0, init²) (seed + 1). Minimum: U = P√Σ, V = Q√Σ from M's SVD (zero columns beyond its rank), f* = 0.
    """

    name = "matrix-factorization"
    description = "matrix factorization ½‖UVᵀ − M‖²: point (U, V), a seeded low-rank M, f* = 0"
    m: int = 3
    n: int = 3
    r: int = 2
    rank: int = 2
    seed: int = 0
    init: float = 0.5

    def __post_init__(self):
        m, n, r = (_integer(k, getattr(self, k), 1, MAX_SIDE) for k in ("m", "n", "r"))
        rank = _integer("rank", self.rank, 1, min(m, n))
        seed = _integer("seed", self.seed, 0)
        init = _positive("init", self.init)
        if rank > r:
            raise ValueError(f"matrix-factorization: rank {rank} > r {r}: the target would not be realizable "
                             f"(UVᵀ has rank at most r)")
        rng = np.random.default_rng(seed)
        M = rng.standard_normal((m, rank)) @ rng.standard_normal((n, rank)).T / np.sqrt(rank)
        U, Vt = _balanced(M, rank, r)
        V = Vt.T
        start = init * np.random.default_rng(seed + 1).standard_normal(m * r + n * r)
        # point (U row-major, V row-major); canonical (W₁ = Vᵀ (r×n) row-major, W₂ = U (m×r))
        w1 = np.arange(r * n).reshape(r, n).T.ravel()  # V[j, a] is W₁[a, j]
        perm = np.concatenate([r * n + np.arange(m * r), w1])
        _set(self, M=_frozen(M))
        self._setup(np.eye(n), M, n, r, m, perm, ((m, r), (n, r)), np.concatenate([U.ravel(), V.ravel()]), start)
        super().__post_init__()

    def product(self, x):
        U, V = self.blocks(x)
        return U @ np.swapaxes(V, -1, -2)


@dataclass(frozen=True, eq=False)
class LinearNet(_Product):
    """A two-layer linear network ½‖W₂W₁X − Y‖²_F: W₁ (hidden×inputs), W₂ (outputs×hidden); point (W₁, W₂).

    X (inputs×samples) standard normal / √samples; Y = TX with T (outputs×inputs) standard normal of rank
    min(outputs, inputs, hidden) (T = AB/√k), so the minimum f* = 0 is reached at W₂ = P√Σ, W₁ = √ΣQᵀ
    from T's SVD. The start has entries N(0, init²) (seed + 1).
    """

    name = "linear-net"
    description = "two-layer linear network ½‖W₂W₁X − Y‖²: point (W₁, W₂), seeded data, f* = 0"
    inputs: int = 3
    hidden: int = 2
    outputs: int = 2
    samples: int = 8
    seed: int = 0
    init: float = 0.5

    def __post_init__(self):
        p, h, q = (_integer(k, getattr(self, k), 1, MAX_SIDE) for k in ("inputs", "hidden", "outputs"))
        N = _integer("samples", self.samples, 1, 10_000)
        seed = _integer("seed", self.seed, 0)
        init = _positive("init", self.init)
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((p, N)) / np.sqrt(N)
        k = min(p, h, q)
        T = rng.standard_normal((q, k)) @ rng.standard_normal((k, p)) / np.sqrt(k)
        W2, W1 = _balanced(T, k, h)
        start = init * np.random.default_rng(seed + 1).standard_normal(h * p + q * h)
        _set(self, T=_frozen(T))
        self._setup(X, T @ X, p, h, q, np.arange(h * p + q * h), ((h, p), (q, h)),
                    np.concatenate([W1.ravel(), W2.ravel()]), start)
        super().__post_init__()

    def product(self, x):
        W1, W2 = self.blocks(x)
        return W2 @ W1


@dataclass(frozen=True, eq=False)
class MatrixSensing(MatrixLandscape):
    """Matrix sensing ½Σᵢ(⟨Aᵢ, X⟩ − yᵢ)² over X (m×n), i = 1..measurements; point X.

    Aᵢ have standard normal entries / √measurements (so ∇²f ≈ I); yᵢ = ⟨Aᵢ, X*⟩ with X* = AB ᵀ/√rank of
    rank ``rank``. f* = 0 at X* (unique when measurements ≥ mn, then ∇²f is positive definite).
    The start has entries N(0, init²) (seed + 1).
    """

    name = "matrix-sensing"
    description = "matrix sensing ½Σ(⟨Aᵢ, X⟩ − yᵢ)²: point X, seeded Aᵢ and low-rank X*, f* = 0"
    m: int = 2
    n: int = 3
    rank: int = 1
    measurements: int = 12
    seed: int = 0
    init: float = 0.5

    def __post_init__(self):
        m, n = (_integer(k, getattr(self, k), 1, MAX_SIDE) for k in ("m", "n"))
        rank = _integer("rank", self.rank, 1, min(m, n))
        N = _integer("measurements", self.measurements, 1, 10_000)
        seed = _integer("seed", self.seed, 0)
        init = _positive("init", self.init)
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((N, m * n)) / np.sqrt(N)
        target = rng.standard_normal((m, rank)) @ rng.standard_normal((n, rank)).T / np.sqrt(rank)
        start = init * np.random.default_rng(seed + 1).standard_normal(m * n)
        _set(self, A=_frozen(A), target=_frozen(target), y=_frozen(A @ target.ravel()), _H=_frozen(A.T @ A),
             matrix_shapes=((m, n),), dim=m * n)
        _set(self, minima=[target.ravel()], default_start=start, bounds=_box(start, target))
        super().__post_init__()

    def _residual(self, x):
        return np.einsum("...j,ij->...i", x, self.A) - self.y

    def _value(self, x):
        r = self._residual(x)
        return 0.5 * np.sum(r * r, axis=-1)

    def _grad(self, x):
        return np.einsum("...i,ij->...j", self._residual(x), self.A)

    def _hess(self, x):
        H = 0.5 * (self._H + self._H.T)
        return np.broadcast_to(H, x.shape[:-1] + H.shape).copy()


def _balanced(T: np.ndarray, rank: int, inner: int) -> tuple[np.ndarray, np.ndarray]:
    """``(L, R)`` with ``LR = T`` for T of rank ``rank`` ≤ ``inner``: L = P√Σ (rows×inner), R = √ΣQᵀ
    (inner×cols) from T's SVD, zero beyond the rank (the balanced factorization, LᵀL = RRᵀ)."""
    P, s, Qt = np.linalg.svd(T)
    root = np.sqrt(s[:rank])
    L, R = np.zeros((T.shape[0], inner)), np.zeros((inner, T.shape[1]))
    L[:, :rank], R[:rank] = P[:, :rank] * root, root[:, None] * Qt[:rank]
    return L, R


def _positive(name: str, value) -> float:
    from .base import _real

    return _real(name, value, positive=True)
