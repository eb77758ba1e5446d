"""Tuning: every optimizer at its best hyperparameters, under one budget of gradient evaluations.

A fair comparison gives every optimizer the same work and its own best settings. For each
optimizer ``tune`` searches a grid of its declared hyperparameters in ONE vectorized run (the
hyperparameters are arrays of the grid's shape, the starts one more dimension, as in
:mod:`simulate.analysis.sweep`), scores every cell by an objective averaged over the starts, and
keeps the best. The grid of each optimizer comes from its declarations
(:mod:`simulate.optimizers.hyper`), never from its name:

* ``lr``: always, log-spaced over its slider (:data:`LR_POINTS` values);
* every other hyperparameter that declares a ``slider`` and may be swept (β's, momentum, ε, …):
  :data:`OTHER_POINTS` values over the slider (log-spaced where the slider is). Not searched:
  ``weight_decay`` (it changes the function minimised, not the way to its minimum), a value the
  name fixes (gd's momentum) or the spec sets (``adam(eps=1e-8)``), one whose gate the name
  fixes at 0 (gd's dampening), one without a slider (then give its grid);
* ``grid`` gives any axis's values instead (``{"lr": "1e-3:1:31:log", "momentum": [0, 0.9]}``),
  for every optimizer that has that hyperparameter; one value holds it fixed.

The budget is in gradient evaluations: an optimizer taking ``e = evaluations_per_step`` per step
runs ``steps = budget // e`` steps (Heun half as many as GD, RK4 a quarter).

Objectives (lower is better; averaged over the starts; a run that diverged, or a NaN, scores
``inf``, the worst, so one diverging start makes the cell worst):

* ``final_loss``: f − f* at the last step (f* the lowest listed minimum; f where none is listed);
* ``distance``: distance from the last point to the nearest listed minimum;
* ``evaluations_to_tol``: gradient evaluations (steps × e) until f − f* <= tol (|∇f| <= tol
  where no minimum is listed); a start that never gets there scores ``inf``;
* ``rate``: the contraction of the distance to the minimum per gradient evaluation,
  ρ_step^(1/e) (ρ_step measured as the sweep's ``rate``).

Ties and flat optima are reported, not hidden: for each optimizer, the cells whose objective is
within ``within`` (10%) of the best, ``|J − J*| <= within·|J*|``, their number, and per axis the
range of values among them; how many cells tie the best exactly; and the axes on which the best
sits at the edge of the grid (the optimum may lie beyond it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import checked
from .._signature import public
from .._names import UnknownNameError, suggest
from ..landscapes import Landscape, landscape as get_landscape
from ..optimizers import OPTIMIZERS, Optimizer
from ..optimizers.hyper import declarations
from ..solvers import cost
from ..solvers.continuous import MAX_SECONDS
from ..solvers.discrete import advance
from ..solvers.choice import use_compiled
from ..solvers.engine import compiled_run
from ..solvers.inputs import is_optimizer, resolve
from ..solvers.trajectory import check_run_memory, default_escape_radius, runs_memory
from ..spec import parse_spec
from .measures import Accumulator, criterion, tracked_metrics, tracking
from .sweep import (Axis, NotAnAxis, _csv_cell, _fields, _listed, _optimizers,
                    _structural, _typed_names, default_near, parse_axis, sweepable, with_axis)

__all__ = ["OBJECTIVES", "LR_POINTS", "OTHER_POINTS", "WITHIN", "Tuned", "Tuning", "tune", "search_axes"]

#: What a cell is scored by (lower is better), and what is measured for it during the run.
OBJECTIVES = {
    "final_loss": "f − f* at the last step (f where no minimum is listed)",
    "distance": "distance from the last point to the nearest listed minimum",
    "evaluations_to_tol": "gradient evaluations until f − f* <= tol (|∇f| <= tol where no minimum is listed)",
    "rate": "contraction of the distance to the nearest minimum per gradient evaluation",
}
_TRACK = {"final_loss": (), "distance": (), "evaluations_to_tol": ("steps_to_tol",), "rate": ("rate",)}
#: Values of lr searched by default (log-spaced over its slider) and of every other searched hyperparameter.
LR_POINTS = 25
OTHER_POINTS = 5
#: Settings within this share of the best objective are reported as near the best.
WITHIN = 0.1
#: Starts drawn in the comparison figure (each optimizer's iterates and flow from each).
DRAWN_STARTS = 4
#: Hyperparameters never searched by default: they change the function minimised.
NOT_SEARCHED = ("weight_decay",)
#: A best cell whose every grid neighbour scores this many times worse is said to be isolated.
ISOLATED = 10.0
_FITS = "a smaller --budget, fewer values per --vary, fewer starts or fewer optimizers"


@dataclass(frozen=True, eq=False)
class Tuned:
    """One optimizer's search: its grid, the objective over it, and the best setting.

    ``values`` is the objective over the grid (``tuple(len(a) for a in axes)``), averaged over the
    starts; ``optimizer`` the optimizer at the best cell (None when every cell scored ``inf``);
    ``near`` the cells within :data:`WITHIN` of the best, ``ranges`` per axis the lowest and
    highest value among them."""

    name: str
    axes: tuple[Axis, ...]
    values: np.ndarray
    steps: int
    evaluations_per_step: int
    optimizer: Optimizer | None
    best: float
    cell: tuple[int, ...] | None
    near: np.ndarray
    ranges: dict
    ties: int
    at_edge: tuple[str, ...]
    diverged: float  # share of (cell, start) runs that diverged

    @property
    def evaluations(self) -> int:
        """The gradient evaluations each run spent: steps × evaluations per step."""
        return self.steps * self.evaluations_per_step

    @property
    def setting(self) -> dict[str, float]:
        """The best value of every searched axis ({} when no cell scored finite)."""
        if self.cell is None:
            return {}
        return {a.name: float(a.values[i]) for a, i in zip(self.axes, self.cell)}

    @property
    def isolated(self) -> bool:
        """Whether every grid neighbour of the best cell scores at least :data:`ISOLATED` times worse:
        a best that stands alone may be a lucky run (a chaotic one that happened to end low), not a
        setting to trust. False for a best of 0 (at the minimum to rounding) or a grid of one cell."""
        if self.cell is None or not self.best > 0:
            return False
        neighbours = []
        for axis, i in enumerate(self.cell):
            for j in (i - 1, i + 1):
                if 0 <= j < self.values.shape[axis]:
                    neighbours.append(self.values[self.cell[:axis] + (j,) + self.cell[axis + 1:]])
        return bool(neighbours) and all(not v < ISOLATED * self.best for v in neighbours)  # inf and NaN count as worse

    def profile(self, axis: str = "lr") -> np.ndarray:
        """The best objective at each value of ``axis`` over the other axes (the objective against lr)."""
        i = [a.name for a in self.axes].index(axis)
        rest = tuple(j for j in range(len(self.axes)) if j != i)
        return np.min(self.values, axis=rest) if rest else self.values.copy()

    def summary(self, within: float = WITHIN) -> str:
        head = f"{self.name}: {self.steps} steps x {self.evaluations_per_step} = {self.evaluations} evaluations, " \
               f"{self.values.size} settings"
        if self.optimizer is None:
            return head + "; every setting scored inf (diverged or never met the objective)"
        ranges = ", ".join(f"{k} {_g(lo)}…{_g(hi)}" for k, (lo, hi) in self.ranges.items())
        out = f"{head}; best {_g(self.best)} at {self.optimizer.spec}; {int(self.near.sum())} settings within " \
              f"{within:.0%}: {ranges}"
        if self.ties > 1:
            out += f"; {self.ties} settings tie the best"
        if self.at_edge:
            out += f"; best at the edge of the grid in {', '.join(self.at_edge)}"
        return out


def _g(v: float) -> str:
    return f"{v:.4g}"


@dataclass(frozen=True, eq=False)
class Tuning:
    """What :func:`tune` returns: each optimizer's search, and its runs at the tuned settings."""

    landscape: Landscape
    objective: str
    budget: int
    starts: np.ndarray  # (n, d)
    tol: float
    within: float
    results: tuple[Tuned, ...]
    runs: tuple = ()  # per tuned optimizer: an Experiment of its iterates and flow (None: not run)

    def __repr__(self) -> str:
        return (f"Tuning({', '.join(r.name for r in self.results)} on {self.landscape.label} by {self.objective}, "
                f"budget {self.budget} gradient evaluations, {len(self.starts)} start(s))")

    def summary(self) -> str:
        lines = [f"tuned by {self.objective} (mean over {len(self.starts)} start(s)) on {self.landscape.label}, "
                 f"{self.budget} gradient evaluations each"]
        return "\n".join(lines + [f"  {r.summary(self.within)}" for r in self.results])

    def table(self) -> str:
        """The tuned table as aligned text, one line per optimizer (what ``simulate tune`` prints):
        the objective at the best setting, the setting (searched axes only), and how many settings
        lie within :attr:`within` of the best with each axis's range among them."""
        head = (f"tuned by {self.objective} (mean over {len(self.starts)} start{'s' * (len(self.starts) != 1)}) on "
                f"{self.landscape.label}, {self.budget} gradient evaluations each; lower is better")
        sizes = [r.values.size for r in self.results]
        if max(sizes) > 10 * min(sizes):  # more settings, more chances at a lucky run: say it, not hide it
            head += (f"\nthe searches differ in size ({min(sizes)} to {max(sizes)} settings: more knobs, more chances "
                     f"at a lucky run); --vary gives every optimizer the same axes")
        near = f"within {self.within:.0%} of the best"
        lines = [("optimizer", self.objective, "tuned setting", near)]
        for r in self.results:
            if r.optimizer is None:
                lines.append((r.name, "inf", "-", f"0 of {r.values.size} settings (every one diverged or never met "
                                                   f"the objective)"))
                continue
            ranges = ", ".join(f"{k} {_g(lo)}" if lo == hi else f"{k} {_g(lo)}…{_g(hi)}"
                               for k, (lo, hi) in r.ranges.items())
            notes = ([f"{r.ties} tie the best"] if r.ties > 1 else []) + (
                [f"best at the grid's edge in {', '.join(r.at_edge)}"] if r.at_edge else []) + (
                [f"isolated: every neighbouring setting scores ≥ {ISOLATED:g}× worse (a lucky run? try more starts)"]
                if r.isolated else [])
            lines.append((r.name, _g(r.best), " ".join(f"{k}={_g(v)}" for k, v in r.setting.items()),
                          f"{int(r.near.sum())} of {r.values.size}: {ranges}" + "".join(f"; {n}" for n in notes)))
        widths = [max(len(line[i]) for line in lines) for i in range(3)]
        return "\n".join([head, *("  ".join([*(c.ljust(w) for c, w in zip(line, widths)), line[3]]).rstrip()
                                   for line in lines)])

    # -- the table ---------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """One row per optimizer: the tuned spec, the objective, the budget spent, and per searched
        axis its best value and the range within :attr:`within` of the best."""
        names = list(dict.fromkeys(a.name for r in self.results for a in r.axes))
        rows = []
        for r in self.results:
            row = {"optimizer": r.name, "tuned": r.optimizer.spec if r.optimizer is not None else "",
                   "objective": self.objective, "value": r.best, "evaluations_per_step": r.evaluations_per_step,
                   "steps": r.steps, "evaluations": r.evaluations, "settings": int(r.values.size),
                   "near_best": int(r.near.sum()), "ties": r.ties, "at_edge": " ".join(r.at_edge),
                   "diverged": r.diverged}
            setting = r.setting
            for name in names:
                lo, hi = r.ranges.get(name, (np.nan, np.nan))
                row[name] = setting.get(name, np.nan)
                row[f"{name}_low"], row[f"{name}_high"] = lo, hi
            rows.append(row)
        return rows

    def csv(self) -> str:
        """The table as CSV (full float precision; ``nan`` where an optimizer lacks an axis, ``inf``
        for a worst objective)."""
        rows = self.rows()  # every row has the same columns
        return "\n".join([",".join(rows[0]), *(",".join(map(_csv_cell, row.values())) for row in rows)]) + "\n"

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as named arrays: per optimizer the objective over its grid
        (``NAME/objective``) and each axis's values (``NAME/axis/AXIS``); the starts and the setting."""
        out = {"starts": self.starts, "budget": np.array(self.budget), "objective": np.array(self.objective),
               "tol": np.array(self.tol), "within": np.array(self.within), "landscape": np.array(self.landscape.label)}
        for r in self.results:
            out[f"{r.name}/objective"] = r.values
            out[f"{r.name}/steps"] = np.array(r.steps)
            out.update({f"{r.name}/axis/{a.name}": a.values for a in r.axes})
        return out

    def report(self) -> dict:
        """What ``simulate tune --data`` writes as JSON: the setting, and per optimizer its row, its
        grid and the objective against lr (NaN and inf as strings)."""
        out = {"summary": self.summary(), "landscape": self.landscape.label, "objective": self.objective,
               "budget": self.budget, "starts": self.starts.tolist(), "tol": self.tol, "within": self.within,
               "optimizers": {}}
        for r, row in zip(self.results, self.rows()):
            out["optimizers"][r.name] = {**{k: _json(v) for k, v in row.items()},
                                         "grid": {a.name: a.spec for a in r.axes},
                                         "lr": r.axes[0].values.tolist(),
                                         "objective_against_lr": [_json(v) for v in r.profile("lr")]}
        return out


