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
from ..landscapes import Landscape
from ..optimizers import SGD, Optimizer
from ..optimizers.schemes import RK4, Heun
from ..solvers.trajectory import Trajectory

__all__ = ["sharpness", "sharpness_along", "stability_threshold", "threshold_formula", "threshold_factor_formula",
           "RK4_STABILITY_LIMIT"]

#: Where RK4's stability polynomial 1 − z + z²/2 − z³/6 + z⁴/24 reaches 1 on the negative real axis.
RK4_STABILITY_LIMIT = 2.785293563405282


def sharpness(landscape: Landscape, x) -> np.ndarray:
    """λmax(∇²f(x)) for points ``(..., d)``; NaN where x is not finite."""
    refuse_game(landscape, "the sharpness λmax(∇²f)")
    x = np.asarray(x, dtype=np.float64)
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


def _threshold_factor(opt: Optimizer):
    """``c`` with stability iff ``lr·λ < c`` on a quadratic mode (per batch member), or None."""
    if isinstance(opt, SGD):
        mu, tau = np.asarray(opt.momentum), np.asarray(opt._tau())
        if opt.nesterov:
            return (2 + 2 * mu) / (1 + 2 * mu)
        with np.errstate(divide="ignore"):
            return np.where(mu == 0, 2.0, 2 * (1 + mu) / (1 - tau))
    if isinstance(opt, RK4):
        return np.asarray(RK4_STABILITY_LIMIT)
    if isinstance(opt, Heun):
        return np.asarray(2.0)
    return None


def stability_threshold(opt: Optimizer) -> np.ndarray | None:
    """The largest stable curvature on a quadratic, ``c/lr`` (``2/lr`` for GD), per batch member;
    with (coupled) weight decay λ the step sees ∇²f + λI, so the line is ``c/lr − λ``.

    ``None`` where no such line exists: a schedule (lr moves; the threshold of each step is that
    of ``opt.at_lr(lr_k)``), a per-coordinate ``lr_scale``, proximal point (always stable), NAG-C (its momentum
    changes every step) and the adaptive methods, whose threshold applies to the preconditioned
    Hessian (e.g. Adam with a frozen v: ``(2 + 2β₁)/(lr·(1 − β₁))`` on ``P⁻¹H``).
    """
    c = _threshold_factor(opt)
    if c is None or opt.schedule is not None or opt.lr_scale is not None:
        return None  # lr changes along a schedule (see plot_sharpness); a per-coordinate lr preconditions H
    # Coupled weight decay adds λ_wd·I to the Jacobian's Hessian: lr·(λmax + wd) < c.
    return c / np.asarray(opt.lr) - np.asarray(getattr(opt, "weight_decay", 0.0))


def threshold_factor_formula(opt: Optimizer) -> str:
    """The stability bound on ``lr·λ`` as a formula: ``2``, ``2(1+μ)``, ``(2+2μ)/(1+2μ)``, ... ("" if none)."""
    if isinstance(opt, SGD):
        if opt.nesterov:
            return "(2+2μ)/(1+2μ)"
        return "2" if np.all(opt.momentum == 0) else ("2(1+μ)" if np.all(opt.dampening == 0) else "2(1+μ)/(1−τ)")
    if isinstance(opt, RK4):
        return "2.785"
    return "2" if isinstance(opt, Heun) else ""


def threshold_formula(opt: Optimizer) -> str:
    """The threshold as a formula, for legends: ``2/lr``, ``2(1+μ)/lr``, ... (``− wd`` with weight decay)."""
    text = _formula(opt)
    return f"{text} − wd" if text and np.any(np.asarray(getattr(opt, "weight_decay", 0.0)) != 0) else text


def _formula(opt: Optimizer) -> str:
    if isinstance(opt, SGD):
        if opt.nesterov:
            return "(2+2μ)/((1+2μ)·lr)"
        return "2/lr" if np.all(opt.momentum == 0) else ("2(1+μ)/lr" if np.all(opt.dampening == 0) else
                                                         "2(1+μ)/((1−τ)·lr)")
    if isinstance(opt, RK4):
        return "2.785/lr"
    return "2/lr" if isinstance(opt, Heun) else ""
