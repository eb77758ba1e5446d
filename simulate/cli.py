"""The ``simulate`` command line: each command parses, calls one library function, saves, prints paths."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from .continuous import METHODS
from .figures import DEFAULT_LANDSCAPE, DEFAULT_STEPS, default_optimizers, plot
from .landscapes import LANDSCAPES
from .optimizers import OPTIMIZERS
from .output import FIGURE_FORMATS, check_output_path

app = typer.Typer(
    name="simulate", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Optimizers as discrete maps and as the ODEs they discretize: run both, compare, plot.",
)

_OPTIMIZER_HELP = ("Optimizer name or spec, repeatable: -o gd -o 'adam(lr=0.01, betas=(0.9, 0.99))' "
                   "-o momentum:lr=0.001  [default: " + " ".join(o.label for o in default_optimizers()) + "]")

Method = enum.Enum("Method", {m: m for m in METHODS}, type=str)


class TimeAxis(str, enum.Enum):
    t = "t"
    steps = "steps"


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _starts(texts: list[str] | None):
    """``["1,2", "-1,0.5"]`` -> ``[[1.0, 2.0], [-1.0, 0.5]]``; one start stays one point."""
    if not texts:
        return None
    points = []
    for text in texts:
        try:
            points.append([float(v) for v in text.replace(" ", ",").split(",")])
        except ValueError:
            raise ValueError(f"--start {text!r}: expected comma-separated numbers such as -1.5,2") from None
    if len({len(p) for p in points}) > 1:
        raise ValueError("all --start points need the same number of coordinates")
    return points[0] if len(points) == 1 else points


def _version(value: bool):
    if value:
        from . import __version__

        typer.echo(f"simulate {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                   help="Print the version and exit.")] = False):
    """Optimizers as discrete maps and as the ODEs they discretize: run both, compare, plot."""


@app.command("plot")
def plot_cli(
    landscape: Annotated[str, typer.Option("--landscape", "-l", help="Landscape name or spec, e.g. rosenbrock or 'quadratic(condition=100, angle=0.5)'.")] = DEFAULT_LANDSCAPE,
    optimizer: Annotated[Optional[list[str]], typer.Option("--optimizer", "-o", help=_OPTIMIZER_HELP)] = None,
    start: Annotated[Optional[list[str]], typer.Option("--start", "-s", help="Start point as comma-separated coordinates, repeatable for several starts; use --start=-1.5,2 for a leading minus.  [default: the landscape's]")] = None,
    steps: Annotated[int, typer.Option(min=0, help="Number of discrete steps.")] = DEFAULT_STEPS,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate for every optimizer whose spec does not set one (and for all the default optimizers).")] = None,
    method: Annotated[Method, typer.Option(help="solve_ivp method for the flows.")] = "LSODA",
    rtol: Annotated[float, typer.Option(help="Relative tolerance of the flow solver.")] = 1e-8,
    atol: Annotated[float, typer.Option(help="Absolute tolerance of the flow solver.")] = 1e-10,
    time: Annotated[Optional[TimeAxis], typer.Option(help="Loss panel against time t or steps k = t/h.  [default: t when all h agree]")] = None,
    out: Annotated[Path, typer.Option("--out", help="Figure path; the format comes from the extension (.png, .svg, .pdf).")] = Path("simulate_plot.png"),
    data: Annotated[Optional[Path], typer.Option("--data", help="Also write the numbers behind the figure to this .npz file.")] = None,
    dpi: Annotated[int, typer.Option(min=20, max=1200, help="Resolution of raster figures.")] = 150,
):
    """Iterates of each optimizer beside the continuous flow it discretizes, and the loss of both."""
    try:
        check_output_path(out, FIGURE_FORMATS)
        if data is not None:
            check_output_path(data, ("npz",))
        result = plot(landscape, optimizer or None, _starts(start), steps, lr=lr,
                      method=getattr(method, "value", method), rtol=rtol, atol=atol, time=time.value if time else None)
        written = result.save(out, data=data, dpi=dpi)
    except (ValueError, OSError) as exc:
        _fail(exc)
    for path in written:
        typer.echo(str(path))


@app.command("list")
def list_cli():
    """The built-in landscapes and optimizers, one line each."""
    typer.echo("landscapes:")
    for name, factory in LANDSCAPES.items():
        typer.echo(f"  {name:16s} {factory.description}")
    typer.echo("optimizers:")
    for name, preset in OPTIMIZERS.items():
        typer.echo(f"  {name:16s} {preset.description}")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: the app, with usage errors reported as the same one line as any bad input."""
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
