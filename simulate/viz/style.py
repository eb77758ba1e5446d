"""What the figure of runs and its animation share: the colours and the averaged path's style, the
region drawn, the shared clock and the landscape's label in a title.

Both :mod:`simulate.viz.figures` and :mod:`simulate.viz.animation` draw from here (the figure module
writes animations through :mod:`~simulate.viz.animation`, so nothing shared may live in it).
"""

from __future__ import annotations

import numpy as np

from .plotting import graph_window

__all__ = ["COLORS", "AVERAGE_STYLE", "shared_clock", "drawn_bounds", "parse_box", "drawing_box", "short_label"]

COLORS = [f"C{i}" for i in (1, 3, 0, 2, 4, 5, 6, 7, 8, 9)]  # C1/C3 first: they stand out on viridis
#: How the moving average of an optimizer's iterates is drawn, in the optimizer's colour.
AVERAGE_STYLE = dict(ls="--", lw=1.3, alpha=0.95)


def shared_clock(result) -> float | None:
    """The time per step when every optimizer of ``result`` has one and the same (then t can be
    shown for all), else None."""
    if any(e.optimizer.schedule is not None for e in result.entries):
        return None  # t_k is a running sum: no one h
    hs = {float(np.max(e.iterates.time_per_step)) for e in result.entries}
    same = len(hs) == 1 and all(np.ndim(e.iterates.time_per_step) == 0 for e in result.entries)
    return hs.pop() if same else None


def drawn_bounds(result, box=None):
    """The region drawn: ``box`` (pairs (low, high) for x₁ and x₂; one pair in 1-D) when given,
    else the landscape's plot box, except that 1-D graphs zoom to where the runs went
    (:func:`~simulate.viz.plotting.graph_window`)."""
    land = result.landscape
    if box is not None:
        return drawing_box(land, box)
    if land.dim != 1:
        return land.bounds[:2]
    visited = [np.ravel(result.start)] + [np.ravel(e.iterates.x) for e in result.entries]
    visited += [np.ravel(e.flow.x) for e in result.entries if getattr(e, "flow", None) is not None]
    return graph_window(land, np.concatenate(visited))


def parse_box(box, *, name: str = "box: ") -> np.ndarray:
    """A region ``(n, 2)`` from pairs (low, high) or the text ``"lo:hi,lo:hi"``; each low < high."""
    pairs = None
    if isinstance(box, str):
        try:
            pairs = np.array([[float(v) for v in pair.split(":")] for pair in box.split(",")], dtype=np.float64)
        except ValueError:
            pass
    else:
        try:
            pairs = np.array(box, dtype=np.float64)
        except (TypeError, ValueError):
            pass
    if (pairs is None or pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) == 0 or not np.all(np.isfinite(pairs))
            or np.any(pairs[:, 0] >= pairs[:, 1])):
        raise ValueError(f"{name}expected low:high per coordinate with low < high, comma-separated "
                         f"(e.g. '-1:2,0:3'), got {box!r}")
    return pairs


def drawing_box(landscape, box) -> np.ndarray:
    """``box`` (:func:`parse_box`) checked against ``landscape``: pairs for x₁ and x₂, one in 1-D."""
    pairs = parse_box(box)
    wanted = min(landscape.dim, 2)
    if len(pairs) != wanted:
        raise ValueError(f"box: {landscape.dim}-D paths are drawn over {'x' if wanted == 1 else 'x₁ and x₂'}: "
                         f"give {wanted} pair{'s' if wanted > 1 else ''} low:high, got {box!r}")
    return pairs


def short_label(landscape, limit: int = 60) -> str:
    """The landscape's spec for a title, or ``name(…)`` where it is long (a 10-D quadratic, a
    formula with bounds): the data files keep the whole spec."""
    label = landscape.label
    if len(label) <= limit:
        return label
    formula = getattr(landscape, "formula", "").strip()  # a formula with its bounds: the formula alone
    return formula if 0 < len(formula) <= limit else f"{landscape.name}(…)"
