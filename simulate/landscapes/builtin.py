"""The built-in test functions (see :mod:`simulate.landscapes` for the list)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .base import (Landscape, _as_float_array, _cubic_minima, _diagonal, _grid, _integer, _matrix, _newton_1d, _real,
                   _set, _vector, polish_minima)
import simulate.landscapes.pointwise as pw
from .pointwise import himmelblau_grad, himmelblau_value, rosenbrock_pair, rosenbrock_pair_value

__all__ = ["Quadratic", "Rosenbrock", "Himmelblau", "Beale", "Booth", "Rastrigin", "SixHumpCamel", "Saddle",
           "MonkeySaddle", "StyblinskiTang", "ScalarNet", "DoubleWell"]

def _rotation_2d(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


@dataclass(frozen=True, eq=False)
class Quadratic(Landscape):
    """f(x) = ½ (x − c)ᵀ A (x − c) with A = R diag(λ) Rᵀ, in any dimension.

    Give ``eigenvalues`` directly, or a ``condition`` number κ (eigenvalues geometrically spaced
    from 1 to κ over ``dim`` coordinates). ``rotation`` is an orthogonal matrix; in 2-D an
    ``angle`` in radians may be given instead. The reference landscape: its gradient flow is
    ``c + expm(−tA)(x0 − c)`` and GD gives ``c + (I − lr·A)^k (x0 − c)`` exactly.
    """

    name = "quadratic"
    description = "½(x−c)ᵀA(x−c) with given eigenvalues (or condition number) and rotation, any dimension"
    fixed_parameters = ("condition",)  # the label rebuilds it from its eigenvalues: no sweep axis

    eigenvalues: Sequence[float] | None = None
    condition: float = 10.0
    dim: int = 2
    angle: float = 0.0
    rotation: np.ndarray | None = None
    center: Sequence[float] | None = None
    A: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        if self.eigenvalues is not None:
            lam = _as_float_array(self.eigenvalues, "eigenvalues")
            if lam.ndim != 1 or lam.size == 0:
                raise ValueError("eigenvalues must be a non-empty list of numbers")
            object.__setattr__(self, "dim", _integer("dim", lam.size, 1))
        else:
            if _real("condition", self.condition) < 1:
                raise ValueError(f"condition must be a finite number >= 1, got {self.condition}")
            object.__setattr__(self, "dim", _integer("dim", self.dim, 1))
            lam = np.geomspace(1.0, float(self.condition), self.dim)
        if not np.all(np.isfinite(lam)):
            raise ValueError("eigenvalues must be finite")
        d = self.dim
        if self.rotation is not None:
            R = _as_float_array(self.rotation, "rotation", (d, d))
            if not np.allclose(R @ R.T, np.eye(d), atol=1e-10):
                raise ValueError("rotation must be an orthogonal matrix")
        elif self.angle and d == 2:
            R = _rotation_2d(_real("angle", self.angle))
        elif self.angle:
            raise ValueError("angle is for 2-D quadratics; give a rotation matrix in higher dimensions")
        else:
            R = np.eye(d)
        c = np.zeros(d) if self.center is None else _as_float_array(self.center, "center", (d,))
        A = (R * lam) @ R.T
        A = 0.5 * (A + A.T)
        object.__setattr__(self, "eigenvalues", lam)
        object.__setattr__(self, "rotation", R)
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "A", A)
        # A positive semi-definite quadratic has its minimum at c; an indefinite one has none.
        object.__setattr__(self, "minima", c[None, :] if np.all(lam >= 0) else np.zeros((0, d)))
        half = max(2.0, 2.0 * float(np.max(np.abs(c), initial=0.0)))
        object.__setattr__(self, "bounds", np.column_stack([c - half, c + half]))
        object.__setattr__(self, "default_start", c + np.full(d, 1.5))
        super().__post_init__()

    def _value(self, x):
        y = x - self.center
        return 0.5 * np.einsum("...i,ij,...j->...", y, self.A, y)

    def _grad(self, x):
        return (x - self.center) @ self.A.T

    def _hess(self, x):
        return np.broadcast_to(self.A, x.shape[:-1] + (self.dim, self.dim)).copy()

    @property
    def spec_params(self) -> dict:
        """What rebuilds this quadratic: eigenvalues, then angle or rotation, and center."""
        params = {"eigenvalues": self.eigenvalues}
        if self.dim == 2 and self.angle:
            params["angle"] = self.angle
        elif not np.array_equal(self.rotation, np.eye(self.dim)):
            params["rotation"] = self.rotation
        if np.any(self.center != 0):
            params["center"] = self.center
        return params

@dataclass(frozen=True, eq=False)
class Rosenbrock(Landscape):
    """f = Σᵢ (a − xᵢ)² + b(xᵢ₊₁ − xᵢ²)², i = 1…d−1 (Rosenbrock 1960; the chained form for d > 2).

    In 2-D the only minimum is (a, a²), at the end of a long curved valley of width ~1/√b. The
    chained n-D form is for a = 1: global minimum at (1, …, 1); for d ≥ 4 (b = 100) there is a
    second local minimum near (−1, 1, …, 1) (Kok & Sandrock 2009), found here numerically from
    that guess and kept only if its Hessian is positive definite.
    """

    name = "rosenbrock"
    description = "Rosenbrock's banana valley Σ (a−xᵢ)² + b(xᵢ₊₁−xᵢ²)²; minimum (a, a²), chained n-D for a=1"

    a: float = 1.0
    b: float = 100.0
    dim: int = 2

    def __post_init__(self):
        a, b, d = _real("a", self.a), _real("b", self.b, positive=True), _integer("dim", self.dim, 2)
        if d > 2 and a != 1.0:
            raise ValueError("the chained n-D Rosenbrock (dim > 2) is implemented for a = 1 only")
        r = max(1.0, abs(a))
        lo, hi = np.full(d, -r * r), np.full(d, 3 * r * r)
        lo[0], hi[0] = -2 * r, 2 * r
        start = np.full(d, 2 * r * r)
        start[0] = -1.5 * r
        _set(self, a=a, b=b, dim=d, bounds=np.column_stack([lo, hi]), default_start=start)
        _set(self, minima=np.array([[a, a * a]]) if d == 2 else self._chained_minima())
        super().__post_init__()

    def _chained_minima(self) -> np.ndarray:
        ones = np.ones((1, self.dim))
        if self.dim < 4:
            return ones
        from scipy.optimize import minimize

        guess = np.r_[-1.0, np.ones(self.dim - 1)]
        res = minimize(self._value, guess, jac=self._grad, hess=self._hess, method="trust-exact",
                       options={"gtol": 1e-10})
        x = polish_minima(self, res.x)[0]
        is_min = np.linalg.norm(self._grad(x)) < 1e-9 and np.linalg.eigvalsh(self._hess(x))[0] > 0
        return np.vstack([ones, x]) if is_min and np.linalg.norm(x - 1) > 1e-3 else ones

    def _value(self, x):
        return np.sum(rosenbrock_pair_value(x[..., :-1], x[..., 1:], (self.a, self.b)), axis=-1)

    def _grad(self, x):
        du, dv = rosenbrock_pair(x[..., :-1], x[..., 1:], (self.a, self.b))
        g = np.zeros_like(x)
        g[..., :-1] += du
        g[..., 1:] += dv
        return g

    @property
    def pointwise_grad(self):
        """(∇f as a function of the coordinates, its parameters) for the compiled engine."""
        return pw.rosenbrock_chain(self.dim)[0], (float(self.a), float(self.b))

    @property
    def pointwise_value(self):
        return pw.rosenbrock_chain(self.dim)[1], (float(self.a), float(self.b))

    def _hess(self, x):
        u, v, b = x[..., :-1], x[..., 1:], self.b
        h = np.zeros(x.shape + (self.dim,))
        i = np.arange(self.dim - 1)
        h[..., i, i] += 2 + 12 * b * u**2 - 4 * b * v
        h[..., i + 1, i + 1] += 2 * b
        h[..., i, i + 1] = h[..., i + 1, i] = -4 * b * u
        return h


@dataclass(frozen=True, eq=False)
class Himmelblau(Landscape):
    """f = (x² + y − 11)² + (x + y² − 7)² (Himmelblau 1972).

    Four global minima, f = 0: (3, 2), (−2.805118, 3.131313), (−3.779310, −3.283186),
    (3.584428, −1.848127); a local maximum at (−0.270845, −0.923039), f ≈ 181.617; four saddles.
    """

    name = "himmelblau"
    description = "Himmelblau (x²+y−11)² + (x+y²−7)²: four global minima with f = 0"
    dim = 2

    def __post_init__(self):
        guesses = [[3, 2], [-2.805118, 3.131313], [-3.779310, -3.283186], [3.584428, -1.848127]]
        _set(self, bounds=[[-5, 5], [-5, 5]], default_start=[0.0, 0.0], minima=polish_minima(self, guesses))
        super().__post_init__()

    def _value(self, x):
        return himmelblau_value(x[..., 0], x[..., 1], ())

    def _grad(self, x):
        return _vector(himmelblau_grad(x[..., 0], x[..., 1], ()), x.shape[:-1])

    pointwise_grad = (himmelblau_grad, ())
    pointwise_value = (himmelblau_value, ())

    def _hess(self, x):
        X, Y = x[..., 0], x[..., 1]
        off = 4 * X + 4 * Y
        return _matrix([[12 * X**2 + 4 * Y - 42, off], [off, 12 * Y**2 + 4 * X - 26]], X.shape)


@dataclass(frozen=True, eq=False)
class Beale(Landscape):
    """f = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)² (Beale 1958).

    One minimum, (3, 0.5) with f = 0, in a narrow valley (Hessian eigenvalues ≈ 0.30 and 49).
    Saddles at (0, 1) (f is constant 14.203125 on the lines x = 0 and y = 1) and near
    (0.100538, −2.644514). Values reach ~10⁵ at the corners of the box.
    """

    name = "beale"
    description = "Beale (1.5−x+xy)² + (2.25−x+xy²)² + (2.625−x+xy³)²: minimum (3, 0.5), f = 0"
    dim = 2
    _C = (1.5, 2.25, 2.625)

    def __post_init__(self):
        _set(self, bounds=[[-4.5, 4.5], [-4.5, 4.5]], minima=[[3.0, 0.5]], default_start=[1.0, 1.5])
        super().__post_init__()

    def _terms(self, x):
        """Residuals t_k = c_k − x + x·y^k and their derivatives, k = 1, 2, 3."""
        X, Y = x[..., 0], x[..., 1]
        for k, c in enumerate(self._C, start=1):
            t = c - X + X * Y**k
            tx, ty = Y**k - 1, k * X * Y ** (k - 1)
            txy, tyy = k * Y ** (k - 1), k * (k - 1) * X * Y ** max(k - 2, 0)
            yield t, tx, ty, txy, tyy

    def _value(self, x):
        return pw.beale_value(x[..., 0], x[..., 1], ())

    def _grad(self, x):
        return _vector(pw.beale_grad(x[..., 0], x[..., 1], ()), x.shape[:-1])

    pointwise_grad = (pw.beale_grad, ())
    pointwise_value = (pw.beale_value, ())

    def _hess(self, x):
        hxx = sum(2 * tx**2 for _, tx, *_ in self._terms(x))
        hxy = sum(2 * (tx * ty + t * txy) for t, tx, ty, txy, _ in self._terms(x))
        hyy = sum(2 * (ty**2 + t * tyy) for t, _, ty, _, tyy in self._terms(x))
        return _matrix([[hxx, hxy], [hxy, hyy]], x.shape[:-1])


@dataclass(frozen=True, eq=False)
class Booth(Landscape):
    """f = (x + 2y − 7)² + (2x + y − 5)²: a quadratic, minimum (1, 3) with f = 0.

    Hessian [[10, 8], [8, 10]], eigenvalues 2 and 18 (condition number 9) along the diagonals.
    """

    name = "booth"
    description = "Booth (x+2y−7)² + (2x+y−5)²: quadratic, minimum (1, 3), condition number 9"
    dim = 2

    def __post_init__(self):
        _set(self, bounds=[[-10, 10], [-10, 10]], minima=[[1.0, 3.0]], default_start=[-5.0, -5.0])
        super().__post_init__()

    def _value(self, x):
        return pw.booth_value(x[..., 0], x[..., 1], ())

    def _grad(self, x):
        return _vector(pw.booth_grad(x[..., 0], x[..., 1], ()), x.shape[:-1])

    pointwise_grad = (pw.booth_grad, ())
    pointwise_value = (pw.booth_value, ())

    def _hess(self, x):
        return _matrix([[10, 8], [8, 10]], x.shape[:-1])


@dataclass(frozen=True, eq=False)
class Rastrigin(Landscape):
    """f = A·d + Σᵢ (xᵢ² − A cos 2πxᵢ) (Rastrigin 1974), any dimension.

    Global minimum 0 at the origin. Separable: each coordinate has local minima just inside the
    integers (for A = 10, the 11 of them in [−5.12, 5.12]), and every combination is a local
    minimum of f; all in the box are listed while there are ≤ MAX_LISTED_MINIMA (d ≤ 3 for
    A = 10), otherwise only the origin.
    """

    name = "rastrigin"
    description = "Rastrigin A·d + Σ(xᵢ² − A cos 2πxᵢ): minimum 0 at the origin, local minima near integers"

    A: float = 10.0
    dim: int = 2

    def __post_init__(self):
        _set(self, A=_real("A", self.A, nonnegative=True), dim=_integer("dim", self.dim, 1))
        d, lim = self.dim, 5.12
        grid = _grid(self._coordinate_minima(-lim, lim), d)
        _set(self, bounds=np.tile([-lim, lim], (d, 1)), default_start=np.resize([2.3, -1.7], d),
             minima=np.zeros((1, d)) if grid is None else grid)
        super().__post_init__()

    def _coordinate_minima(self, lo, hi) -> np.ndarray:
        """Local minima of xᵢ² − A cos 2πxᵢ in [lo, hi]: bracket sign changes of g', bisect, Newton."""
        dg = lambda t: 2 * t + 2 * np.pi * self.A * np.sin(2 * np.pi * t)
        ddg = lambda t: 2 + 4 * np.pi**2 * self.A * np.cos(2 * np.pi * t)
        t = np.linspace(lo, hi, 4097)
        s = dg(t)
        k = np.flatnonzero((s[:-1] < 0) & (s[1:] >= 0))
        left, right = t[k], t[k + 1]
        for _ in range(60):
            mid = 0.5 * (left + right)
            neg = dg(mid) < 0
            left, right = np.where(neg, mid, left), np.where(neg, right, mid)
        return _newton_1d(0.5 * (left + right), dg, ddg, steps=2)

    def _value(self, x):
        return self.A * self.dim + np.sum(pw.rastrigin_term(x, self.A), axis=-1)

    def _grad(self, x):
        return pw.rastrigin_slope(x, self.A)

    @property
    def pointwise_grad(self):
        return pw.rastrigin(self.dim)[0], (float(self.A),)

    @property
    def pointwise_value(self):
        return pw.rastrigin(self.dim)[1], (float(self.A),)

    def _hess(self, x):
        return _diagonal(2 + 4 * np.pi**2 * self.A * np.cos(2 * np.pi * x))


