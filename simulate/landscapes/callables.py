"""A landscape from your own Python functions, for notebooks.

``landscape_from(value, grad, hess=None, dim=2)`` wraps callables that take points ``(..., d)``
(a batch, or one point) and return ``(...)``, ``(..., d)`` and ``(..., d, d)``. Without ``hess``
the Hessian is the central difference of your gradient (step ``h·max(1, |x|)``, error O(h²)), said
so in the description. Every call is checked once: the shape each function returns, and that the
values are float64-castable; a function that only handles single points is applied point by point
(``vectorized=False``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .base import Landscape, _set, _settle_start, differenced_hessian, plot_box

__all__ = ["CallableLandscape", "landscape_from"]

@dataclass(frozen=True, eq=False)
class CallableLandscape(Landscape):
    """See :func:`landscape_from`."""

    value_fn: Callable = None
    grad_fn: Callable = None
    hess_fn: Callable | None = None
    dim_: int = 2
    bounds_: object = None
    start: object = None
    minima_: object = ()
    vectorized: bool = True
    title: str = "custom"

    name = "custom"
    description = "a landscape from Python callables (simulate.callables.landscape_from)"

    def __post_init__(self):
        if not callable(self.value_fn) or not callable(self.grad_fn):
            raise ValueError("landscape_from needs callables value(x) and grad(x)")
        if self.hess_fn is not None and not callable(self.hess_fn):
            raise ValueError("hess must be a callable or None")
        d = self.dim_
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"dim must be a whole number >= 1, got {d!r}")
        bounds, start = plot_box(self.bounds_, self.start, d)
        _set(self, dim=int(d), bounds=bounds, default_start=start, minima=self.minima_)
        super().__post_init__()
        # d + 1 distinct points: a function written for one point (x[0], x[1]) cannot pass for a batch
        probe = self.default_start + 0.01 * np.arange(d + 1)[:, None] * (1 + np.arange(d))
        self._value(probe)
        self._grad(probe)
        self._hess(probe)
        if self.start is None:
            _settle_start(self)

    @property
    def label(self) -> str:
        return self.title

    def _call(self, fn, x, tail: tuple[int, ...], what: str) -> np.ndarray:
        if self.vectorized:
            try:
                out = np.asarray(fn(x), dtype=np.float64)
            except (TypeError, ValueError) as exc:
                if x.ndim < 2:
                    raise
                raise ValueError(f"{self.title}: {what}(x) failed for a batch of points {x.shape} ({exc}); "
                                 "for a function of one point pass vectorized=False") from None
        else:
            flat = x.reshape(-1, self.dim)
            out = np.array([np.asarray(fn(p), dtype=np.float64) for p in flat]).reshape(x.shape[:-1] + tail)
        expected = x.shape[:-1] + tail
        if out.shape != expected:
            batch_wrong = out.shape[:x.ndim - 1] != x.shape[:-1]
            hint = " (a function of one point only? pass vectorized=False)" if x.ndim > 1 and batch_wrong else ""
            raise ValueError(f"{self.title}: {what}(x) for x of shape {x.shape} returned shape {out.shape}, "
                             f"expected {expected}{hint}")
        return out

    def _value(self, x):
        return self._call(self.value_fn, x, (), "value")

    def _grad(self, x):
        return self._call(self.grad_fn, x, (self.dim,), "grad")

    def _hess(self, x):
        if self.hess_fn is not None:
            return self._call(self.hess_fn, x, (self.dim, self.dim), "hess")
        return differenced_hessian(self._grad, x)


def landscape_from(value, grad, hess=None, *, dim: int = 2, bounds=None, start=None, minima=(),
                   vectorized: bool = True, name: str = "custom") -> CallableLandscape:
    """A landscape from ``value(x)``, ``grad(x)`` and optionally ``hess(x)`` (else central differences
    of ``grad``). ``bounds`` ``(d, 2)`` (default [−5, 5]), ``start`` (default a finite, non-stationary point of the box),
    ``minima`` to list; ``vectorized=False`` when the functions take one point ``(d,)`` at a time;
    ``name`` labels figures and records (a custom landscape cannot be rebuilt from its label:
    :meth:`simulate.trajectory.Trajectory.load` takes it as an argument)."""
    return CallableLandscape(value_fn=value, grad_fn=grad, hess_fn=hess, dim_=dim, bounds_=bounds, start=start,
                             minima_=minima, vectorized=vectorized, title=name)
