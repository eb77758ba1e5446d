"""Compile the engine's loops before the runs that need them: ``simulate warmup`` and the background compile.

A loop of :mod:`simulate.solvers.engine` takes a few seconds to compile, once per variant
(optimizer kernel, landscape, dimension, flags), and is then kept in numba's disk cache, from which
a later process loads it in a fraction of a second. :func:`warmup` fills that cache for the
default variants (every optimizer the engine covers, by its registered name and default
hyperparameters, on every built-in landscape with a pointwise gradient, in its default dimension),
so that the ``auto`` rule (:mod:`simulate.solvers.choice`) finds them from the first run on.

:func:`compile_in_background` starts one compile of a single variant in a separate process when a
large run had to take the numpy loop because its loop was not cached: the run itself never waits
for it, and the next large run of that variant (in this process or another) loads it. At most one
such process runs at a time per cache (a lock file), and ``SIMULATE_BACKGROUND_COMPILE=0`` turns
it off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from .tracking import default_plan

__all__ = ["Compiled", "variants", "warmup", "cache_location", "compile_variant_of", "compile_in_background",
           "background_enabled", "background_lock", "maybe_cached", "mark_cached", "BACKGROUND_ENV"]

#: The environment variable that turns the background compile off (``0``, ``no``, ``false`` or ``off``).
BACKGROUND_ENV = "SIMULATE_BACKGROUND_COMPILE"
#: A background compile's lock older than this is taken to be left by a process that died.
STALE_LOCK_SECONDS = 600.0


@dataclass(frozen=True)
class Compiled:
    """One variant :func:`warmup` went through: ``loaded`` if numba's disk cache held it already."""

    optimizer: str
    landscape: str
    seconds: float
    loaded: bool

    def __str__(self) -> str:
        how = "already cached" if self.loaded else f"compiled in {self.seconds:.1f} s"
        return f"{self.optimizer} on {self.landscape}: {how}"


def variants(only=None) -> list[tuple[str, str]]:
    """``(optimizer, landscape)`` names of the default variants the engine covers, optimizers in
    registry order. ``only``: names to keep, each an optimizer, a landscape, or ``OPT@LANDSCAPE``
    (a ValueError, with suggestions, for a name that is none of them)."""
    from ..landscapes import LANDSCAPES, landscape
    from ..optimizers import OPTIMIZERS, optimizer
    from .engine import supports

    lands = [name for name in LANDSCAPES if _pointwise(landscape(name))]
    probe = landscape(lands[0]) if lands else None
    opts = [name for name in OPTIMIZERS if probe is not None and supports(optimizer(name), probe)]
    pairs = [(o, land) for o in opts for land in lands]
    if not only:
        return pairs
    from .._names import suggest

    keep = set()
    for item in only:
        o, _, land = str(item).partition("@")
        if land:
            if o not in opts:
                raise ValueError(suggest("optimizer the engine covers", o, opts))
            if land not in lands:
                raise ValueError(suggest("landscape with a pointwise gradient", land, lands))
            keep.add((o, land))
        elif o in opts:
            keep.update((o, name) for name in lands)
        elif o in lands:
            keep.update((name, o) for name in opts)
        else:
            raise ValueError(suggest("optimizer or landscape the engine covers", o, opts + lands))
    return [pair for pair in pairs if pair in keep]


def _pointwise(land) -> bool:
    return getattr(land, "pointwise_grad", None) is not None and getattr(land, "pointwise_value", None) is not None


def cache_location() -> str:
    """Where numba keeps the compiled loops: ``NUMBA_CACHE_DIR`` if set, else beside the engine's
    source (its ``__pycache__``) when that folder is writable, else numba's user cache folder."""
    folder = os.environ.get("NUMBA_CACHE_DIR")
    if folder:
        return os.path.abspath(folder)
    here = os.path.dirname(os.path.abspath(__file__))  # the loops are compiled under engine.py's name
    if os.access(here, os.W_OK):
        return os.path.join(here, "__pycache__")
    return os.path.join(os.path.expanduser("~"), ".cache", "numba")  # pragma: no cover - a read-only install


