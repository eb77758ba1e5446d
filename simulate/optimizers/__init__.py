"""Optimizers: the registry of names, and the lookup that turns a name or spec into an optimizer.

Each family lives in its own module (torch.optim's: :mod:`.sgd`, :mod:`.rmsprop`, :mod:`.adam`,
:mod:`.adagrad`, :mod:`.nadam`, :mod:`.radam`, :mod:`.adamax`, :mod:`.adadelta`, :mod:`.asgd`,
:mod:`.rprop`, :mod:`.adafactor`, :mod:`.lbfgs`, :mod:`.muon`; part 三's :mod:`.steepest` and
:mod:`.polyak`; :mod:`.lion`, :mod:`.sam`, :mod:`.schedule_free`; the schemes :mod:`.schemes`,
:mod:`.nagc`, :mod:`.gameplay`; Lookahead, a setting of any optimizer, in :mod:`.lookahead`) on the protocol of :mod:`.base`; the names it is
registered under are its ``presets()``. An optimizer written outside the package joins them with
:func:`register` (in the process that defines it), or through the entry-point group
``simulate.optimizers`` of an installed package (every new process, the command line included).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable

from .._names import UnknownNameError, lookup
from .._checks import checked
from ..spec import parse_spec
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .asgd import ASGD
from .adafactor import Adafactor
from .rprop import Rprop
from .lbfgs import LBFGS
from .base import Optimizer, State
from .hyper import EMA, hyper, lr_hyper, weight_decay_hyper
from .kernel import Kernel
from .kernels import lerp, select
from .lookahead import Lookahead, lookahead
from .preset import Preset
from .wrappers import Wrapped, configure, setting_as_optimizer, wrap
from .gameplay import GAME_OPTIMIZERS
from .lion import Lion
from .sam import SAM, USAM
from .muon import Muon
from .nagc import NagC
from .polyak import Polyak
from .nadam import NAdam
from .radam import RAdam
from .adamax import Adamax
from .adadelta import Adadelta
from .rmsprop import RMSprop
from .schedule_free import ScheduleFreeAdamW, ScheduleFreeSGD
from .schemes import RK4, Heun, ProximalPoint
from .sparse_adam import REFUSED
from .sgd import SGD
from .steepest import Steepest

__all__ = ["Optimizer", "Preset", "Wrapped", "wrap", "configure", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "State",
           "OPTIMIZERS", "optimizer", "register", "registered", "hyper", "lr_hyper", "weight_decay_hyper", "EMA",
           "Kernel", "select", "lerp", "ENTRY_POINTS", "Lookahead", "lookahead"]

# One family per line, in `simulate list` order: torch.optim's, part 三's steepest descents and the
# Polyak step, the modern ones, the ODE schemes, the game methods. A new module adds its line.
FAMILIES: tuple[type[Optimizer], ...] = (
    SGD,
    RMSprop,
    Adam,
    AdamW,
    Adagrad,
    NAdam,
    RAdam,
    Adamax,
    Adadelta,
    ASGD,
    Rprop,
    Adafactor,
    LBFGS,
    Muon,
    Steepest,
    Polyak,
    Lion,
    SAM,
    USAM,
    ScheduleFreeSGD,
    ScheduleFreeAdamW,
    Heun,
    RK4,
    ProximalPoint,
    NagC,
    *GAME_OPTIMIZERS,
)

#: The entry-point group through which an installed package adds optimizers (each entry: a class).
ENTRY_POINTS = "simulate.optimizers"


def _presets(cls) -> tuple[Preset, ...]:
    return cls.presets() or (Preset(cls.name, cls, cls.description),)


OPTIMIZERS: dict[str, Preset] = {p.name: p for cls in FAMILIES for p in _presets(cls)}
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def _refusal(cls) -> str | None:
    """What keeps ``cls`` from being an optimizer the package can run (None: nothing)."""
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        return "it is not a subclass of simulate.optimizers.Optimizer"
    if "__dataclass_fields__" not in vars(cls) or not cls.__dataclass_params__.frozen:
        return "it is not decorated with @dataclass(frozen=True) (under @register)"
    if cls.name == Optimizer.name:
        return "it has no name (a class attribute such as name = \"my-optimizer\", the name it is used by)"
    if cls.step is Optimizer.step:
        return "it does not define step(state, landscape, k)"
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if "lr" not in cls.hyperparameters():
        return "it has no lr declared with lr_hyper(...) (the time per step is built from it)"
    for f in fields.values():
        if f.name not in cls.hyperparameters() and not isinstance(f.default, bool):
            return (f"its field {f.name!r} is neither a flag (bool) nor declared with hyper(...): a number must say "
                    f"its rule, e.g. {f.name}: float = hyper(0.9, '[0, 1)')")
    for p in _presets(cls):
        if not _NAME.match(p.name):
            return f"its name {p.name!r} is not lower-case letters, digits and single hyphens"
    return None


def register(cls: type[Optimizer] | None = None, *, replace: bool = False):
    """Register an optimizer class (also as a decorator, ``@register``) under its ``name`` (or
    its ``presets()``), so that it works by name everywhere a built-in does: specs, every
    command, sweeps, orders, run records and ``rerun``. An existing name is refused unless
    ``replace`` is true (a built-in name never is replaced)."""
    if cls is None:
        return lambda c: register(c, replace=replace)
    why = _refusal(cls)
    if why:
        raise ValueError(f"cannot register {getattr(cls, '__name__', cls)!r}: {why}")
    for p in _presets(cls):
        held = OPTIMIZERS.get(p.name)
        if held is not None and _same_class(held.cls, cls):  # the same class defined again (a re-run cell)
            continue
        if held is not None and held.cls is not cls and (not replace or held.cls in FAMILIES):
            raise ValueError(f"cannot register {cls.__name__!r}: the name {p.name!r} is taken by "
                             f"{held.cls.__module__}.{held.cls.__name__}" + ("" if held.cls in FAMILIES else
                                                                             "; pass replace=True to replace it"))
    OPTIMIZERS.update({p.name: p for p in _presets(cls)})
    return cls


def _same_class(a, b) -> bool:
    return a is b or (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


_plugins_loaded = False


def registered() -> dict[str, Preset]:
    """Every registered name (:data:`OPTIMIZERS`), the optimizers of installed packages included:
    those of the entry-point group ``simulate.optimizers``, loaded on the first call (not at
    import, so that a plugin module that imports simulate is never loaded half-made). A broken
    plugin is named on stderr and skipped: it must not stop the package."""
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINTS):
            try:
                register(ep.load(), replace=True)
            except Exception as exc:  # noqa: BLE001 - any failure of someone else's package
                print(f"simulate: skipped the optimizer plugin {ep.name!r} ({ep.value}): {exc}", file=sys.stderr)
    return OPTIMIZERS


@checked(name="optimizer")
def optimizer(name: str | Optimizer, **hyperparameters) -> Optimizer:
    """An optimizer by name with torch's defaults, e.g. ``optimizer("adam", lr=1e-2)``.

    A spec string works too: ``optimizer("adam(lr=0.01, betas=(0.9, 0.99))")``.
    ``gd``, ``momentum`` and ``nesterov`` are presets of ``sgd``. Unknown names and hyperparameters
    raise an error listing the valid ones with the closest match.
    """
    if isinstance(name, Optimizer):
        return configure(name, **hyperparameters) if hyperparameters else name
    instead = setting_as_optimizer(name) if isinstance(name, str) else None
    if instead and re.split(r"[(:]", name.strip().lower().replace("_", "-"))[0].strip() not in registered():
        raise UnknownNameError(instead)  # lookahead(adam): a setting, not an optimizer around another
    if "(" in name or ":" in name:  # a spec such as "adam(lr=0.01, betas=(0.9, 0.99))"
        name, spec_params = parse_spec(name)
        hyperparameters = {**spec_params, **hyperparameters}
    key = str(name).strip().lower().replace("_", "-")
    if key in REFUSED and key not in registered():
        raise ValueError(REFUSED[key])
    try:
        preset: Callable[..., Optimizer] = lookup("optimizer", name, OPTIMIZERS if key in OPTIMIZERS else registered())
    except UnknownNameError as exc:
        raise UnknownNameError(f"{exc} An optimizer registered in Python is known only to the process that "
                               f"registered it; install it with an entry point ({ENTRY_POINTS}) to use it in "
                               f"every process (docs/how-to/add-an-optimizer.md).") from None
    return preset(**hyperparameters)

