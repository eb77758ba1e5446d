"""What a run says on the terminal beside its figure, one line each (the command prints them; the
figure and the data hold the same facts): iterates or flows that diverged, flows the iterates are
not expected to follow (the model's own caveat, a stability threshold passed, a flow that ended at a
maximum or saddle), and runs that barely moved."""

from __future__ import annotations

import numpy as np

from .._signature import Said
from ..models import flow as make_flow
from ..solvers.trajectory import DIVERGED, Trajectory
from .sharpness import sharpness_along, stability_threshold, threshold_formula

__all__ = ["Diverged", "ModelNote", "Stalled", "CAVEAT_SAID", "STALL", "divergences", "model_notes", "stalls"]


class Diverged(Said):
    """Runs that diverged (iterates or flow): how many and when; the figure marks them ×."""


class ModelNote(Said):
    """A continuous model the iterates do not follow here, for a reason the model states (its caveat),
    or a flow that ended at a stationary point that is no minimum."""


#: A model's caveat (:meth:`simulate.models.base.Flow.caveat`) is said when its small parameter is at
#: least this at the run: there the iterates are not expected to follow the flow drawn beside them.
CAVEAT_SAID = 0.3


class Stalled(Said):
    """A run that barely moved: its lr is small for the landscape (the line says how far it went)."""


#: A run "barely moved" when its iterates end within this fraction of the plot box's diagonal of
#: their start and f fell less than this fraction of the way to f*: on the default landscapes a
#: torch default lr (Lion's 1e-4, Adam's 1e-3) can cover ~1% of the box in a default run, and the
#: picture then says nothing about the optimizer, only about its lr.
STALL = 0.05


def model_notes(experiment) -> list[str]:
    """One line per optimizer whose flow the iterates are not expected to follow here: the model's
    own caveat where its small parameter is not small (:data:`CAVEAT_SAID`), and a flow that
    ended at a stationary point with a negative curvature (a maximum or saddle, not a minimum)."""
    land, lines = experiment.landscape, []
    x0 = np.asarray(experiment.start, dtype=np.float64).reshape(-1, land.dim)[0]
    for e in (e for e in experiment.entries if e.flow is not None):
        model = make_flow(e.optimizer, e.flow_kind)
        caveat = model.caveat(land, x0, float(np.max(e.flow.t)))
        if caveat is not None and caveat[1] >= CAVEAT_SAID:
            size = "" if caveat[1] == 1.0 else f" (the parameter that must be ≪ 1 is {caveat[1]:.2g} here)"
            lines.append(f"{e.optimizer.label}: the iterates need not follow its {e.flow_kind} flow here: "
                         f"{caveat[0]}{size}")
        unstable = _past_threshold(e)
        if unstable:
            lines.append(f"{e.optimizer.label}: {unstable}: the iterates cannot follow its {e.flow_kind} flow "
                         f"there (they oscillate or diverge: the edge of stability)")
        ended = _not_a_minimum(e.flow)
        if ended:
            lines.append(f"{e.optimizer.label}: its {e.flow_kind} flow ended at {ended}: it is attracted there, "
                         f"the iterates need not be")
    return lines

def divergences(experiment) -> list[str]:
    """One line per optimizer whose iterates, or whose flow, diverged: from how many starts and
    when (with a crowd, counted over every start)."""
    lines = []
    for i, e in enumerate(experiment.entries):
        status = experiment.crowd.status[i] if experiment.crowd is not None else None
        at = np.ravel(e.iterates.diverged_at)
        gone = np.ravel(status == DIVERGED) if status is not None else at >= 0
        if gone.any():
            first = f", first at step {int(at[at >= 0].min())}" if (at >= 0).any() else ""
            lines.append(f"{e.optimizer.label}: its iterates diverged{_of(gone)}{first}; drawn up to their last "
                         f"finite point (×) (a smaller lr may keep them bounded)")
        if e.flow is not None and (np.ravel(e.flow.diverged_at) >= 0).any():
            gone = np.ravel(e.flow.diverged_at) >= 0
            message = np.ravel(np.asarray(e.flow.message, dtype=object))[np.argmax(gone)]
            lines.append(f"{e.optimizer.label}: its {e.flow_kind} flow diverged{_of(gone)} ({message})")
    return lines

