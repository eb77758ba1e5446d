"""``simulate explore``: an interactive window to play with optimizers and their flows.

Sliders set the learning rate and the other hyperparameters of the optimizer picked with the radio
buttons (log-scaled for lr and eps), a click on the contours sets the start, and check boxes show
or hide each optimizer and the continuous flows. Every change reruns the iterates (and the flows,
while shown) and redraws them. :class:`Explorer` builds on any matplotlib Figure: tests drive its
callbacks headless and check the redrawn data; :func:`explore` opens it in a window.

What is run and drawn does not depend on the front end: :class:`Exploration` holds the settings
(each optimizer with its hyperparameters, the start, what is shown) and makes the runs,
:class:`PathsView` draws them into an Axes. The window's widgets and the notebook's
(:mod:`simulate.viz.notebook`, what ``simulate.explore`` opens in a Jupyter kernel) both drive one.

What the widgets show is asked of each optimizer: its sliders are the hyperparameters that declare
one (those of the optimizer a composition wraps included: Lookahead's lr is adam's), named as its
sweep axes name them (Polyak's lr is c) and moving by 1 where the declaration says whole numbers;
its flow is its own model (:func:`simulate.models.flow`), and where it has none (rprop) the
iterates are drawn alone and the flows check box says so. A flow gets :data:`FLOW_SECONDS` of wall
time, so that the window answers; one stopped early is drawn as far as it got, and the status says
where. The status also says how many gradient evaluations a step may take where it is more than
one (L-BFGS's inner loop), since the markers are steps.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.widgets import CheckButtons, RadioButtons, Slider

from ..solvers.continuous import WALL_TIME, integrate
from ..solvers.discrete import iterate
from ..solvers.trajectory import FAILED, Trajectory, check_run_memory, runs_memory
from ..landscapes.base import short_label
from .style import COLORS, MARKERS, legend_label
from ..landscapes import landscape as get_landscape
from .._signature import public
from ..models import flow as make_flow
from ..optimizers import OPTIMIZERS, optimizer as get_optimizer
from ..optimizers.hyper import declaration
from .plotting import FLOW_STYLE, ITERATES_STYLE, drawn_xy, plot_landscape, plot_minima
from ..analysis.sweep import sweepable, with_axis

__all__ = ["Drawn", "Exploration", "Explorer", "PathsView", "explore", "can_show", "show_file", "slider_ranges", "SLOTS", "FLOW_SECONDS"]

#: Sliders shown at once (those of the optimizer being edited).
SLOTS = 8
FLOW_SAMPLES = 400
#: Wall time (s) one flow may take before it is drawn as far as it got: the window must answer
#: a slider within seconds (the solver's default budget, MAX_SECONDS, is for batch runs).
FLOW_SECONDS = 2.0


def _axes(opt) -> dict[str, tuple[str, int | None]]:
    """Slider name -> (field, index in a pair) for every hyperparameter of ``opt`` that declares a
    slider, in the order of its sweep axes, each under the name its sweep axes give it besides the
    field's own spelling where there is one (a pair's elements beta1, beta2; Polyak's lr is c)."""
    names: dict[tuple[str, int | None], str] = {}
    for name, (field, index) in sweepable(opt).items():
        h = None if field == "schedule" else declaration(opt, field)
        if h is None or h.slider is None or not h.sweep:
            continue
        own = field if index is None else f"{field}[{index}]"
        if names.get((field, index), own) == own:
            names[(field, index)] = name
    return {name: key for key, name in names.items()}


def _slider_of(opt, name: str) -> tuple[float, float, bool, bool]:
    """``(low, high, log scale, whole numbers only)`` of the slider ``name`` of ``opt``."""
    field, index = _axes(opt)[name]
    h = declaration(opt, field)
    lo, hi, log = h.slider[index] if h.pair else h.slider
    return lo, hi, log, h.whole


def slider_ranges(opt) -> dict[str, tuple[float, float, bool]]:
    """Slider name -> (low, high, log scale) for every hyperparameter of ``opt`` that declares a
    slider (a pair's elements by their own names: beta1, beta2), in declaration order."""
    return {name: _slider_of(opt, name)[:3] for name in _axes(opt)}


def _knobs(opt) -> list[str]:
    """The sliders an optimizer gets: its hyperparameters that declare a slider and that its
    preset does not fix (gd's momentum stays 0, and dampening, which gates on it)."""
    preset = OPTIMIZERS.get(opt.display_name)
    fixed = {k for k, v in preset.fixed.items() if not isinstance(v, bool)} if preset is not None else set()
    axes = _axes(opt)
    gated = {f for f, _ in axes.values() if declaration(opt, f).gate in fixed
             and np.all(np.asarray(preset.fixed[declaration(opt, f).gate]) == 0)}
    return [n for n, (field, _) in axes.items() if field not in fixed | gated][:SLOTS]


