"""What the figure of runs and its animation share: the colours and the averaged path's style, the
region drawn, the shared clock and the landscape's label in a title.

Both :mod:`simulate.viz.figures` and :mod:`simulate.viz.animation` draw from here (the figure module
writes animations through :mod:`~simulate.viz.animation`, so nothing shared may live in it).
"""

from __future__ import annotations

import re

import numpy as np

from .._signature import Said
from .plotting import graph_window

__all__ = ["COLORS", "MARKERS", "AVERAGE_STYLE", "shared_clock", "drawn_bounds",
           "parse_box", "drawing_box", "parse_size", "check_font_scale", "restyle", "below", "rounded", "legend_label",
           "SIZE_LIMITS", "FONT_SCALE_LIMITS"]

#: The series' colours. The first four differ in lightness (CIE L* 63, 44, 82, 25: at least 18 apart)
#: as well as in hue, so that a greyscale print still tells them apart, and none is a viridis colour
#: (the contours): orange, magenta, gold, dark red; then sky blue, teal, navy, grey.
COLORS = ["#EE7733", "#C51B7D", "#FFC20A", "#7A0A0A", "#33BBEE", "#009988", "#1F2D86", "#7F7F7F"]
#: The iterates' marker of each series (with its colour): a second cue where colours merge in grey.
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
#: How the moving average of an optimizer's iterates is drawn, in the optimizer's colour.
AVERAGE_STYLE = dict(ls="--", lw=1.3, alpha=0.95)
#: Bounds of a figure's side in inches and of the font scale: beyond them the figure is unreadable
#: or the file absurdly large.
SIZE_LIMITS = (1.0, 60.0)
FONT_SCALE_LIMITS = (0.25, 5.0)


def parse_size(size, *, name: str = "size") -> tuple[float, float] | None:
    """A figure size ``(width, height)`` in inches from ``"WxH"`` (``"8x4.5"``) or a pair; None
    stays None. Each side finite and within :data:`SIZE_LIMITS`."""
    if size is None:
        return None
    pair = None
    if isinstance(size, str):
        try:
            pair = tuple(float(v) for v in size.lower().replace("×", "x").split("x"))
        except ValueError:
            pass
    elif isinstance(size, (tuple, list)) and all(isinstance(v, (int, float, np.floating, np.integer))
                                                 and not isinstance(v, bool) for v in size):
        pair = tuple(float(v) for v in size)
    lo, hi = SIZE_LIMITS
    if pair is None or len(pair) != 2 or not all(np.isfinite(pair)):
        raise ValueError(f"{name}: expected WIDTHxHEIGHT in inches, e.g. 8x4.5, got {size!r}")
    if not all(lo <= v <= hi for v in pair):
        raise ValueError(f"{name}: each side must be between {lo:g} and {hi:g} inches, got {size!r}")
    return pair


def check_font_scale(scale, *, name: str = "font_scale") -> float:
    """A font scale: a finite number within :data:`FONT_SCALE_LIMITS` (1 keeps the sizes)."""
    lo, hi = FONT_SCALE_LIMITS
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating, np.integer)) \
            or not np.isfinite(scale) or not lo <= scale <= hi:
        raise ValueError(f"{name}: expected a number between {lo:g} and {hi:g} (1 keeps the sizes), got {scale!r}")
    return float(scale)


