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
        hyperparameters = self._elements_by_name(hyperparameters)
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

    def _elements_by_name(self, given: dict) -> dict:
        """A pair's elements set by their own names (``beta1=0.8`` for ``betas[0]``, as sweep axes and
        the tuned table name them): folded into the pair, its other element kept."""
        out = dict(given)
        defaults = {f.name: f.default for f in dataclasses.fields(self.cls)}
        for field, h in self.cls.hyperparameters().items():
            named = [(i, n) for i, n in enumerate(h.names or ()) if h.pair and n in out]
            if not named:
                continue
            if field in out:
                raise ValueError(f"{self.name}: give {field} or {', '.join(n for _, n in named)}, not both")
            pair = list(self.fixed.get(field, self.defaults.get(field, defaults[field])))
            for i, n in named:
                pair[i] = out.pop(n)
            out[field] = tuple(pair)
        return out
