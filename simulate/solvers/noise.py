"""Stochastic gradients: a noise model, and the gradient oracle one seeded run draws from.

A :class:`Noise` says how a run's gradients differ from ∇f, for every optimizer alike. Each step
draws one random loss and every gradient evaluation of that step sees the same draw (a Runge–Kutta
scheme's stages, a proximal step's Newton solve), as one minibatch serves a whole step::

    g̃(x) = ∇f_B(x) + L·ξ,    ξ ~ N(0, I_d),  L·Lᵀ = Σ_add    (f_B + ξ·Lᵀx: one random loss per step)

* additive Gaussian noise: ``scale=σ`` (isotropic, Σ_add = σ²I), ``scale=(σ₁, …, σ_d)`` (per
  coordinate) or ``cov=Σ`` (any positive semidefinite matrix);
* minibatches: on a finite-sum landscape f = (1/N) Σᵢ fᵢ (``least-squares``, ``logistic``),
  ``batch_size=b`` makes ∇f_B the mean of b per-sample gradients drawn each step, independently for
  every member, without replacement within a step (``replacement=True``: with). The minibatch
  gradient is unbiased with covariance

      Σ_B(x) = c · (1/N) Σᵢ (∇fᵢ − ∇f)(∇fᵢ − ∇f)ᵀ,   c = (N − b)/(b(N − 1))   (with replacement: 1/b),

  zero when b = N.

Both may be combined. Σ(x) = Σ_B(x) + Σ_add is what the stochastic modified equation of
:mod:`simulate.sdes` uses; :meth:`Noise.kick` draws Σ(x)^{1/2}·ξ without a matrix square root, and
:meth:`Noise.factor` gives a matrix F with F·Fᵀ = Σ(x).

Reproducibility: by default a run's draws come from ``np.random.default_rng(seed)`` in a fixed
order (one draw of the batch's shape per step), so a seed gives the same bits on the same machine.
Members of a batch get independent noise from that one stream: a member's path depends on the
batch it ran in (its size and its place), not only on the seed.

Given ``cells`` (each member's flat index in a whole grid), :class:`NoisyGradients` draws from
:class:`CellStreams` instead: every number a member draws is a function of (seed, cell, step, draw
number within the step, element index) alone, so a grid run in chunks, in any order, on any
number of processes or machines, gives every cell the bits the whole grid run at once gives it.
The numbers are a counter-based generator: the splitmix64 finalizer (a bijection of 64-bit words)
applied to those counters in uint64 arithmetic, which wraps modulo 2⁶⁴ identically everywhere.
Uniforms are the top 53 bits times 2⁻⁵³; integers in [0, n) are the word modulo n (a bias below
n/2⁶⁴); normals are Wichura's AS241 inverse of the normal CDF at the open uniform
(k + ½)·2⁻⁵³ (within 2e-15 relative of ``scipy.special.ndtri``), computed with +, −, ×, ÷, √
and a logarithm written in those operations (fdlibm's): correctly rounded IEEE operations, so the
same bits on every machine, whatever its libm or SIMD kernels. A cell's path is then the same
bits in any batch as far as the landscape computes each member alone: elementwise landscapes do;
a matrix product of one row (BLAS gemv) may round otherwise than of many (gemm), so a chunk of
one member can differ in the last bit on a finite-sum landscape's minibatch SDE kick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..spec import format_spec, parse_spec

__all__ = ["Noise", "NoisyGradients", "CellStreams", "noise", "is_finite_sum"]


def is_finite_sum(landscape) -> bool:
    """Whether ``landscape`` is a sum over samples that minibatches can be drawn from."""
    return all(hasattr(landscape, name) for name in ("minibatch_grad", "minibatch_hess", "per_sample_grads",
                                                     "weighted_grad"))


@dataclass(frozen=True, eq=False)
class Noise:
    """Gradient noise of a run: additive Gaussian (``scale`` or ``cov``) and/or minibatches."""

    scale: float | tuple = 0.0
    cov: tuple | None = None
    batch_size: int | None = None
    replacement: bool = False
    _factor: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if self.cov is not None and np.any(np.asarray(self.scale, dtype=object) != 0):
            raise ValueError("noise: give scale or cov, not both")
        scale = _real_array("scale", self.scale, ndim=(0, 1))
        if np.any(scale < 0):
            raise ValueError(f"noise: scale must be >= 0 (a standard deviation), got {_show(scale)}")
        object.__setattr__(self, "scale", scale)
        if self.cov is not None:
            cov = _real_array("cov", self.cov, ndim=(2,))
            if cov.shape[0] != cov.shape[1] or not np.array_equal(cov, cov.T):
                raise ValueError(f"noise: cov must be a symmetric square matrix, got {cov.tolist()}")
            w, v = np.linalg.eigh(cov)
            if w[0] < -1e-12 * max(1.0, abs(w[-1])):
                raise ValueError(f"noise: cov must be positive semidefinite; its smallest eigenvalue is {w[0]:.3g}")
            object.__setattr__(self, "cov", cov)
            # L = V·√W: L·Lᵀ = cov even where cov is singular (a Cholesky factor would not exist)
            object.__setattr__(self, "_factor", v * np.sqrt(np.clip(w, 0, None)))
        if self.batch_size is not None:
            object.__setattr__(self, "batch_size", whole("noise: batch_size", self.batch_size, 1))
        if not isinstance(self.replacement, (bool, np.bool_)):
            raise ValueError(f"noise: replacement must be true or false, got {self.replacement!r}")
        for arr in (self.scale, self.cov):
            if arr is not None:
                arr.setflags(write=False)

    # -- what it is ------------------------------------------------------------------------------
    @property
    def additive(self) -> bool:
        """Whether there is additive Gaussian noise."""
        return self.cov is not None or bool(np.any(self.scale != 0))

    @property
    def state_independent(self) -> bool:
        """Σ does not depend on x (additive noise only): the SDE has additive noise."""
        return self.batch_size is None

    def __bool__(self) -> bool:
        return self.additive or self.batch_size is not None

    @property
    def label(self) -> str:
        """A spec that rebuilds this noise: ``noise(scale=0.5)``, ``noise(batch_size=8)``."""
        params = {}
        if self.cov is not None:
            params["cov"] = self.cov.tolist()
        elif self.additive:
            params["scale"] = float(self.scale) if self.scale.ndim == 0 else self.scale.tolist()
        if self.batch_size is not None:
            params["batch_size"] = self.batch_size
            if self.replacement:
                params["replacement"] = True
        return format_spec("noise", params)

    @property
    def description(self) -> str:
        """Short legend text: ``σ=0.5``, ``batch 8``."""
        parts = []
        if self.batch_size is not None:
            parts.append(f"batch {self.batch_size}" + (" (with replacement)" if self.replacement else ""))
        if self.cov is not None:
            parts.append("Gaussian, cov " + _show(self.cov.ravel()))
        elif self.additive:
            parts.append(f"σ={_show(self.scale)}")
        return ", ".join(parts) or "no noise"

    # -- checks against a landscape -------------------------------------------------------------
    def check(self, landscape) -> None:
        """Raise ValueError where this noise does not fit ``landscape``."""
        d = landscape.dim
        if self.scale.ndim == 1 and self.scale.shape != (d,):
            raise ValueError(f"noise: scale has {self.scale.size} entries but {landscape.name} is {d}-dimensional "
                             f"(give one number, or one per coordinate)")
        if self.cov is not None and self.cov.shape != (d, d):
            raise ValueError(f"noise: cov is {self.cov.shape[0]}×{self.cov.shape[1]} but {landscape.name} is "
                             f"{d}-dimensional")
        if self.batch_size is not None:
            if not is_finite_sum(landscape):
                raise ValueError(f"batch_size needs a finite-sum landscape (least-squares, logistic); "
                                 f"{landscape.name} is not a sum over samples. Use noise=σ for Gaussian gradient noise")
            if not self.replacement and self.batch_size > landscape.samples:
                raise ValueError(f"batch_size {self.batch_size} is larger than the {landscape.samples} samples of "
                                 f"{landscape.name} (draws are without replacement)")

    # -- drawing --------------------------------------------------------------------------------
    def draw(self, landscape, batch: tuple[int, ...], rng: np.random.Generator) -> tuple:
        """One step's random loss for every member of ``batch``: ``(minibatch indices or None,
        additive shift L·ξ or None)``."""
        indices = None if self.batch_size is None else self._indices(landscape.samples, batch, rng)
        keyed = isinstance(rng, CellStreams)
        shift = self.perturbation(rng.standard_normal(batch + (landscape.dim,)), keyed) if self.additive else None
        return indices, shift

    @staticmethod
    def gradient(landscape, x: np.ndarray, sample: tuple) -> np.ndarray:
        """The gradient of the drawn loss ``sample`` (from :meth:`draw`) at ``x`` ``(..., d)``."""
        indices, shift = sample
        g = landscape.grad(x) if indices is None else landscape.minibatch_grad(x, indices)
        return g if shift is None else g + shift

    @staticmethod
    def hessian(landscape, x: np.ndarray, sample: tuple) -> np.ndarray:
        """The Hessian of the drawn loss (the additive shift is linear: it has none)."""
        indices, _ = sample
        return landscape.hess(x) if indices is None else landscape.minibatch_hess(x, indices)

    def _indices(self, n: int, batch: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        b = self.batch_size
        if self.replacement:
            return rng.integers(0, n, size=batch + (b,))
        # b distinct samples per member: the b smallest of N uniform keys, O(N) per member
        keys = rng.random(batch + (n,))
        return np.argpartition(keys, b - 1, axis=-1)[..., :b] if b < n else np.argsort(keys, axis=-1)

    def perturbation(self, xi: np.ndarray, batch_independent: bool = False) -> np.ndarray:
        """``L·ξ`` for standard normal ``ξ`` ``(..., d)``: the additive part's draw.
        ``batch_independent``: each member's sum in one fixed order, so its bits do not depend on
        the batch (a matrix product of one row is BLAS's gemv, of many its gemm: they round
        differently); d vectorized passes instead of one product."""
        if self.cov is None:
            return self.scale * xi
        if not batch_independent:
            return xi @ self._factor.T
        out = xi[..., :1] * self._factor[:, 0]
        for j in range(1, xi.shape[-1]):
            out += xi[..., j:j + 1] * self._factor[:, j]
        return out

    def kick(self, landscape, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Σ(x)^{1/2}·ξ for a standard normal ξ, ``(..., d)``: the Brownian kick of the SDE per unit
        √dt. For minibatches Σ^{1/2}ξ = √(c/N)·Σᵢ ξᵢ(∇fᵢ − ∇f) with ξ ∈ R^N, computed from the
        weighted gradient Σᵢ ξᵢ∇fᵢ without forming the per-sample gradients."""
        out = 0.0
        if self.batch_size is not None:
            n = landscape.samples
            xi = rng.standard_normal(x.shape[:-1] + (n,))
            centred = landscape.weighted_grad(x, xi) - landscape.grad(x) * np.sum(xi, axis=-1, keepdims=True)
            out = math.sqrt(self._minibatch_factor(n) / n) * centred
        if self.additive:
            out = out + self.perturbation(rng.standard_normal(x.shape), isinstance(rng, CellStreams))
        return out

    def _minibatch_factor(self, n: int) -> float:
        """c in Σ_B = c·C: 1/b with replacement, (N − b)/(b(N − 1)) without."""
        if self.replacement:
            return 1.0 / self.batch_size
        return (n - self.batch_size) / (self.batch_size * (n - 1)) if n > 1 else 0.0

    def factor(self, landscape, x: np.ndarray) -> np.ndarray:
        """F ``(..., d, m)`` with F·Fᵀ = Σ(x), the covariance of one stochastic gradient at x."""
        d = landscape.dim
        batch = x.shape[:-1]
        parts = []
        if self.batch_size is not None:
            G = landscape.per_sample_grads(x)  # (..., N, d)
            n = G.shape[-2]
            centred = G - G.mean(axis=-2, keepdims=True)
            parts.append(np.swapaxes(centred, -1, -2) * math.sqrt(self._minibatch_factor(n) / n))
        if self.cov is not None:
            parts.append(np.broadcast_to(self._factor, batch + (d, d)))
        elif self.additive:
            parts.append(np.broadcast_to(np.eye(d) * self.scale, batch + (d, d)))
        if not parts:
            return np.zeros(batch + (d, 0))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)

    def covariance(self, landscape, x) -> np.ndarray:
        """Σ(x) ``(..., d, d)``."""
        F = self.factor(landscape, np.asarray(x, dtype=np.float64))
        return F @ np.swapaxes(F, -1, -2)


