"""Test landscapes: value, gradient and Hessian, exact and vectorized over points ``(..., d)``.

Every landscape is a frozen object with ``value(x) -> (...)``, ``grad(x) -> (..., d)`` and
``hess(x) -> (..., d, d)``, written with ``x[..., i]`` so that any batch shape comes free. It also
carries what a plot and a run need: ``dim``, ``bounds`` ``(d, 2)``, the known local minima
``minima`` ``(k, d)`` and a ``default_start`` ``(d,)``.

Subclasses implement ``_value``, ``_grad`` and ``_hess`` on float64 arrays whose last axis is
already checked; the public methods cast and validate once, at the edge.

Built-ins (registry key: class):

- ``quadratic``: :class:`Quadratic`, ½(x−c)ᵀA(x−c), any dimension
- ``rosenbrock``: :class:`Rosenbrock`, (a−x)² + b(y−x²)² (chained form in n-D)
- ``himmelblau``: :class:`Himmelblau`, four global minima
- ``beale``: :class:`Beale`, flat plateaus and a sharp valley
- ``booth``: :class:`Booth`, a tilted quadratic bowl
- ``rastrigin``: :class:`Rastrigin`, a bowl covered in local minima, any dimension
- ``six-hump-camel``: :class:`SixHumpCamel`, six local minima, two of them global
- ``saddle``: :class:`Saddle`, x² − y², no minima
- ``monkey-saddle``: :class:`MonkeySaddle`, x³ − 3xy², a degenerate saddle
- ``styblinski-tang``: :class:`StyblinskiTang`, 2^d local minima, any dimension
- ``scalar-net``: :class:`ScalarNet`, ½(ab − 1)², a curve of minima (edge of stability, balancing)
- ``double-well``: :class:`DoubleWell`, (x² − 1)² + tilt·x + ½k·|rest|², any dimension
- ``least-squares``: :class:`LeastSquares`, 1/(2N)·Σ(aᵢᵀw − bᵢ)² + ½·ridge·|w|² on seeded data
  (finite sum: ``per_sample_grads``, ``minibatch_grad``; :mod:`simulate.finitesum`)
- ``logistic``: :class:`Logistic`, (1/N)·Σ log(1 + e^(−yᵢaᵢᵀw)) + ½·ridge·|w|² on seeded data
- ``matrix-factorization``: :class:`MatrixFactorization`, ½‖UVᵀ − M‖², a point of two matrix blocks
- ``matrix-sensing``: :class:`MatrixSensing`, ½Σ(⟨Aᵢ, X⟩ − yᵢ)², a matrix point
- ``linear-net``: :class:`LinearNet`, ½‖W₂W₁X − Y‖², a two-layer linear network
  (matrix landscapes: :mod:`simulate.landscapes.matrix`; ``matrix_shapes`` says the blocks)

Separable landscapes whose local minima number m^d list them all only while m^d ≤ 4096
(``MAX_LISTED_MINIMA``); beyond that only the global minimum is listed.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable

import numpy as np

from .._checks import checked
from .._checks import text as printable
from .._names import UnknownNameError, lookup, suggest
from ..spec import parse_spec
from .base import Landscape, polish_minima, search_minima
from .builtin import (Beale, Booth, DoubleWell, Himmelblau, MonkeySaddle, Quadratic, Rastrigin, Rosenbrock, Saddle,
                      ScalarNet, SixHumpCamel, StyblinskiTang)
from .finitesum import LeastSquares, Logistic
from .formula import FUNCTIONS, FormulaError, formula_landscape, is_variable
from .games import GAMES
from .matrix import LinearNet, MatrixFactorization, MatrixSensing

__all__ = [
    "Landscape",
    "Quadratic",
    "Rosenbrock",
    "Himmelblau",
    "Beale",
    "Booth",
    "Rastrigin",
    "SixHumpCamel",
    "Saddle",
    "MonkeySaddle",
    "StyblinskiTang",
    "ScalarNet",
    "DoubleWell",
    "LeastSquares",
    "Logistic",
    "MatrixFactorization",
    "MatrixSensing",
    "LinearNet",
    "LANDSCAPES",
    "landscape",
    "polish_minima",
    "search_minima",
]

# Name -> factory (class or partial). Keyword arguments of the factory are the landscape's parameters.
LANDSCAPES: dict[str, Callable[..., Landscape]] = {
    "quadratic": Quadratic,
    "rosenbrock": Rosenbrock,
    "himmelblau": Himmelblau,
    "beale": Beale,
    "booth": Booth,
    "rastrigin": Rastrigin,
    "six-hump-camel": SixHumpCamel,
    "saddle": Saddle,
    "monkey-saddle": MonkeySaddle,
    "styblinski-tang": StyblinskiTang,
    "scalar-net": ScalarNet,
    "double-well": DoubleWell,
    "least-squares": LeastSquares,
    "logistic": Logistic,
    "matrix-factorization": MatrixFactorization,
    "matrix-sensing": MatrixSensing,
    "linear-net": LinearNet,
}


@checked(name="landscape")
def landscape(name: str | Landscape, **params) -> Landscape:
    """A built-in landscape by name, e.g. ``landscape("quadratic", condition=100)``.

    A spec string works too: ``landscape("quadratic(condition=100, angle=0.5)")``, and so does a
    formula: ``landscape("x**2 + 10*y**2")`` (see :mod:`simulate.formula`). Games
    (:data:`simulate.landscapes.games.GAMES`, e.g. ``"bilinear"``) are found by name like landscapes.
    A :class:`Landscape` instance is returned as it is. Unknown names raise an error listing the
    valid ones with the closest match.
    """
    if isinstance(name, Landscape):
        if params:
            raise ValueError("parameters cannot be applied to a Landscape instance")
        return name
    registry = {**LANDSCAPES, **GAMES}

    text = printable(name, "the landscape").strip()
    head = re.match(r"[A-Za-z][\w-]*", text)
    key = head.group(0).lower().replace("_", "-") if head else ""
    rest = text[head.end():].strip() if head else text
    spec_like = bool(head) and (not rest or rest[0] == ":" or (rest[0] == "(" and rest[-1] == ")"))
    if key == "formula" and spec_like:
        return formula_landscape(text, **params)
    if not (spec_like and key in registry) and not (spec_like and not rest and not is_variable(key)):
        try:  # not a built-in: a formula such as "x**2 + 10*y**2" or "sin(x)*cos(y)"
            return formula_landscape(text, **params)
        except FormulaError as exc:
            if not spec_like or key in FUNCTIONS or (rest and rest[0] == "(" and not _one_group(rest)):
                raise  # a formula after all: sin(x)*cos(y), abs(x**y)
            raise UnknownNameError(f"{suggest('landscape', key, registry)} (Read as a formula: {exc})") from None
    if "(" in name or ":" in name:  # a spec such as "quadratic(condition=100)"
        name, spec_params = parse_spec(name)
        params = {**spec_params, **params}
    factory = lookup("landscape", name, registry)
    try:
        return factory(**params)
    except TypeError as exc:  # unexpected keyword: say which parameters exist, the closest first
        known = _parameters(factory)
        listed = f"Parameters: {', '.join(known) or 'none'}"
        for given in params:
            if given not in known:
                close = difflib.get_close_matches(given, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise UnknownNameError(f"{name} has no parameter {given!r}.{hint} {listed}") from None
        raise ValueError(f"{name}: {exc}. {listed}") from None


def _one_group(text: str) -> bool:
    """Whether the parenthesis opening ``text`` closes at its very end: ``(a=1)``, not ``(x)*(y)``."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0:
            return i == len(text) - 1
    return False


