"""Run the discrete map: ``iterate(landscape, optimizer, start, steps)``, one numpy pass per step for the batch."""

from __future__ import annotations

import numpy as np

from .._checks import checked
from .._signature import public
from .inputs import is_optimizer, resolve
from .choice import use_compiled
from .engine import compiled_run
from .noise import NoisyGradients, noise as noise_model, whole
from .trajectory import Trajectory, check_record_size, default_escape_radius, finish, sample_times

__all__ = ["iterate", "advance", "run_map", "check_seed", "spawned_seed", "stochastic"]


def _escaped(x: np.ndarray, radius: float) -> np.ndarray:
    """Members that are non-finite or outside the ball ``|x| <= radius`` (call under np.errstate)."""
    return ~(np.einsum("...i,...i->...", x, x) <= radius * radius)  # NaN compares False


@public(before=("optimizer", "landscape"), recognise=is_optimizer)
@checked
def iterate(landscape, optimizer, start=None, steps: int = 100, *, escape_radius: float | None = None,
            gtol: float = 1e-8, time_per_step=None, engine: str = "auto", noise=None, batch_size: int | None = None,
            seed: int = 0) -> Trajectory:
    """Run ``steps`` discrete updates of ``optimizer`` on ``landscape`` from ``start`` (``(d,)`` or ``(B, d)``).

    ``optimizer`` and ``landscape`` may be names or objects; ``start`` defaults to the landscape's start.
    Hyperparameter arrays broadcast against the batch. A member that becomes non-finite or leaves
    the ball ``|x| <= escape_radius`` (default: 100× the plot box) stops there and is reported as
    diverged at that step (its later samples are NaN); nothing is clipped and no exception is raised. Returns a
    :class:`~simulate.solvers.trajectory.Trajectory` with ``t = k·h``: h is the optimizer's own time per
    step unless ``time_per_step`` gives the clock of another model (a number, an array of the
    batch shape, or a :class:`~simulate.models.base.Flow`, e.g. heavy ball on the oscillator clock √lr).
    ``engine``: ``"auto"`` runs large batches (:data:`simulate.solvers.choice.COMPILE_THRESHOLD`
    member-steps) of an optimizer that declares an elementwise ``kernel()`` on a landscape with a
    pointwise gradient in the compiled engine, the same bits as the numpy loop; ``"numpy"`` or
    ``"compiled"`` force one.

    ``noise`` makes the gradients stochastic (a :class:`~simulate.solvers.noise.Noise`, or ``0.5`` for
    isotropic Gaussian noise of that standard deviation); ``batch_size`` draws minibatches on a
    finite-sum landscape. The members draw independent noise from one stream,
    ``np.random.default_rng(seed)``, so B copies of one start are an ensemble of B paths (a
    member's draws depend on the batch it runs in, not only on the seed).
    """
    opt, landscape, x0 = resolve(optimizer, landscape, start)
    check_steps(steps)
    model = stochastic(noise, landscape, engine, batch_size)
    radius = default_escape_radius(landscape) if escape_radius is None else float(escape_radius)
    batch = np.broadcast_shapes(x0.shape[:-1], opt.batch_shape)
    check_record_size(steps + 1, batch + x0.shape[-1:])
    stats = {"escape_radius": radius}
    stepped = landscape  # what the optimizer's gradient calls see
    if model is not None:
        stats.update(noise=model.label, seed=check_seed(seed))
        stepped = NoisyGradients(landscape, model, seed)
    elif use_compiled(engine, opt, landscape, int(np.prod(batch)), steps):
        xs, f, _, diverged_at = compiled_run(opt, landscape, x0, steps, radius, 1)
        return _record(opt, landscape, xs, diverged_at, steps, batch, gtol, stats, time_per_step, f)
    diverged_at, xs = run_map(opt, stepped, x0, steps, radius, batch)
    return _record(opt, landscape, xs, diverged_at, steps, batch, gtol, stats, time_per_step)


def run_map(opt, landscape, x0, steps, radius, batch):
    xs = np.full((steps + 1,) + batch + x0.shape[-1:], np.nan)

    def record(k, x, diverged_at):
        if diverged_at is None:  # nothing stopped: no mask to build
            xs[k] = x
        else:  # the sample that triggered a stop is kept; later ones stay NaN
            xs[k] = np.where(((diverged_at < 0) | (diverged_at == k))[..., None], x, np.nan)

    return advance(opt, landscape, x0, steps, radius, record), xs


