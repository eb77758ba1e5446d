"""A compiled engine for large batches: the same update rules, run by numba on both cores.

:func:`compiled_run` takes one optimizer that declares an elementwise update
(``opt.kernel()``, a :class:`~simulate.optimizers.kernel.Kernel`: the SGD family, Adam, AdamW,
RMSprop, Adagrad) on a landscape that declares a pointwise gradient (``landscape.pointwise_grad``:
the built-ins written in :mod:`simulate.landscapes.pointwise`, and formula landscapes compiled from
their expression tree), in any dimension, and runs every batch member through all its steps in
one compiled loop: the batch is cut into blocks of members, dealt round-robin to one thread per
core (the loop releases the GIL), and a block whose members have all stopped costs nothing more.

There is one loop (:func:`_loop`). What differs between optimizers and landscapes is the step of
one member, which is generated from the declarations (:func:`_step_source`): the coordinates and
buffers the kernel names, the gradient of the landscape, the update of each coordinate by the
kernel's own function (the one the numpy ``step`` calls: results are the same bits, tested), the
escape test. The generated text is made only of the engine's own identifiers and indices, never
of a declared name or of user text. Divergence is handled as in
:func:`simulate.solvers.discrete.advance`: a member that leaves the escape ball or becomes
non-finite stops at that step, which is recorded.

Compiling takes a few seconds per variant (kernel, landscape, dimension, flags, which
hyperparameters are zero for every member) in a process, and is kept in numba's disk cache, so
the engine is used only where the work is large (:data:`simulate.solvers.choice.COMPILE_THRESHOLD` member-steps, or
:data:`~simulate.solvers.choice.CACHED_THRESHOLD` when the variant is cached) or when asked for (``engine="compiled"``);
small runs such as ``simulate plot`` never wait for it. Without numba, or for an optimizer or
landscape it does not cover, the numpy loop runs instead (``"compiled"`` says why).
"""

from __future__ import annotations

import hashlib
import os
import sys
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..optimizers.kernels import lerp, select

__all__ = ["available", "supports", "not_covered", "compiled_run", "driver_for", "MAX_TABLE", "COVERAGE"]

#: Per-step tables that vary over the members (Adam's bias corrections with per-member betas) are
#: (steps + 1) × batch; beyond this many entries "auto" runs the numpy loop instead (and
#: "compiled" says why it cannot).
MAX_TABLE = 50_000_000
#: What the engine covers, for error messages and the --engine help.
COVERAGE = ("optimizers that declare an elementwise kernel (the SGD family, the Adam family, RMSprop, Adagrad, "
            "Lion and more: simulate warmup --list), with a constant lr (without a schedule or gradient transforms), "
            "on landscapes with a pointwise gradient (the built-ins but quadratic, in any dimension, and formula "
            "landscapes made of + − × ÷, squares, abs, sin and cos; a higher power, also x*x*x, which the formula "
            "simplifies to x**3, is not)")

#: Bounds of the block of members that one core runs through all its steps (see _block_size).
MIN_BLOCK, MAX_BLOCK = 256, 1024

_DRIVERS: dict = {}
_numba = None


def available() -> bool:
    """Whether numba can be imported (then the compiled engine can run)."""
    global _numba
    if _numba is None:
        try:
            import numba
            from numba.extending import overload

            @overload(select)
            def _select_scalar(cond, a, b):  # on scalars a conditional, not np.where's 0-d array
                def impl(cond, a, b):
                    return a if cond else b
                return impl

            @overload(lerp)
            def _lerp_compiled(a, b, w):  # the same source, compiled (its select is the one above)
                return lerp

            _numba = numba
        except ImportError:  # pragma: no cover - numba is a dependency; kept for partial installs
            _numba = False
    return bool(_numba)


def not_covered(opt, landscape) -> str | None:
    """Why the compiled engine cannot run this optimizer on this landscape, or None if it can."""
    if getattr(opt, "schedule", None) is not None or opt.transformed:
        return f"{opt.display_name} has a schedule or gradient transforms (the engine runs a constant lr, " \
               f"without a schedule or gradient transforms)"
    if opt.kernel() is None:
        return f"{opt.display_name} declares no elementwise kernel (only a declared elementwise update is compiled)"
    if getattr(landscape, "pointwise_grad", None) is None or getattr(landscape, "pointwise_value", None) is None:
        return f"{getattr(landscape, 'name', landscape)} has no pointwise gradient"
    return None