def _parameters(factory) -> list[str]:
    import functools

    cls = factory.func if isinstance(factory, functools.partial) else factory
    return [f.name for f in dataclasses.fields(cls) if f.init]


def landscape_parameters(land: Landscape | str) -> dict[str, float]:
    """The real-valued scalar parameters of a built-in landscape or game (or its name or spec), by
    name (a sweep's axes can vary them: dirac-gan's ``gamma``, wgan-gp's ``lam``, double-well's
    ``tilt``, ...)."""
    if isinstance(land, str):
        land = landscape(land)
    if land.name not in {**LANDSCAPES, **GAMES}:
        return {}
    shown = land.spec_params  # what rebuilds it (the fields may hold derived values: bilinear's B)
    out = {}
    for f in dataclasses.fields(land):
        v = shown.get(f.name, f.default)
        v = v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v
        # Real parameters only (a whole-number field such as dim is a size, not a strength).
        if f.init and isinstance(f.default, float) and f.name not in land.fixed_parameters \
                and isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f.name] = float(v)
    return out


def with_parameters(land: Landscape, **values) -> Landscape:
    """The same built-in landscape with some parameters changed (validated by its constructor)."""
    given = ", ".join(f"{k}={v:g}" for k, v in values.items())
    try:
        rebuilt = landscape(land.name, **{**land.spec_params, **values})
    except ValueError as exc:
        raise ValueError(f"{land.name} with {given}: {exc}") from None
    now = landscape_parameters(rebuilt)
    if any(now.get(k) != float(v) for k, v in values.items()):  # another parameter of the label overrode it
        raise ValueError(f"{land.name} with {given}: its parameters came out as {now}")
    return rebuilt

