r"""Games: two players, each descending its own loss, as landscapes whose ``grad`` is the game's field.

A game's state is ``z = (x, y)``: the first player's ``players[0]`` coordinates x (the minimizer, a
generator), then the second's ``players[1]`` coordinates y (the maximizer, a discriminator). Each
player has its own loss, ℓ₁(x, y) for x and ℓ₂(x, y) for y; a zero-sum game ``min_x max_y L`` has
ℓ₁ = L and ℓ₂ = −L. A :class:`Game` is a :class:`~simulate.landscapes.Landscape` with

* ``grad(z)`` = the **simultaneous gradient** ξ(z) = (∇ₓℓ₁, ∇ᵧℓ₂), for zero-sum games (∇ₓL, −∇ᵧL).
  Every optimizer descends it, so ``gd`` on a game *is* simultaneous gradient descent–ascent and
  its flow is ż = −ξ(z) (theory §7, Mescheder et al. 2017; Balduzzi et al. 2018);
* ``hess(z)`` = the **game Jacobian** ∂ξ/∂z, not symmetric: its antisymmetric part rotates. At an
  equilibrium with purely imaginary eigenvalues ±iω the flow circles and explicit Euler multiplies
  the distance by |1 + i·lr·ω| > 1 per step: the outward spiral;
* ``value(z)`` = ½|ξ(z)|², the Hamiltonian of Balduzzi et al.: zero exactly where ξ vanishes. It is
  what contours and the recorded loss show (ξ is not its gradient: it is no potential at all);
* ``minima``: the equilibria (ξ = 0) the players aim for; ``payoff(z)`` = L for a zero-sum game.

Built-ins (registry key: class), with the exact fields of theory §7:

- ``bilinear``: :class:`Bilinear`, L = c·x·y (the flow circles; x² + y² is conserved)
- ``quadratic-game``: :class:`QuadraticGame`, L = ½xᵀAx + xᵀBy − ½yᵀCy with a coupling matrix B
- ``dirac-gan``: :class:`DiracGAN`, Mescheder et al. 2018: generator θ, discriminator ψ, optional
  R1 gradient penalty γ
- ``vanilla-gan``, ``wgan``, ``wgan-gp``, ``gan-qp``: the 2-D GAN toy systems of Su Jianlin's
  kexue.fm part 四 (real data a point mass at 0, generator output θ ∈ ℝ², linear discriminator φ):
  :class:`VanillaGAN`, :class:`WGAN`, :class:`WGANGP`, :class:`GANQP`; state (θ₁, θ₂, φ₁, φ₂), so the
  plane drawn (x₁, x₂) is the generator's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._checks import reals
from .base import Landscape, _real, _set, expit

__all__ = ["Game", "Bilinear", "QuadraticGame", "DiracGAN", "VanillaGAN", "WGAN", "WGANGP", "GANQP",
           "GAMES", "is_game", "refuse_game", "split", "stalled_far", "NEAR_SHARE"]


def is_game(landscape) -> bool:
    """Whether ``landscape`` is a :class:`Game` (its ``grad`` is a game's field, not a gradient)."""
    return isinstance(landscape, Game)


def refuse_game(landscape, what: str) -> None:
    """A clear error where a tool assumes a loss (a symmetric Hessian, a Gibbs density) and the
    landscape is a game."""
    if is_game(landscape):
        raise ValueError(f"{what} is for losses; {landscape.name} is a game, whose Jacobian is not symmetric "
                         f"(its eigenvalues are complex: GD is stable where |1 − lr·λ| < 1 for each of them)")


#: How near a listed equilibrium a point whose field has vanished must be to count as having
#: reached it: this share of the plot box's largest side (the sweeps' default ``near``). Farther
#: away the field has only flattened (a GAN's loss saturates: Dirac-GAN's ξ ~ e^(−θψ)), a stall.
NEAR_SHARE = 0.01


def stalled_far(landscape, z: np.ndarray) -> np.ndarray:
    """Where points ``z`` ``(..., d)`` of a game lie farther than :data:`NEAR_SHARE` of its plot box
    from every listed equilibrium (False on a loss, or on a game that lists none)."""
    z = np.asarray(z, dtype=np.float64)
    if not is_game(landscape) or not len(landscape.minima):
        return np.zeros(z.shape[:-1], bool)
    d = Game.distance(landscape, z)  # to the listed equilibria, not a subclass's own measure (Su's |θ|)
    return d > NEAR_SHARE * float(np.max(np.diff(landscape.bounds, axis=1)))


def split(game: Game, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: the two players' coordinates of points ``z`` ``(..., d)``."""
    n = game.players[0]
    return z[..., :n], z[..., n:]


@dataclass(frozen=True, eq=False)
class Game(Landscape):
    """Base class: subclasses set ``players`` ``(dim x, dim y)`` and implement ``_field`` and
    ``_jacobian`` (ξ and ∂ξ/∂z on float64 points); ``value`` is ½|ξ|² and needs no code."""

    name = "game"
    #: what ``value`` shows, for axis labels
    value_name: ClassVar[str] = "½|ξ|²"

    def __post_init__(self):
        dx, dy = self.players
        object.__setattr__(self, "dim", int(dx) + int(dy))
        super().__post_init__()

    def _value(self, z):
        xi = self._field(z)
        return 0.5 * np.einsum("...i,...i->...", xi, xi)

    def _grad(self, z):
        return self._field(z)

    def _hess(self, z):
        return self._jacobian(z)

    #: what :meth:`distance` measures, for axis labels
    distance_name: ClassVar[str] = "distance to the equilibrium |z − z*|"

    @property
    def plane_labels(self) -> tuple[str, str]:
        """The two coordinates a figure draws, named by player: x (min) and y (max) for a 1 + 1 game."""
        dx, dy = self.players
        names = (["x"] if dx == 1 else [f"x{chr(0x2080 + i + 1)}" for i in range(min(dx, 2))]) + \
                (["y"] if dy == 1 else ["y₁"])
        return tuple(f"{n} ({'minimizes' if n[0] == 'x' else 'maximizes'})" for n in names[:2])

    @property
    def measures_distance(self) -> bool:
        """Whether :meth:`distance` is defined: an equilibrium is listed, or the game has its own
        measure (Su's GANs: |θ|); not on a quadratic game with singular M."""
        return bool(np.isfinite(self.distance(self.default_start)))

    def distance(self, z) -> np.ndarray:
        """Distance to the nearest listed equilibrium, ``(...)`` (NaN if none is listed)."""
        z = self.points(z)
        if len(self.minima) == 0:
            return np.full(z.shape[:-1], np.nan)
        return np.min(np.linalg.norm(z[..., None, :] - self.minima, axis=-1), axis=-1)

    def _field(self, z):
        raise NotImplementedError

    def _jacobian(self, z):
        raise NotImplementedError


def _matrix_param(name: str, value, rows: int | None = None, cols: int | None = None, coupling=None) -> np.ndarray:
    """A number (a multiple of the identity when square) or a matrix, as a 2-D float64 array."""
    arr = reals(value, name)
    if arr.ndim == 0:
        arr = arr * np.eye(rows or 1, cols or rows or 1)
    if arr.ndim == 1:
        arr = arr[None, :] if rows == 1 else arr[:, None]
    if arr.ndim != 2 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite number or matrix, got {value!r}")
    if (rows is not None and arr.shape[0] != rows) or (cols is not None and arr.shape[1] != cols):
        raise ValueError(f"{name} must be {rows}×{cols} (B is {coupling[0]}×{coupling[1]}), got shape {arr.shape}")
    return arr


@dataclass(frozen=True, eq=False)
class QuadraticGame(Game):
    r"""L(x, y) = ½xᵀAx + xᵀBy − ½yᵀCy: x minimizes, y maximizes; B (dim x × dim y) couples them.

    ξ = (Ax + By, Cy − Bᵀx), a linear field ξ = Mz with M = [[A, B], [−Bᵀ, C]]. The flow is
    ``expm(−tM)z₀`` and simultaneous GDA ``(I − lr·M)ᵏz₀``. With A, C positive semi-definite the game
    is convex–concave and the equilibrium 0 is stable for the flow; with A = C = 0 every eigenvalue of
    M is imaginary (±i·σ(B)): the flow circles, and simultaneous GDA spirals out for every lr.
    Numbers stand for multiples of the identity (``A=0.1`` is 0.1·I of the size B gives).
    """

    name = "quadratic-game"
    description = "L = ½xᵀAx + xᵀBy − ½yᵀCy (x minimizes, y maximizes): a linear game field, any coupling B"

    A: object = 0.2
    B: object = 1.0
    C: object = 0.2

    def __post_init__(self):
        B = _matrix_param("B", self.B)
        dx, dy = B.shape
        A, C = _matrix_param("A", self.A, dx, dx, B.shape), _matrix_param("C", self.C, dy, dy, B.shape)
        for name, m in (("A", A), ("C", C)):  # ½xᵀAx only sees A's symmetric part: ξ = Ax needs A = Aᵀ
            if not np.array_equal(m, m.T):
                raise ValueError(f"{name} must be symmetric (½xᵀ{name}x sees only its symmetric part), got {m.tolist()}")
        M = np.block([[A, B], [-B.T, C]])
        for arr in (A, B, C, M):
            arr.setflags(write=False)
        d = dx + dy
        stationary = np.linalg.matrix_rank(M) == d
        _set(self, A=A, B=B, C=C, M=M, players=(dx, dy), bounds=np.tile([-2.0, 2.0], (d, 1)),
             minima=np.zeros((1 if stationary else 0, d)), default_start=np.full(d, 1.0))
        super().__post_init__()

    @property
    def spec_params(self) -> dict:
        def short(m):
            return float(m[0, 0]) if m.shape == (1, 1) else m.tolist()

        return {"A": short(self.A), "B": short(self.B), "C": short(self.C)}

    def payoff(self, z):
        """L(x, y)."""
        x, y = split(self, self.points(z))
        return (0.5 * np.einsum("...i,ij,...j->...", x, self.A, x) + np.einsum("...i,ij,...j->...", x, self.B, y)
                - 0.5 * np.einsum("...i,ij,...j->...", y, self.C, y))

    def _field(self, z):
        return z @ self.M.T

    def _jacobian(self, z):
        return np.broadcast_to(self.M, z.shape[:-1] + (self.dim, self.dim)).copy()


@dataclass(frozen=True, eq=False)
class Bilinear(QuadraticGame):
    r"""L(x, y) = c·x·y, the simplest game: ξ = (c·y, −c·x), a pure rotation at rate c.

    Exact facts (tests): the flow conserves x² + y²; simultaneous GDA multiplies it by exactly
    1 + (c·lr)² per step; alternating GDA conserves x² + y² − c·lr·x·y (bounded for c·lr < 2);
    extragradient multiplies it by exactly 1 − (c·lr)² + (c·lr)⁴ (contracts for c·lr < 1).
    """

    name = "bilinear"
    fixed_parameters = ("A", "B", "C")
    description = "L = c·x·y: the flow circles (x²+y² conserved), simultaneous GDA spirals out"

    c: float = 1.0
    A: object = 0.0
    B: object = None
    C: object = 0.0

    def __post_init__(self):
        c = _real("c", self.c)
        if c == 0:
            raise ValueError("c must be non-zero (c = 0 is no game)")
        if self.B is not None or np.any(reals(self.A, "A") != 0) or np.any(reals(self.C, "C") != 0):
            raise ValueError("bilinear takes only c; use quadratic-game for A, B and C")
        _set(self, c=c, B=c)
        super().__post_init__()
        object.__setattr__(self, "default_start", np.array([1.0, 0.0]))

    @property
    def spec_params(self) -> dict:
        return {} if self.c == 1.0 else {"c": self.c}


#: Dirac-GAN losses f(t) with f' and f'' (Mescheder et al. 2018, §2): L = f(ψθ) + f(0).
_DIRAC_LOSSES: dict[str, tuple[Callable, Callable, Callable]] = {
    "gan": (lambda t: -np.logaddexp(0.0, -t), lambda t: expit(-t), lambda t: -expit(t) * expit(-t)),
    "wgan": (lambda t: t, lambda t: np.ones_like(t), lambda t: np.zeros_like(t)),
}


@dataclass(frozen=True, eq=False)
class DiracGAN(Game):
    r"""Mescheder, Geiger & Nowozin 2018, "Which training methods for GANs do actually converge?".

    Real data is a point mass at 0, the generator outputs θ ∈ ℝ, the discriminator is D(x) = ψ·x.
    ``L(θ, ψ) = f(ψθ) + f(0)``, θ minimizes, ψ maximizes ``L − γ/2·ψ²`` (the R1 gradient penalty
    γ/2·|∇D(real)|² = γ/2·ψ²). ``loss='gan'``: f(t) = −log(1 + e^(−t)); ``'wgan'``: f(t) = t.

    ξ = (f'(ψθ)·ψ, −f'(ψθ)·θ + γψ). At the equilibrium (0, 0) the Jacobian is [[0, f'(0)], [−f'(0), γ]]:
    without the penalty its eigenvalues are ±i·f'(0) (f'(0) = ½ for the GAN loss) and the flow
    circles; γ > 0 damps it (eigenvalues with real part γ/2 for small γ), and the flow converges.
    """

    name = "dirac-gan"
    description = "Dirac-GAN (Mescheder et al. 2018): f(ψθ) with generator θ, discriminator ψ; R1 penalty gamma"

    plane_labels: ClassVar[tuple[str, str]] = ("θ (generator)", "ψ (discriminator)")

    loss: str = "gan"
    gamma: float = 0.0

    def __post_init__(self):
        if self.loss not in _DIRAC_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(_DIRAC_LOSSES)}, got {self.loss!r}")
        gamma = _real("gamma", self.gamma, nonnegative=True)
        _set(self, gamma=gamma, players=(1, 1), bounds=np.tile([-2.0, 2.0], (2, 1)), minima=np.zeros((1, 2)),
             default_start=np.array([1.0, 1.0]))
        super().__post_init__()

    def payoff(self, z):
        """L(θ, ψ) = f(ψθ) + f(0) (without the penalty, which only the discriminator's loss carries)."""
        z = self.points(z)
        f = _DIRAC_LOSSES[self.loss][0]
        return f(z[..., 0] * z[..., 1]) + f(np.zeros(z.shape[:-1]))

    def _field(self, z):
        theta, psi = z[..., 0], z[..., 1]
        d1 = _DIRAC_LOSSES[self.loss][1](theta * psi)
        return np.stack([d1 * psi, -d1 * theta + self.gamma * psi], axis=-1)

    def _jacobian(self, z):
        theta, psi = z[..., 0], z[..., 1]
        t = theta * psi
        d1, d2 = _DIRAC_LOSSES[self.loss][1](t), _DIRAC_LOSSES[self.loss][2](t)
        return np.stack([np.stack([d2 * psi * psi, d2 * t + d1], axis=-1),
                         np.stack([-d2 * t - d1, -d2 * theta * theta + self.gamma], axis=-1)], axis=-2)


# -- Su's GAN toy systems (kexue.fm 6583, theory §7): z = (θ₁, θ₂, φ₁, φ₂) --------------------------
def _dot(a, b):
    return np.einsum("...i,...i->...", a, b)


def _outer(a, b):
    return a[..., :, None] * b[..., None, :]


def _blocks(tt, tp, pt, pp):
    """The 4×4 Jacobian from its 2×2 blocks ∂ξ_θ/∂θ, ∂ξ_θ/∂φ, ∂ξ_φ/∂θ, ∂ξ_φ/∂φ."""
    return np.concatenate([np.concatenate([tt, tp], axis=-1), np.concatenate([pt, pp], axis=-1)], axis=-2)


_I2 = np.eye(2)


@dataclass(frozen=True, eq=False)
class _SuGAN(Game):
    """Shared by Su's toy GANs: players (2, 2), Su's start (φ, θ) = (0.1, 0.2, 0.2, 0.1), target θ = 0."""

    def __post_init__(self):
        _set(self, players=(2, 2), bounds=np.tile([-0.5, 0.5], (4, 1)), minima=np.zeros((1, 4)),
             default_start=np.array([0.2, 0.1, 0.1, 0.2]))
        super().__post_init__()

    distance_name: ClassVar[str] = "generator's distance to the data |θ|"
    plane_labels: ClassVar[tuple[str, str]] = ("θ₁ (generator)", "θ₂ (generator)")

    def distance(self, z) -> np.ndarray:
        """|θ|: how far the generator's output is from the real data at 0 (what Su plots; defined
        also where the discriminator has no equilibrium, WGAN and WGAN-GP with c > 0)."""
        return np.linalg.norm(self.points(z)[..., :2], axis=-1)

    @staticmethod
    def _parts(z):
        return z[..., :2], z[..., 2:]


@dataclass(frozen=True, eq=False)
class VanillaGAN(_SuGAN):
    r"""The non-saturating GAN of Su's part 四: D(x) = σ(φ·x), p = σ(φ·θ).

    The discriminator descends −log(1 − p), the generator −log p:
    ``φ̇ = −p·θ``, ``θ̇ = (1 − p)·φ`` (ξ = (−(1 − p)φ, pθ)). The flow keeps orbiting the target
    (|θ| in [0.10, 0.30] from Su's start): no convergence.
    """

    name = "vanilla-gan"
    description = "Su's 2-D toy GAN, non-saturating loss: phi' = -p*theta, theta' = (1-p)*phi; orbits"

    def _field(self, z):
        theta, phi = self._parts(z)
        p = expit(_dot(phi, theta))[..., None]
        return np.concatenate([-(1 - p) * phi, p * theta], axis=-1)

    def _jacobian(self, z):
        theta, phi = self._parts(z)
        p = expit(_dot(phi, theta))[..., None, None]
        dp = p * (1 - p)
        return _blocks(dp * _outer(phi, phi), -(1 - p) * _I2 + dp * _outer(phi, theta),
                       p * _I2 + dp * _outer(theta, phi), dp * _outer(theta, theta))


@dataclass(frozen=True, eq=False)
class WGAN(_SuGAN):
    r"""Su's WGAN toy: the critic D(x) = φ·x/|φ| (Lipschitz by normalization).

    ``φ̇ = −θ/|φ| + (φ·θ)φ/|φ|³``, ``θ̇ = φ/|φ|``: the generator moves at unit speed forever, so
    there is no equilibrium and none is listed; the flow oscillates about the target. Singular at
    φ = 0 (NaN, reported as divergence).
    """

    name = "wgan"
    description = "Su's 2-D toy WGAN, normalized critic phi.x/|phi|: the generator never stops"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "minima", np.zeros((0, 4)))

    def _field(self, z):
        theta, phi = self._parts(z)
        n = np.linalg.norm(phi, axis=-1, keepdims=True)
        u = phi / n
        return np.concatenate([-u, (theta - _dot(u, theta)[..., None] * u) / n], axis=-1)

    def _jacobian(self, z):
        theta, phi = self._parts(z)
        n = np.linalg.norm(phi, axis=-1)[..., None, None]
        u = phi / n[..., 0]
        s = _dot(phi, theta)[..., None, None]
        proj = (_I2 - _outer(u, u)) / n
        pp = -(_outer(theta, phi) + _outer(phi, theta) + s * _I2) / n**3 + 3 * s * _outer(phi, phi) / n**5
        return _blocks(np.zeros_like(proj), -proj, proj, pp)


