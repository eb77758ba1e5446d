"""The ``simulate`` command line: each command parses, calls one library function, saves, prints paths."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer._click.core import ParameterSource
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

import numpy as np

from ..io.config import ConfigError, dumps, read_config
from ..solvers.continuous import METHODS
from ..viz.figures import default_optimizers
from ..landscapes.games import GAMES
from ..landscapes import LANDSCAPES
from ..optimizers import OPTIMIZERS
from ..models import FLOWS
from ..analysis.order import OrderWarning
from ..analysis.sweep import METRICS as SWEEP_METRICS, AxisWarning
from ..analysis.ensembles import MAX_PATHS
from ..solvers.sdes import SCHEMES
from .runs import COMMANDS, RerunWarning, parse_starts, relocate_outputs, rerun, run, toml_value, validate
from .demos import GALLERY_DPI
from ..optimizers.schedules import SCHEDULES

SCHEDULE_NAMES = list(SCHEDULES)

PLOT = COMMANDS["plot"].defaults
ORDER = COMMANDS["order"].defaults
SWEEP = COMMANDS["sweep"].defaults
RATE_MAP = COMMANDS["rate-map"].defaults

app = typer.Typer(
    name="simulate", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Optimizers as discrete maps and as the ODEs they discretize: run both, compare, plot.",
)

_OPTIMIZER_HELP = ("Optimizer name or spec, repeatable: -o gd -o 'adam(lr=0.01, betas=(0.9, 0.99))' "
                   "-o momentum:lr=0.001  [default: " + " ".join(o.label for o in default_optimizers()) + "]")


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


# Options that steer a run but are not part of its configuration (nor of its record).
NOT_CONFIG = ("config", "dump_config", "overwrite")
_INVOCATION: list[str] | None = None  # argv of this process when started through main()


def _load_config(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]):
    """Eager ``--config``: check every key of the file against the command's options (name, type,
    range), then make the file's values the defaults that the command line overrides."""
    if value is None:
        return value
    try:
        _check_config(ctx, value)
    except ConfigError as exc:  # a usage error: one line, exit status 2, nothing written
        raise UsageError(str(exc)) from None
    return value


def _check_config(ctx: typer.Context, value: Path) -> None:
    command = ctx.command.name
    options, text, is_record = read_config(value, command)
    resolved = validate(command, options, source=value, text=text)
    given = {k.replace("-", "_") for k in options}
    defaults = {k: v for k, v in resolved.items() if k in given}
    if is_record:  # a record's output paths are relative to the record itself
        defaults = relocate_outputs(command, defaults, Path(value).parent)
    if defaults.get("start"):  # numbers in the file, "x,y" strings on the command line
        points = np.atleast_2d(np.asarray(parse_starts(defaults["start"]), float))
        defaults["start"] = [",".join(map(str, p)) for p in points]
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


def _execute(ctx: typer.Context, command: str, dump_config: bool, overwrite: bool) -> None:
    """The shared tail of every command: dump the resolved options, or run and print the paths."""
    options = {p.name: ctx.params[p.name] for p in ctx.command.params if p.name in ctx.params and p.name not in NOT_CONFIG}
    for pair in COMMANDS[command].exclusive:  # one side from the command line overrides the other from a file
        sources = {name: ctx.get_parameter_source(name) for name in pair}
        if any(src == ParameterSource.COMMANDLINE for src in sources.values()):
            for name, src in sources.items():
                if src == ParameterSource.DEFAULT_MAP:
                    options[name] = COMMANDS[command].defaults[name]
    if dump_config:
        typer.echo(dumps({k: toml_value(v) for k, v in options.items()}, f"simulate {command}: resolved configuration"), nl=False)
        return
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", OrderWarning)
            warnings.simplefilter("always", AxisWarning)
            written = run(command, options, overwrite=overwrite, argv=_INVOCATION)
    except (ValueError, OSError, MemoryError) as exc:
        _fail(exc)
    for w in caught:  # a result worth a second look: one line each, on stderr
        if issubclass(w.category, (OrderWarning, AxisWarning)):
            typer.echo(f"warning: {w.message}", err=True)
    for path in written:
        typer.echo(str(path))