def _value(opt, name: str) -> float:
    field, index = sweepable(opt)[name]
    value = getattr(opt, field)
    return float(value[index] if index is not None else value)


DEFAULT_OPTIMIZERS = ("gd(lr=0.01)", "momentum(lr=0.01, momentum=0.8)", "adam(lr=0.1)")


def explorer_inputs(landscape, optimizers, x0):
    """``(landscape, optimizers, start)`` checked: a 1-D or 2-D landscape, at least one optimizer,
    one start point of as many coordinates."""
    land = get_landscape(landscape)
    if land.dim not in (1, 2):
        raise ValueError(f"the explorer needs a 2-D landscape (its contours) or a 1-D one (the graph of f); "
                         f"{land.name} is {land.dim}-D")
    opts = [get_optimizer(o) for o in optimizers]
    if not opts:
        raise ValueError("give at least one optimizer")
    start = land.points(land.default_start if x0 is None else x0)
    if start.shape != (land.dim,):
        raise ValueError(f"the explorer runs from one start point ({'x' if land.dim == 1 else 'x₁, x₂'}), "
                         f"got {np.shape(x0)} coordinates")
    return land, opts, start.copy()


def check_explorer_memory(optimizers, steps: int) -> None:
    """Refuse, before anything is drawn, runs too long to hold: every optimizer's iterates and flow."""
    check_run_memory(runs_memory([opt.label for opt in optimizers], int(steps) + 1, 1, 2, flow_samples=FLOW_SAMPLES),
                     "fewer --steps")


@dataclass(frozen=True, eq=False)
class Drawn:
    """One shown optimizer's runs, as the explorer draws them."""

    iterates: Trajectory
    flow: Trajectory | None        # None: flows hidden (the drawn one is kept), or no model (``why``)
    flow_times: np.ndarray | None  # where the flow was sampled
    why: str                       # why the optimizer has no continuous model ("" when it has one)
    notes: tuple[str, ...]         # its lines of the status


