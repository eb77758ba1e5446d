"""Run several optimizers from the same start(s): iterates, their flows, and the distance between."""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._checks import checked
from .._signature import Said, public, renamed, warn
from ..solvers.inputs import resolve
from .averaging import average, check_beta
from ..solvers.continuous import MAX_SECONDS, WALL_TIME, SaveAt, Stepping, integrate
from ..solvers.discrete import iterate
from ..models import available_flows, energy_along, flow as make_flow, no_model
from .remarks import Diverged, ModelNote, Stalled, divergences, model_notes, stalls
from .sharpness import sharpness_along, stability_threshold
from ..landscapes import Landscape
from ..landscapes.base import short_label, start_trouble
from ..optimizers import Optimizer, optimizer
from ..spec import parse_spec
from ..landscapes import landscape as get_landscape
from ..io.files import load_npz, save_npz
from ..io.progress import progress_bar
from ..solvers.trajectory import DIVERGED, FAILED, STATUS_NAMES, Comparison, Trajectory, compare, ended

__all__ = ["Entry", "Experiment", "run_experiment", "with_lr", "with_schedule", "Crowd", "run_crowd", "Thinned", "NoFlow",
           "CROWD_ABOVE", "DRAWN_PATHS"]


@dataclass(frozen=True, eq=False)
class Entry:
    """One optimizer: its iterates, its flow (finely sampled) and their distance at the iterates' times.

    An optimizer with no continuous model of any kind (:func:`simulate.models.no_model` says why, e.g.
    Rprop, a switched system) has ``flow`` and ``comparison`` None: its iterates are drawn alone."""

    optimizer: Optimizer
    iterates: Trajectory
    flow: Trajectory | None
    flow_every: int  # flow.every(flow_every) is sampled at iterates.t
    comparison: Comparison | None

    @property
    def flow_at_steps(self) -> Trajectory | None:
        return None if self.flow is None else self.flow.every(self.flow_every)

    @property
    def flow_kind(self) -> str:
        """The model's kind, "" without one."""
        return "" if self.flow is None else self.flow.flow


def _ending(traj: Trajectory, idx: tuple) -> dict:
    """How member ``idx`` of a record ended, for the JSON summary (with its last finite sample)."""
    x = traj.x[(slice(None), *idx)]
    seen = np.flatnonzero(np.all(np.isfinite(x), axis=-1))
    last = int(seen[-1]) if seen.size else 0
    return {"status": STATUS_NAMES[int(traj.status[idx])], "message": str(np.asarray(traj.message)[idx]),
            "diverged_at": int(traj.diverged_at[idx]), "final_x": x[-1], "final_f": float(traj.f[(-1, *idx)]),
            "last_finite_step": last, "last_finite_x": x[last], "last_finite_f": float(traj.f[(last, *idx)])}


class FlowWarning(Said):
    """A continuous model that could not be integrated to the end (its iterates ran in full)."""


class StartWarning(Said):
    """A start where nothing will move: the gradient vanishes there, or f or ∇f is not finite."""


def check_starts(landscape: Landscape, starts) -> None:
    """Refuse starts where f or ∇f is not finite, when every start is such (nothing would run); warn
    (:class:`StartWarning`) of the others and of stationary starts, where every method stays put."""
    starts = np.asarray(starts, dtype=np.float64)
    not_finite, stationary = start_trouble(landscape, starts)
    flat = starts.reshape(-1, starts.shape[-1])

    def where(mask) -> str:  # at most three points, then how many more
        shown = ", ".join(np.array2string(p, precision=4) for p in flat[np.ravel(mask)][:3])
        return shown + (f" and {int(mask.sum()) - 3} more" if mask.sum() > 3 else "")

    if not_finite.all():
        raise ValueError(f"{landscape.label} is not finite at the start {where(not_finite)} (f or its gradient is "
                         f"inf or NaN there): choose a start inside its domain")
    if not_finite.any():
        warn(f"{landscape.label} is not finite at {int(not_finite.sum())} of {not_finite.size} starts "
             f"({where(not_finite)}): those runs stop at once", StartWarning, stacklevel=3)
    if stationary.any():
        warn(f"the gradient of {landscape.label} vanishes at the start {where(stationary)}: every method "
             f"stays there (choose another start)", StartWarning, stacklevel=3)


