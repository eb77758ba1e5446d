"""One invocation of a command: resolved options in; outputs, each with a run record, out.

``simulate plot ...`` and ``simulate.run("plot", options)`` do the same thing. Every file a run
writes gets a record beside it (``figure.png`` -> ``figure.run.toml``) holding the resolved
options, the versions and the command line; :func:`rerun` reads one and writes the outputs again,
bit for bit on the same machine. Options are validated once, here, whatever their source (command
line, config file, run record, Python), with errors located as ``file:line: key: message`` when
they come from a file. Outputs are checked before any work, existing files are only replaced with
``overwrite``, and every write is atomic.
"""

from __future__ import annotations

import difflib
import enum
import math
import os
import platform
import shlex
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._names import lookup, suggest
from ..io.config import ConfigError, dumps, line_of, read_record
from ..analysis.averaging import check_beta
from ..solvers.continuous import METHODS
from ..viz.figures import DEFAULT_LANDSCAPE, DEFAULT_STEPS, add_caption, order_figure, plot, rate_map_figure, sweep_figure
from ..landscapes import landscape as get_landscape
from ..optimizers import optimizer as get_optimizer
from ..models import FLOWS, SCALINGS
from ..analysis.order import METRICS, ORDER_MAX_EVALUATIONS, order_study
from ..optimizers.schedules import schedule
from ..spec import parse_spec
from ..io.files import FIGURE_FORMATS, check_output_path, save_figure, save_json, save_npz, save_text, write_together
from ..viz.plotting import ORDER_AXES
from ..viz.style import parse_box
from ..analysis.ratemap import rate_map, rate_map_arrays, rate_map_csv
from ..viz.animation import ANIMATION_FORMATS, encoder
from ..solvers.engine import ENGINES
from ..analysis.ensembles import DEFAULT_PATHS, MAX_PATHS
from ..solvers.noise import noise as noise_model
from ..solvers.sdes import SCHEMES
from ..analysis.sweep import METRICS as SWEEP_METRICS, TRACKED, parse_axis, sweep, sweepable

__all__ = ["COMMANDS", "Command", "RerunWarning", "run", "rerun", "validate", "record_path", "parse_starts",
           "relocate_outputs", "toml_value"]

RECORD_SUFFIX = ".run.toml"
MAX_RANDOM_STARTS = 1_000_000


class RerunWarning(UserWarning):
    """A rerun on versions other than the recorded ones: results may differ."""


def record_path(output) -> Path:
    """``figure.png`` -> ``figure.run.toml`` (one record serves outputs that share a stem)."""
    output = Path(output)
    return output.with_name(output.stem + RECORD_SUFFIX)


