r"""Convergence-rate maps over (lr·λ, β): the analytic picture and the same map measured by a sweep.

On a quadratic mode of curvature λ, heavy ball, Nesterov, GD, Heun, RK4 and proximal point are
linear maps of their state, so their per-step contraction is the spectral radius of that map, a
function of lr·λ and β only (Goh, "Why momentum really works", Distill 2017; Polyak 1964). For
heavy ball on ``(b, x)``: ``[[β, λ], [−lr·β, 1 − lr·λ]]``, stable iff ``lr·λ < 2(1 + β)``, fastest
at critical damping ``β = (1 − √(lr·λ))²``. The map is built here from the optimizer's own
``step`` applied to the unit states, so it is the update under test, not a transcription of it.

On a landscape, the linearization at a minimum has one such mode per Hessian eigenvalue λᵢ; the
predicted rate is the slowest, ``maxᵢ ρ(lr·λᵢ, β)``, which :func:`rate_map` sets beside the rate a
sweep measures from starts near the minimum. The figure is drawn by
:func:`simulate.viz.figures.rate_map_figure`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import checked
from ..landscapes.games import refuse_game
from ..landscapes import Landscape, Quadratic, landscape as get_landscape
from ..optimizers import Optimizer, optimizer as get_optimizer
from ..optimizers.sgd import heavy_ball_critical_momentum as critical_momentum
from ..spec import parse_spec
from ..solvers.cost import Estimate, check_time, discrete_seconds
from ..solvers.trajectory import check_run_memory, record_bytes
from .sweep import Axis, Sweep, check_not_set, sweepable, member_label, with_axis, parse_axis, sweep

__all__ = ["linear_rate", "step_matrix", "rate_map", "rate_maps", "RateMap", "critical_momentum",
           "rate_map_arrays", "rate_map_csv"]


def step_matrix(opt: Optimizer, curvature: float = 1.0, k: int = 2) -> np.ndarray:
    """The matrix of step ``k`` of ``opt`` on ``f = λx²/2`` acting on its state, ``(*batch, n, n)``.

    ``k = 2`` by default: torch's first step sets the momentum buffer to the gradient itself.
    Raises ``ValueError`` where the step is not linear in the state (the adaptive methods).
    """
    land = Quadratic(eigenvalues=(float(curvature),))
    names = opt.state_names()
    batch = opt.batch_shape
    n = len(names)
    columns = []
    for j in range(n):
        state = {name: np.broadcast_to(np.float64(i == j), batch + (1,)).copy() for i, name in enumerate(names)}
        new = opt.step(state, land, k)
        columns.append(np.stack([new[name][..., 0] for name in names], axis=-1))
    M = np.stack(columns, axis=-1)
    probe = {name: np.broadcast_to(np.float64(0.3 + 0.7 * i), batch + (1,)).copy() for i, name in enumerate(names)}
    stepped = opt.step(probe, land, k)
    linear = np.einsum("...ij,...j->...i", M, np.stack([probe[name][..., 0] for name in names], axis=-1))
    if not np.allclose(np.stack([stepped[name][..., 0] for name in names], axis=-1), linear, rtol=1e-9, atol=1e-12):
        raise ValueError(f"{opt.display_name}'s step is not linear in its state on a quadratic: it has no rate "
                         f"map; measure one with a sweep (metric rate)")
    return M


def linear_rate(opt: Optimizer, curvature=1.0) -> np.ndarray:
    """Per-step contraction on ``f = λx²/2``: the spectral radius of :func:`step_matrix` (>= 1: unstable)."""
    if opt.step_varies:
        raise ValueError(f"{opt.name}'s {opt.step_varies}: it has no fixed rate")
    return np.max(np.abs(np.linalg.eigvals(step_matrix(opt, curvature))), axis=-1)


@dataclass(frozen=True, eq=False)
class RateMap:
    """Rates over ``lr·λmax`` (``x``) and a second hyperparameter (``y``), for one optimizer.

    ``analytic[i, j]``: ``maxₖ ρ(lr·λₖ, y_j)`` over the Hessian's eigenvalues λₖ at the minimum
    (one mode, λ = 1, without a landscape). ``measured``: the sweep's ``rate`` metric from a start
    near that minimum (None without a landscape), ``elsewhere`` where such a run left for another
    minimum or reached none (the catapult past an unstable minimum); ``sweep`` is that sweep.
    """

    optimizer: Optimizer
    x: Axis            # lr·λmax
    y: Axis            # the other hyperparameter (momentum, ...)
    eigenvalues: np.ndarray
    analytic: np.ndarray
    measured: np.ndarray | None = None
    #: measured cells that ended at another minimum (or none): their rate is not this minimum's
    elsewhere: np.ndarray | None = None
    sweep: Sweep | None = None
    landscape: Landscape | None = None

    def __repr__(self) -> str:
        measured = "" if self.measured is None else f", measured near a minimum of {self.landscape.label}"
        return (f"RateMap({self.optimizer.display_name} over lr·λmax ({len(self.x.values)}) × {self.y.name} "
                f"({len(self.y.values)}): analytic{measured})")

    @property
    def label(self) -> str:
        """The optimizer without the hyperparameters the map supplies (lr and the y axis)."""
        return member_label(self.optimizer, {"lr", self.y.name})

    @property
    def lrs(self) -> np.ndarray:
        return self.x.values / float(np.max(self.eigenvalues))


@checked
def rate_map(optimizer, lr_lambda, other, *, landscape=None, minimum: int = 0, offset: float = 1e-3,
             steps: int = 400) -> RateMap:
    """The rate map of ``optimizer`` over ``lr·λmax`` and one more hyperparameter axis ``other``.

    ``lr_lambda`` and ``other`` are :class:`~simulate.analysis.sweep.Axis` objects or specs
    (``"lr_lambda=0.01:4:80"``, ``"momentum=0:0.99:50"``). With ``landscape``, the Hessian at its
    listed minimum number ``minimum`` gives the modes, and a sweep from that minimum moved by
    ``offset`` (along the diagonal) measures the rate over the second half of ``steps`` steps.
    """
    opt = optimizer if isinstance(optimizer, Optimizer) else get_optimizer(optimizer)
    if opt.schedule is not None or opt.transformed:
        raise ValueError(f"{opt.label}: a rate map is the spectrum of one constant linear step; a schedule or a "
                         f"gradient transform makes the step change along the run")
    step_matrix(opt)  # an adaptive method has no rate map: say so before anything about its axes
    x = parse_axis(lr_lambda) if isinstance(lr_lambda, str) else lr_lambda
    y = parse_axis(other) if isinstance(other, str) else other
    if np.any(x.values <= 0):
        raise ValueError("lr·λ must be > 0")
    land = None if landscape is None else (landscape if isinstance(landscape, Landscape) else get_landscape(landscape))
    if land is None:
        eig = np.array([1.0])
    else:
        if not 0 <= minimum < len(land.minima):
            listed = f"{len(land.minima)} minim{'um' if len(land.minima) == 1 else 'a'}"
            raise ValueError(f"{land.name} lists {listed} (numbered from 0); minimum {minimum} does not exist")
        refuse_game(land, "a rate map over lr·λmax")
        eig = np.linalg.eigvalsh(land.hess(land.minima[minimum]))
        if np.any(eig <= 0):
            raise ValueError(f"the Hessian at minimum {minimum} of {land.name} is not positive definite")
    lam_max = float(eig.max())
    grid_lr = (x.values / lam_max)[:, None]
    names = [n for n in sweepable(opt) if n != "lr"]
    if y.name == "lr":
        raise ValueError("lr is on the horizontal axis (as lr·λmax): vary another hyperparameter, "
                         f"one of {', '.join(names)}")
    if y.name not in names:
        from .._names import suggest

        hint = suggest("hyperparameter", y.name, names).split(". ", 1)[1] if names else ""
        raise ValueError(f"{opt.display_name} has no hyperparameter {y.name!r}. {hint}".rstrip()
                         + (f" (e.g. --vary {names[-1]}=0:1:20)" if names else ""))
    if isinstance(optimizer, str) and "lr" in parse_spec(optimizer)[1]:
        raise ValueError(f"{optimizer} sets lr, which the lr·λmax axis supplies: drop it from the spec")
    check_not_set(optimizer, opt, [y.name])
    check_run_memory(rate_map_memory(opt, x.values.size, y.values.size, eig.size, measured=land is not None),
                     RATE_MAP_FITS)
    member = with_axis(opt.replace(lr=grid_lr), y.name, y.values[None, :])
    analytic = np.max(np.stack([linear_rate(member, lam) for lam in eig]), axis=0)
    if land is None:
        return RateMap(opt, x, y, eig, analytic)
    lr_axis = Axis("lr", x.values / lam_max, x.scale)
    start = land.minima[minimum] + offset
    result = sweep(land, opt, [lr_axis, y], start=start, steps=steps, progress=False)
    diverged = result.metric("diverged") == 1
    rate = np.where(diverged, np.inf, result.metric("rate"))
    elsewhere = ~diverged & (result.metric("minimum") != minimum)
    return RateMap(opt, x, y, eig, analytic, measured=rate, elsewhere=elsewhere, sweep=result, landscape=land)


#: What makes a rate map smaller, as its refusal says.
RATE_MAP_FITS = "fewer points on --lr-lambda or --vary (their NUM)"


def rate_map_memory(opt: Optimizer, columns: int, rows: int, modes: int = 1, *, measured: bool = False) -> list:
    """What one rate map of ``opt`` over ``columns x rows`` cells holds at once, for
    :func:`~simulate.solvers.trajectory.check_run_memory`: the step matrix of every cell (n x n for n
    state components) and its spectrum per Hessian mode; with ``measured``, the sweep's state of
    every cell and its start and end."""
    n, cells = len(opt.state_names()), int(columns) * int(rows)
    name = opt.display_name
    parts = [(f"{name}'s analytic map ({columns} x {rows} cells, {n} x {n} step matrices)",
              record_bytes(n + modes, cells, n))]
    if measured:
        parts.append((f"{name}'s measured map ({columns} x {rows} cells)", record_bytes(2 + n, cells, n)))
    return parts


#: ``rate_maps``' vertical axis: momentum, or weight decay for optimizers without momentum.
DEFAULT_VARY, VARY_WITHOUT_MOMENTUM = "momentum=0.01:0.99:60", "weight_decay=0:2:60"


def rate_maps(optimizers=None, lr_lambda: str = "0.02:4.5:90", vary: str = DEFAULT_VARY, *, landscape=None,
              minimum: int = 0, offset: float = 1e-3, steps: int = 400) -> list[RateMap]:
    """:func:`rate_map` of each of ``optimizers`` (default heavy ball and Nesterov) over the same axes:
    what ``simulate rate-map`` computes. ``lr_lambda`` is ``START:STOP:NUM[:log]``; the default
    ``vary`` becomes weight decay when an optimizer has no momentum (gd, heun, rk4, proximal)."""
    chosen = list(optimizers or ("momentum", "nesterov"))
    if vary == DEFAULT_VARY and any("momentum" not in sweepable(get_optimizer(o)) for o in chosen):
        vary = VARY_WITHOUT_MOMENTUM  # the default axis would not exist
    if landscape is not None:  # each measured map is a sweep: the whole is refused before any work when too long
        cells = len(parse_axis(f"lr_lambda={lr_lambda}")) * len(parse_axis(vary))
        check_time(Estimate(tuple((f"{o}'s {cells} x {steps} steps", discrete_seconds(cells, steps)) for o in chosen)),
                   "fewer --steps or fewer values per axis")
    columns, rows = parse_axis(f"lr_lambda={lr_lambda}").values.size, parse_axis(vary).values.size
    modes = 1 if landscape is None else (landscape if isinstance(landscape, Landscape) else get_landscape(landscape)).dim
    # every map is held until the figure is drawn: all of them together must fit, before the first is made
    check_run_memory([part for o in chosen for part in rate_map_memory(
        o if isinstance(o, Optimizer) else get_optimizer(o), columns, rows, modes, measured=landscape is not None)],
        RATE_MAP_FITS)
    return [rate_map(o, f"lr_lambda={lr_lambda}", vary, landscape=landscape, minimum=minimum, offset=offset,
                     steps=steps) for o in chosen]


def rate_map_arrays(maps: list[RateMap]) -> dict[str, np.ndarray]:
    """Several maps over the same axes as named arrays: ``analytic``/``measured`` are ``(M, nx, ny)``."""
    first = maps[0]
    out = {"lr_lambda": first.x.values, first.y.name: first.y.values, "y_name": np.array(first.y.name),
           "optimizers": np.array([m.label for m in maps]), "eigenvalues": first.eigenvalues,
           "analytic": np.stack([m.analytic for m in maps])}
    if first.measured is not None:
        out.update(measured=np.stack([m.measured for m in maps]), elsewhere=np.stack([m.elsewhere for m in maps]),
                   lrs=first.lrs,
                   landscape=np.array(first.landscape.label))
    return out


def rate_map_csv(maps: list[RateMap]) -> str:
    """One row per optimizer and cell: optimizer, lr·λmax, lr, y, analytic and measured rate."""
    lines = [f"optimizer,lr_lambda,lr,{maps[0].y.name},analytic,measured,elsewhere"]
    for m in maps:
        for i, x in enumerate(m.x.values):
            for j, y in enumerate(m.y.values):
                measured = "," if m.measured is None else f"{float(m.measured[i, j])!r},{int(m.elsewhere[i, j])}"
                lines.append(f"{m.label},{float(x)!r},{float(m.lrs[i])!r},{float(y)!r},"
                             f"{float(m.analytic[i, j])!r},{measured}")
    return "\n".join(lines) + "\n"