def _marker(opt, land, track=None) -> str:
    """The file that says this variant's loop went into the cache (see :func:`maybe_cached`): named
    by the engine's key of the variant (functions by qualified name, the kernel's layout) and the
    sources its loop is compiled from, so that an edit of any of them makes a new name."""
    from . import engine

    kernel = opt.kernel()
    functions = (kernel.update, land.pointwise_grad[0], land.pointwise_value[0])
    layout = (engine._layout(kernel, land.dim)[:4], None if track is None else track.layout)
    key = (functions, layout, cache_location())
    if key not in _markers:  # the sources are read once per variant and process
        _markers[key] = _marker_path(functions, layout)
    return _markers[key]


_markers: dict = {}


def _marker_path(functions, layout) -> str:
    from . import engine

    text = repr((tuple(f"{f.__module__}.{f.__qualname__}" for f in functions), layout))
    digest = hashlib.sha256(text.encode())
    from ..landscapes import pointwise
    from ..optimizers import kernels

    files = {engine.__file__, kernels.__file__, pointwise.__file__}
    files.update(getattr(sys.modules.get(f.__module__), "__file__", None) or "" for f in functions)
    for path in sorted(f for f in files if f):
        try:
            with open(path, "rb") as fh:
                digest.update(fh.read())
        except OSError:  # pragma: no cover - a module without a source file
            pass
    return os.path.join(cache_location(), "simulate-loops", digest.hexdigest()[:24])


def maybe_cached(opt, land, track=None) -> bool:
    """Whether numba's disk cache may hold this variant's loop, known without importing numba (a
    tenth of a second and more): False when no marker says it was put there (by :func:`warmup`, a
    background compile or an earlier run that loaded it), so that a fresh process with an empty
    cache does not import numba only to find nothing. True is a hint; numba's own index decides."""
    try:
        return os.path.exists(_marker(opt, land, track))
    except Exception:  # noqa: BLE001 - a hint: when it cannot be made, look in the cache itself
        return True


def mark_cached(opt, land, track=None) -> None:
    """Leave the marker :func:`maybe_cached` looks for (nothing when it cannot be written)."""
    try:
        path = _marker(opt, land, track)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w"):
            pass
    except Exception:  # noqa: BLE001 - a hint only
        pass


def compile_variant_of(opt, land, track=None) -> bool:
    """Compile (or load from numba's disk cache) the loop that runs ``opt`` on ``land`` (measuring
    the plan ``track``, if given): a one-step compiled run of one start. Returns whether the cache
    held it (nothing was compiled)."""
    from .engine import compiled_run, driver_for
    from .trajectory import default_escape_radius

    driver = driver_for(opt, land, track)
    if driver.signatures:  # compiled in this process already
        return True
    x0 = np.asarray(land.default_start, dtype=np.float64)[None]
    compiled_run(opt, land, x0, min(1, int(track.steps)) if track is not None else 1, default_escape_radius(land),
                 1, track=track)
    mark_cached(opt, land, track)
    return sum(driver.stats.cache_hits.values()) > 0


def warmup(only=None, progress: bool | None = None) -> list[Compiled]:
    """Fill numba's disk cache with the loops of :func:`variants` (``only`` restricts them): for each,
    the loop of a run of shared hyperparameters (``iterate``, ``plot``) and the loop of a default
    sweep over ``lr`` (lr per member, the sweep's metrics measured in the loop), with a
    progress bar (``progress``: see :func:`simulate.io.progress.progress`). Returns what it did per
    variant; a variant whose loop another variant shares is done once."""
    from ..io.progress import progress_bar
    from ..landscapes import landscape
    from ..optimizers import optimizer

    pairs = variants(only)
    done = []
    with progress_bar(len(pairs), "compiling the engine's loops", enabled=progress) as bar:
        for o, land in pairs:
            t0 = time.perf_counter()
            opt, where = optimizer(o), landscape(land)
            loaded = compile_variant_of(opt, where)  # iterate's loop: every hyperparameter shared
            # a default sweep over lr: lr per member, the sweep's metrics measured in the loop
            swept = opt.replace(lr=np.asarray(opt.lr, dtype=np.float64) * np.array([1.0, 0.5]))
            loaded = compile_variant_of(swept, where, default_plan(where)) and loaded
            done.append(Compiled(o, land, time.perf_counter() - t0, loaded))
            bar.advance(1)
    return done


