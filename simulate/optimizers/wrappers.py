"""Schedules and gradient transforms composed around any optimizer (the idea of optax's ``chain``).

An optimizer is its update and nothing else. :class:`Wrapped` puts around it

* a learning-rate ``schedule`` (:mod:`simulate.optimizers.schedules`): step k runs the inner
  optimizer at ``lr_k`` (``at_lr``), and its exact lift runs on the schedule's clock;
* ``clip_norm`` / ``clip_value``: the inner optimizer receives the clipped gradient
  (:func:`~simulate.optimizers.transforms.seen_by`), in the discrete step and in the lift;
* ``lr_scale``: a learning rate per coordinate, the update (and the lift's ẋ) scaled coordinatewise.

``optimizer("gd(lr=0.1, clip_norm=1)")`` and ``wrap(opt, schedule="cosine")`` build one; its
``spec`` lists the inner optimizer's hyperparameters, then the wrapper's, so
``optimizer(opt.spec) == opt``. Everything else (hyperparameters, state, update, models,
thresholds) is the inner optimizer's: the wrapper answers the protocol by asking it, and the
consumers (the discrete loop, the exact lift, sweeps) read ``schedule``, ``clip_norm``,
``clip_value``, ``lr_scale`` from whatever they are given (``None`` on a bare optimizer).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np

from ..spec import SpecError, format_value, parse_spec
from .base import Optimizer
from .transforms import check_transforms

__all__ = ["Wrapped", "TRANSFORMS", "wrap", "configure", "setting_as_optimizer"]

#: The settings a wrapper holds, in the order a spec lists them (after the hyperparameters).
TRANSFORMS = ("schedule", "clip_norm", "clip_value", "lr_scale")
#: Settings that put another optimizer around the inner one, inside the wrapper: the setting's name ->
#: ``compose(optimizer, value)`` (:mod:`.lookahead` adds ``lookahead``, so that this module needs none).
COMPOSED: dict = {}
#: Each setting as a spec writes it, and what it does: for the message that answers ``lookahead(adam)``
#: (a composed setting's module adds its own line).
SPELLING = {"schedule": ("'cosine'", "a learning-rate schedule, schedule='NAME(...)'"),
            "clip_norm": ("1", "the gradient clipped to norm C before every step, clip_norm=C"),
            "clip_value": ("1", "each gradient coordinate clamped to [−V, V], clip_value=V"),
            "lr_scale": ("(1, 10)", "a learning rate per coordinate, lr_scale=(s1, s2, ...)")}


@dataclass(frozen=True)
class Wrapped(Optimizer):
    """``inner`` with a schedule and/or gradient transforms around it (see the module's docstring)."""

    inner: Optimizer = None
    schedule: object = None
    clip_norm: object = None
    clip_value: object = None
    lr_scale: object = None

    def __post_init__(self):
        inner = self.inner
        if isinstance(inner, Wrapped):  # a wrapper of a wrapper is one wrapper: the outer settings win
            own = {k: v for k, v in self.settings().items() if v is not None}
            object.__setattr__(self, "inner", inner.inner)
            for k, v in {**inner.settings(), **own}.items():
                object.__setattr__(self, k, v)
        for name in ("clip_norm", "clip_value"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise ValueError(f"{self.display_name}: {name} must be a positive number, got {value!r}")
                object.__setattr__(self, name, float(value))
        s = self.lr_scale
        if s is not None:
            try:
                s = tuple(float(v) for v in (s if isinstance(s, (tuple, list, np.ndarray)) else (s,)))
            except (TypeError, ValueError):
                raise ValueError(f"{self.display_name}: lr_scale must be numbers, one per coordinate, got {s!r}") from None
            object.__setattr__(self, "lr_scale", s)
        check_transforms(self)
        if self.schedule is not None:
            from .schedules import schedule as make_schedule

            try:
                object.__setattr__(self, "schedule", make_schedule(self.schedule))
            except ValueError as exc:
                raise ValueError(f"{self.display_name}: schedule: {exc}") from None
        self.batch_shape  # raises if a swept schedule does not broadcast against the hyperparameters

    def __getattr__(self, name):  # hyperparameters and family methods (momentum, nesterov, limit_speed, …)
        if name == "inner":  # not yet set (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def settings(self) -> dict:
        """The wrapper's own settings, by name (``None`` where unset)."""
        return {k: getattr(self, k) for k in TRANSFORMS}

    # -- what the wrapper changes -----------------------------------------------------------
    @property
    def transformed(self) -> bool:
        return any(getattr(self, n) is not None for n in ("clip_norm", "clip_value", "lr_scale"))

    @property
    def batch_shape(self):
        grid = getattr(self.schedule, "shape", ())  # a schedule whose parameters a sweep varies
        try:
            return np.broadcast_shapes(self.inner.batch_shape, grid)
        except ValueError:
            raise ValueError(f"{self.name}: the schedule's swept values of shape {grid} do not broadcast against "
                             f"the hyperparameters' {self.inner.batch_shape}") from None

    def member(self, index, batch_shape=None):
        shape = self.batch_shape if batch_shape is None else batch_shape
        schedule = self.schedule.at(index, shape) if hasattr(self.schedule, "at") else self.schedule
        return dataclasses.replace(self, inner=self.inner.member(index, shape), schedule=schedule)

    def replace(self, **changes):
        own = {k: changes.pop(k) for k in TRANSFORMS if k in changes}
        inner = configure(self.inner, **changes) if changes else self.inner
        return configure(inner, **{**self.settings(), **own})

    def lrs(self, steps: int) -> np.ndarray:
        if self.schedule is None:
            return self.inner.lrs(steps)
        return self.schedule.lrs(self.inner.lr, steps)

    def at_lr(self, lr):
        """The inner optimizer at a constant ``lr``, its transforms kept, no schedule."""
        return configure(self.inner.at_lr(lr), **{**self.settings(), "schedule": None})

    def clock(self, steps: int):
        from .schedules import ScheduleClock

        lrs = np.asarray(self.lrs(steps), dtype=np.float64)
        return ScheduleClock(np.asarray(self.inner.at_lr(lrs).time_per_step, dtype=np.float64), lrs)

    def _changed(self) -> dict:
        return {**self.inner._changed(), **{k: v for k, v in self.settings().items() if v is not None}}

    def seen(self, landscape):
        return Optimizer.seen(self, landscape)

    # The rest of the protocol is the inner optimizer's (its hyperparameters, state, update, models,
    # thresholds, …): answered below by asking it, so that no method has to be listed twice.


def _delegate(name: str):
    return property(lambda self: getattr(self.inner, name), doc=f"the inner optimizer's ``{name}``")


_OWN = set(vars(Wrapped)) | {"label", "spec"}  # label and spec read _changed: the base's, on the wrapper
for _name in vars(Optimizer):
    if not _name.startswith("__") and _name not in _OWN:
        setattr(Wrapped, _name, _delegate(_name))


def configure(opt: Optimizer, **changes) -> Optimizer:
    """``opt`` with ``changes``: hyperparameters go to the optimizer, schedule and transforms to
    its wrapper (made, kept or dropped as the settings require)."""
    if isinstance(opt, Wrapped):
        return opt.replace(**changes)
    settings = {k: changes.pop(k) for k in (*TRANSFORMS, *COMPOSED) if k in changes}
    opt = opt.replace(**changes) if changes else opt
    return wrap(opt, **settings)


def wrap(opt: Optimizer, schedule=None, clip_norm=None, clip_value=None, lr_scale=None, **composed) -> Optimizer:
    """``opt`` with a schedule and gradient transforms around it (itself when none is given);
    a :data:`COMPOSED` setting (``lookahead=(5, 0.5)``) puts its optimizer around it first, inside them."""
    for name, value in composed.items():
        if name not in COMPOSED:
            raise TypeError(f"wrap() got an unexpected setting {name!r}")
        if value is not None:
            opt = COMPOSED[name](opt, value)
    settings = {"schedule": schedule, "clip_norm": clip_norm, "clip_value": clip_value, "lr_scale": lr_scale}
    if all(v is None for v in settings.values()):
        return opt
    return Wrapped(opt, **settings)


def setting_as_optimizer(text: str) -> str | None:
    """What to write instead when ``text`` uses a setting of every optimizer as if it were an
    optimizer (``lookahead(adam)``, ``clip_norm``): the setting goes inside the optimizer's spec,
    ``adam(lookahead=(5, 0.5))``. None when ``text`` does not start with a setting's name."""
    m = re.fullmatch(r"\s*([A-Za-z][\w-]*)\s*(?:\((.*)\)|:.*)?\s*", str(text), flags=re.S)
    setting = m.group(1).lower().replace("-", "_") if m else None
    if setting not in (*COMPOSED, *TRANSFORMS):
        return None
    example, what = SPELLING.get(setting, ("...", setting))
    name, params = "adam", {}
    inner = _first_argument(m.group(2) or "")
    if inner and "=" not in inner.split("(")[0]:  # lookahead(adam) or lookahead(adam(lr=0.01)): that optimizer
        try:
            name, params = parse_spec(inner)
        except SpecError:
            pass
    spelled = ", ".join([*(f"{k}={format_value(v)}" for k, v in params.items() if k != setting), f"{setting}={example}"])
    return (f"{m.group(1)} is not an optimizer: it is a setting that every optimizer takes ({what}); write it inside "
            f"the optimizer's spec, e.g. {name}({spelled})")


def _first_argument(args: str) -> str:
    """The text before the first comma outside brackets: ``"adam(lr=1, eps=2), k=5"`` -> ``"adam(lr=1, eps=2)"``."""
    depth = 0
    for i, ch in enumerate(args):
        depth += 1 if ch in "([" else -1 if ch in ")]" else 0
        if ch == "," and depth == 0:
            return args[:i].strip()
    return args.strip()