@dataclass(frozen=True, eq=False)
class SixHumpCamel(Landscape):
    """f = (4 − 2.1x² + x⁴/3)x² + xy + (−4 + 4y²)y² (Dixon & Szegő 1978).

    Six local minima, in symmetric pairs ±p (f(−p) = f(p)), verified numerically (Newton from a
    grid over the box; all 15 stationary points classified by their Hessians):
    global ±(0.0898420, −0.7126564), f = −1.0316285; ±(1.7036067, −0.7960836), f = −0.2154638;
    ±(1.6071048, 0.5686514), f = 2.1042503. Also two maxima and seven saddles (one at the origin).
    """

    name = "six-hump-camel"
    description = "six-hump camel (4−2.1x²+x⁴/3)x² + xy + (−4+4y²)y²: six minima, global f ≈ −1.0316"
    dim = 2

    def __post_init__(self):
        p = np.array([[0.0898, -0.7126], [1.7036, -0.7961], [1.6071, 0.5687]])
        # From (2, 1) GD stops in the local minimum (1.607, 0.569) while momentum and Adam reach a global one.
        _set(self, bounds=[[-3, 3], [-2, 2]], default_start=[2.0, 1.0],
             minima=polish_minima(self, np.concatenate([p, -p])))
        super().__post_init__()

    def _value(self, x):
        return pw.six_hump_camel_value(x[..., 0], x[..., 1], ())

    def _grad(self, x):
        return _vector(pw.six_hump_camel_grad(x[..., 0], x[..., 1], ()), x.shape[:-1])

    pointwise_grad = (pw.six_hump_camel_grad, ())
    pointwise_value = (pw.six_hump_camel_value, ())

    def _hess(self, x):
        X, Y = x[..., 0], x[..., 1]
        return _matrix([[8 - 25.2 * X**2 + 10 * X**4, 1], [1, -8 + 48 * Y**2]], X.shape)


