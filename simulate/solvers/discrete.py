"""Run the discrete map: ``iterate(landscape, optimizer, start, steps)``, one numpy pass per step for the batch."""

from __future__ import annotations

import numpy as np

from .._checks import checked
from .._signature import public
from .inputs import is_optimizer, resolve
from .choice import use_compiled
from .warmup import mark_cached
from .engine import compiled_run
from .noise import NoisyGradients, noise as noise_model, whole
from .trajectory import Deferred, Trajectory, check_record_size, default_escape_radius, finish, sample_times

__all__ = ["iterate", "advance", "run_map", "check_seed", "spawned_seed", "stochastic"]


def _escaped(x: np.ndarray, radius: float) -> np.ndarray:
    """Members that are non-finite or outside the ball ``|x| <= radius`` (call under np.errstate)."""
    return ~(np.einsum("...i,...i->...", x, x) <= radius * radius)  # NaN compares False


def _surely_inside(x: np.ndarray, bound: float) -> bool:
    """Whether every coordinate lies strictly within ``±bound`` (NaN fails), with ``bound`` from
    :func:`_inner_bound`: then no member is outside the ball, and the exact test (an einsum and a
    mask per step, a fifth of a 10,000-member step) can be skipped. Two reductions, no temporaries."""
    return x.size == 0 or bool(-bound < x.min()) and bool(x.max() < bound)


def _inner_bound(radius: float, dim: int) -> float:
    """A bound b with ``|x_i| < b`` for every i implying ``|x|² <= radius²`` as :func:`_escaped`
    computes it: ``d·b² < radius²`` with a margin far above the rounding of d products and sums."""
    return float(radius) / np.sqrt(max(int(dim), 1)) * (1 - 1e-9)


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
        # the losses are left to the record (computed on first use, the same bits as the loop's)
        xs, _, _, diverged_at = compiled_run(opt, landscape, x0, steps, radius, 1, losses=False)
        mark_cached(opt, landscape)  # the next process's auto rule looks in numba's cache for it
        return _record(opt, landscape, xs, diverged_at, steps, batch, gtol, stats, time_per_step)
    diverged_at, xs = run_map(opt, stepped, x0, steps, radius, batch)
    return _record(opt, landscape, xs, diverged_at, steps, batch, gtol, stats, time_per_step)


def run_map(opt, landscape, x0, steps, radius, batch):
    """``(diverged_at, xs)``: :func:`advance`'s run with every sample recorded in ``xs``
    ``(steps + 1, *batch, d)``, NaN after a member stopped."""
    # Not filled: every visited row is written (one pass over the record's memory instead of two);
    # rows after a run that ended early (every member stopped) are filled with NaN below.
    xs = np.empty((steps + 1,) + batch + x0.shape[-1:])
    seen = [0]

    def record(k, x, diverged_at):
        seen[0] = k
        if diverged_at is None:  # nothing stopped: no mask to build
            xs[k] = x
        else:  # the sample that triggered a stop is kept; later ones stay NaN
            xs[k] = np.where(((diverged_at < 0) | (diverged_at == k))[..., None], x, np.nan)

    diverged_at = advance(opt, landscape, x0, steps, radius, record)
    xs[seen[0] + 1:] = np.nan
    return diverged_at, xs


def _record(opt, landscape, xs, diverged_at, steps, batch, gtol, stats, time_per_step, f=None) -> Trajectory:
    clock = np.asarray(getattr(time_per_step, "time_per_step", opt.time_per_step if time_per_step is None
                                   else time_per_step), dtype=np.float64)
    if opt.schedule is not None and (time_per_step is None or hasattr(time_per_step, "optimizer")):
        t = sample_times(opt.clock(steps), steps, batch)  # t_k = h(lr_1) + … + h(lr_k)
        stats.update(schedule=opt.schedule.spec, schedule_steps=int(steps))
    else:  # on first use: an lr sweep's times are a (T, *batch) array that few callers read
        t = Deferred(lambda record: sample_times(clock, steps, batch))
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