ConfigOption = Annotated[Optional[Path], typer.Option(
    "--config", callback=_load_config, is_eager=True,
    help="TOML file of this command's options (or a run record); the command line overrides it.")]
DumpOption = Annotated[bool, typer.Option("--dump-config", help="Print the resolved configuration as TOML and exit.")]
ScheduleOption = Annotated[Optional[str], typer.Option("--schedule", help="Learning-rate schedule for every optimizer without its own: " + ", ".join(SCHEDULE_NAMES) + ", e.g. 'cosine', 'step(step_size=30, gamma=0.5)', \"lambda(f='0.99**k')\" (torch.optim.lr_scheduler semantics; lengths left out are the run's). In a sweep its parameters are axes too (--vary warmup=0:50:6).")]
WarmupOption = Annotated[int, typer.Option(min=0, help="Linear warmup over this many steps before the schedule (torch's SequentialLR with LinearLR(0.01, 1)); alone: warmup, then constant.")]
ClipNormOption = Annotated[Optional[float], typer.Option("--clip-norm", help="Clip every gradient to this norm first (torch.nn.utils.clip_grad_norm_), for every optimizer without its own; the flow becomes −clip(∇f), a normalized flow where the clip is active.")]
ClipValueOption = Annotated[Optional[float], typer.Option("--clip-value", help="Clamp every gradient coordinate to [−v, v] first (clip_grad_value_).")]
LrScaleOption = Annotated[Optional[str], typer.Option("--lr-scale", help="A learning-rate multiplier per coordinate, e.g. 1,10 (a fixed diagonal preconditioner: the flow ẋ = −P∇f).")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")]
# Options that mean the same in every command (each command gives its own default).
LandscapeOption = Annotated[str, typer.Option("--landscape", "-l", help="Landscape name or spec, e.g. rosenbrock or 'quadratic(condition=100, angle=0.5)'.")]
MethodOption = Annotated[str, typer.Option(help="solve_ivp method for the flows: " + ", ".join(METHODS) + ".")]
AtolOption = Annotated[float, typer.Option(help="Absolute tolerance of the flow solver.")]
CaptionOption = Annotated[Optional[str], typer.Option(help="A sentence printed under the figure (the demos say there what to look at).")]
OutOption = Annotated[Path, typer.Option("--out", help="Figure path; the format comes from the extension (.png, .svg, .pdf).")]
DpiOption = Annotated[int, typer.Option(min=20, max=1200, help="Resolution of raster figures.")]


def _version(value: bool):
    if value:
        from .._version import __version__

        typer.echo(f"simulate {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                   help="Print the version and exit.")] = False):
    """Optimizers as discrete maps and as the ODEs they discretize: run both, compare, plot."""


_NOISE_HELP = "Stochastic gradients: Gaussian noise of this standard deviation added to every gradient (0.5), one per coordinate (0.5,0.1), or noise(cov=[[1,0.5],[0.5,2]])."
NoiseOption = Annotated[Optional[str], typer.Option(help=_NOISE_HELP + " The figure is then an ensemble of --paths paths beside the SDE (--flow is its drift: exact = the first-order SME, modified = second order).")]
SweepNoiseOption = Annotated[Optional[str], typer.Option("--noise", help=_NOISE_HELP + " Every cell is one noisy path; --vary path=1:N:N repeats each configuration N times.")]
BatchSizeOption = Annotated[Optional[int], typer.Option(min=1, help="Stochastic gradients from minibatches of this many samples, drawn every step, on a finite-sum landscape (least-squares, logistic).")]


@app.command("plot")
def plot_cli(
    ctx: typer.Context,
    config: ConfigOption = None,
    landscape: LandscapeOption = PLOT["landscape"],
    optimizer: Annotated[Optional[list[str]], typer.Option("--optimizer", "-o", help=_OPTIMIZER_HELP)] = None,
    start: Annotated[Optional[list[str]], typer.Option("--start", "-s", help="Start point as comma-separated coordinates, repeatable for several starts; use --start=-1.5,2 for a leading minus.  [default: the landscape's]")] = None,
    random_starts: Annotated[int, typer.Option(min=0, help="Instead of --start: this many starts drawn uniformly in the plot box with --seed.")] = PLOT["random_starts"],
    seed: Annotated[int, typer.Option(help="Seed of the random starts and of the gradient noise (numpy default_rng).")] = PLOT["seed"],
    steps: Annotated[int, typer.Option(min=0, help="Number of discrete steps.")] = PLOT["steps"],
    lr: Annotated[Optional[float], typer.Option(help="Learning rate for every optimizer whose spec does not set one (and for all the default optimizers).")] = None,
    flow: Annotated[Optional[str], typer.Option("--flow", "-f", help="Continuous model drawn beside the iterates: " + ", ".join(FLOWS) + " (see simulate order --help).  [default: each optimizer's own, the exact lift for torch's]")] = None,
    method: MethodOption = PLOT["method"],
    rtol: Annotated[float, typer.Option(help="Relative tolerance of the flow solver.")] = PLOT["rtol"],
    atol: AtolOption = PLOT["atol"],
    time: Annotated[Optional[str], typer.Option(help="Loss panel against time t or steps k = t/h: t or steps.  [default: t when all h agree]")] = None,
    sharpness: Annotated[bool, typer.Option("--sharpness", help="Add a panel: sharpness λmax(∇²f) along the runs with each optimizer's stability threshold (2/lr for GD).")] = False,
    energy: Annotated[bool, typer.Option("--energy", help="Add a panel: the Lyapunov energy of each flow (f, f + |ẋ|²/2, Su–Boyd–Candès', ...).")] = False,
    three_d: Annotated[bool, typer.Option("--3d", help="Draw the paths on the surface of f (height log₁₀(f − f_min + ε)) instead of over its contours; 2-D landscapes.")] = False,
    noise: NoiseOption = None,
    batch_size: BatchSizeOption = None,
    paths: Annotated[int, typer.Option(min=1, max=MAX_PATHS, help="With --noise or --batch-size: paths per optimizer, all from the one start.")] = PLOT["paths"],
    scheme: Annotated[str, typer.Option(help="With noise: how the SDE is stepped, " + " or ".join(SCHEMES) + " (weak order 2 for additive noise).")] = PLOT["scheme"],
    substeps: Annotated[int, typer.Option(min=1, max=10_000, help="With noise: SDE steps per optimizer step (1 reproduces the noisy iterates' own scheme).")] = PLOT["substeps"],
    schedule: ScheduleOption = None,
    warmup: WarmupOption = 0,
    clip_norm: ClipNormOption = None,
    clip_value: ClipValueOption = None,
    lr_scale: LrScaleOption = None,
    ema: Annotated[Optional[float], typer.Option("--ema", metavar="BETA", help="Also draw each optimizer's exponential moving average of its iterates, z̄ₖ = β·z̄ₖ₋₁ + (1−β)·zₖ with β in [0, 1) (weight averaging as in GAN training, Yazıcı et al. 2019), dashed in its colour in both panels; --data exports it (average_x_i, ...). Exact gradients only (not with --noise or --batch-size).")] = None,
    box: Annotated[Optional[str], typer.Option("--box", help="The region drawn, low:high per coordinate (x₁ and x₂; x in 1-D), e.g. --box=-1:2,0:3.  [default: the landscape's plot box; 1-D graphs zoom to the runs]")] = None,
    caption: CaptionOption = None,
    out: OutOption = Path(PLOT["out"]),
    data: Annotated[Optional[Path], typer.Option("--data", help="Also write the numbers behind the figure: this .npz file and a .json summary beside it.")] = None,
    animate: Annotated[Optional[Path], typer.Option("--animate", help="Also write an animation: iterates and flows advancing together (.gif; .mp4 where ffmpeg is installed), at most 120 frames.")] = None,
    dpi: DpiOption = PLOT["dpi"],
    dump_config: DumpOption = False,
    overwrite: OverwriteOption = False,
):
    """Iterates of each optimizer beside the continuous flow it discretizes, and the loss of both."""
    _execute(ctx, "plot", dump_config, overwrite)


@app.command("order")
def order_cli(
    ctx: typer.Context,
    config: ConfigOption = None,
    landscape: LandscapeOption = ORDER["landscape"],
    optimizer: Annotated[Optional[list[str]], typer.Option("--optimizer", "-o", help="Optimizer spec, repeatable; its lr is the ladder's largest.  [default: gd(lr=0.01)]")] = None,
    flow: Annotated[Optional[list[str]], typer.Option("--flow", "-f", help="Continuous model to measure against, repeatable: " + "; ".join(f"{k}: {c.summary}" for k, c in FLOWS.items()) + ".  [default: each optimizer's own; with neither -o nor -f: gd against exact, modified, modified2]")] = None,
    start: Annotated[Optional[list[str]], typer.Option("--start", "-s", help="Start point, e.g. --start=-1.5,2.  [default: the landscape's]")] = None,
    horizon: Annotated[float, typer.Option(help="Time T every rung runs to (steps = T/h).")] = ORDER["horizon"],
    rungs: Annotated[int, typer.Option(min=2, max=40, help="Number of learning rates: lr, lr/ratio, lr/ratio², ...")] = ORDER["rungs"],
    ratio: Annotated[float, typer.Option(help="Factor between consecutive learning rates (> 1).")] = ORDER["ratio"],
    lrs: Annotated[Optional[list[float]], typer.Option("--lrs", help="Explicit learning rates instead of --rungs/--ratio, repeatable.")] = None,
    scaling: Annotated[Optional[str], typer.Option(help="How β follows lr along the ladder: fixed, linear (1−β ∝ lr), sqrt (1−β ∝ √lr).  [default: the flow's own]")] = None,
    metric: Annotated[Optional[str], typer.Option(help="max: largest distance over the run; late: over t ≥ T/4; final: at T.  [default: the flow's own]")] = None,
    x: Annotated[str, typer.Option("--x", help="Horizontal axis: h (time per step), lr, or evaluations (gradient evaluations: equal work).")] = ORDER["x"],
    method: MethodOption = ORDER["method"],
    rtol: Annotated[float, typer.Option(help="Relative tolerance of the flow solver (keep it far below the errors).")] = ORDER["rtol"],
    atol: AtolOption = ORDER["atol"],
    max_evaluations: Annotated[int, typer.Option(min=100, help="Field evaluations one rung's flow may use before it is reported as failed (a model far outside its regime gives up early).")] = ORDER["max_evaluations"],
    caption: CaptionOption = None,
    out: OutOption = Path(ORDER["out"]),
    data: Annotated[Optional[Path], typer.Option("--data", help="Also write this .npz, a .json summary and a .csv table (one row per rung) beside it.")] = None,
    dpi: DpiOption = ORDER["dpi"],
    dump_config: DumpOption = False,
    overwrite: OverwriteOption = False,
):
    """Error of the iterates against a continuous model over a ladder of step sizes: the observed order."""
    _execute(ctx, "order", dump_config, overwrite)


@app.command("sweep")
def sweep_cli(
    ctx: typer.Context,
    config: ConfigOption = None,
    landscape: LandscapeOption = SWEEP["landscape"],
    optimizer: Annotated[Optional[list[str]], typer.Option("--optimizer", "-o", help="Optimizer name or spec, repeatable; the swept hyperparameters come from --vary.  [default: gd momentum nesterov]")] = None,
    vary: Annotated[Optional[list[str]], typer.Option("--vary", "-v", help="An axis of the grid, once or twice (two make a heat map): NAME=START:STOP:NUM (linear), NAME=START:STOP:NUM:log, or NAME=V1,V2,... NAME is a hyperparameter (lr, momentum, beta1, beta2, eps, ...), a start coordinate (x, y, x1, ...), or, with noise, path (path=1:50:50: 50 independent paths per configuration).  [default: lr=1e-5:1e-2:61:log]")] = None,
    start: Annotated[Optional[list[str]], typer.Option("--start", "-s", help="The start point, e.g. --start=-1.5,2; coordinates that an axis sweeps are taken from the axis.  [default: the landscape's]")] = None,
    steps: Annotated[int, typer.Option(min=0, help="Number of discrete steps per cell.")] = SWEEP["steps"],
    metric: Annotated[Optional[str], typer.Option(help="What the figure shows (the table has every metric): " + "; ".join(f"{k}: {v}" for k, v in SWEEP_METRICS.items()) + ".  [default: minimum for a sweep of x and y (basins), else final_loss]")] = None,
    tol: Annotated[float, typer.Option(help="Tolerance of steps_to_tol: f − f* <= tol (|∇f| <= tol where no minimum is listed).")] = SWEEP["tol"],
    near: Annotated[Optional[float], typer.Option(help="How close the last point must be to a listed minimum to have reached it.  [default: 1% of the plot box's largest side; with noise, half the distance between the two closest listed minima]")] = None,
    flow: Annotated[Optional[str], typer.Option("--flow", "-f", help="Also integrate this continuous model from every cell: its endpoint gets the same metrics, and flow_distance is measured.")] = None,
    method: MethodOption = SWEEP["method"],
    rtol: Annotated[float, typer.Option(help="Relative tolerance of the flow solver.")] = SWEEP["rtol"],
    atol: AtolOption = SWEEP["atol"],
    record_every: Annotated[int, typer.Option(min=0, help="Keep every m-th point of every path in --data (0: keep none; memory grows with it).")] = SWEEP["record_every"],
    track: Annotated[Optional[list[str]], typer.Option("--track", help="Metrics measured at every step, repeatable: steps_to_tol, rate, or none (the fastest: only the end is measured, and large runs may be compiled).  [default: both]")] = None,
    engine: Annotated[str, typer.Option(help="auto (compile large runs when nothing is tracked: optimizers with an elementwise kernel, i.e. the SGD family, Adam, AdamW, RMSprop, Adagrad, on landscapes with a pointwise gradient), numpy, or compiled.")] = SWEEP["engine"],
    noise: SweepNoiseOption = None,
    batch_size: BatchSizeOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the gradient noise (each optimizer gets its own stream from it).")] = SWEEP["seed"],
    schedule: ScheduleOption = None,
    warmup: WarmupOption = 0,
    clip_norm: ClipNormOption = None,
    clip_value: ClipValueOption = None,
    lr_scale: LrScaleOption = None,
    caption: CaptionOption = None,
    out: OutOption = Path(SWEEP["out"]),
    data: Annotated[Optional[Path], typer.Option("--data", help="Also write this .npz (every metric over the grid), a .json summary and a .csv table (one row per member and cell) beside it.")] = None,
    dpi: DpiOption = SWEEP["dpi"],
    dump_config: DumpOption = False,
    overwrite: OverwriteOption = False,
):
    """Every optimizer over a grid of hyperparameters or start points in one vectorized run: a metric per cell."""
    _execute(ctx, "sweep", dump_config, overwrite)


@app.command("rate-map")
def rate_map_cli(
    ctx: typer.Context,
    config: ConfigOption = None,
    optimizer: Annotated[Optional[list[str]], typer.Option("--optimizer", "-o", help="Optimizer whose step is linear on a quadratic (gd, momentum, nesterov, sgd, heun, rk4, proximal), repeatable: one row each.  [default: momentum nesterov]")] = None,
    landscape: Annotated[Optional[str], typer.Option("--landscape", "-l", help="Also measure the map on this landscape, from near one of its minima (a sweep), beside the analytic map for its Hessian's modes.  [default: none: one quadratic mode, the Distill picture]")] = None,
    lr_lambda: Annotated[str, typer.Option("--lr-lambda", help="The horizontal axis lr·λmax: START:STOP:NUM or START:STOP:NUM:log.")] = RATE_MAP["lr_lambda"],
    vary: Annotated[str, typer.Option("--vary", "-v", help="The vertical axis: another hyperparameter, NAME=START:STOP:NUM[:log] or NAME=V1,V2,... (default momentum, or weight_decay for optimizers without momentum)")] = RATE_MAP["vary"],
    minimum: Annotated[int, typer.Option(min=0, help="Which of the landscape's listed minima to linearize at and start near.")] = RATE_MAP["minimum"],
    offset: Annotated[float, typer.Option(help="The measured runs start at that minimum plus this in every coordinate.")] = RATE_MAP["offset"],
    steps: Annotated[int, typer.Option(min=2, help="Steps per measured cell.")] = RATE_MAP["steps"],
    caption: CaptionOption = None,
    out: OutOption = Path(RATE_MAP["out"]),
    data: Annotated[Optional[Path], typer.Option("--data", help="Also write this .npz (the maps) and a .csv table beside it.")] = None,
    dpi: DpiOption = RATE_MAP["dpi"],
    dump_config: DumpOption = False,
    overwrite: OverwriteOption = False,
):
    """Per-step convergence rate over (lr·λ, momentum): the analytic map from the update's own matrix, and measured."""
    _execute(ctx, "rate-map", dump_config, overwrite)


@app.command("rerun")
def rerun_cli(
    record: Annotated[Path, typer.Argument(help="A run record, e.g. simulate_plot.run.toml.")],
    out_dir: Annotated[Optional[Path], typer.Option("--out-dir", help="Write the outputs here (same names) instead of beside the record.")] = None,
    overwrite: OverwriteOption = False,
):
    """Run the command a run record describes again, with the same options."""
    def produce():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RerunWarning)
            written = rerun(record, out_dir=out_dir, overwrite=overwrite, argv=_INVOCATION)
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
        return written

    _print_written(produce)


def _print_written(produce) -> None:
    """Call ``produce()``, which writes files and returns their paths; print them, or fail in one line."""
    try:
        written = produce()
    except (ValueError, OSError, MemoryError) as exc:
        _fail(exc)
    for path in written:
        typer.echo(str(path))


@app.command("demo")
def demo_cli(
    name: Annotated[Optional[str], typer.Argument(help="The demo to render (see --list).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the demos, one line each, and exit.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Figure path; the format comes from the extension.  [default: NAME.png]")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Also write the numbers behind the figure (.npz, as the command underneath does).")] = None,
    dpi: Annotated[Optional[int], typer.Option(min=20, max=1200, help="Resolution of raster figures.  [default: the command's]")] = None,
    animate: Annotated[Optional[Path], typer.Option("--animate", help="Also write an animation (.gif; .mp4 with ffmpeg) of a plot demo.")] = None,
    three_d: Annotated[bool, typer.Option("--3d", help="A plot demo's paths on the surface of f.")] = False,
    show: Annotated[bool, typer.Option("--show", help="Also open the figure in a window (needs a display).")] = False,
    overwrite: OverwriteOption = False,
):
    """One-command classroom demos: each renders one fact of optimizer dynamics, with a caption saying what to look at."""
    from .demos import DEMOS, demo

    given = [flag for flag, v in (("NAME", name if list_ else None), ("--out", out), ("--data", data), ("--dpi", dpi),
                                  ("--animate", animate), ("--3d", three_d), ("--show", show)) if v]
    if given and (list_ or name is None):
        _fail(ValueError(f"{', '.join(given)} {'renders' if len(given) == 1 else 'render'} a demo: "
                         + ("--list only lists them" if list_ else "give its NAME")))
    if list_ or name is None:
        for d in DEMOS.values():
            typer.echo(f"  {d.name:22s} {d.summary}")
        if name is None and not list_:
            typer.echo("render one with: simulate demo NAME", err=True)
        return
    written = []

    def produce():
        written.extend(demo(name, out, dpi=dpi, data=data, animate=animate, three_d=three_d, overwrite=overwrite,
                            argv=_INVOCATION))
        return written

    _print_written(produce)
    if show:
        from ..viz.explorer import show_file

        try:
            show_file(written[0])
        except ValueError as exc:
            _fail(exc)


@app.command("gallery")
def gallery_cli(
    folder: Annotated[Path, typer.Option(help="Where the pictures and README.md go (an earlier gallery there is replaced).")] = Path("gallery"),
    dpi: Annotated[int, typer.Option(min=20, max=1200, help="Resolution of the pictures.")] = GALLERY_DPI,
    overwrite: OverwriteOption = False,
):
    """Render every demo into the gallery folder and write its README.md (picture, caption, command)."""
    from .demos import gallery

    _print_written(lambda: gallery(folder, dpi=dpi, overwrite=overwrite))


@app.command("explore")
def explore_cli(
    landscape: LandscapeOption = "himmelblau",
    optimizer: Annotated[Optional[list[str]], typer.Option("--optimizer", "-o", help=_OPTIMIZER_HELP)] = None,
    start: Annotated[Optional[str], typer.Option("--start", "-s", help="The first start, e.g. --start=-1.5,2 (then click to move it).  [default: the landscape's]")] = None,
    steps: Annotated[int, typer.Option(min=1, max=100_000, help="Steps of every run.")] = 100,
    screenshot: Annotated[Optional[Path], typer.Option(help="Save the window to this file once drawn, and close it.")] = None,
    overwrite: OverwriteOption = False,
):
    """An interactive window: sliders for lr and the other hyperparameters, click to set the start, toggle optimizers and flows."""
    from ..viz.explorer import explore

    try:
        explore(landscape, optimizer or None, parse_starts([start]) if start else None, steps, screenshot=screenshot,
                overwrite=overwrite)
    except (ValueError, OSError) as exc:
        _fail(exc)


@app.command("list")
def list_cli():
    """The built-in landscapes, optimizers, schedules and transforms, one line each."""
    typer.echo("landscapes:")
    for name, factory in LANDSCAPES.items():
        typer.echo(f"  {name:16s} {factory.description}")
    typer.echo(f"  {'a formula':16s} any formula in x, y (z) or x1 … xn, e.g. -l \"x**2 + 10*y**2\"; "
               "formula(\"...\", bounds=, start=, minima=) sets the rest")
    typer.echo("games (-l like a landscape; every optimizer descends the players' field, gd is simultaneous GDA):")
    for name, factory in GAMES.items():
        typer.echo(f"  {name:16s} {factory.description}")
    typer.echo("optimizers:")
    for name, preset in OPTIMIZERS.items():
        typer.echo(f"  {name:16s} {preset.description}")
    typer.echo("stochastic gradients (plot, sweep):")
    typer.echo(f"  {'--noise SIGMA':16s} Gaussian noise on every gradient: 0.5, per coordinate 0.5,0.1, or noise(cov=[[...]])")
    typer.echo(f"  {'--batch-size B':16s} minibatches of B samples per step on least-squares and logistic")
    typer.echo("learning-rate schedules (--schedule, or schedule='...' in an optimizer's spec; --warmup N):")
    for name, cls in SCHEDULES.items():
        typer.echo(f"  {name:16s} {cls.description}")
    typer.echo("gradient transforms (plot, sweep; clip_norm=, clip_value=, lr_scale= in a spec):")
    typer.echo(f"  {'--clip-norm C':16s} torch's clip_grad_norm_ before every step: the flow −clip(∇f), normalized where active")
    typer.echo(f"  {'--clip-value V':16s} torch's clip_grad_value_: each coordinate clamped to [−V, V]")
    typer.echo(f"  {'--lr-scale 1,10':16s} a learning rate per coordinate: the preconditioned flow ẋ = −P∇f")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: the app, with usage errors reported as the same one line as any bad input."""
    global _INVOCATION
    _INVOCATION = ["simulate", *(sys.argv[1:] if argv is None else argv)]
    try:
        code = app(args=argv, prog_name="simulate", standalone_mode=False)
    except NoArgsIsHelpError:  # typer has printed the help already
        return 0
    except ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
