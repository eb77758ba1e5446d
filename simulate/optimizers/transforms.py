"""Gradient transforms in front of any optimizer, in both views.

Any optimizer takes three transforms, held by the wrapper around it
(:class:`simulate.optimizers.wrappers.Wrapped`; in a spec beside the hyperparameters):

* ``clip_norm=c``: ``torch.nn.utils.clip_grad_norm_(p, c)`` before each step. With the gradient's
  norm n = |∇f|, torch multiplies by ``min(c/(n + 1e-6), 1)``.
* ``clip_value=v``: ``torch.nn.utils.clip_grad_value_(p, v)``: every coordinate clamped to [−v, v].
* ``lr_scale=(s₁, …, s_d)``: a learning rate per coordinate, lr·sᵢ (torch: one parameter group per
  coordinate): the update is scaled coordinatewise, ``x ← x + s⊙Δ``.

Clipping acts on ∇f as the optimizer receives it (after minibatch or injected gradient noise,
``noise=``; before weight decay, which the optimizer adds). In the ODE view the transforms change
the model, and the exact lift says how: the clipped field is ``−clip(∇f)``. Where the norm clip is
active that is ``−c·∇f/(|∇f| + 1e-6)``, a normalized flow: for GD the same path as the gradient
flow, run on another clock. Value clipping bends the path (a sign-like flow where every coordinate
is clipped). ``lr_scale`` is a fixed diagonal preconditioner ``ẋ = −P∇f``, P = diag(s): another
path, the same minima. Both views see the gradient through :class:`TransformedGradients`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TransformedGradients", "clip", "clip_jacobian", "clip_active", "check_transforms", "TORCH_CLIP_EPS"]

#: torch.nn.utils.clip_grad_norm_ divides by ``total_norm + 1e-6``
TORCH_CLIP_EPS = 1e-6


def clip(g: np.ndarray, clip_norm=None, clip_value=None) -> np.ndarray:
    """``g`` ``(..., d)`` as torch's clip_grad_norm_ then clip_grad_value_ leave it (norm first)."""
    if clip_norm is not None:
        norm = np.sqrt(np.einsum("...i,...i->...", g, g))[..., None]
        g = g * np.minimum(np.asarray(clip_norm)[..., None] / (norm + TORCH_CLIP_EPS), 1.0)
    if clip_value is not None:
        v = np.asarray(clip_value)[..., None]
        g = np.clip(g, -v, v)
    return g


def clip_active(g: np.ndarray, clip_norm=None, clip_value=None) -> np.ndarray:
    """Where a clip changes the gradient ``(...)``: the norm clip's factor is below 1, or a
    coordinate is beyond the value bound."""
    active = np.zeros(g.shape[:-1], bool)
    if clip_norm is not None:
        norm = np.sqrt(np.einsum("...i,...i->...", g, g))
        active |= np.asarray(clip_norm) / (norm + TORCH_CLIP_EPS) < 1.0
        g = clip(g, clip_norm)
    if clip_value is not None:
        active |= np.any(np.abs(g) > np.asarray(clip_value)[..., None], axis=-1)
    return active


def clip_jacobian(g: np.ndarray, H: np.ndarray, clip_norm=None, clip_value=None) -> np.ndarray:
    """d clip(∇f)/dx ``(..., d, d)`` from ∇f and the Hessian H. Active norm clip:
    ``c/(n + ε)·(I − ĝĝᵀ·n/(n + ε))·H``; value clip: the clamped rows are zero."""
    if clip_norm is not None:
        n = np.sqrt(np.einsum("...i,...i->...", g, g))
        c = np.asarray(clip_norm)
        factor = c / (n + TORCH_CLIP_EPS)
        active = factor < 1.0
        unit = np.divide(g, n[..., None], out=np.zeros_like(g), where=n[..., None] > 0)
        d = g.shape[-1]
        # d(g·c/(n+ε)) = c/(n+ε)·dg − c·g/(n+ε)²·(ĝᵀdg)
        proj = np.eye(d) - (n / (n + TORCH_CLIP_EPS))[..., None, None] * unit[..., :, None] * unit[..., None, :]
        clipped = factor[..., None, None] * (proj @ H)
        H = np.where(active[..., None, None], clipped, H)
        g = clip(g, clip_norm)
    if clip_value is not None:
        inside = np.abs(g) < np.asarray(clip_value)[..., None]
        H = H * inside[..., :, None]
    return H


class TransformedGradients:
    """The landscape as an optimizer with gradient clipping sees it: ``grad`` is the clipped
    gradient of the wrapped landscape (itself possibly noisy), ``hess`` its Jacobian; values are
    exact. Wraps per run in :func:`simulate.solvers.discrete.advance` and per solve in the flows."""

    def __init__(self, landscape, clip_norm=None, clip_value=None):
        self.landscape, self.clip_norm, self.clip_value = landscape, clip_norm, clip_value
        self.dim, self.name = landscape.dim, landscape.name
        begin = getattr(landscape, "begin_step", None)
        if begin is not None:
            self.begin_step = begin  # a noisy landscape draws one loss per step

    def grad(self, x) -> np.ndarray:
        return clip(self.landscape.grad(x), self.clip_norm, self.clip_value)

    def hess(self, x) -> np.ndarray:
        return clip_jacobian(self.landscape.grad(x), self.landscape.hess(x), self.clip_norm, self.clip_value)

    def value(self, x) -> np.ndarray:
        return self.landscape.value(x)

    def points(self, x) -> np.ndarray:
        return self.landscape.points(x)

    def __getattr__(self, name):  # minima, bounds, label, … of the landscape underneath
        return getattr(self.landscape, name)


def seen_by(opt, landscape):
    """``landscape`` as ``opt`` sees it: wrapped when ``opt`` clips its gradients."""
    if getattr(opt, "clip_norm", None) is None and getattr(opt, "clip_value", None) is None:
        return landscape
    return TransformedGradients(landscape, opt.clip_norm, opt.clip_value)


def check_transforms(opt) -> None:
    """Refuse transform values that are not positive numbers (clips) or not d positive scales."""
    for name in ("clip_norm", "clip_value"):
        value = getattr(opt, name, None)
        if value is not None and not (np.all(np.isfinite(value)) and np.all(np.asarray(value) > 0)):
            raise ValueError(f"{opt.display_name}: {name} must be a positive number, got {value!r}")
    s = getattr(opt, "lr_scale", None)
    if s is not None and not (np.ndim(s) == 1 and np.all(np.isfinite(s)) and np.all(np.asarray(s) > 0)):
        raise ValueError(f"{opt.display_name}: lr_scale must be positive numbers, one per coordinate, got {s!r}")
    if s is not None and not getattr(opt, "scales_its_update", True):
        raise ValueError(f"{opt.display_name}: lr_scale is not available: its step evaluates the gradient at points "
                         f"built with lr (stages, look-ahead, momentum), so scaling the finished update per "
                         f"coordinate is not a per-coordinate learning rate")