@dataclass(frozen=True, eq=False)
class WGANGP(_SuGAN):
    r"""Su's WGAN-GP toy: D(x) = φ·x with the gradient penalty λ(|φ| − c)² (|∇ₓD| = |φ|).

    ``φ̇ = −θ − 2λ(1 − c/|φ|)φ``, ``θ̇ = φ``. c = 0 (zero-centred penalty) damps the rotation and the
    flow converges to the target; c = 1 (the usual WGAN-GP) keeps |φ| → 1 and θ ends on a ring of
    radius about 1: it misses the target. c > 0 is singular at φ = 0.
    """

    name = "wgan-gp"
    description = "Su's 2-D toy WGAN-GP, penalty lam*(|phi|-c)^2: c=0 converges, c=1 ends on a ring |theta|~1"

    lam: float = 0.1
    c: float = 0.0

    def __post_init__(self):
        _set(self, lam=_real("lam", self.lam, nonnegative=True), c=_real("c", self.c, nonnegative=True))
        super().__post_init__()
        if self.c > 0:  # the ring |θ| ≈ c, not a point, is where the flow ends
            object.__setattr__(self, "minima", np.zeros((0, 4)))

    def _field(self, z):
        theta, phi = self._parts(z)
        pull = 2 * self.lam * phi
        if self.c:
            pull = pull - 2 * self.lam * self.c * phi / np.linalg.norm(phi, axis=-1, keepdims=True)
        return np.concatenate([-phi, theta + pull], axis=-1)

    def _jacobian(self, z):
        theta, phi = self._parts(z)
        shape = z.shape[:-1] + (2, 2)
        pp = np.broadcast_to(2 * self.lam * _I2, shape)
        if self.c:
            n = np.linalg.norm(phi, axis=-1)[..., None, None]
            u = phi / n[..., 0]
            pp = pp - 2 * self.lam * self.c * (_I2 - _outer(u, u)) / n
        return _blocks(np.zeros(shape), np.broadcast_to(-_I2, shape), np.broadcast_to(_I2, shape), pp)


