r"""Optimizers for games: alternating gradient descent–ascent, extragradient and optimistic GD.

On a game (:mod:`simulate.games`) every optimizer descends the simultaneous gradient ξ(z), so
``gd`` is *simultaneous* GDA, ``z⁺ = z − lr·ξ(z)``, the explicit Euler method on ż = −ξ(z). The
three methods here take other steps on the same flow; each is an
:class:`~simulate.optimizers.Optimizer` whose field is that flow, time per step lr, and whose
first-order **modified equation** ``ż = −ξ + lr·C(z)`` (flow ``modified``, order 2) says how its
step departs from the flow (J = ∂ξ/∂z; derived by matching Taylor expansions of one step):

============  =========================================  ======================================
name          step                                        correction C(z)
============  =========================================  ======================================
``gd``        z⁺ = z − lr·ξ(z)  (simultaneous GDA)        −Jξ/2: on a rotation, outward
``alt-gda``   x⁺ = x − lr·ξₓ(x, y), y⁺ = y − lr·ξᵧ(x⁺, y)  −Jξ/2 + (0, J_yx·ξₓ)
``extragradient`` z̃ = z − lr·ξ(z), z⁺ = z − lr·ξ(z̃)        +Jξ/2: inward
``optimistic``  z⁺ = z − lr·(2ξ(z_k) − ξ(z_{k−1}))          +Jξ/2 (the same as extragradient)
============  =========================================  ======================================

On the bilinear game L = x·y (tests): simultaneous GDA multiplies x² + y² by 1 + lr² per step,
alternating GDA conserves x² + y² − lr·x·y exactly (it is the symplectic Euler method),
extragradient multiplies x² + y² by 1 − lr² + lr⁴, and optimistic GD contracts at the modulus of
the principal root of ρ² − (1 − 2i·lr)ρ − i·lr = 0. References: Mescheder, Nowozin & Geiger 2017
(simultaneous GDA on rotations); Gidel et al. 2019 (alternating updates); Korpelevich 1976
(extragradient); Daskalakis et al. 2018 (optimistic GD); Lu 2022 / Rosca et al. 2021 (their
modified equations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .games import is_game
from .schemes import _GradientFlowScheme

__all__ = ["AlternatingGDA", "Extragradient", "OptimisticGD", "GAME_OPTIMIZERS", "underlying_game"]


def underlying_game(landscape):
    """The :class:`~simulate.games.Game` under a run's view of it (clipped or noisy gradients wrap
    the landscape), or None."""
    while not is_game(landscape) and hasattr(landscape, "landscape"):
        landscape = landscape.landscape
    return landscape if is_game(landscape) else None


@dataclass(frozen=True)
class _GameScheme(_GradientFlowScheme):
    """A step on the flow ż = −(ξ + λz) with its first-order correction ``correction(z, game)``."""

    lr: float = 0.1

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


GAME_OPTIMIZERS = (AlternatingGDA, Extragradient, OptimisticGD)
