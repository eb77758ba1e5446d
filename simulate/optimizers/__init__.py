"""Optimizers: the registry of names, and the lookup that turns a name or spec into an optimizer.

Each family lives in its own module (:mod:`.sgd`, :mod:`.rmsprop`, :mod:`.adam`, :mod:`.adagrad`,
:mod:`.schemes`, :mod:`.nagc`, :mod:`.gameplay`) on the protocol of :mod:`.base`; the names it is
registered under are its ``presets()``.
"""

from __future__ import annotations

from collections.abc import Callable

from .._names import lookup
from ..spec import parse_spec
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .base import Optimizer, State
from .preset import Preset
from .wrappers import Wrapped, configure, wrap
from .gameplay import GAME_OPTIMIZERS
from .nagc import NagC
from .rmsprop import RMSprop
from .schemes import RK4, Heun, ProximalPoint
from .sgd import SGD

__all__ = ["Optimizer", "Wrapped", "wrap", "configure", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "State", "OPTIMIZERS", "optimizer"]

FAMILIES: tuple[type[Optimizer], ...] = (SGD, RMSprop, Adam, AdamW, Adagrad, Heun, RK4, ProximalPoint, NagC,
                                         *GAME_OPTIMIZERS)

OPTIMIZERS: dict[str, Preset] = {p.name: p for cls in FAMILIES
                                 for p in cls.presets() or (Preset(cls.name, cls, cls.description),)}

def optimizer(name: str | Optimizer, **hyperparameters) -> Optimizer:
    """An optimizer by name with torch's defaults, e.g. ``optimizer("adam", lr=1e-2)``.

    A spec string works too: ``optimizer("adam(lr=0.01, betas=(0.9, 0.99))")``.
    ``gd``, ``momentum`` and ``nesterov`` are presets of ``sgd``. Unknown names and hyperparameters
    raise an error listing the valid ones with the closest match.
    """
    if isinstance(name, Optimizer):
        return configure(name, **hyperparameters) if hyperparameters else name
    if "(" in name or ":" in name:  # a spec such as "adam(lr=0.01, betas=(0.9, 0.99))"
        name, spec_params = parse_spec(name)
        hyperparameters = {**spec_params, **hyperparameters}
    preset: Callable[..., Optimizer] = lookup("optimizer", name, OPTIMIZERS)
    return preset(**hyperparameters)

