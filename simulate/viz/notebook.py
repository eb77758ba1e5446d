"""The explorer in a notebook: ipywidgets around an image that the explorer's own model redraws.

:func:`explore` (``simulate.explore``) called in a Jupyter kernel returns a :class:`NotebookExplorer`,
which displays itself as its widgets; elsewhere it opens the desktop window
(:func:`simulate.viz.explorer.explore`). The image is a PNG drawn with matplotlib's Agg and sent to an
``ipywidgets.Image`` on every change: no matplotlib widget backend and no front-end build, so the
same explorer works in JupyterLab, classic Notebook, VS Code and Colab. What is run and drawn is the
desktop window's (:class:`~simulate.viz.explorer.Exploration` and
:class:`~simulate.viz.explorer.PathsView`); only the controls differ: a slider per hyperparameter of
the optimizer being edited (log-scaled where its declaration says so, whole numbers where it
must be), a slider per start coordinate, and a check box per optimizer and one for the flows.

Everything drawn is on the object: :attr:`NotebookExplorer.runs` holds the runs of the last redraw
and :attr:`NotebookExplorer.view` the drawn lines, so that a change made through the widgets'
Python side (``ex.sliders["lr"].value = 0.02``) can be checked against the library's runs.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from matplotlib.figure import Figure

from .._signature import public
from .inline import figure_png
from . import explorer as desktop
from .explorer import DEFAULT_OPTIMIZERS, Exploration, PathsView

__all__ = ["NotebookExplorer", "explore", "in_kernel", "ipywidgets"]

#: Steps of a slider's travel (its values are continuous; the front end moves in these).
SLIDER_STEPS = 200
#: The controls' column: wide enough for a slider, its name and its value (``eps`` reads 1e-08).
CONTROLS = "330px"
#: Every control's width and the room for its name, so that the sliders line up.
_LOOK = {"style": {"description_width": "80px"}, "layout": {"width": "320px"}}


def ipywidgets():
    """The ipywidgets module, or an ImportError that says how to install it."""
    from .._optional import optional

    return optional("ipywidgets", "the notebook explorer")


def in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (a notebook, Colab, VS Code), where widgets can show."""
    from .. import _running_shell

    return getattr(_running_shell(), "kernel", None) is not None