def _json(v):
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else str(float(v))
    return v


# -- the grid -------------------------------------------------------------------------------------
def _spec_sets(given, opt: Optimizer) -> set[str]:
    """The fields a spec (or an optimizer object) sets, which are therefore not searched."""
    named = (set(parse_spec(given)[1]) if ("(" in given or ":" in given) else set()) if isinstance(given, str) \
        else set(given._changed()) - {"lr"}
    expand = opt.setting_fields()
    return {field for name in named for field in expand.get(name, (name,))}


def _default_axis(name: str, slider: tuple, points: int) -> Axis:
    lo, hi, log = slider
    return Axis.log(name, lo, hi, points) if log else Axis.linear(name, lo, hi, points)


def _user_axis(name: str, value) -> Axis:
    if isinstance(value, Axis):
        return dataclasses.replace(value, name=name)
    if isinstance(value, str):
        return parse_axis(value if "=" in value else f"{name}={value}")
    return Axis(name, np.atleast_1d(np.asarray(value, dtype=np.float64)))


def _grid_of(grid) -> dict[str, Axis]:
    """``grid`` as axes by name: a mapping name -> values / ``"START:STOP:NUM[:log]"`` / Axis, or a
    list of ``"NAME=..."`` strings and Axis objects."""
    if grid is None:
        return {}
    if isinstance(grid, (str, Axis)):
        grid = [grid]
    if isinstance(grid, Mapping):
        axes = [_user_axis(str(k), v) for k, v in grid.items()]
    else:
        axes = [parse_axis(a) if isinstance(a, str) else a for a in grid]
        if not all(isinstance(a, Axis) for a in axes):
            raise ValueError("grid: give a mapping of hyperparameters to values, or NAME=START:STOP:NUM[:log] strings")
    out = {}
    for a in axes:
        if a.name in out:
            raise ValueError(f"grid: {a.name} is given twice")
        out[a.name] = a
    return out