def restyle(fig, size=None, font_scale: float = 1.0):
    """Resize ``fig`` to ``size`` (inches, :func:`parse_size`) and scale every text in it (titles,
    labels, ticks, legends, annotations) by ``font_scale``; returns the figure. For slides: a small
    figure with large type. The layout engine (constrained) fits the panels again when it is drawn."""
    from matplotlib.text import Text

    size = parse_size(size)
    font_scale = check_font_scale(font_scale)
    if size is not None:
        fig.set_size_inches(*size)
    if font_scale != 1.0:
        ticks = []
        for ax in fig.axes:  # ticks made later (at draw) take the axis's tick size, not an existing label's
            for axis in getattr(ax, "_axis_map", {}).values():
                major = axis.get_major_ticks()
                minor = axis.get_minor_ticks()
                ticks.append((axis, [t.label1.get_fontsize() for t in major[:1]] or [None],
                              [t.label1.get_fontsize() for t in minor[:1]] or [None]))
        for text in fig.findobj(Text):
            text.set_fontsize(text.get_fontsize() * font_scale)
        for ax in fig.axes:  # a legend hung below its panel moves down with the larger labels
            legend = ax.get_legend()
            if legend is not None and getattr(legend, "below_points", None) is not None:
                _hang(legend, ax, legend.below_points * font_scale)
        for axis, (major,), (minor,) in ticks:
            if major is not None:
                axis.set_tick_params(which="major", labelsize=major * font_scale)
            if minor is not None:
                axis.set_tick_params(which="minor", labelsize=minor * font_scale)
    if size is not None or font_scale != 1.0:
        _fit_text(fig)
    return fig


class LayoutWarning(Said):
    """A figure whose labels do not fit at the size and type scale asked for."""


def _fit_text(fig) -> None:
    """Make the panels' titles and the legends hung below them fit their panels' width at this size
    and type scale: a title is wrapped, a legend's type made smaller (to 60 % at the least); where
    text still overlaps or leaves the figure, say so (:class:`LayoutWarning`) rather than save it
    silently broken (8x4.5 inches at type x1.5 ran two titles into each other)."""
    import textwrap
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # a renderer to measure with; saving picks its own canvas
    renderer = fig.canvas.get_renderer()
    with warnings.catch_warnings(record=True) as collapsed:  # matplotlib's own word for "does not fit"
        warnings.simplefilter("always")
        fig.draw_without_rendering()
    for ax in fig.axes:
        width = ax.get_window_extent(renderer).width
        title = ax.title
        box = title.get_window_extent(renderer) if title.get_text() else None
        if box is not None and box.width > width * 1.05 and "\n" not in title.get_text():
            chars = max(12, int(len(title.get_text()) * width / box.width))
            title.set_text(textwrap.fill(title.get_text(), chars))
        legend = ax.get_legend()
        if legend is not None and getattr(legend, "below_points", None) is not None:
            wide = legend.get_window_extent(renderer).width
            if wide > width:
                shrink = max(0.6, width / wide)
                for text in legend.get_texts():
                    text.set_fontsize(text.get_fontsize() * shrink)
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        fig.draw_without_rendering()
    collapsed = [w for w in collapsed + again if "constrained_layout not applied" in str(w.message)]
    boxes = ([ax.title.get_window_extent(renderer) for ax in fig.axes if ax.title.get_text()]
             + [ax.get_legend().get_window_extent(renderer) for ax in fig.axes if ax.get_legend()])
    page = fig.bbox
    outside = any(b.x0 < page.x0 - 1 or b.x1 > page.x1 + 1 for b in boxes)
    overlapping = any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    if outside or overlapping or collapsed:
        w, h = fig.get_size_inches()
        trouble = "overlap" if overlapping or collapsed else "run off its edges"
        warnings.warn(f"at {w:g}x{h:g} inches the figure's titles or legends {trouble}: use a larger --size or a "
                      f"smaller --font-scale", LayoutWarning, stacklevel=3)


def below(ax, *, offset: float | None = None, extra: float = 0.0, **kwargs):
    """The legend of ``ax`` under it, outside the panel, below its tick labels and x label (or
    ``offset`` points below the axes' edge), so that it covers no data; returns the Legend. The
    gap is in points: :func:`restyle` widens it with the type; ``extra`` points more leave room for
    notes under the x label."""
    if offset is None:  # clear of the tick labels and the x label, whatever the axes' height
        ticks = ax.xaxis.get_major_ticks()
        tick = ticks[0].label1.get_fontsize() if ticks else 10.0
        offset = tick + 11.0 + (ax.xaxis.label.get_fontsize() + 4.0 if ax.get_xlabel() else 0.0) + extra
    style = dict(fontsize=8, loc="upper center", framealpha=0.85)
    style.update(kwargs)
    legend = ax.legend(**style)
    _hang(legend, ax, offset)
    return legend


