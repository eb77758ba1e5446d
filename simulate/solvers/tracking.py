"""What a sweep measures at every step, handed to the compiled loop as data.

A sweep's tracked metrics (``steps_to_tol``, ``rate``, ``verdict``; :mod:`simulate.analysis.sweep`)
watch every step of every cell. The numpy loop measures them with per-step visitors; the compiled
loop (:mod:`simulate.solvers.engine`) measures the same quantities in its own pass over each block
of members, from a :class:`Tracking` plan: which criterion, which measure of progress, and the
steps at which each window opens, is watched and closes, laid out as flat tables so that the
loop reads them by step. The analysis defines the windows; this module only lays them out.

What the loop keeps per member (:class:`Tracked`) is what the visitors keep: the first step that
met the criterion, the latest window's rate, the two verdict envelopes, the measure at the last
step and the bounding box of the last half. Distances are kept squared and rooted where they are
read: the root is monotone and correctly rounded, so the root of the largest square is the
largest root, the same bits as the visitors' norms.
"""

from __future__ import annotations

import functools
import heapq
from dataclasses import dataclass

import numpy as np

__all__ = ["Tracking", "Tracked", "CRITERIA", "MAX_RATE_MINIMA", "default_plan"]

#: The rate tracks the distance to the nearest listed minimum every step: up to this many minima.
MAX_RATE_MINIMA = 64

#: What ``steps_to_tol`` tests: ``f − f* <= tol`` ("value"), ``|∇f| <= tol`` ("grad"), or nothing ("").
CRITERIA = ("value", "grad", "")
# The loop's per-step flags (bits of Tracking.schedules()["need"]).
RATE, VERDICT_FIRST, VERDICT_LAST, FINAL, SPREAD = 1, 2, 4, 8, 16


@dataclass(frozen=True, eq=False)
class Tracking:
    """The plan of a run's tracked metrics over ``steps`` steps.

    ``criterion``/``tol``/``fstar``: the criterion of ``steps_to_tol`` (see :data:`CRITERIA`).
    ``minima``: ``(m, d)``; the measure of progress is the distance to the nearest one, or ``|∇f|``
    where there are none (then ``windows`` is empty: the rate is measured by distance only).
    ``windows``: the rate's windows ``(a, b, L)``: envelopes (largest measure) over ``[a − L, a]`` and
    ``[b − L, b]``, closed at step b into ``(D_b/D_a)^(1/(b − a))`` where ``D_b > floor``.
    ``verdict``: the verdict's two envelope windows ``((a1, b1), (a2, b2))``, or ``()`` for none;
    with them the measure at the last step and the bounding box of the points over the last half.
    """

    steps: int
    criterion: str
    tol: float
    fstar: float
    minima: np.ndarray
    windows: tuple = ()
    floor: float = 0.0
    verdict: tuple = ()

    def __post_init__(self):
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {self.criterion!r}")
        if self.windows and not len(self.minima):
            raise ValueError("the rate is measured by the distance to a listed minimum: give minima with windows")

    @property
    def layout(self) -> tuple:
        """What the generated code depends on (part of the compiled variant's key)."""
        return (self.criterion, "distance" if len(self.minima) else "grad", bool(self.windows), bool(self.verdict))

    def schedules(self) -> dict:
        """The per-step tables the loop reads (see :func:`_schedules`), with the plan's constants."""
        out = dict(_schedules(int(self.steps), tuple(map(tuple, self.windows)),
                              tuple(map(tuple, self.verdict))))
        out["minima"] = np.ascontiguousarray(self.minima, dtype=np.float64).reshape(-1, np.shape(self.minima)[-1])
        out["consts"] = np.array([self.fstar, self.tol, self.floor], dtype=np.float64)
        return out