def search_axes(opt: Optimizer, name: str, given=None, grid=None) -> tuple[Axis, ...]:
    """The axes :func:`tune` searches for ``opt`` (registered as ``name``; ``given``: the spec or
    object the user passed), lr first; ``grid`` (``{name: values}``) replaces the default axes it names.

    Default: lr log-spaced over its slider; every other sweepable hyperparameter (a pair's
    elements one by one, under their names: beta1, beta2) that declares a slider, that the name
    does not fix, the spec does not set, whose gate the name does not fix at 0, and that is not in
    :data:`NOT_SEARCHED`, over its slider. A grid axis for a hyperparameter the name fixes is
    left out for that optimizer (gd's momentum); for one the spec sets, it is refused."""
    user = _grid_of(grid)
    preset = OPTIMIZERS.get(name)
    fixed = dict(preset.fixed) if preset is not None else {}
    set_by_spec = _spec_sets(given if given is not None else name, opt)
    axes = []
    for field, h in declarations(opt).items():
        if not h.sweep or field in fixed:
            continue
        if h.gate is not None and h.gate in fixed and not np.any(fixed[h.gate]):
            continue  # it acts only where its gate is non-zero, and the name fixes the gate at 0
        elements = [(f"{field}[{i}]", h.names[i] if h.names else f"{field}[{i}]", h.slider[i] if h.slider else None)
                    for i in range(2)] if h.pair else [(field, field, h.slider)]
        for alias, axis, slider in elements:
            chosen = user.get(axis) or user.get(alias)
            if chosen is not None:
                if field in set_by_spec:
                    raise ValueError(f"{given} sets {field} and the grid searches {axis}: drop one of the two")
                axes.append(dataclasses.replace(chosen, name=axis))
            elif field == "lr":  # lr is always an axis: the spec's one value where the spec sets it
                axes.append(Axis("lr", np.ravel(opt.lr)) if field in set_by_spec else
                            _default_axis("lr", slider, LR_POINTS))
            elif slider is not None and field not in NOT_SEARCHED and field not in set_by_spec:
                axes.append(_accepted(opt, _default_axis(axis, slider, OTHER_POINTS), whole=h.whole))
    return tuple(sorted(axes, key=lambda a: a.name != "lr"))


