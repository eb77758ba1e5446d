"""A registry entry: the name a user types, the class it makes, and the defaults and flags it fixes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .._names import UnknownNameError, suggest
from .base import Optimizer, _same
from .wrappers import COMPOSED, TRANSFORMS, wrap

__all__ = ["Preset"]


@dataclass(frozen=True)
class Preset:
    """A registry entry: a class, defaults that differ from torch's, and flags the name fixes.

    Calling it makes the optimizer; ``schedule``, ``clip_norm``, ``clip_value`` and ``lr_scale``
    are taken too, and wrap it (:mod:`simulate.optimizers.wrappers`)."""

    name: str
    cls: type[Optimizer]
    description: str
    defaults: dict = dataclasses.field(default_factory=dict)
    fixed: dict = dataclasses.field(default_factory=dict)

    def __call__(self, **hyperparameters) -> Optimizer:
        valid = [f.name for f in dataclasses.fields(self.cls)] + list(TRANSFORMS) + list(COMPOSED)
        for key in hyperparameters:
            if key not in valid:
                raise UnknownNameError(suggest("hyperparameter", key, valid).replace(
                    "unknown hyperparameter", f"{self.name} has no hyperparameter"))
        for key, value in self.fixed.items():
            if key in hyperparameters and not _same(hyperparameters[key], value):
                raise ValueError(f"{self.name}: the name fixes {key}={value!r}; use '{self.cls.name}' to set it freely")
        settings = {k: hyperparameters.pop(k) for k in (*TRANSFORMS, *COMPOSED) if k in hyperparameters}
        try:
            return wrap(self.cls(**{**self.defaults, **hyperparameters, **self.fixed}), **settings)
        except ValueError as exc:  # speak of the name the user typed ("momentum", not "sgd")
            message = str(exc)
            prefix = f"{self.cls.name}:"
            raise ValueError(f"{self.name}:{message[len(prefix):]}" if message.startswith(prefix) else message) from None
