"""A compiled engine for large batches: the same update rules, run by numba on both cores.

:func:`compiled_run` takes one optimizer (SGD family, Adam, AdamW) on a 2-D landscape whose gradient
is written in :mod:`simulate.landscapes.pointwise`, and runs every batch member through all its steps in a
compiled loop: the batch is cut into blocks of members, dealt round-robin to one thread per core
(the loop releases the GIL), and a block whose members have all stopped costs nothing more. The
arithmetic is the numpy path's own functions, compiled: results are the same bits (tested). Divergence is handled as in
:func:`simulate.discrete.advance`: a member that leaves the escape ball or becomes non-finite
stops at that step, which is recorded.

Compiling takes a few seconds per variant (optimizer family, landscape, which terms are on) in a
process, so the engine is
used only where the work is large (:data:`COMPILE_THRESHOLD` member-steps) or when asked for
(``engine="compiled"``); small runs such as ``simulate plot`` never wait for it. Without numba,
or for an optimizer or landscape it does not cover, the numpy loop runs instead.
"""

from __future__ import annotations

import hashlib
import os
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..optimizers.kernels import adam_update, lerp, select, sgd_update
from ..optimizers import SGD, Adam, Optimizer

__all__ = ["available", "supports", "compiled_run", "COMPILE_THRESHOLD", "CACHED_THRESHOLD", "ENGINES", "use_compiled"]

#: Member-steps (batch size × steps) from which "auto" compiles: the numpy loop takes a few seconds
#: there, which is what compiling costs.
COMPILE_THRESHOLD = 20_000_000
#: ... and from which it runs a loop already compiled in numba's disk cache (the numpy loop takes
#: about half a second there; importing numba and loading the loop, a few tenths).
CACHED_THRESHOLD = 5_000_000
ENGINES = ("auto", "numpy", "compiled")
#: Bias-correction tables of Adam with per-member betas are (steps + 1) × batch; beyond this many
#: entries "auto" runs the numpy loop instead (and "compiled" says why it cannot).
MAX_TABLE = 50_000_000

#: Bounds of the block of members that one core runs through all its steps (see _block_size).
MIN_BLOCK, MAX_BLOCK = 64, 1024

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


def supports(opt: Optimizer, landscape) -> bool:
    """Whether the compiled engine covers this optimizer on this landscape (constant lr only)."""
    return (type(opt) is SGD or isinstance(opt, Adam)) and landscape.pointwise_grad is not None \
        and landscape.dim == 2 and opt.schedule is None and not opt.transformed


def use_compiled(engine: str, opt: Optimizer, landscape, members: int, steps: int) -> bool:
    """Decide, for ``engine`` in :data:`ENGINES`, whether a run goes to the compiled engine.

    ``auto`` compiles from :data:`COMPILE_THRESHOLD` member-steps, where compiling pays for itself
    even the first time; from :data:`CACHED_THRESHOLD` on if this variant's loop is already in
    numba's disk cache (loading it takes milliseconds); below that numba is not even imported."""
    if engine not in ENGINES:
        from .._names import suggest
        raise ValueError(suggest("engine", engine, ENGINES))
    work = members * steps
    if engine == "numpy" or (engine == "auto" and work < CACHED_THRESHOLD):
        return False
    ok = supports(opt, landscape) and available()
    per_member_betas = isinstance(opt, Adam) and any(np.ndim(b) for b in opt.betas)
    if ok and per_member_betas and (steps + 1) * members > MAX_TABLE:
        if engine == "compiled":
            raise ValueError(f"engine 'compiled': per-member betas over {steps} steps need a bias-correction table "
                             f"of more than {MAX_TABLE:.0e} entries; use engine 'numpy'")
        return False
    if engine == "compiled" and not ok:
        why = "numba is not installed" if not available() else \
            f"{opt.display_name} on {landscape.name} is not covered (SGD family and Adam on 2-D landscapes with a pointwise gradient, without a schedule or gradient transforms)"
        raise ValueError(f"engine 'compiled': {why}")
    if not ok:
        return False
    return engine == "compiled" or work >= COMPILE_THRESHOLD or _in_disk_cache(_driver_for(opt, landscape))


def _in_disk_cache(driver) -> bool:
    """Whether numba's disk cache holds this loop, compiled from the current source."""
    try:
        return bool(driver._cache._cache_file._load_index())  # numba's own check (source stamp included)
    except Exception:  # pragma: no cover - numba's private cache API moved: then compile only large runs
        return False