def _accepted(opt: Optimizer, axis: Axis, whole: bool = False) -> Axis:
    """A default axis without the values ``opt`` refuses (Nesterov's momentum 0): the slider is the
    family's, and a name may narrow what its family allows. The optimizer's own check decides. A
    count (``whole``: Lookahead's k) takes the whole numbers over its slider."""
    if whole:
        axis = dataclasses.replace(axis, values=np.unique(np.round(axis.values)))
    def accepts(value) -> bool:
        try:
            with_axis(opt, axis.name, np.asarray(value))
        except ValueError:
            return False
        return True

    return dataclasses.replace(axis, values=np.array([v for v in axis.values if accepts(v)]))


def _check_grid_names(grid, opts, names, specs) -> None:
    """Every axis the user's grid names is a hyperparameter of at least one optimizer; a setting that
    picks the kind of step (steepest's norm) is refused with the optimizers that compare its values."""
    have = set().union(*(sweepable(opt) for opt in opts))
    try:
        axes = _grid_of(grid)
    except NotAnAxis as exc:  # norm=1,2,inf: whose setting it is, by name
        axes = {exc.name: exc}
    for axis, given in axes.items():
        structural = [spec for opt, spec in zip(opts, specs) if axis in _fields(opt) and axis not in sweepable(opt)]
        if structural and axis not in have:
            values = given.values if isinstance(given, NotAnAxis) else [f"{v:g}" for v in given.values]
            raise ValueError(_structural(structural[0], axis, values).replace(
                "not a sweep axis", "not searched").replace("swept over the other axes", "tuned"))
        if isinstance(given, NotAnAxis):
            raise ValueError(f"axis {given.name}: {given.why}")
        if axis not in have:
            raise UnknownNameError(suggest("hyperparameter", axis, sorted(have)).replace(
                f"unknown hyperparameter {axis!r}", f"none of {', '.join(names)} has a hyperparameter {axis!r}"))


