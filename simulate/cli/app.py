"""The ``simulate`` command line: each command parses, calls one library function, saves, prints paths.

The commands that run and record (plot, order, sweep, rate-map, tune) are built from their schema in
:mod:`simulate.cli.options`: their parameters, defaults, help texts and ranges are the schema's.
Every command is built when it runs, so ``simulate --help`` imports no numerics.
"""

from __future__ import annotations  # the commands' annotations are evaluated when a command is built

import inspect
import signal
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info
from typer.models import CommandInfo
from typer._click.core import ParameterSource
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from ..io.config import ConfigError, dumps, read_config
from ..io.files import SIGNALLED as _SIGNALLED  # the signal that ended this run, if one did (writers check it)
from .demos import GALLERY_DPI
from .options import COMMANDS, LANDSCAPE, OPTIMIZER, Command, Option, help_text, parse_starts
from .runs import RerunWarning, relocate_outputs, rerun, run, toml_value, validate

_HELP = "Optimizers as discrete maps and as the ODEs they discretize: run both, compare, plot."
_BUILDERS: dict = {}  # command name -> (docstring, function building the click command), in --help order


class _Commands(TyperGroup):
    """simulate's commands, each built when it runs (or shows its own --help).

    Building a command evaluates its help texts, and some name registries (flows, solver methods,
    schedules) whose modules import numpy; ``simulate --help`` lists the commands by their
    docstrings alone, so it imports none of them.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name, (doc, _) in _BUILDERS.items():
            self.commands[name] = TyperCommand(name=name, help=doc, rich_markup_mode=self.rich_markup_mode)
        self._built: set[str] = set()

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name in _BUILDERS and name not in self._built:
            self.commands[name] = _BUILDERS[name][1]()
            self._built.add(name)
        return super().resolve_command(ctx, args)


app = typer.Typer(name="simulate", cls=_Commands, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, help=_HELP)


def _build(callback, name: str, doc: str | None = None):
    return get_command_from_info(CommandInfo(name=name, callback=callback, help=doc),
                                 pretty_exceptions_short=app.pretty_exceptions_short,
                                 rich_markup_mode=app.rich_markup_mode)


def _command(name: str):
    """Register a function as the command ``name``, built (its annotations evaluated) when it runs."""
    def register(callback):
        _BUILDERS[name] = (inspect.getdoc(callback), lambda: _build(callback, name))
        return callback
    return register


def _fail(exc: Exception) -> None:
    if _SIGNALLED:  # an interrupt that a library turned into another error (a C extension's import)
        raise Interrupted(_SIGNALLED[0]) from exc
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
        defaults = relocate_outputs(command, defaults, Path(value).parent, record=value, text=text)
    if defaults.get("start"):  # numbers in the file, "x,y" strings on the command line
        points = parse_starts(defaults["start"])
        points = points if isinstance(points[0], list) else [points]
        defaults["start"] = [",".join(map(str, p)) for p in points]
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


def _refuse_repeats(ctx: typer.Context) -> None:
    """An option that takes one value, given twice, is refused (click would keep the last one
    silently: ``--out a.png --out a.svg`` wrote only the SVG)."""
    args = (_INVOCATION or [])[1:]
    args = args[args.index(ctx.command.name) + 1:] if ctx.command.name in args else args
    args = args[:args.index("--")] if "--" in args else args
    for param in ctx.command.params:
        if param.param_type_name != "option" or param.multiple or param.is_flag or param.count:
            continue
        given = [(a, i) for i, a in enumerate(args) for flag in param.opts
                 if a == flag or (flag.startswith("--") and a.startswith(flag + "="))]
        if len(given) > 1:
            values = [a.split("=", 1)[1] if "=" in a else (args[i + 1] if i + 1 < len(args) else "") for a, i in given]
            raise UsageError(f"{param.opts[0]} takes one value and was given {len(given)} ({', '.join(values)}): "
                             f"give it once" + ("; for one figure in several formats give --out once and --format "
                                                "png,svg" if param.name == "out" else ""))


def _said() -> tuple[type[Warning], ...]:
    """The warnings a command says on the terminal, one line each: results worth a second look."""
    from .._signature import Said

    return (Said,)


def _saying(produce):
    """``produce()`` with the warnings of :func:`_said` said on stderr, one line each (each once
    per occurrence), instead of Python's two-line warning with a source line."""
    said = _said()
    with warnings.catch_warnings(record=True) as caught:
        for category in said:
            warnings.simplefilter("always", category)
        result = produce()
    for w in caught:
        if issubclass(w.category, said):
            typer.echo(f"warning: {w.message}", err=True)
    return result


