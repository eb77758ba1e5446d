"""Which engine runs a discrete run: the numpy loop or the compiled one (:mod:`simulate.solvers.engine`).

``engine="auto"`` weighs what compiling costs against the work: small runs (``simulate plot``)
never import numba; large ones compile, or load a loop numba's disk cache already holds.
``"numpy"`` and ``"compiled"`` force one (``"compiled"`` says why it cannot run a pair).
"""

from __future__ import annotations

from .engine import COVERAGE, MAX_TABLE, available, driver_for, not_covered

__all__ = ["ENGINES", "COMPILE_THRESHOLD", "CACHED_THRESHOLD", "use_compiled"]

ENGINES = ("auto", "numpy", "compiled")
#: Member-steps (batch size × steps) from which "auto" compiles: the numpy loop takes a few seconds
#: there, which is what compiling costs.
COMPILE_THRESHOLD = 20_000_000
#: ... and from which it runs a loop already compiled in numba's disk cache (the numpy loop takes
#: about half a second there; importing numba and loading the loop, a few tenths).
CACHED_THRESHOLD = 5_000_000


def use_compiled(engine: str, opt, landscape, members: int, steps: int) -> bool:
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
    return engine == "compiled" or work >= COMPILE_THRESHOLD or _in_disk_cache(driver_for(opt, landscape))


def _in_disk_cache(driver) -> bool:
    """Whether numba's disk cache holds this loop, compiled from the current source."""
    try:
        return bool(driver._cache._cache_file._load_index())  # numba's own check (source stamp included)
    except Exception:  # pragma: no cover - numba's private cache API moved: then compile only large runs
        return False
