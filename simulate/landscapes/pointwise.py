"""Gradients and values of the built-in landscapes written on scalars, so numba can compile them
(simulate.solvers.engine, simulate.solvers.fastflow).

Arithmetic, ``np.sqrt``, ``np.sin``/``np.cos`` only: the same source runs on numpy arrays (each
landscape's ``_grad``/``_value`` calls it) and, compiled, on one member's coordinates inside the
engine's loop, giving the same bits. Integer powers are written as products: numpy's ``x**3`` is a
vectorized ``pow`` that differs from libm's (what a compiled ``pow`` calls) in the last bit.

A landscape declares ``pointwise_grad = (grad, params)`` with ``grad(x0, …, x_{d−1}, params) ->
(g0, …, g_{d−1})`` and ``pointwise_value = (value, params)`` likewise. For the families of any
dimension (Rastrigin, Styblinski–Tang, the double well, the chained Rosenbrock) the functions of d
scalars are written here by :func:`scalar_function` from the family's terms and the coordinates'
indices, with sums in numpy's own order (:func:`sum_text`).
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np  # noqa: F401 - the generated d-dimensional functions call np.cos/np.sin from these globals

__all__ = ["himmelblau_value", "himmelblau_grad", "rosenbrock_pair", "rosenbrock_pair_value", "booth_value",
           "booth_grad", "beale_value", "beale_grad", "six_hump_camel_value", "six_hump_camel_grad", "saddle_value",
           "saddle_grad", "monkey_saddle_value", "monkey_saddle_grad", "scalar_net_value", "scalar_net_grad",
           "rastrigin_term", "rastrigin_slope", "styblinski_tang_term", "styblinski_tang_slope", "double_well_slope",
           "scalar_function", "sum_text", "define", "rastrigin", "styblinski_tang", "double_well", "rosenbrock_chain"]


def himmelblau_value(X, Y, params):
    """(x² + y − 11)² + (x + y² − 7)²; ``params`` is empty."""
    p, q = X * X + Y - 11, X + Y * Y - 7
    return p * p + q * q


def himmelblau_grad(X, Y, params):
    """∇ of (x² + y − 11)² + (x + y² − 7)²; ``params`` is empty."""
    p, q = X * X + Y - 11, X + Y * Y - 7
    return 4 * X * p + 2 * q, 2 * p + 4 * Y * q


def booth_value(X, Y, params):
    """(x + 2y − 7)² + (2x + y − 5)²."""
    p, q = X + 2 * Y - 7, 2 * X + Y - 5
    return p * p + q * q


def booth_grad(X, Y, params):
    p, q = X + 2 * Y - 7, 2 * X + Y - 5
    return 2 * p + 4 * q, 4 * p + 2 * q


def beale_value(X, Y, params):
    """(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²."""
    Y2 = Y * Y
    t1, t2, t3 = 1.5 - X + X * Y, 2.25 - X + X * Y2, 2.625 - X + X * (Y2 * Y)
    return t1 * t1 + t2 * t2 + t3 * t3


def beale_grad(X, Y, params):
    Y2 = Y * Y
    t1, t2, t3 = 1.5 - X + X * Y, 2.25 - X + X * Y2, 2.625 - X + X * (Y2 * Y)
    gx = 2 * t1 * (Y - 1) + 2 * t2 * (Y2 - 1) + 2 * t3 * (Y2 * Y - 1)
    gy = 2 * t1 * X + 2 * t2 * (2 * X * Y) + 2 * t3 * (3 * X * Y2)
    return gx, gy


def six_hump_camel_value(X, Y, params):
    """(4 − 2.1x² + x⁴/3)x² + xy + (−4 + 4y²)y²."""
    X2, Y2 = X * X, Y * Y
    return (4 - 2.1 * X2 + X2 * X2 / 3) * X2 + X * Y + (-4 + 4 * Y2) * Y2


def six_hump_camel_grad(X, Y, params):
    X2 = X * X
    return 8 * X - 8.4 * (X2 * X) + 2 * (X2 * X2 * X) + Y, X - 8 * Y + 16 * (Y * Y * Y)


def saddle_value(X, Y, params):
    """x² − y²."""
    return X * X - Y * Y


def saddle_grad(X, Y, params):
    return 2 * X, -2 * Y


def monkey_saddle_value(X, Y, params):
    """x³ − 3xy²."""
    return X * X * X - 3 * X * (Y * Y)


def monkey_saddle_grad(X, Y, params):
    return 3 * (X * X) - 3 * (Y * Y), -6 * X * Y


def scalar_net_value(A, B, params):
    """½(ab − 1)²."""
    r = A * B - 1
    return 0.5 * (r * r)


def scalar_net_grad(A, B, params):
    r = A * B - 1
    return r * B, r * A


# -- the families of any dimension ------------------------------------------------------------------
# One coordinate's (or one consecutive pair's) terms, as text: the numpy functions below and the
# functions of d scalars are both made from it, so that they compute the same operations (the
# functions of d scalars call nothing, which numba could not compile).
_ROSENBROCK = {"t": "{v} - {u} * {u}", "du": "-2 * (a - {u}) - 4 * b * {u} * {t}", "dv": "2 * b * {t}",
               "value": "(a - {u}) * (a - {u}) + b * ({t} * {t})"}
_RASTRIGIN = {"term": "{x} * {x} - A * np.cos(2 * np.pi * {x})", "slope": "2 * {x} + 2 * np.pi * A * np.sin(2 * np.pi * {x})"}
_STYBLINSKI_TANG = {"term": "({x} * {x}) * ({x} * {x}) - 16 * ({x} * {x}) + 5 * {x}",
                    "slope": "2 * ({x} * {x} * {x}) - 16 * {x} + 2.5"}
_DOUBLE_WELL = {"slope": "4 * ({x} * {x} * {x}) - 4 * {x} + tilt", "t": "{x} * {x} - 1"}


def _function(name: str, args: str, body: list[str], result: str):
    return define(name, "\n".join([f"def {name}({args}):", *(f"    {line}" for line in body),
                                   f"    return {result}"]) + "\n", globals())


def sum_text(terms: list[str]) -> str:
    """``terms`` summed in the order numpy's ``np.sum(…, axis=-1)`` adds a contiguous last axis of
    up to 128 entries (pairwise: eight running sums from 8 entries on), as text; ``0.0`` for none."""
    n = len(terms)
    if n == 0:
        return "0.0"
    if n < 8:
        return "(" + " + ".join(terms) + ")"
    r = list(terms[:8])
    i = 8
    while i < n - n % 8:
        r = [f"({r[j]} + {terms[i + j]})" for j in range(8)]
        i += 8
    out = f"((({r[0]} + {r[1]}) + ({r[2]} + {r[3]})) + (({r[4]} + {r[5]}) + ({r[6]} + {r[7]})))"
    for t in terms[i:]:
        out = f"({out} + {t})"
    return out


def define(name: str, source: str, scope: dict):
    """The function ``name`` that ``source`` defines, with ``scope`` as its globals; its qualified
    name carries a hash of the text (the compiled engine's cache names loops after the functions
    they inline). The text must be made by this package from its own identifiers and numbers."""
    namespace = dict(scope, __name__=scope.get("__name__", __name__))
    exec(compile(source, f"<simulate {name}>", "exec"), namespace)  # noqa: S102 - package-made text
    fn = namespace[name]
    fn.__qualname__ = f"{name}_{hashlib.sha256(source.encode()).hexdigest()[:12]}"
    return fn


def scalar_function(name: str, dim: int, body: list[str], result):
    """``name(x0, …, x_{dim−1}, params)``: ``body`` lines, then ``return result`` (a tuple when a
    list); its globals are this module's (numpy as ``np``)."""
    if isinstance(result, list):
        result = "(" + ", ".join(result) + ("," if len(result) == 1 else "") + ")"
    return _function(name, ", ".join([*(f"x{j}" for j in range(dim)), "params"]), body, result)


rosenbrock_pair_value = _function("rosenbrock_pair_value", "u, v, params", ["a, b = params", "t = " + _ROSENBROCK["t"].format(u="u", v="v")],
                                  _ROSENBROCK["value"].format(u="u", t="t"))
rosenbrock_pair_value.__doc__ = """One Rosenbrock pair (a − u)² + b(v − u²)², ``params = (a, b)``; the chained value sums them."""
rosenbrock_pair = _function("rosenbrock_pair", "u, v, params", ["a, b = params", "t = " + _ROSENBROCK["t"].format(u="u", v="v")],
                            _ROSENBROCK["du"].format(u="u", t="t") + ", " + _ROSENBROCK["dv"].format(t="t"))
rosenbrock_pair.__doc__ = """The two gradient terms ``(∂/∂u, ∂/∂v)`` of one Rosenbrock pair, ``params = (a, b)``;
the chained gradient sums them over consecutive pairs."""
rastrigin_term = _function("rastrigin_term", "x, A", [], _RASTRIGIN["term"].format(x="x"))
rastrigin_slope = _function("rastrigin_slope", "x, A", [], _RASTRIGIN["slope"].format(x="x"))
styblinski_tang_term = _function("styblinski_tang_term", "x, params", [], _STYBLINSKI_TANG["term"].format(x="x"))
styblinski_tang_slope = _function("styblinski_tang_slope", "x, params", [], _STYBLINSKI_TANG["slope"].format(x="x"))
double_well_slope = _function("double_well_slope", "x, tilt", [], _DOUBLE_WELL["slope"].format(x="x"))




@functools.lru_cache(maxsize=None)
def rastrigin(dim: int):
    """(grad, value) of A·d + Σ (xᵢ² − A cos 2πxᵢ) on ``dim`` coordinates, ``params = (A,)``."""
    J = range(dim)
    grad = scalar_function("rastrigin_grad", dim, ["A = params[0]"], [_RASTRIGIN["slope"].format(x=f"x{j}") for j in J])
    value = scalar_function("rastrigin_value", dim, ["A = params[0]"],
                            f"A * {dim} + " + sum_text(["(" + _RASTRIGIN["term"].format(x=f"x{j}") + ")" for j in J]))
    return grad, value


@functools.lru_cache(maxsize=None)
def styblinski_tang(dim: int):
    """(grad, value) of ½ Σ (xᵢ⁴ − 16xᵢ² + 5xᵢ) on ``dim`` coordinates; ``params`` is empty."""
    J = range(dim)
    grad = scalar_function("styblinski_tang_grad", dim, [], [_STYBLINSKI_TANG["slope"].format(x=f"x{j}") for j in J])
    value = scalar_function("styblinski_tang_value", dim, [],
                            "0.5 * " + sum_text(["(" + _STYBLINSKI_TANG["term"].format(x=f"x{j}") + ")" for j in J]))
    return grad, value


@functools.lru_cache(maxsize=None)
def double_well(dim: int):
    """(grad, value) of (x₁² − 1)² + tilt·x₁ + ½k Σ_{i>1} xᵢ², ``params = (tilt, k)``."""
    J = range(1, dim)
    grad = scalar_function("double_well_grad", dim, ["tilt, k = params"],
                           [_DOUBLE_WELL["slope"].format(x="x0"), *(f"k * x{j}" for j in J)])
    value = scalar_function("double_well_value", dim, ["tilt, k = params", "t = " + _DOUBLE_WELL["t"].format(x="x0")],
                            "t * t + tilt * x0 + 0.5 * k * " + sum_text([f"x{j} * x{j}" for j in J]))
    return grad, value


@functools.lru_cache(maxsize=None)
def rosenbrock_chain(dim: int):
    """(grad, value) of Σ (a − xᵢ)² + b(xᵢ₊₁ − xᵢ²)² over consecutive pairs, ``params = (a, b)``: the
    gradient adds each pair's two terms to a zero vector, as the numpy ``_grad`` does."""
    pairs = range(dim - 1)
    body = ["a, b = params", *(f"t{j} = " + _ROSENBROCK["t"].format(u=f"x{j}", v=f"x{j + 1}") for j in pairs)]
    du = [_ROSENBROCK["du"].format(u=f"x{j}", t=f"t{j}") for j in pairs]
    dv = [_ROSENBROCK["dv"].format(t=f"t{j}") for j in pairs]
    grad = [f"(0.0 + ({du[0]}))"]
    grad += [f"((0.0 + ({du[j]})) + ({dv[j - 1]}))" for j in range(1, dim - 1)]
    grad += [f"(0.0 + ({dv[dim - 2]}))"]
    value = sum_text(["(" + _ROSENBROCK["value"].format(u=f"x{j}", t=f"t{j}") + ")" for j in pairs])
    return scalar_function("rosenbrock_grad", dim, body, grad), scalar_function("rosenbrock_value", dim, body, value)
