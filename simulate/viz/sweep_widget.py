"""A sweep over any number of axes in a notebook: the two axes you name drawn, a slider over each other one.

:func:`sweep_explorer` (``simulate.sweep_explorer``) returns a :class:`SweepExplorer`, which displays
itself as ipywidgets: a dropdown for the metric, two for the axes drawn across (x) and up (y), and a
``SelectionSlider`` over the values of every other axis. The image is
:func:`~simulate.viz.figures.sweep_figure` of the slice at the sliders' values
(:meth:`~simulate.analysis.sweep.Sweep.isel`), redrawn as a PNG on every change, like the notebook
explorer's (:mod:`simulate.viz.notebook`): no matplotlib widget backend, no front-end build. Where
the static figure thins a long faceted axis (:data:`~simulate.viz.figures.MAX_PANELS`), a slider
reaches every value.

Every slice is drawn on the colour scale of the whole sweep (for the members drawn), so that a
colour means the same value at every slider position; the slider's position is in the figure's
title and in :attr:`SweepExplorer.fixed`.
"""

from __future__ import annotations

import html

import numpy as np
from matplotlib.collections import QuadMesh

from ..analysis.sweep import Sweep
from .figures import default_metric, drawn_names, sweep_figure
from .heatmaps import metric_norm
from .inline import figure_png
from .notebook import CONTROLS, ipywidgets

__all__ = ["SweepExplorer", "sweep_explorer"]

#: Every control's width and the room for its name (the notebook explorer's, widened for axis names).
_LOOK = {"style": {"description_width": "90px"}, "layout": {"width": "320px"}}


def _label(value: float) -> str:
    return f"{float(value):.4g}"


def _labels(values: np.ndarray) -> list[str]:
    """Compact labels of an axis's values (4 significant digits), longer only where two would read alike."""
    short = [_label(v) for v in values]
    return short if len(set(short)) == len(short) else [repr(float(v)) for v in values]