class NoFlow(FlowWarning):
    """An optimizer with no continuous model: its iterates are drawn alone (the line says why)."""

def own_model(opt, kind: str | None, steps: int):
    """``opt``'s model ``kind`` for ``steps`` steps; None when no kind was asked and ``opt`` has no
    model at all (asked by name, a missing model is an error that says why)."""
    if kind is None and no_model(opt):
        return None
    return make_flow(opt, kind).for_steps(steps)


class Thinned(FlowWarning):
    """Not a failure: many starts are drawn as a sample of paths (flows integrated for those only)
    over a density of every start's iterates; one line says how many (the command prints it)."""


#: Above this many starts ``plot`` draws a crowd: a seeded sample of :data:`DRAWN_PATHS` paths (their
#: flows the only ones integrated) over a density of every start's iterates, and the loss as
#: quantile bands over every start. Beyond ~64 lines per optimizer the paths and loss curves are an
#: unreadable mass, and the bands (10-90%) have enough members to mean something.
CROWD_ABOVE = 64

#: How many paths a crowd draws in full. The flows are the cost: a default plot's three flows take
#: ~1-2 s per start (LSODA at rtol 1e-8; the momentum lift needs ~1e5 field evaluations), the
#: iterates ~1 µs per start and step; 16 starts keep the flows to ~20-30 s and are still told apart
#: on the contours. The statistics come from every start, not from the sample.
DRAWN_PATHS = 16

#: Bytes of iterates one chunk of starts may hold while every start runs (a crowd's memory is this,
#: its density and its loss samples, whatever the number of starts).
CHUNK_BYTES = 64 * 2**20

#: Loss values kept for the quantile bands: at most this many (steps x starts) in all.
BAND_VALUES = 8_000_000