# -- the run --------------------------------------------------------------------------------------
def _starts(land: Landscape, opt: Optimizer, start, random_starts: int, seed: int) -> np.ndarray:
    if random_starts:
        if start is not None:
            raise ValueError("give either start points or random_starts, not both")
        return land.sample(int(random_starts), seed=seed).reshape(-1, land.dim)
    _, _, x0 = resolve(opt, land, start)
    if x0.ndim > 2:
        raise ValueError(f"start: give one point (d,) or a list of points (n, d), got shape {x0.shape}")
    return x0.reshape(-1, land.dim)


def _gridded(opt: Optimizer, axes: tuple[Axis, ...]) -> Optimizer:
    """``opt`` with each axis's values along its own dimension, and one more (size 1) for the starts."""
    n = len(axes) + 1
    for i, a in enumerate(axes):
        opt = with_axis(opt, a.name, a.values.reshape([-1 if j == i else 1 for j in range(n)]))
    return opt


def _per_start(objective: str, land, metrics: dict, evaluations_per_step: int) -> np.ndarray:
    """Each run's objective (``inf`` where it diverged, never met the tolerance, or is NaN)."""
    diverged = metrics["diverged"].astype(bool)
    if objective == "final_loss":
        fstar = land.lowest_minimum_value() or 0.0
        value = metrics["final_loss"] - fstar
    elif objective == "distance":
        value = metrics["distance"]
    elif objective == "evaluations_to_tol":
        reached = metrics["steps_to_tol"]
        value = np.where(reached >= 0, reached * float(evaluations_per_step), np.inf)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            value = metrics["rate"] ** (1.0 / evaluations_per_step)
    value = np.asarray(value, dtype=np.float64)
    return np.where(diverged | np.isnan(value), np.inf, value)