_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment: 2⁶⁴/φ, odd
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # splitmix64's finalizer multipliers


def _mix_int(z: int) -> int:
    """The splitmix64 finalizer on one Python int: a bijection of 64-bit words."""
    z &= _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def _mix(z: np.ndarray) -> np.ndarray:
    """``_mix_int`` on a uint64 array, in place (array arithmetic wraps modulo 2⁶⁴, silently)."""
    z ^= z >> np.uint64(30)
    z *= np.uint64(_M1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_M2)
    z ^= z >> np.uint64(31)
    return z


class CellStreams:
    """Random numbers keyed by grid cell: the ``standard_normal``, ``integers`` and ``random`` of a
    :class:`numpy.random.Generator`, for a batch of members whose flat indices in a whole grid are
    ``cells``, each member's numbers a function of (seed, cell, step, draw, element) only.

    A draw's ``size`` is ``cells.shape`` followed by any trailing shape; its elements are numbered
    in C order over the trailing shape. :meth:`begin_step` sets the step and restarts the count of
    draws within it (the draws of a step are numbered in the order they are made, which the noise
    model fixes and the batch does not). Members given the same cell draw the same numbers.
    See the module docstring for the generator and why its bits are the same on every machine."""

    def __init__(self, seed: int, cells):
        seed = whole("seed", seed, 0)
        cells = np.asarray(cells)
        if cells.dtype.kind not in "iu" or (cells.size and cells.min() < 0):
            raise ValueError(f"cells must be an array of whole numbers >= 0 (flat indices in the grid), "
                             f"got {cells.dtype} {_show(cells)}")
        key = _GOLDEN
        while True:  # a seed of any size folded 64 bits at a time
            key = _mix_int(key + (seed & _MASK))
            seed >>= 64
            if not seed:
                break
        self.cells = cells
        self.shape = cells.shape
        # one 64-bit key per member: the cell's word of a splitmix64 stream started at the seed's key
        self._keys = _mix(cells.astype(np.uint64).reshape(-1) * np.uint64(_GOLDEN) + np.uint64(key))
        self.step, self.draws = 0, 0

    def begin_step(self, k: int) -> None:
        """Step ``k`` begins: its draws are numbered from 0."""
        self.step, self.draws = int(k), 0

    def bits(self, size) -> np.ndarray:
        """The next draw's 64-bit words, ``size`` = ``cells.shape + trailing``, uint64."""
        return self._draw(size, lambda words: words, np.uint64)

    def random(self, size) -> np.ndarray:
        """Uniform on [0, 1): the top 53 bits times 2⁻⁵³."""
        return self._draw(size, lambda words: (words >> np.uint64(11)).astype(np.float64) * 2.0 ** -53, np.float64)

    def integers(self, low, high=None, size=None) -> np.ndarray:
        """Whole numbers in [low, high) (``integers(n, size=…)``: in [0, n)), int64: the word modulo
        the count, whose bias (count/2⁶⁴ at most) is far below anything a run could see."""
        if high is None:
            low, high = 0, low
        low, count = int(low), int(high) - int(low)
        if count < 1:
            raise ValueError(f"integers: high must exceed low, got [{low}, {high})")
        n = np.uint64(count)
        # w − ⌊w/n⌋·n is w mod n; numpy divides by one number without a division instruction per word
        return self._draw(size, lambda words: (words - words // n * n).astype(np.int64) + low, np.int64)

    def standard_normal(self, size) -> np.ndarray:
        """Standard normal: Φ⁻¹ of the open uniform (k + ½)·2⁻⁵³ of each word's top 53 bits k."""
        return self._draw(size, lambda words: _normal_quantile((words >> np.uint64(11)).astype(np.float64)),
                          np.float64)

    def _draw(self, size, convert, dtype) -> np.ndarray:
        size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
        if size[:len(self.shape)] != self.shape:
            raise ValueError(f"a draw of shape {size} for cells of shape {self.shape}: the batch evaluated must "
                             f"be the cells' shape")
        m = math.prod(size[len(self.shape):])
        # the (step, draw) pair as one word, mixed into every member's key: that member's draw key
        salt = _mix_int(_mix_int(self.step * _GOLDEN + 0x2545F4914F6CDD1D) + (self.draws + 1) * _GOLDEN)
        self.draws += 1
        keys = _mix(self._keys ^ np.uint64(salt))
        # element e of a draw: word e + 1 of the splitmix64 stream started at the member's draw key
        stride = np.arange(1, m + 1, dtype=np.uint64) * np.uint64(_GOLDEN)
        out = np.empty((keys.size, m), dtype)
        rows = max(1, _BLOCK // max(m, 1))  # blocks that stay in cache: several times faster than whole
        for i in range(0, keys.size, rows):
            out[i:i + rows] = convert(_mix(keys[i:i + rows, None] + stride))
        return out.reshape(size)


_BLOCK = 1 << 15  # words converted at a time


# Wichura's AS241 (PPND16), Applied Statistics 37 (1988) 477–484: Φ⁻¹ to about 1e-16, lowest power first
_AS241_A = (3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3, 1.3731693765509461125e4,
            4.5921953931549871457e4, 6.7265770927008700853e4, 3.3430575583588128105e4, 2.5090809287301226727e3)
_AS241_B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
            2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4, 5.2264952788528545610e3)
_AS241_C = (1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0, 3.64784832476320460504e0,
            1.27045825245236838258e0, 2.41780725177450611770e-1, 2.27238449892691845833e-2, 7.74545014278341407640e-4)
_AS241_D = (1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
            1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4, 1.05075007164441684324e-9)
_AS241_E = (6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0, 2.96560571828504891230e-1,
            2.65321895265761230930e-2, 1.24266094738807843860e-3, 2.71155556874348757815e-5, 2.01033439929228813265e-7)
_AS241_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
            7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7, 2.04426310338993978564e-15)


def _horner(coefficients, r: np.ndarray) -> np.ndarray:
    acc = r * coefficients[-1]
    acc += coefficients[-2]
    for c in coefficients[-3::-1]:
        acc *= r
        acc += c
    return acc


def _normal_quantile(k: np.ndarray) -> np.ndarray:
    """Φ⁻¹(p) at p = (k + ½)·2⁻⁵³ for whole k in [0, 2⁵³) (floats), by AS241: a rational function of
    p − ½ in the centre, of √(−log min(p, 1 − p)) in the tails (the logarithm ``_log``). Both
    are formed from k exactly (p itself would round to 1 at the top), so k and 2⁵³ − 1 − k give
    opposite numbers."""
    q = (k - (2.0 ** 52 - 0.5)) * 2.0 ** -53  # p − ½, exact
    r = 0.180625 - q * q
    out = q * _horner(_AS241_A, r) / _horner(_AS241_B, r)
    tail = np.abs(q) > 0.425
    if tail.any():
        kt, qt = k[tail], q[tail]
        smaller = np.minimum(kt, 2.0 ** 53 - 1.0 - kt) + 0.5  # min(p, 1 − p)·2⁵³, exact
        r = np.sqrt(-_log(smaller * 2.0 ** -53))
        near = r - 1.6
        z = _horner(_AS241_C, near) / _horner(_AS241_D, near)
        far = r > 5.0  # p below 1.4e-11: about one draw in 4·10¹⁰
        if far.any():
            z[far] = _horner(_AS241_E, r[far] - 5.0) / _horner(_AS241_F, r[far] - 5.0)
        out[tail] = np.where(qt < 0, -z, z)
    return out


# fdlibm's e_log.c: log(1 + f) = f − f²/2 + s·(f²/2 + R(s²)), s = f/(2 + f), to under 1 ulp
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01,
       1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01)


