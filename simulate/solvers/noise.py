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

Reproducibility: a run's draws come from ``np.random.default_rng(seed)`` in a fixed order (one
draw of the batch's shape per step), so a seed gives the same bits on the same machine. Members of
a batch get independent noise from that one stream: a member's path depends on the batch it ran
in (its size and its place), not only on the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..spec import format_spec, parse_spec

__all__ = ["Noise", "NoisyGradients", "noise", "is_finite_sum"]


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
        shift = self.perturbation(rng.standard_normal(batch + (landscape.dim,))) if self.additive else None
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

    def perturbation(self, xi: np.ndarray) -> np.ndarray:
        """``L·ξ`` for standard normal ``ξ`` ``(..., d)``: the additive part's draw."""
        if self.cov is not None:
            return xi @ self._factor.T
        return self.scale * xi

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
            out = out + self.perturbation(rng.standard_normal(x.shape))
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


class NoisyGradients:
    """The landscape as a run's optimizer sees it: ``grad`` is the gradient of the step's random
    loss; the value and Hessian are exact. One per run, holding that run's random stream.
    :func:`simulate.solvers.discrete.advance` calls :meth:`begin_step` before every step; the draw is made
    at the step's first gradient evaluation (for the batch it is evaluated on)."""

    def __init__(self, landscape, noise: Noise, seed: int):
        self.landscape, self.noise = landscape, noise
        self.rng = np.random.default_rng(seed)
        self.dim, self.name = landscape.dim, landscape.name
        self.matrix_shapes = getattr(landscape, "matrix_shapes", None)  # Muon orthogonalizes block by block
        self._sample = None

    def begin_step(self, k: int) -> None:
        """A new step: the next evaluation draws a new loss (``k``, the step, is for the caller's clarity)."""
        self._sample = None

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