@dataclass(frozen=True, eq=False)
class Saddle(Landscape):
    """f = x² − y²: a non-degenerate saddle at the origin (Hessian diag(2, −2)); no minima.

    The default start lies just off the stable manifold y = 0, so descent first approaches the
    saddle and then escapes along y, slowly (y grows like e^{2t} under gradient flow).
    """

    name = "saddle"
    description = "saddle x² − y²: Hessian diag(2, −2), no minima; start just off the stable manifold"
    dim = 2

    def __post_init__(self):
        _set(self, bounds=[[-2, 2], [-2, 2]], minima=np.zeros((0, 2)), default_start=[1.5, 0.01])
        super().__post_init__()

    def _value(self, x):
        return pw.saddle_value(x[..., 0], x[..., 1], ())

    def _grad(self, x):
        return _vector(pw.saddle_grad(x[..., 0], x[..., 1], ()), x.shape[:-1])

    pointwise_grad = (pw.saddle_grad, ())
    pointwise_value = (pw.saddle_value, ())

    def _hess(self, x):
        return _matrix([[2, 0], [0, -2]], x.shape[:-1])


@dataclass(frozen=True, eq=False)
class MonkeySaddle(Landscape):
    """f = x³ − 3xy² = Re (x + iy)³: a degenerate saddle (zero Hessian at the origin); no minima.

    Three descending valleys at angles π/3, π, 5π/3; along y = 0 from x > 0 the flow creeps
    into the origin (ẋ = −3x²), so a small y offset decides which valley is taken.
    """

    name = "monkey-saddle"
    description = "monkey saddle x³ − 3xy²: degenerate saddle with three valleys, no minima"
    dim = 2

    def __post_init__(self):
        _set(self, bounds=[[-2, 2], [-2, 2]], minima=np.zeros((0, 2)), default_start=[1.5, 0.1])
        super().__post_init__()

    def _value(self, x):
        return pw.monkey_saddle_value(x[..., 0], x[..., 1], ())

    def _grad(self, x):
        return _vector(pw.monkey_saddle_grad(x[..., 0], x[..., 1], ()), x.shape[:-1])

    pointwise_grad = (pw.monkey_saddle_grad, ())
    pointwise_value = (pw.monkey_saddle_value, ())

    def _hess(self, x):
        X, Y = x[..., 0], x[..., 1]
        return _matrix([[6 * X, -6 * Y], [-6 * Y, -6 * X]], X.shape)