def supports(opt, landscape) -> bool:
    """Whether the compiled engine covers this optimizer on this landscape (see :func:`not_covered`)."""
    return not_covered(opt, landscape) is None


# -- what a run passes to the loop -------------------------------------------------------------------
def _zero(h) -> bool:
    """Whether a hyperparameter is +0.0 for every member (then it is compiled as the literal 0.0,
    and the compiler drops the terms it switches off: the same bits, the numbers being equal)."""
    h = np.asarray(h, dtype=np.float64)
    return bool(np.all((h == 0) & ~np.signbit(h)))


def _uniform(h) -> bool:
    """Whether a hyperparameter has one value for every member (then the loop reads it once per
    block, not once per member and step)."""
    h = np.asarray(h, dtype=np.float64)
    return h.size > 0 and bool(np.all(h == h.flat[0]))


def _layout(kernel, dim: int):
    """The variant of a kernel on ``dim`` coordinates, as a hashable description: per argument
    after the buffers, ``("hyper", index)`` (one value per member), ``("uniform", index)`` (one for
    all), ``("zero",)``, ``("table", index, per_member)``, ``("flag", bool)`` or ``("first",)``/``("k",)``; the
    kept buffers' indices (others are passed as 0.0)."""
    hypers = [n for n in kernel.hypers if not _zero(kernel.hypers[n])]
    args = []
    for name in kernel.args:
        if name in kernel.flags:
            args.append(("flag", bool(kernel.flags[name])))
        elif name in kernel.table_names:  # one value per step for all members, or a row per member
            args.append(("table", kernel.table_names.index(name), bool(kernel.per_member_tables)))
        elif name in kernel.hypers:
            if name not in hypers:
                args.append(("zero",))
            else:
                args.append(("uniform" if _uniform(kernel.hypers[name]) else "hyper", hypers.index(name)))
        else:
            args.append((name,))  # "first" or "k" (checked by Kernel)
    kept = tuple(kernel.buffers.index(b) for b in kernel.kept)
    return tuple(args), kept, len(kernel.buffers), int(dim), tuple(hypers)


def driver_for(opt, landscape, track=None):
    """The compiled loop for this optimizer's variant on this landscape, measuring what the
    :class:`~simulate.solvers.tracking.Tracking` ``track`` asks for (compiled on first call)."""
    kernel = opt.kernel()
    args, kept, nbuf, dim, _ = _layout(kernel, landscape.dim)
    return _driver(kernel.update, landscape.pointwise_grad[0], landscape.pointwise_value[0], args, kept, nbuf, dim,
                   None if track is None else track.layout)


