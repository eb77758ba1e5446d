"""Numbers checked once, at the edge: the one helper that every entry point (command-line rules,
spec values, hyperparameters, landscape parameters, the public functions' counts) calls before a
number reaches the numerics.

Text from outside (a caption, an output name, a spec) is checked here too: it must be printable
Unicode, since it is written into run records (TOML) and figures (SVG, which is XML), and neither
can carry control characters or undecodable bytes.

A number from outside must be a float64 that stays finite through what the package does with it
(squares, products, exponents of a ladder): its size is at most :data:`MAX_MAGNITUDE`. A count
(steps, rungs, paths, samples, ...) is a whole number within a stated bound, so that arrays sized
by it are allocatable and loops over it end. A time per step built from a hyperparameter (lr,
lr², √lr) must be a positive finite float: an lr whose square underflows to 0 would make every
horizon take infinitely many steps.

The messages are one line and name the value: ``steps must be a whole number between 0 and
1e+12, got 9999…(400 digits)``. Plain Python and numpy: no other import.
"""

from __future__ import annotations

import math
import numbers
import unicodedata

import numpy as np

__all__ = ["MAX_MAGNITUDE", "MAX_COUNT", "shown", "real", "reals", "count", "time_step", "text"]

#: The largest size of a number from outside: its square and the product of two such stay finite in float64.
MAX_MAGNITUDE = 1e100
#: The largest count (steps, paths, samples, ...) when a caller states no tighter bound.
MAX_COUNT = 10**12


def shown(value, width: int = 40) -> str:
    """``repr(value)``, shortened: a 400-digit integer reads ``9999…(400 digits)``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        digits = len(str(abs(int(value)))) if abs(int(value)) < 10 ** 4000 else 4000
        if digits > width:
            return f"{'-' if value < 0 else ''}{str(abs(int(value)))[:4]}…({digits} digits)"
    text = repr(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def _where(name: str) -> str:
    return f"{name} " if name else ""


def _need(positive: bool, nonnegative: bool) -> str:
    return "a positive finite number" if positive else "a finite number >= 0" if nonnegative else "finite"


def real(value, name: str = "", *, positive: bool = False, nonnegative: bool = False,
         magnitude: float = MAX_MAGNITUDE) -> float:
    """``value`` as a float that is finite, at most ``magnitude`` in size, and (if asked) > 0 or >= 0.

    Raises ``ValueError`` naming ``name``: for text, booleans, NaN, ±inf, integers beyond float64
    and numbers so large that their squares overflow."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{_where(name)}must be a number, got {shown(value)}")
    try:
        v = float(value)
    except OverflowError:
        v = math.inf
    need = _need(positive, nonnegative)
    if not math.isfinite(v) and not isinstance(value, numbers.Integral):
        raise ValueError(f"{_where(name)}must be {need}, got {v}")
    if abs(v) > magnitude:
        raise ValueError(f"{_where(name)}must be {need} of size at most {magnitude:g} (larger numbers overflow "
                         f"float64 when squared), got {shown(value)}")
    if (positive and not v > 0) or (nonnegative and not v >= 0):
        raise ValueError(f"{_where(name)}must be {need}, got {shown(value)}")
    return v + 0.0  # -0.0 -> 0.0


def reals(value, name: str = "", *, positive: bool = False, nonnegative: bool = False,
          magnitude: float = MAX_MAGNITUDE) -> np.ndarray:
    """An array of numbers (any shape, nested lists too) as float64, each checked as by :func:`real`."""
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{_where(name)}must be numbers, got {shown(value)}")
    try:
        obj = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
    except (TypeError, ValueError):
        raise ValueError(f"{_where(name)}must be numbers of one shape, got {shown(value)}") from None
    if obj.dtype == object:  # Python numbers (maybe beyond float64), or ragged lists
        if obj.size and any(isinstance(x, (list, tuple, np.ndarray)) for x in obj.flat):
            raise ValueError(f"{_where(name)}must be numbers of one shape, got {shown(value)}")
        for x in obj.flat:
            real(x, name, positive=positive, nonnegative=nonnegative, magnitude=magnitude)
        return np.array(obj.tolist(), dtype=np.float64).reshape(obj.shape)
    if obj.dtype.kind not in "fiu":
        raise ValueError(f"{_where(name)}must be numbers, got {shown(value)}")
    arr = np.asarray(obj, dtype=np.float64)
    bad = ~np.isfinite(arr) | (np.abs(arr) > magnitude)
    if positive:
        bad |= ~(arr > 0)
    elif nonnegative:
        bad |= ~(arr >= 0)
    if np.any(bad):
        real(float(arr[bad].flat[0]), name, positive=positive, nonnegative=nonnegative, magnitude=magnitude)
    return arr + 0.0