class Exploration:
    """What the explorer shows, front-end free: the settings (each optimizer with its hyperparameters,
    the start, what is shown) and the runs they give (:meth:`runs`); :class:`PathsView` draws those
    into an Axes. The desktop window (:class:`Explorer`) and the notebook's widgets
    (:class:`simulate.viz.notebook.NotebookExplorer`) are two front ends of one of these."""

    def __init__(self, landscape, optimizers: Sequence = DEFAULT_OPTIMIZERS, start=None, steps: int = 100):
        self.landscape, self.optimizers, self.x0 = explorer_inputs(landscape, optimizers, start)
        self.steps = int(steps)
        check_explorer_memory(self.optimizers, self.steps)
        self.shown = [True] * len(self.optimizers)
        self.flow_times = [None] * len(self.optimizers)  # where each drawn flow was sampled
        self.flows_shown = True
        self.flow_seconds = FLOW_SECONDS  # each flow's wall-time budget
        # the widgets name each optimizer once, by position: its label changes with the sliders
        self.names = [f"{i + 1}. {opt.display_name}" for i, opt in enumerate(self.optimizers)]

    # -- the settings -------------------------------------------------------------------------------
    def knobs(self, i: int) -> list[str]:
        """The sliders of optimizer ``i`` (its hyperparameters that declare one and its preset leaves free)."""
        return _knobs(self.optimizers[i])

    def slider(self, i: int, name: str) -> tuple[float, float, bool, bool]:
        """``(low, high, log scale, whole numbers only)`` of the slider ``name`` of optimizer ``i``."""
        return _slider_of(self.optimizers[i], name)

    def value(self, i: int, name: str) -> float:
        return _value(self.optimizers[i], name)

    def set_value(self, i: int, name: str, value: float) -> float:
        """Set hyperparameter ``name`` of optimizer ``i`` (a whole number where it must be one) and return
        the value set; a value the optimizer refuses raises ValueError saying why, and changes nothing."""
        if self.slider(i, name)[3]:  # a count of steps is whole: rounded, not refused
            value = math.floor(value + 0.5)
        try:
            self.optimizers[i] = with_axis(self.optimizers[i], name, np.float64(value))
        except ValueError as exc:  # e.g. a combination torch refuses
            why = str(exc).removeprefix(f"{self.optimizers[i].display_name}: ")  # named once
            raise ValueError(f"{self.names[i]}: {why}") from None
        return float(value)

    def set_start(self, point) -> None:
        self.x0 = np.array(point, dtype=np.float64).reshape(self.landscape.dim)

    def start_xy(self) -> tuple[float, float]:
        """Where the start is drawn: (x₁, x₂), or in 1-D (x, f(x)) on the graph."""
        if self.landscape.dim == 2:
            return float(self.x0[0]), float(self.x0[1])
        return float(self.x0[0]), float(self.landscape.value(self.x0[None, :])[0])

    # -- the runs -------------------------------------------------------------------------------------
    def _model(self, opt):
        """``(opt's own continuous model for this run, "")``, or ``(None, why there is none)``: rprop
        declares none, nag-c's limit flow cannot carry a schedule. Then its iterates are drawn alone."""
        try:
            return make_flow(opt).for_steps(self.steps), ""
        except ValueError as exc:
            return None, str(exc)

    def run(self, i: int) -> Drawn:
        """Optimizer ``i`` from the start (and its flow, while flows are shown)."""
        opt = self.optimizers[i]
        model, why = self._model(opt)
        # timed on the model's clock, as the flow (heavy ball's oscillator: √lr; a schedule's t_k)
        run = iterate(self.landscape, opt, self.x0, self.steps, time_per_step=model)
        notes = [f"{self.names[i]}: {str(run.message)[:48]}"]
        evaluations = int(opt.evaluations_per_step)
        if evaluations > 1:  # a step is not one gradient: L-BFGS's inner loop, Runge–Kutta stages
            notes.append(f"    a step: up to {evaluations} gradient evaluations")
        path = None
        if model is None:
            self.flow_times[i] = None
            notes.append(f"    no flow: {_short(why)}")
        elif self.flows_shown:  # up to where the iterates stopped: a diverged run needs no long flow
            last = int(run.diverged_at) if run.diverged_at >= 0 else self.steps
            t = self.flow_times[i] = np.linspace(0, float(run.t[last]), FLOW_SAMPLES)
            path = integrate(self.landscape, opt, self.x0, t, steps=self.steps, flow=model,
                             max_seconds=self.flow_seconds)
            notes.extend(f"    {note}" for note in _flow_notes(model, path, self.flow_seconds))
        return Drawn(run, path, self.flow_times[i], why, tuple(notes))

    def runs(self) -> list[Drawn | None]:
        """Every shown optimizer's runs (None for one hidden)."""
        return [self.run(i) if self.shown[i] else None for i in range(len(self.optimizers))]

    def status(self, runs: list[Drawn | None]) -> str:
        return "\n".join(note for r in runs if r is not None for note in r.notes)

    def flows_label(self, runs: list[Drawn | None]) -> str:
        """The flows toggle's label: it names the optimizers drawn without a model."""
        without = [self.names[i].split(".")[0] for i, r in enumerate(runs) if r is not None and r.why]
        return "flows" if not without else f"flows (no model: {', '.join(without)})"


class PathsView:
    """An exploration drawn into an Axes: the landscape, its minima, the start, and per optimizer its
    iterates (markers) and flow (a curve) in its colour; :meth:`update` redraws the runs. ``hint``:
    how the start is set, for the title (default: the window's click)."""

    def __init__(self, exploration: Exploration, ax, *, hint: str | None = None):
        self.exploration, self.ax = exploration, ax
        land = exploration.landscape
        plot_landscape(land, ax)
        plot_minima(land, ax)
        self.start_marker, = ax.plot(*exploration.start_xy(), "o", mfc="none", mec="black", ms=9, mew=1.5, zorder=6)
        self.iterate_lines, self.flow_lines = [], []
        for i, opt in enumerate(exploration.optimizers):
            c = COLORS[i % len(COLORS)]
            self.flow_lines.append(ax.plot([], [], color=c, **FLOW_STYLE)[0])
            self.iterate_lines.append(ax.plot([], [], color=c, **{**ITERATES_STYLE, "marker": MARKERS[i % len(MARKERS)]},
                                              label=legend_label(opt.label))[0])
        self.legend = ax.legend(fontsize=8, loc="lower left", framealpha=0.85)
        hint = hint or ("click to set the start" if land.dim == 2 else "click to set the start x")
        ax.set_title(f"{short_label(land)}: {hint}", fontsize=10)

    def update(self, runs: list[Drawn | None]) -> None:
        """Draw ``runs`` (:meth:`Exploration.runs`); a hidden flow keeps the data it had."""
        ex = self.exploration
        for i, r in enumerate(runs):
            line, flow = self.iterate_lines[i], self.flow_lines[i]
            line.set_visible(r is not None)
            flow.set_visible(r is not None and ex.flows_shown)
            line.set_label(legend_label(ex.optimizers[i].label))
            if r is None:
                continue
            line.set_data(*drawn_xy(r.iterates.x, r.iterates.f))
            if r.why:
                flow.set_data([], [])
            elif r.flow is not None:
                flow.set_data(*drawn_xy(r.flow.x, r.flow.f))
        self.start_marker.set_data(*([v] for v in ex.start_xy()))
        self.legend = self.ax.legend(fontsize=8, loc="lower left", framealpha=0.85)


