"""Update rules written once: numpy arrays in, or scalars inside a compiled loop.

Each function here uses only arithmetic, ``np.sqrt``/``np.abs``/``np.maximum`` and :func:`select`,
so the same source runs on whole batches with numpy (``SGD.step``, ``Adam.step``
call it) and, compiled by numba, on one coordinate of one member at a time in
:mod:`simulate.solvers.engine`. The two give the same bits: IEEE operations in the same order, and numba
compiles without fast-math (no reassociation, no fused multiply-add).
"""

from __future__ import annotations

import numpy as np

__all__ = ["select", "lerp", "sgd_update", "adam_update", "rmsprop_update", "adagrad_update"]


def select(cond, a, b):
    """``np.where`` on arrays; a plain conditional on scalars when compiled (see simulate.solvers.engine)."""
    return np.where(cond, a, b)


def lerp(a, b, w):
    """torch.lerp's formula (ATen), so that EMA updates match torch to the last bit."""
    return select(np.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1 - w))


def sgd_update(x, g, b, first, lr, momentum, dampening, weight_decay, nesterov, buffered):
    """torch.optim.SGD's step: returns ``(x, b)``. ``first``: step 1 (the buffer starts at g);
    ``buffered``: some member has momentum (else b is passed through untouched)."""
    g = select(weight_decay != 0, g + weight_decay * x, g)  # torch skips the decay term where it is 0
    if buffered:
        b = g if first else b * momentum + (1 - dampening) * g
        d = g + momentum * b if nesterov else b
        g = select(momentum == 0, g, d)
    return x + (-lr) * g, b


def adam_update(x, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, c1, c2, decoupled, amsgrad):
    """torch.optim.Adam's (``decoupled``: AdamW's) step: returns ``(x, m, v, vmax)``.

    ``c1 = 1 − β₁ᵏ`` and ``c2 = √(1 − β₂ᵏ)`` are the bias corrections of step k (computed once per
    step by the caller, so that both paths use the same values).
    """
    if decoupled:
        x_new = select(weight_decay != 0, x * (1 - lr * weight_decay), x)
    else:
        x_new = x
        g = select(weight_decay != 0, g + weight_decay * x, g)
    m = lerp(m, g, 1 - beta1)
    v = v * beta2 + (1 - beta2) * g * g
    if amsgrad:
        vmax = np.maximum(vmax, v)
    denom = np.sqrt(vmax if amsgrad else v) / c2 + eps
    return x_new + (-(lr / c1)) * (m / denom), m, v, vmax


def rmsprop_update(x, g, v, gbar, b, lr, alpha, eps, weight_decay, momentum, centered, buffered):
    """torch.optim.RMSprop's step: returns ``(x, v, gbar, b)``. ``centered``: ḡ is kept and
    subtracted under the root (else gbar is passed through); ``buffered``: some member has momentum
    (else b is passed through and the step is ``g/avg`` itself)."""
    g = select(weight_decay != 0, g + weight_decay * x, g)
    v = v * alpha + (1 - alpha) * g * g
    if centered:
        gbar = lerp(gbar, g, 1 - alpha)
        avg = np.sqrt(v - gbar * gbar) + eps
    else:
        avg = np.sqrt(v) + eps
    if buffered:
        b = b * momentum + g / avg
        return x + (-lr) * b, v, gbar, b
    return x + (-lr) * (g / avg), v, gbar, b


def adagrad_update(x, g, s, k, lr, lr_decay, eps, weight_decay):
    """torch.optim.Adagrad's step k: returns ``(x, s)``; the step size is ``lr/(1 + (k − 1)·δ)``."""
    g = select(weight_decay != 0, g + weight_decay * x, g)
    clr = lr / (1 + (k - 1) * lr_decay)
    s = s + g * g
    return x + (-clr) * (g / (np.sqrt(s) + eps)), s
