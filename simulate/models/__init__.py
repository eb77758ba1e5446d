r"""Continuous models of an optimizer: which ODE, on which clock, under which scaling of β with lr.

An optimizer has several continuous models, one per way its hyperparameters behave as lr → 0
(theory §1.2). Each optimizer declares its own in its module (``Optimizer.models()``); this
package holds the protocol (:mod:`.base`: :class:`Flow`, the exact lift, the kinds), the models
several families share (:mod:`.gradient`), and the lookup :func:`flow`:

============== ==========================================================  =======  =========
kind           model                                                       h        scaling
============== ==========================================================  =======  =========
``exact``      the exact lift: one step = one semi-implicit Euler step     lr       linear
``limit``      lr → 0 with β fixed: ẋ = −∇f/(1 − μ) (SGD family), the       lr       fixed
               sign flow ẋ = −g/(|g| + ε) (RMSprop, Adam); NAG-C's ODE      √lr
``modified``   backward error analysis, first order: GD ẋ = −∇(f + lr/4·    lr       fixed
               |∇f|²), heavy ball/Nesterov with fixed β, proximal point
``modified2``  GD's modified flow to second order (Hairer–Lubich–Wanner)   lr       fixed
``oscillator`` heavy ball / Nesterov with 1 − μ = γ√lr: ẍ + γẋ + ∇f = 0    √lr      sqrt
``highres``    Shi et al.'s high-resolution ODEs (HB, NAG-SC, NAG-C)       √lr      sqrt
``ema``        Adam with 1 − βᵢ = aᵢ·lr: Barakat & Bianchi's ODE            lr       linear
============== ==========================================================  =======  =========

Scalings: ``fixed`` keeps every hyperparameter but lr; ``linear`` keeps ``(1 − β)/lr`` for the
optimizer's EMA coefficients (momentum and dampening, RMSprop's alpha, Adam's betas); ``sqrt``
keeps ``(1 − μ)/√lr``. :func:`flow` builds a model by kind and says which kinds an optimizer has.
"""

from __future__ import annotations


import numpy as np

from .._names import lookup
from .._signature import public
from .base import KINDS, SCALINGS, ExactFlow, Flow, Kind, third_derivative

__all__ = ["energy_along", "Flow", "ExactFlow", "Kind", "KINDS", "FLOWS", "SCALINGS", "flow", "available_flows",
           "rescale", "third_derivative", "no_model"]


# ------------------------------------------------------------------------------------------------
#: The kinds of model by name (each with its ``summary``); which ones an optimizer has, it says.
FLOWS = KINDS


def energy_along(traj) -> tuple[np.ndarray | None, str]:
    """The Lyapunov energy of an integrated flow at its samples, ``(T, *batch)``, and its name.

    ``(None, "")`` when the flow has no known energy or the record holds no state (iterates).
    """
    from ..landscapes.games import is_game

    if traj.kind != "flow" or traj.state is None:
        return None, ""
    if is_game(traj.landscape):  # a game's field is no gradient: f (½|ξ|²) is no Lyapunov function
        return None, ""
    model = flow(traj.optimizer, traj.flow or None)
    t = np.asarray(traj.t)
    t = t.reshape(t.shape + (1,) * (traj.x.ndim - 1 - t.ndim))  # (T,) -> (T, 1, ...) against the batch
    with np.errstate(all="ignore"):
        E = model.energy(np.broadcast_to(t, traj.x.shape[:-1]), traj.state, traj.landscape)
    return (None, "") if E is None else (E, model.energy_name)


def _kinds(opt) -> list[str]:
    """Every kind ``opt`` could have: the named kinds in order, then any it declares of its own."""
    return [*KINDS, *(k for k in opt.models() if k not in KINDS)]


def _model(opt, kind: str) -> tuple[type[Flow] | None, str]:
    """``(the model class, "")`` when ``opt`` has the kind, else ``(None, why not)``."""
    entry = opt.models().get(kind)
    if entry is None:
        return None, KINDS[kind].refusal(opt) if kind in KINDS else f"{opt.display_name} has no {kind} model"
    if isinstance(entry, str):
        return None, entry
    why = entry.unsupported(opt)
    return (None, why) if why else (entry, "")


def available_flows(opt) -> list[str]:
    """The kinds of continuous model that exist for ``opt``."""
    return [kind for kind in _kinds(opt) if _model(opt, kind)[0] is not None]