def advance(opt, landscape, x0, steps: int, radius: float, visit, *, by_kernel: bool = True) -> np.ndarray:
    """Take ``steps`` updates of the batch and call ``visit(k, x_k, diverged_at)`` after each
    (and for the start, k = 0); return ``diverged_at`` per member (-1 if never).

    A member that becomes non-finite or leaves the ball of ``radius`` is frozen at step k:
    ``diverged_at == k`` for the visit that sees its escaping value, and its later ``x_k`` are
    stale. ``diverged_at`` is passed as ``None`` while no member has stopped (the common case,
    so a visitor needs no mask) and is the live array otherwise: read it, don't keep it. The
    loop ends early once every member has stopped.

    An optimizer that declares an elementwise ``kernel()`` (and runs without a schedule or
    gradient transforms) is stepped by calling that update directly, the function its ``step``
    calls with the same arguments (the same bits, tested), without rebuilding them every step;
    ``by_kernel=False`` calls ``step`` itself.
    """
    from ..optimizers.transforms import seen_by

    state = opt.init(x0)
    x = state["x"]
    landscape = seen_by(opt, landscape)  # clip_norm / clip_value: the optimizer receives clipped gradients
    scale = None if getattr(opt, "lr_scale", None) is None else _lr_scale(opt, x)
    scheduled = opt.lrs(steps) if getattr(opt, "schedule", None) is not None else None  # step k: lr_k = scheduled[k − 1]
    begin_step = getattr(landscape, "begin_step", None)  # stochastic gradients draw one loss per step
    stepper = _kernel_step(opt, state, steps) if by_kernel and scale is None and scheduled is None else None
    if stepper is None:
        def stepper(state, landscape, k):
            return (opt if scheduled is None else opt.at_lr(scheduled[k - 1])).step(state, landscape, k)
    bound = _inner_bound(radius, x.shape[-1])
    with np.errstate(all="ignore"):  # overflow in a diverging member is data, not a warning
        diverged_at = np.where(_escaped(x, radius), 0, -1)  # a start outside the ball diverged at once
        stopped = bool((diverged_at >= 0).any())
        visit(0, x, diverged_at if stopped else None)
        for k in range(1, steps + 1):
            if stopped and not (diverged_at < 0).any():
                break  # every member has stopped: nothing left to visit
            if begin_step is not None:
                begin_step(k)
            new = stepper(state, landscape, k)
            if scale is not None:  # a learning rate per coordinate: the update scaled coordinatewise
                new["x"] = state["x"] + scale * (new["x"] - state["x"])
            xk = new["x"]
            if not stopped and _surely_inside(xk, bound):  # nobody left the ball: no test per member
                state = new
                visit(k, xk, None)
                continue
            escaped = _escaped(xk, radius) & (diverged_at < 0)
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


def _kernel_step(opt, state, steps: int):
    """``step(state, landscape, k) -> new state`` by ``opt.kernel()``'s elementwise update, called
    as the optimizer's own ``step`` calls it: hyperparameters as ``(*batch, 1)`` arrays (made once
    here rather than every step), this step's table entries from the kernel's ``tables(k)`` (the
    function ``step`` computes them with; elementwise, so tables shared by the members are
    computed once for k = 0..steps), ``first = (k == 1)``, the buffers of the state. None
    when the optimizer declares no kernel, runs a schedule or transforms, or its state is not
    the kernel's kept buffers and x (then its ``step`` runs)."""
    declared = getattr(opt, "kernel", None)  # an SDE scheme's stepper declares none
    if declared is None or getattr(opt, "schedule", None) is not None or getattr(opt, "transformed", True):
        return None
    kernel = declared()
    if kernel is None or set(state) != {*kernel.kept, "x"} or next(reversed(state)) != "x":
        return None
    update, buffers, names = kernel.update, kernel.buffers, tuple(state)
    fixed = {name: np.asarray(value, dtype=np.float64)[..., None] for name, value in kernel.hypers.items()}
    fixed.update(kernel.flags)
    tables = kernel.table_names
    if not tables and "k" not in kernel.args:
        first, later = ([fixed[n] if n != "first" else flag for n in kernel.args] for flag in (True, False))

        def step(state, landscape, k):
            x = state["x"]
            out = update(x, landscape.grad(x), *[state.get(b) for b in buffers], *(first if k == 1 else later))
            new = dict(zip(buffers, out[1:]), x=out[0])
            return {name: new[name] for name in names}
        return step

    rows = None
    if tables and not kernel.per_member_tables:
        rows = [np.asarray(c, dtype=np.float64) for c in kernel.tables(np.arange(steps + 1))]
        if any(c.shape != (steps + 1,) for c in rows):  # not one number per step: computed per step
            rows = None

    def step(state, landscape, k):
        x = state["x"]
        at_k = {"first": k == 1, "k": k}
        if rows is not None:
            at_k.update(zip(tables, (np.asarray(c[k])[..., None] for c in rows)))
        elif tables:
            at_k.update(zip(tables, (np.asarray(c)[..., None] for c in kernel.tables(k))))
        out = update(x, landscape.grad(x), *[state.get(b) for b in buffers],
                     *[fixed[n] if n in fixed else at_k[n] for n in kernel.args])
        new = dict(zip(buffers, out[1:]), x=out[0])
        return {name: new[name] for name in names}
    return step
