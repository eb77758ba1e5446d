"""One invocation of a command: resolved options in; outputs, each with a run record, out.

``simulate plot ...`` and ``simulate.runs.run("plot", options)`` do the same thing. Every file a
run writes gets a record beside it (``figure.png`` -> ``figure.run.toml``) holding the resolved
options, the versions and the command line; :func:`rerun` reads one and writes the outputs again,
bit for bit on the same machine. Outputs are checked before any work, existing files are only
replaced with ``overwrite=True``, and every write is atomic.
"""

from __future__ import annotations

import enum
import math
import platform
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._names import lookup, suggest
from .config import dumps, read_record
from .continuous import METHODS
from .figures import DEFAULT_LANDSCAPE, DEFAULT_STEPS, plot
from .landscapes import landscape as get_landscape
from .optimizers import optimizer as get_optimizer
from .output import FIGURE_FORMATS, check_output_path, save_figure, save_json, save_text

__all__ = ["COMMANDS", "Command", "run", "rerun", "record_path", "run_record", "parse_starts"]

RECORD_SUFFIX = ".run.toml"


def record_path(output) -> Path:
    """``figure.png`` -> ``figure.run.toml`` (one record serves outputs that share a stem)."""
    output = Path(output)
    return output.with_name(output.stem + RECORD_SUFFIX)


def parse_starts(value):
    """Start points from the command line or a config file: ``["1,2", "-1,0.5"]``, ``[1, 2]`` or
    ``[[1, 2], [-1, 0.5]]``. One start stays one point ``(d,)``; several give ``(B, d)``."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return None
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value]
    points = []
    for item in value:
        if isinstance(item, str):
            try:
                points.append([float(v) for v in item.replace(" ", ",").split(",")])
            except ValueError:
                raise ValueError(f"start {item!r}: expected comma-separated numbers such as -1.5,2") from None
        else:
            points.append([float(v) for v in item])
    if len({len(p) for p in points}) > 1:
        raise ValueError("all start points need the same number of coordinates")
    return points[0] if len(points) == 1 else points


def _positive(name):
    def check(value):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be a positive finite number, got {value!r}")
    check.__name__ = f"positive_{name}"
    return check


def _one_of(choices):
    def check(value):
        if value is not None and str(value) not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
    return check


def _path_with(formats):
    def check(value):
        if value is not None and Path(str(value)).suffix.lower().lstrip(".") not in formats:
            raise ValueError(f"the extension must be one of {', '.join('.' + f for f in formats)}")
    return check


@dataclass(frozen=True)
class Command:
    """How a command runs: its planned output files, its work, and per-option checks (used to
    locate a bad value in a config file)."""

    name: str
    defaults: dict                               # every option with its default (the CLI's too)
    plan: Callable[[dict], list]                 # options -> output paths, known before any work
    execute: Callable[[dict, str], list]         # options, description -> [(path, writer)]
    checks: dict = field(default_factory=dict)   # option -> callable raising ValueError
    outputs: tuple[str, ...] = ()                # the options that are output paths


# -- plot --------------------------------------------------------------------------------------------
PLOT_DEFAULTS = {
    "landscape": DEFAULT_LANDSCAPE, "optimizer": None, "start": None, "random_starts": 0, "seed": 0,
    "steps": DEFAULT_STEPS, "lr": None, "method": "LSODA", "rtol": 1e-8, "atol": 1e-10, "time": None,
    "out": "simulate_plot.png", "data": None, "dpi": 150,
}


def _plot_outputs(options: dict) -> list[Path]:
    out = Path(str(options["out"]))
    paths = [out]
    if options.get("data"):
        data = Path(str(options["data"]))
        paths += [data, data.with_suffix(".json")]
    return paths


def _plot(options: dict, description: str) -> list[tuple[Path, Callable]]:
    land = get_landscape(options["landscape"])
    starts = parse_starts(options["start"])
    if options["random_starts"]:
        if starts is not None:
            raise ValueError("give either start points or random_starts, not both")
        starts = land.sample(int(options["random_starts"]), seed=int(options["seed"]))
    result = plot(land, options["optimizer"] or None, starts, int(options["steps"]), lr=options["lr"],
                  method=str(options["method"]), rtol=float(options["rtol"]), atol=float(options["atol"]),
                  time=str(options["time"]) if options["time"] else None)
    out, *data = _plot_outputs(options)
    dpi = int(options["dpi"])
    writes = [(out, lambda p: save_figure(result.figure, p, dpi=dpi, description=description))]
    if data:
        writes += [(data[0], result.experiment.save), (data[1], lambda p: save_json(p, result.experiment.summary()))]
    return writes


def _check_landscape(value):
    get_landscape(value)


def _check_optimizers(value):
    for spec in value or ():
        get_optimizer(spec)


COMMANDS: dict[str, Command] = {
    "plot": Command("plot", PLOT_DEFAULTS, _plot_outputs, _plot, outputs=("out", "data"), checks={
        "landscape": _check_landscape, "optimizer": _check_optimizers, "start": parse_starts,
        "lr": _positive("lr"), "rtol": _positive("rtol"), "atol": _positive("atol"),
        "method": _one_of(METHODS), "time": _one_of(("t", "steps")),
        "out": _path_with(FIGURE_FORMATS), "data": _path_with(("npz",)),
    }),
}


# -- running and recording ------------------------------------------------------------------------------
def _plain(value):
    """An option value as TOML can hold it: paths and enums as strings, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def run_record(command: str, options: dict, outputs: list[Path], argv: list[str] | None) -> str:
    """The text of a run record: what ran, with which options, on which versions."""
    import matplotlib
    import scipy

    from . import __version__

    argv = list(argv) if argv else []
    facts = {"command": command, "argv": argv, "command_line": shlex.join(argv) if argv else "",
             "outputs": [str(p) for p in outputs], "seed": int(options.get("seed", 0) or 0)}
    versions = {"simulate": __version__, "python": platform.python_version(), "numpy": np.__version__,
                "scipy": scipy.__version__, "matplotlib": matplotlib.__version__,
                "platform": platform.platform()}
    header = (f"simulate run record. Reproduce the outputs with:  simulate rerun {record_path(outputs[0])}\n"
              "[config] holds every option of the command; it can also be given to --config.")
    return dumps({"run": facts, "versions": versions, "config": {k: _plain(v) for k, v in options.items()}}, header)


