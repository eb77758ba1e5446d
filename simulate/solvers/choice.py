"""Which engine runs a discrete run: the numpy loop or the compiled one (:mod:`simulate.solvers.engine`).

``engine="auto"`` weighs what compiling costs against the work: small runs (``simulate plot``)
never import numba; large ones compile, or load a loop numba's disk cache already holds, and a
loop already compiled in this process runs any run large enough to gain from it. A large run that
takes the numpy loop because its loop is not cached starts compiling that loop in a separate
process (:func:`simulate.solvers.warmup.compile_in_background`) for the next run; ``simulate warmup``
fills the cache ahead. ``"numpy"`` and ``"compiled"`` force one (``"compiled"`` says why it cannot
run a pair).
"""

from __future__ import annotations

from . import engine as _engine
from .engine import COVERAGE, MAX_TABLE, available, driver_for, not_covered

__all__ = ["ENGINES", "COMPILE_THRESHOLD", "CACHED_THRESHOLD", "LOADED_THRESHOLD", "WARM_THRESHOLD", "use_compiled"]

ENGINES = ("auto", "numpy", "compiled")
#: Member-steps (batch size × steps) from which "auto" compiles: the numpy loop takes a few seconds
#: there, which is what compiling costs.
COMPILE_THRESHOLD = 20_000_000
#: ... and from which it runs a loop already compiled in numba's disk cache (the numpy loop takes
#: about half a second there; importing numba and loading the loop, a few tenths).
CACHED_THRESHOLD = 5_000_000
#: ... and from which it loads a cached loop once numba is imported in this process (loading one
#: then takes a few hundredths of a second; the numpy loop runs about 10 million member-steps a second).
LOADED_THRESHOLD = 1_000_000
#: ... and from which it runs a loop this process has compiled or loaded already (the compiled run's
#: own overhead, threads and arrays, is a few hundred microseconds). Below it numba is never imported.
WARM_THRESHOLD = 100_000
#: Member-steps of numpy loops of one variant (in this process) from which its loop is compiled in
#: the background when numba's disk cache does not hold it (a tenth of a second of numpy loop).
BACKGROUND_THRESHOLD = 1_000_000

#: Member-steps the numpy loop has run per variant in this process: a process that repeats mid-sized
#: runs of one variant (a script of sweeps) is treated as one large run, so it loads the cached loop.
_numpy_work: dict = {}
#: Variants whose background compile this process has asked for (once each).
_asked: set = set()


def use_compiled(engine: str, opt, landscape, members: int, steps: int, track=None) -> bool:
    """Decide, for ``engine`` in :data:`ENGINES`, whether a run goes to the compiled engine (the
    loop that measures the :class:`~simulate.solvers.tracking.Tracking` plan ``track``, if given).

    ``auto`` counts the run's member-steps together with those the numpy loop has already run for
    the same variant in this process, and runs the compiled loop from :data:`WARM_THRESHOLD` when this
    process has it already (compiled or loaded by an earlier run), from :data:`LOADED_THRESHOLD` when numba's
    disk cache holds it and numba is imported, from :data:`CACHED_THRESHOLD` when it is cached
    (numba not imported yet), and compiles from :data:`COMPILE_THRESHOLD`, where compiling pays for
    itself even the first time; below :data:`WARM_THRESHOLD` numba is not even imported. From
    :data:`BACKGROUND_THRESHOLD` on, a variant that takes the numpy loop because its loop is not cached
    is compiled in a separate process for the next run, once per process
    (:func:`simulate.solvers.warmup.compile_in_background`; ``SIMULATE_BACKGROUND_COMPILE=0`` turns it off)."""
    if engine not in ENGINES:
        from .._names import suggest
        raise ValueError(suggest("engine", engine, ENGINES))
    work = members * steps
    if engine == "numpy" or (engine == "auto" and work < WARM_THRESHOLD):
        return False
    why = not_covered(opt, landscape)
    if why is None and engine == "auto" and not _engine._numba and _engine._numba is not None:
        why = "numba is not installed"  # pragma: no cover - looked for once already
    if why is None and opt.kernel().per_member_tables and (steps + 1) * members > MAX_TABLE:
        if engine == "compiled":
            raise ValueError(f"engine 'compiled': per-member tables (such as Adam's bias corrections with per-member "
                             f"betas) over {steps} steps need more than {MAX_TABLE:.0e} entries; use engine 'numpy'")
        return False
    if why is not None:
        if engine == "compiled":
            prefix = "" if why.startswith("numba") else f"{opt.display_name} on {landscape.name} is not covered: "
            raise ValueError(f"engine 'compiled': {prefix}{why}. It covers {COVERAGE}")
        return False
    from . import warmup

    if engine == "compiled":
        if not available():
            raise ValueError(f"engine 'compiled': numba is not installed. It covers {COVERAGE}")  # pragma: no cover
        warmup.mark_cached(opt, landscape, track)  # the run compiles it into the cache
        return True
    numba_loaded = bool(_engine._numba)  # imported by an earlier compiled run: no import to pay
    key = _variant(opt, landscape, track)
    seen = work + _numpy_work.get(key, 0)
    if numba_loaded and driver_for(opt, landscape, track).signatures:  # compiled or loaded in this process
        return True
    if seen >= COMPILE_THRESHOLD and available():
        warmup.mark_cached(opt, landscape, track)
        return True

    # numba is imported (a few tenths of a second) to look in its cache only where a marker says
    # the loop went there: a fresh process with an empty cache goes straight to the numpy loop
    if seen >= (LOADED_THRESHOLD if numba_loaded else CACHED_THRESHOLD) and (numba_loaded or warmup.maybe_cached(
            opt, landscape, track)) and available():
        if _in_disk_cache(driver_for(opt, landscape, track)):
            warmup.mark_cached(opt, landscape, track)
            return True
    if seen >= BACKGROUND_THRESHOLD and key not in _asked:
        _asked.add(key)
        warmup.compile_in_background(opt, landscape, track)
    _numpy_work[key] = seen
    return False


def _variant(opt, landscape, track=None) -> tuple:
    """What tells one compiled loop from another (the engine's key, without importing numba)."""
    kernel = opt.kernel()
    return (kernel.update, landscape.pointwise_grad[0], landscape.pointwise_value[0],
            _engine._layout(kernel, landscape.dim)[:4], None if track is None else track.layout)


def _in_disk_cache(driver) -> bool:
    """Whether numba's disk cache holds this loop, compiled from the current source."""
    try:
        return bool(driver._cache._cache_file._load_index())  # numba's own check (source stamp included)
    except Exception:  # pragma: no cover - numba's private cache API moved: then compile only large runs
        return False