def _driver_for(opt: Optimizer, landscape):
    """The compiled loop for this optimizer's variant on this landscape (compiled on first call)."""
    grad, value = landscape.pointwise_grad[0], landscape.pointwise_value[0]
    if isinstance(opt, Adam):
        return _driver("adam", grad, value, decayed=bool(np.any(opt.weight_decay != 0)),
                       decoupled=bool(opt._decoupled), amsgrad=bool(opt.amsgrad))
    return _driver("sgd", grad, value, decayed=bool(np.any(opt.weight_decay != 0)),
                   damped=bool(np.any(opt.dampening != 0)), nesterov=bool(opt.nesterov),
                   buffered=bool(np.any(opt.momentum != 0)))


def compiled_run(opt: Optimizer, landscape, x0: np.ndarray, steps: int, radius: float, record_every: int):
    """Run the batch; returns ``(recorded, losses, last, diverged_at)``.

    ``recorded``: ``(len(kept), *batch, 2)`` positions at the steps 0, m, 2m, …, and the last (NaN
    after a member stopped; the escaping value is kept at its own step when recorded), or None
    when ``record_every`` is 0; ``losses``: f at those samples (the landscape's pointwise value, the
    same bits as ``landscape.value``), or None. ``last``: each member's position after the last step (NaN where it
    diverged). ``diverged_at``: the step at which a member stopped, −1 if none.
    """
    batch = np.broadcast_shapes(x0.shape[:-1], opt.batch_shape)
    B = int(np.prod(batch))
    # Fresh writable copies, always: a read-only array is another type to numba, which would
    # compile (and cache) the loop a second time for it.
    x = np.array(np.broadcast_to(x0, batch + (2,)).reshape(B, 2), dtype=np.float64, order="C")
    params, vparams = landscape.pointwise_grad[1], landscape.pointwise_value[1]
    # Not filled here: the compiled loop writes every recorded slot (NaN once a member stopped),
    # so the pages are first touched there, in parallel.
    out = np.empty((len(recorded_steps(steps, record_every)) if record_every else 0, B, 2))
    fout = np.empty(out.shape[:2])  # the losses at the recorded samples, by the same pointwise value
    last = np.full((B, 2), np.nan)
    diverged_at = np.full(B, -1, dtype=np.int64)

    def flat(h):
        return np.array(np.broadcast_to(np.asarray(h, np.float64), batch).reshape(B))

    every = max(int(record_every), 1)
    threads = max(1, min(cores(), -(-B // MIN_BLOCK)))  # an empty batch: one share of no blocks
    size = _block_size(B, threads)
    r2 = float(radius) ** 2
    driver = _driver_for(opt, landscape)
    if isinstance(opt, Adam):
        c1, c2 = _corrections(opt, steps, batch, B)
        args = (flat(opt.lr), flat(opt.betas[0]), flat(opt.betas[1]), flat(opt.eps), flat(opt.weight_decay), c1, c2)
    else:
        args = (flat(opt.lr), flat(opt.momentum), flat(opt.dampening), flat(opt.weight_decay))
    on_cores(driver, threads, size, x, *args, params, vparams, steps, r2, every, bool(record_every), out, fout, last,
              diverged_at)
    if not record_every:
        return None, None, last.reshape(batch + (2,)), diverged_at.reshape(batch)
    return (out.reshape((out.shape[0],) + batch + (2,)), fout.reshape((out.shape[0],) + batch),
            last.reshape(batch + (2,)), diverged_at.reshape(batch))


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


def _corrections(opt, steps: int, batch, B: int):
    """Adam's bias corrections per step, by the numpy path's own function (``opt._corrections``,
    elementwise over an array of steps): ``(steps + 1, 1)`` for scalar betas, ``(steps + 1, B)``
    for per-member ones. Row 0 is unused."""
    per_member = any(np.ndim(b) for b in opt.betas)
    k = np.arange(steps + 1).reshape((-1,) + (1,) * len(batch))
    c1, c2 = (np.broadcast_to(c, (steps + 1,) + (batch if per_member else (1,) * len(batch))).reshape(steps + 1, -1)
              for c in opt._corrections(k))
    c1, c2 = np.array(c1), np.array(c2)
    c1[0] = c2[0] = 1.0
    return c1, c2


def _driver(kind: str, grad, value, decayed=True, damped=True, nesterov=False, buffered=True, decoupled=False,
            amsgrad=False):
    """The compiled loop of one optimizer family on one landscape (built once per process, kept in
    numba's disk cache across processes).

    The flags are compile-time constants. ``decayed``/``damped``: whether some member has weight
    decay/dampening; where none has, the loop is compiled with the literal 0.0 in its place and
    the compiler drops the terms it would switch off (the same bits: the update's ``select``
    discards them anyway). ``nesterov``, ``buffered`` (some member has momentum), ``decoupled``
    (AdamW), ``amsgrad``: likewise, and a loop without such switches is one the compiler vectorizes.
    Together they make heavy ball about 1.8× as fast; each variant compiles (2–7 s) on first use.
    """
    key = (kind, grad, value, decayed, damped, nesterov, buffered, decoupled, amsgrad)
    if key in _DRIVERS:
        return _DRIVERS[key]
    available()
    nb = _numba
    # The loops below read these as globals, which numba compiles as constants; a closure would
    # hold dispatchers, whose pickled form differs in every process and defeats the disk cache.
    names = dict(globals(), grad_=nb.njit(inline="always")(grad), value_=nb.njit(inline="always")(value),
                 update_=nb.njit(inline="always")(sgd_update if kind == "sgd" else adam_update), DECAYED=decayed,
                 DAMPED=damped, NESTEROV=nesterov, BUFFERED=buffered, DECOUPLED=decoupled, AMSGRAD=amsgrad)
    names.update(start_=nb.njit(inline="always")(_start), finish_=nb.njit(inline="always")(_finish))
    names["keep_"] = nb.njit(inline="always")(_variant(_keep, names))
    _DRIVERS[key] = run = compile_variant(_sgd_loop if kind == "sgd" else _adam_loop, names, key)
    return run


def compile_variant(template, names: dict, key: tuple):
    """``template`` compiled (GIL released, numpy's error model) with ``names`` as its globals, which
    numba compiles as constants, and kept in numba's disk cache under a name made from ``key``.

    Globals rather than a closure: a closure would hold dispatchers, whose pickled form differs in
    every process, and the cache would never match. The cache file is named after the function,
    so each variant gets its own name: the key (functions by their qualified names, flags) and
    the sources of :mod:`simulate.optimizers.kernels` and :mod:`simulate.landscapes.pointwise` (numba notices when the template's own file changes,
    not when the update rules it inlines do)."""
    from ..landscapes import pointwise  # noqa: F401 (the module, for its source)
    from ..optimizers import kernels

    available()
    source = b""
    for module in (kernels, pointwise):
        with open(module.__file__, "rb") as fh:
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


# -- the compiled loops (templates: ``_driver`` binds the names ending in _ and the flags) ---------
# Placeholders only: each variant gets its own values through _variant.
grad_ = value_ = update_ = keep_ = start_ = finish_ = None
DECAYED = DAMPED = NESTEROV = BUFFERED = DECOUPLED = AMSGRAD = None


def _start(U, V, r2, D):
    """A block's start: members outside the ball stop at step 0; returns how many run."""
    live = 0
    for i in range(U.shape[0]):
        if not (U[i] * U[i] + V[i] * V[i] <= r2):
            D[i] = 0
        else:
            live += 1
    return live


def _finish(U, V, D, lo, hi, written, record, out, fout, last, diverged_at):
    """A block's end: its members' stopping steps and last points (and NaN for the rest of the
    record when every member stopped early)."""
    if record:
        out[written + 1:, lo:hi, :] = np.nan
        fout[written + 1:, lo:hi] = np.nan
    for i in range(U.shape[0]):
        diverged_at[lo + i] = D[i]
        if D[i] < 0:
            last[lo + i, 0], last[lo + i, 1] = U[i], V[i]


def _keep(U, V, D, k, lo, slot, out, fout, vparams):
    """A recorded step, in its own pass so that the update loop has no stores it cannot vectorize."""
    for i in range(U.shape[0]):
        on = D[i] < 0 or D[i] == k  # running before step k: the escaping value is kept at its step
        out[slot, lo + i, 0] = U[i] if on else np.nan
        out[slot, lo + i, 1] = V[i] if on else np.nan
        fout[slot, lo + i] = value_(U[i], V[i], vparams) if on else np.nan


# Step-major inside each block, and branch-free: every member computes every step and a stopped
# one just keeps its old state, so the compiler vectorizes the loop over members (several members
# per SIMD instruction); the order of each member's operations, and so its bits, stay the numpy
# path's.
def _sgd_loop(share, shares, size, x, lr, mu, damp, wd, params, vparams, steps, r2, every, record, out, fout, last,
              diverged_at):
    B = x.shape[0]
    for blk in range(share, (B + size - 1) // size, shares):  # dealt round-robin to the cores
        lo, hi = blk * size, min(B, (blk + 1) * size)
        n = max(hi - lo, 0)
        U, V = x[lo:hi, 0].copy(), x[lo:hi, 1].copy()
        BU, BV = np.zeros(n), np.zeros(n)
        L, M, T, W = lr[lo:hi].copy(), mu[lo:hi].copy(), damp[lo:hi].copy(), wd[lo:hi].copy()
        D = np.full(n, -1)
        live = start_(U, V, r2, D)
        if record:
            keep_(U, V, D, 0, lo, 0, out, fout, vparams)
        written = 0  # the last recorded slot
        for k in range(1, steps + 1):
            if live == 0:
                break
            first = k == 1
            kept = record and (k % every == 0 or k == steps)
            slot = (k + every - 1) // every
            if kept:
                written = slot
            live = 0
            for i in range(n):
                on = D[i] < 0
                gu, gv = grad_(U[i], V[i], params)
                t = T[i] if DAMPED else 0.0
                w = W[i] if DECAYED else 0.0
                u, bu = update_(U[i], gu, BU[i], first, L[i], M[i], t, w, NESTEROV, BUFFERED)
                v, bv = update_(V[i], gv, BV[i], first, L[i], M[i], t, w, NESTEROV, BUFFERED)
                escaped = not (u * u + v * v <= r2)
                U[i] = u if on else U[i]
                V[i] = v if on else V[i]
                BU[i] = bu if on else BU[i]
                BV[i] = bv if on else BV[i]
                D[i] = k if (on and escaped) else D[i]
                live += 1 if (on and not escaped) else 0
            if kept:
                keep_(U, V, D, k, lo, slot, out, fout, vparams)
        finish_(U, V, D, lo, hi, written, record, out, fout, last, diverged_at)


def _adam_loop(share, shares, size, x, lr, b1, b2, eps, wd, c1, c2, params, vparams, steps, r2, every, record, out,
               fout, last, diverged_at):
    B = x.shape[0]
    wide = c1.shape[1] > 1
    for blk in range(share, (B + size - 1) // size, shares):
        lo, hi = blk * size, min(B, (blk + 1) * size)
        n = max(hi - lo, 0)
        U, V = x[lo:hi, 0].copy(), x[lo:hi, 1].copy()
        MU, MV, VU, VV, WU, WV = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        L, B1, B2, E, W = lr[lo:hi].copy(), b1[lo:hi].copy(), b2[lo:hi].copy(), eps[lo:hi].copy(), wd[lo:hi].copy()
        C1, C2 = np.empty(n), np.empty(n)  # this step's bias corrections, one per member
        D = np.full(n, -1)
        live = start_(U, V, r2, D)
        if record:
            keep_(U, V, D, 0, lo, 0, out, fout, vparams)
        written = 0
        for k in range(1, steps + 1):
            if live == 0:
                break
            kept = record and (k % every == 0 or k == steps)
            slot = (k + every - 1) // every
            if kept:
                written = slot
            if wide:
                C1[:], C2[:] = c1[k, lo:hi], c2[k, lo:hi]
            else:
                C1[:], C2[:] = c1[k, 0], c2[k, 0]
            live = 0
            for i in range(n):
                on = D[i] < 0
                gu, gv = grad_(U[i], V[i], params)
                w = W[i] if DECAYED else 0.0
                u, mu_, vu, wu = update_(U[i], gu, MU[i], VU[i], WU[i], L[i], B1[i], B2[i], E[i], w, C1[i],
                                         C2[i], DECOUPLED, AMSGRAD)
                v, mv, vv, wv = update_(V[i], gv, MV[i], VV[i], WV[i], L[i], B1[i], B2[i], E[i], w, C1[i],
                                        C2[i], DECOUPLED, AMSGRAD)
                escaped = not (u * u + v * v <= r2)
                U[i] = u if on else U[i]
                V[i] = v if on else V[i]
                MU[i] = mu_ if on else MU[i]
                MV[i] = mv if on else MV[i]
                VU[i] = vu if on else VU[i]
                VV[i] = vv if on else VV[i]
                WU[i] = wu if on else WU[i]
                WV[i] = wv if on else WV[i]
                D[i] = k if (on and escaped) else D[i]
                live += 1 if (on and not escaped) else 0
            if kept:
                keep_(U, V, D, k, lo, slot, out, fout, vparams)
        finish_(U, V, D, lo, hi, written, record, out, fout, last, diverged_at)
