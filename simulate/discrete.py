"""Run the discrete map: ``iterate(opt, landscape, x0, steps)``, one numpy pass per step for the batch."""

from __future__ import annotations

import numpy as np

from ._inputs import resolve
from .trajectory import Trajectory, check_record_size, default_escape_radius, finish, sample_times

__all__ = ["iterate"]


def _escaped(x: np.ndarray, radius: float) -> np.ndarray:
    """Members that are non-finite or outside the ball ``|x| <= radius`` (call under np.errstate)."""
    return ~(np.einsum("...i,...i->...", x, x) <= radius * radius)  # NaN compares False


def iterate(opt, landscape, x0=None, steps: int = 100, *, escape_radius: float | None = None,
            gtol: float = 1e-8, time_per_step=None) -> Trajectory:
    """Run ``steps`` discrete updates of ``opt`` on ``landscape`` from ``x0`` (``(d,)`` or ``(B, d)``).

    ``opt`` and ``landscape`` may be names or objects; ``x0`` defaults to the landscape's start.
    Hyperparameter arrays broadcast against the batch. A member that becomes non-finite or leaves
    the ball ``|x| <= escape_radius`` (default: 100× the plot box) is frozen there and reported as
    diverged at that step; nothing is clipped and no exception is raised. Returns a
    :class:`~simulate.trajectory.Trajectory` with ``t = k·h``: h is the optimizer's own time per
    step unless ``time_per_step`` gives the clock of another model (a number, an array of the
    batch shape, or a :class:`~simulate.flows.Flow`, e.g. heavy ball on the oscillator clock √lr).
    """
    opt, landscape, x0 = resolve(opt, landscape, x0)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    radius = default_escape_radius(landscape) if escape_radius is None else float(escape_radius)
    check_record_size(steps + 1, np.broadcast_shapes(x0.shape[:-1], opt.batch_shape) + x0.shape[-1:])
    state = opt.init(x0)
    x = state["x"]
    batch = x.shape[:-1]
    xs = np.full((steps + 1,) + x.shape, np.nan)
    xs[0] = x
    with np.errstate(all="ignore"):  # overflow in a diverging member is data, not a warning
        diverged_at = np.where(_escaped(x, radius), 0, -1)  # a start outside the ball diverged at once
        for k in range(1, steps + 1):
            active = diverged_at < 0
            if not active.any():
                break  # every member has stopped: the remaining samples stay NaN
            new = opt.step(state, landscape, k)
            xk = new["x"]
            escaped = _escaped(xk, radius) & active
            if active.all() and not escaped.any():  # the common case: nothing to mask
                xs[k] = xk
                state = new
                continue
            diverged_at[escaped] = k
            xs[k] = np.where(active[..., None], xk, np.nan)
            keep = (diverged_at < 0)[..., None]
            state = {name: np.where(keep, new[name], state[name]) for name in state}
    clock = np.asarray(getattr(time_per_step, "time_per_step", opt.time_per_step if time_per_step is None
                                   else time_per_step), dtype=np.float64)
    return finish("iterates", sample_times(clock, steps, batch), xs, opt, landscape, diverged_at, gtol,
                  stats={"escape_radius": radius}, time_per_step=clock)