def _log(x: np.ndarray) -> np.ndarray:
    """The natural logarithm of positive normal floats in +, −, ×, ÷ only (np.log's bits may
    differ between machines, by their libm or SIMD kernels; these do not)."""
    m, e = np.frexp(x)  # x = m·2^e, m in [½, 1): exact
    low = m < 0.7071067811865476  # m in [√½, √2): f = m − 1 small
    m = np.where(low, 2.0 * m, m)
    k = (e - low).astype(np.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    R = z * (_LG[0] + w * (_LG[2] + w * (_LG[4] + w * _LG[6]))) + w * (_LG[1] + w * (_LG[3] + w * _LG[5]))
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + R) + k * _LN2_LO)) - f)


class NoisyGradients:
    """The landscape as a run's optimizer sees it: ``grad`` is the gradient of the step's random
    loss; the value and Hessian are exact. One per run, holding that run's random stream.
    :func:`simulate.solvers.discrete.advance` calls :meth:`begin_step` before every step; the draw is made
    at the step's first gradient evaluation (for the batch it is evaluated on)."""

    def __init__(self, landscape, noise: Noise, seed: int, cells=None):
        self.landscape, self.noise = landscape, noise
        # cells: each member's flat index in a whole grid; its draws then depend on (seed, cell,
        # step) only, never on the batch it runs in (a grid run in chunks equals the grid run whole)
        self.rng = np.random.default_rng(seed) if cells is None else CellStreams(seed, cells)
        self.dim, self.name = landscape.dim, landscape.name
        self.matrix_shapes = getattr(landscape, "matrix_shapes", None)  # Muon orthogonalizes block by block
        self._sample = None

    def begin_step(self, k: int) -> None:
        """A new step: the next evaluation draws a new loss. ``k``, the step, keys the draws of a
        run given ``cells``; the shared stream of a run without them ignores it."""
        self._sample = None
        if isinstance(self.rng, CellStreams):
            self.rng.begin_step(k)

    def _drawn(self, x: np.ndarray) -> tuple:
        if self._sample is None:
            self._sample = self.noise.draw(self.landscape, x.shape[:-1], self.rng)
        return self._sample

    def grad(self, x) -> np.ndarray:
        x = self.landscape.points(x)
        return self.noise.gradient(self.landscape, x, self._drawn(x))

    def hess(self, x) -> np.ndarray:
        x = self.landscape.points(x)
        return self.noise.hessian(self.landscape, x, self._drawn(x))

    def value(self, x) -> np.ndarray:
        return self.landscape.value(x)

    def points(self, x) -> np.ndarray:
        return self.landscape.points(x)