@dataclass(frozen=True, eq=False)
class Crowd:
    """Many starts, thinned: every start's iterates reduced to a density of where they went, loss
    quantiles over time and the end points, and which starts are drawn (and integrated) in full.

    ``density`` counts the iterates of every optimizer, start and step inside ``edges`` (x₁ and x₂;
    None in 1-D) and ``binned`` is its sum; ``steps`` are the step indices where the loss
    ``quantiles`` (per optimizer, ``(3, len(steps))``: 10%, 50%, 90% over the starts still finite)
    and ``times`` (per optimizer, the clock at those steps) are taken."""

    starts: np.ndarray          # (B, d): every start
    drawn: np.ndarray           # indices of the drawn starts, sorted
    labels: tuple[str, ...]
    density: np.ndarray | None
    edges: tuple[np.ndarray, np.ndarray] | None
    steps: np.ndarray
    times: tuple[np.ndarray, ...]
    quantiles: tuple[np.ndarray, ...]
    finals: tuple[np.ndarray, ...]   # (B, d) last point of each start, per optimizer
    status: tuple[np.ndarray, ...]   # (B,) how each start ended, per optimizer

    QUANTILES = (0.1, 0.5, 0.9)

    @property
    def binned(self) -> int:
        return 0 if self.density is None else int(self.density.sum())

    @property
    def thinning(self) -> str:
        """The one line that says what was thinned."""
        where = "density of all" if self.density is not None else "loss bands of all"
        return (f"drawing {len(self.drawn)} of {len(self.starts)} paths (flows integrated for those); {where} "
                f"{len(self.starts)} starts' iterates")

    def diverged_note(self, member: int) -> str:
        """``" (k diverged: left out of the band from their step on)"`` for optimizer ``member``, or "":
        a band of the finite losses alone would hide them."""
        k = int(np.count_nonzero(self.status[member] == DIVERGED))
        return f" ({k} diverged: out of the band from then on)" if k else ""

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``--data`` adds for a thinned plot (``crowd_`` keys)."""
        out = {"crowd_starts": self.starts, "crowd_drawn": self.drawn, "crowd_steps": self.steps,
               "crowd_quantile_levels": np.array(self.QUANTILES), "crowd_thinning": np.array(self.thinning)}
        if self.density is not None:
            out.update(crowd_density=self.density, crowd_edges_x=self.edges[0], crowd_edges_y=self.edges[1])
        for i in range(len(self.labels)):
            out.update({f"crowd_t_{i}": self.times[i], f"crowd_loss_quantiles_{i}": self.quantiles[i],
                        f"crowd_final_x_{i}": self.finals[i], f"crowd_status_{i}": self.status[i]})
        return out


def _binned(points: np.ndarray, box: np.ndarray, bins: int) -> np.ndarray:
    """Counts of ``points`` ``(n, 2)`` in ``bins x bins`` equal cells of ``box`` (closed; the upper
    edges in the last cells, as numpy's histogram2d), indexed ``[x₂, x₁]``; points outside, or not
    finite, are not counted. Uniform cells are indexed by arithmetic: ~10 times histogram2d's speed."""
    lo, hi = box[:, 0], box[:, 1]
    with np.errstate(invalid="ignore"):
        inside = np.all((points >= lo) & (points <= hi), axis=-1)  # NaN compares false: left out
    cell = np.minimum(((points[inside] - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
    return np.bincount(cell[:, 1] * bins + cell[:, 0], minlength=bins * bins).reshape(bins, bins)


def drawn_sample(starts: int, seed: int, size: int = DRAWN_PATHS) -> np.ndarray:
    """``size`` of ``starts`` indices, sorted, drawn without replacement with ``seed`` (a stream of
    its own, apart from the one that drew the starts)."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(1,)))
    return np.sort(rng.choice(int(starts), size=min(int(size), int(starts)), replace=False))


def crowd_memory(starts: int, steps: int, dim: int, optimizers: int) -> list[tuple[str, int]]:
    """What :func:`run_crowd` holds at once, for :func:`~simulate.solvers.trajectory.check_run_memory`."""
    kept = min(int(steps) + 1, max(2, BAND_VALUES // max(int(starts), 1)))
    return [(f"every start's iterates, a chunk at a time ({starts} starts)", 2 * CHUNK_BYTES),
            (f"loss samples for the bands ({kept} x {starts})", 2 * 8 * kept * int(starts)),
            (f"end points ({optimizers} x {starts} x {dim})", 2 * 8 * int(optimizers) * int(starts) * (int(dim) + 1))]


@checked
def run_crowd(landscape, optimizers: Sequence, starts, steps: int, *, lr: float | None = None,
              flow: str | None = None, seed: int = 0, region=None, bins: int = 160,
              drawn: int = DRAWN_PATHS) -> Crowd:
    """Run every start's iterates (vectorized, in chunks of bounded memory) and reduce them to a
    :class:`Crowd`: a ``bins x bins`` density over ``region`` (pairs for x₁ and x₂; default the
    landscape's plot box), loss quantiles and end points; and draw a sample of ``drawn`` starts
    with ``seed`` (:func:`drawn_sample`). The iterates are timed on each flow's clock, as in
    :func:`run_experiment`. Bit for bit the same for the same arguments."""
    optimizers = with_lr(optimizers, lr)
    resolved = [resolve(item, landscape, starts) for item in optimizers]
    land, x0 = resolved[0][1], resolved[0][2]
    x0 = np.atleast_2d(x0)
    B, d = x0.shape
    models = [own_model(opt, flow, steps) for opt, _, _ in resolved]
    keep = np.unique(np.linspace(0, int(steps), min(int(steps) + 1, max(2, BAND_VALUES // B))).round().astype(int))
    chunk = max(1, CHUNK_BYTES // (8 * (int(steps) + 1) * (d + 2)))
    box = np.asarray(land.bounds[:2] if region is None else region, dtype=float)
    edges = None if d < 2 else (np.linspace(*box[0], bins + 1), np.linspace(*box[1], bins + 1))
    density = None if d < 2 else np.zeros((bins, bins), dtype=np.int64)  # [x₂ row, x₁ column], as an image
    times, quantiles, finals, status = [], [], [], []
    # every optimizer's starts, on a terminal: with many starts and steps minutes pass here
    with progress_bar(len(resolved) * B, f"{B} starts") as bar:
        for (opt, _, _), model in zip(resolved, models):
            losses = np.empty((keep.size, B))
            final, ended_as = np.empty((B, d)), np.empty(B, dtype=np.int64)
            t = None
            for lo in range(0, B, chunk):
                run = iterate(land, opt, x0[lo:lo + chunk], steps, time_per_step=model)
                losses[:, lo:lo + chunk] = run.f[keep]
                final[lo:lo + chunk], ended_as[lo:lo + chunk] = run.x[-1], run.status
                t = np.asarray(run.t)
                if density is not None:
                    density += _binned(run.x[..., :2].reshape(-1, 2), box, bins)
                bar.advance(min(chunk, B - lo))
            times.append(t[keep] if t.ndim == 1 else t[keep, 0])
            with warnings.catch_warnings():  # a time at which every start has stopped: NaN, not a warning
                warnings.simplefilter("ignore", RuntimeWarning)
                quantiles.append(np.nanquantile(np.where(np.isfinite(losses), losses, np.nan), Crowd.QUANTILES, axis=1))
            finals.append(final)
            status.append(ended_as)
    return Crowd(x0, drawn_sample(B, seed, drawn), tuple(opt.label for opt, _, _ in resolved), density, edges, keep,
                 tuple(times), tuple(quantiles), tuple(finals), tuple(status))


@dataclass(frozen=True, eq=False)
class Experiment:
    """What ``simulate plot`` shows: every optimizer run twice on one landscape."""

    landscape: Landscape
    start: np.ndarray
    steps: int
    entries: tuple[Entry, ...]
    method: str
    rtol: float
    atol: float
    flow: str = ""  # the continuous model's kind asked for ("" = each optimizer's own)
    panels: tuple[str, ...] = ()  # extra quantities drawn and exported: "sharpness", "energy"
    ema: float | np.ndarray | None = None  # β of the EMA of the iterates drawn and exported (one per member, or None)
    crowd: Crowd | None = None  # many starts: every start reduced (density, loss bands); the entries are the drawn sample

    x0 = renamed("start")  # its name before the attributes were named as the files name them

    def __repr__(self) -> str:  # one line; arrays() and summary() hold the runs
        runs = ", ".join(f"{e.optimizer.label} ({f'{e.flow_kind} flow' if e.flow else 'no flow'})"
                         for e in self.entries)
        starts = int(np.prod(np.shape(self.start)[:-1]))
        if self.crowd is not None:  # the runs drawn in full are a sample of the starts
            starts = f"{starts} of {len(self.crowd.starts)} starts drawn"
        else:
            starts = f"{starts} start{'s' * (starts != 1)}"
        return (f"Experiment({runs} on {short_label(self.landscape)}, {starts}, "
                f"{self.steps} steps; iterates: {ended(np.concatenate([np.ravel(e.iterates.status) for e in self.entries]))})")

    def warn_flow_failures(self) -> None:
        """Say what the figure shows and a reader must know, as warnings, one per line (the command
        prints each in one line): for a crowd of starts what was thinned (:class:`Thinned`); which
        optimizers have no model (:class:`NoFlow`); :meth:`flow_failures` (:class:`FlowWarning`); and
        :mod:`~simulate.analysis.remarks`: divergences, model notes and stalls."""
        if self.crowd is not None:
            warn(self.crowd.thinning, Thinned, stacklevel=3)
        for e in self.entries:
            if e.flow is None:
                warn(f"{e.optimizer.label}: its iterates are drawn alone: {no_model(e.optimizer)}", NoFlow,
                     stacklevel=3)
        for line in self.flow_failures():
            warn(line, FlowWarning, stacklevel=3)  # at plot()'s caller, past its decorators
        for line in self.divergences():
            warn(line, Diverged, stacklevel=3)
        for line in self.model_notes():
            warn(line, ModelNote, stacklevel=3)
        for line in self.stalls():
            warn(line, Stalled, stacklevel=3)

    def model_notes(self) -> list[str]:
        """:func:`simulate.analysis.remarks.model_notes` of this experiment."""
        return model_notes(self)

    def divergences(self) -> list[str]:
        """:func:`simulate.analysis.remarks.divergences` of this experiment."""
        return divergences(self)

    def stalls(self) -> list[str]:
        """:func:`simulate.analysis.remarks.stalls` of this experiment."""
        return stalls(self)

    def flow_failures(self) -> list[str]:
        """One line per member whose continuous model could not be integrated to the end: which
        optimizer and start, the solver's reason and what to try (the command says these on the
        terminal; the figure and the data mark them too)."""
        lines = []
        for e in (e for e in self.entries if e.flow is not None):
            status = np.atleast_1d(e.flow.status).reshape(-1)
            messages = np.atleast_1d(np.asarray(e.flow.message, dtype=object)).reshape(-1)
            starts = np.atleast_2d(np.asarray(self.start, dtype=float))
            for i in np.flatnonzero(status == FAILED):
                where = f" from start {np.array2string(starts[min(i, len(starts) - 1)], precision=3)}" \
                    if status.size > 1 else ""
                budget = "--flow-seconds, " if WALL_TIME in str(messages[i]) else ""
                others = [k for k in available_flows(e.optimizer) if k != e.flow.flow]
                other = f", or --flow with another model: {', '.join(others)}" if others else ""
                lines.append(f"{e.optimizer.label}: its {e.flow.flow} flow{where} was not integrated to the end: "
                             f"{messages[i]}; the iterates are drawn in full (try {budget}--method or fewer --steps"
                             f"{other})")
        return lines

    def __post_init__(self):
        if self.ema is not None:
            object.__setattr__(self, "ema", check_beta(self.ema))

    @functools.cached_property
    def averages(self) -> tuple[Trajectory, ...]:
        """Per entry, the EMA of its iterates with β = :attr:`ema` (:func:`simulate.averaging.average`);
        empty without ``ema``."""
        return () if self.ema is None else tuple(average(e.iterates, self.ema) for e in self.entries)

    def arrays(self) -> dict[str, np.ndarray]:
        """The numbers behind the figure, keyed as documented in docs/guide/data.md (``--data``)."""
        out = {"start": self.start, "landscape": np.array(self.landscape.label),
               "labels": np.array([e.optimizer.label for e in self.entries]),
               "specs": np.array([e.optimizer.spec for e in self.entries]),
               "steps": np.array(self.steps), "method": np.array(self.method),
               "rtol": np.array(self.rtol), "atol": np.array(self.atol), "flow": np.array(self.flow),
               "flow_kinds": np.array([e.flow_kind for e in self.entries]), "panels": np.array(self.panels, dtype=str)}
        if self.ema is not None:
            out["ema"] = np.array(self.ema, dtype=np.float64)
        if self.crowd is not None:
            out.update(self.crowd.arrays())
        for i, e in enumerate(self.entries):
            records = (("iterates", e.iterates),)
            if e.flow is not None:
                records += (("flow", e.flow_at_steps), ("flow_dense", e.flow))
                out[f"distance_{i}"] = e.comparison.distance
            if self.ema is not None:
                records += (("average", self.averages[i]),)
            for kind, traj in records:
                for name, value in traj.to_arrays().items():
                    out[f"{kind}_{name}_{i}"] = value
            out[f"flow_every_{i}"] = np.array(e.flow_every)
            out[f"lr_{i}"] = np.asarray(e.optimizer.lrs(self.steps), dtype=np.float64)  # lr_k of steps 1..steps
            out.update({f"{k}_{i}": v for k, v in self._panel_arrays(e).items()})
        return out

    def _panel_arrays(self, e: Entry) -> dict[str, np.ndarray]:
        """Sharpness along the iterates (and its threshold) and the flow's energy, when drawn."""
        out = {}
        if "sharpness" in self.panels:
            out["sharpness"] = sharpness_along(e.iterates)
            opt = e.optimizer
            with np.errstate(divide="ignore"):  # along a schedule: each step's threshold (inf where lr_k = 0)
                limit = stability_threshold(opt if opt.schedule is None else opt.at_lr(opt.lrs(self.steps)))
            out["stability_threshold"] = np.asarray(np.nan if limit is None else limit)
        if "energy" in self.panels and e.flow is not None:
            energy, _ = energy_along(e.flow)
            out["flow_energy"] = np.full(e.flow.f.shape, np.nan) if energy is None else energy
        return out

    def to_pandas(self):
        """The runs behind the figure as a tidy :class:`pandas.DataFrame`: the rows of
        :meth:`~simulate.solvers.trajectory.Trajectory.to_pandas` of each optimizer's iterates and of
        its flow at the iterates' times (``kind`` flow; the finely sampled flow is in :meth:`arrays`),
        one per sample and start (``member``), with ``entry``, the optimizer's index here."""
        from .._optional import optional

        pd = optional("pandas", "Experiment.to_pandas")
        frames = [traj.to_pandas().assign(entry=i) for i, e in enumerate(self.entries)
                  for traj in (e.iterates, e.flow_at_steps) if traj is not None]
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> dict:
        """A small JSON-able digest: per optimizer and start, how each run ended and how far apart."""
        optimizers = []
        for i, e in enumerate(self.entries):
            members = []
            for idx in np.ndindex(e.iterates.batch_shape):
                end = functools.partial(_ending, idx=idx)
                members.append({"start": np.broadcast_to(self.start, e.iterates.x.shape[1:])[idx],
                                "iterates": end(e.iterates), "flow": None})
                if e.flow is not None:
                    distance = e.comparison.distance[(slice(None), *idx)]
                    members[-1].update(
                        flow=end(e.flow_at_steps), final_distance=float(e.comparison.final[idx]),
                        max_distance=float(e.comparison.max[idx]),
                        max_distance_while_both_finite=float(np.nanmax(distance)) if np.any(np.isfinite(distance)) else None)
                if self.ema is not None:
                    members[-1]["average"] = _ending(self.averages[i], idx)
                if "sharpness" in self.panels:
                    members[-1]["final_sharpness"] = float(sharpness_along(e.iterates)[(-1, *idx)])
            entry = {"label": e.optimizer.label, "spec": e.optimizer.spec, "flow": e.flow_kind or None,
                     "time_per_step": np.asarray(e.iterates.time_per_step), "members": members}
            if "sharpness" in self.panels:
                limit = stability_threshold(e.optimizer)
                entry["stability_threshold"] = None if limit is None else np.asarray(limit)
            if "energy" in self.panels:
                entry["energy"] = (e.flow is not None and energy_along(e.flow)[1]) or None
            optimizers.append(entry)
        out = {"landscape": self.landscape.label, "steps": self.steps, "method": self.method,
               "rtol": self.rtol, "atol": self.atol, "flow": self.flow, "optimizers": optimizers}
        if self.crowd is not None:
            out["thinned"] = {"line": self.crowd.thinning, "starts": len(self.crowd.starts),
                              "drawn": self.crowd.drawn,
                              "ended": {label: ended(status) for label, status in zip(self.crowd.labels, self.crowd.status)}}
        return out if self.ema is None else {**out, "ema": self.ema}

    def save(self, path) -> Path:
        """Write :meth:`arrays` to an ``.npz`` file atomically; :meth:`load` reads it back."""
        return save_npz(path, self.arrays())

    @classmethod
    def load(cls, path, landscape: Landscape | None = None) -> Experiment:
        """Rebuild an experiment from :meth:`save`'s file (a custom landscape must be passed)."""
        a = load_npz(path)
        land = landscape or get_landscape(str(a["landscape"]))
        entries = []
        for i, spec in enumerate(a["specs"]):
            opt = optimizer(str(spec))

            def part(kind):
                return Trajectory.from_arrays({n: a[f"{kind}_{n}_{i}"] for n in Trajectory.FIELDS},
                                              "iterates" if kind == "iterates" else "flow", opt, land, gtol=1e-8)

            iterates, every = part("iterates"), int(a[f"flow_every_{i}"])
            if f"flow_dense_x_{i}" not in a:  # an optimizer with no continuous model
                entries.append(Entry(opt, iterates, None, every, None))
                continue
            flow = part("flow_dense")
            if "flow_kinds" in a:
                flow = dataclasses.replace(flow, flow=str(a["flow_kinds"][i]))
            entries.append(Entry(opt, iterates, flow, every, compare(iterates, flow.every(every))))
        start = a["start"] if "start" in a else a["x0"]  # "x0": files written before it was named start
        return cls(land, start, int(a["steps"]), tuple(entries), str(a["method"]), float(a["rtol"]), float(a["atol"]),
                   str(a["flow"]) if "flow" in a else "", tuple(str(p) for p in a.get("panels", ())),
                   a["ema"] if "ema" in a else None)  # β as saved (checked on creation); the averages are recomputed


def with_lr(optimizers, lr: float | None = None) -> list:
    """``optimizers`` as a non-empty list, every one named by a string that does not set its own lr
    taking ``lr`` (an error if none would)."""
    if isinstance(optimizers, (str, Optimizer)):
        optimizers = [optimizers]
    if not optimizers:
        raise ValueError("give at least one optimizer")
    if lr is None:
        return list(optimizers)
    takes_lr = [isinstance(item, str) and "lr" not in parse_spec(item)[1] for item in optimizers]
    if not any(takes_lr):
        raise ValueError(f"lr={lr} would not be used: every optimizer sets its own lr")
    return [optimizer(item, lr=lr) if takes else item for item, takes in zip(optimizers, takes_lr)]


def with_schedule(optimizers, schedule=None, **transforms) -> list:
    """``optimizers`` with ``schedule`` (a spec such as ``"cosine(warmup=10)"`` or a
    :class:`~simulate.optimizers.schedules.Schedule`) and the gradient transforms given (``clip_norm``,
    ``clip_value``, ``lr_scale``: :mod:`simulate.optimizers.transforms`) for every one that has none of its
    own; an error if one of them would reach no optimizer."""
    optimizers = with_lr(optimizers)
    given = {k: v for k, v in {"schedule": schedule, **transforms}.items() if v is not None}
    if not given:
        return optimizers
    resolved = [optimizer(item) for item in optimizers]
    for name, value in given.items():
        takes = [getattr(opt, name) is None for opt in resolved]
        if not any(takes):
            raise ValueError(f"{name} {getattr(value, 'spec', value)} would not be used: every optimizer sets its own {name}")
        resolved = [optimizer(opt, **{name: value}) if take else opt for opt, take in zip(resolved, takes)]
    return resolved


@public
@checked
def run_experiment(landscape, optimizers: Sequence, start=None, steps: int = 200, *, lr: float | None = None,
                   flow: str | None = None, method: str = "LSODA", rtol: float = 1e-8, atol: float = 1e-10,
                   flow_samples: int = 400, max_evaluations: int | None = None,
                   max_seconds: float | None = MAX_SECONDS) -> Experiment:
    """Iterate each optimizer and integrate its continuous model from the same start(s).

    ``flow`` picks the model (:data:`simulate.models.FLOWS`, e.g. ``"modified"``) for every
    optimizer; by default each optimizer's own. The iterates are timed on the model's clock
    (``t = k·h``, e.g. h = √lr for the oscillator model), so the two compare sample by sample.

    ``optimizers`` holds names, specs such as ``"adam(lr=0.01)"``, or optimizer objects. The flow
    ``lr``, if given, is the learning rate of every optimizer named by a string that does not set
    its own (optimizer objects are used as they are); it is an error if no optimizer takes it. The flow
    is sampled at least ``flow_samples`` times (so it draws as a smooth curve) and always at the
    iterates' own times, where the two are compared. ``max_evaluations`` bounds each flow's field
    evaluations (the solver's default when None) and ``max_seconds`` its wall time per start (None:
    no bound); a flow that needs more is reported, not fatal (:meth:`Experiment.flow_failures`).
    """
    optimizers = with_lr(optimizers, lr)
    resolved = [resolve(item, landscape, start) for item in optimizers]
    if resolved:
        check_starts(resolved[0][1], resolved[0][2])
    models = [own_model(opt, flow, steps) for opt, _, _ in resolved]  # every model exists before any work
    entries = []
    for (opt, land, start), model in zip(resolved, models):
        run = iterate(land, opt, start, steps, time_per_step=model)
        every = max(1, math.ceil(flow_samples / max(steps, 1)))
        if model is None:
            entries.append(Entry(opt, run, None, every, None))
            continue
        stepping = Stepping(method, **({} if max_evaluations is None else {"max_evaluations": max_evaluations}),
                            max_seconds=max_seconds)
        dense = integrate(land, opt, start, steps=steps, flow=model, saveat=SaveAt(per_step=every), stepping=stepping,
                          rtol=rtol, atol=atol)
        entries.append(Entry(opt, run, dense, every, compare(run, dense.every(every))))
    return Experiment(land, np.asarray(start), steps, tuple(entries), method, rtol, atol, flow or "")