def no_model(opt) -> str:
    """Why ``opt`` has no continuous model of any kind ("" when it has one): such an optimizer is
    drawn and compared by its iterates alone (a switched system such as Rprop has no ODE limit)."""
    if available_flows(opt):
        return ""
    return _model(opt, opt.default_flow)[1] or f"{opt.display_name} declares no continuous model"


@public
def flow(optimizer, kind: str | Flow | None = None) -> Flow:
    """The continuous model ``kind`` of ``optimizer`` (default: the optimizer's own, ``exact`` for torch's).

    Unknown kinds suggest the valid ones; a kind the optimizer does not have says why and lists
    the ones it has.
    """
    opt = optimizer
    if isinstance(kind, Flow):
        if kind.optimizer is not opt and kind.optimizer.spec != opt.spec:
            raise ValueError(f"the flow given is a model of {kind.optimizer.label}, not of {opt.label}")
        return kind
    name = str(kind or opt.default_flow).strip().lower().replace("_", "-")
    lookup("flow", name, dict.fromkeys(_kinds(opt)))
    cls, why = _model(opt, name)
    exact = name == "exact"
    if not why and opt.transformed and not exact:
        raise ValueError(f"{name} flow: it is derived for the plain gradient, and {opt.label} clips or "
                         f"scales it; the exact lift carries the transforms (ẋ = −clip(∇f), ẋ = −P∇f); use flow 'exact'")
    _, exact_missing = _model(opt, "exact")
    if not why and (opt.schedule is not None or opt.transformed) and not exact and exact_missing:
        raise ValueError(f"{name} flow: it assumes a constant lr and the plain gradient, and {opt.display_name} "
                         f"has no exact lift that could carry a schedule or transforms ({exact_missing})")
    if not why and opt.schedule is not None and not exact:
        why = (f"it assumes a constant lr, and {opt.display_name} runs the schedule {opt.schedule.spec}; the exact "
               f"lift follows the schedule (its buffers relax at (1 − β)/lr(t))")
        raise ValueError(f"{name} flow: {why}; use flow 'exact'")
    if why:
        has = available_flows(opt)
        raise ValueError(f"{name} flow: {why}; " + (
            f"{opt.display_name} has: {', '.join(has)}" if has else
            f"{opt.display_name} has no continuous model of any kind (plot draws its iterates alone without --flow)"))
    return cls(opt)


def rescale(opt, lr, scaling: str, reference_lr=None):
    """``opt`` at learning rate ``lr``, its hyperparameters moved so that a model stays fixed.

    Each hyperparameter's declared ladder (:class:`simulate.optimizers.hyper.Ladder`) says how:
    ``fixed``: only lr changes. ``linear``: every EMA coefficient β keeps ``(1 − β)/lr`` (SGD's
    momentum only where it is non-zero, dampening along with it), and Adagrad keeps
    ``lr²·initial_accumulator_value``, so the exact lift stays the same ODE. ``sqrt``: the
    coefficients declared for it keep ``(1 − β)/√lr`` (heavy ball's and Nesterov's momentum, which
    must then be > 0). ``reference_lr`` defaults to ``opt.lr``.
    """
    lookup("scaling", scaling, SCALINGS)
    ref = np.asarray(opt.lr if reference_lr is None else reference_lr, dtype=np.float64)
    ratio = np.asarray(lr, dtype=np.float64) / ref
    changes = {"lr": np.asarray(lr, dtype=np.float64)}
    moving = {f: h for f, h in opt.hyperparameters().items() if h.ladder is not None and scaling in h.ladder.powers}
    if scaling == "sqrt" and (not moving or any(h.gate is not None and np.any(getattr(opt, h.gate) == 0)
                                                for h in moving.values())):
        raise ValueError(f"the sqrt scaling (1 − μ ∝ √lr) moves a momentum > 0 (heavy ball, Nesterov); "
                         f"{opt.display_name} has none declared for it")
    for f, h in moving.items():
        value = getattr(opt, f)
        moved = tuple(h.ladder.moved(v, ratio, scaling) for v in value) if h.pair else \
            h.ladder.moved(np.asarray(value), ratio, scaling)
        if h.gate is not None:  # only where the gate is on (momentum 0 stays plain GD)
            moved = np.where(np.asarray(getattr(opt, h.gate)) != 0, moved, value)
        changes[f] = moved
    try:
        return opt.replace(**{k: (v[()] if isinstance(v, np.ndarray) and v.ndim == 0 else v)
                                           for k, v in changes.items()})
    except ValueError as exc:
        raise ValueError(f"cannot rescale {opt.label} to lr={lr} under the {scaling} scaling: {exc}") from None
