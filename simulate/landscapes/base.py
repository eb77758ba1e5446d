"""The Landscape protocol: value, gradient and Hessian on points ``(..., d)``, and the helpers its
implementations share (validation, differenced Hessians, plot boxes, minimum search)."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._checks import MAX_COUNT, count, real, reals
from ..spec import format_spec

__all__ = ["Landscape", "expit", "matrix_blocks", "polish_minima", "search_minima", "differenced_hessian", "plot_box", "start_trouble",
           "moving_start", "short_label"]

MAX_LISTED_MINIMA = 4096


def _as_float_array(value, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = reals(value, name)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    return arr


@dataclass(frozen=True, eq=False)
class Landscape:
    """Base class. Subclasses set ``name`` and ``description`` and implement ``_value/_grad/_hess``."""

    name = "landscape"
    description = ""
    #: ``(grad(x, y, params) -> (gx, gy), params)`` for 2-D landscapes whose gradient is written in
    #: simulate.landscapes.pointwise (then simulate.solvers.engine can compile runs on them), else None.
    pointwise_grad = None
    #: ``(f(x, y, params), params)`` likewise: the compiled engine records losses with it.
    pointwise_value = None
    #: Constructor fields a subclass pins (they are not its parameters: bilinear takes only c).
    fixed_parameters: ClassVar[tuple[str, ...]] = ()
    #: A point made of matrices: their shapes ``((rows, cols), ...)``, each block stored row-major after
    #: the one before (the sizes sum to ``dim``); None: a vector. Optimizers that act on matrices (Muon)
    #: treat each block alone, and ``plot`` draws matrix views (:mod:`simulate.viz.matrix`).
    matrix_shapes: ClassVar[tuple[tuple[int, int], ...] | None] = None

    def __post_init__(self):
        # Subclasses fill these with object.__setattr__ in their own __post_init__ before calling super.
        for attr in ("dim", "bounds", "minima", "default_start"):
            if not hasattr(self, attr):
                raise TypeError(f"{type(self).__name__} must define {attr}")
        d = self.dim
        object.__setattr__(self, "bounds", _as_float_array(self.bounds, "bounds", (d, 2)))
        minima = np.array(self.minima, dtype=np.float64).reshape(-1, d)
        object.__setattr__(self, "minima", minima)
        object.__setattr__(self, "default_start", _as_float_array(self.default_start, "default_start", (d,)))
        for arr in (self.bounds, self.minima, self.default_start):
            arr.setflags(write=False)

    # -- public, validated ------------------------------------------------------------------
    def points(self, x) -> np.ndarray:
        """``x`` as a float64 array of points ``(..., d)``; a clear error for the wrong ``d``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 0 or x.shape[-1] != self.dim:
            got = "a scalar" if x.ndim == 0 else f"last axis {x.shape[-1]}"
            raise ValueError(f"{self.name} is {self.dim}-dimensional: points need shape (..., {self.dim}), got {got}")
        return x

    def value(self, x) -> np.ndarray:
        """f(x), shape ``(...)``."""
        return self._value(self.points(x))

    def grad(self, x) -> np.ndarray:
        """∇f(x), shape ``(..., d)``."""
        return self._grad(self.points(x))

    def lowest_minimum_value(self) -> float | None:
        """f*: the lowest value of f at its listed minima (the loss axis' offset, the target of
        ``f − f* <= tol``); None where no minimum is listed."""
        return float(np.min(self.value(self.minima))) if len(self.minima) else None

    def hess(self, x) -> np.ndarray:
        """∇²f(x), shape ``(..., d, d)``."""
        return self._hess(self.points(x))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` points uniform in the plot box, ``(n, d)``, from ``np.random.default_rng(seed)``."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"the number of random starts must be a whole number >= 1, got {n!r}")
        return np.random.default_rng(seed).uniform(self.bounds[:, 0], self.bounds[:, 1], size=(int(n), self.dim))

    @property
    def spec_params(self) -> dict:
        """The parameters that rebuild this landscape, ``landscape(self.name, **self.spec_params)``:
        every constructor field not at its default. :attr:`label` is their text; code that needs
        the values takes them from here, never by parsing the label again."""
        params = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.init and not (f.default is not dataclasses.MISSING and np.array_equal(
                    np.asarray(value, dtype=object), np.asarray(f.default, dtype=object))):
                params[f.name] = value
        return params

    @property
    def label(self) -> str:
        """A spec that rebuilds this landscape: the name and :attr:`spec_params`."""
        return format_spec(self.name, self.spec_params)

    def product(self, x) -> np.ndarray | None:
        """For a point of matrix factors (:attr:`matrix_shapes`), the matrix they stand for (UVᵀ,
        W₂W₁) ``(..., rows, cols)``; None (the default) where there is none."""
        return None

    # -- to implement -----------------------------------------------------------------------
    def _value(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _grad(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _hess(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


#: Relative step of :func:`differenced_hessian`.
FD_STEP = 1e-5


def expit(x):
    """The logistic function 1/(1 + e^(−x)), scipy's (imported on first use: ``scipy.special``
    costs a few tenths of a second at import, which a run that never takes it should not pay)."""
    from scipy.special import expit as logistic

    return logistic(x)


def differenced_hessian(grad, x: np.ndarray) -> np.ndarray:
    """The central difference of an exact gradient, symmetrized, ``(..., d, d)``: for landscapes
    that have a gradient but no (affordable) Hessian. Step ``FD_STEP·max(1, |xᵢ|)``, error O(h²)."""
    d = x.shape[-1]
    cols = []
    for i in range(d):
        h = FD_STEP * np.maximum(1.0, np.abs(x[..., i]))[..., None]
        e = np.zeros(d)
        e[i] = 1.0
        cols.append((grad(x + h * e) - grad(x - h * e)) / (2 * h))
    H = np.stack(cols, axis=-1)
    return 0.5 * (H + np.swapaxes(H, -1, -2))


def plot_box(bounds, start, d: int, error=ValueError) -> tuple[np.ndarray, np.ndarray]:
    """``(bounds, start)`` of a user-defined landscape: [−5, 5] per coordinate and, provisionally, the
    box's centre (the landscape then settles on :func:`moving_start`); ``error`` is raised for bounds that are not d pairs with low < high."""
    box = np.array([[-5.0, 5.0]] * d if bounds is None else bounds, dtype=np.float64)
    if box.shape != (d, 2) or not np.all(box[:, 0] < box[:, 1]):
        raise error(f"bounds must be {d} pairs (low, high) with low < high, got {bounds!r}")
    return box, (np.mean(box, axis=1) if start is None else np.array(start, dtype=np.float64))


#: Off-centre fractions of the box for the first candidate start, one per coordinate in turn: a box's
#: centre is often a point of symmetry (the minimum of x**2 + 10*y**2, the saddle of x*y), and
#: unequal fractions keep the start off the diagonals as well.
_START_FRACTIONS = (0.75, 0.7, 0.65, 0.6, 0.55)


def start_trouble(land: Landscape, x) -> tuple[np.ndarray, np.ndarray]:
    """``(not_finite, stationary)``: masks over the points ``x`` ``(..., d)`` where f or ∇f is not
    finite, and where ∇f vanishes to rounding (‖∇f‖ times the box's diagonal at most 1e-9·(1 + |f|)),
    so that every method stays put: an empty picture rather than a run."""
    x = land.points(x)
    with np.errstate(all="ignore"):
        f, g = land.value(x), land.grad(x)
    norm = np.linalg.norm(g, axis=-1)
    not_finite = ~(np.isfinite(f) & np.isfinite(norm))
    diagonal = float(np.linalg.norm(land.bounds[:, 1] - land.bounds[:, 0]))
    with np.errstate(all="ignore"):
        stationary = ~not_finite & (norm * diagonal <= 1e-9 * (1 + np.abs(f)))
    return not_finite, stationary


def moving_start(land: Landscape, candidates: int = 64) -> np.ndarray:
    """The default start of a landscape given by the user: the first of a fixed sequence of points in
    its box where f and ∇f are finite and ∇f does not vanish (:func:`start_trouble`). First the point
    at the fractions :data:`_START_FRACTIONS` of the box, then a Halton sequence over its inner 80 %;
    the first candidate when none qualifies (a run then says why it does not move)."""
    lo, width = land.bounds[:, 0], land.bounds[:, 1] - land.bounds[:, 0]
    first = np.array([_START_FRACTIONS[i % len(_START_FRACTIONS)] for i in range(land.dim)])
    points = lo + width * np.vstack([first, 0.1 + 0.8 * _halton(candidates - 1, land.dim)])
    not_finite, stationary = start_trouble(land, points)
    good = np.flatnonzero(~(not_finite | stationary))
    return points[good[0] if good.size else 0]


def _halton(n: int, d: int) -> np.ndarray:
    """The first ``n`` points of the Halton sequence in [0, 1)^d (prime bases), deterministic."""
    primes: list[int] = []
    candidate = 2
    while len(primes) < d:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1
    out = np.zeros((n, d))
    for j, base in enumerate(primes):
        for i in range(n):
            k, frac, value = i + 1, 1.0 / base, 0.0
            while k:
                k, digit = divmod(k, base)
                value += digit * frac
                frac /= base
            out[i, j] = value
    return out


def polish_minima(land: Landscape, guesses, steps: int = 50) -> np.ndarray:
    """Newton's method from approximate minima to machine precision, using the exact Hessian.

    Literature values of minima carry 4–6 digits; a test that a listed minimum is stationary
    needs them to full precision, so built-ins state rough guesses and polish them here.
    """
    x = np.array(guesses, dtype=np.float64).reshape(-1, land.dim)
    for _ in range(steps):
        dx = np.linalg.solve(land._hess(x), land._grad(x)[..., None])[..., 0]
        x = x - dx
        if np.all(np.abs(dx) <= 1e-15 * (1 + np.abs(x))):
            break
    return x


#: Grid points per axis that :func:`search_minima` starts from (1-D, 2-D).
SEARCH_GRID = {1: 2001, 2: 121}


def search_minima(land: Landscape, limit: int = 64) -> np.ndarray:
    """The local minima of a 1-D or 2-D landscape inside its plot box, ``(k, d)``, lowest first.

    Grid points no higher than any neighbour (:data:`SEARCH_GRID`) are polished by Newton's method
    with the exact Hessian (a pseudo-inverse, so flat directions do not fail) and kept only where
    the gradient vanishes, the Hessian is positive definite and the point lies in the box; a
    minimum narrower than the grid spacing can be missed, but nothing listed is a guess. Returns
    no minima for d > 2, where a grid is too coarse to trust.
    """
    d = land.dim
    if d not in SEARCH_GRID:
        return np.zeros((0, d))
    axes = [np.linspace(lo, hi, SEARCH_GRID[d]) for lo, hi in land.bounds]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    with np.errstate(all="ignore"):
        f = land.value(points)
        f = np.where(np.isfinite(f), f, np.inf)
        padded = np.pad(f, 1, constant_values=np.inf)
        lowest = np.isfinite(f)
        for shift in itertools.product((0, 1, 2), repeat=d):
            if shift != (1,) * d:
                lowest &= f <= padded[tuple(slice(k, k + n) for k, n in zip(shift, f.shape))]
        x = points[lowest]
        x = x[np.argsort(f[lowest])[:4 * limit]]
        for _ in range(30):  # Newton; a point whose derivatives turn non-finite drops out (NaN)
            H, g = land.hess(x), land.grad(x)
            good = np.all(np.isfinite(H), axis=(-2, -1)) & np.all(np.isfinite(g), axis=-1) & np.all(np.isfinite(x), axis=-1)
            x = np.where(good[:, None], x, np.nan)
            if not good.any():
                break
            x[good] -= (np.linalg.pinv(H[good]) @ g[good][..., None])[..., 0]
        g, H = land.grad(x), land.hess(x)
        ok = (np.all(np.isfinite(x), axis=-1) & np.all(np.isfinite(g), axis=-1)
              & np.all(np.isfinite(H), axis=(-2, -1)))
        scale = 1 + np.abs(land.value(np.where(ok[:, None], x, 0.0)))
    box = land.bounds
    inside = np.all((x >= box[:, 0] - 1e-9) & (x <= box[:, 1] + 1e-9), axis=-1)
    ok &= inside
    ok[ok] &= np.linalg.norm(g[ok], axis=-1) <= 1e-8 * scale[ok]
    ok[ok] &= np.all(np.linalg.eigvalsh(H[ok]) > 0, axis=-1)
    found, tol = [], 1e-6 * float(np.linalg.norm(box[:, 1] - box[:, 0]))
    for point in x[ok][np.argsort(land.value(x[ok]))] if ok.any() else []:
        if all(np.linalg.norm(point - other) > tol for other in found):
            found.append(point)
    return np.array(found[:limit]).reshape(-1, d)



def matrix_blocks(landscape) -> tuple[tuple[int, int], ...]:
    """The matrix blocks of ``landscape``'s points: its :attr:`Landscape.matrix_shapes`, or one 1×d
    row for a vector landscape (a landscape seen through noise or clipping is asked underneath)."""
    shapes = getattr(landscape, "matrix_shapes", None)
    return tuple(shapes) if shapes else ((1, int(landscape.dim)),)


# -- helpers for the built-ins ---------------------------------------------------------------
def short_label(landscape, limit: int = 60) -> str:
    """The landscape's spec for a title, or ``name(…)`` where it is long (a 10-D quadratic, a
    formula with bounds): the data files keep the whole spec."""
    label = landscape.label
    if len(label) <= limit:
        return label
    formula = getattr(landscape, "formula", "").strip()  # a formula with its bounds: the formula alone
    return formula if 0 < len(formula) <= limit else f"{landscape.name}(…)"


def _settle_start(land: Landscape) -> None:
    """Replace a user-defined landscape's provisional start (its box's centre) by :func:`moving_start`."""
    start = moving_start(land)
    start.setflags(write=False)
    object.__setattr__(land, "default_start", start)


def _set(obj, **attrs) -> None:
    for key, val in attrs.items():
        object.__setattr__(obj, key, val)


def _vector(entries, shape) -> np.ndarray:
    """Stack scalar-or-array entries into ``shape + (n,)`` float64 (constants broadcast)."""
    return np.stack([np.broadcast_to(np.asarray(e, dtype=np.float64), shape) for e in entries], axis=-1)


def _matrix(rows, shape) -> np.ndarray:
    return np.stack([_vector(row, shape) for row in rows], axis=-2)


def _diagonal(diag: np.ndarray) -> np.ndarray:
    """``(..., d)`` -> diagonal matrices ``(..., d, d)``."""
    return diag[..., :, None] * np.eye(diag.shape[-1])


#: Hessians are dense (d, d) per point: beyond this a landscape is not a picture but a memory error.
MAX_DIM = 1000


def _integer(name: str, value, minimum: int, maximum: int = MAX_COUNT) -> int:
    """A whole-number parameter (dim at most :data:`MAX_DIM`: dense Hessians)."""
    return count(value, name, lo=minimum, hi=MAX_DIM if name == "dim" else maximum)


def _real(name: str, value, positive: bool = False, nonnegative: bool = False) -> float:
    return real(value, name, positive=positive, nonnegative=nonnegative)


def _newton_1d(x, dg, ddg, steps: int = 8) -> np.ndarray:
    x = np.array(x, dtype=np.float64)
    for _ in range(steps):
        x = x - dg(x) / ddg(x)
    return x


def _cubic_minima(coeffs, ddg) -> np.ndarray:
    """Real roots of the cubic derivative ``coeffs`` (highest first) where ``ddg > 0``, polished, sorted."""
    r = np.roots(coeffs)
    r = np.sort(r[np.abs(r.imag) < 1e-9].real)
    dg = np.poly1d(coeffs)
    return _newton_1d(r[ddg(r) > 0], dg, ddg)


def _grid(per_coordinate: np.ndarray, d: int) -> np.ndarray | None:
    """All combinations of per-coordinate minima, or None when there are more than MAX_LISTED_MINIMA."""
    if len(per_coordinate) ** d > MAX_LISTED_MINIMA:
        return None
    return np.array(list(itertools.product(per_coordinate, repeat=d)), dtype=np.float64).reshape(-1, d)


# -- classic test functions --------------------------------------------------------------------