def _execute(ctx: typer.Context, command: str, dump_config: bool, overwrite: bool) -> None:
    """The shared tail of every command: dump the resolved options, or run and print the paths."""
    _refuse_repeats(ctx)

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
    said: list[str] = []  # the command's own text about its result (tune's table), after the paths
    try:
        written = _saying(lambda: run(command, options, overwrite=overwrite, argv=_INVOCATION, said=said))
    except (ValueError, OSError, MemoryError) as exc:
        _fail(exc)
    for path in written:
        typer.echo(str(path))
    for text in said:
        typer.echo(text)


ConfigOption = Annotated[Optional[Path], typer.Option(
    "--config", callback=_load_config, is_eager=True,
    help="TOML file of this command's options (or a run record); the command line overrides it.")]
DumpOption = Annotated[bool, typer.Option("--dump-config", help="Print the resolved configuration as TOML and exit.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")]


# -- the commands that run and record: built from their schema (simulate.cli.options) -------------------
def _annotation(option: Option):
    """``Annotated[type, typer.Option(...)]`` of a schema option."""
    lo, hi = option.range()
    kind = option.kind if option.default is not None else Optional[option.kind]
    return Annotated[kind, typer.Option(*option.flags, help=help_text(option), min=lo, max=hi, metavar=option.metavar)]


def _cli_default(option: Option):
    """The option's default as the command line holds it: paths as Path, repeatable options unset."""
    if option.default is None or option.repeatable:
        return None
    return Path(option.default) if option.kind is Path else option.default


def schema_command(command: Command):
    """The typer callback of ``command``: its signature is the schema's options (after --config,
    before --dump-config and --overwrite); it runs :func:`_execute`."""
    def callback(ctx: typer.Context, config=None, dump_config: bool = False, overwrite: bool = False, **options):
        _execute(ctx, command.name, dump_config, overwrite)

    P = inspect.Parameter
    parameters = [P("ctx", P.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
                  P("config", P.POSITIONAL_OR_KEYWORD, default=None, annotation=ConfigOption),
                  *(P(o.name, P.POSITIONAL_OR_KEYWORD, default=_cli_default(o), annotation=_annotation(o))
                    for o in command.options),
                  P("dump_config", P.POSITIONAL_OR_KEYWORD, default=False, annotation=DumpOption),
                  P("overwrite", P.POSITIONAL_OR_KEYWORD, default=False, annotation=OverwriteOption)]
    callback.__signature__ = inspect.Signature(parameters)
    callback.__annotations__ = {}
    callback.__name__ = callback.__qualname__ = command.name.replace("-", "_") + "_cli"
    callback.__doc__ = command.doc
    return callback


for _schema in COMMANDS.values():
    _BUILDERS[_schema.name] = (_schema.doc, lambda s=_schema: _build(schema_command(s), s.name, s.doc))


def _version(value: bool):
    if value:
        from .._version import __version__

        typer.echo(f"simulate {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                   help="Print the version and exit.")] = False):
    """Optimizers as discrete maps and as the ODEs they discretize: run both, compare, plot."""


@_command("rerun")
def rerun_cli(
    record: Annotated[Path, typer.Argument(help="A run record, e.g. simulate_plot.run.toml.")],
    out_dir: Annotated[Optional[Path], typer.Option("--out-dir", help="Write the outputs here (same names) instead of beside the record.")] = None,
    overwrite: OverwriteOption = False,
):
    """Run the command a run record describes again, with the same options."""
    said: list[str] = []  # as the command itself says it (tune's table), after the paths

    def produce():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RerunWarning)
            written = rerun(record, out_dir=out_dir, overwrite=overwrite, argv=_INVOCATION, said=said)
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
        return written

    _print_written(produce)
    for text in said:
        typer.echo(text)


def _print_written(produce) -> None:
    """Call ``produce()``, which writes files and returns their paths; print them, or fail in one line."""
    try:
        written = produce()
    except (ValueError, OSError, MemoryError) as exc:
        _fail(exc)
    for path in written:
        typer.echo(str(path))


@_command("demo")
def demo_cli(
    name: Annotated[Optional[str], typer.Argument(help="The demo to render (see --list).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the demos, one line each, and exit.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Figure path; the format comes from the extension.  [default: NAME.png]")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Also write the numbers behind the figure (.npz, as the command underneath does).")] = None,
    dpi: Annotated[Optional[int], typer.Option(min=20, max=1200, help="Resolution of raster figures.  [default: the command's]")] = None,
    animate: Annotated[Optional[Path], typer.Option("--animate", help="Also write an animation (.gif; .mp4 with ffmpeg) of a plot demo.")] = None,
    three_d: Annotated[bool, typer.Option("--3d", help="A plot demo's paths on the surface of f.")] = False,
    size: Annotated[Optional[str], typer.Option("--size", metavar="WxH", help="Figure size in inches, e.g. 8x4.5 (as the command underneath).")] = None,
    font_scale: Annotated[Optional[float], typer.Option("--font-scale", help="Multiply every text of the figure by this (1.5 for slides).")] = None,
    format: Annotated[Optional[str], typer.Option("--format", metavar="FORMATS", help="The figure in each of these formats from one run, e.g. png,svg (named as --out).")] = None,
    show: Annotated[bool, typer.Option("--show", help="Also open the figure in a window (needs a display).")] = False,
    overwrite: OverwriteOption = False,
):
    """One-command classroom demos: each renders one fact of optimizer dynamics, with a caption saying what to look at."""
    from .demos import DEMOS, demo

    given = [flag for flag, v in (("NAME", name if list_ else None), ("--out", out), ("--data", data), ("--dpi", dpi),
                                  ("--animate", animate), ("--3d", three_d), ("--show", show), ("--size", size),
                                  ("--font-scale", font_scale), ("--format", format)) if v]
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
                            argv=_INVOCATION, size=size, font_scale=font_scale, formats=format))
        return written

    _print_written(lambda: _saying(produce))
    if show:
        from ..viz.explorer import show_file

        try:
            show_file(written[0])
        except ValueError as exc:
            _fail(exc)