def parse_starts(value):
    """Start points: ``["1,2", "-1,0.5"]``, ``[1, 2]`` or ``[[1, 2], [-1, 0.5]]`` (one form per
    list). One start stays one point ``(d,)``; several give ``(B, d)``; none gives None."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return None
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of start points, got {value!r}")
    if all(_is_number(v) for v in value):
        return [float(v) for v in value]
    if all(isinstance(v, str) for v in value):
        points = []
        for item in value:
            try:
                points.append([float(v) for v in item.replace(" ", ",").split(",")])
            except ValueError:
                raise ValueError(f"start {item!r}: expected comma-separated numbers such as -1.5,2") from None
    elif all(isinstance(v, (list, tuple)) and v and all(_is_number(c) for c in v) for v in value):
        points = [[float(c) for c in v] for v in value]
    else:
        raise ValueError("start points must all be written the same way: numbers, \"x,y\" strings, or lists of numbers")
    if len({len(p) for p in points}) > 1:
        raise ValueError("all start points need the same number of coordinates")
    return points[0] if len(points) == 1 else points


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# -- option kinds: strict types and ranges --------------------------------------------------------------
def _integer(lo, hi=None):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"expected a whole number, got {v!r}")
        if v < lo or (hi is not None and v > hi):
            raise ValueError(f"must be between {lo} and {hi}, got {v}" if hi is not None else f"must be >= {lo}, got {v}")
        return int(v)
    return check


def _positive(v):
    if not _is_number(v) or not (math.isfinite(v) and v > 0):
        raise ValueError(f"must be a positive finite number, got {v!r}")
    return float(v)


def _text(v):
    if not isinstance(v, str):
        raise ValueError(f"expected text, got {v!r}")
    return v


def _schedule(v):
    """A schedule spec: checked by building it (unknown names suggest the right ones)."""
    schedule(_text(v))
    return v


def _scales(v):
    """``"1,10"`` or ``[1, 10]`` -> (1.0, 10.0) (None stays None)."""
    if v is None:
        return None
    items = v.split(",") if isinstance(v, str) else v if isinstance(v, (list, tuple)) else [v]
    try:
        scales = tuple(float(x) for x in items)
    except (TypeError, ValueError):
        raise ValueError(f"expected positive numbers, comma-separated (one per coordinate), got {v!r}") from None
    if not scales or not all(math.isfinite(x) and x > 0 for x in scales):
        raise ValueError(f"expected positive numbers, comma-separated (one per coordinate), got {v!r}")
    return scales


def _lr_scale(v):
    _scales(v)
    return v


def run_schedule(options: dict):
    """The schedule of ``--schedule`` and ``--warmup`` (a warmup alone leads into a constant lr)."""
    if not options.get("schedule") and not options.get("warmup"):
        return None
    if options.get("warmup") and options.get("schedule") and "warmup" in parse_spec(str(options["schedule"]))[1]:
        raise ValueError(f"--warmup {options['warmup']} and the schedule's own warmup in {options['schedule']!r}: drop one")
    return schedule(options.get("schedule") or "constant", **({"warmup": int(options["warmup"])} if options.get("warmup") else {}))


def _ema(v):
    """β of the moving average of the iterates: a number in [0, 1) (an int 0 from a file too)."""
    if not _is_number(v):
        raise ValueError(f"expected a number β in [0, 1), got {v!r}")
    try:
        return check_beta(v, name="β")
    except ValueError as exc:  # the key already names the option
        raise ValueError(str(exc).removeprefix("β: ")) from None


def _box(v):
    """A drawn region: "lo:hi,lo:hi" or pairs [[lo, hi], ...]; plot checks it against the landscape."""
    parse_box(v, name="")
    return v if isinstance(v, str) else [[float(x) for x in p] for p in v]


def _one_of(choices):
    def check(v):
        if _text(v) not in choices:
            close = difflib.get_close_matches(str(v), choices, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"must be one of {', '.join(choices)}, got {v!r}.{hint}")
        return v
    return check


def _path_with(formats, beside: str = ""):
    def check(v):
        if Path(_text(v)).suffix.lower().lstrip(".") not in formats:
            raise ValueError(f"the extension must be one of {', '.join('.' + f for f in formats)}, got {v!r}"
                             + (f" ({beside} written beside it)" if beside else ""))
        return v
    return check


def _animation_path(v):
    encoder(_path_with(ANIMATION_FORMATS)(v))  # an .mp4 without ffmpeg is refused before any work
    return v


def _flag(v):
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def _landscape(v):
    get_landscape(_text(v))
    return v


def _strings(v, what: str) -> list:
    """A list option: every item a string (each command then checks the items themselves)."""
    if not isinstance(v, (list, tuple)) or not all(isinstance(s, str) for s in v):
        raise ValueError(f"expected a list of {what}, got {v!r}")
    return list(v)


def _optimizers(v):
    for spec in _strings(v, "optimizer specs"):
        get_optimizer(spec)
    return list(v)


def _noise(v):
    if not (_is_number(v) or isinstance(v, (str, list))):
        raise ValueError(f"expected a standard deviation (0.5), one per coordinate (\"0.5,0.1\") or a spec such as "
                         f"\"noise(cov=[[1, 0.5], [0.5, 2]])\", got {v!r}")
    try:
        noise_model(tuple(v) if isinstance(v, list) else v)
    except ValueError as exc:  # the key already names the option
        raise ValueError(str(exc).removeprefix("noise: ")) from None
    return v


def _noisy(options: dict, defaults: dict, only: tuple[str, ...]) -> None:
    """Refuse options that act on stochastic gradients when there are none (they would be ignored)."""
    if options["noise"] is None and options["batch_size"] is None:
        given = [k for k in only if options[k] != defaults[k]]
        if given:
            names = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ValueError(f"{names} act on stochastic gradients: give --noise or --batch-size too")


def _starts(v):
    parse_starts(v)
    return v


@dataclass(frozen=True)
class Command:
    """How a command runs: its options (default and check of each), its planned output files, and
    its work."""

    name: str
    defaults: dict                               # every option with its default (the CLI's too)
    checks: dict                                 # option -> strict check returning the value
    plan: Callable[[dict], list]                 # options -> output paths, known before any work
    execute: Callable[[dict, str], list]         # options, description -> [(path, writer)]
    outputs: tuple[str, ...] = ()                # the options that are output paths
    exclusive: tuple[tuple[str, str], ...] = field(default=())  # pairs of options that exclude each other
    together: Callable[[dict], None] = lambda options: None  # checks among options, before any output path


def validate(command: str, options: dict, *, source=None, text: str | None = None) -> dict:
    """Check every option's name, type and range; return the resolved options (defaults filled).

    With ``source`` (a file) and its ``text``, errors are :class:`ConfigError` located as
    ``source:line: key: message``; otherwise ``ValueError("key: message")``.
    """
    cmd = lookup("command", command, COMMANDS)

    def fail(key, message):
        if source is not None:
            raise ConfigError(source, key, message, line_of(text or "", key))
        raise ValueError(f"{key}: {message}")

    resolved = {}
    for key, value in options.items():
        name = str(key).replace("-", "_")
        if name not in cmd.defaults:
            fail(key, suggest("option", key, cmd.defaults).replace(f"unknown option {key!r}. ", "unknown option. "))
        if name in resolved:
            fail(key, "is given twice (with - and with _)")
        value = toml_value(value)
        if value is not None and name in cmd.checks:
            try:
                value = cmd.checks[name](value)
            except ValueError as exc:
                fail(key, str(exc))
        resolved[name] = value
    return {**cmd.defaults, **resolved}


# -- plot --------------------------------------------------------------------------------------------
PLOT_DEFAULTS = {
    "landscape": DEFAULT_LANDSCAPE, "optimizer": None, "start": None, "random_starts": 0, "seed": 0,
    "steps": DEFAULT_STEPS, "lr": None, "flow": None, "method": "LSODA", "rtol": 1e-8, "atol": 1e-10, "time": None,
    "sharpness": False, "energy": False, "three_d": False, "noise": None, "batch_size": None, "paths": DEFAULT_PATHS,
    "scheme": "euler-maruyama", "substeps": 10, "schedule": None, "warmup": 0, "clip_norm": None, "clip_value": None,
    "lr_scale": None, "ema": None, "box": None, "caption": None,
    "out": "simulate_plot.png",
    "data": None, "animate": None, "dpi": 150,
}


def _outputs(*beside: str) -> Callable[[dict], list[Path]]:
    """The figure, and with ``data`` the .npz and the files of these suffixes beside it."""

    def plan(options: dict) -> list[Path]:
        paths = [Path(str(options["out"]))]
        if options.get("data"):
            data = Path(str(options["data"]))
            paths += [data, *(data.with_suffix(s) for s in beside)]
        return paths

    return plan


def _plot_outputs(options: dict) -> list[Path]:
    """The figure, the data (.npz, .json) and the animation."""
    paths = _outputs(".json")(options)
    return paths + ([Path(str(options["animate"]))] if options.get("animate") else [])


def _plot_together(options: dict) -> None:
    _noisy(options, PLOT_DEFAULTS, ("paths", "scheme", "substeps"))
    if options["three_d"] and options["animate"]:
        raise ValueError("animations are drawn over the contours: give --3d or --animate, not both")
    if options["random_starts"] and parse_starts(options["start"]) is not None:
        raise ValueError("give either start points or random_starts, not both")


def _plot(options: dict, description: str) -> list[tuple[Path, Callable]]:
    land = get_landscape(options["landscape"])
    starts = parse_starts(options["start"])
    if options["random_starts"]:
        starts = land.sample(int(options["random_starts"]), seed=int(options["seed"]))
    result = plot(land, options["optimizer"] or None, starts, int(options["steps"]), lr=options["lr"],
                  flow=options["flow"], method=str(options["method"]), rtol=float(options["rtol"]),
                  atol=float(options["atol"]), time=str(options["time"]) if options["time"] else None,
                  sharpness=bool(options["sharpness"]), energy=bool(options["energy"]), noise=options["noise"],
                  batch_size=options["batch_size"], paths=int(options["paths"]), seed=int(options["seed"]),
                  scheme=str(options["scheme"]), substeps=int(options["substeps"]), three_d=bool(options["three_d"]),
                  box=options["box"], caption=options["caption"], schedule=run_schedule(options),
                  clip_norm=options["clip_norm"], clip_value=options["clip_value"], lr_scale=_scales(options["lr_scale"]),
                  ema=options["ema"])
    out, *data = _outputs(".json")(options)
    dpi = int(options["dpi"])
    writes = [(out, lambda p: save_figure(result.figure, p, dpi=dpi, description=description))]
    if data:
        writes += [(data[0], result.experiment.save), (data[1], lambda p: save_json(p, result.experiment.summary()))]
    if options["animate"]:
        writes.append((Path(str(options["animate"])), result.animate))
    return writes


# -- order -------------------------------------------------------------------------------------------
ORDER_DEFAULTS = {
    "landscape": DEFAULT_LANDSCAPE, "optimizer": None, "flow": None, "start": None, "horizon": 1.0, "rungs": 6,
    "ratio": 2.0, "lrs": None, "scaling": None, "metric": None, "x": "h", "method": "DOP853", "rtol": 1e-12,
    "atol": 1e-14, "max_evaluations": ORDER_MAX_EVALUATIONS, "caption": None, "out": "simulate_order.png", "data": None, "dpi": 150,
}
#: With no optimizer and no flow given, ``simulate order`` shows GD against three models: slopes 1, 2, 3.
ORDER_DEFAULT_OPTIMIZER, ORDER_DEFAULT_FLOWS = "gd(lr=0.01)", ("exact", "modified", "modified2")


_order_outputs = _outputs(".json", ".csv")


def _order_together(options: dict) -> None:
    starts = parse_starts(options["start"])
    if starts is not None and np.ndim(starts) != 1:
        raise ValueError("order takes one start point")
    if options["lrs"] and (options["rungs"] != ORDER_DEFAULTS["rungs"] or options["ratio"] != ORDER_DEFAULTS["ratio"]):
        raise ValueError("give lrs, or rungs and ratio: not both (with lrs, rungs and ratio have no effect)")


def _order(options: dict, description: str) -> list[tuple[Path, Callable]]:
    starts = parse_starts(options["start"])
    optimizers, flows = options["optimizer"], options["flow"]
    if not optimizers and not flows:
        optimizers, flows = [ORDER_DEFAULT_OPTIMIZER], list(ORDER_DEFAULT_FLOWS)
    study = order_study(options["landscape"], optimizers or [ORDER_DEFAULT_OPTIMIZER], flows or None, starts,
                        horizon=float(options["horizon"]), rungs=int(options["rungs"]),
                        ratio=float(options["ratio"]), lrs=options["lrs"] or None, scaling=options["scaling"],
                        metric=options["metric"], method=str(options["method"]), rtol=float(options["rtol"]),
                        atol=float(options["atol"]), max_evaluations=int(options["max_evaluations"]))
    fig = order_figure(study, x=str(options["x"]))
    out, *data = _order_outputs(options)
    dpi = int(options["dpi"])
    add_caption(fig, options["caption"])
    writes = [(out, lambda p: save_figure(fig, p, dpi=dpi, description=description))]
    if data:
        writes += [(data[0], lambda p: save_npz(p, study.arrays())), (data[1], lambda p: save_json(p, study.summary())),
                   (data[2], lambda p: save_text(p, study.csv()))]
    return writes


# -- sweep -------------------------------------------------------------------------------------------
SWEEP_DEFAULTS = {
    "landscape": "rosenbrock", "optimizer": None, "vary": None, "start": None, "steps": 1000, "metric": None,
    "tol": 1e-6, "near": None, "flow": None, "method": "LSODA", "rtol": 1e-8, "atol": 1e-10, "record_every": 0,
    "track": None, "engine": "auto", "noise": None, "batch_size": None, "seed": 0, "schedule": None, "warmup": 0,
    "clip_norm": None, "clip_value": None, "lr_scale": None,
    "caption": None, "out": "simulate_sweep.png",
    "data": None, "dpi": 150,
}
#: With no optimizer and no axis, ``simulate sweep`` shows which learning rates converge, crawl or
#: diverge on Rosenbrock's valley for GD, heavy ball and Nesterov, with their stability thresholds.
SWEEP_DEFAULT_OPTIMIZERS = ("gd", "momentum", "nesterov")
SWEEP_DEFAULT_AXES = ("lr=1e-5:1e-2:61:log",)
_sweep_outputs = _outputs(".json", ".csv")


def _sweep_together(options: dict) -> None:
    starts = parse_starts(options["start"])
    if starts is not None and np.ndim(starts) != 1:
        raise ValueError("sweep takes one start point; sweep start coordinates with --vary x=... --vary y=...")
    _noisy(options, SWEEP_DEFAULTS, ("seed",))
    if int(options["record_every"]) and not options["data"]:
        raise ValueError("--record-every keeps the paths for the data file: give --data FILE.npz too")


def _sweep(options: dict, description: str) -> list[tuple[Path, Callable]]:
    starts = parse_starts(options["start"])
    result = sweep(options["optimizer"] or list(SWEEP_DEFAULT_OPTIMIZERS), options["landscape"],
                   options["vary"] or list(SWEEP_DEFAULT_AXES), start=starts, steps=int(options["steps"]),
                   tol=float(options["tol"]), near=options["near"], flow=options["flow"],
                   record_every=int(options["record_every"]), method=str(options["method"]),
                   rtol=float(options["rtol"]), atol=float(options["atol"]), track=_tracked(options["track"]),
                   engine=str(options["engine"]), noise=options["noise"], batch_size=options["batch_size"],
                   seed=int(options["seed"]), schedule=run_schedule(options),
                   clip_norm=options["clip_norm"], clip_value=options["clip_value"], lr_scale=_scales(options["lr_scale"]))  # the progress bar shows on a terminal only
    fig = sweep_figure(result, options["metric"])
    out, *data = _sweep_outputs(options)
    dpi = int(options["dpi"])
    add_caption(fig, options["caption"])
    writes = [(out, lambda p: save_figure(fig, p, dpi=dpi, description=description))]
    if data:
        writes += [(data[0], lambda p: save_npz(p, result.arrays())),
                   (data[1], lambda p: save_json(p, {"summary": result.summary(), **_sweep_json(result)})),
                   (data[2], lambda p: save_text(p, result.csv()))]
    return writes


def _sweep_json(result) -> dict:
    """Per member: counts of diverged, converged and unfinished cells, and the best cell."""
    out = {"axes": {a.name: a.spec for a in result.axes}, "criterion": result.criterion, "members": {}}
    for i, label in enumerate(result.members):
        loss = result.metrics["final_loss"][i]
        best = None
        if np.any(np.isfinite(loss)):
            cell = np.unravel_index(np.nanargmin(loss), loss.shape)
            best = {"final_loss": float(loss[cell]), **{a.name: float(a.values[j]) for a, j in zip(result.axes, cell)}}
        out["members"][label] = {
            "kind": result.kinds[i], "cells": int(loss.size), "diverged": int(result.metrics["diverged"][i].sum()),
            "at_minimum": int((result.metrics["minimum"][i] >= 0).sum()), "best": best}
    return out


def _tracked(v) -> tuple:
    """--track: the per-step metrics to measure; none given means both, "none" means neither."""
    if not v:
        return TRACKED
    return () if list(v) == ["none"] else tuple(v)


def _track(v):
    for name in _strings(v, "metric names"):
        _one_of(TRACKED + ("none",))(name)
    if "none" in v and len(v) > 1:
        raise ValueError("none tracks nothing: give it alone")
    return list(v)


def _axes_specs(v):
    _strings(v, "axes such as lr=1e-4:1e-1:50:log")
    if len(v) > 2:
        raise ValueError(f"a sweep has one or two axes, got {len(v)}")
    for spec in v:
        parse_axis(spec)
    return list(v)


# -- rate-map ----------------------------------------------------------------------------------------
RATE_MAP_DEFAULTS = {
    "optimizer": None, "landscape": None, "lr_lambda": "0.02:4.5:90", "vary": "momentum=0.01:0.99:60",
    "minimum": 0, "offset": 1e-3, "steps": 400, "caption": None, "out": "simulate_rate_map.png", "data": None, "dpi": 150,
}
RATE_MAP_DEFAULT_OPTIMIZERS = ("momentum", "nesterov")
RATE_MAP_VARY_WITHOUT_MOMENTUM = "weight_decay=0:2:60"
_rate_map_outputs = _outputs(".csv")


def _rate_map(options: dict, description: str) -> list[tuple[Path, Callable]]:
    chosen = options["optimizer"] or RATE_MAP_DEFAULT_OPTIMIZERS
    vary = options["vary"]
    if vary == RATE_MAP_DEFAULTS["vary"] and any("momentum" not in sweepable(get_optimizer(o)) for o in chosen):
        vary = RATE_MAP_VARY_WITHOUT_MOMENTUM  # gd, heun, rk4, proximal: the default axis would not exist
    maps = [rate_map(o, f"lr_lambda={options['lr_lambda']}", vary, landscape=options["landscape"],
                     minimum=int(options["minimum"]), offset=float(options["offset"]), steps=int(options["steps"]))
            for o in chosen]
    fig = rate_map_figure(maps)
    out, *data = _rate_map_outputs(options)
    dpi = int(options["dpi"])
    add_caption(fig, options["caption"])
    writes = [(out, lambda p: save_figure(fig, p, dpi=dpi, description=description))]
    if data:
        writes += [(data[0], lambda p: save_npz(p, rate_map_arrays(maps))),
                   (data[1], lambda p: save_text(p, rate_map_csv(maps)))]
    return writes


def _range(v):
    try:
        parse_axis(f"lr_lambda={_text(v)}")
    except ValueError as exc:  # the option's name is said once, by the caller
        raise ValueError(str(exc).replace("axis lr_lambda: ", "")) from None
    return v


def _axis(v):
    parse_axis(_text(v))
    return v


def _flows(v):
    for kind in _strings(v, "flow kinds"):
        lookup("flow", kind, FLOWS)
        if v.count(kind) > 1:
            raise ValueError(f"flow {kind} is given twice")
    return list(v)


def _numbers(v):
    if not isinstance(v, (list, tuple)) or not all(_is_number(x) for x in v):
        raise ValueError(f"expected a list of numbers, got {v!r}")
    return [_positive(x) for x in v]


def _ratio(v):
    if not _is_number(v) or not (math.isfinite(v) and v > 1):
        raise ValueError(f"must be a number > 1, got {v!r}")
    return float(v)


COMMANDS: dict[str, Command] = {
    "plot": Command(
        "plot", PLOT_DEFAULTS,
        checks={"landscape": _landscape, "optimizer": _optimizers, "start": _starts,
                "random_starts": _integer(0, MAX_RANDOM_STARTS), "seed": _integer(0), "steps": _integer(0),
                "lr": _positive, "flow": _one_of(tuple(FLOWS)), "rtol": _positive, "atol": _positive,
                "method": _one_of(METHODS), "time": _one_of(("t", "steps")), "sharpness": _flag, "energy": _flag, "three_d": _flag, "noise": _noise,
                "batch_size": _integer(1), "paths": _integer(1, MAX_PATHS), "scheme": _one_of(SCHEMES),
                "substeps": _integer(1, 10_000), "schedule": _schedule, "warmup": _integer(0), "clip_norm": _positive, "clip_value": _positive,
                "lr_scale": _lr_scale, "ema": _ema, "box": _box, "caption": _text, "out": _path_with(FIGURE_FORMATS),
                "data": _path_with(("npz",), "the .json summary is"), "animate": _animation_path,
                "dpi": _integer(20, 1200)},
        plan=_plot_outputs, execute=_plot, outputs=("out", "data", "animate"),
        exclusive=(("start", "random_starts"),), together=_plot_together),
    "order": Command(
        "order", ORDER_DEFAULTS,
        checks={"landscape": _landscape, "optimizer": _optimizers, "flow": _flows, "start": _starts,
                "horizon": _positive, "rungs": _integer(2, 40), "ratio": _ratio, "lrs": _numbers,
                "scaling": _one_of(tuple(SCALINGS)), "metric": _one_of(METRICS), "x": _one_of(tuple(ORDER_AXES)),
                "method": _one_of(METHODS), "rtol": _positive, "atol": _positive,
                "max_evaluations": _integer(100, 100_000_000),
                "caption": _text, "out": _path_with(FIGURE_FORMATS), "data": _path_with(("npz",), "the .csv and .json are"),
                "dpi": _integer(20, 1200)},
        plan=_order_outputs, execute=_order, outputs=("out", "data"), together=_order_together),
    "sweep": Command(
        "sweep", SWEEP_DEFAULTS,
        checks={"landscape": _landscape, "optimizer": _optimizers, "vary": _axes_specs, "start": _starts,
                "steps": _integer(0), "metric": _one_of(tuple(SWEEP_METRICS)), "tol": _positive, "near": _positive,
                "flow": _one_of(tuple(FLOWS)), "method": _one_of(METHODS), "rtol": _positive, "atol": _positive,
                "record_every": _integer(0), "track": _track, "engine": _one_of(ENGINES), "noise": _noise,
                "batch_size": _integer(1), "seed": _integer(0), "schedule": _schedule, "warmup": _integer(0),
                "clip_norm": _positive, "clip_value": _positive, "lr_scale": _lr_scale,
                "caption": _text, "out": _path_with(FIGURE_FORMATS), "data": _path_with(("npz",), "the .csv and .json are"),
                "dpi": _integer(20, 1200)},
        plan=_sweep_outputs, execute=_sweep, outputs=("out", "data"), together=_sweep_together),
    "rate-map": Command(
        "rate-map", RATE_MAP_DEFAULTS,
        checks={"optimizer": _optimizers, "landscape": _landscape, "lr_lambda": _range, "vary": _axis,
                "minimum": _integer(0), "offset": _positive, "steps": _integer(2), "caption": _text, "out": _path_with(FIGURE_FORMATS),
                "data": _path_with(("npz",), "the .csv is"), "dpi": _integer(20, 1200)},
        plan=_rate_map_outputs, execute=_rate_map, outputs=("out", "data")),
}


# -- running and recording ------------------------------------------------------------------------------
def toml_value(value):
    """An option value as TOML can hold it: paths and enums as strings, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [toml_value(v) for v in value]
    return value


