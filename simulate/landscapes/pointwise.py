"""Gradients of built-in landscapes written on scalars, so numba can compile them (simulate.solvers.engine).

Arithmetic only: the same source runs on numpy arrays (``Himmelblau.grad`` calls it) and, compiled,
on one member's coordinates inside the engine's loop, giving the same bits.
"""

from __future__ import annotations

__all__ = ["himmelblau_value", "himmelblau_grad", "rosenbrock_pair", "rosenbrock_pair_value"]


def himmelblau_value(X, Y, params):
    """(x² + y − 11)² + (x + y² − 7)²; ``params`` is empty."""
    p, q = X * X + Y - 11, X + Y * Y - 7
    return p * p + q * q


def himmelblau_grad(X, Y, params):
    """∇ of (x² + y − 11)² + (x + y² − 7)²; ``params`` is empty."""
    p, q = X * X + Y - 11, X + Y * Y - 7
    return 4 * X * p + 2 * q, 2 * p + 4 * Y * q


def rosenbrock_pair_value(u, v, params):
    """One Rosenbrock pair (a − u)² + b(v − u²)², ``params = (a, b)``; the chained n-D value sums them."""
    a, b = params
    t = v - u * u
    return (a - u) * (a - u) + b * (t * t)


def rosenbrock_pair(u, v, params):
    """The two gradient terms of one Rosenbrock pair (a − u)² + b(v − u²)², ``params = (a, b)``:
    ``(∂/∂u, ∂/∂v)``; the chained n-D gradient sums them over consecutive pairs."""
    a, b = params
    t = v - u * u
    return -2 * (a - u) - 4 * b * u * t, 2 * b * t