def _shared(name: str) -> property:
    """An attribute of the explorer's :class:`Exploration`, read and set through the window."""
    return property(lambda self: getattr(self.exploration, name), lambda self, v: setattr(self.exploration, name, v))


class Explorer:
    """The interactive figure. ``optimizers``: names or specs; ``start``: the first start."""

    landscape, optimizers, x0, steps = _shared("landscape"), _shared("optimizers"), _shared("x0"), _shared("steps")
    shown, flows_shown, flow_seconds = _shared("shown"), _shared("flows_shown"), _shared("flow_seconds")
    flow_times, names = _shared("flow_times"), _shared("names")

    @public
    def __init__(self, landscape, optimizers: Sequence = DEFAULT_OPTIMIZERS, start=None, steps: int = 100,
                 figure: Figure | None = None):
        self.exploration = Exploration(landscape, optimizers, start, steps)
        self.editing = 0
        self.figure = figure or Figure(figsize=(12, 7))
        self._build()
        self.recompute()

    # -- layout ------------------------------------------------------------------------------------
    def _build(self):
        fig = self.figure
        self.view = PathsView(self.exploration, fig.add_axes([0.05, 0.08, 0.55, 0.86]))
        self.ax, self.start_marker = self.view.ax, self.view.start_marker
        self.iterate_lines, self.flow_lines = self.view.iterate_lines, self.view.flow_lines
        names = self.names
        self.visible = CheckButtons(fig.add_axes([0.65, 0.72, 0.32, 0.22]), [*names, "flows"],
                                    [True] * (len(names) + 1))
        self.visible.on_clicked(self.on_toggle)
        self.choice = RadioButtons(fig.add_axes([0.65, 0.53, 0.32, 0.17]), names, active=0)
        self.choice.on_clicked(self.on_choose)
        self.sliders = []
        for j in range(SLOTS):
            slider = Slider(fig.add_axes([0.74, 0.48 - 0.035 * j, 0.17, 0.025]), "", 0.0, 1.0, valinit=0.5)
            slider.on_changed(lambda value, j=j: self.on_slide(j, value))
            # the fill and the initial-value mark follow the first range; a slot's range changes
            for part in ("poly", "vline"):
                if hasattr(slider, part):
                    getattr(slider, part).set_visible(False)
            self.sliders.append(slider)
        self.status = fig.text(0.65, 0.01, "", fontsize=8, va="bottom")  # below the sliders: ~13 lines
        self.figure.canvas.mpl_connect("button_press_event", self.on_click)
        self._configure_sliders()

    @property
    def legend(self):
        return self.view.legend

    def _configure_sliders(self):
        """Point the slider slots at the hyperparameters of the optimizer being edited."""
        self.knobs = self.exploration.knobs(self.editing)
        for j, slider in enumerate(self.sliders):
            visible = j < len(self.knobs)
            slider.ax.set_visible(visible)
            if not visible:
                continue
            name = self.knobs[j]
            lo, hi, log, whole = self.exploration.slider(self.editing, name)
            lo, hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
            slider.valmin, slider.valmax = lo, hi
            slider.valstep = 1.0 if whole else None  # a dragged knob snaps to whole numbers
            slider.ax.set_xlim(lo, hi)
            slider.label.set_text(f"log₁₀ {name}" if log else name)
            value = self.exploration.value(self.editing, name)
            position = math.log10(value) if log and value > 0 else value
            slider.eventson = False  # moving it into place is not a change
            slider.set_val(min(max(position, lo), hi))
            slider.eventson = True
            slider.valtext.set_text(f"{value:.3g}")

    # -- callbacks ----------------------------------------------------------------------------------
    def on_slide(self, j: int, position: float):
        name = self.knobs[j]
        log = self.exploration.slider(self.editing, name)[2]
        try:
            value = self.exploration.set_value(self.editing, name, 10.0**position if log else position)
        except ValueError as exc:  # refused: say it, and put the knob back
            self._configure_sliders()
            self.status.set_text(textwrap.fill(str(exc), 66, subsequent_indent="    "))
            self.figure.canvas.draw_idle()
            return
        self.sliders[j].valtext.set_text(f"{value:.3g}")
        self.recompute()

    def on_choose(self, label: str):
        self.editing = self.names.index(label)
        self._configure_sliders()
        self.figure.canvas.draw_idle()

    def on_toggle(self, label: str):
        states = self.visible.get_status()
        self.shown, self.flows_shown = states[:-1], states[-1]
        self.recompute()

    def on_click(self, event):
        if event.inaxes is not self.ax or event.xdata is None or event.button != 1:
            return
        self.exploration.set_start([event.xdata, event.ydata][:self.landscape.dim])  # 1-D: the x of the click
        self.recompute()

    # -- the runs -------------------------------------------------------------------------------------
    def recompute(self):
        """Run every shown optimizer (and its flow, while flows are shown) from the start; redraw."""
        runs = self.exploration.runs()
        self.view.update(runs)
        self.visible.labels[-1].set_text(self.exploration.flows_label(runs))
        self.status.set_text(self.exploration.status(runs))
        self.figure.canvas.draw_idle()