def _versions() -> dict:
    import matplotlib
    import scipy

    from .._version import __version__

    return {"simulate": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "matplotlib": matplotlib.__version__, "platform": platform.platform()}


def _record_text(command: str, options: dict, outputs: list[Path], record: Path, command_line: str,
                 argv: list[str], first_command_line: str) -> str:
    """A run record. Output paths are written relative to the record's folder, so the folder can
    move and ``rerun`` writes exactly where the originals were."""
    def rel(p):
        return os.path.relpath(Path(p).absolute(), record.parent.absolute())

    config = {k: (rel(v) if k in COMMANDS[command].outputs and v else v) for k, v in options.items()}
    facts = {"command": command, "argv": argv, "command_line": command_line,
             "first_command_line": first_command_line, "outputs": [rel(p) for p in outputs],
             "seed": int(options.get("seed") or 0)}
    header = (f"simulate run record. Reproduce the outputs with:  simulate rerun {record}\n"
              "[config] holds every option (output paths relative to this file); it is also a valid --config.")
    return dumps({"run": facts, "versions": _versions(), "config": config}, header)


def run(command: str, options: dict, *, overwrite: bool = False, argv: list[str] | None = None,
        first_command_line: str | None = None) -> list[Path]:
    """Run ``command`` with ``options`` (defaults fill the rest); write its outputs and run records.

    Every option is validated, then the options together (``Command.together``), then every output
    path (and record); nothing is computed or written when one fails or exists without
    ``overwrite``. What only the library can check (an axis a sweep's optimizers lack) is checked
    after the paths, when it runs. Returns the paths written, outputs first.
    """
    given = dict(options)
    options = validate(command, given)
    cmd = COMMANDS[command]
    cmd.together(options)  # a refused combination says so even where an output already exists
    planned = cmd.plan(options)
    records = list(dict.fromkeys(record_path(p) for p in planned))
    beside = {record_path(p): p for p in reversed(planned)}
    for path in [*planned, *records]:  # formats were checked with the options
        try:
            check_output_path(path, overwrite=overwrite)
        except ValueError as exc:
            message = str(exc)
            if path in beside and path not in planned:
                message = message.replace(" exists;", f" (the run record of {str(beside[path])!r}) exists;")
            raise ValueError(message if argv else message.replace("pass --overwrite", "pass overwrite=True")) from None
    command_line = shlex.join(argv) if argv else f"simulate.run({command!r}, {given!r})"
    writes = cmd.execute(options, command_line)
    outputs = [Path(path) for path, _ in writes]
    for record in records:
        text = _record_text(command, options, outputs, record, command_line, list(argv or []),
                            first_command_line or command_line)
        writes.append((record, lambda p, text=text: save_text(p, text)))
    return write_together(writes)  # all or nothing: a failing writer leaves no outputs and no record