class SweepExplorer:
    """A sweep as notebook widgets; displays itself as them (:attr:`widget`).

    ``metric_choice``, ``x_choice`` and ``y_choice`` are the dropdowns (``y_choice`` is None for a
    sweep of one axis); ``sliders`` maps every other axis to its ``SelectionSlider`` (its value the
    axis's value). After each redraw, :attr:`fixed` holds the sliders' values, :attr:`shown` the
    slice drawn, :attr:`figure` the figure and :attr:`figure_data` the data drawn."""

    def __init__(self, sweep: Sweep, metric: str | None = None, *, x: str | None = None, y: str | None = None,
                 member=None, figsize=None):
        widgets = ipywidgets()
        if not isinstance(sweep, Sweep):
            raise TypeError(f"sweep_explorer draws a Sweep (simulate.sweep(...)), got {type(sweep).__name__}")
        self.sweep = sweep if member is None else sweep.one_member(member)
        self.figsize = figsize
        x, y = drawn_names(self.sweep, x, y)  # unknown names and x == y fail here
        metric = metric or default_metric(self.sweep, x, y)
        self.sweep.metric(metric)  # an unknown metric fails here, with the valid ones
        names = [a.name for a in self.sweep.axes]
        self._quiet = False  # set while the code (not the user) moves a widget
        self.metric_choice = widgets.Dropdown(options=list(self.sweep.metrics), value=metric, description="metric",
                                              **_LOOK)
        self.x_choice = widgets.Dropdown(options=names, value=x, description="x (across)", **_LOOK)
        self.y_choice = None if y is None else widgets.Dropdown(options=names, value=y, description="y (up)", **_LOOK)
        self.metric_choice.observe(lambda change: self.redraw(), names="value")
        self.x_choice.observe(lambda change: self._on_axis("x", change["old"], change["new"]), names="value")
        if self.y_choice is not None:
            self.y_choice.observe(lambda change: self._on_axis("y", change["old"], change["new"]), names="value")
        self.sliders = {}
        self.slider_box = widgets.VBox()
        self.status = widgets.HTML()
        self.image = widgets.Image(format="png")
        controls = widgets.VBox([self.metric_choice, self.x_choice, *[self.y_choice] * (y is not None),
                                 self.slider_box, self.status],
                                layout=widgets.Layout(width=CONTROLS, min_width=CONTROLS))
        # side by side where there is room, the controls below the image where there is not (Colab's narrow cells)
        self.widget = widgets.HBox([self.image, controls], layout=widgets.Layout(flex_flow="row wrap"))
        self.fixed, self.shown, self.figure, self.figure_data = {}, self.sweep, None, []
        self._configure_sliders()
        self.redraw()

    def _repr_mimebundle_(self, **kwargs):
        # the widget's view; as text (where no widget can show) this one line, not the widgets' tree
        return {**self.widget._repr_mimebundle_(**kwargs), "text/plain": repr(self)}

    def __repr__(self) -> str:
        # "across"/"up", not x=/y=: a sweep's axes may be named x and y (the start's coordinates)
        up = f", {self.y_choice.value} up" if self.y_choice is not None else ""
        at = "".join(f"; {name}={_label(v)}" for name, v in self.fixed.items())
        return f"SweepExplorer({self.metric_choice.value} of {self.sweep!r}: {self.x_choice.value} across{up}{at})"

    @property
    def drawn_axes(self) -> tuple[str, str | None]:
        """The names of the axes drawn across and up (up None for a sweep of one axis)."""
        return self.x_choice.value, None if self.y_choice is None else self.y_choice.value

    # -- the controls ----------------------------------------------------------------------------
    def _configure_sliders(self):
        """A slider over every axis that is not drawn; an axis that stays a slider keeps its position."""
        widgets = ipywidgets()
        old = {name: s.index for name, s in self.sliders.items()}
        for slider in self.sliders.values():  # their models leave the front end
            slider.close()
        self.sliders = {}
        for a in self.sweep.axes:
            if a.name in self.drawn_axes:
                continue
            slider = widgets.SelectionSlider(options=list(zip(_labels(a.values), a.values.tolist())),
                                             index=old.get(a.name, 0), description=a.name, continuous_update=False,
                                             **_LOOK)
            slider.observe(lambda change: self.redraw(), names="index")
            self.sliders[a.name] = slider
        self.slider_box.children = list(self.sliders.values())

    def _on_axis(self, which: str, old: str, new: str):
        """A new axis across (or up); the one it was drawn on goes to the other dropdown when the two meet."""
        if self._quiet:
            return
        other = self.y_choice if which == "x" else self.x_choice
        if other is not None and other.value == new:  # choosing the other's axis swaps the two: the map transposed
            self._quiet = True
            try:
                other.value = old
            finally:
                self._quiet = False
        self._configure_sliders()
        self.redraw()

    # -- the drawing --------------------------------------------------------------------------------
    def redraw(self):
        """Draw the slice at the sliders' values with :func:`~simulate.viz.figures.sweep_figure`."""
        if self._quiet:
            return
        x, y = self.drawn_axes
        metric = self.metric_choice.value
        positions = {name: s.index for name, s in self.sliders.items()}
        self.fixed = {name: float(self.sweep.axes[self.sweep.axis(name)].values[i]) for name, i in positions.items()}
        self.shown = self.sweep.isel(positions)
        norm = None if metric in ("minimum", "verdict") else metric_norm(self.sweep, metric)  # one scale for every slice
        self.figure = sweep_figure(self.shown, metric, x=x, y=y, figsize=self.figsize, norm=norm)
        self.figure_data = self._drawn_data()
        at = ", ".join(f"{name}={_label(v)}" for name, v in self.fixed.items())
        self.status.value = f"<code>{html.escape(f'sweep.sel({at})' if at else 'sweep')}</code>"
        self.image.value = figure_png(self.figure)

    def _drawn_data(self) -> list[np.ndarray]:
        """What the figure draws, one array per panel: a heat map's cells (rows up the y axis, as drawn;
        NaN where no colour: diverged or no value; for ``minimum``, the basins' colour indices), or on a
        sweep of one axis each member's line."""
        data = []
        for ax in self.figure.axes:
            if not ax.get_visible() or hasattr(ax, "_colorbar"):
                continue
            meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
            if meshes:  # the first mesh is the metric's; later ones mark diverged cells
                cells = meshes[0].get_array()
                ny, nx = (s - 1 for s in meshes[0].get_coordinates().shape[:2])
                data.append(np.ma.filled(np.ma.asarray(cells, dtype=np.float64), np.nan).reshape(ny, nx))
            elif self.y_choice is None:
                data.extend(np.asarray(line.get_ydata(), dtype=np.float64) for line in ax.lines
                            if line.get_transform() == ax.transData and line.get_label() in self.sweep.members)
        return data


def sweep_explorer(sweep: Sweep, metric: str | None = None, *, x: str | None = None, y: str | None = None,
                   member=None) -> SweepExplorer:
    """A sweep in a notebook: ``metric`` drawn over the axes ``x`` (across) and ``y`` (up) by
    :func:`~simulate.viz.figures.sweep_figure`, with a slider over the values of each other axis
    and dropdowns to choose the metric and the two axes drawn (a :class:`SweepExplorer`, which
    displays itself as its widgets). The defaults are the figure's: the first two axes, or two
    start coordinates among more axes. ``member``: one member (its index or label) drawn alone;
    default all. A sweep of one or two axes has no sliders. Needs ipywidgets
    (the extra ``notebook``: ``pip install ".[notebook]"`` from simulate's checkout)."""
    return SweepExplorer(sweep, metric, x=x, y=y, member=member)