@_command("gallery")
def gallery_cli(
    folder: Annotated[Path, typer.Option(help="Where the pictures and README.md go (an earlier gallery there is replaced).")] = Path("gallery"),
    dpi: Annotated[int, typer.Option(min=20, max=1200, help="Resolution of the pictures.")] = GALLERY_DPI,
    overwrite: OverwriteOption = False,
):
    """Render every demo into the gallery folder and write its README.md (picture, caption, command)."""
    from .demos import gallery

    _print_written(lambda: _saying(lambda: gallery(folder, dpi=dpi, overwrite=overwrite)))


@_command("explore")
def explore_cli(
    landscape: _annotation(LANDSCAPE) = "himmelblau",
    optimizer: _annotation(OPTIMIZER) = None,
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


@_command("list")
def list_cli():
    """The built-in landscapes, optimizers, schedules and transforms, one line each."""
    from ..landscapes import LANDSCAPES
    from ..landscapes.games import GAMES
    from ..optimizers import registered
    from ..optimizers.schedules import SCHEDULES

    typer.echo("landscapes:")
    for name, factory in LANDSCAPES.items():
        typer.echo(f"  {name:16s} {factory.description}")
    typer.echo(f"  {'a formula':16s} any formula in x, y (z) or x1 … xn, e.g. -l \"x**2 + 10*y**2\"; "
               "formula(\"...\", bounds=, start=, minima=) sets the rest")
    typer.echo("games (-l like a landscape; every optimizer descends the players' field, gd is simultaneous GDA):")
    for name, factory in GAMES.items():
        typer.echo(f"  {name:16s} {factory.description}")
    rows = optimizer_marks(registered())
    width = max([len(r["models"]) for r in rows.values()] + [len("models")])
    typer.echo("optimizers (models: the continuous models it declares; T: a stability threshold lr·λ < c on a "
               "quadratic mode; C: the compiled engine runs it):")
    names = max([len(name) for name in rows] + [16])
    typer.echo(f"  {'':{names}s} {'models':{width}s} T C")
    for name, preset in registered().items():
        r = rows[name]
        typer.echo(f"  {name:{names}s} {r['models']:{width}s} {r['threshold']} {r['compiled']} {preset.description}")
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


@_command("warmup")
def warmup_cli(
    only: Annotated[Optional[list[str]], typer.Option("--only", metavar="NAME", help="Only these variants, repeatable: an optimizer (adam), a landscape (rosenbrock) or OPT@LANDSCAPE (adam@rosenbrock).  [default: every optimizer the compiled engine covers on every built-in landscape with a pointwise gradient]")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the variants it would compile, and exit.")] = False,
):
    """Compile the compiled engine's loops now, into numba's disk cache, so that large runs never wait for a compiler."""
    from ..solvers.warmup import cache_location, variants, warmup

    try:
        if list_:
            for opt, land in variants(only):
                typer.echo(f"{opt}@{land}")
            return
        done = warmup(only)
    except ValueError as exc:
        _fail(exc)
    for item in done:
        typer.echo(str(item))
    compiled = sum(not item.loaded for item in done)
    typer.echo(f"{compiled} loop{'s' * (compiled != 1)} compiled, {len(done) - compiled} already cached, in {cache_location()}")


def optimizer_marks(presets) -> dict[str, dict[str, str]]:
    """Per registered name, what ``simulate list`` marks: ``models`` (the continuous models its
    default configuration declares, :func:`simulate.models.available_flows`), ``threshold`` ("T"
    where :meth:`~simulate.optimizers.Optimizer.threshold_factor` gives a stability line, else "-")
    and ``compiled`` ("C" where :meth:`~simulate.optimizers.Optimizer.kernel` is declared, else "-").
    An optimizer that cannot be made with its defaults is marked "?"."""
    from ..models import available_flows

    out = {}
    for name, preset in presets.items():
        try:
            opt = preset()
            out[name] = {"models": ",".join(available_flows(opt)) or "-",
                         "threshold": "T" if opt.threshold_factor() is not None else "-",
                         "compiled": "C" if opt.kernel() is not None else "-"}
        except Exception:  # noqa: BLE001 - someone else's optimizer must not stop the listing
            out[name] = {"models": "?", "threshold": "?", "compiled": "?"}
    return out


class Interrupted(BaseException):
    """A signal that ends a run (SIGINT, SIGTERM, SIGHUP), raised where the run is, so that every
    writer's cleanup runs (no temporary file, no partial output) before the command stops."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _interrupt(signum, frame):
    _SIGNALLED.append(signum)
    raise Interrupted(signum)


def _ending_signals() -> list[int]:
    return [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]


def main(argv: list[str] | None = None) -> int:
    """Console entry point: the app, with usage errors reported as the same one line as any bad input.

    A signal that ends the run (Ctrl-C, SIGTERM, SIGHUP) stops it cleanly: files being written are
    removed, none is left half-made, and one line says so; the exit status is 128 + the signal's number."""
    global _INVOCATION
    invoked_before, _INVOCATION = _INVOCATION, ["simulate", *(sys.argv[1:] if argv is None else argv)]
    previous = {}
    _SIGNALLED.clear()
    try:
        for signum in _ending_signals():
            previous[signum] = signal.signal(signum, _interrupt)
    except ValueError:  # not the main thread: signals stay as they are
        pass
    try:
        code = app(args=argv, prog_name="simulate", standalone_mode=False)
    except NoArgsIsHelpError:  # typer has printed the help already
        return 0
    except ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except BaseException:
        if not _SIGNALLED:
            raise
        # the signal's exception, or what a library made of it (an import halfway fails as ImportError)
        for signum in _ending_signals():  # a second signal while the message is written stops at once
            signal.signal(signum, signal.SIG_DFL)
        from ..io.files import remove_own_temporaries

        remove_own_temporaries()
        typer.echo(f"interrupted by {signal.Signals(_SIGNALLED[0]).name}: stopped; no partial output or "
                   "temporary file was left", err=True)
        return 128 + _SIGNALLED[0]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _INVOCATION = invoked_before  # a later run in this process (a notebook, a test) records its own
        _SIGNALLED.clear()  # and is not stopped by this one's signal
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