def noise(value=None, *, batch_size: int | None = None) -> Noise | None:
    """A :class:`Noise` from what a user writes: ``0.5`` (isotropic σ), ``"0.5,0.1"`` (per
    coordinate), ``"noise(cov=[[1, 0.5], [0.5, 2]])"``, a Noise, or None; ``batch_size`` adds
    minibatches. Returns None for no noise at all."""
    if isinstance(value, Noise):
        if batch_size is not None and value.batch_size not in (None, batch_size):
            raise ValueError(f"batch_size {batch_size} and the noise's own batch_size {value.batch_size}: give one")
        model = value if batch_size is None else Noise(value.scale if value.cov is None else 0.0, value.cov,
                                                       batch_size, value.replacement)
        return model or None
    if value is None:
        model = Noise(batch_size=batch_size)
    elif isinstance(value, str):
        text = value.strip()
        if text[:1].isalpha():
            name, params = parse_spec(text)
            if name.lower() not in ("noise", "gaussian"):
                raise ValueError(f"unknown noise {name!r}: write a standard deviation (0.5), one per coordinate "
                                 f"(0.5,0.1) or noise(scale=..., cov=..., batch_size=...)")
            if batch_size is not None:
                if params.get("batch_size", batch_size) != batch_size:
                    raise ValueError(f"batch_size {batch_size} and the noise's own batch_size {params['batch_size']}: "
                                     f"give one")
                params["batch_size"] = batch_size
            unknown = set(params) - {"scale", "cov", "batch_size", "replacement"}
            if unknown:
                raise ValueError(f"noise: unknown parameter {sorted(unknown)[0]!r}; "
                                 f"parameters: scale, cov, batch_size, replacement")
            model = Noise(**params)
        else:
            try:
                parts = [float(p) for p in text.replace(" ", ",").split(",") if p]
            except ValueError:
                raise ValueError(f"noise {value!r}: expected a standard deviation such as 0.5, one per coordinate "
                                 f"such as 0.5,0.1, or noise(cov=[[1, 0.5], [0.5, 2]])") from None
            if not parts:
                raise ValueError("noise: empty")
            model = Noise(parts[0] if len(parts) == 1 else tuple(parts), batch_size=batch_size)
    else:
        model = Noise(value, batch_size=batch_size)
    return model or None


def whole(name: str, value, minimum: int, maximum: int | None = None) -> int:
    """A whole number in [minimum, maximum], or ValueError naming it (True and 2.5 are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum or (
            maximum is not None and value > maximum):
        limits = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name} must be a whole number {limits}, got {value!r}")
    return int(value)


def _real_array(name, value, ndim) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"noise: {name} must be a number or an array of numbers, got {value!r}") from None
    if np.asarray(value).dtype == bool or arr.ndim not in ndim:
        raise ValueError(f"noise: {name} must be {' or '.join(('a number', 'a list of numbers', 'a matrix')[n] for n in ndim)}"
                         f", got {value!r}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"noise: {name} must be finite, got {value!r}")
    return arr


def _show(arr) -> str:
    arr = np.ravel(arr)
    return ",".join(f"{v:g}" for v in arr[:4]) + ("…" if arr.size > 4 else "")
