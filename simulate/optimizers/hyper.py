"""Hyperparameters declared once: a dataclass field whose metadata says everything the package
needs to know about it.

An optimizer declares ``momentum: float = hyper(0.0, "[0, 1)", ladder=EMA, slider=(0.0, 0.99))``
and that one line drives

* validation (:meth:`Optimizer.__post_init__`: cast to read-only float64 arrays, the rule checked
  elementwise, the error naming the hyperparameter, the rule and the offending values);
* spec parsing and labels (the field's name and default);
* sweep axes and explorer sliders (``sweep``, ``slider``; a pair such as Adam's ``betas`` gives
  the axes ``betas[0]``/``beta1`` and ``betas[1]``/``beta2``);
* the order ladder (``ladder``: how the hyperparameter moves when lr is cut, so that a
  continuous model stays the same ODE; :func:`simulate.models.rescale`).

Structural flags (``nesterov``, ``centered``, ``amsgrad``) stay plain ``bool`` fields.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Hyper", "Ladder", "hyper", "declared", "declaration", "lr_hyper", "weight_decay_hyper", "EMA", "INVERSE_LR2"]


@dataclass(frozen=True)
class Ladder:
    """How a hyperparameter moves on an order ladder when lr becomes ``r·lr``.

    ``powers[scaling]`` is the power p of r under that scaling (scalings not listed leave the
    value alone). ``kind``: ``"ema"`` for an EMA coefficient β, which keeps ``(1 − β)/lr^p``
    (β → 1 − (1 − β)·r^p); ``"scale"`` for a value that is multiplied by r^p.
    """

    kind: str
    powers: Mapping[str, float]

    def moved(self, value, ratio, scaling: str):
        p = self.powers[scaling]
        return 1 - (1 - value) * ratio**p if self.kind == "ema" else value * ratio**p


#: An EMA coefficient that keeps (1 − β)/lr on the linear ladder (the exact lift held fixed).
EMA = Ladder("ema", {"linear": 1.0})
#: A value that keeps value·lr² on the linear ladder (Adagrad's accumulator on the clock lr²).
INVERSE_LR2 = Ladder("scale", {"linear": -2.0})


@dataclass(frozen=True)
class Hyper:
    """What one numeric hyperparameter is (the metadata of a :func:`hyper` field)."""

    rule: str = ""                                   # "must be in [0, 1)": the error's wording
    check: Callable[[np.ndarray], np.ndarray] | None = None  # True where a value obeys the rule
    pair: bool = False                               # a pair of numbers (betas), each checked alone
    names: tuple[str, ...] = ()                      # extra axis names of a pair's elements (beta1, beta2)
    ladder: Ladder | None = None                     # None: fixed when lr moves on a ladder
    gate: str | None = None                          # it acts only where this one is non-zero
    slider: tuple | None = None                      # the explorer's (low, high, log scale); a pair: one each
    sweep: bool = True                               # whether a sweep axis may vary it
    whole: bool = False                              # only whole numbers (a count of steps): sliders snap to them


_INTERVAL = re.compile(r"^([\[(])\s*(\S+)\s*,\s*(\S+)\s*([\])])$")
_BOUND = re.compile(r"^(>=|>|<=|<)\s*(\S+)$")


def _rule(text: str, note: str) -> tuple[str, Callable | None]:
    """``"[0, 1)"`` or ``"> 0"`` -> (the error's wording, the elementwise check)."""
    if not text:
        return "", None
    interval, bound = _INTERVAL.match(text), _BOUND.match(text)
    if interval:
        lo_closed, lo, hi, hi_closed = interval.group(1) == "[", float(interval.group(2)), float(interval.group(3)), \
            interval.group(4) == "]"

        def check(v, lo=lo, hi=hi, lo_closed=lo_closed, hi_closed=hi_closed):
            return ((v >= lo) if lo_closed else (v > lo)) & ((v <= hi) if hi_closed else (v < hi))

        wording = f"must be in {text}"
    elif bound:
        op, limit = bound.group(1), float(bound.group(2))
        ops = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}

        def check(v, op=ops[op], limit=limit):
            return op(v, limit)

        wording = f"must be {text}"
    else:
        raise ValueError(f"a hyperparameter rule is an interval such as '[0, 1)' or a bound such as '> 0', got {text!r}")
    return (f"{wording} ({note})" if note else wording), check


