r"""Optimizers for games: alternating gradient descent–ascent, extragradient, optimistic GD, consensus.

On a game (:mod:`simulate.games`) every optimizer descends the simultaneous gradient ξ(z), so
``gd`` is *simultaneous* GDA, ``z⁺ = z − lr·ξ(z)``, the explicit Euler method on ż = −ξ(z). The
three methods here take other steps on the same flow; each is an
:class:`~simulate.optimizers.Optimizer` whose field is that flow, time per step lr, and whose
first-order **modified equation** ``ż = −ξ + lr·C(z)`` (flow ``modified``, order 2) says how its
step departs from the flow (J = ∂ξ/∂z; derived by matching Taylor expansions of one step):

==================  =============================================  ==================================
name                step                                           correction C(z)
==================  =============================================  ==================================
``gd``              z⁺ = z − lr·ξ(z)  (simultaneous GDA)           −Jξ/2: on a rotation, outward
``alt-gda``         x⁺ = x − lr·ξₓ(x, y), y⁺ = y − lr·ξᵧ(x⁺, y)    −Jξ/2 + (0, J_yx·ξₓ)
``extragradient``   z̃ = z − lr·ξ(z), z⁺ = z − lr·ξ(z̃)               +Jξ/2: inward
``optimistic``      z⁺ = z − lr·(2ξ(z_k) − ξ(z_{k−1}))             +Jξ/2 (the same as extragradient)
==================  =============================================  ==================================

:class:`Consensus` (``consensus``, Mescheder, Nowozin & Geiger 2017) is the exception: it changes
the flow, not only the step. ``z⁺ = z − lr·(ξ + γJᵀξ)`` is explicit Euler, time per step lr, on
``ż = −ξ − γ·Jᵀξ`` (GDA's flow plus descent on the Hamiltonian ½|ξ|²), and its modified equation is
``ż = −G − lr/2·DG·G`` with G = ξ + γJᵀξ (the Jacobian-derivative term from :func:`field_curvature`).

On the bilinear game L = x·y (tests): simultaneous GDA multiplies x² + y² by 1 + lr² per step,
alternating GDA conserves x² + y² − lr·x·y exactly (it is the symplectic Euler method),
extragradient multiplies x² + y² by 1 − lr² + lr⁴, and optimistic GD contracts at the modulus of
the principal root of ρ² − (1 − 2i·lr)ρ − i·lr = 0; consensus multiplies x² + y² by
(1 − lr·γ)² + lr². References: Mescheder, Nowozin & Geiger 2017 (simultaneous GDA on rotations;
consensus optimization); Gidel et al. 2019 (alternating updates); Korpelevich 1976
(extragradient); Daskalakis et al. 2018 (optimistic GD); Lu 2022 / Rosca et al. 2021 (their
modified equations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..landscapes.games import is_game
from ..models.gradient import CorrectedFlow
from .hyper import hyper, lr_hyper, weight_decay_hyper
from .base import Optimizer
from .schemes import _GradientFlowScheme

__all__ = ["AlternatingGDA", "Extragradient", "OptimisticGD", "Consensus", "GAME_OPTIMIZERS", "underlying_game",
           "field_curvature"]


def underlying_game(landscape):
    """The :class:`~simulate.landscapes.games.Game` under a run's view of it (clipped or noisy gradients wrap
    the landscape), or None."""
    while not is_game(landscape) and hasattr(landscape, "landscape"):
        landscape = landscape.landscape
    return landscape if is_game(landscape) else None


@dataclass(frozen=True)
class _GameScheme(_GradientFlowScheme):
    """A step on the flow ż = −(ξ + λz) with its first-order correction ``correction(z, game)``."""

    lr: float = lr_hyper(0.1)

    @classmethod
    def models(cls):
        return {**super().models(), "modified": CorrectedFlow}

    def correction(self, z, landscape) -> np.ndarray:
        """C(z) of the modified equation ż = −ξ + lr·C(z) (ξ with weight decay)."""
        raise NotImplementedError

    def _Jg(self, z, landscape):
        """``(Jξ, J, ξ)`` at z (with weight decay)."""
        g, J = self._coupled_grad(z, landscape), self._coupled_hess(z, landscape)
        return np.einsum("...ij,...j->...i", J, g), J, g


@dataclass(frozen=True)
class AlternatingGDA(_GameScheme):
    r"""Alternating gradient descent–ascent: the first player moves, then the second answers.

    ``x⁺ = x − lr·ξₓ(x, y)``, ``y⁺ = y − lr·ξᵧ(x⁺, y)`` (ξ with weight decay λ): the semi-implicit
    Euler method on the flow ż = −ξ split by player (symplectic Euler where the flow is
    Hamiltonian, as on the bilinear game). There it conserves x² + y² − lr·x·y exactly and stays
    bounded for lr < 2, where simultaneous GDA spirals out. Modified equation
    ż = −ξ + lr·(−Jξ/2 + (0, J_yx·ξₓ)). Needs a game (its players). Two field evaluations per step.
    """

    name: ClassVar[str] = "alt-gda"
    description: ClassVar[str] = "alternating gradient descent-ascent on a game: x moves, then y answers"
    evaluations_per_step: ClassVar[int] = 2
    scales_its_update: ClassVar[bool] = False

    def _split(self, landscape) -> int:
        game = underlying_game(landscape)
        if game is None:
            raise ValueError(f"{self.display_name} needs a game (bilinear, quadratic-game, dirac-gan, vanilla-gan, …): "
                             f"it alternates between the players; {landscape.name} has none")
        return game.players[0]

    def step(self, state, landscape, k):
        z = state["x"]
        n = self._split(landscape)
        lr = self._b(self.lr)
        first = z[..., :n] - lr * self._coupled_grad(z, landscape)[..., :n]
        moved = np.concatenate([first, z[..., n:]], axis=-1)
        second = z[..., n:] - lr * self._coupled_grad(moved, landscape)[..., n:]
        return {"x": np.concatenate([first, second], axis=-1)}

    def correction(self, z, landscape):
        n = self._split(landscape)
        Jg, J, g = self._Jg(z, landscape)
        answer = np.zeros_like(z)
        answer[..., n:] = np.einsum("...ij,...j->...i", J[..., n:, :n], g[..., :n])
        return -0.5 * Jg + answer


@dataclass(frozen=True)
class Extragradient(_GameScheme):
    r"""Extragradient (Korpelevich 1976): a look-ahead step, then the step with the look-ahead's field.

    ``z̃ = z − lr·ξ(z)``, ``z⁺ = z − lr·ξ(z̃)``. On a linear game ξ = Mz it is
    ``z⁺ = (I − lr·M + lr²M²)z``: on the bilinear game x² + y² shrinks by exactly 1 − lr² + lr⁴ per
    step. Modified equation ż = −ξ + lr·Jξ/2, the opposite correction to simultaneous GDA's.
    Two field evaluations per step; works on any landscape (there it is a gradient method).
    """

    name: ClassVar[str] = "extragradient"
    description: ClassVar[str] = "extragradient: step with the field at a look-ahead point (converges on bilinear games)"
    evaluations_per_step: ClassVar[int] = 2
    scales_its_update: ClassVar[bool] = False

    def step(self, state, landscape, k):
        z = state["x"]
        lr = self._b(self.lr)
        ahead = z - lr * self._coupled_grad(z, landscape)
        return {"x": z - lr * self._coupled_grad(ahead, landscape)}

    def correction(self, z, landscape):
        return 0.5 * self._Jg(z, landscape)[0]


@dataclass(frozen=True)
class OptimisticGD(_GameScheme):
    r"""Optimistic gradient descent (Popov 1980; Daskalakis et al. 2018): extrapolate from the last field.

    ``z_{k+1} = z_k − lr·(2ξ(z_k) − ξ(z_{k−1}))``, the first step plain (ξ(z₋₁) = ξ(z₀)). One field
    evaluation per step, the same modified equation as extragradient, ż = −ξ + lr·Jξ/2. State: the
    last field ``gprev`` and z; its continuous model has z only.
    """

    name: ClassVar[str] = "optimistic"
    description: ClassVar[str] = "optimistic gradient descent: z - lr*(2*xi(z_k) - xi(z_k-1)), one field per step"

    def state_names(self):
        return ("gprev", "x")

    def lift_state_names(self):
        return ("x",)

    def flow_init(self, x0, landscape):
        return {"x": self._start(x0)}

    def step(self, state, landscape, k):
        z = state["x"]
        g = self._coupled_grad(z, landscape)
        previous = g if k == 1 else state["gprev"]
        return {"gprev": g, "x": z - self._b(self.lr) * (2 * g - previous)}

    def correction(self, z, landscape):
        return 0.5 * self._Jg(z, landscape)[0]


def field_curvature(landscape, z, w, u) -> np.ndarray:
    r"""``Σᵢ wᵢ·∇²ξᵢ(z)·u`` ``(..., d)``: the derivative along u of ``J(z)ᵀw`` with w held fixed.

    ξ is the landscape's ``grad`` (a game's field, or ∇f on a loss, where this is ∇³f[w, u]) and J
    its ``hess``. Games give ξ and J but not ∇²ξ, so this is a 4-point central difference of the
    exact Jacobian along u (as :func:`simulate.models.base.third_derivative` does for ∇³f): error O(δ⁴)
    with δ = 1e-3·(1 + |z|) in the direction of u. It is **exactly zero** where J is constant (the
    linear games: bilinear, quadratic-game), since the differences of equal matrices vanish.
    """
    z, w, u = (np.asarray(a, dtype=np.float64) for a in (z, w, u))
    norm = np.linalg.norm(u, axis=-1, keepdims=True)
    unit = np.divide(u, norm, out=np.zeros_like(u * z), where=norm > 0)
    delta = 1e-3 * (1 + np.linalg.norm(z, axis=-1, keepdims=True))

    def jtw(s):
        return np.einsum("...ji,...j->...i", landscape.hess(z + (s * delta) * unit), w)

    near, far = jtw(1) - jtw(-1), jtw(2) - jtw(-2)
    return norm * (8 * near - far) / (12 * delta)


@dataclass(frozen=True)
class Consensus(Optimizer):
    r"""Consensus optimization (Mescheder, Nowozin & Geiger 2017, "The Numerics of GANs", NeurIPS).

    Simultaneous GDA plus γ times the gradient of the Hamiltonian H = ½|ξ|² (the game's ``value``)::

        z⁺ = z − lr·(ξ(z) + γ·J(z)ᵀξ(z)),        J = ∂ξ/∂z,   Jᵀξ = ∇H

    with ξ the field the optimizer receives: ``ξ + λz`` with weight decay λ (and J + λI), i.e.
    consensus on the game whose players each carry an L2 penalty λ/2·|own coordinates|²; clipped
    where ``clip_norm``/``clip_value`` clip it. γ = 0 is simultaneous GDA (``gd``) bit for bit.

    **Continuous model** (the exact lift, flow ``exact``): the step is the explicit Euler method,
    time per step **lr**, on ``ż = −ξ − γ·Jᵀξ`` (t = k·lr); the field does not depend on lr, so it is
    also the lr → 0 limit (flow ``limit`` refers to it). **Modified equation** (flow ``modified``,
    order 2): with G = ξ + γJᵀξ, ``ż = −G − lr/2·DG·G``, ``DG = J + γ(JᵀJ + Σᵢ ξᵢ∇²ξᵢ)``; games do
    not provide ∇²ξ, so ``Σᵢ ξᵢ∇²ξᵢ·G`` is a central difference of the exact Jacobian
    (:func:`field_curvature`: error O(1e-12), exactly zero on the linear games). The lift's
    Jacobian (for the implicit solvers) is DG the same way, one difference per coordinate.

    On L = c·x·y (tests): Jᵀξ = c²z, so every step multiplies x² + y² by exactly
    (1 − lr·γc²)² + (lr·c)²: contracting where lr < 2γ/(1 + γ²c²); the flow shrinks x² + y² like
    e^(−2γc²t), where simultaneous GDA's flow circles. Near a Dirac-GAN's equilibrium without the
    R1 penalty the eigenvalues ±i/2 of J move to γ/4 ± i/2: consensus converges where GDA circles.

    **On a loss** (a landscape that is no game) ξ = ∇f and Jᵀξ = ∇²f·∇f = ∇(½|∇f|²): the step is
    gradient descent on ``f + γ/2·|∇f|²`` (an explicit gradient-norm penalty, the regularizer GD's
    modified equation carries implicitly with γ = lr/2; Barrett & Dherin 2021). It is allowed, and
    its flow has the Lyapunov energy ``f + γ/2·|∇f|²`` (with λ: of ``f + λ/2·|x|²``).

    One field evaluation and one Jacobian–vector product Jᵀξ per step (a second backward pass in
    autodiff): counted as 2 gradient evaluations. ``gamma`` broadcasts like every hyperparameter.
    """

    name: ClassVar[str] = "consensus"
    description: ClassVar[str] = ("consensus optimization (Mescheder et al. 2017): z - lr*(xi + gamma*J^T xi), "
                                  "GDA plus the gradient of |xi|^2/2")
    evaluations_per_step: ClassVar[int] = 2

    lr: float = lr_hyper(0.1)
    gamma: float = hyper(1.0, ">= 0", note="the weight of ∇½|ξ|²; γ = 0 is simultaneous GDA")
    weight_decay: float = weight_decay_hyper()

    @property
    def _plain(self) -> bool:
        """γ = 0 for every member: the step is simultaneous GDA and no Jacobian is needed."""
        return bool(np.all(self.gamma == 0))

    def direction(self, z, landscape) -> np.ndarray:
        """G = ξ + γ·Jᵀξ at points z ``(..., d)`` (ξ with weight decay); ξ itself where γ = 0."""
        g = self._coupled_grad(z, landscape)
        return g if self._plain else self._consensus(g, self._coupled_hess(z, landscape))

    def _consensus(self, g, J):
        """G = ξ + γ·Jᵀξ from ξ and J (ξ itself for the members with γ = 0, bit for bit)."""
        gamma = self._b(self.gamma)
        return np.where(gamma != 0, g + gamma * np.einsum("...ji,...j->...i", J, g), g)

    def step(self, state, landscape, k):
        z = state["x"]
        return {"x": z + (-self._b(self.lr)) * self.direction(z, landscape)}

    def field(self, t, state, landscape):
        return {"x": -self.direction(state["x"], landscape)}

    def _dg(self, z, landscape):
        """``(DG, G)``: the Jacobian of G = ξ + γJᵀξ ``(..., d, d)`` and G."""
        g, J = self._coupled_grad(z, landscape), self._coupled_hess(z, landscape)
        if self._plain:
            return J, g
        gamma = self._b(self.gamma)
        eye = np.eye(z.shape[-1])
        T = np.stack([field_curvature(landscape, z, g, np.broadcast_to(e, z.shape)) for e in eye], axis=-1)
        JtJ = np.einsum("...ki,...kj->...ij", J, J)
        DG = np.where(gamma[..., None] != 0, J + gamma[..., None] * (JtJ + T), J)
        return DG, self._consensus(g, J)

    def jacobian(self, t, state, landscape):
        return -self._dg(state["x"], landscape)[0]

    def correction(self, z, landscape):
        """C(z) of the modified equation ż = −G + lr·C(z): ``C = −DG·G/2``."""
        g, J = self._coupled_grad(z, landscape), self._coupled_hess(z, landscape)
        Jg = lambda v: np.einsum("...ij,...j->...i", J, v)  # noqa: E731
        if self._plain:
            return -0.5 * Jg(g)
        gamma = self._b(self.gamma)
        G = self._consensus(g, J)
        JG = Jg(G)
        curved = np.einsum("...ji,...j->...i", J, JG) + field_curvature(landscape, z, g, G)
        return -0.5 * np.where(gamma != 0, JG + gamma * curved, JG)

    @classmethod
    def models(cls):
        return {**super().models(), "modified": CorrectedFlow,
                "limit": "consensus's exact lift ż = −ξ − γ·Jᵀξ does not depend on lr: it already is its lr → 0 "
                         "model; use the 'exact' flow"}

    #: the lift is the gradient flow of :meth:`potential`: its energy
    lift_energy_name: ClassVar[str] = "f + γ/2·|∇f|²"

    def lift_energy(self, state, landscape):
        return self.potential(state["x"], landscape)

    def potential(self, x, landscape) -> np.ndarray | None:
        """On a loss, ``F = f + λ/2·|x|² + γ/2·|∇f + λx|²``, whose gradient flow the lift is (so F is
        non-increasing along it); None on a game (½|ξ|² need not decrease: ξᵀJξ can be negative)."""
        if underlying_game(landscape) is not None:
            return None
        g = self._coupled_grad(x, landscape)
        return self.coupled_value(x, landscape) + 0.5 * np.asarray(self.gamma) * np.einsum("...i,...i->...", g, g)


GAME_OPTIMIZERS = (AlternatingGDA, Extragradient, OptimisticGD, Consensus)