def count(value, name: str = "", *, lo: int = 0, hi: int | None = MAX_COUNT) -> int:
    """A whole number in ``[lo, hi]`` (``hi`` None: no upper bound): a bool, a float or a
    400-digit integer is refused with the bound in the message."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer() \
                and abs(value) <= 2**53:
            value = int(value)  # 1000.0 from a config file or numpy is a whole number
        else:
            raise ValueError(f"{_where(name)}must be a whole number, got {shown(value)}")
    v = int(value)
    if v < lo:
        raise ValueError(f"{_where(name)}must be >= {lo}, got {shown(value)}")
    if hi is not None and v > hi:
        raise ValueError(f"{_where(name)}must be at most {hi if hi < 10**6 else f'{hi:.3g}'}, got {shown(value)}")
    return v


def time_step(h, name: str = "the time per step") -> np.ndarray:
    """A time per step built from hyperparameters (lr, lr², √lr): positive and finite everywhere,
    else a ``ValueError`` that says it under- or overflowed."""
    arr = np.asarray(h, dtype=np.float64)
    if np.all(np.isfinite(arr) & (arr > 0)):
        return arr
    bad = float(arr[~(np.isfinite(arr) & (arr > 0))].flat[0])
    why = "underflows to 0 in float64" if bad == 0 else "overflows float64" if math.isinf(bad) else "is not positive"
    raise ValueError(f"{name} {why} (got {bad:g}): choose a learning rate whose time per step is a positive "
                     f"finite number")


def text(value, name: str = "", *, spaces: bool = True) -> str:
    """``value`` if it is text that a run record (TOML), an SVG (XML) and a terminal can carry: no
    control characters (escape, NUL, DEL, ...) and no bytes that are not UTF-8 (which Python reads
    from the command line as lone surrogates). Tab and line breaks are white space, allowed where
    ``spaces`` (a caption, a spec), refused where not (a file name)."""
    if not isinstance(value, str):
        raise ValueError(f"{_where(name)}expected text, got {shown(value)}")
    for i, ch in enumerate(value):
        category = unicodedata.category(ch)
        if (category in ("Cc", "Cs") and not (spaces and ch in "\t\n\r")) or ch in "\ufffe\uffff":
            what = "a byte that is not UTF-8" if category == "Cs" else f"the control character {ch!r}"
            raise ValueError(f"{_where(name)}contains {what} at position {i + 1}: give printable text")
    return value


# -- the public functions' arguments, checked by name ------------------------------------------------------
def _optional(check):
    return lambda value, name: None if value is None else check(value, name)


def _kind(value, name: str, types: tuple, what: str):
    if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {shown(value)}")
    return value


def _shaped(value, name: str, attributes: tuple[str, ...], what: str):
    """Text, or an object with ``attributes`` (an Optimizer, a Landscape, ...: read by what they
    have, so that this module imports none of them and no import cycle arises)."""
    if isinstance(value, str) or all(hasattr(value, a) for a in attributes):
        return value
    raise TypeError(f"{name} must be {what}, got {type(value).__name__} {shown(value)}")


_OPTIMIZER = ("step", "init", "time_per_step", "hyperparameters")
_LANDSCAPE = ("grad", "hess", "dim", "bounds")


def _optimizer_like(value, name):
    return _shaped(value, name, _OPTIMIZER, "an optimizer name, spec or Optimizer")


def _optimizers_like(value, name):
    if isinstance(value, str) or all(hasattr(value, a) for a in _OPTIMIZER):
        return value
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be an optimizer (name, spec or Optimizer) or a list of them, got "
                        f"{type(value).__name__} {shown(value)}")
    for i, item in enumerate(value):
        _optimizer_like(item, f"{name}[{i}]")
    return value


def _landscape_like(value, name):
    return _shaped(value, name, _LANDSCAPE, "a landscape name, spec, formula or Landscape")


def _points(value, name):
    if isinstance(value, (str, bytes, dict, set)) or callable(value) and not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be numbers (a point or points), got {type(value).__name__} {shown(value)}")
    try:
        return reals(value, name)
    except ValueError as exc:
        if "must be a number" in str(exc) or "one shape" in str(exc):
            raise TypeError(str(exc)) from None
        raise


def _number(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {shown(value)}")
    if isinstance(value, numbers.Integral):
        return real(value, name)  # a 400-digit integer
    if math.isnan(float(value)):
        raise ValueError(f"{name} must be a number, got nan")
    return value


def _finite(value, name):
    _number(value, name)
    return real(value, name)


def _whole(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be a whole number, got {type(value).__name__} {shown(value)}")
    return count(value, name, lo=-MAX_COUNT)


def _word(value, name):
    return _kind(value, name, (str,), "text")


def _flag(value, name):
    return _kind(value, name, (bool, np.bool_), "true or false")


def _flow_like(value, name):
    return _shaped(value, name, ("field", "init", "time_per_step", "optimizer"), "a flow kind or Flow")


def _words(value, name):
    if isinstance(value, str):
        return value
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be text or a list of texts, got {type(value).__name__} {shown(value)}")
    for i, item in enumerate(value):
        _word(item, f"{name}[{i}]")
    return value


def _numbers_list(value, name):
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise TypeError(f"{name} must be a list of numbers, got {type(value).__name__} {shown(value)}")
    return _points(value, name)


def _seed(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be a whole number, got {type(value).__name__} {shown(value)}")
    return count(value, name, lo=-(2**64), hi=2**64 - 1)  # numpy's generators take any 64-bit seed


def _noise_like(value, name):
    if isinstance(value, str) or all(hasattr(value, a) for a in ("scale", "cov", "batch_size")):
        return value
    return _points(value, name)  # σ, or one per coordinate


#: Argument name -> its check, for every public function (one convention across the package).
ARGUMENTS = {
    "optimizer": _optimizer_like, "optimizers": _optional(_optimizers_like),
    "landscape": _optional(_landscape_like),
    "start": _optional(_points), "t": _optional(_points),
    **dict.fromkeys(("steps", "rungs", "paths", "substeps", "random_starts", "record_every", "flow_samples",
                     "max_evaluations", "batch_size", "minimum", "frames", "fps", "dpi", "trail"),
                    _optional(_whole)),
    **dict.fromkeys(("lr", "horizon", "ratio", "tol", "near", "rtol", "atol", "gtol", "offset", "clip_norm",
                     "clip_value"), _optional(_finite)),
    "escape_radius": _optional(_number),
    **dict.fromkeys(("method", "scaling", "metric", "scheme", "engine", "time", "drift", "caption"), _optional(_word)),
    "flow": _optional(_flow_like), "flows": _optional(_words), "lrs": _optional(_numbers_list),
    **dict.fromkeys(("sharpness", "energy", "three_d", "overwrite", "vectorized"), _flag),
    "progress": _optional(_flag), "seed": _optional(_seed), "noise": _optional(_noise_like),
}


def checked(function=None, **aliases):
    """Check a public function's arguments by name (:data:`ARGUMENTS`) before it runs: a wrong type
    raises ``TypeError`` and a number beyond the edge ``ValueError``, both naming the function and
    the argument, instead of an error from deep inside numpy, scipy or matplotlib. ``aliases``
    check an argument as another: ``@checked(name="optimizer")``."""
    if function is None:
        return lambda f: checked(f, **aliases)
    import functools
    import inspect

    signature = inspect.signature(function)
    checks = {n: ARGUMENTS[aliases.get(n, n)] for n in signature.parameters if aliases.get(n, n) in ARGUMENTS}

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{function.__name__}: {exc}") from None
        for name, check in checks.items():
            if name in bound.arguments:
                try:
                    check(bound.arguments[name], name)
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"{function.__name__}: {exc}") from None
        return function(*args, **kwargs)

    return wrapper