def _hang(legend, ax, points: float) -> None:
    """Anchor ``legend``'s top centre ``points`` below the middle of ``ax``'s lower edge."""
    from matplotlib.transforms import ScaledTranslation

    legend.below_points = points
    shift = ScaledTranslation(0, -points / 72.0, ax.figure.dpi_scale_trans)
    legend.set_bbox_to_anchor((0.5, 0.0), transform=ax.transAxes + shift)


def rounded(value, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits for a legend (0.1, not 0.10000000000000002)."""
    return f"{float(value):.{digits}g}"


#: A decimal number in a label: a fraction or an exponent (integers are left as they are).
_DECIMAL = re.compile(r"(?<![\w.])\d+\.\d+(?:[eE][-+]?\d+)?|(?<![\w.])\d+[eE][-+]?\d+")


def legend_label(label: str, digits: int = 4) -> str:
    """``label`` (an optimizer's spec) with every decimal number to ``digits`` significant digits:
    ``gd(lr=0.1)`` for ``gd(lr=0.10000000000000002)``, a value a slider set. Four digits keep
    β₂ = 0.9995 below 1."""
    return _DECIMAL.sub(lambda m: rounded(m.group(), digits), label)


def shared_clock(result) -> float | None:
    """The time per step when every optimizer of ``result`` has one and the same (then t can be
    shown for all), else None."""
    if any(e.optimizer.schedule is not None for e in result.entries):
        return None  # t_k is a running sum: no one h
    hs = {float(np.max(e.iterates.time_per_step)) for e in result.entries}
    same = len(hs) == 1 and all(np.ndim(e.iterates.time_per_step) == 0 for e in result.entries)
    return hs.pop() if same else None


def drawn_records(result) -> list:
    """Every record a figure of ``result`` draws: each optimizer's iterates and, where it has one, its
    flow (an optimizer with no continuous model has none)."""
    return [t for e in result.entries for t in (e.iterates, e.flow) if t is not None]


def entry_note(entry) -> str:
    """Legend text: the optimizer, its time per step and how far the iterates end from the flow."""
    h = np.asarray(entry.iterates.time_per_step)
    h_txt = ("scheduled steps" if entry.optimizer.schedule is not None
             else f"h = {float(h):.3g}" if h.ndim == 0 else "h varies")
    if entry.comparison is None:  # no model, so no clock h either: its steps are what they are
        return f"{entry.optimizer.short_name} (no continuous model)"
    final = np.ravel(entry.comparison.final)
    d = float(np.nanmax(final)) if np.any(np.isfinite(final)) else np.nan
    gap = "final |iterates − flow|" if final.size == 1 else f"largest final |iterates − flow| of {final.size}"
    diverged = entry.iterates.diverged_at[entry.iterates.diverged]
    if np.isnan(d) and diverged.size:  # every member diverged: there is no final distance to report
        return f"{entry.optimizer.short_name} ({h_txt}; diverged (×) at step {int(np.min(diverged))})"
    if np.isnan(d):  # the iterates ran, their flow stopped early (diverged or failed)
        return f"{entry.optimizer.short_name} ({h_txt}; its flow stopped early: no final distance)"
    note = f", {diverged.size} diverged (×)" if diverged.size else ""
    return f"{entry.optimizer.short_name} ({h_txt}; {gap} = {d:.2g}{note})"



def drawn_bounds(result, box=None):
    """The region drawn: ``box`` (pairs (low, high) for x₁ and x₂; one pair in 1-D) when given,
    else the landscape's plot box, except that 1-D graphs zoom to where the runs went
    (:func:`~simulate.viz.plotting.graph_window`)."""
    land = result.landscape
    if box is not None:
        return drawing_box(land, box)
    if land.dim != 1:
        return land.bounds[:2]
    visited = [np.ravel(result.start)] + [np.ravel(t.x) for t in drawn_records(result)]
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


