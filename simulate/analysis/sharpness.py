r"""Sharpness λmax(∇²f) along a run, and the step-size thresholds it is measured against.

On a quadratic with curvature λ a method is stable iff ``lr·λ`` is below its threshold (theory §4):
GD ``2``, heavy ball ``2(1 + μ)`` (with dampening τ: ``2(1 + μ)/(1 − τ)``), torch's Nesterov
``(2 + 2μ)/(1 + 2μ)``, Heun ``2``, RK4 ``2.785…``; proximal point never loses stability. Along a run
on a non-quadratic landscape, the sharpness compared with ``threshold/lr`` says where the
iterates can settle: GD can only stop where λmax < 2/lr, which drives the edge of stability
(Cohen et al., ICLR 2021) and the catapult onto flatter minima.
"""

from __future__ import annotations

import numpy as np

from ..landscapes.games import refuse_game
from ..landscapes import Landscape, landscape as get_landscape
from .._signature import public
from ..optimizers import Optimizer
from ..optimizers.schemes import RK4_STABILITY_LIMIT
from ..solvers.trajectory import Trajectory

__all__ = ["sharpness", "sharpness_along", "stability_threshold", "threshold_formula", "threshold_factor_formula",
           "RK4_STABILITY_LIMIT"]

def sharpness(landscape: Landscape | str, x) -> np.ndarray:
    """λmax(∇²f(x)) for points ``(..., d)`` of ``landscape`` (a name, spec or object); NaN where x is
    not finite."""
    landscape = get_landscape(landscape)
    refuse_game(landscape, "the sharpness λmax(∇²f)")
    x = landscape.points(x)
    finite = np.all(np.isfinite(x), axis=-1)
    safe = np.where(finite[..., None], x, landscape.default_start)
    with np.errstate(all="ignore"):
        H = landscape.hess(safe)
        ok = np.all(np.isfinite(H), axis=(-2, -1))
        top = np.linalg.eigvalsh(np.where(ok[..., None, None], H, 0.0))[..., -1]
    return np.where(finite & ok, top, np.nan)


def sharpness_along(traj: Trajectory) -> np.ndarray:
    """Sharpness at every sample of a record, ``(T, *batch)`` (NaN after a member stopped)."""
    return sharpness(traj.landscape, traj.x)


@public
def stability_threshold(optimizer: Optimizer) -> np.ndarray | None:
    """The largest stable curvature on a quadratic, ``c/lr`` (``2/lr`` for GD), per batch member;
    with (coupled) weight decay λ the step sees ∇²f + λI, so the line is ``c/lr − λ``.

    ``None`` where no such line exists: a schedule (lr moves; the threshold of each step is that
    of ``opt.at_lr(lr_k)``), a per-coordinate ``lr_scale``, proximal point (always stable), NAG-C (its momentum
    changes every step) and the adaptive methods, whose threshold applies to the preconditioned
    Hessian (e.g. Adam with a frozen v: ``(2 + 2β₁)/(lr·(1 − β₁))`` on ``P⁻¹H``).
    """
    opt = optimizer
    c = opt.threshold_factor()
    if c is None or opt.schedule is not None or opt.lr_scale is not None:
        return None  # lr changes along a schedule (see plot_sharpness); a per-coordinate lr preconditions H
    # Coupled weight decay adds λ_wd·I to the Jacobian's Hessian: lr·(λmax + wd) < c.
    return c / np.asarray(opt.lr) - np.asarray(getattr(opt, "weight_decay", 0.0))


def threshold_factor_formula(opt: Optimizer) -> str:
    """The stability bound on ``lr·λ`` as a formula: ``2``, ``2(1+μ)``, ``(2+2μ)/(1+2μ)``, ... ("" if none)."""
    return opt.threshold_factor_formula()


def threshold_formula(opt: Optimizer) -> str:
    """The threshold as a formula, for legends: ``2/lr``, ``2(1+μ)/lr``, ``(2+2μ)/((1+2μ)·lr)``, ...
    (``− wd`` with weight decay): the bound on ``lr·λ`` divided by lr."""
    factor = opt.threshold_factor_formula()
    if not factor:
        return ""
    head, slash, tail = factor.rpartition("/")
    text = f"{head}/({tail}·lr)" if slash else f"{factor}/lr"
    return f"{text} − wd" if np.any(np.asarray(getattr(opt, "weight_decay", 0.0)) != 0) else text