def relocate_outputs(command: str, options: dict, folder, *, keep_names_only: bool = False) -> dict:
    """Output paths of ``options`` put under ``folder``: a record's paths are relative to the
    record's folder; ``keep_names_only`` drops their folders (for ``rerun --out-dir``)."""
    moved = dict(options)
    for key in COMMANDS[command].outputs:
        if moved.get(key):
            moved[key] = str(Path(folder) / (Path(moved[key]).name if keep_names_only else moved[key]))
    return moved


def rerun(record, *, out_dir=None, overwrite: bool = False, argv: list[str] | None = None) -> list[Path]:
    """Run the command a record describes again, with the same options.

    Outputs go where the record says (relative to its folder; ``overwrite=True`` is then needed)
    or into ``out_dir`` (created if missing) under the same names. A :class:`RerunWarning` is
    issued when the recorded versions differ from the installed ones.
    """
    record = Path(record)
    command, options, facts, text = read_record(record)
    options = validate(command, options, source=record, text=text)
    if out_dir is None:
        options = relocate_outputs(command, options, record.parent)
    else:
        options = relocate_outputs(command, options, out_dir, keep_names_only=True)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    recorded = facts.get("versions", {})
    changed = [f"{k} {recorded[k]} -> {v}" for k, v in _versions().items()
               if k != "platform" and k in recorded and recorded[k] != v]
    if changed:
        warnings.warn(f"{record} was made with other versions ({', '.join(changed)}); results may differ",
                      RerunWarning, stacklevel=2)
    first = facts.get("run", {}).get("first_command_line") or facts.get("run", {}).get("command_line")
    return run(command, options, overwrite=overwrite, argv=argv, first_command_line=first or None)