def compiled_run(opt, landscape, x0: np.ndarray, steps: int, radius: float, record_every: int, *,
                 losses: bool = True, track=None):
    """Run the batch; returns ``(recorded, losses, last, diverged_at)``, and a
    :class:`~simulate.solvers.tracking.Tracked` fifth when ``track`` is given.

    ``recorded``: ``(len(kept), *batch, d)`` positions at the steps 0, m, 2m, …, and the last (NaN
    after a member stopped; the escaping value is kept at its own step when recorded), or None
    when ``record_every`` is 0; ``losses``: f at those samples (the landscape's pointwise value, the
    same bits as ``landscape.value``), or None when ``losses=False`` (a caller that computes them
    when asked) or nothing is recorded. ``last``: each member's position after the last step (NaN
    where it diverged). ``diverged_at``: the step at which a member stopped, −1 if none.
    ``track``: a :class:`~simulate.solvers.tracking.Tracking` plan, measured at every step as the
    numpy loop's visitors measure it.
    """
    kernel = opt.kernel()
    d = landscape.dim
    batch = np.broadcast_shapes(x0.shape[:-1], opt.batch_shape)
    B = int(np.prod(batch))
    # Fresh writable copies, always: a read-only array is another type to numba, which would
    # compile (and cache) the loop a second time for it.
    x = np.array(np.broadcast_to(x0, batch + (d,)).reshape(B, d), dtype=np.float64, order="C")

    def flat(h):
        return np.broadcast_to(np.asarray(h, np.float64), batch).reshape(B)

    *_, hyper_names = _layout(kernel, d)
    hypers = np.array([flat(kernel.hypers[n]) for n in hyper_names]).reshape(len(hyper_names), B)
    starts = np.array([flat(kernel.start.get(b, 0.0)) for b in kernel.kept]).reshape(len(kernel.kept), B)
    tables = _tables(kernel, steps, batch)
    params, vparams = landscape.pointwise_grad[1], landscape.pointwise_value[1]
    # Not filled here: the compiled loop writes every recorded slot (NaN once a member stopped),
    # so the pages are first touched there, in parallel.
    out = np.empty((len(recorded_steps(steps, record_every)) if record_every else 0, B, d))
    fout = np.empty(out.shape[:2] if losses else (0, B))  # the losses at the recorded samples, by the pointwise value
    last = np.full((B, d), np.nan)
    diverged_at = np.full(B, -1, dtype=np.int64)
    every = max(int(record_every), 1)
    threads = max(1, min(cores(), -(-B // MIN_BLOCK)))  # an empty batch: one share of no blocks
    size = _block_size(B, threads)
    plan, kept_measures = _measured(track, steps, B, d)
    driver = driver_for(opt, landscape, track)
    try:
        on_cores(driver, threads, size, x, hypers, tables, starts, params, vparams, steps, float(radius) ** 2, every,
                 bool(record_every), bool(losses), out, fout, last, diverged_at, *plan, *kept_measures)
    except _numba.core.errors.TypingError as exc:  # an optimizer's own kernel that numba cannot compile
        said = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise ValueError(
            f"engine 'compiled': the kernel update {getattr(kernel.update, '__qualname__', kernel.update)!r} of "
            f"{opt.display_name} does not compile: an update may use arithmetic, np.sqrt, np.abs, np.maximum and "
            f"select/lerp from simulate.optimizers.kernels, and a function it calls must itself be numba.njit-ed; "
            f"or run engine 'numpy' (numba said: {said})") from None
    result = (out.reshape((out.shape[0],) + batch + (d,)) if record_every else None,
              fout.reshape((out.shape[0],) + batch) if record_every and losses else None,
              last.reshape(batch + (d,)), diverged_at.reshape(batch))
    if track is None:
        return result
    return result + (_tracked(kept_measures, batch, d),)


def _measured(track, steps: int, B: int, d: int):
    """The loop's tracking arguments: the plan's tables and the arrays it fills (small stand-ins
    of the same types when nothing is tracked, so that every variant has one signature)."""
    if track is None:
        plan = {"need": np.zeros(steps + 1, np.int64), "act_ptr": np.zeros(steps + 2, np.int64),
                "act_slot": np.zeros(0, np.int64), "act_start": np.zeros(0, np.bool_),
                "fin_ptr": np.zeros(steps + 2, np.int64), "fin_a": np.zeros(0, np.int64),
                "fin_b": np.zeros(0, np.int64), "fin_e": np.zeros(0), "slots": 1, "minima": np.zeros((0, d)),
                "consts": np.zeros(3)}
        B = 0
    else:
        plan = track.schedules()
    order = ("need", "act_ptr", "act_slot", "act_start", "fin_ptr", "fin_a", "fin_b", "fin_e", "slots", "minima",
             "consts")
    measures = (np.full(B, -1, dtype=np.int64), np.full(B, np.nan), np.full((2, B), -np.inf), np.full(B, np.nan),
                np.full((B, d), np.nan), np.full((B, d), np.nan))  # reached, rate, envelopes, final, low, high
    return tuple(plan[k] for k in order), measures


def _tracked(measures, batch, d: int):
    """The loop's per-member measures as a :class:`~simulate.solvers.tracking.Tracked` of the batch's
    shape: squared measures rooted here (the root of the largest square is the largest root)."""
    from .tracking import Tracked

    reached, rate, envelopes, final, low, high = measures
    with np.errstate(invalid="ignore"):
        root = np.where(envelopes == -np.inf, -np.inf, np.sqrt(np.maximum(envelopes, 0.0)))
        root = np.where(np.isnan(envelopes), np.nan, root)
    return Tracked(reached=reached.reshape(batch), rate=rate.reshape(batch), first=root[0].reshape(batch),
                   last=root[1].reshape(batch), final=np.sqrt(final).reshape(batch), low=low.reshape(batch + (d,)),
                   high=high.reshape(batch + (d,)))


def _tables(kernel, steps: int, batch) -> np.ndarray:
    """The kernel's per-step tables by its own function, ``(tables, steps + 1, 1)`` when shared by
    the members, ``(tables, steps + 1, B)`` when they vary. Row 0 is unused."""
    width = batch if kernel.per_member_tables else (1,) * len(batch)
    if not kernel.table_names:
        return np.zeros((0, steps + 1, 1))
    k = np.arange(steps + 1).reshape((-1,) + (1,) * len(batch))
    rows = [np.array(np.broadcast_to(np.asarray(c, np.float64), (steps + 1,) + width).reshape(steps + 1, -1))
            for c in kernel.tables(k)]
    out = np.array(rows)
    out[:, 0] = 1.0
    return out


def recorded_steps(steps: int, every: int) -> np.ndarray:
    """Steps whose points a run keeps when it records every ``every``-th: those, and always the last."""
    kept = np.arange(0, steps + 1, every)
    return kept if kept[-1] == steps else np.append(kept, steps)


def cores() -> int:
    """The cores this process may run on (``NUMBA_NUM_THREADS`` caps them, as for numba's own loops)."""
    available()
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, _numba.config.NUMBA_NUM_THREADS))


def on_cores(driver, threads: int, *args) -> None:
    """Run ``driver(share, threads, *args)`` for every share, one per core: the compiled loop
    releases the GIL, so plain threads run the shares in parallel (a loop compiled with numba's
    ``parallel=True`` takes three times as long to compile)."""
    global _pool, _pool_size
    if threads == 1:
        driver(0, 1, *args)
        return
    if _pool_size < threads - 1:
        _pool, _pool_size = ThreadPoolExecutor(threads - 1, thread_name_prefix="simulate-engine"), threads - 1
    others = [_pool.submit(driver, share, threads, *args) for share in range(1, threads)]
    driver(0, threads, *args)  # this thread takes the first share
    for job in others:
        job.result()


_pool, _pool_size = None, 0


def _block_size(members: int, threads: int) -> int:
    """Members per block: blocks are small enough that the cores share the work evenly when some
    blocks stop early (a sweep's diverging half), large enough to keep the per-step overhead low."""
    return int(min(MAX_BLOCK, max(MIN_BLOCK, -(-members // (8 * threads)))))


def _driver(update, grad, value, args: tuple, kept: tuple, nbuf: int, dim: int, track: tuple | None = None):
    """The compiled loop of one kernel variant on one landscape (built once per process, kept in
    numba's disk cache across processes). ``args``, ``kept``, ``nbuf``: see :func:`_layout`;
    ``track``: the layout of a :class:`~simulate.solvers.tracking.Tracking` plan, or None."""
    key = (update, grad, value, args, kept, nbuf, dim, track)
    if key in _DRIVERS:
        return _DRIVERS[key]
    available()
    inline = _numba.njit(inline="always")
    # The loop reads these as globals, which numba compiles as constants; a closure would hold
    # dispatchers, whose pickled form differs in every process and defeats the disk cache.
    names = {"np": np, "grad_": inline(grad), "value_": inline(value), "update_": inline(update)}
    names["keep_"] = inline(_generated("keep_", _keep_source(dim), names))
    if track is not None:
        names["track_"] = inline(_generated("track_", _track_source(dim, *track), names))
    source = _loop_source(args, kept, nbuf, dim, track is not None)
    _DRIVERS[key] = run = compile_variant(_generated("loop_", source, names), names, key + (source,))
    return run


def _generated(name: str, source: str, names: dict):
    """The function ``name`` defined by ``source`` (text the engine writes from its own identifiers
    and indices, see _loop_source), with ``names`` as its globals. It is compiled under this
    module's file name: numba's disk cache keys a loop to an existing source file's stamp (the
    qualified name that compile_variant gives it carries a hash of the text itself)."""
    scope = dict(names, __name__=__name__)
    exec(compile(source, __file__, "exec"), scope)  # noqa: S102 - engine-made text, no declared or user names
    return scope[name]


def _loop_source(args: tuple, kept: tuple, nbuf: int, dim: int, tracking: bool = False) -> str:
    """The text of the loop of one variant (``args``, ``kept``, ``nbuf`` as in :func:`_layout`, on
    ``dim`` coordinates).

    Per block of members, one 1-D array per coordinate (``X0``, ``X1``, …), per kept buffer and
    coordinate (``S<b>_<j>``), per hyperparameter that is not all zero (``H<h>``) and per table
    (``C<t>``, this step's entries). Step-major inside each block, and branch-free: every member
    computes every step and a stopped one just keeps its old state, so the compiler vectorizes the
    loop over members (several members per SIMD instruction); the order of each member's
    operations, and so its bits, stay the numpy path's. Recording is a separate pass over the
    block, so the update loop has no stores it cannot vectorize. A member that leaves the ball of
    radius √r2 (or becomes non-finite) stops at that step: ``D`` holds the step, −1 while it runs.
    With ``tracking``, :func:`_track_source`'s pass measures the members after every step (and at
    the start), into per-block arrays copied out at the end.
    """
    J = range(dim)
    hypers = sorted({a[1] for a in args if a[0] == "hyper"})
    uniform = sorted({a[1] for a in args if a[0] == "uniform"})
    tables = sorted({a[1] for a in args if a[0] == "table" and a[2]})  # per member: a row per block
    shared = sorted({a[1] for a in args if a[0] == "table" and not a[2]})  # one number per step
    coords = ", ".join(f"X{j}[i]" for j in J)
    norm = lambda p: " + ".join(f"{p}{j} * {p}{j}" for j in J)  # noqa: E731 - summed in order, as the numpy test
    extra = [_argument(a) for a in args]
    track_args = (f"({_targets('X', dim)}), D, R, RT, E, Q, V0, V1, FD, ({_targets('LO', dim)}), ({_targets('HI', dim)}), "
                  "pend, need, act_ptr, act_slot, act_start, fin_ptr, fin_a, fin_b, fin_e, minima, consts, params, vparams")
    body = [
        "def loop_(share, shares, size, x, hypers, tables, starts, params, vparams, steps, r2, every, record, losses, out,",
        "          fout, last, diverged_at, need, act_ptr, act_slot, act_start, fin_ptr, fin_a, fin_b, fin_e, slots, minima,",
        "          consts, t_reached, t_rate, t_envelopes, t_final, t_low, t_high):",
        "    B = x.shape[0]",
        "    for blk in range(share, (B + size - 1) // size, shares):  # dealt round-robin to the cores",
        "        lo, hi = blk * size, min(B, (blk + 1) * size)",
        "        n = max(hi - lo, 0)",
        *(f"        X{j} = x[lo:hi, {j}].copy()" for j in J),
        *(f"        S{b}_{j} = starts[{s}, lo:hi].copy()" for s, b in enumerate(kept) for j in J),
        *(f"        H{h} = hypers[{h}, lo:hi].copy()" for h in hypers),
        *(f"        U{h} = hypers[{h}, lo] if hi > lo else 0.0" for h in uniform),
        *(f"        C{t} = np.empty(n)" for t in tables),
        "        D = np.full(n, -1)",
        "        live = 0",
        "        for i in range(n):  # members outside the ball stop at step 0",
        *(f"            x{j} = X{j}[i]" for j in J),
        f"            if not ({norm('x')} <= r2):",
        "                D[i] = 0",
        "            else:",
        "                live += 1",
        *([
            "        R = np.full(n, -1)",
            "        RT = np.full(n, np.nan)",
            "        E = np.empty((slots, n))",
            "        Q = np.empty(n)",
            "        V0 = np.full(n, -np.inf)",
            "        V1 = np.full(n, -np.inf)",
            "        FD = np.full(n, np.nan)",
            *(f"        LO{j} = np.full(n, np.nan)" for j in J),
            *(f"        HI{j} = np.full(n, np.nan)" for j in J),
            "        pend = True  # some member may still meet the criterion",
            f"        pend = track_(0, {track_args})"] if tracking else []),
        "        if record:",
        f"            keep_(0, 0, lo, ({_targets('X', dim)}), D, out, fout, losses, vparams)",
        "        written = 0  # the last recorded slot",
        "        for k in range(1, steps + 1):",
        "            if live == 0:",
        "                break",
        "            first = k == 1",
        "            kept = record and (k % every == 0 or k == steps)",
        "            slot = (k + every - 1) // every",
        "            if kept:",
        "                written = slot",
        *(f"            C{t}[:] = tables[{t}, k, lo:hi]" for t in tables),
        *(f"            c{t} = tables[{t}, k, 0]" for t in shared),
        "            live = 0",
        "            for i in range(n):",
        "                on = D[i] < 0",
        f"                {_targets('g', dim)} = grad_({coords}, params)",
    ]
    for j in J:
        buffers = [f"S{b}_{j}[i]" if b in kept else "0.0" for b in range(nbuf)]
        targets = [f"n{j}", *(f"b{b}_{j}" for b in range(nbuf))]
        body.append(f"                {', '.join(targets)}{',' if len(targets) == 1 else ''} = "
                    f"update_({', '.join([f'X{j}[i]', f'g{j}', *buffers, *extra])})")
    body += [f"                escaped = not ({norm('n')} <= r2)",
             *(f"                X{j}[i] = n{j} if on else X{j}[i]" for j in J),
             *(f"                S{b}_{j}[i] = b{b}_{j} if on else S{b}_{j}[i]" for b in kept for j in J),
             "                D[i] = k if (on and escaped) else D[i]",
             "                live += 1 if (on and not escaped) else 0",
             "            if kept:",
             f"                keep_(k, slot, lo, ({_targets('X', dim)}), D, out, fout, losses, vparams)",
             *([f"            pend = track_(k, {track_args})"] if tracking else []),
             "        if record:  # NaN for the rest of the record when every member stopped early",
             "            out[written + 1:, lo:hi, :] = np.nan",
             "            if losses:",
             "                fout[written + 1:, lo:hi] = np.nan",
             "        for i in range(n):",
             "            diverged_at[lo + i] = D[i]",
             *([
                 "            t_reached[lo + i] = R[i]",
                 "            t_rate[lo + i] = RT[i]",
                 "            t_envelopes[0, lo + i] = V0[i]",
                 "            t_envelopes[1, lo + i] = V1[i]",
                 "            t_final[lo + i] = FD[i]",
                 *(f"            t_low[lo + i, {j}] = LO{j}[i]" for j in J),
                 *(f"            t_high[lo + i, {j}] = HI{j}[i]" for j in J)] if tracking else []),
             "            if D[i] < 0:",
             *(f"                last[lo + i, {j}] = X{j}[i]" for j in J)]
    return "\n".join(body) + "\n"


def _argument(arg: tuple) -> str:
    """The text of one update argument of member i (see :func:`_layout`)."""
    kind = arg[0]
    if kind == "hyper":
        return f"H{int(arg[1])}[i]"
    if kind == "uniform":
        return f"U{int(arg[1])}"
    if kind == "table":
        return f"C{int(arg[1])}[i]" if arg[2] else f"c{int(arg[1])}"
    if kind == "flag":
        return "True" if arg[1] else "False"
    return {"zero": "0.0", "first": "first", "k": "k"}[kind]


def _keep_source(dim: int) -> str:
    """A recorded step, in its own pass so that the update loop has no stores it cannot vectorize."""
    J = range(dim)
    return "\n".join([
        "def keep_(k, slot, lo, X, D, out, fout, losses, vparams):",
        "    for i in range(D.shape[0]):",
        "        on = D[i] < 0 or D[i] == k  # running before step k: the escaping value is kept at its step",
        *(f"        out[slot, lo + i, {j}] = X[{j}][i] if on else np.nan" for j in J),
        "        if losses:",
        f"            fout[slot, lo + i] = value_({', '.join(f'X[{j}][i]' for j in J)}, vparams) if on else np.nan",
    ]) + "\n"


def _track_source(dim: int, criterion: str, measure: str, rate: bool, verdict: bool) -> str:
    """The pass that measures a block's members after step k, for a
    :class:`~simulate.solvers.tracking.Tracking` plan of this layout; returns whether some running
    member has still not met the criterion (then the next step tests it again).

    As the numpy visitors measure, for every member that is still running: the criterion; the
    measure ``q``, the squared distance to the nearest minimum or the squared ``|∇f|``, summed in
    numpy's order; envelopes, the largest q over a window; a closed window's rate
    ``(D_b/D_a)^e``, written as numpy's power writes the exponents 1 and ½. A member that stopped
    is measured too (its point may be non-finite, and its measures wrong): the caller masks them,
    so plain comparisons stand in for ``np.fmax``. One loop over the members measures, the step's
    windows then update their envelopes, each in a loop over the members."""
    J = range(dim)
    xs = ", ".join(f"X[{j}][i]" for j in J)
    if measure == "distance":
        q = [f"        q = {_sum_text([f'(X[{j}][i] - minima[0, {j}]) * (X[{j}][i] - minima[0, {j}])' for j in J])}",
             "        for m in range(1, minima.shape[0]):",
             f"            t = {_sum_text([f'(X[{j}][i] - minima[m, {j}]) * (X[{j}][i] - minima[m, {j}])' for j in J])}",
             "            q = t if t < q else q"]
    else:
        q = [f"        {_targets('c', dim)} = grad_({xs}, params)",
             f"        q = {_sum_text([f'c{j} * c{j}' for j in J])}"]
    body = [
        "def track_(k, X, D, R, RT, E, Q, V0, V1, FD, LO, HI, pend, need, act_ptr, act_slot, act_start, fin_ptr,",
        "           fin_a, fin_b, fin_e, minima, consts, params, vparams):",
        "    n = D.shape[0]",
        "    flags = need[k]",
        "    still = False",
    ]
    if criterion:
        test = (f"value_({xs}, vparams) - consts[0] <= consts[1]" if criterion == "value" else
                f"np.sqrt({_sum_text([f'c{j} * c{j}' for j in J])}) <= consts[1]")
        body += ["    if pend:",
                 "        for i in range(n):",
                 "            if D[i] < 0 and R[i] < 0:",
                 *([f"                {_targets('c', dim)} = grad_({xs}, params)"] if criterion == "grad" else []),
                 f"                if {test}:",
                 "                    R[i] = k",
                 "                else:",
                 "                    still = True"]
    body += ["    if flags == 0:",
             "        return still",
             "    for i in range(n):",
             *q,
             "        Q[i] = q"]
    if verdict:  # each a loop of its own: the compiler vectorizes them
        body += ["    if flags & 2:",
                 "        for i in range(n):",
                 "            V0[i] = V0[i] if V0[i] >= Q[i] else Q[i]",
                 "    if flags & 4:",
                 "        for i in range(n):",
                 "            V1[i] = V1[i] if V1[i] >= Q[i] else Q[i]",
                 "    if flags & 8:",
                 "        for i in range(n):",
                 "            FD[i] = Q[i]",
                 "    if flags & 16:",  # NaN at the first step of the last half: the comparison fails, the point is taken
                 *(line for j in J for line in (
                     "        for i in range(n):",
                     f"            LO[{j}][i] = LO[{j}][i] if LO[{j}][i] <= X[{j}][i] else X[{j}][i]",
                     f"            HI[{j}][i] = HI[{j}][i] if HI[{j}][i] >= X[{j}][i] else X[{j}][i]"))]
    if rate:
        body += ["    if flags & 1:",
                 "        for e in range(act_ptr[k], act_ptr[k + 1]):",
                 "            s = act_slot[e]",
                 "            if act_start[e]:",
                 "                for i in range(n):",
                 "                    E[s, i] = Q[i]",
                 "            else:",
                 "                for i in range(n):",
                 "                    E[s, i] = E[s, i] if E[s, i] >= Q[i] else Q[i]",
                 "        for w in range(fin_ptr[k], fin_ptr[k + 1]):",
                 "            a = fin_a[w]",
                 "            b = fin_b[w]",
                 "            e = fin_e[w]",
                 "            for i in range(n):",
                 "                da = np.sqrt(E[a, i])",
                 "                db = np.sqrt(E[b, i])",
                 "                if db > consts[2] and da > 0 and np.isfinite(da) and np.isfinite(db):",
                 "                    r = db / da",
                 "                    RT[i] = r if e == 1.0 else (np.sqrt(r) if e == 0.5 else r ** e)"]
    body.append("    return still")
    return "\n".join(body) + "\n"


def _sum_text(terms: list) -> str:
    """The sum of ``terms`` in the order numpy's ``add.reduce`` takes along a contiguous axis
    (pairwise: in sequence below 8 terms, else 8 running sums combined as a tree, then the rest;
    halves above 128), so that a compiled norm has the bits of ``np.linalg.norm``."""
    n = len(terms)
    if n < 8:
        return "(" + " + ".join(terms) + ")"
    if n <= 128:
        r = [[terms[j]] for j in range(8)]
        i = 8
        while i < n - n % 8:
            for j in range(8):
                r[j].append(terms[i + j])
            i += 8
        acc = ["(" + " + ".join(x) + ")" for x in r]
        text = f"((({acc[0]} + {acc[1]}) + ({acc[2]} + {acc[3]})) + (({acc[4]} + {acc[5]}) + ({acc[6]} + {acc[7]})))"
        for t in terms[i:]:
            text = f"({text} + {t})"
        return text
    half = n // 2
    half -= half % 8
    return f"({_sum_text(terms[:half])} + {_sum_text(terms[half:])})"


def _targets(prefix: str, dim: int) -> str:
    """``p0, p1, …`` (``p0,`` for one coordinate)."""
    return ", ".join(f"{prefix}{j}" for j in range(dim)) + ("," if dim == 1 else "")


def compile_variant(template, names: dict, key: tuple):
    """``template`` compiled (GIL released, numpy's error model) with ``names`` as its globals, which
    numba compiles as constants, and kept in numba's disk cache under a name made from ``key``.

    Globals rather than a closure: a closure would hold dispatchers, whose pickled form differs in
    every process, and the cache would never match. The cache file is named after the function,
    so each variant gets its own name: the key (functions by their qualified names, generated
    text, flags) and the sources of the modules of the functions it inlines (numba notices when
    the template's own file changes, not when the update rules it inlines do), always including
    :mod:`simulate.optimizers.kernels` and :mod:`simulate.landscapes.pointwise`."""
    from ..landscapes import pointwise
    from ..optimizers import kernels

    available()
    files = {kernels.__file__, pointwise.__file__}
    files.update(getattr(sys.modules.get(k.__module__), "__file__", None) or "" for k in key if callable(k))
    source = b""
    for path in sorted(f for f in files if f):
        with open(path, "rb") as fh:
            source += fh.read()
    text = repr(tuple(f"{k.__module__}.{k.__qualname__}" if callable(k) else k for k in key))
    loop = _variant(template, names, hashlib.sha256(text.encode() + source).hexdigest()[:16])
    try:
        return _numba.njit(nogil=True, error_model="numpy", cache=True)(loop)
    except RuntimeError:  # pragma: no cover - nowhere to write a cache (read-only install, no home)
        return _numba.njit(nogil=True, error_model="numpy")(loop)


def _variant(fn, names: dict, tag: str = ""):
    """``fn`` with ``names`` as its globals, named ``fn_tag``."""
    out = types.FunctionType(fn.__code__, names, fn.__name__, fn.__defaults__, fn.__closure__)
    out.__qualname__ = f"{fn.__qualname__}_{tag}" if tag else fn.__qualname__
    out.__module__ = fn.__module__
    return out