def _judge(name, axes, values, steps, e, gridded, diverged, within) -> Tuned:
    """Best cell, the cells within ``within`` of it, ties and edges."""
    finite = np.isfinite(values)
    if not finite.any():
        return Tuned(name, axes, values, steps, e, None, float("inf"), None, np.zeros(values.shape, bool), {}, 0, (),
                     diverged)
    flat = np.where(finite, values, np.inf)
    cell = tuple(int(i) for i in np.unravel_index(np.argmin(flat), values.shape))
    best = float(values[cell])
    near = finite & (np.abs(values - best) <= within * abs(best))
    ties = int(np.sum(values == best))
    ranges = {}
    for i, a in enumerate(axes):
        hit = np.any(near, axis=tuple(j for j in range(len(axes)) if j != i))
        ranges[a.name] = (float(a.values[hit].min()), float(a.values[hit].max()))
    at_edge = tuple(a.name for a, i in zip(axes, cell) if len(a) >= 3 and i in (0, len(a) - 1))
    tuned = gridded.member(cell + (0,))
    return Tuned(name, axes, values, steps, e, tuned, best, cell, near, ranges, ties, at_edge, diverged)


@public(before=("optimizers", "landscape"), recognise=is_optimizer)
@checked
def tune(landscape, optimizers, start=None, *, budget: int = 200, objective: str = "final_loss", grid=None,
         tol: float = 1e-6, within: float = WITHIN, random_starts: int = 0, seed: int = 0, runs: bool = True,
         escape_radius: float | None = None, engine: str = "auto", method: str = "LSODA", rtol: float = 1e-8,
         atol: float = 1e-10, time_limit=cost.IN_FORCE, max_seconds: float | None = MAX_SECONDS) -> Tuning:
    """Tune every optimizer's hyperparameters on ``landscape`` from ``start`` under one budget of
    gradient evaluations, by ``objective`` (:data:`OBJECTIVES`), one vectorized run per optimizer.

    ``optimizers``: names, specs or optimizer objects (a hyperparameter the spec sets is held, not
    searched). ``start``: one point ``(d,)`` or several ``(n, d)`` (default the landscape's), or
    ``random_starts`` points drawn in the plot box with ``seed``; the objective is the mean over
    them, ``inf`` where any run diverged. ``budget``: gradient evaluations per run; an optimizer
    with e evaluations per step takes ``budget // e`` steps. ``grid``: the values of any axis
    (:func:`search_axes`; ``{"lr": "1e-3:1:31:log", "beta1": [0.8, 0.9]}`` or ``["lr=…", …]``).
    ``tol``: the tolerance of ``evaluations_to_tol``. ``within``: the share of the best objective
    within which settings are reported as near it (ties and flat optima). ``runs``: also run each
    tuned optimizer from (up to :data:`DRAWN_STARTS` of) the starts with its continuous model
    (``method``, ``rtol``, ``atol``, ``max_seconds`` per flow), for the comparison figure.
    ``engine``: as :func:`simulate.sweep` (the objectives measured at the end may run compiled).
    ``time_limit``: a run whose estimate (:mod:`simulate.solvers.cost`) exceeds it is refused before any work.
    """
    land = landscape if isinstance(landscape, Landscape) else get_landscape(landscape)
    if objective not in OBJECTIVES:
        raise UnknownNameError(suggest("objective", objective, OBJECTIVES))
    if objective in ("distance", "rate") and not len(land.minima):
        raise ValueError(f"the objective {objective} measures the distance to a listed minimum, and {land.label} "
                         f"lists none: tune by final_loss or evaluations_to_tol")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a whole number of gradient evaluations >= 1, got {budget!r}")
    for what, v in (("tol", tol), ("within", within)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not (np.isfinite(v) and v > 0):
            raise ValueError(f"{what} must be a positive number, got {v!r}")
    opts = _optimizers(optimizers)
    names, given = _typed_names(optimizers), _listed(optimizers)
    _check_grid_names(grid, opts, names, given)
    starts = _starts(land, opts[0], start, random_starts, seed)
    n = len(starts)
    plans = []
    labels = _labels(given)
    for opt, name, spec, label in zip(opts, names, given, labels):
        if opt.batch_shape:
            raise ValueError(f"{opt.display_name}: give scalar hyperparameters; tune makes the grid")
        e = int(opt.evaluations_per_step)
        steps = int(budget) // e
        if steps < 1:
            raise ValueError(f"{name} takes {e} gradient evaluations per step: a budget of {budget} is not one step")
        plans.append((opt, label, search_axes(opt, name, spec, grid), steps, e))
    track = _TRACK[objective]
    parts, runs_by = [], []  # per optimizer: its grid's optimizer, what the compiled loop measures, which loop runs
    for opt, name, axes, steps, e in plans:
        cells = int(np.prod([len(a) for a in axes])) * n
        gridded, plan = _gridded(opt, axes), tracking(land, steps, float(tol), track, judge=False)
        # decided once, for the estimate and the run: the rule counts the work it is asked about
        compiled = (not track or plan is not None) and use_compiled(engine, gridded, land, cells, steps, plan)
        runs_by.append((gridded, plan, compiled))
        parts.append((f"{name}'s {cells} runs x {steps} steps", cost.discrete_seconds(cells, steps, compiled=compiled,
                                                                                       overhead=bool(track))))
    cost.check_time(cost.Estimate(tuple(parts)), _FITS, time_limit)
    check_run_memory([part for opt, name, axes, steps, e in plans
                      for part in runs_memory([name], 2 * (2 + len(track)), int(np.prod([len(a) for a in axes])) * n,
                                              land.dim)], _FITS)
    radius = default_escape_radius(land) if escape_radius is None else float(escape_radius)
    near = default_near(land)
    _, met = criterion(land, float(tol))
    results = []
    for (opt, name, axes, steps, e), (gridded, plan, compiled) in zip(plans, runs_by):
        shape = tuple(len(a) for a in axes)
        x0 = np.array(np.broadcast_to(starts, shape + starts.shape))
        if compiled:
            _, _, last, diverged_at, *measured = compiled_run(gridded, land, x0, steps, radius, 0, losses=False,
                                                              track=plan)
            metrics = tracked_metrics(land, plan, measured[0] if measured else None, last, diverged_at, near, track)
        else:
            acc = Accumulator(land, steps, float(tol), met, 0, shape + (n,), _NoBar(), track, judge=False)
            diverged_at = advance(gridded, land, x0, steps, radius, acc.visit)
            metrics = acc.metrics(diverged_at, near)
        per_start = _per_start(objective, land, metrics, e)
        with np.errstate(invalid="ignore"):
            values = np.mean(per_start, axis=-1)
        diverged = float(np.mean(metrics["diverged"]))
        results.append(_judge(name, axes, values, steps, e, gridded, diverged, float(within)))
    made = tuple(_runs(land, r, starts, method, rtol, atol, max_seconds, time_limit) if runs else None
                 for r in results)
    return Tuning(land, objective, int(budget), starts, float(tol), float(within), tuple(results), made)


def _labels(given) -> list[str]:
    """What each optimizer is called in the table: its spec as given (an object: its spec), each
    once (a repeated one gets ``#2``, ``#3``)."""
    labels = [g.strip() if isinstance(g, str) else g.spec for g in given]
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


class _NoBar:
    def advance(self, n=1) -> None:
        pass


def _runs(land, result: Tuned, starts, method, rtol, atol, max_seconds, time_limit):
    """The tuned optimizer's iterates and its continuous model from the first starts (None when
    nothing was tuned)."""
    if result.optimizer is None:
        return None
    from .experiment import run_experiment

    drawn = starts[:DRAWN_STARTS]
    x0 = drawn[0] if len(drawn) == 1 else drawn
    check_run_memory(runs_memory([result.name], result.steps + 1, len(drawn), land.dim,
                                 flow_samples=result.steps + 400), _FITS)
    cost.check_time(cost.runs_estimate([result.optimizer], land, x0, result.steps, method=method, rtol=rtol),
                    _FITS, time_limit)
    return run_experiment(land, [result.optimizer], x0, result.steps, method=method, rtol=rtol, atol=atol,
                          max_seconds=max_seconds)