class NotebookExplorer:
    """The explorer as notebook widgets; displays itself as them (:attr:`widget`).

    ``sliders`` maps each hyperparameter of the optimizer being edited to its slider (its value is
    the hyperparameter's, also on a log scale); ``start_sliders`` are x₁ (and x₂); ``visible`` the
    check boxes of the optimizers and, last, the flows; ``choice`` picks the optimizer edited."""

    @public
    def __init__(self, landscape, optimizers: Sequence = DEFAULT_OPTIMIZERS, start=None, steps: int = 100,
                 figsize=(6.0, 5.0)):
        widgets = ipywidgets()
        self.exploration = ex = Exploration(landscape, optimizers, start, steps)
        self.figure = Figure(figsize=figsize, layout="constrained")
        names = ("x₁", "x₂") if ex.landscape.dim == 2 else ("x",)
        self.view = PathsView(ex, self.figure.subplots(), hint=f"the start from the slider{'s' * (len(names) > 1)} "
                                                              f"{', '.join(names)}")
        self.runs = []
        self.editing = 0
        self._quiet = False  # set while the code (not the user) moves a widget
        self.image = widgets.Image(format="png")
        self.visible = [widgets.Checkbox(value=True, description=name, indent=False) for name in [*ex.names, "flows"]]
        for i, box in enumerate(self.visible):
            box.observe(lambda change, i=i: self.on_toggle(i, change["new"]), names="value")
        self.choice = widgets.Dropdown(options=ex.names, value=ex.names[0], description="edit", **_LOOK)
        self.choice.observe(lambda change: self.on_choose(change["new"]), names="value")
        self.start_sliders = []
        for k, (lo, hi) in enumerate(ex.landscape.bounds.tolist()):
            slider = widgets.FloatSlider(value=min(max(float(ex.x0[k]), lo), hi), min=lo, max=hi,
                                         step=(hi - lo) / SLIDER_STEPS, description=names[k],
                                         readout_format=".3g", continuous_update=False, **_LOOK)
            slider.observe(lambda change: self.on_start(), names="value")
            self.start_sliders.append(slider)
        self.sliders = {}
        self.slider_box = widgets.VBox()
        self.status = widgets.HTML()
        controls = widgets.VBox([widgets.HTML("<b>shown</b>"), *self.visible, self.choice, self.slider_box,
                                 widgets.HTML("<b>start</b>"), *self.start_sliders, self.status],
                                layout=widgets.Layout(width=CONTROLS, min_width=CONTROLS))
        # side by side where there is room, the controls below the image where there is not (Colab's narrow cells)
        self.widget = widgets.HBox([self.image, controls], layout=widgets.Layout(flex_flow="row wrap"))
        self._configure_sliders()
        self.redraw()

    def _repr_mimebundle_(self, **kwargs):
        # the widget's view; as text (where no widget can show) this one line, not the widgets' tree
        return {**self.widget._repr_mimebundle_(**kwargs), "text/plain": repr(self)}

    def __repr__(self) -> str:
        return f"NotebookExplorer({', '.join(o.label for o in self.exploration.optimizers)} on " \
               f"{self.exploration.landscape.label}, {self.exploration.steps} steps)"

    # -- the controls ----------------------------------------------------------------------------
    def _configure_sliders(self):
        """A slider for every hyperparameter of the optimizer being edited."""
        widgets = ipywidgets()
        ex, i = self.exploration, self.editing
        for slider in self.sliders.values():  # the last optimizer's: their models leave the front end
            slider.close()
        self.sliders = {}
        for name in ex.knobs(i):
            lo, hi, log, whole = ex.slider(i, name)
            value = min(max(ex.value(i, name), lo), hi)
            common = dict(description=name, continuous_update=False, **_LOOK)
            if whole:
                slider = widgets.IntSlider(value=round(value), min=math.ceil(lo), max=math.floor(hi), **common)
            elif log:
                slider = widgets.FloatLogSlider(value=value, base=10, min=math.log10(lo), max=math.log10(hi),
                                                step=(math.log10(hi) - math.log10(lo)) / SLIDER_STEPS,
                                                readout_format=".3g", **common)
            else:
                slider = widgets.FloatSlider(value=value, min=lo, max=hi, step=(hi - lo) / SLIDER_STEPS,
                                             readout_format=".3g", **common)
            slider.observe(lambda change, name=name: self.on_slide(name, change["new"]), names="value")
            self.sliders[name] = slider
        self.slider_box.children = list(self.sliders.values())

    def on_slide(self, name: str, value: float):
        if self._quiet:
            return
        try:
            self.exploration.set_value(self.editing, name, value)
        except ValueError as exc:  # refused: said, and the knob put back
            lo, hi = self.exploration.slider(self.editing, name)[:2]
            self._quiet = True
            try:
                self.sliders[name].value = min(max(self.exploration.value(self.editing, name), lo), hi)
            finally:
                self._quiet = False
            self.status.value = f"<pre>{html.escape(str(exc))}</pre>"
            return
        self.redraw()

    def on_choose(self, label: str):
        self.editing = self.exploration.names.index(label)
        self._configure_sliders()

    def on_toggle(self, i: int, shown: bool):
        if i < len(self.exploration.shown):
            self.exploration.shown[i] = bool(shown)
        else:
            self.exploration.flows_shown = bool(shown)
        self.redraw()

    def on_start(self):
        self.exploration.set_start([s.value for s in self.start_sliders])
        self.redraw()

    # -- the runs ---------------------------------------------------------------------------------
    def redraw(self):
        """Run every shown optimizer (and its flow, while flows are shown) from the start; redraw the image."""
        ex = self.exploration
        self.runs = ex.runs()
        self.view.update(self.runs)
        self.visible[-1].description = ex.flows_label(self.runs)
        self.status.value = f"<pre style='font-size:small'>{html.escape(ex.status(self.runs))}</pre>"
        self.image.value = figure_png(self.figure, close=False)


@public
def explore(landscape="himmelblau", optimizers=None, start=None, steps: int = 100, *, screenshot=None,
            overwrite: bool = False, backend: str | None = None, notebook: bool | None = None):
    """Open the explorer where this runs: in a Jupyter kernel (a notebook, Colab) as widgets, a
    :class:`NotebookExplorer` returned to be displayed; elsewhere in a window
    (:func:`simulate.viz.explorer.explore`, which takes ``screenshot``, ``overwrite`` and ``backend``).
    ``notebook``: True or False to choose instead of where it runs."""
    if notebook is None:
        notebook = in_kernel() and screenshot is None and backend is None
    if not notebook:
        return desktop.explore(landscape, optimizers, start, steps, screenshot=screenshot, overwrite=overwrite,
                               backend=backend)
    if screenshot is not None or backend is not None:
        raise ValueError("screenshot and backend are the window's: the notebook explorer is drawn in the notebook")
    return NotebookExplorer(landscape, optimizers or DEFAULT_OPTIMIZERS, start, steps)