@dataclass(frozen=True, eq=False)
class StyblinskiTang(Landscape):
    """f = ½ Σᵢ (xᵢ⁴ − 16xᵢ² + 5xᵢ) (Styblinski & Tang 1990), any dimension.

    Separable; per coordinate the roots of 4x³ − 32x + 5 = 0 are minima −2.903534 and 2.746803
    and a maximum 0.156731. All 2^d combinations are local minima (listed while 2^d ≤
    MAX_LISTED_MINIMA, i.e. d ≤ 12; otherwise only the global one), global at (−2.903534, …)
    with f ≈ −39.16617·d.
    """

    name = "styblinski-tang"
    description = "Styblinski–Tang ½Σ(xᵢ⁴ − 16xᵢ² + 5xᵢ): 2^d minima, global −39.166·d at xᵢ = −2.9035"

    dim: int = 2

    def __post_init__(self):
        d = _integer("dim", self.dim, 1)
        per = _cubic_minima([2.0, 0.0, -16.0, 2.5], lambda t: 6 * t**2 - 16)
        grid = _grid(per, d)
        _set(self, dim=d, bounds=np.tile([-5.0, 5.0], (d, 1)), default_start=np.resize([0.5, -0.5], d),
             minima=np.full((1, d), per[0]) if grid is None else grid)
        super().__post_init__()

    def _value(self, x):
        return 0.5 * np.sum(pw.styblinski_tang_term(x, ()), axis=-1)

    def _grad(self, x):
        return pw.styblinski_tang_slope(x, ())

    @property
    def pointwise_grad(self):
        return pw.styblinski_tang(self.dim)[0], ()

    @property
    def pointwise_value(self):
        return pw.styblinski_tang(self.dim)[1], ()

    def _hess(self, x):
        return _diagonal(6 * x**2 - 16)


