"""Validation at the edge: names to objects, and a start point checked against the landscape."""

from __future__ import annotations

import numpy as np

from ..landscapes import Landscape, landscape as get_landscape
from ..optimizers import Optimizer, optimizer as get_optimizer


def _parses(make, text: str) -> bool:
    try:
        make(text)
    except Exception:  # any refusal means: not this kind of spec
        return False
    return True


def is_optimizer(value, several: bool = False) -> bool:
    """Whether ``value`` (in a landscape's place) is an optimizer: an ``Optimizer``, text that parses
    as an optimizer and not as a landscape, or (``several``) a non-empty list of those."""
    if isinstance(value, Optimizer):
        return True
    if isinstance(value, str):
        return _parses(get_optimizer, value) and not _parses(get_landscape, value)
    if several and isinstance(value, (list, tuple)) and value:
        return all(is_optimizer(v) for v in value)
    return False


def resolve(opt, land, x0) -> tuple[Optimizer, Landscape, np.ndarray]:
    """``(optimizer, landscape, start)`` from names or objects; ``x0=None`` is the landscape's start."""
    opt = opt if isinstance(opt, Optimizer) else get_optimizer(opt)
    land = land if isinstance(land, Landscape) else get_landscape(land)
    x0 = land.default_start if x0 is None else np.asarray(x0, dtype=np.float64)
    if x0.ndim == 0 and land.dim == 1:  # a number is a point of a 1-D landscape
        x0 = x0.reshape(1)
    if x0.ndim == 0 or x0.shape[-1] != land.dim:
        got = "a scalar" if x0.ndim == 0 else f"{x0.shape[-1]} coordinates"
        raise ValueError(f"start point has {got}, but {land.name} is {land.dim}-dimensional")
    if not np.all(np.isfinite(x0)):
        raise ValueError("start point must be finite")
    try:
        np.broadcast_shapes(x0.shape[:-1], opt.batch_shape)
    except ValueError:
        raise ValueError(f"start points of batch shape {x0.shape[:-1]} do not broadcast against "
                         f"the hyperparameter arrays of shape {opt.batch_shape}") from None
    return opt, land, x0