def _record(opt, landscape, xs, diverged_at, steps, batch, gtol, stats, time_per_step, f=None) -> Trajectory:
    clock = np.asarray(getattr(time_per_step, "time_per_step", opt.time_per_step if time_per_step is None
                                   else time_per_step), dtype=np.float64)
    if opt.schedule is not None and (time_per_step is None or hasattr(time_per_step, "optimizer")):
        t = sample_times(opt.clock(steps), steps, batch)  # t_k = h(lr_1) + … + h(lr_k)
        stats.update(schedule=opt.schedule.spec, schedule_steps=int(steps))
    else:
        t = sample_times(clock, steps, batch)
    return finish("iterates", t, xs, opt, landscape, diverged_at, gtol, stats=stats, time_per_step=clock, f=f)


def stochastic(noise, landscape, engine: str = "auto", batch_size: int | None = None):
    """The run's :class:`~simulate.solvers.noise.Noise` (None for exact gradients), checked against the landscape."""
    model = noise_model(noise, batch_size=batch_size)
    if model is not None:
        model.check(landscape)
        if engine == "compiled":
            raise ValueError("the compiled engine runs exact gradients only; use engine='numpy' (or 'auto') with noise")
    return model


def spawned_seed(seed: int, *key: int) -> int:
    """An independent stream's seed for part ``key`` of a seeded whole (one optimizer of several):
    numpy's spawn keys, so no two (seed, key) pairs share a stream."""
    return int(np.random.SeedSequence(seed, spawn_key=key).generate_state(1, np.uint64)[0] >> np.uint64(1))


def check_seed(seed) -> int:
    return whole("seed", seed, 0)


def _lr_scale(opt, x) -> np.ndarray:
    """``opt.lr_scale`` as an array of the points' dimension (an error for another length)."""
    scale = np.asarray(opt.lr_scale, dtype=np.float64)
    if scale.shape != x.shape[-1:]:
        raise ValueError(f"{opt.display_name}: lr_scale has {scale.size} values for {x.shape[-1]} coordinates")
    return scale


def check_steps(steps) -> None:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")


def advance(opt, landscape, x0, steps: int, radius: float, visit) -> np.ndarray:
    """Take ``steps`` updates of the batch and call ``visit(k, x_k, diverged_at)`` after each
    (and for the start, k = 0); return ``diverged_at`` per member (-1 if never).

    A member that becomes non-finite or leaves the ball of ``radius`` is frozen at step k:
    ``diverged_at == k`` for the visit that sees its escaping value, and its later ``x_k`` are
    stale. ``diverged_at`` is passed as ``None`` while no member has stopped (the common case,
    so a visitor needs no mask) and is the live array otherwise: read it, don't keep it. The
    loop ends early once every member has stopped.
    """
    from ..optimizers.transforms import seen_by

    state = opt.init(x0)
    x = state["x"]
    landscape = seen_by(opt, landscape)  # clip_norm / clip_value: the optimizer receives clipped gradients
    scale = None if getattr(opt, "lr_scale", None) is None else _lr_scale(opt, x)
    scheduled = opt.lrs(steps) if getattr(opt, "schedule", None) is not None else None  # step k: lr_k = scheduled[k − 1]
    begin_step = getattr(landscape, "begin_step", None)  # stochastic gradients draw one loss per step
    with np.errstate(all="ignore"):  # overflow in a diverging member is data, not a warning
        diverged_at = np.where(_escaped(x, radius), 0, -1)  # a start outside the ball diverged at once
        stopped = bool((diverged_at >= 0).any())
        visit(0, x, diverged_at if stopped else None)
        for k in range(1, steps + 1):
            active = diverged_at < 0
            if stopped and not active.any():
                break  # every member has stopped: nothing left to visit
            if begin_step is not None:
                begin_step(k)
            new = (opt if scheduled is None else opt.at_lr(scheduled[k - 1])).step(state, landscape, k)
            if scale is not None:  # a learning rate per coordinate: the update scaled coordinatewise
                new["x"] = state["x"] + scale * (new["x"] - state["x"])
            xk = new["x"]
            escaped = _escaped(xk, radius) & active
            if not stopped and not escaped.any():
                state = new
                visit(k, xk, None)
                continue
            stopped = True
            diverged_at[escaped] = k
            keep = (diverged_at < 0)[..., None]
            state = {name: np.where(keep, new[name], state[name]) for name in state}
            visit(k, xk, diverged_at)
    return diverged_at