def _short(text: str, width: int = 58) -> str:
    text = str(text)
    return text if len(text) <= width else text[:width - 1] + "…"


def _flow_notes(model, path, seconds: float) -> list[str]:
    """What the status says of a drawn flow: which model when it is not the exact lift, and where
    it stopped when the solver did not reach the end (its wall-time budget, or a failure)."""
    notes = [] if model.kind == "exact" else [f"dashed: its {model.kind} flow"]
    if int(np.max(path.status)) == FAILED:
        reached = np.flatnonzero(np.isfinite(np.asarray(path.f)))
        end = float(path.t[reached[-1]]) if reached.size else 0.0
        message = str(path.message)
        why = f"its {seconds:g} s {WALL_TIME} ran out" if WALL_TIME in message else _short(message, 50)
        notes.append(f"flow stopped early, at t = {end:.3g} of {float(path.t[-1]):.3g}: {why}")
    return notes


@public
def explore(landscape="himmelblau", optimizers=None, start=None, steps: int = 100, *, screenshot=None,
            overwrite: bool = False, backend: str | None = None) -> Explorer:
    """Open the explorer in a window (blocks until it is closed). ``screenshot``: save the window
    to this file once drawn and close it (a check that a real window works; an existing file is
    replaced only with ``overwrite``)."""
    import matplotlib

    if backend:
        matplotlib.use(backend)
    import matplotlib.pyplot as plt

    from ..io.files import FIGURE_FORMATS, check_output_path, save_figure

    optimizers = optimizers or DEFAULT_OPTIMIZERS
    _, opts, _ = explorer_inputs(landscape, optimizers, start)  # bad input is named before anything opens
    check_explorer_memory(opts, steps)
    if screenshot is not None:
        check_output_path(screenshot, FIGURE_FORMATS, overwrite=overwrite)  # a bad path must not hang the window
    if not can_show():
        raise ValueError("the explorer needs a window, and none can be opened here (no display, or a non-interactive "
                         f"matplotlib backend: {matplotlib.get_backend()}); simulate plot draws the same to a file")
    fig = plt.figure(figsize=(12, 7))
    try:
        explorer = Explorer(landscape, optimizers, start, steps, figure=fig)
    except BaseException:
        plt.close(fig)
        raise
    if screenshot is not None:
        timer = fig.canvas.new_timer(interval=1500)
        timer.add_callback(lambda: (save_figure(fig, screenshot), plt.close(fig)))
        timer.start()
    plt.show()
    return explorer


def can_show() -> bool:
    """Whether a window can be opened: an interactive matplotlib backend and a display."""
    import os

    import matplotlib

    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "cairo", "template") or "inline" in backend:
        return False
    return not (os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
                and "macosx" not in backend)


def show_file(path) -> None:
    """Open a written PNG figure in a window (blocks until it is closed)."""
    import matplotlib
    import matplotlib.pyplot as plt

    if not str(path).lower().endswith(".png"):
        raise ValueError(f"--show displays PNG figures; {path} was written")
    if not can_show():
        raise ValueError(f"no window can be opened here (no display, or the non-interactive backend "
                         f"{matplotlib.get_backend()}); the figure was written to {path}")
    image = plt.imread(path)
    fig = plt.figure(figsize=(image.shape[1] / 100, image.shape[0] / 100))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(image)
    ax.set_axis_off()
    plt.show()