@dataclass(frozen=True, eq=False)
class GANQP(_SuGAN):
    r"""Su's GAN-QP toy: D(x) = φ·x, critic penalty (D(x_r) − D(x_f))²/(2λ·norm) (Su 2018).

    ``φ̇ = −θ − θ(φ·θ)/(λ·|·|) − l2·φ``, ``θ̇ = φ`` (the quotient taken as 0 where the norm is 0). ``norm='phi'`` divides by |φ| as Su's code
    (``gan_numeric.py``) does; ``'theta'`` by |θ| = |x_r − x_f|, as the derivation from GAN-QP's
    objective gives (theory §7 flags the code's |φ| as a possible typo). Without L2 the flow does
    not converge by Su's horizon; ``l2=0.1`` (Su's "GAN-QP带L2正则") converges to the target.
    """

    name = "gan-qp"
    description = "Su's 2-D toy GAN-QP (quadratic critic penalty), optional L2 on phi: l2=0.1 converges"

    lam: float = 1.0
    l2: float = 0.0
    norm: str = "phi"

    def __post_init__(self):
        if self.norm not in ("phi", "theta"):
            raise ValueError(f"norm must be 'phi' (Su's code) or 'theta' (the derivation), got {self.norm!r}")
        _set(self, lam=_real("lam", self.lam, positive=True), l2=_real("l2", self.l2, nonnegative=True))
        super().__post_init__()

    def _field(self, z):
        theta, phi = self._parts(z)
        n = np.linalg.norm(phi if self.norm == "phi" else theta, axis=-1, keepdims=True)
        s = _dot(phi, theta)[..., None]
        # |θ(φ·θ)|/|·| <= |θ|·|φ| (or |θ|²): taken as 0 where the norm is 0, so that the target
        # (θ, φ) = 0 is an equilibrium; with norm='phi' the field is discontinuous on φ = 0, θ ≠ 0
        quad = np.divide(theta * s, self.lam * n, out=np.zeros_like(theta), where=n != 0)
        return np.concatenate([-phi, theta + quad + self.l2 * phi], axis=-1)

    def _jacobian(self, z):
        theta, phi = self._parts(z)
        shape = z.shape[:-1] + (2, 2)
        s = _dot(phi, theta)[..., None, None]
        eye = np.broadcast_to(_I2, shape)
        if self.norm == "phi":
            n = np.linalg.norm(phi, axis=-1)[..., None, None]
            pt = eye + (s * _I2 + _outer(theta, phi)) / (self.lam * n)
            pp = _outer(theta, theta) / (self.lam * n) - s * _outer(theta, phi) / (self.lam * n**3)
        else:
            m = np.linalg.norm(theta, axis=-1)[..., None, None]
            pt = eye + (s * _I2 + _outer(theta, phi)) / (self.lam * m) - s * _outer(theta, theta) / (self.lam * m**3)
            pp = _outer(theta, theta) / (self.lam * m)
        return _blocks(np.zeros(shape), -eye, pt, pp + self.l2 * _I2)


GAMES: dict[str, Callable[..., Game]] = {
    "bilinear": Bilinear,
    "quadratic-game": QuadraticGame,
    "dirac-gan": DiracGAN,
    "vanilla-gan": VanillaGAN,
    "wgan": WGAN,
    "wgan-gp": WGANGP,
    "gan-qp": GANQP,
}
