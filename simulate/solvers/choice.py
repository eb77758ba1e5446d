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
#: own overhead, threads and arrays, is a few hundred microseconds).
WARM_THRESHOLD = 100_000


def use_compiled(engine: str, opt, landscape, members: int, steps: int) -> bool:
    """Decide, for ``engine`` in :data:`ENGINES`, whether a run goes to the compiled engine.

    ``auto`` runs the compiled loop from :data:`WARM_THRESHOLD` member-steps when this process has
    it already (compiled or loaded by an earlier run), from :data:`LOADED_THRESHOLD` when numba's disk cache
    holds it and numba is imported, from :data:`CACHED_THRESHOLD` when it is cached (numba not
    imported yet), and compiles from :data:`COMPILE_THRESHOLD`, where compiling pays for itself
    even the first time; below :data:`WARM_THRESHOLD` numba is not even imported. A run from
    :data:`CACHED_THRESHOLD` that takes the numpy loop because the loop is not cached compiles it
    in the background for the next run (:func:`simulate.solvers.warmup.compile_in_background`)."""
    if engine not in ENGINES:
        from .._names import suggest
        raise ValueError(suggest("engine", engine, ENGINES))
    work = members * steps
    numba_loaded = bool(_engine._numba)  # imported by an earlier compiled run: no import to pay
    if engine == "numpy" or (engine == "auto" and work < (WARM_THRESHOLD if numba_loaded else CACHED_THRESHOLD)):
        return False
    why = not_covered(opt, landscape)
    if why is None and not available():
        why = "numba is not installed"  # pragma: no cover - numba is a dependency
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
    if engine == "compiled" or work >= COMPILE_THRESHOLD:
        return True
    driver = driver_for(opt, landscape)
    if driver.signatures:  # compiled or loaded in this process
        return True
    if work < (LOADED_THRESHOLD if numba_loaded else CACHED_THRESHOLD):
        return False
    if _in_disk_cache(driver):
        return True
    if work >= CACHED_THRESHOLD:  # the next run of this variant loads it instead of taking the numpy loop
        from .warmup import compile_in_background

        compile_in_background(opt, landscape)
    return False


def _in_disk_cache(driver) -> bool:
    """Whether numba's disk cache holds this loop, compiled from the current source."""
    try:
        return bool(driver._cache._cache_file._load_index())  # numba's own check (source stamp included)
    except Exception:  # pragma: no cover - numba's private cache API moved: then compile only large runs
        return False
