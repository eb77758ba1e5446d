"""The options of the commands that run and record (plot, order, sweep, rate-map, tune), declared once.

Each :class:`Option` says everything about one option: its name and flags, its type on the command
line, its default, its help text, the rule that checks a value from any source (command line,
config file, run record, Python), and the library argument it becomes. A :class:`Command` holds
its options, the checks among them, and the library function it calls. From these declarations
come the typer command (:mod:`simulate.cli.app`), config-file validation and ``--dump-config``,
the run records and ``rerun`` (:mod:`simulate.cli.runs`), and the call into the library.

Plain Python: importing this module imports no numerics. The registries that some help texts,
choices and bounds name (flows, solver methods, schedules, ...) are imported when a command is
built, run or validated, by the small ``_registry`` functions below.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


__all__ = ["Option", "Command", "COMMANDS", "Integer", "parse_starts", "help_text", "figure_formats"]

MAX_RANDOM_STARTS = 1_000_000
#: --flow-seconds' default, as simulate.solvers.continuous.MAX_SECONDS (checked by a test; this module imports no numerics)
FLOW_SECONDS = 60.0
FIGURE_FORMATS = ("png", "svg", "pdf")


# -- the registries that help texts, choices and bounds name (imported when needed) ----------------------
def _flows():
    from ..models import FLOWS

    return FLOWS


def _scalings():
    from ..models import SCALINGS

    return tuple(SCALINGS)


def _methods():
    from ..solvers.continuous import METHODS

    return METHODS


def _schemes():
    from ..solvers.sdes import SCHEMES

    return SCHEMES


def _schedules():
    from ..optimizers.schedules import SCHEDULES

    return SCHEDULES


def _max_paths():
    from ..analysis.ensembles import MAX_PATHS

    return MAX_PATHS


def _order_metrics():
    from ..analysis.order import METRICS

    return METRICS


def _order_axes():
    from ..viz.plotting import ORDER_AXES

    return tuple(ORDER_AXES)


def _sweep_metrics():
    from ..analysis.sweep import METRICS

    return METRICS


def _engines():
    from ..solvers.choice import ENGINES

    return ENGINES


def _flow_budget_help() -> str:
    return ("Wall time in seconds one flow (one start) may use before it is stopped and reported as not integrated to "
            "the end, its samples so far kept (a tiny lr or a singular start can otherwise spend minutes); 0: no "
            "bound.")


def _flow_seconds(v):
    """--flow-seconds: a positive number of seconds, or 0 for no bound."""
    if _is_number(v) and v == 0:
        return 0
    return _positive(v)


def _default_optimizer_labels() -> str:
    from ..spec import format_spec
    from ..viz.defaults import DEFAULT_OPTIMIZERS

    return " ".join(format_spec(name, params) for name, params in DEFAULT_OPTIMIZERS)


def _resolve(value):
    """A value, or the value a zero-argument function returns (a registry imported on demand)."""
    return value() if callable(value) else value


# -- rules: strict types and ranges; each returns the value it accepts -------------------------------------
def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


@dataclass(frozen=True)
class Integer:
    """A whole number in ``[lo, hi]`` (``hi`` may name a registry's bound)."""

    lo: int
    hi: int | Callable[[], int] | None = None

    def __call__(self, v):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ValueError(f"expected a whole number, got {shown(v)}")
        hi = _resolve(self.hi)
        if v < self.lo or (hi is not None and v > hi):
            raise ValueError(f"must be between {self.lo} and {hi}, got {shown(v)}" if hi is not None
                             else f"must be >= {self.lo}, got {shown(v)}")
        return checks().count(v)  # the package-wide bound where the option states none


def checks():
    """simulate._checks, the one home of number and text checks, loaded when a rule first runs."""
    from .. import _checks

    return _checks


def shown(v) -> str:
    return checks().shown(v)


def _positive(v):
    if not _is_number(v):
        raise ValueError(f"must be a positive finite number, got {shown(v)}")
    return checks().real(v, positive=True)


def _ratio(v):
    if not _is_number(v) or checks().real(v) <= 1:
        raise ValueError(f"must be a number > 1, got {shown(v)}")
    return float(v)


def _numbers(v):
    if not isinstance(v, (list, tuple)) or not all(_is_number(x) for x in v):
        raise ValueError(f"expected a list of numbers, got {shown(v)}")
    return [_positive(x) for x in v]


def _text(v):
    return checks().text(v)  # printable: it is written into run records and figures


def _flag(v):
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


@dataclass(frozen=True)
class OneOf:
    """One of ``choices`` (a tuple, or a function returning a registry's names)."""

    choices: tuple | Callable[[], Any]

    def __call__(self, v):
        choices = tuple(_resolve(self.choices))
        if _text(v) not in choices:
            close = difflib.get_close_matches(str(v), choices, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"must be one of {', '.join(choices)}, got {v!r}.{hint}")
        return v


def _strings(v, what: str) -> list:
    """A list option: every item a string (each option then checks the items themselves)."""
    if not isinstance(v, (list, tuple)) or not all(isinstance(s, str) for s in v):
        raise ValueError(f"expected a list of {what}, got {shown(v)}")
    return [checks().text(s) for s in v]


@dataclass(frozen=True)
class PathWith:
    """A path whose extension is one of ``formats``; ``beside`` says what is written next to it."""

    formats: tuple[str, ...]
    beside: str = ""

    def __call__(self, v):
        if Path(checks().text(v, spaces=False)).suffix.lower().lstrip(".") not in self.formats:
            raise ValueError(f"the extension must be one of {', '.join('.' + f for f in self.formats)}, got {v!r}"
                             + (f" ({self.beside})" if self.beside else ""))
        return v


def _animation_path(v):
    from ..viz.animation import ANIMATION_FORMATS, encoder

    encoder(PathWith(ANIMATION_FORMATS)(v))  # an .mp4 without ffmpeg is refused before any work
    return v


def _landscape(v):
    from ..landscapes import landscape

    landscape(_text(v))
    return v


def _optimizers(v):
    from ..optimizers import optimizer

    for spec in _strings(v, "optimizer specs"):
        optimizer(spec)
    return list(v)


def _flow_kinds(v):
    from .._names import lookup

    for kind in _strings(v, "flow kinds"):
        lookup("flow", kind, _flows())
        if v.count(kind) > 1:
            raise ValueError(f"flow {kind} is given twice")
    return list(v)


def _schedule(v):
    """A schedule spec: checked by building it (unknown names suggest the right ones)."""
    from ..optimizers.schedules import schedule

    schedule(_text(v))
    return v


def scales(v):
    """``"1,10"`` or ``[1, 10]`` -> (1.0, 10.0) (None stays None)."""
    if v is None:
        return None
    items = v.split(",") if isinstance(v, str) else v if isinstance(v, (list, tuple)) else [v]
    try:
        values = tuple(checks().real(x if _is_number(x) else float(x), positive=True) for x in items)
    except (TypeError, ValueError):
        raise ValueError(f"expected positive numbers of size at most {checks().MAX_MAGNITUDE:g}, comma-separated (one per "
                         f"coordinate), got {shown(v)}") from None
    if not values:
        raise ValueError(f"expected positive numbers, comma-separated (one per coordinate), got {shown(v)}")
    return values


def _lr_scale(v):
    scales(v)
    return v


def _ema(v):
    """β of the moving average of the iterates: a number in [0, 1) (an int 0 from a file too)."""
    from ..analysis.averaging import check_beta

    if not _is_number(v):
        raise ValueError(f"expected a number β in [0, 1), got {v!r}")
    try:
        return check_beta(v, name="β")
    except ValueError as exc:  # the key already names the option
        raise ValueError(str(exc).removeprefix("β: ")) from None


def _box(v):
    """A drawn region: "lo:hi,lo:hi" or pairs [[lo, hi], ...]; plot checks it against the landscape."""
    from ..viz.style import parse_box

    parse_box(v, name="")
    return v if isinstance(v, str) else [[float(x) for x in p] for p in v]


def _noise(v):
    from ..solvers.noise import noise

    if not (_is_number(v) or isinstance(v, (str, list))):
        raise ValueError(f"expected a standard deviation (0.5), one per coordinate (\"0.5,0.1\") or a spec such as "
                         f"\"noise(cov=[[1, 0.5], [0.5, 2]])\", got {v!r}")
    try:
        noise(tuple(v) if isinstance(v, list) else v)
    except ValueError as exc:  # the key already names the option
        raise ValueError(str(exc).removeprefix("noise: ")) from None
    return v


def parse_starts(value):
    """Start points: ``["1,2", "-1,0.5"]``, ``[1, 2]`` or ``[[1, 2], [-1, 0.5]]`` (one form per
    list). One start stays one point ``(d,)``; several give ``(B, d)``; none gives None."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return None
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of start points, got {value!r}")
    if all(_is_number(v) for v in value):
        return [checks().real(v, "a start coordinate") for v in value]
    if all(isinstance(v, str) for v in value):
        points = []
        for item in value:
            try:
                points.append([float(v) for v in item.replace(" ", ",").split(",")])
            except ValueError:
                raise ValueError(f"start {shown(item)}: expected comma-separated numbers such as -1.5,2") from None
            for c in points[-1]:
                checks().real(c, f"start {shown(item)}: a coordinate")
    elif all(isinstance(v, (list, tuple)) and v and all(_is_number(c) for c in v) for v in value):
        points = [[checks().real(c, "a start coordinate") for c in v] for v in value]
    else:
        raise ValueError("start points must all be written the same way: numbers, \"x,y\" strings, or lists of numbers")
    if len({len(p) for p in points}) > 1:
        raise ValueError("all start points need the same number of coordinates")
    return points[0] if len(points) == 1 else points


def _starts(v):
    parse_starts(v)
    return v


def _one_start(value) -> bool:
    """Whether parsed start points are (at most) one point."""
    starts = parse_starts(value)
    return starts is None or not isinstance(starts[0], list)


def _track(v):
    from ..analysis.sweep import TRACKED

    for name in _strings(v, "metric names"):
        OneOf(TRACKED + ("none",))(name)
    if "none" in v and len(v) > 1:
        raise ValueError("none tracks nothing: give it alone")
    return list(v)


def _axes_specs(v):
    from ..analysis.sweep import NotAnAxis, parse_axis

    _strings(v, "axes such as lr=1e-4:1e-1:50:log")
    for spec in v:
        try:
            parse_axis(spec)
        except NotAnAxis:  # norm=1,2,inf: the sweep, which knows the optimizers, says whose setting it is
            pass
    return list(v)


def _range(v):
    from ..analysis.sweep import parse_axis

    try:
        parse_axis(f"lr_lambda={_text(v)}")
    except ValueError as exc:  # the option's name is said once, by the caller
        raise ValueError(str(exc).replace("axis lr_lambda: ", "")) from None
    return v


def _axis(v):
    from ..analysis.sweep import parse_axis

    parse_axis(_text(v))
    return v


# -- the declarations ----------------------------------------------------------------------------------
_SAME = "same"  # Option.argument: the library argument has the option's name


@dataclass(frozen=True)
class Option:
    """One option of a command.

    ``kind`` is its type on the command line: int, float, str, bool, Path, list[str] or
    list[float] (a list is a repeatable option; it and any option whose default is None may be
    left unset). ``default`` is the value a run uses and records when the option is not given.
    ``help`` is the text of ``--help``, or a function returning it (when it names a registry).
    ``rule`` checks a value from any source and returns it; ``bounds`` is the range the command
    line enforces (click's message, shown in ``--help``): the rule's by default. ``argument`` is the
    library keyword the value goes to (None: the option is for the files written), ``to`` says
    which call (``"call"``: the command's library function; ``"figure"``: the figure drawn from
    its result), and ``convert`` turns the option's value, given all options, into the library's.
    An output path lists the ``beside`` suffixes of files written next to it. ``written``: a path the
    library itself writes as it runs (a distributed sweep's store), checked with the outputs.
    """

    name: str
    kind: Any
    default: Any
    help: str | Callable[[], str]
    rule: Callable[[Any], Any] | None = None
    flags: tuple[str, ...] = ()
    bounds: tuple | None = None
    metavar: str | None = None
    argument: str | None = _SAME
    to: str = "call"
    convert: Callable[[Any, dict], Any] | None = None
    output: bool = False
    beside: tuple[str, ...] = ()
    written: bool = False

    @property
    def repeatable(self) -> bool:
        """A list option: given once per item on the command line."""
        return getattr(self.kind, "__origin__", None) is list

    @property
    def library_argument(self) -> str | None:
        return self.name if self.argument == _SAME else self.argument

    def range(self) -> tuple:
        """``(lo, hi)`` the command line enforces (None where open); ``(None, None)`` for no range."""
        if self.bounds is not None:
            return tuple(_resolve(b) for b in self.bounds)
        if isinstance(self.rule, Integer):
            return self.rule.lo, _resolve(self.rule.hi)
        return None, None

    def value_for_library(self, options: dict):
        value = options[self.name]
        return self.convert(value, options) if self.convert else value


def help_text(option: Option) -> str:
    return _resolve(option.help)


@dataclass(frozen=True)
class Command:
    """A command that runs and records: its options, the checks among them, and its library call.

    ``function`` returns the library function (imported when the command runs); ``figure``
    returns the function that draws the figure from its result; ``together``
    checks options against each other before any output path is looked at; ``exclusive`` pairs
    exclude each other (one from the command line overrides the other from a config file);
    ``arguments`` completes the library call where a default depends on several options;
    ``text`` is what the command says on the terminal after the paths it wrote, from its result
    (tune's tuned table), or None.
    """

    name: str
    doc: str
    options: tuple[Option, ...]
    function: Callable[[], Callable]
    figure: Callable[[], Callable]
    together: Callable[[dict], None] = lambda options: None
    exclusive: tuple[tuple[str, str], ...] = field(default=())
    arguments: Callable[[dict], dict] = lambda arguments: arguments
    text: Callable[[object], str] | None = None

    @property
    def defaults(self) -> dict:
        """Every option with its default."""
        return {o.name: o.default for o in self.options}

    @property
    def outputs(self) -> tuple[str, ...]:
        """The options that are output paths."""
        return tuple(o.name for o in self.options if o.output)

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)

    def call(self, options: dict, to: str = "call") -> dict:
        """The keyword arguments of the library call (``to="figure"``: of the figure) for these options."""
        arguments = {o.library_argument: o.value_for_library(options)
                     for o in self.options if o.library_argument and o.to == to}
        return self.arguments(arguments) if to == "call" else arguments


# Options that mean the same in every command (each command may give its own default).
def _optimizer_help() -> str:
    return ("Optimizer name or spec, repeatable: -o gd -o 'adam(lr=0.01, betas=(0.9, 0.99))' "
            "-o momentum:lr=0.001  [default: " + _default_optimizer_labels() + "]")


_NOISE_HELP = ("Stochastic gradients: Gaussian noise of this standard deviation added to every gradient (0.5), one per "
               "coordinate (0.5,0.1), or noise(cov=[[1,0.5],[0.5,2]]).")
LANDSCAPE = Option("landscape", str, "himmelblau", "Landscape name or spec, e.g. rosenbrock or 'quadratic(condition=100, angle=0.5)'.",
                   _landscape, flags=("--landscape", "-l"))
OPTIMIZER = Option("optimizer", list[str], None, _optimizer_help, _optimizers, flags=("--optimizer", "-o"),
                   argument="optimizers", convert=lambda v, options: list(v) if v else None)
METHOD = Option("method", str, "LSODA", lambda: "solve_ivp method for the flows: " + ", ".join(_methods()) + " (auto: RK45-compiled where it applies, else LSODA).",
                OneOf(_methods))
RTOL = Option("rtol", float, 1e-8, "Relative tolerance of the flow solver.", _positive)
ATOL = Option("atol", float, 1e-10, "Absolute tolerance of the flow solver.", _positive)
SEED = Option("seed", int, 0, "Seed of the gradient noise (each optimizer gets its own stream from it).", Integer(0),
              bounds=(None, None))
BATCH_SIZE = Option("batch_size", int, None, "Stochastic gradients from minibatches of this many samples, drawn every step, on a finite-sum landscape (least-squares, logistic).",
                    Integer(1))
SCHEDULE = Option("schedule", str, None, lambda: (
    "Learning-rate schedule for every optimizer without its own: " + ", ".join(_schedules()) + ", e.g. 'cosine', "
    "'step(step_size=30, gamma=0.5)', \"lambda(f='0.99**k')\" (torch.optim.lr_scheduler semantics; lengths left out "
    "are the run's). In a sweep its parameters are axes too (--vary warmup=0:50:6)."), _schedule,
    flags=("--schedule",), convert=lambda v, options: run_schedule(options))
WARMUP = Option("warmup", int, 0, "Linear warmup over this many steps before the schedule (torch's SequentialLR with LinearLR(0.01, 1)); alone: warmup, then constant.",
                Integer(0), argument=None)  # it goes into the schedule
CLIP_NORM = Option("clip_norm", float, None, "Clip every gradient to this norm first (torch.nn.utils.clip_grad_norm_), for every optimizer without its own; the flow becomes −clip(∇f), a normalized flow where the clip is active.",
                   _positive, flags=("--clip-norm",))
CLIP_VALUE = Option("clip_value", float, None, "Clamp every gradient coordinate to [−v, v] first (clip_grad_value_).",
                    _positive, flags=("--clip-value",))
LR_SCALE = Option("lr_scale", str, None, "A learning-rate multiplier per coordinate, e.g. 1,10 (a fixed diagonal preconditioner: the flow ẋ = −P∇f).",
                  _lr_scale, flags=("--lr-scale",), convert=lambda v, options: scales(v))
CAPTION = Option("caption", str, None, "A sentence printed under the figure (the demos say there what to look at).",
                 _text, to="figure")
OUT = Option("out", Path, None, "Figure path; the format comes from the extension (.png, .svg, .pdf).",
             PathWith(FIGURE_FORMATS), flags=("--out",), argument=None, output=True)
DPI = Option("dpi", int, 150, "Resolution of raster figures.", Integer(20, 1200), argument=None)


def _seconds(v):
    if not _is_number(v):
        raise ValueError(f"must be a number of seconds >= 0 (0: no limit), got {shown(v)}")
    return checks().real(v, nonnegative=True)


def _limited(function):
    """The command's library function with the keyword ``time_limit`` (:func:`simulate.solvers.cost.limited`)."""
    from ..solvers.cost import limited

    return limited(function)


#: Every command's time estimate is checked against this before any work (simulate.solvers.cost).
TIME_LIMIT = Option("time_limit", float, 3600.0, "Refuse, before any work, a run whose estimated time on this machine exceeds this many seconds (0: no limit).",
                    _seconds, flags=("--time-limit",), metavar="SECONDS", bounds=(0, None))


FLOW_SECONDS_OPTION = Option("flow_seconds", float, FLOW_SECONDS, _flow_budget_help, _flow_seconds,
                             flags=("--flow-seconds",), bounds=(0, None), argument="max_seconds",
                             convert=lambda v, options: float(v) if v else None)
_DATA_HELP = "Also write this .npz, a .json summary and a .csv table (one row per rung) beside it."


def _size(v):
    from ..viz.style import parse_size

    try:
        parse_size(_text(v))
    except ValueError as exc:  # the key already names the option
        raise ValueError(str(exc).removeprefix("size: ")) from None
    return v


def _font_scale(v):
    from ..viz.style import check_font_scale

    if not _is_number(v):
        raise ValueError(f"expected a number, got {shown(v)}")
    try:
        return check_font_scale(v)
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix("font_scale: ")) from None


def figure_formats(v) -> tuple[str, ...]:
    """``"png,svg"`` -> ("png", "svg"): each a figure format, none twice."""
    items = tuple(f.strip().lower().lstrip(".") for f in _text(v).split(","))
    for f in items:
        if f not in FIGURE_FORMATS:
            raise ValueError(f"each format must be one of {', '.join(FIGURE_FORMATS)}, got {v!r}")
    if len(set(items)) < len(items):
        raise ValueError(f"a format is given twice in {v!r}")
    return items


def _formats(v):
    figure_formats(v)
    return v


#: Figures for slides and print (issue 19): the size in inches and a scale for every text; the
#: animation follows them (and --dpi) too. Several formats of the one figure from one run.
SIZE = Option("size", str, None, "Figure size WIDTHxHEIGHT in inches, e.g. 8x4.5 for a slide (each side 1 to 60); the file is then exactly that size (times --dpi in pixels), and so are the animation's frames.  [default: the figure's own, trimmed to what is drawn]",
              _size, flags=("--size",), metavar="WxH", argument=None)
FONT_SCALE = Option("font_scale", float, 1.0, "Multiply every text of the figure (titles, labels, ticks, legends) by this (0.25 to 5): 1.5 for slides.",
                    _font_scale, flags=("--font-scale",), argument=None)
FORMAT = Option("format", str, None, "Write the figure in each of these formats from one run, comma-separated (png,svg,pdf), named as --out with each extension: --out fig.png --format png,svg writes fig.png and fig.svg, with one run record listing both.  [default: --out's extension alone]",
                _formats, flags=("--format",), metavar="FORMATS", argument=None)


def _data(help: str, beside: tuple[str, ...], written: str, formats: tuple[str, ...] = ("npz",)) -> Option:
    """``--data``: a path of one of ``formats``; a labelled dataset (``.nc``, ``.zarr``) needs its
    optional packages, which the option's rule asks for before any work (an error naming the extra)."""
    path = PathWith(formats, written)

    def dataset(v):
        from ..io.files import DATASET_FORMATS, check_dataset_writer

        if Path(path(v)).suffix.lower().lstrip(".") in DATASET_FORMATS:
            check_dataset_writer(v)
        return v

    return Option("data", Path, None, help, dataset if set(formats) - {"npz"} else path, flags=("--data",),
                  argument=None, output=True, beside=beside)


def _start(help: str) -> Option:
    return Option("start", list[str], None, help, _starts, flags=("--start", "-s"),
                  convert=lambda v, options: parse_starts(v))


def run_schedule(options: dict):
    """The schedule of ``--schedule`` and ``--warmup`` (a warmup alone leads into a constant lr)."""
    if not options.get("schedule") and not options.get("warmup"):
        return None
    from ..optimizers.schedules import schedule
    from ..spec import parse_spec

    if options.get("warmup") and options.get("schedule") and "warmup" in parse_spec(str(options["schedule"]))[1]:
        raise ValueError(f"--warmup {options['warmup']} and the schedule's own warmup in {options['schedule']!r}: drop one")
    return schedule(options.get("schedule") or "constant", **({"warmup": int(options["warmup"])} if options.get("warmup") else {}))


def _noisy(options: dict, defaults: dict, only: tuple[str, ...]) -> None:
    """Refuse options that act on stochastic gradients when there are none (they would be ignored)."""
    if options["noise"] is None and options["batch_size"] is None:
        given = [k for k in only if options[k] != defaults[k]]
        if given:
            names = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ValueError(f"{names} act on stochastic gradients: give --noise or --batch-size too")


# -- plot ----------------------------------------------------------------------------------------------
def _plot_function():
    from ..viz.figures import plot

    return _limited(plot)


def _plot_figure():
    def figure(result, *, steepest_steps=False):  # plot draws it, caption included
        if steepest_steps:
            from ..viz.metric import add_steepest_panel

            add_steepest_panel(result.figure, result.experiment)
        return result.figure

    return figure


PLOT_OPTIONS = (
    LANDSCAPE,
    OPTIMIZER,
    _start("Start point as comma-separated coordinates, repeatable for several starts; use --start=-1.5,2 for a leading minus.  [default: the landscape's]"),
    Option("random_starts", int, 0, "Instead of --start: this many starts drawn uniformly in the plot box with --seed.",
           Integer(0, MAX_RANDOM_STARTS), bounds=(0, None)),
    replace(SEED, help="Seed of the random starts and of the gradient noise (numpy default_rng)."),
    Option("steps", int, 100, "Number of discrete steps.", Integer(0)),
    Option("lr", float, None, "Learning rate for every optimizer whose spec does not set one (and for all the default optimizers).",
           _positive),
    Option("flow", str, None, lambda: "Continuous model drawn beside the iterates: " + ", ".join(_flows())
           + " (see simulate order --help).  [default: each optimizer's own, the exact lift for torch's]",
           OneOf(_flows), flags=("--flow", "-f")),
    METHOD,
    RTOL,
    ATOL,
    Option("max_evaluations", int, None, "Field evaluations one flow (one start) may use before it is stopped and reported as not integrated to the end.  [default: 2000000]",
           Integer(100, 100_000_000), bounds=(100, None)),
    FLOW_SECONDS_OPTION,
    Option("time", str, None, "Loss panel against time t or steps k = t/h: t or steps.  [default: t when all h agree]",
           OneOf(("t", "steps"))),
    Option("sharpness", bool, False, "Add a panel: sharpness λmax(∇²f) along the runs with each optimizer's stability threshold (2/lr for GD).",
           _flag, flags=("--sharpness",)),
    Option("energy", bool, False, "Add a panel: the Lyapunov energy of each flow (f, f + |ẋ|²/2, Su–Boyd–Candès', ...).",
           _flag, flags=("--energy",)),
    Option("steepest_steps", bool, False, "Add a panel: the steps of the first optimizer whose step is steepest descent in a metric it carries (rmsprop: P = diag(√v + ε); adam: of m̂), beside that argmin solved independently and the Euclidean direction −g (theory §10.9).",
           _flag, flags=("--steepest-steps",), to="figure"),
    Option("three_d", bool, False, "Draw the paths on the surface of f (height log₁₀(f − f_min + ε)) instead of over its contours; 2-D landscapes.",
           _flag, flags=("--3d",)),
    Option("noise", str, None, _NOISE_HELP + " The figure is then an ensemble of --paths paths beside the SDE (--flow is its drift: exact = the first-order SME, modified = second order).",
           _noise),
    BATCH_SIZE,
    Option("paths", int, 200, "With --noise or --batch-size: paths per optimizer, all from the one start.",
           Integer(1, _max_paths)),
    Option("scheme", str, "euler-maruyama", lambda: "With noise: how the SDE is stepped, " + " or ".join(_schemes())
           + " (weak order 2 for additive noise).", OneOf(_schemes)),
    Option("substeps", int, 10, "With noise: SDE steps per optimizer step (1 reproduces the noisy iterates' own scheme).",
           Integer(1, 10_000)),
    SCHEDULE,
    WARMUP,
    CLIP_NORM,
    CLIP_VALUE,
    LR_SCALE,
    Option("ema", float, None, "Also draw each optimizer's exponential moving average of its iterates, z̄ₖ = β·z̄ₖ₋₁ + (1−β)·zₖ with β in [0, 1) (weight averaging as in GAN training, Yazıcı et al. 2019), dashed in its colour in both panels; --data exports it (average_x_i, ...). Exact gradients only (not with --noise or --batch-size).",
           _ema, flags=("--ema",), metavar="BETA"),
    Option("box", str, None, "The region drawn, low:high per coordinate (x₁ and x₂; x in 1-D), e.g. --box=-1:2,0:3.  [default: the landscape's plot box; 1-D graphs zoom to the runs]",
           _box, flags=("--box",)),
    replace(CAPTION, to="call"),  # plot puts the caption under its own figure
    replace(OUT, default="simulate_plot.png"),
    _data("Also write the numbers behind the figure: this .npz file and a .json summary beside it.", (".json",),
          "the .json summary is written beside it"),
    Option("animate", Path, None, "Also write an animation: iterates and flows advancing together (.gif; .mp4 where ffmpeg is installed), at most 120 frames.",
           _animation_path, flags=("--animate",), argument=None, output=True),
    DPI,
    SIZE,
    FONT_SCALE,
    FORMAT,
    TIME_LIMIT,
)


def _plot_together(options: dict) -> None:
    _noisy(options, COMMANDS["plot"].defaults, ("paths", "scheme", "substeps"))
    if options["three_d"] and options["animate"]:
        raise ValueError("animations are drawn over the contours: give --3d or --animate, not both")
    if options["random_starts"] and parse_starts(options["start"]) is not None:
        raise ValueError("give either start points or random_starts, not both")


# -- order ---------------------------------------------------------------------------------------------
#: With no optimizer and no flow given, ``simulate order`` shows GD against three models: slopes 1, 2, 3.
ORDER_DEFAULT_OPTIMIZER, ORDER_DEFAULT_FLOWS = "gd(lr=0.01)", ("exact", "modified", "modified2")


def _order_function():
    from ..analysis.order import order_study

    return _limited(order_study)


def _order_figure():
    from ..viz.figures import order_figure
    from ..viz.figures import add_caption

    return lambda study, *, x, caption: add_caption(order_figure(study, x=x), caption)


def _order_arguments(arguments: dict) -> dict:
    if not arguments["optimizers"] and not arguments["flows"]:
        return {**arguments, "optimizers": [ORDER_DEFAULT_OPTIMIZER], "flows": list(ORDER_DEFAULT_FLOWS)}
    return {**arguments, "optimizers": arguments["optimizers"] or [ORDER_DEFAULT_OPTIMIZER]}


def _order_together(options: dict) -> None:
    if not _one_start(options["start"]):
        raise ValueError("order takes one start point")
    defaults = COMMANDS["order"].defaults
    if options["lrs"] and (options["rungs"] != defaults["rungs"] or options["ratio"] != defaults["ratio"]):
        raise ValueError("give lrs, or rungs and ratio: not both (with lrs, rungs and ratio have no effect)")


ORDER_OPTIONS = (
    LANDSCAPE,
    replace(OPTIMIZER, help="Optimizer spec, repeatable; its lr is the ladder's largest.  [default: gd(lr=0.01)]"),
    Option("flow", list[str], None, lambda: "Continuous model to measure against, repeatable: "
           + "; ".join(f"{k}: {c.summary}" for k, c in _flows().items())
           + ".  [default: each optimizer's own; with neither -o nor -f: gd against exact, modified, modified2]",
           _flow_kinds, flags=("--flow", "-f"), argument="flows", convert=lambda v, options: list(v) if v else None),
    _start("Start point, e.g. --start=-1.5,2.  [default: the landscape's]"),
    Option("horizon", float, 1.0, "Time T every rung runs to (steps = T/h).", _positive),
    Option("rungs", int, 6, "Number of learning rates: lr, lr/ratio, lr/ratio², ...", Integer(2, 40)),
    Option("ratio", float, 2.0, "Factor between consecutive learning rates (> 1).", _ratio),
    Option("lrs", list[float], None, "Explicit learning rates instead of --rungs/--ratio, repeatable.", _numbers,
           flags=("--lrs",), convert=lambda v, options: list(v) if v else None),
    Option("scaling", str, None, "How β follows lr along the ladder: fixed, linear (1−β ∝ lr), sqrt (1−β ∝ √lr).  [default: the flow's own]",
           OneOf(_scalings)),
    Option("metric", str, None, "max: largest distance over the run; late: over t ≥ T/4; final: at T.  [default: the flow's own]",
           OneOf(_order_metrics)),
    Option("x", str, "h", "Horizontal axis: h (time per step), lr, or evaluations (gradient evaluations: equal work).",
           OneOf(_order_axes), flags=("--x",), to="figure"),
    replace(METHOD, default="DOP853"),
    replace(RTOL, default=1e-12, help="Relative tolerance of the flow solver (keep it far below the errors)."),
    replace(ATOL, default=1e-14),
    Option("max_evaluations", int, 20_000, "Field evaluations one rung's flow may use before it is reported as failed (a model far outside its regime gives up early).",
           Integer(100, 100_000_000), bounds=(100, None)),
    FLOW_SECONDS_OPTION,
    CAPTION,
    replace(OUT, default="simulate_order.png"),
    _data(_DATA_HELP, (".json", ".csv"), "the .csv and .json are written beside it"),
    DPI,
    SIZE,
    FONT_SCALE,
    FORMAT,
    TIME_LIMIT,
)


# -- sweep ---------------------------------------------------------------------------------------------
#: With no optimizer and no axis, ``simulate sweep`` shows which learning rates converge, crawl or
#: diverge on Rosenbrock's valley for GD, heavy ball and Nesterov, with their stability thresholds.
SWEEP_DEFAULT_OPTIMIZERS = ("gd", "momentum", "nesterov")
SWEEP_DEFAULT_AXES = ("lr=1e-5:1e-2:61:log",)


def _sweep_function():
    import functools

    import numpy as np

    from ..analysis.sweep import MAX_CELLS, sweep

    @functools.wraps(sweep)
    def run(*args, **kwargs):
        result = sweep(*args, **kwargs)
        if kwargs.get("store") is None:
            return result
        # a stored sweep reads from its store; the figure and --data take it in memory, where it fits
        cells = len(result.members) * int(np.prod(result.grid_shape, dtype=float))
        if cells > MAX_CELLS:
            raise ValueError(f"{kwargs['store']} is written ({cells} cells); a grid beyond {MAX_CELLS} cells is not "
                             f"drawn or tabulated here: read the store with xarray.open_zarr")
        return result.load()

    return _limited(run)


def _sweep_figure():
    from ..viz.figures import add_caption, sweep_figure

    def figure(result, *, metric, x, y, max_panels, caption):
        return add_caption(sweep_figure(result, metric, x=x, y=y, max_panels=max_panels), caption)

    return figure


def _max_panels():
    from ..viz.figures import MAX_PANELS

    return MAX_PANELS


def _axis_names(specs) -> list[str]:
    """The names of the --vary axes (``lr=1e-4:1e-1:50:log`` -> lr), in order."""
    return [str(spec).partition("=")[0].strip() for spec in specs]


def _drawn_axes(options: dict) -> None:
    """--x and --y name axes of the sweep (checked before any work) and two different ones; a 1-D
    sweep is drawn as lines against its axis (no --y)."""
    from .._names import UnknownNameError, suggest

    names = _axis_names(options["vary"] or SWEEP_DEFAULT_AXES)
    for flag in ("x", "y"):
        name = options[flag]
        if name is not None and name not in names:
            raise UnknownNameError(f"--{flag}: " + suggest("axis", name, names))
    if options["x"] is not None and options["x"] == options["y"]:
        raise ValueError(f"--x and --y are both {options['x']}: give two different axes")
    if options["y"] is not None and len(names) == 1:
        raise ValueError(f"a sweep of one axis ({names[0]}) is drawn as lines against it: give no --y")


def _tracked(v) -> tuple:
    """--track: the per-step metrics to measure; none given means the library's default (all), "none" means none."""
    from ..analysis.sweep import TRACKED

    if not v:
        return TRACKED
    return () if list(v) == ["none"] else tuple(v)


def _dask(v):
    """--scheduler, --workers: dask installed (else the install hint, before any work)."""
    from .._optional import optional

    try:
        optional("distributed", "a sweep on a Dask cluster")
    except ModuleNotFoundError as exc:
        raise ValueError(str(exc)) from None
    return v


def _scheduler_address(v):
    """--scheduler: a Dask scheduler's address, [tcp://]HOST:PORT (reached when the sweep runs)."""
    from ..analysis.distributed import ADDRESS

    if not ADDRESS.match(_text(v).strip()):
        raise ValueError(f"expected a Dask scheduler's address such as tcp://192.168.1.10:8786, got {v!r}")
    return _dask(v)


def _sweep_together(options: dict) -> None:
    if options["store"] and not (options["scheduler"] or options["workers"]):
        raise ValueError("--store writes a distributed sweep's chunks as they arrive: give --scheduler ADDRESS or "
                         "--workers N too")
    if options["scheduler"] and options["workers"]:
        raise ValueError("give --scheduler ADDRESS (a cluster running) or --workers N (a local one started here): not both")
    if options["chunk_cells"] and not (options["scheduler"] or options["workers"]):
        raise ValueError("--chunk-cells cuts a distributed sweep: give --scheduler ADDRESS or --workers N too")
    if not _one_start(options["start"]):
        raise ValueError("sweep takes one start point; sweep start coordinates with --vary x=... --vary y=...")
    _noisy(options, COMMANDS["sweep"].defaults, ("seed",))
    _drawn_axes(options)
    if int(options["record_every"]) and not options["data"]:
        raise ValueError("--record-every keeps the paths for the data file: give --data FILE.npz too")


SWEEP_OPTIONS = (
    replace(LANDSCAPE, default="rosenbrock"),
    replace(OPTIMIZER, help="Optimizer name or spec, repeatable; the swept hyperparameters come from --vary.  [default: "
            + " ".join(SWEEP_DEFAULT_OPTIMIZERS) + "]",
            convert=lambda v, options: list(v) if v else list(SWEEP_DEFAULT_OPTIMIZERS)),
    Option("vary", list[str], None, "An axis of the grid, repeatable (one makes a line plot, two a heat map, more a grid of heat maps: --x and --y name the two drawn): NAME=START:STOP:NUM (linear), NAME=START:STOP:NUM:log, or NAME=V1,V2,... NAME is a hyperparameter (lr, momentum, beta1, beta2, eps, ...), a start coordinate (x, y, x1, ...), or, with noise, path (path=1:50:50: 50 independent paths per configuration).  [default: "
           + " ".join(SWEEP_DEFAULT_AXES) + "]",
           _axes_specs, flags=("--vary", "-v"), argument="axes",
           convert=lambda v, options: list(v) if v else list(SWEEP_DEFAULT_AXES)),
    replace(_start("The start point, e.g. --start=-1.5,2; coordinates that an axis sweeps are taken from the axis.  [default: the landscape's]"),
            argument="start"),
    Option("steps", int, 1000, "Number of discrete steps per cell.", Integer(0)),
    Option("metric", str, None, lambda: "What the figure shows (the table has every metric): "
           + "; ".join(f"{k}: {v}" for k, v in _sweep_metrics().items())
           + ".  [default: minimum for a sweep of x and y (basins), else final_loss]",
           OneOf(_sweep_metrics), to="figure"),
    Option("x", str, None, "The axis drawn across (a --vary name).  [default: the first axis; with more than two axes of which two are start coordinates, those]",
           _text, flags=("--x",), to="figure"),
    Option("y", str, None, "The axis drawn up (a --vary name); with more than two axes the others make a grid of panels, one per combination of their values.  [default: the second axis]",
           _text, flags=("--y",), to="figure"),
    Option("max_panels", int, None, lambda: f"With more than two axes: the most panels drawn (members × combinations of the other axes' values); beyond it evenly spaced values of those axes are drawn, and a warning says so (--data keeps every cell).  [default: {_max_panels()}]",
           Integer(1, 1000), flags=("--max-panels",), to="figure"),
    Option("tol", float, 1e-6, "Tolerance of steps_to_tol: f − f* <= tol (|∇f| <= tol where no minimum is listed).",
           _positive),
    Option("near", float, None, "How close the last point must be to a listed minimum to have reached it.  [default: 1% of the plot box's largest side; with noise, half the distance between the two closest listed minima]",
           _positive),
    Option("flow", str, None, "Also integrate this continuous model from every cell: its endpoint gets the same metrics, and flow_distance is measured.",
           OneOf(_flows), flags=("--flow", "-f")),
    replace(METHOD, default="auto"),
    RTOL,
    ATOL,
    FLOW_SECONDS_OPTION,
    Option("record_every", int, 0, "Keep every m-th point of every path in --data (0: keep none; memory grows with it).",
           Integer(0)),
    Option("track", list[str], None, "Metrics measured at every step, repeatable: steps_to_tol, rate, verdict, or none (the fastest: only the end is measured).  [default: all three]",
           _track, flags=("--track",), convert=lambda v, options: _tracked(v)),
    Option("engine", str, "auto", "auto (compile large runs of optimizers that declare an elementwise kernel, on landscapes with a pointwise gradient: simulate warmup --list shows them; the compiled loop measures the tracked metrics itself), numpy, or compiled.",
           OneOf(_engines)),
    Option("noise", str, None, _NOISE_HELP + " Every cell is one noisy path; --vary path=1:N:N repeats each configuration N times.",
           _noise, flags=("--noise",)),
    BATCH_SIZE,
    SEED,
    SCHEDULE,
    WARMUP,
    CLIP_NORM,
    CLIP_VALUE,
    LR_SCALE,
    CAPTION,
    replace(OUT, default="simulate_sweep.png"),
    _data("Also write the numbers: this .npz (every metric over the grid) with a .json summary and a .csv table (one row per member and cell) beside it; or this .nc (netCDF) or .zarr store (zarr installed), a labelled dataset (xarray: a dimension per axis, every metric with its meaning and units, the run record in its attributes), with the .json summary beside it.",
          (".json", ".csv"), "the .csv and .json are written beside an .npz, the .json beside an .nc or .zarr",
          formats=("npz", "nc", "zarr")),
    Option("scheduler", str, None, "Run the grid on this Dask cluster, its scheduler's address tcp://HOST:PORT: cut into chunks, each one vectorized run on a worker (retried if the worker fails), gathered into the same results as the serial sweep, bit for bit; the flows run here (pip install \"dask[distributed]\").  [default: none: one process]",
           _scheduler_address, flags=("--scheduler",), metavar="ADDRESS"),
    Option("workers", int, None, "Run the grid on a local Dask cluster of N worker processes, started and closed by the command (as --scheduler).",
           lambda v: _dask(Integer(1, 1024)(v)), flags=("--workers",), bounds=(1, 1024)),
    Option("chunk_cells", int, None, "With --scheduler or --workers: cells per chunk.  [default: a sizeable vectorized run each: at least 4·10⁶ cell-steps and 20,000 cells, at most 10⁶ cells, 4 chunks per worker where the grid allows]",
           Integer(1), flags=("--chunk-cells",)),
    Option("store", Path, None, "With --scheduler or --workers: write every chunk's metrics into this .zarr store as it arrives (the layout of --data out.zarr), for grids larger than memory; the figure and --data read from it.",
           PathWith(("zarr",)), flags=("--store",), written=True),
    DPI,
    SIZE,
    FONT_SCALE,
    FORMAT,
    TIME_LIMIT,
)


# -- rate-map ------------------------------------------------------------------------------------------
def _rate_map_function():
    from ..analysis.ratemap import rate_maps

    return _limited(rate_maps)


def _rate_map_figure():
    from ..viz.figures import rate_map_figure
    from ..viz.figures import add_caption

    return lambda maps, *, caption: add_caption(rate_map_figure(maps), caption)


RATE_MAP_OPTIONS = (
    replace(OPTIMIZER, help="Optimizer whose step is linear on a quadratic (gd, momentum, nesterov, sgd, heun, rk4, proximal), repeatable: one row each.  [default: momentum nesterov]"),
    replace(LANDSCAPE, default=None, help="Also measure the map on this landscape, from near one of its minima (a sweep), beside the analytic map for its Hessian's modes.  [default: none: one quadratic mode, the Distill picture]"),
    Option("lr_lambda", str, "0.02:4.5:90", "The horizontal axis lr·λmax: START:STOP:NUM or START:STOP:NUM:log.", _range,
           flags=("--lr-lambda",)),
    Option("vary", str, "momentum=0.01:0.99:60", "The vertical axis: another hyperparameter, NAME=START:STOP:NUM[:log] or NAME=V1,V2,... (default momentum, or weight_decay for optimizers without momentum)",
           _axis, flags=("--vary", "-v")),
    Option("minimum", int, 0, "Which of the landscape's listed minima to linearize at and start near.", Integer(0)),
    Option("offset", float, 1e-3, "The measured runs start at that minimum plus this in every coordinate.", _positive),
    Option("steps", int, 400, "Steps per measured cell.", Integer(2)),
    CAPTION,
    replace(OUT, default="simulate_rate_map.png"),
    _data("Also write this .npz (the maps) and a .csv table beside it.", (".csv",), "the .csv is written beside it"),
    DPI,
    SIZE,
    FONT_SCALE,
    FORMAT,
    TIME_LIMIT,
)


# -- tune ----------------------------------------------------------------------------------------------
#: With no optimizer, ``simulate tune`` tunes GD, heavy ball and Adam on Rosenbrock's valley.
TUNE_DEFAULT_OPTIMIZERS = ("gd", "momentum", "adam")


def _tune_function():
    from ..analysis.tune import tune

    return _limited(tune)


def _tune_figure():
    from ..viz.figures import add_caption
    from ..viz.tuning import tune_figure

    return lambda result, *, caption: add_caption(tune_figure(result), caption)


def _tune_objectives():
    from ..analysis.tune import OBJECTIVES

    return OBJECTIVES


def _grid_specs(v):
    from ..analysis.sweep import NotAnAxis, parse_axis

    for spec in _strings(v, "axes such as lr=1e-4:1:25:log"):
        try:
            parse_axis(spec)
        except NotAnAxis:  # norm=1,2,inf: tune, which knows the optimizers, says whose setting it is
            pass
    return list(v)


def _tune_together(options: dict) -> None:
    if options["random_starts"] and parse_starts(options["start"]) is not None:
        raise ValueError("give either start points or random_starts, not both")


TUNE_OPTIONS = (
    replace(LANDSCAPE, default="rosenbrock"),
    replace(OPTIMIZER, help="Optimizer name or spec, repeatable; a hyperparameter the spec sets is held, the others "
            "are searched.  [default: " + " ".join(TUNE_DEFAULT_OPTIMIZERS) + "]",
            convert=lambda v, options: list(v) if v else list(TUNE_DEFAULT_OPTIMIZERS)),
    _start("Start point, repeatable: the objective is the mean over the starts, e.g. --start=-1.5,2 --start=1,-1.  [default: the landscape's]"),
    Option("random_starts", int, 0, "Instead of --start: this many starts drawn uniformly in the plot box with --seed.",
           Integer(0, MAX_RANDOM_STARTS), bounds=(0, None)),
    replace(SEED, help="Seed of the random starts (numpy default_rng)."),
    Option("budget", int, 200, "Gradient evaluations per run, the same for every optimizer: one taking e per step runs budget // e steps.",
           Integer(1)),
    Option("objective", str, "final_loss", lambda: "What a setting is scored by, mean over the starts, lower is better (a diverged run scores inf): "
           + "; ".join(f"{k}: {v}" for k, v in _tune_objectives().items()) + ".",
           OneOf(lambda: tuple(_tune_objectives()))),
    Option("vary", list[str], None, "The values of one hyperparameter, repeatable, for every optimizer that has it: NAME=START:STOP:NUM[:log] or NAME=V1,V2,... (one value holds it).  [default: lr log-spaced over 1e-4..1 (25 values); each other hyperparameter with a slider (β's, momentum, ε, ...) over it (5 values); weight_decay not searched]",
           _grid_specs, flags=("--vary", "-v"), argument="grid", convert=lambda v, options: list(v) if v else None),
    Option("tol", float, 1e-6, "Tolerance of the objective evaluations_to_tol: f − f* <= tol (|∇f| <= tol where no minimum is listed).",
           _positive),
    Option("within", float, 0.1, "Report the settings whose objective is within this share of the best (ties and flat optima).",
           _positive),
    Option("engine", str, "auto", "auto (compile large runs where the objective is measured at the end), numpy, or compiled.",
           OneOf(_engines)),
    METHOD,
    RTOL,
    ATOL,
    FLOW_SECONDS_OPTION,
    CAPTION,
    replace(OUT, default="simulate_tune.png"),
    Option("data", Path, None, "Also write the tuned table: this .csv (one row per optimizer: tuned spec, objective, steps, evaluations, per searched hyperparameter its best value and the range within --within) and a .json beside it (with the objective against lr).",
           PathWith(("csv",), "the .json is written beside it"), flags=("--data",), argument=None, output=True, beside=(".json",)),
    DPI,
    SIZE,
    FONT_SCALE,
    FORMAT,
    TIME_LIMIT,
)


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("plot", "Iterates of each optimizer beside the continuous flow it discretizes, and the loss of both.",
            PLOT_OPTIONS, _plot_function, _plot_figure, together=_plot_together, exclusive=(("start", "random_starts"),)),
    Command("order", "Error of the iterates against a continuous model over a ladder of step sizes: the observed order.",
            ORDER_OPTIONS, _order_function, _order_figure, together=_order_together, arguments=_order_arguments),
    Command("sweep", "Every optimizer over a grid of hyperparameters or start points in one vectorized run: a metric per cell.",
            SWEEP_OPTIONS, _sweep_function, _sweep_figure, together=_sweep_together,
            exclusive=(("scheduler", "workers"),)),
    Command("rate-map", "Per-step convergence rate over (lr·λ, momentum): the analytic map from the update's own matrix, and measured.",
            RATE_MAP_OPTIONS, _rate_map_function, _rate_map_figure),
    Command("tune", "Every optimizer at its best hyperparameters under one budget of gradient evaluations: one vectorized search each, the tuned table and the comparison.",
            TUNE_OPTIONS, _tune_function, _tune_figure, together=_tune_together, exclusive=(("start", "random_starts"),),
            text=lambda tuning: tuning.table()),
)}
