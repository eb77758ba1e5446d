"""Sweeps: one vectorized run over a grid of hyperparameters and start points, measured as it goes.

``sweep(optimizers, landscape, axes)`` turns each axis (a hyperparameter such as ``lr``,
``momentum``, ``beta1``, ``eps``, or a start coordinate ``x``/``y``/``x1``…) into an array along its
own grid dimension; the optimizer's hyperparameters and the start then broadcast against one
another, so the whole grid is a single batch for :func:`~simulate.solvers.discrete.advance`, not a Python
loop over configurations. Metrics are accumulated step by step (memory is the grid, not the
run); whole paths are kept only when asked for, every ``record_every`` steps. With ``flow=KIND``
the continuous model of every cell is integrated to the cell's final time as well: its endpoint
gets the same metrics as the iterates, and ``flow_distance`` says how far apart the two ended.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import warnings
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .._checks import checked
from .._optional import optional
from .._signature import Said, public, warn
from ..landscapes.base import short_label
from ..solvers.inputs import is_optimizer, resolve
from .._names import UnknownNameError, suggest
from ..solvers.continuous import MAX_SECONDS, integrate
from ..solvers import cost
from ..solvers.discrete import advance, check_seed, check_steps, spawned_seed, stochastic
from ..solvers.choice import use_compiled
from ..solvers.engine import compiled_run, recorded_steps
from ..solvers.tracking import Tracking
from ..models import flow as make_flow
from ..landscapes.games import NEAR_SHARE, is_game
from ..landscapes import Landscape, landscape as get_landscape, landscape_parameters, with_parameters
from ..solvers.noise import NoisyGradients
from ..optimizers import Optimizer, optimizer as get_optimizer
from ..optimizers.base import _fmt
from ..io.progress import progress_bar
from ..spec import parse_spec
from ..solvers.trajectory import FAILED, check_run_memory, coordinate_names, default_escape_radius, runs_memory
from .measures import (VERDICTS, Accumulator as _Accumulator, criterion as _criterion,
                       endpoint_metrics as _endpoint_metrics, nearest as _nearest, tracked_metrics, tracking)

__all__ = ["Axis", "Sweep", "sweep", "METRICS", "UNITS", "SCALES", "parse_axis", "start_coordinates", "sweepable", "with_axis",
           "member_label"]

#: What every grid cell gets, for the iterates and (where it applies) for the flow's endpoint.
METRICS = {
    "final_loss": "f at the last step (NaN where the run diverged)",
    "distance": "distance from the last point to the nearest listed minimum (on a game its own distance to the "
                "equilibrium: the generator's |θ| for Su's GANs)",
    "steps_to_tol": "first step at which the criterion (f − f* <= tol, or |∇f| <= tol; on a game distance <= tol, "
                    "or |ξ| <= tol) holds; −1 if never",
    "diverged": "1 where the run became non-finite or left the escape ball",
    "diverged_at": "the step at which it did; −1 if it never did",
    "minimum": "index of the listed minimum within `near` of the last point; −1 none (unfinished), −2 diverged",
    "rate": "per-step contraction of the distance to the nearest minimum over the latest window [k/2, k] "
            "whose end is still clear of roundoff (NaN where more than 64 minima are listed)",
    "flow_distance": "|x_K − x(t_K)|: distance between the last iterate and the flow at the same time",
    "verdict": "how the run ends, from the distance (else |∇f|) over its last half: 0 converged (distance <= tol "
               "at the end), 1 converging, 2 stalled (moving less than 5% of the distance), 3 cycling, 4 spiralling out, 5 diverged; −1 not measured (flow "
               "endpoints, noisy runs, fewer than 4 steps)",
}
#: The units of every metric in :data:`METRICS` (``1``: a dimensionless number; ``x``: the units of
#: the landscape's coordinates; ``f``: the units of its values), for labelled data (``Sweep.to_xarray``).
UNITS = {"final_loss": "f", "distance": "x", "steps_to_tol": "steps", "diverged": "1", "diverged_at": "steps",
         "minimum": "index", "rate": "1 per step", "flow_distance": "x", "verdict": "code"}
#: The axis that repeats a noisy run: ``path=1:50:50`` gives 50 independent paths per configuration.
PATH_AXIS = "path"
#: Metrics measured at every step (the others at the end); ``track`` can leave them out.
TRACKED = ("steps_to_tol", "rate", "verdict")
#: Metrics that hold integers (the others are float64).
INTEGER_METRICS = ("steps_to_tol", "diverged", "diverged_at", "minimum", "verdict")
#: An axis named ``landscape.NAME`` sets the landscape's parameter NAME (a game's penalty strength);
#: a plain NAME does too where no optimizer has a hyperparameter of that name.
LANDSCAPE_PREFIX = "landscape."
SCALES = ("linear", "log", "list")


#: The largest grid one sweep takes (cells × optimizers): beyond it, a clear error before any work.
MAX_CELLS = 10_000_000


@dataclass(frozen=True)
class Axis:
    """One grid dimension: a hyperparameter or a start coordinate, and its values.

    ``scale`` says how the values were made and how to draw them: ``linear`` (evenly spaced),
    ``log`` (geometrically spaced, drawn on a log axis) or ``list`` (as given).
    """

    name: str
    values: np.ndarray
    scale: str = "list"

    def __post_init__(self):
        values = np.array(self.values, dtype=np.float64).reshape(-1)
        if values.size == 0:
            raise ValueError(f"axis {self.name}: no values")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"axis {self.name}: values must be finite")
        if self.scale not in SCALES:
            raise ValueError(suggest("axis scale", self.scale, SCALES))
        if self.scale == "log" and np.any(values <= 0):
            raise ValueError(f"axis {self.name}: a log axis needs values > 0")
        values.setflags(write=False)
        object.__setattr__(self, "values", values)

    @classmethod
    def linear(cls, name: str, start: float, stop: float, num: int) -> Axis:
        """``num`` evenly spaced values from ``start`` to ``stop`` inclusive."""
        return cls(name, np.linspace(start, stop, _count(name, num)), "linear")

    @classmethod
    def log(cls, name: str, start: float, stop: float, num: int) -> Axis:
        """``num`` geometrically spaced values from ``start`` to ``stop`` inclusive (both > 0)."""
        if not (start > 0 and stop > 0):
            raise ValueError(f"axis {name}: a log range needs start and stop > 0, got {start:g}, {stop:g}")
        with np.errstate(over="ignore", invalid="ignore"):  # a range near the float limit: refused below
            return cls(name, np.geomspace(start, stop, _count(name, num)), "log")

    def __len__(self) -> int:
        return self.values.size

    @property
    def spec(self) -> str:
        """The text :func:`parse_axis` reads back into this axis."""
        v = self.values
        if self.scale in ("linear", "log") and v.size > 1:
            return f"{self.name}={float(v[0])!r}:{float(v[-1])!r}:{v.size}" + (":log" if self.scale == "log" else "")
        return f"{self.name}=" + ",".join(repr(float(x)) for x in v)


def _count(name: str, num) -> int:
    if isinstance(num, bool) or not float(num).is_integer() or not 1 <= int(num) <= 100_000:
        raise ValueError(f"axis {name}: the number of values must be a whole number in [1, 100000], got {num!r}")
    return int(num)


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_axis(text: str) -> Axis:
    """``NAME=START:STOP:NUM`` (linear), ``NAME=START:STOP:NUM:log``, or ``NAME=V1,V2,...``.

    >>> parse_axis("lr=1e-4:1e-1:4:log").values
    array([0.0001, 0.001 , 0.01  , 0.1   ])
    """
    if isinstance(text, Axis):
        return text
    name, sep, rest = str(text).partition("=")
    name, rest = name.strip(), rest.strip()
    if not sep or not name or not rest:
        raise ValueError(f"axis {text!r}: write NAME=START:STOP:NUM[:log] or NAME=V1,V2,...")
    parts = [p.strip() for p in rest.split(":")]
    if len(parts) == 1:
        values = [p.strip() for p in rest.split(",")]
        bad = [v for v in values if not re.fullmatch(_NUMBER, v)]
        if bad and re.fullmatch(r"[-+]?(inf|infinity|nan)", bad[0].lower()):
            raise NotAnAxis(name, values, _not_an_axis(name, values, _NOT_FINITE.format(bad[0])),
                            _NOT_FINITE.format(bad[0]))
        if bad:
            raise ValueError(f"axis {name}: {bad[0]!r} is not a number")
        return Axis(name, [float(v) for v in values], "list")
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] not in ("log", "linear")):
        raise ValueError(f"axis {name}: a range is START:STOP:NUM or START:STOP:NUM:log, got {rest!r}")
    for p in parts[:2]:
        if not re.fullmatch(_NUMBER, p):
            raise ValueError(f"axis {name}: {p!r} is not a number")
    if not re.fullmatch(r"\d+", parts[2]):
        raise ValueError(f"axis {name}: the number of values must be a whole number, got {parts[2]!r}")
    make = Axis.log if len(parts) == 4 and parts[3] == "log" else Axis.linear
    return make(name, float(parts[0]), float(parts[1]), int(parts[2]))


class NotAnAxis(ValueError):
    """``NAME=V1,V2,...`` with a value no grid holds (inf): :func:`sweep`, which knows the
    optimizers, names the one whose setting it is (steepest's norm)."""

    def __init__(self, name: str, values: list[str], message: str, why: str):
        super().__init__(message)
        self.name, self.values, self.why = name, values, why


_NOT_FINITE = "{!r} is not a finite number, and an axis holds finite values of a numeric hyperparameter (the grid is one vectorized run)"


def _fields(opt: Optimizer) -> set[str]:
    """The dataclass fields of ``opt`` and of the optimizers it wraps (a schedule's wrapper, Lookahead)."""
    names: set[str] = set()
    while isinstance(opt, Optimizer):
        own = {f.name for f in dataclasses.fields(opt)}
        names |= own
        opt = opt.inner if "inner" in own else None
    return names - {"inner"}


def _not_an_axis(name: str, values, why: str, given=None) -> str:
    """Why ``name=values`` is no axis, and the sweep that compares those values: one optimizer per
    value, spelled as ``given`` (the optimizer as the user gave it) with ``name`` set.

    A setting that picks the kind of step (steepest's ``norm`` 1, 2 or inf) cannot be an array over
    the grid: each value is its own optimizer, and a sweep takes several (``-o`` repeated)."""
    if given is None:  # parsed alone: whether an optimizer's setting is meant is not known yet
        specs = " ".join(f"-o 'OPTIMIZER({name}={v})'" for v in values)
        return (f"axis {name}: {why}. If {name} is a setting that picks the kind of step (as steepest's norm 1, 2 "
                f"or inf), compare its values by giving one optimizer per value: {specs}")
    head, params = _spelled(given, name)
    specs = " ".join(f"-o '{head}({', '.join([*params, f'{name}={v}'])})'" for v in values)
    return (f"axis {name}: {why}. To compare {name}={','.join(map(str, values))}, give one optimizer per value "
            f"(each is swept over the other axes): {specs}")


def _spelled(given, field_name: str) -> tuple[str, list[str]]:
    """The name and ``key=value`` settings of an optimizer as given, without ``field_name``; the
    name is its class's where the preset fixes ``field_name`` (sign-gd fixes steepest's norm)."""
    from ..optimizers import OPTIMIZERS
    from ..spec import format_value

    if isinstance(given, Optimizer):
        name, params = given.name, dict(given._changed())
    else:
        name, params = parse_spec(str(given))
        name = name.strip().lower().replace("_", "-")
    preset = OPTIMIZERS.get(name)
    if preset is not None and field_name in getattr(preset, "fixed", {}):
        name = preset.cls.name
    return name, [f"{k}={format_value(v)}" for k, v in params.items() if k != field_name]


# -- what an axis name refers to ------------------------------------------------------------------
def start_coordinates(landscape: Landscape) -> dict[str, int]:
    """Axis names of the start's coordinates: ``x1 … xd``, and ``x``, ``y`` (``z``) up to d = 3."""
    names = {f"x{i + 1}": i for i in range(landscape.dim)}
    if landscape.dim <= 3:
        names.update({"xyz"[i]: i for i in range(landscape.dim)})
    return names


def sweepable(opt: Optimizer) -> dict[str, tuple[str, int | None]]:
    """Sweepable names -> (field, index in a pair): the optimizer's declared hyperparameters
    (``lr``, ``momentum``, ``beta1``, ``betas[0]``, ...) and its schedule's parameters."""
    out = opt.sweepable()
    if opt.schedule is not None:  # the schedule's parameters: warmup=0:100:11, T_max, gamma, …
        from ..optimizers.schedules import sweepable_parameters

        out.update({name: ("schedule", name) for name in sweepable_parameters(opt.schedule) if name not in out})
    return out


def with_axis(opt: Optimizer, name: str, values: np.ndarray) -> Optimizer:
    """``opt`` with the hyperparameter ``name`` (a :func:`sweepable` name) set to ``values``."""
    f, i = sweepable(opt)[name]
    if f == "schedule":
        from ..optimizers.schedules import ScheduleGrid

        grid = opt.schedule if isinstance(opt.schedule, ScheduleGrid) else ScheduleGrid(base=opt.schedule)
        return opt.replace(schedule=grid.with_value(i, values))  # checked by sweep() for its steps
    if i is None:
        return opt.replace(**{f: values})
    pair = list(getattr(opt, f))
    pair[i] = values
    return opt.replace(**{f: tuple(pair)})


def _along(values: np.ndarray, i: int, ndim: int) -> np.ndarray:
    """``values`` as an array along grid dimension ``i`` of ``ndim``."""
    return values.reshape([-1 if j == i else 1 for j in range(ndim)])


# -- the result ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class Sweep:
    """Metrics over a grid: ``metrics[name]`` is ``(M, *grid)`` for the M members (each optimizer's
    iterates, then, with a flow, each optimizer's flow endpoint), ``grid = tuple(len(a) for a in axes)``.

    ``paths`` (only with ``record_every``) is ``(N, T, *grid, d)`` at steps ``path_steps``, for the N
    optimizers' iterates (the first N members; a flow's endpoint alone is kept).
    :meth:`sel` (by value) and :meth:`isel` (by position) take slices: a Sweep over the other axes.
    """

    axes: tuple[Axis, ...]
    landscape: Landscape
    optimizers: tuple[Optimizer, ...]   # one per member, with its grid of hyperparameters
    members: tuple[str, ...]            # labels
    kinds: tuple[str, ...]              # "iterates" or "flow"
    start: np.ndarray                   # (*grid, d)
    steps: int
    tol: float
    near: float
    criterion: str
    metrics: dict
    flow: str = ""
    paths: np.ndarray | None = None
    path_steps: np.ndarray | None = None
    stats: dict = field(default_factory=dict)

    @cached_property
    def reference_sharpness(self) -> float:
        """λmax(∇²f) at the listed minimum nearest the start, when no axis moves the start or the
        landscape (else NaN): the curvature the stability thresholds of the figure are drawn against (NaN on a
        game, whose Jacobian has complex eigenvalues: no real threshold)."""
        if (not len(self.landscape.minima) or is_game(self.landscape) or self.stats.get("landscape_axes")
                or any(a.name in start_coordinates(self.landscape) for a in self.axes)):
            return float("nan")
        from .sharpness import sharpness

        base = np.asarray(self.start[(0,) * (self.start.ndim - 1)])  # the first cell (a stored sweep's start is lazy)
        return float(sharpness(self.landscape, self.landscape.minima[_nearest(self.landscape, base)[1]]))

    def lowest_minimum_values(self) -> np.ndarray:
        """f* of each cell's landscape, broadcastable over the grid: the landscape's lowest listed
        minimum value, per value of every axis that sets one of its parameters (a tilt or a ridge
        moves the minima; each cell ran on its own landscape)."""
        swept = [i for i, a in enumerate(self.axes) if a.name in self.stats.get("landscape_axes", ())]
        if not swept:
            return np.asarray(self.landscape.lowest_minimum_value(), dtype=np.float64)
        out = np.empty([len(a) if i in swept else 1 for i, a in enumerate(self.axes)])
        for combo in np.ndindex(*(len(self.axes[i]) for i in swept)):
            here = {self.axes[i].name.removeprefix(LANDSCAPE_PREFIX): float(self.axes[i].values[j])
                    for i, j in zip(swept, combo)}
            index = [0] * len(self.axes)
            for i, j in zip(swept, combo):
                index[i] = j
            out[tuple(index)] = with_parameters(self.landscape, **here).lowest_minimum_value()
        return out

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    def __repr__(self) -> str:  # the arrays are in .metrics; summary() says what they hold
        axes = " × ".join(a.spec for a in self.axes)
        return (f"Sweep({', '.join(self.members)} over {axes} on {short_label(self.landscape)}, {self.steps} steps; "
                f"metrics: {', '.join(self.metrics)})")

    def member(self, which) -> int:
        """A member's index from its index or label (an optimizer's label, or ``label + " flow"``)."""
        if isinstance(which, (int, np.integer)):
            if not -len(self.members) <= which < len(self.members):
                raise IndexError(f"member {which} out of range: this sweep has {len(self.members)}")
            return int(which) % len(self.members)
        if which in self.members:
            return self.members.index(which)
        raise UnknownNameError(suggest("sweep member", str(which), self.members))

    def metric(self, name: str, member=0) -> np.ndarray:
        """One metric over the grid for one member."""
        if name not in self.metrics:
            if name == "flow_distance":
                raise ValueError("flow_distance needs a continuous model: sweep with flow=KIND (--flow KIND)")
            if name in METRICS:
                raise ValueError(f"{name} was not tracked in this sweep (track={TRACKED!r} measures it)")
            raise UnknownNameError(suggest("metric", name, self.metrics))
        return self.metrics[name][self.member(member)]

    def grid(self) -> list[np.ndarray]:
        """Each axis's values broadcast over the grid (``np.meshgrid(..., indexing="ij")``)."""
        return np.meshgrid(*(a.values for a in self.axes), indexing="ij")

    # -- slices (xarray's names: sel by value, isel by position) ----------------------------
    def axis(self, name: str) -> int:
        """The position of the axis ``name`` in :attr:`axes` (an unknown name suggests the axes there are)."""
        names = [a.name for a in self.axes]
        if name not in names:
            raise UnknownNameError(suggest("axis", str(name), names))
        return names.index(name)

    def isel(self, indexers: Mapping | None = None, **by_name) -> Sweep:
        """The sweep at positions along some of its axes: ``isel(momentum=2)`` is the sweep over the
        other axes at the third momentum (that axis dropped, as in xarray); a list of positions
        (``isel(beta=[0, 2])``) keeps the axis with those values. ``indexers`` is a mapping for axis
        names that are no Python names (``{"betas[0]": 1}``). Metrics, starts, paths and the members'
        hyperparameters are sliced alike; a landscape axis fixed to one value becomes the landscape's
        parameter (:func:`~simulate.landscapes.with_parameters`)."""
        wanted = {**(indexers or {}), **by_name}
        out = self
        for name, where in wanted.items():
            out = out._isel_one(out.axis(name), where)
        return out

    def sel(self, indexers: Mapping | None = None, method: str | None = None, **by_name) -> Sweep:
        """The sweep at values of some of its axes: ``sel(momentum=0.9)`` is the sweep over the other
        axes where momentum is 0.9 (exactly one of the axis's values; that axis dropped), a list of
        values keeps the axis. ``method="nearest"`` takes the nearest value on the axis instead (as
        xarray's, by absolute difference). A value not on the axis is refused with the values there are."""
        if method not in (None, "nearest"):
            raise ValueError(f"method must be None (exact values) or 'nearest', got {method!r}")
        wanted = {**(indexers or {}), **by_name}
        positions = {}
        for name, value in wanted.items():
            a = self.axes[self.axis(name)]
            many = np.ndim(value) > 0
            positions[name] = [_position(a, v, method) for v in np.ravel(value)] if many else _position(a, value, method)
        return self.isel(positions)

    def one_member(self, which) -> Sweep:
        """The sweep of one member alone (its index or label): metrics, hyperparameters and paths
        sliced alike."""
        i = self.member(which)
        paths = self.paths
        if paths is not None:  # paths hold the iterates' members only, the first ones
            paths = paths[i:i + 1] if self.kinds[i] == "iterates" and i < len(paths) else None
        return dataclasses.replace(
            self, optimizers=self.optimizers[i:i + 1], members=self.members[i:i + 1], kinds=self.kinds[i:i + 1],
            metrics={k: v[i:i + 1] for k, v in self.metrics.items()}, paths=paths,
            path_steps=self.path_steps if paths is not None else None)

    def _isel_one(self, i: int, where) -> Sweep:
        """The sweep at position(s) ``where`` of axis ``i`` (an int drops the axis; a list keeps it)."""
        a = self.axes[i]
        n = len(a)
        many = np.ndim(where) > 0
        picked = np.ravel(np.asarray(where))
        if picked.size == 0 or picked.dtype.kind not in "iuf" or not all(float(p).is_integer() for p in picked):
            raise ValueError(f"axis {a.name}: positions are whole numbers, got {where!r}")
        picked = picked.astype(np.int64)
        if np.any((picked < -n) | (picked >= n)):
            raise IndexError(f"axis {a.name} has {n} values (positions 0 to {n - 1}), got {where!r}")
        picked = picked % n
        index = picked if many else int(picked[0])
        grid = self.grid_shape
        at = (slice(None),) * i + (index,)
        axes = list(self.axes)
        landscape, stats = self.landscape, dict(self.stats)
        if many:
            values = a.values[picked]
            kept = a.scale if np.array_equal(picked, np.arange(n)) else "list"  # a range's spec holds for all of it
            axes[i] = Axis(a.name, values, kept)
        else:
            del axes[i]
            if a.name in stats.get("landscape_axes", ()):  # the landscape at that value of its parameter
                landscape = with_parameters(landscape, **{a.name.removeprefix(LANDSCAPE_PREFIX): float(a.values[index])})
                stats["landscape_axes"] = tuple(n_ for n_ in stats["landscape_axes"] if n_ != a.name)
                if not stats["landscape_axes"]:
                    del stats["landscape_axes"]
        metrics = {k: v[(slice(None),) + at] for k, v in self.metrics.items()}
        paths = None if self.paths is None else self.paths[(slice(None), slice(None)) + at]
        return dataclasses.replace(self, axes=tuple(axes), landscape=landscape, stats=stats,
                                   optimizers=tuple(o.member(at, grid) for o in self.optimizers),
                                   start=self.start[at], metrics=metrics, paths=paths)

    def load(self) -> Sweep:
        """This sweep with every number in memory (NumPy arrays). A stored sweep (``store=``) reads
        its metrics, starts and paths lazily from its zarr store; ``load`` reads them all."""
        return dataclasses.replace(self, metrics={k: np.asarray(v) for k, v in self.metrics.items()},
                                   start=np.asarray(self.start), paths=None if self.paths is None else np.asarray(self.paths))

    # -- export ----------------------------------------------------------------------------
    def columns(self) -> dict[str, np.ndarray]:
        """The table as columns, one row per (member, cell): member, the axes, every metric."""
        n = int(np.prod(self.grid_shape))
        m = len(self.members)
        cols = {"member": np.repeat(np.asarray(self.members, dtype=object), n),
                "kind": np.repeat(np.asarray(self.kinds, dtype=object), n)}
        for a, g in zip(self.axes, self.grid()):
            cols[a.name] = np.tile(g.reshape(-1), m)
        for name, values in self.metrics.items():
            cols[name] = values.reshape(-1)
        return cols

    def csv(self) -> str:
        """The table as CSV text (full float precision, NaN as ``nan``)."""
        cols = self.columns()
        lines = [",".join(cols)]
        for row in zip(*cols.values()):
            lines.append(",".join(_csv_cell(v) for v in row))
        return "\n".join(lines) + "\n"

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as named arrays, for an ``.npz``: axes, metrics ``(M, *grid)``, starts, paths."""
        out = {f"axis_{i}_{a.name}": a.values for i, a in enumerate(self.axes)}
        out.update(axes=np.array([a.name for a in self.axes]), axis_scales=np.array([a.scale for a in self.axes]),
                   members=np.array(self.members), kinds=np.array(self.kinds), start=self.start,
                   landscape=np.array(self.landscape.label), steps=np.array(self.steps), tol=np.array(self.tol),
                   near=np.array(self.near), criterion=np.array(self.criterion), flow=np.array(self.flow),
                   reference_sharpness=np.array(self.reference_sharpness),
                   minima=self.landscape.minima)
        out.update(self.metrics)
        if self.paths is not None:
            out.update(paths=self.paths, path_steps=self.path_steps)
        if "noise" in self.stats:
            out.update(noise=np.array(self.stats["noise"]), seed=np.array(self.stats["seed"]))
        return out

    def to_pandas(self):
        """The table of :meth:`columns` as a tidy :class:`pandas.DataFrame`: one row per (member, cell),
        the member's label and kind, the axes' values, every metric (the rows of :meth:`csv`)."""
        pd = optional("pandas", "Sweep.to_pandas")
        return pd.DataFrame(self.columns())

    def to_xarray(self, record=None):
        """The sweep as a labelled :class:`xarray.Dataset`.

        Dimensions: ``member`` (its labels as coordinate, with ``kind``, iterates or flow, beside
        them), one per axis, named after it, with its values as coordinate (its ``scale`` and
        ``spec`` as attributes), ``coordinate`` (``x1`` … ``xd``), ``minimum_index`` and, where the
        sweep recorded paths, ``optimizer`` (the iterates' members) and ``recorded_step``. Data
        variables: every metric ``(member, *axes)`` with its ``description`` (:data:`METRICS`) and
        ``units`` (:data:`UNITS`); ``start`` ``(*axes, coordinate)``; ``minima`` ``(minimum_index,
        coordinate)``, the listed minima that ``minimum`` indexes; ``paths`` ``(optimizer,
        recorded_step, *axes, coordinate)`` where recorded.

        The attributes hold the run's configuration (landscape, steps, tol, near, criterion, flow,
        noise and seed, the flows' solver, the simulate version) and ``summary``; ``record``, the
        run record behind the sweep (the TOML text of its ``.run.toml``, or a mapping, written as
        TOML), is kept whole as ``run_record``. An attribute that is no string or number is JSON
        text (netCDF holds no other). Write the dataset with ``to_netcdf`` or ``to_zarr``;
        ``simulate sweep --data out.nc`` (or ``out.zarr``) does, with the record.
        """
        return self._dataset(self._attributes(record))

    def _attributes(self, record=None) -> dict:
        """The dataset's attributes: the run's configuration, as netCDF holds it."""
        return _attributes(self._configuration(record))

    def _dataset(self, attrs: dict):
        """:meth:`to_xarray` with these attributes (a store's layout is written before its numbers)."""
        xr = optional("xarray", "Sweep.to_xarray")
        axes = [a.name for a in self.axes]
        taken = {"member", "kind", "coordinate", "minimum_index", "recorded_step", "optimizer", "start", "minima", "paths",
                 *self.metrics}
        clash = sorted(taken & set(axes))
        if clash:
            raise ValueError(f"the axis {clash[0]} has the name of another dimension or variable of the dataset")
        dim = self.start.shape[-1]
        text = lambda values: np.array(values, dtype=object)  # noqa: E731 (variable-length strings in every format)
        coords = {"member": ("member", text(self.members), {"description": "the optimizer's label (a flow: its "
                                                                           "continuous model, \"label flow\")"}),
                  "kind": ("member", text(self.kinds), {"description": "iterates, or flow (the continuous model's "
                                                                       "endpoint at the same time)"}),
                  "coordinate": ("coordinate", text(coordinate_names(dim)))}
        for a in self.axes:
            coords[a.name] = (a.name, a.values, {"scale": a.scale, "spec": a.spec, "description": self._axis_role(a)})
        data = {name: (("member", *axes), values, {"description": METRICS[name], "units": UNITS[name]})
                for name, values in self.metrics.items()}
        if "verdict" in data:  # the codes' names, as CF's flag attributes
            data["verdict"][2].update(flag_values=np.arange(-1, len(VERDICTS), dtype=np.int64),
                                      flag_meanings=" ".join(v.replace(" ", "_") for v in ("not measured", *VERDICTS)))
        data["start"] = ((*axes, "coordinate"), self.start, {"description": "each cell's start point", "units": "x"})
        data["minima"] = (("minimum_index", "coordinate"), np.asarray(self.landscape.minima, dtype=np.float64).reshape(-1, dim),
                          {"description": "the landscape's listed minima (the metric minimum indexes them)",
                           "units": "x"})
        if self.paths is not None:  # the iterates' paths (a flow's endpoint alone is kept)
            coords["recorded_step"] = ("recorded_step", np.asarray(self.path_steps),
                                       {"description": "the steps at which the paths were recorded"})
            coords["optimizer"] = ("optimizer", text(self._iterates()),
                                   {"description": "the members whose paths are recorded: the iterates"})
            data["paths"] = (("optimizer", "recorded_step", *axes, "coordinate"), self.paths,
                             {"description": "every cell's iterates at the recorded steps; NaN after a run stopped",
                              "units": "x"})
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def _iterates(self) -> list[str]:
        """The labels of the members that are iterates (each optimizer's; its flow is another member)."""
        return [m for m, k in zip(self.members, self.kinds) if k == "iterates"]

    def _axis_role(self, axis: Axis) -> str:
        """What an axis varies, in words (its coordinate's description)."""
        if axis.name == PATH_AXIS:
            return "repeats each configuration: one independent noisy path per value"
        if axis.name in start_coordinates(self.landscape):
            return f"the start's coordinate {axis.name}"
        if axis.name in self.stats.get("landscape_axes", ()) or axis.name.startswith(LANDSCAPE_PREFIX):
            return f"the landscape's parameter {axis.name.removeprefix(LANDSCAPE_PREFIX)}"
        return f"the optimizers' hyperparameter {axis.name}"

    def _configuration(self, record=None) -> dict:
        """The run's configuration, for the attributes of :meth:`to_xarray` (None: left out)."""
        from .._version import __version__

        if record is not None and not isinstance(record, str):
            from ..io.config import dumps

            record = dumps(dict(record))
        stats = self.stats
        return {"title": f"simulate sweep on {self.landscape.label}", "source": f"simulate {__version__}",
                "simulate_version": __version__, "summary": self.summary(), "landscape": self.landscape.label,
                "axes": [a.spec for a in self.axes], "optimizers": self._iterates(),
                "steps": self.steps, "tol": self.tol, "near": self.near, "criterion": self.criterion,
                "flow": self.flow, "escape_radius": stats.get("escape_radius"),
                "reference_sharpness": self.reference_sharpness,
                "noise": stats.get("noise"), "seed": stats.get("seed"),
                "method": stats.get("method"), "rtol": stats.get("rtol"), "atol": stats.get("atol"),
                "flow_methods": stats.get("flow_methods"), "landscape_axes": stats.get("landscape_axes"),
                "run_record": record}

    def summary(self) -> str:
        """A few lines per member: how many cells diverged, reached a minimum, met the tolerance."""
        cells = int(np.prod(self.grid_shape))
        axes = " × ".join(f"{a.name} ({len(a)} {a.scale})" for a in self.axes)
        lines = [f"sweep over {axes} on {self.landscape.label}, {self.steps} steps: {cells} cells per member"]
        if "noise" in self.stats:
            lines[0] += f"; one noisy path per cell ({self.stats['noise']}, seed {self.stats['seed']})"
        for i, label in enumerate(self.members):
            diverged = int(self.metrics["diverged"][i].sum())
            reached = int((self.metrics["minimum"][i] >= 0).sum())
            loss = self.metrics["final_loss"][i]
            best = f"{float(np.nanmin(loss)):.3g}" if np.any(np.isfinite(loss)) else "-"
            line = (f"  {label}: {diverged} diverged, {reached} at a listed equilibrium, best final ½|ξ|² {best}"
                    if is_game(self.landscape) else
                    f"  {label}: {diverged} diverged, {reached} at a listed minimum, best final loss {best}")
            if self.kinds[i] == "iterates" and "steps_to_tol" in self.metrics:
                hit = int((self.metrics["steps_to_tol"][i] >= 0).sum())
                line += f", {hit} met {self.criterion}"
            if self.kinds[i] == "iterates" and "verdict" in self.metrics:
                counts = np.bincount(np.asarray(self.metrics["verdict"][i]).reshape(-1) + 1,
                                     minlength=len(VERDICTS) + 1)[1:]
                line += "; " + ", ".join(f"{n} {name}" for name, n in zip(VERDICTS, counts) if n)
            lines.append(line)
        return "\n".join(lines)

    def report(self) -> dict:
        """What ``simulate sweep --data`` writes as JSON: the summary, the axes, and per member the
        counts of diverged cells and cells at a minimum, and the best cell (lowest final loss); for
        a flow, the method that integrated it."""
        out = {"summary": self.summary(), "axes": {a.name: a.spec for a in self.axes}, "criterion": self.criterion,
               "members": {}}
        for i, label in enumerate(self.members):
            loss = np.asarray(self.metrics["final_loss"][i])
            best = None
            if np.any(np.isfinite(loss)):
                cell = np.unravel_index(np.nanargmin(loss), loss.shape)
                best = {"final_loss": float(loss[cell]), **{a.name: float(a.values[j]) for a, j in zip(self.axes, cell)}}
            out["members"][label] = {
                "kind": self.kinds[i], "cells": int(loss.size), "diverged": int(self.metrics["diverged"][i].sum()),
                "at_minimum": int((self.metrics["minimum"][i] >= 0).sum()), "best": best}
            if label in self.stats.get("flow_methods", {}):  # which solver ran (method auto picks one)
                out["members"][label]["method"] = self.stats["flow_methods"][label]
        return out


def _attributes(config: dict) -> dict:
    """Attributes netCDF can hold: strings and numbers as they are, anything else as JSON text;
    None and NaN left out (no value)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, (np.generic, bool)):
            value = value.item() if isinstance(value, np.generic) else int(value)
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            continue
        out[key] = value if isinstance(value, (str, int, float)) else json.dumps(value, ensure_ascii=False)
    return out
def _position(axis: Axis, value, method: str | None) -> int:
    """The position of ``value`` on ``axis``: there (to rounding: ``x=-5:5:101`` holds 0.10000000000000053
    for the 0.1 it prints), or with ``method="nearest"`` the nearest."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise ValueError(f"axis {axis.name}: a value is a finite number, got {value!r}")
    if method == "nearest":
        return int(np.argmin(np.abs(axis.values - float(value))))
    hit = np.flatnonzero(axis.values == float(value))
    if not hit.size:  # a few units in the last place of the axis's span: linspace's rounding, not another value
        hit = np.flatnonzero(np.abs(axis.values - float(value)) <= 1e-12 * np.max(np.abs(axis.values)))
    if not hit.size:
        there = ", ".join(f"{float(v):.12g}" for v in axis.values[:12]) + (", ..." if len(axis) > 12 else "")
        raise NotOnAxis(f"{value!r} is not a value of the axis {axis.name}; its values: {there} "
                        f"(method='nearest' takes the nearest)")
    return int(hit[0])


class NotOnAxis(KeyError, ValueError):
    """A value that :meth:`Sweep.sel` does not find on its axis (a KeyError, as xarray's, and a ValueError)."""

    def __str__(self) -> str:  # the message, not KeyError's quoted repr of it
        return str(self.args[0])


def _csv_cell(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v)


# -- the run ------------------------------------------------------------------------------------
@public(before=("optimizers", "landscape"), recognise=is_optimizer)
@checked
def sweep(landscape, optimizers, axes, *, start=None, steps: int = 1000, tol: float = 1e-6,
          near: float | None = None, flow: str | None = None, record_every: int = 0,
          escape_radius: float | None = None, method: str = "auto", rtol: float = 1e-8, atol: float = 1e-10,
          track: Sequence[str] = TRACKED, engine: str = "auto", progress: bool | None = None, noise=None,
          batch_size: int | None = None, seed: int = 0, schedule=None, clip_norm=None, clip_value=None,
          lr_scale=None, time_limit=cost.IN_FORCE, max_seconds: float | None = MAX_SECONDS, scheduler=None,
          workers: int | None = None, chunk_cells: int | None = None, store=None) -> Sweep:
    """Run every optimizer over the grid spanned by ``axes`` and measure each cell (see :data:`METRICS`).

    ``optimizers``: one or several names, specs or :class:`~simulate.optimizers.Optimizer` objects
    with scalar hyperparameters (the grid supplies the arrays). ``axes``: one or more
    :class:`Axis`, ``"NAME=START:STOP:NUM[:log]"`` / ``"NAME=V1,V2"`` strings, or a mapping
    ``{name: values}``; a name is a hyperparameter every optimizer has, a start coordinate
    (``x``, ``y``, ``x1`` …), or a parameter of the landscape (``gamma`` of dirac-gan, ``lam`` of
    wgan-gp: :func:`~simulate.landscapes.landscape_parameters`; ``landscape.NAME`` where an optimizer
    has a hyperparameter NAME too), then one vectorized run per value of the landscape's parameters. ``start`` fills the coordinates no axis sets (default: the landscape's).
    ``tol`` is the criterion of ``steps_to_tol``: ``f − f* <= tol`` where the landscape lists its
    minima (f* the lowest), ``|∇f| <= tol`` otherwise. ``near``: how close the last point must be
    to a listed minimum to count as reaching it (default 1% of the plot box's largest side; with
    noise half the smallest distance between listed minima: :func:`default_near`). ``schedule``
    (``"cosine(warmup=10)"``) goes to every optimizer without one; its parameters are then axes
    too (``warmup=0:100:11``, ``T_max``, ``gamma``, …), and ``lr`` is the schedule's peak.
    ``clip_norm``, ``clip_value``, ``lr_scale``: gradient transforms for every optimizer without its
    own (:mod:`simulate.optimizers.transforms`).
    ``flow``: also integrate this continuous model (a kind from :data:`simulate.models.FLOWS`) from
    every cell to its final time, with ``method``/``rtol``/``atol`` (``auto``: the compiled solver of
    :mod:`simulate.solvers.fastflow` where it applies, else LSODA; ``stats["flow_methods"]`` says
    which ran for each member). ``record_every``: keep every
    m-th point of every path (0: keep none). ``track``: the metrics measured during the run (each
    costs a little every step; the others come from the end): ``steps_to_tol``, ``rate`` and
    ``verdict`` by default, ``()`` for the fastest sweep. ``engine`` (``auto``, ``numpy``,
    ``compiled``; see :func:`simulate.solvers.discrete.iterate`): the compiled loop measures the
    tracked metrics itself (:mod:`simulate.analysis.measures`), the same numbers as the numpy loop. ``progress``: a progress bar (default: only on a terminal).
    ``noise``, ``batch_size``: stochastic gradients (as in :func:`simulate.solvers.discrete.iterate`): every cell is one
    noisy path, each optimizer's from its own stream spawned from ``seed``; an axis named ``path``
    (``"path=1:50:50"``) repeats every configuration, one independent path per value.
    Divergence is data (``diverged``, ``diverged_at``); nothing is clipped and nothing raises.
    ``time_limit``: seconds; a sweep whose estimate (:mod:`simulate.solvers.cost`, in
    ``stats["estimated_seconds"]``) exceeds it is refused before any work (0 or None: no limit;
    by default the limit in force, one hour). The progress bar advances by the same estimate.
    ``max_seconds``: each flow's wall-time budget (:class:`~simulate.solvers.continuous.Stepping`;
    None: none); a flow it stops is reported as not integrated, its cell's flow metrics NaN.
    ``scheduler``: None runs the grid here, as one vectorized run per optimizer. A Dask
    ``distributed.Client``, a scheduler's address (``"tcp://host:port"``), or ``workers=N`` (a
    ``LocalCluster`` of N worker processes started and closed for this sweep) cuts the grid into
    chunks of ``chunk_cells`` cells (default: a sizeable vectorized run each), runs each chunk on a
    worker (retried where a worker fails) and gathers them into the same Sweep, bit for bit the
    serial one (:mod:`simulate.analysis.distributed`; the flows stay here). ``store``: with a
    scheduler, a ``.zarr`` path that every chunk's metrics are written into as it arrives (the
    layout of :meth:`Sweep.to_xarray`), for grids larger than memory; the Sweep returned reads
    from it.
    """
    if workers is not None:  # a local cluster of that many processes, for this sweep
        if scheduler is not None:
            raise ValueError("give scheduler= (a cluster running) or workers= (a local one started here): not both")
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
        scheduler = int(workers)
    land = landscape if isinstance(landscape, Landscape) else get_landscape(landscape)
    opts = _optimizers(optimizers)
    if any(v is not None for v in (schedule, clip_norm, clip_value, lr_scale)):
        from .experiment import with_schedule

        opts = with_schedule(opts, schedule, clip_norm=clip_norm, clip_value=clip_value, lr_scale=lr_scale)
    try:
        axes = _axes(axes)
    except NotAnAxis as exc:  # norm=1,2,inf: the optimizer whose setting it is, by name
        for opt, given in zip(opts, _listed(optimizers)):
            if exc.name in _fields(opt) and exc.name not in sweepable(opt):
                raise ValueError(_structural(given, exc.name, exc.values)) from None
        raise ValueError(f"axis {exc.name}: {exc.why}") from None
    check_steps(steps)
    model = stochastic(noise, land, engine, batch_size)
    seed = check_seed(seed)
    tol = _positive("tol", tol)
    track = (track,) if isinstance(track, str) else tuple(track)
    for name in track:
        if name not in TRACKED:
            raise UnknownNameError(suggest("tracked metric", name, TRACKED))
    if isinstance(record_every, bool) or not isinstance(record_every, (int, np.integer)) or record_every < 0:
        raise ValueError(f"record_every must be a whole number >= 0, got {record_every!r}")
    near = default_near(land, model is not None) if near is None else _positive("near", near)
    coords = start_coordinates(land)
    names = [a.name for a in axes]
    if PATH_AXIS in names and model is None:
        raise ValueError(f"the axis {PATH_AXIS} repeats noisy runs (one path per value): give noise or batch_size")
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"axis {name} is given twice")
    land_axes = _landscape_axes(land, opts, axes)  # axis name -> the landscape's parameter it sets
    _one_axis_each(axes, coords, land_axes, opts)
    for a in axes:
        if a.name in land_axes and not _pinned(land, land_axes[a.name], a) and \
                landscape_parameters(land)[land_axes[a.name]] != _default(land, land_axes[a.name]):
            raise ValueError(f"{land.label} sets {land_axes[a.name]} and the axis {a.name} sweeps it: drop one of the two")
    # axes that set the start or the landscape, or repeat the run: not the optimizer
    not_hyper = set(coords) | {PATH_AXIS} | set(land_axes)
    for opt, given in zip(opts, _listed(optimizers)):
        if opt.batch_shape:
            raise ValueError(f"{opt.display_name}: give scalar hyperparameters; the sweep's axes make the grid")
        params = sweepable(opt)
        for name in names:
            if name not in not_hyper and name not in params:
                declared = opt.hyperparameters().get(name)
                # a hyperparameter a sweep does not vary, or a field that picks the kind of step (steepest's norm)
                if (declared is not None and not declared.sweep) or (declared is None and name in _fields(opt)):
                    values = [f"{v:g}" for v in next(a for a in axes if a.name == name).values]
                    raise ValueError(_structural(given, name, values))
                own = landscape_parameters(land)
                if name in own:  # another optimizer has a hyperparameter of that name, which the plain name means
                    others = ", ".join(o.display_name for o in opts if name in sweepable(o))
                    raise ValueError(f"{opt.display_name} has no hyperparameter {name!r} ({others} has: a plain "
                                     f"{name} is an optimizer's); for {land.name}'s parameter {name} write the axis "
                                     f"as {LANDSCAPE_PREFIX}{name}")
                valid = sorted(set(params) | set(coords) | set(own))
                raise UnknownNameError(suggest("axis", name, valid).replace(
                    f"unknown axis {name!r}", f"{opt.display_name} has no hyperparameter {name!r} and "
                    f"{land.name} no coordinate or parameter of that name").replace("Valid:", "Sweepable:"))
    shadowed = [a.name for a in axes if a.name in landscape_parameters(land) and a.name not in land_axes
                and a.name not in start_coordinates(land)]
    if shadowed:  # the plain name is the optimizer's: say so, the landscape has one too
        warn(f"the axis {shadowed[0]} sweeps the optimizer's {shadowed[0]}; {land.name}'s parameter of "
                      f"that name is the axis {LANDSCAPE_PREFIX}{shadowed[0]}", AxisWarning, stacklevel=2)  # at sweep()'s caller
    grid = tuple(len(a) for a in axes)
    cells = int(np.prod(grid))
    if store is not None:
        _check_store(scheduler, flow, land, land_axes, axes)
    elif cells * len(opts) * (2 if flow else 1) > MAX_CELLS:
        per = f"{cells} per member × {len(opts)} optimizer(s)" + (" × 2 (each with its flow)" if flow else "")
        raise ValueError(f"this sweep has {cells * len(opts) * (2 if flow else 1)} cells ({per}); the limit is "
                         f"{MAX_CELLS}: use a coarser grid or fewer optimizers" + (", or no flow" if flow else "")
                         + f", or {_STORED}")
    # the cheapest part first: a run of 10¹⁹ steps is refused before anything is built for it
    cost.check_time(cost.Estimate(tuple((f"{o.display_name}'s {cells} x {steps} steps",
                                         cost.discrete_seconds(cells, steps, compiled=True)) for o in opts)),
                    _FITS, time_limit)

    _, land, base = resolve(opts[0], land, start)
    if base.ndim != 1:
        raise ValueError("start must be one point (d,); sweep start coordinates with axes named x, y, ...")
    starts = tuple((i, coords[a.name], a.values) for i, a in enumerate(axes) if a.name in coords)
    gridded = []
    for opt, name, given in zip(opts, _typed_names(optimizers), _listed(optimizers)):
        check_not_set(given, opt, [a.name for a in axes if a.name not in not_hyper])
        for i, a in enumerate(axes):
            if a.name not in not_hyper:
                opt = _swept(opt, name, a.name, _along(a.values, i, len(grid)))
        if opt.schedule is not None:
            try:
                opt.lrs(steps)  # every cell's schedule is valid for this run (a bad value names itself)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        gridded.append(opt)
    if record_every:
        if record_every > max(steps, 1):
            raise ValueError(f"record_every ({record_every}) must be at most the number of steps ({steps})")
    samples = int(steps) // record_every + 2 if record_every else 2  # (at most) the recorded steps; else start and end
    cells = int(np.prod(grid, dtype=float))
    if store is None:  # a stored sweep holds a chunk at a time (each worker one), written to disk as it arrives
        check_run_memory(runs_memory(_typed_names(optimizers), samples, cells, base.shape[-1],
                                     flow_samples=samples if flow else 0),
                         f"fewer --steps, a larger --record-every or a coarser grid, or {_STORED}")
    cells = int(cells)
    # every cell's start (the grid's, in memory; a stored sweep's chunks make their own)
    x0 = None if store is not None else _Cells.start_points(base, starts, grid, 0, cells).reshape(grid + base.shape)

    radius = default_escape_radius(land) if escape_radius is None else _positive("escape_radius", escape_radius)
    plans = [_flow_plan(opt, land, x0, grid, steps, flow, method, rtol) for opt in gridded] if flow else []
    plan = tracking(land, steps, tol, track, judge=steps >= 4)  # what the compiled loop measures, if it runs
    compiled = [model is None and (plan is not None or not track) and use_compiled(engine, opt, land, cells, steps, plan)
                for opt in gridded]  # decided once for the whole grid: every chunk runs the same loop
    estimate = _estimate(gridded, cells, steps, model is not None, track, compiled, plans)
    cost.check_time(estimate, _FITS, time_limit)
    if any(not _pinned(land, land_axes[a.name], a) for a in axes if a.name in land_axes):
        # One vectorized run per value of the landscape's parameters, each over the rest of the grid.
        def run(cell_land, cell_axes):
            return sweep(cell_land, optimizers, cell_axes, start=start, steps=steps, tol=tol, near=near, flow=flow,
                         record_every=record_every, escape_radius=escape_radius, method=method, rtol=rtol, atol=atol,
                         track=track, engine=engine, progress=progress, noise=noise, batch_size=batch_size, seed=seed,
                         schedule=schedule, clip_norm=clip_norm, clip_value=clip_value, lr_scale=lr_scale,
                         time_limit=0, scheduler=client, chunk_cells=chunk_cells)  # the whole was checked above

        if scheduler is None:
            cluster = contextlib.nullcontext()
        else:  # one client (a local cluster started once) for the runs of every value
            from .distributed import client_for

            cluster = client_for(scheduler)
        with cluster as client, warnings.catch_warnings(record=True) as said:  # each run's lines, said once
            warnings.simplefilter("always")
            whole = _over_landscape(land, axes, land_axes, tuple(gridded) * (2 if flow else 1), run)
        _say_once(said)
        _say_divergence(whole.members, whole.metrics)
        return dataclasses.replace(whole, stats={**whole.stats, "estimated_seconds": estimate.seconds})

    criterion = _criterion(land, tol)[0]
    results, paths = [], []
    swept = {a.name for a in axes} - not_hyper
    members = [member_label(o, swept) for o in opts]
    twice = next((m for m in members if members.count(m) > 1), None)
    if twice is not None:  # two members of one label: the data could not tell them apart
        raise ValueError(f"{twice} is given twice: give each optimizer once (or make them differ, e.g. in lr)")
    kinds = ["iterates"] * len(opts)
    stats = {"escape_radius": radius, "estimated_seconds": estimate.seconds}
    if model is not None:
        stats.update(noise=model.label, seed=seed)
    _hint_faster(plans, estimate)
    tasks = [_Cells(opt, land, grid, base, starts, steps, tol, near, radius, record_every, track,
                    compiled=compiled[i], plan=plan,
                    model=model, seed=spawned_seed(seed, i), judge=model is None and steps >= 4)
             for i, opt in enumerate(gridded)]
    if store is not None:  # straight into the store, chunk by chunk; the Sweep returned reads from it
        from .distributed import local_reads, stored_sweep

        template = Sweep(axes=tuple(axes), landscape=land, optimizers=tuple(gridded), members=tuple(members),
                         kinds=tuple(kinds), start=None, steps=steps, tol=tol, near=near, criterion=criterion,
                         metrics={}, path_steps=recorded_steps(steps, record_every) if record_every else None,
                         stats=stats)
        out = stored_sweep(template, tasks, store, scheduler, chunk_cells=chunk_cells, progress=progress)
        with local_reads():
            _say_divergence(out.members, out.metrics)
        return out
    if scheduler is not None:  # the chunks on a Dask cluster, gathered in cell order
        from .distributed import run_chunks

        results = run_chunks(tasks, scheduler, chunk_cells=chunk_cells, progress=progress)
    with progress_bar(estimate.seconds if scheduler is None else estimate.seconds - sum(estimate.parts[i][1] for i in
                      range(len(tasks))), "sweep", enabled=progress, weighted=True) as bar:
        if scheduler is None:
            # the bar counts estimated seconds: a step of each optimizer and each cell's flow weigh what they cost
            per_step = [seconds / max(steps, 1) for _, seconds in estimate.parts[:len(gridded)]]
            results = [task.run(0, cells, _Scaled(bar, per_step[i])) for i, task in enumerate(tasks)]
        results = [{k: v.reshape((-1,) + grid + v.shape[2:]) if k == "_path" else v.reshape(grid + v.shape[1:])
                    for k, v in res.items()} for res in results]
        paths = [res.pop("_path", None) for res in results]
        if flow:
            for plan, label, res in zip(plans, list(members), list(results)):
                xf, diverged, failures = _flow_ends(plan, land, x0, grid, steps, flow, rtol, atol, radius, bar,
                                                    max_seconds)
                if failures:  # one line per member: how many cells, the first reason, what it means
                    from .experiment import FlowWarning

                    count, reason = failures
                    warn(f"{label} flow: {count} of {int(np.prod(grid))} cells were not integrated to the end "
                         f"(the first: {reason}); their flow metrics are NaN", FlowWarning, stacklevel=3)
                with np.errstate(invalid="ignore"):
                    res["flow_distance"] = np.linalg.norm(res["_last"] - xf, axis=-1)  # NaN where either stopped
                results.append(_endpoint_metrics(land, xf, diverged, near))
                members.append(f"{label} flow")
                kinds.append("flow")
            stats.update(method=method, rtol=rtol, atol=atol,
                         flow_methods={f"{label} flow": plan.method for label, plan in zip(members[:len(plans)], plans)})
    for res in results:
        res.pop("_last", None)
    metrics = {}
    for name in METRICS:
        if any(name in r for r in results):
            dtype = np.int64 if name in INTEGER_METRICS else np.float64
            fill = -1 if name in INTEGER_METRICS else np.nan
            metrics[name] = np.stack([np.asarray(r.get(name, np.full(grid, fill)), dtype=dtype) for r in results])
    _say_divergence(members, metrics)
    recorded = None
    path_steps = None
    if record_every:
        path_steps = recorded_steps(steps, record_every)
        recorded = np.stack(paths)
    return Sweep(axes=tuple(axes), landscape=land, optimizers=tuple(gridded) * (2 if flow else 1),
                 members=tuple(members), kinds=tuple(kinds), start=x0, steps=steps, tol=tol, near=near,
                 criterion=criterion, metrics=metrics, flow=flow or "", paths=recorded, path_steps=path_steps,
                 stats=stats)


def _say_divergence(members, metrics) -> None:
    """One line per member that diverged in some cells: how many (the figure and the data hold which)."""
    from .remarks import Diverged

    for label, gone in zip(members, metrics.get("diverged", ())):
        if np.any(gone):
            warn(f"{label}: diverged in {int(np.count_nonzero(gone))} of {gone.size} cells (diverged = 1 in the data)",
                 Diverged, stacklevel=4)


def _say_once(said) -> None:
    """The warnings of a sweep's runs over a landscape's parameters, each once; their divergence lines
    left out (one per member for the whole grid follows, not one per value of the parameters)."""
    from .remarks import Diverged

    seen = set()
    for w in said:
        if not issubclass(w.category, Diverged) and (w.category, str(w.message)) not in seen:
            seen.add((w.category, str(w.message)))
            warn(str(w.message), w.category, stacklevel=3)


def _one_axis_each(axes, coords: dict, land_axes: dict, opts) -> None:
    """Refuse two axes that set one quantity (x and x1, beta1 and betas[0]): the later would
    silently override the other, leaving a dimension that changes nothing."""
    def what(a, opt):
        if a.name in coords:
            return f"the start's coordinate {coords[a.name] + 1}"
        if a.name in land_axes:
            return f"the landscape's parameter {land_axes[a.name]}"
        if a.name == PATH_AXIS:
            return a.name
        field_, index = sweepable(opt).get(a.name, (a.name, None))
        return f"{opt.display_name}'s {field_}" + ("" if index is None else f"[{index}]")

    for opt in opts:
        seen = {}
        for a in axes:
            target = what(a, opt)
            if target in seen:
                raise ValueError(f"the axes {seen[target]} and {a.name} both set {target}: drop one of the two")
            seen[target] = a.name


def _landscape_axes(land: Landscape, opts, axes) -> dict[str, str]:
    """The axes that set a parameter of the landscape, with the parameter each sets: ``landscape.NAME``,
    or a plain NAME that is no start coordinate and no optimizer's hyperparameter."""
    params = landscape_parameters(land)
    taken = set(start_coordinates(land)) | {PATH_AXIS}
    out = {}
    for a in axes:
        if a.name.startswith(LANDSCAPE_PREFIX):
            name = a.name[len(LANDSCAPE_PREFIX):]
            if name not in params:
                raise UnknownNameError(suggest(f"parameter of {land.name}", name, params)
                                       if params else f"{land.name} has no parameter an axis can vary")
            out[a.name] = name
        elif a.name in params and a.name not in taken and not any(a.name in sweepable(o) for o in opts):
            out[a.name] = a.name
    return out


class AxisWarning(Said):
    """An axis name that could mean two things, and which one the sweep took."""


def _default(land: Landscape, name: str):
    """A landscape parameter's default value (a spec that sets another value fixes it)."""
    return next(f.default for f in dataclasses.fields(land) if f.name == name)


def _pinned(land: Landscape, name: str, axis: Axis) -> bool:
    """Whether a landscape axis holds one value, the landscape's own (a cell of :func:`_over_landscape`)."""
    return len(axis) == 1 and float(axis.values[0]) == landscape_parameters(land)[name]


def _over_landscape(land: Landscape, axes, land_axes: dict, optimizers: tuple, run) -> Sweep:
    """A sweep whose axes vary the landscape: ``run(landscape, axes)`` for every combination of the
    landscape axes' values (the others stay whole: each is one vectorized run), stacked into one grid."""
    grid = tuple(len(a) for a in axes)
    where = [i for i, a in enumerate(axes) if a.name in land_axes]
    first = metrics = start = paths = None
    for combo in itertools.product(*(range(len(axes[i])) for i in where)):
        picked = dict(zip(where, combo))
        cell_land = with_parameters(land, **{land_axes[axes[i].name]: float(axes[i].values[j]) for i, j in picked.items()})
        cell = run(cell_land, [Axis(a.name, a.values[picked[i]:picked[i] + 1]) if i in picked else a
                               for i, a in enumerate(axes)])
        index = tuple(slice(picked[i], picked[i] + 1) if i in picked else slice(None) for i in range(len(grid)))
        if first is None:
            first = cell
            metrics = {k: np.empty(v.shape[:1] + grid, v.dtype) for k, v in cell.metrics.items()}
            start = np.empty(grid + cell.start.shape[-1:])
            paths = None if cell.paths is None else np.empty(cell.paths.shape[:2] + grid + cell.paths.shape[-1:])
        for k, v in cell.metrics.items():
            metrics[k][(slice(None),) + index] = v
        start[index] = cell.start
        if paths is not None:
            paths[(slice(None), slice(None)) + index] = cell.paths
    return dataclasses.replace(first, axes=tuple(axes), landscape=land, optimizers=optimizers, start=start,
                               metrics=metrics, paths=paths, stats={**first.stats, "landscape_axes": tuple(land_axes)})


def default_near(land: Landscape, noisy: bool = False) -> float:
    """How close a last point must be to a listed minimum to have reached it: 1% of the plot box's
    largest side; with noise, whose spread is far wider, the well matters and not the point: half
    the distance between the two closest listed minima (each point then counts for its nearest)."""
    box = NEAR_SHARE * float(np.max(np.diff(land.bounds, axis=1)))
    if not noisy or len(land.minima) < 2:
        return box
    gaps = np.linalg.norm(land.minima[:, None] - land.minima, axis=-1)
    return max(box, 0.5 * float(np.min(gaps[~np.eye(len(gaps), dtype=bool)])))


def check_not_set(given, opt: Optimizer, axes: Sequence[str]) -> None:
    """Refuse a hyperparameter that the optimizer's spec sets and an axis sweeps (the axis would
    silently win). ``given``: the spec as typed, or an Optimizer (whose lr cannot be told apart
    from a default, so only its other hyperparameters count)."""
    fields = set(parse_spec(given)[1]) if isinstance(given, str) else set(given._changed()) - {"lr"}
    for axis in axes:
        field_name = sweepable(opt)[axis][0]
        if field_name == "schedule":  # the axis varies a parameter of the schedule: not set by the spec's schedule
            own = getattr(given, "schedule", None) if not isinstance(given, str) else parse_spec(given)[1].get("schedule")
            if own is not None and axis in parse_spec(getattr(own, "spec", str(own)))[1]:
                raise ValueError(f"{getattr(given, 'display_name', given)}: its schedule sets {axis} and the axis "
                                 f"{axis} sweeps it: drop one of the two")
            continue
        if field_name in fields:
            who = given if isinstance(given, str) else opt.display_name
            raise ValueError(f"{who} sets {field_name} and the axis {axis} sweeps it: drop one of the two")


def _structural(given, name: str, values: list[str]) -> str:
    """``given``'s field ``name`` is no axis: what to give instead (one optimizer per value)."""
    typed = _typed_names([given])[0]
    return _not_an_axis(name, values, f"{typed}'s {name} is not a sweep axis (it sets the structure of each step, "
                                      f"the same in every cell)", given)


def _listed(optimizers) -> list:
    return [optimizers] if isinstance(optimizers, (str, Optimizer)) else list(optimizers)


def _swept(opt: Optimizer, name: str, axis: str, values: np.ndarray) -> Optimizer:
    """``with_axis``, refusing a hyperparameter that the preset fixes (gd's momentum is 0) and
    naming the optimizer as the user did in errors."""
    from ..optimizers import OPTIMIZERS

    field_name = sweepable(opt)[axis][0]
    preset = OPTIMIZERS.get(name)
    if preset is not None and field_name in preset.fixed:
        raise ValueError(f"{name} fixes {field_name}={preset.fixed[field_name]!r}; sweep it with "
                         f"{preset.cls.name} instead")
    try:
        return with_axis(opt, axis, values)
    except ValueError as exc:
        text = str(exc)
        prefix = f"{opt.name}:"
        raise ValueError(f"{name}:{text[len(prefix):]}" if text.startswith(prefix) else text) from None


def member_label(opt: Optimizer, swept: set[str]) -> str:
    """``name(fixed hyperparameters)``: the label without the values the grid supplies."""
    fields = {sweepable(opt)[n][0] for n in swept} - {"schedule"}  # a swept schedule parameter: the label says which
    kept = {k: v for k, v in opt._changed().items() if k not in fields}
    return f"{opt.display_name}({', '.join(f'{k}={_fmt(v)}' for k, v in kept.items())})" if kept else opt.display_name


#: What makes a sweep shorter, for the refusal of one that would take too long.
_FITS = "fewer --steps, a coarser grid (fewer values per --vary) or fewer optimizers"
#: A sweep whose flows are estimated to take this long (seconds) on LSODA says what would be faster.
SLOW_FLOWS = 30.0


class _Scaled:
    """A progress bar seen through a weight: ``advance(n)`` moves it by ``n·weight``."""

    def __init__(self, bar, weight: float):
        self.bar, self.weight = bar, weight

    def advance(self, n=1) -> None:
        if self.bar is not None:  # None: nothing shown (a chunk on a worker)
            self.bar.advance(n * self.weight)


@dataclass(frozen=True)
class _FlowPlan:
    """One optimizer's flows over the grid: the flattened optimizer, its model, each cell's end
    time, the method that will run (``auto`` resolved) and each cell's estimated seconds."""

    flat: Optimizer
    model: object
    end_time: np.ndarray
    method: str
    seconds: np.ndarray
    applies: bool  # whether the compiled solver covers this flow (at these tolerances)


def _flow_plan(opt, land, x0, grid, steps, flow, method, rtol) -> _FlowPlan:
    """What integrating ``opt``'s flow from every cell will take, before it is done."""
    from ..solvers.continuous import MAX_EVALUATIONS, METHODS, Stepping
    from ..solvers.fastflow import AUTO, FALLBACK, METHOD, auto_method

    if method not in METHODS:
        Stepping(method=method)  # its error names the valid methods
    cells = int(np.prod(grid))
    flat = opt.replace(**{
        f: (tuple(np.broadcast_to(a, grid).reshape(-1) for a in getattr(opt, f)) if h.pair
            else np.broadcast_to(getattr(opt, f), grid).reshape(-1))
        for f, h in opt.hyperparameters().items() if h.sweep})  # the others are one number (Muon's eps), as given
    if hasattr(flat.schedule, "flattened"):
        flat = flat.replace(schedule=flat.schedule.flattened(grid))
    starts = x0.reshape(cells, -1)
    model = make_flow(flat, flow)
    if flat.schedule is not None:  # each cell ends at its own t_N = h(lr_1) + … + h(lr_N)
        end_time = np.broadcast_to(flat.clock(steps).times[-1], (cells,))
        model = model.for_steps(steps)
    else:
        end_time = steps * np.broadcast_to(model.time_per_step, (cells,))
    applies = auto_method(model, land, rtol) == METHOD
    ran, seconds = cost.flow_part(model, land, starts, end_time, method, rtol, MAX_EVALUATIONS, steps)
    if ran == METHOD and method == AUTO:  # a few quick solves are faster without loading the compiled solver
        fallback = cost.flow_part(model, land, starts, end_time, FALLBACK, rtol, MAX_EVALUATIONS, steps)
        if fallback[1].sum() < seconds.sum():
            ran, seconds = fallback
    return _FlowPlan(flat, model, np.asarray(end_time, dtype=np.float64), ran, seconds, applies)


def _estimate(gridded, cells, steps, noisy, track, compiled, plans) -> cost.Estimate:
    """The sweep's work: each optimizer's steps (``compiled``: where the engine runs them), then its flows."""
    parts = []
    for opt, fast in zip(gridded, compiled):
        parts.append((f"{opt.display_name}'s {cells} x {steps} steps",
                      cost.discrete_seconds(cells, steps, compiled=fast, noisy=noisy, overhead=bool(track))))
    for opt, plan in zip(gridded, plans):
        parts.append((f"{opt.display_name}'s {cells} flows ({plan.method})", float(plan.seconds.sum())))
    return cost.Estimate(tuple(parts))


def _hint_faster(plans, estimate: cost.Estimate) -> None:
    """One line where the flows are slow on a solve_ivp method: what would be faster."""
    from ..solvers.fastflow import METHOD

    slow = [p for p in plans if p.method != METHOD]
    seconds = sum(float(p.seconds.sum()) for p in slow)
    if not slow or seconds < SLOW_FLOWS:
        return
    ran = ", ".join(sorted({p.method for p in slow}))
    if any(p.applies for p in slow):  # the user chose a solve_ivp method where the compiled one applies
        hint = f"--method auto (or {METHOD}) integrates these gradient flows compiled, far faster"
    else:
        hint = (f"the compiled solver {METHOD} does not apply (it integrates plain gradient flows: gd, heun, rk4, "
                f"exact or limit, on 2-D landscapes with a pointwise gradient); a looser --rtol, fewer cells or no "
                f"--flow is faster")
    warn(f"the flows of this sweep take {cost.duration(seconds)} of its {cost.duration(estimate.seconds)} "
          f"with {ran}: {hint}", SlowFlowWarning, stacklevel=3)


class SlowFlowWarning(Said):
    """A sweep whose flows dominate its time on a solve_ivp method, and what would be faster."""


def _flow_ends(plan: _FlowPlan, land, x0, grid, steps, flow, rtol, atol, radius, bar, max_seconds):
    """Every cell's flow integrated to the cell's final time, in slices of the grid so that the
    progress bar moves (each cell is its own solve, weighing its estimated seconds): the endpoints
    and whether each diverged, and ``(count, first message)`` of the flows a solver or a budget
    stopped (None if none)."""
    cells = int(np.prod(grid))
    from ..solvers.fastflow import METHOD

    flat, end_time, method = plan.flat, plan.end_time, plan.method
    starts = x0.reshape(cells, -1)
    ends = np.full_like(starts, np.nan)
    diverged = np.zeros(cells, bool)
    failed, first = 0, ""
    # solve_ivp solves one cell at a time anyway; the compiled solver runs a slice over both cores per call
    chunk = max(1, cells // (10 if method == METHOD else 100))
    for lo in range(0, cells, chunk):
        part = slice(lo, min(cells, lo + chunk))
        n = part.stop - lo
        member = flat.member((part,), (cells,))
        end = integrate(land, member, starts[part], t=np.stack([np.zeros(n), end_time[part]]), steps=steps,
                        flow=flow, method=method, rtol=rtol, atol=atol, escape_radius=radius, max_seconds=max_seconds)
        ends[part], diverged[part] = end.x[-1], end.diverged_at >= 0
        stopped = np.flatnonzero(np.ravel(end.status) == FAILED)
        failed, first = failed + stopped.size, first or (str(np.ravel(end.message)[stopped[0]]) if stopped.size else "")
        bar.advance(float(plan.seconds[part].sum()))
    return ends.reshape(x0.shape), diverged.reshape(grid), ((failed, first) if failed else None)


def _typed_names(optimizers) -> list[str]:
    """The names the optimizers were given by (a preset such as gd fixes some hyperparameters);
    an Optimizer object goes by its class's name."""
    return [o.name if isinstance(o, Optimizer) else str(o).split("(")[0].split(":")[0].strip().lower().replace("_", "-")
            for o in _listed(optimizers)]


def _optimizers(optimizers) -> list[Optimizer]:
    opts = [o if isinstance(o, Optimizer) else get_optimizer(o) for o in _listed(optimizers)]
    if not opts:
        raise ValueError("give at least one optimizer")
    return opts


def _axes(axes) -> list[Axis]:
    if isinstance(axes, (str, Axis)):
        axes = [axes]
    if isinstance(axes, Mapping):
        axes = [a if isinstance(a, Axis) else Axis(name, a) for name, a in axes.items()]
    axes = [parse_axis(a) if isinstance(a, str) else a for a in axes]
    if not axes:
        raise ValueError("give at least one axis to sweep, e.g. lr=1e-4:1e-1:50:log")
    if not all(isinstance(a, Axis) for a in axes):
        raise ValueError("axes must be Axis objects, NAME=... strings or a mapping of names to values")
    return axes


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


#: What makes a sweep larger than memory fit (MAX_CELLS and the memory check say it).
_STORED = "store= (--store out.zarr) with a scheduler (--scheduler or --workers), which writes the grid to disk as its chunks run"


def _check_store(scheduler, flow, land, land_axes: dict, axes) -> None:
    """A stored sweep runs on a scheduler, without flows or landscape axes (they need the whole grid here)."""
    if scheduler is None:
        raise ValueError("store= writes a distributed sweep's chunks as they arrive: give scheduler= too "
                         "(on the command line --scheduler ADDRESS or --workers N)")
    if flow:
        raise ValueError("store= does not take flow= (the flows run here, over the whole grid): sweep the flows "
                         "without a store, or the iterates alone into one")
    if any(not _pinned(land, land_axes[a.name], a) for a in axes if a.name in land_axes):
        raise ValueError("store= does not take an axis of the landscape's parameters (each value is its own "
                         "sweep): store one sweep per value")


@dataclass(frozen=True, eq=False)
class _Cells:
    """One optimizer's run over a sweep's grid, in any contiguous range of its cells (C order).

    ``run(lo, hi)`` runs the cells ``[lo, hi)`` as one vectorized batch: the optimizer of those
    cells (each hyperparameter broadcast to the grid and picked there), their starts, and, with
    noise, draws that depend on each cell's index in the whole grid (not on the batch). Every
    member's arithmetic is elementwise, so any cut of the grid gives the serial sweep's bits: the
    serial sweep is one range of all cells, a distributed one many (:mod:`.distributed`).
    """

    optimizer: Optimizer  # hyperparameter arrays broadcastable to the grid
    landscape: Landscape
    grid: tuple[int, ...]
    base: np.ndarray  # (d,): the start where no axis sets a coordinate
    starts: tuple  # ((grid dimension, coordinate, values), ...) of the axes that set the start
    steps: int
    tol: float
    near: float
    radius: float
    record_every: int
    track: tuple[str, ...]
    compiled: bool  # decided once for the whole grid: every chunk runs the same loop, hence the same bits
    model: object = None  # the noise model, or None
    seed: int = 0
    judge: bool = True
    plan: Tracking | None = None  # what the compiled loop measures at every step (None: only the end)

    @property
    def cells(self) -> int:
        return int(np.prod(self.grid))

    def index(self, lo: int, hi: int) -> tuple[np.ndarray, ...]:
        """The grid positions of the cells ``[lo, hi)``, one index array per dimension."""
        return np.unravel_index(np.arange(lo, hi), self.grid)

    @staticmethod
    def start_points(base, starts, grid, lo: int, hi: int) -> np.ndarray:
        """The starts ``(hi − lo, d)`` of the cells ``[lo, hi)``."""
        x = np.array(np.broadcast_to(base, (hi - lo,) + base.shape))
        if starts:
            index = np.unravel_index(np.arange(lo, hi), grid)
            for dim, coordinate, values in starts:
                x[:, coordinate] = values[index[dim]]
        return x

    def run(self, lo: int, hi: int, bar=None) -> dict:
        """Metrics of the cells ``[lo, hi)``, each ``(hi − lo,)``; ``_last`` ``(n, d)`` the last
        points and, with ``record_every``, ``_path`` ``(T, n, d)``. ``bar`` advances by steps."""
        bar = _Scaled(None, 0) if bar is None else bar
        land, steps, n = self.landscape, self.steps, hi - lo
        opt = self.optimizer.member(self.index(lo, hi), self.grid)
        x0 = self.start_points(self.base, self.starts, self.grid, lo, hi)
        if self.compiled:  # the loop measures the tracked metrics itself
            path, _, last, diverged_at, *measured = compiled_run(opt, land, x0, steps, self.radius, self.record_every,
                                                                 losses=False, track=self.plan)
            out = tracked_metrics(land, self.plan, measured[0] if measured else None, last, diverged_at, self.near,
                                  self.track)
            bar.advance(steps)
        else:
            stepped = land if self.model is None else NoisyGradients(land, self.model, self.seed,
                                                                     cells=np.arange(lo, hi))
            # a verdict compares envelopes: noise at its floor moves them either way, and under 4 steps
            # the windows are empty (then −1: not measured)
            acc = _Accumulator(land, steps, self.tol, _criterion(land, self.tol)[1], self.record_every, (n,), bar,
                               self.track, judge=self.judge)
            diverged_at = advance(opt, stepped, x0, steps, self.radius, acc.visit)
            out = acc.metrics(diverged_at, self.near)
            path = acc.path
            bar.advance(steps - acc.last_step)  # a run that stopped early
        if self.record_every:
            out["_path"] = path
        return out

    def metric_types(self) -> dict[str, type]:
        """The metrics :meth:`run` returns and their types, in the order of :data:`METRICS`."""
        ends = ("final_loss", "distance", "diverged", "diverged_at", "minimum")
        return {m: np.int64 if m in INTEGER_METRICS else np.float64 for m in METRICS if m in ends or m in self.track}