def stalls(experiment) -> list[str]:
    """One line per optimizer whose every run barely moved (:data:`STALL`): how far it went, and
    that a larger lr would show more. Runs that diverged or ended at a minimum are not stalls."""
    land = experiment.landscape
    box = np.asarray(land.bounds, dtype=np.float64)
    diagonal = float(np.linalg.norm(box[:, 1] - box[:, 0]))
    f_star = land.lowest_minimum_value()
    lines = []
    for e in experiment.entries:
        x, f = e.iterates.x, e.iterates.f
        moved = np.linalg.norm(x[-1] - x[0], axis=-1)
        gap = f[0] - (f_star if f_star is not None else 0.0)
        fell = (f[0] - f[-1]) / np.where(gap > 0, gap, np.nan)
        with np.errstate(invalid="ignore"):
            stalled = (moved < STALL * diagonal) & (fell < STALL)  # NaN (diverged, at f*) compares false
        if not np.all(stalled):
            continue
        steps = x.shape[0] - 1
        lines.append(f"{e.optimizer.label} barely moved: in {steps} steps its iterates went "
                     f"{float(np.max(moved)):.2g} ({100 * float(np.max(moved)) / diagonal:.2g}% of the plot box) "
                     f"and f fell {100 * float(np.max(fell)):.2g}% of the way to "
                     f"{'f*' if f_star is not None else '0'}: its lr is small for this landscape (a larger lr "
                     f"or more --steps show more; `simulate tune` finds its best lr)")
    return lines


def _past_threshold(e) -> str:
    """Where the flow runs through curvature past the optimizer's stability threshold (``c/lr`` on a
    quadratic mode, :func:`stability_threshold`): the largest λmax(∇²f) along it and the line; ""
    where it stays below, or the optimizer has no such line."""
    limit = stability_threshold(e.optimizer)
    if limit is None:
        return ""
    try:
        sharp = sharpness_along(e.flow_at_steps)
    except (ValueError, NotImplementedError):  # a game (no Hessian of a loss), a landscape without one
        return ""
    with np.errstate(invalid="ignore"):
        over = np.nanmax(sharp, axis=0) > limit if np.any(np.isfinite(sharp)) else np.zeros(1, bool)
    if not np.any(over):
        return ""
    top = float(np.nanmax(sharp))
    return (f"along its flow λmax(∇²f) reaches {top:.3g}, past its stability threshold "
            f"{threshold_formula(e.optimizer)} = {float(np.min(limit)):.3g}")


def _not_a_minimum(flow: Trajectory) -> str:
    """Where a flow ended at a stationary point with negative curvature (its first such member): the
    point, f and the Hessian's lowest eigenvalue; "" where every member ended elsewhere."""
    land = flow.landscape
    x = flow.x[-1].reshape(-1, land.dim)
    with np.errstate(all="ignore"):
        g = np.linalg.norm(land.grad(x), axis=-1)
        scale = 1.0 + np.linalg.norm(land.grad(flow.x[0].reshape(-1, land.dim)), axis=-1)
    for i in np.flatnonzero(np.isfinite(g) & (g <= 1e-6 * scale)):
        try:
            eigenvalues = np.linalg.eigvalsh(land.hess(x[i]))
        except (ValueError, np.linalg.LinAlgError, NotImplementedError):
            return ""
        lowest = float(eigenvalues[0])
        if lowest < -1e-8 * (1.0 + abs(lowest)):
            kind = "a maximum" if float(eigenvalues[-1]) < 0 else "a saddle"
            return (f"{kind} of f, {np.array2string(x[i], precision=4)} (f = {float(land.value(x[i])):.4g}, lowest "
                    f"Hessian eigenvalue {lowest:.3g})")
    return ""


def _of(mask: np.ndarray) -> str:
    """" from k of n starts" for several starts, "" for one."""
    return f" from {int(mask.sum())} of {mask.size} starts" if mask.size > 1 else ""