@functools.lru_cache(maxsize=16)
def _schedules(K: int, windows: tuple, verdict: tuple) -> dict:
    """The per-step tables of ``K`` steps for these rate and verdict windows (one computation per process).

    ``need[k]``: bits saying what step k measures (RATE, VERDICT_FIRST, VERDICT_LAST, FINAL, SPREAD).
    ``act_ptr``/``act_slot``/``act_start``: the envelopes watched at step k are
    ``act_slot[act_ptr[k]:act_ptr[k + 1]]``, restarted where ``act_start``; ``fin_*`` likewise: the
    windows closed at step k, as the slots of their two ends and the exponent ``1/(b − a)``.
    Slots are reused once an envelope is closed, so a member holds only the open ones.
    """
    need = np.zeros(K + 1, dtype=np.int64)
    events = [[] for _ in range(K + 1)]  # (slot, start) per step
    closing = [[] for _ in range(K + 1)]  # (slot a, slot b, exponent) per step
    # Every envelope is held from the step it opens to its window's close: greedy interval
    # colouring in the order they open gives each a slot no open envelope holds.
    held = sorted((p - L, b, w, p) for w, (a, b, L) in enumerate(windows) for p in (a, b))
    busy, free, slots, slot_of = [], [], 0, {}
    for opens, closes, w, p in held:
        while busy and busy[0][0] < opens:  # closed at an earlier step: reusable from this one
            free.append(heapq.heappop(busy)[1])
        slot = min(free) if free else slots
        if free:
            free.remove(slot)
        else:
            slots += 1
        heapq.heappush(busy, (closes, slot))
        slot_of[w, p] = slot
        for k in range(max(opens, 0), min(p, K) + 1):
            events[k].append((slot, k == opens))
            need[k] |= RATE
    for w, (a, b, L) in enumerate(windows):
        if b <= K:
            closing[b].append((slot_of[w, a], slot_of[w, b], 1.0 / (b - a)))
            need[b] |= RATE
    if verdict:
        (a1, b1), (a2, b2) = verdict
        need[a1:b1 + 1] |= VERDICT_FIRST
        need[a2:b2 + 1] |= VERDICT_LAST
        need[K] |= FINAL
        need[K // 2:] |= SPREAD

    def flat(lists, width):
        ptr = np.zeros(K + 2, dtype=np.int64)
        ptr[1:] = np.cumsum([len(x) for x in lists])
        rows = [e for x in lists for e in x]
        return ptr, [np.array([r[j] for r in rows]) for j in range(width)]

    act_ptr, (act_slot, act_start) = flat(events, 2)
    fin_ptr, (fin_a, fin_b, fin_e) = flat(closing, 3)
    tables = {"need": need, "act_ptr": act_ptr, "act_slot": act_slot.astype(np.int64),
            "act_start": act_start.astype(np.bool_), "fin_ptr": fin_ptr, "fin_a": fin_a.astype(np.int64),
            "fin_b": fin_b.astype(np.int64), "fin_e": fin_e.astype(np.float64), "slots": max(slots, 1)}
    return tables  # shared by every run of this plan (the loop only reads them)


def default_plan(land, steps: int = 8) -> Tracking:
    """A plan of the layout a default sweep on ``land`` measures (criterion, measure, rate where
    it has 1 to :data:`MAX_RATE_MINIMA` minima, verdict), over ``steps``: what ``simulate warmup``
    compiles the sweep's loop with (the windows' steps are data, not part of the compiled code)."""
    minima = np.asarray(land.minima, dtype=np.float64).reshape(-1, land.dim)
    rate = 0 < len(minima) <= MAX_RATE_MINIMA
    return Tracking(steps=steps, criterion="value" if len(minima) else "grad", tol=1e-6,
                    fstar=float(land.lowest_minimum_value()) if len(minima) else 0.0, minima=minima,
                    windows=((steps // 4, steps // 2, 1),) if rate else (), floor=0.0,
                    verdict=((steps // 4, steps // 2), (3 * steps // 4, steps)))


@dataclass(frozen=True, eq=False)
class Tracked:
    """What the compiled loop measured, per member (arrays of the batch's shape).

    ``reached``: the first step meeting the criterion (−1 never). ``rate``: the latest closed
    window's rate (NaN none). ``first``/``last``: the verdict's envelopes of the measure (−inf where
    no step was watched), ``final``: the measure at the last step (NaN for a member that stopped
    before), ``low``/``high``: ``batch + (d,)``, the bounding box of the points over the last half.
    """

    reached: np.ndarray
    rate: np.ndarray
    first: np.ndarray
    last: np.ndarray
    final: np.ndarray
    low: np.ndarray
    high: np.ndarray