def run(command: str, options: dict, *, overwrite: bool = False, argv: list[str] | None = None) -> list[Path]:
    """Run ``command`` with resolved ``options``; write its outputs and their run records.

    Every output path (and record) is checked first; nothing is computed or written when one is
    unwritable or exists without ``overwrite``. Returns the paths written, outputs first.
    """
    cmd = lookup("command", command, COMMANDS)
    for key in options:
        if key not in cmd.defaults:
            raise ValueError(suggest("option", key, cmd.defaults).replace("unknown option", f"{command} has no option"))
    options = {**cmd.defaults, **{k: _plain(v) for k, v in options.items()}}  # the resolved configuration
    for key, check in cmd.checks.items():  # validation once, at the edge, before any work
        if options.get(key) is not None:
            try:
                check(options[key])
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
    planned = cmd.plan(options)
    records = list(dict.fromkeys(record_path(p) for p in planned))
    for path in planned:
        check_output_path(path, (path.suffix.lower().lstrip("."),), overwrite=overwrite)
    for path in records:
        check_output_path(path, ("toml",), overwrite=overwrite)
    description = shlex.join(argv) if argv else f"simulate {command} (from Python)"
    written = [write(path) for path, write in cmd.execute(options, description)]
    text = run_record(command, options, written, argv)
    written += [save_text(path, text) for path in records]
    return written


def rerun(record, *, out_dir=None, overwrite: bool = False, argv: list[str] | None = None) -> list[Path]:
    """Run the command a record describes, with the same options, writing the outputs again.

    Outputs go beside the record (the files it describes, so ``overwrite=True`` is needed) or into
    ``out_dir`` under the same names.
    """
    record = Path(record)
    command, options = read_record(record)
    lookup("command", command, COMMANDS)
    folder = Path(out_dir) if out_dir is not None else record.parent
    for key in COMMANDS[command].outputs:
        if options.get(key):
            options[key] = str(folder / Path(options[key]).name)
    return run(command, options, overwrite=overwrite, argv=argv)