# -- the background compile ------------------------------------------------------------------------
def background_enabled() -> bool:
    """Whether a large run that takes the numpy loop may compile its loop in the background
    (``SIMULATE_BACKGROUND_COMPILE`` unset or not 0/no/false/off, and numba installed)."""
    if os.environ.get(BACKGROUND_ENV, "1").strip().lower() in ("0", "no", "false", "off"):
        return False
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def background_lock() -> str:
    """The lock file held while a background compile runs for this cache (one at a time)."""
    where = os.environ.get("NUMBA_CACHE_DIR", "") or "default"
    tag = hashlib.sha256(f"{where}|{os.path.dirname(__file__)}".encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"simulate-compile-{os.getuid() if hasattr(os, 'getuid') else 0}-{tag}.lock")


def _take_lock(path: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            if time.time() - os.path.getmtime(path) < STALE_LOCK_SECONDS:
                return False  # another compile is running
            os.remove(path)  # left by a process that died
        except OSError:
            return False
        return _take_lock(path)
    except OSError:  # pragma: no cover - no writable temporary folder: no background compile
        return False
    os.close(fd)
    return True


@dataclass(frozen=True)
class _Spec:
    """A landscape sent to the background compile as the spec that rebuilds it."""

    text: str


_started: list = []  # the processes this one started (kept so that they are reaped)


def compile_in_background(opt, land, track=None) -> bool:
    """Start compiling ``opt``'s loop on ``land`` in a separate process (numba's disk cache is
    filled for the next run) unless it is turned off (:func:`background_enabled`), another one
    is running (:func:`background_lock`), or the variant cannot be sent to another process.
    Returns whether one was started. The caller does not wait: its run goes on in numpy."""
    if not background_enabled():
        return False
    try:
        payload = pickle.dumps((opt, land, track))
    except Exception:  # a formula landscape holds local functions: sent as the spec that rebuilds it
        try:
            from ..landscapes import landscape

            if landscape(land.label).label != land.label:
                return False
            payload = pickle.dumps((opt, _Spec(land.label), track))
        except Exception:  # a landscape of the user's own functions: not sent
            return False
    lock = background_lock()
    if not _take_lock(lock):
        return False
    try:
        child = subprocess.Popen([sys.executable, "-m", "simulate.solvers.warmup", lock], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        child.stdin.write(payload)
        child.stdin.close()
    except (OSError, ValueError):  # pragma: no cover - cannot start a process here
        _release(lock)
        return False
    _started[:] = [p for p in _started if p.poll() is None] + [child]
    return True


def _release(lock: str) -> None:
    try:
        os.remove(lock)
    except OSError:
        pass


def _compile_sent(lock: str) -> None:
    """The background process: compile the pickled ``(optimizer, landscape)`` read from stdin
    (sent by :func:`compile_in_background` of this package), then release the lock."""
    try:
        opt, land, track = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - written by our own parent process
        if isinstance(land, _Spec):
            from ..landscapes import landscape

            land = landscape(land.text)
        compile_variant_of(opt, land, track)
    finally:
        _release(lock)


if __name__ == "__main__":  # pragma: no cover - run as a subprocess (tested through compile_in_background)
    from simulate.solvers.warmup import _compile_sent as compile_sent  # the package's classes, not __main__'s

    compile_sent(sys.argv[1])