# -- models from the dynamics literature ----------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ScalarNet(Landscape):
    """E(a, b) = ½(ab − 1)²: the depth-2 scalar linear network fitting 1.

    Minima form the hyperbola ab = 1; there the Hessian [[b², 1], [1, a²]] has eigenvalues 0 and
    a² + b² (sharpness), smallest (2) at the balanced points ±(1, 1). a² − b² is conserved by
    gradient flow (balancedness); GD with step η is stable only where a² + b² ≤ 2/η, which drives
    edge-of-stability and implicit balancing. The origin is a saddle. Listed minima are six
    sample points of the curve.
    """

    name = "scalar-net"
    description = "scalar linear network ½(ab − 1)²: a curve of minima ab = 1, sharpness a² + b² there"
    dim = 2

    def __post_init__(self):
        curve = [[1, 1], [-1, -1], [2, 0.5], [0.5, 2], [-2, -0.5], [-0.5, -2]]
        _set(self, bounds=[[-5, 5], [-5, 5]], minima=curve, default_start=[0.3, 4.0])
        super().__post_init__()

    def _value(self, x):
        return pw.scalar_net_value(x[..., 0], x[..., 1], ())

    def _grad(self, x):
        return _vector(pw.scalar_net_grad(x[..., 0], x[..., 1], ()), x.shape[:-1])

    pointwise_grad = (pw.scalar_net_grad, ())
    pointwise_value = (pw.scalar_net_value, ())

    def _hess(self, x):
        a, b = x[..., 0], x[..., 1]
        off = 2 * a * b - 1
        return _matrix([[b**2, off], [off, a**2]], a.shape)