def hyper(default, rule: str = "", *, note: str = "", pair: bool = False, names: tuple[str, ...] = (),
          ladder: Ladder | None = None, gate: str | None = None, slider: tuple | None = None, sweep: bool = True,
          whole: bool = False):
    """A numeric hyperparameter field: ``default`` (torch's), the ``rule`` its values obey
    (``"[0, 1)"``, ``"> 0"``, ``">= 0"``; ``note`` says why, in the error), and the rest of
    :class:`Hyper`. ``gate``: the hyperparameter acts only in members where that one is non-zero
    (torch ignores dampening without momentum): a ladder moves it only there, and a preset that
    fixes the gate at 0 offers no slider for it. ``slider`` is ``(low, high)`` or ``(low, high, "log")`` (for a pair, one such
    range per element). ``whole``: it takes whole numbers only (a count of steps; the optimizer's
    own rule refuses others), so a slider moves in steps of 1."""
    wording, check = _rule(rule, note)
    if slider is not None:
        slider = tuple(_range(s) for s in slider) if pair else _range(slider)
    meta = Hyper(wording, check, pair, tuple(names), ladder, gate, slider, sweep, bool(whole))
    return field(default=default, metadata={"hyper": meta})


def _range(slider) -> tuple[float, float, bool]:
    return float(slider[0]), float(slider[1]), len(slider) > 2 and slider[2] == "log"


def declared(cls) -> dict[str, Hyper]:
    """The numeric hyperparameters of an optimizer class, in field order."""
    return {f.name: f.metadata["hyper"] for f in dataclasses.fields(cls) if "hyper" in f.metadata}


def declaration(opt, field: str) -> Hyper | None:
    """The declaration of ``opt``'s hyperparameter ``field``: its own, or that of the optimizer it
    is composed around (``inner``: the lr of adam with Lookahead around it is adam's; Lookahead's
    own ``hyperparameters()`` are k and alpha), or None (no such hyperparameter)."""
    while opt is not None:
        hypers = opt.hyperparameters()
        if field in hypers:
            return hypers[field]
        opt = getattr(opt, "inner", None)
    return None


def declarations(opt) -> dict[str, Hyper]:
    """Every hyperparameter ``opt`` runs with, and its declaration: those of the optimizer it is
    composed around (``inner``) first, then its own (adam's lr, betas, eps, then Lookahead's k, alpha)."""
    inner = getattr(opt, "inner", None)
    return {**(declarations(inner) if inner is not None else {}), **opt.hyperparameters()}


def lr_hyper(default: float, slider: tuple = (1e-4, 1.0, "log")):
    """``lr``, as every optimizer has it: > 0, since the time per step is built from it. ``slider``:
    the range the explorer and :func:`simulate.tune` search (an optimizer whose step parameter lives
    on another scale, Polyak's c in (0, 2), says so)."""
    return hyper(default, "> 0", note="the time per step is built from it", slider=slider)


def adam_betas_hyper():
    """Adam's ``betas`` (β₁, β₂): the EMA coefficients of g and g², torch's (0.9, 0.999), each element a
    sweep axis by its own name (beta1, beta2) and moved by the order ladder's EMA scaling."""
    return hyper((0.9, 0.999), "[0, 1)", pair=True, names=("beta1", "beta2"), ladder=EMA,
                 slider=((0.0, 0.999), (0.9, 0.9999)))


def weight_decay_hyper(default: float = 0.0):
    """``weight_decay`` λ (torch's coupled L2 term, or AdamW's decoupled one)."""
    return hyper(default, ">= 0", slider=(0.0, 1.0))