@dataclass(frozen=True, eq=False)
class DoubleWell(Landscape):
    """f = (x₁² − 1)² + tilt·x₁ + ½k Σ_{i>1} xᵢ², any dimension ≥ 1.

    Minima at the roots of 4x³ − 4x + tilt = 0 with 12x² − 4 > 0 (other coordinates 0): two for
    |tilt| < 8/(3√3) ≈ 1.5396, one beyond. At tilt = 0: x = ±1, f = 0, barrier height 1 at the
    origin, curvature 8 in the wells; tilt > 0 raises the right well.
    """

    name = "double-well"
    description = "double well (x₁²−1)² + tilt·x₁ + ½k·Σᵢ₍ᵢ>₁₎xᵢ²: minima at x₁ ≈ ±1 (one if |tilt| > 1.54)"

    tilt: float = 0.0
    stiffness: float = 1.0
    dim: int = 2

    def __post_init__(self):
        tilt, k = _real("tilt", self.tilt), _real("stiffness", self.stiffness, nonnegative=True)
        d = _integer("dim", self.dim, 1)
        wells = _cubic_minima([4.0, 0.0, -4.0, tilt], lambda t: 12 * t**2 - 4)
        minima = np.zeros((len(wells), d))
        minima[:, 0] = wells
        r = max(2.0, 1.25 * float(np.max(np.abs(wells))))
        bounds = np.tile([-2.0, 2.0], (d, 1))
        bounds[0] = [-r, r]
        _set(self, tilt=tilt, stiffness=k, dim=d, bounds=bounds, minima=minima,
             default_start=np.r_[0.1, np.ones(d - 1)])
        super().__post_init__()

    def _value(self, x):
        u, rest = x[..., 0], x[..., 1:]
        return (u**2 - 1) ** 2 + self.tilt * u + 0.5 * self.stiffness * np.sum(rest**2, axis=-1)

    def _grad(self, x):
        g = self.stiffness * x
        g[..., 0] = pw.double_well_slope(x[..., 0], self.tilt)
        return g

    @property
    def pointwise_grad(self):
        return pw.double_well(self.dim)[0], (float(self.tilt), float(self.stiffness))

    @property
    def pointwise_value(self):
        return pw.double_well(self.dim)[1], (float(self.tilt), float(self.stiffness))

    def _hess(self, x):
        diag = np.full(x.shape, self.stiffness)
        diag[..., 0] = 12 * x[..., 0] ** 2 - 4
        return _diagonal(diag)

