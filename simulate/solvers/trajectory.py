"""The run record shared by discrete iterates and integrated flows, and their comparison.

Arrays are time-first and follow the start's shape: a start ``(d,)`` gives ``x`` of ``(T, d)``
and ``f`` of ``(T,)``; a batch ``(B, d)`` gives ``(T, B, d)`` and ``(T, B)``. ``t`` is ``(T,)``, or
``(T, *batch)`` when the time per step differs across the batch (an ``lr`` sweep).

Failure is data: every member has a ``status`` code, a ``message`` and ``diverged_at`` (the first
sample that is non-finite or outside the escape ball, ``-1`` if none). Samples after a member
stopped are NaN; the sample at ``diverged_at`` holds the value that triggered it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from ..landscapes.base import short_label
from ..landscapes.games import is_game, stalled_far
from ..landscapes import Landscape
from ..optimizers import Optimizer

__all__ = ["RunTooLarge", "Trajectory", "Comparison", "compare", "RUNNING", "CONVERGED", "DIVERGED", "FAILED", "STATUS_NAMES",
           "coordinate_names"]

RUNNING, CONVERGED, DIVERGED, FAILED = 0, 1, 2, 3
STATUS_NAMES = {RUNNING: "running", CONVERGED: "converged", DIVERGED: "diverged", FAILED: "failed"}


def coordinate_names(dim: int) -> list[str]:
    """The names of a point's coordinates in tables and datasets: ``x1 … xd`` (as a sweep's axes name them)."""
    return [f"x{i + 1}" for i in range(int(dim))]


def ended(status) -> str:
    """How a batch's members ended, for one-line reprs: ``"3 converged, 1 diverged"``."""
    codes, counts = np.unique(np.asarray(status).reshape(-1), return_counts=True)
    return ", ".join(f"{n} {STATUS_NAMES.get(int(c), str(c))}" for c, n in zip(codes, counts)) or "no members"


#: The largest record a run may allocate; beyond it a clear error comes before any work.
MAX_RECORD_BYTES = 4 * 2**30

#: How many times a record is held at once while a run is made, compared, drawn and saved. Measured:
#: a plot of 500 starts x 3000 steps (records of 0.34 GiB: x, f and t per sample, a flow's state
#: twice x) grew the process by 1.10 GiB, 3.3 times.
_COPIES = 4


def available_memory() -> int | None:
    """Bytes this process may still allocate: the machine's available memory, and the room left
    under the address-space limit (``ulimit -v``, RLIMIT_AS) when one is set; None if unknown."""
    limits = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as fh:
                used = int(fh.read().split()[0]) * resource.getpagesize()
            limits.append(max(0, soft - used))
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return min(limits) if limits else None


def record_bytes(samples: int, batch: int, dim: int, *, flow: bool = False) -> int:
    """The memory a record of ``samples`` points of ``batch`` members in ``dim`` dimensions holds
    while a run is made, drawn and saved (see :func:`check_run_memory`)."""
    per_value = (2 * dim + 2) if flow else (dim + 2)
    return _COPIES * 8 * int(samples) * int(batch) * per_value


def runs_memory(names, samples: int, batch: int, dim: int, flow_samples: int = 0) -> list[tuple[str, int]]:
    """The records of one run per optimizer in ``names``: iterates of ``samples`` points and, when
    ``flow_samples``, its flow (dense output included) sampled that many times; ``batch`` members
    each. The parts :func:`check_run_memory` adds up."""
    parts = []
    for name in names:
        name = str(getattr(name, "display_name", name)).split("(")[0]  # a spec, or an optimizer by its preset's name
        parts.append((f"{name}'s iterates ({samples} x {batch} x {dim})", record_bytes(samples, batch, dim)))
        if flow_samples:
            parts.append((f"{name}'s flow ({flow_samples} x {batch} x {dim})",
                          record_bytes(flow_samples, batch, dim, flow=True)))
    return parts


class RunTooLarge(ValueError):
    """A run refused by :func:`check_run_memory`: ``estimate`` says its size against the limit
    (the message without what to use), for a caller whose options are not the user's (a demo)."""

    def __init__(self, estimate: str, fits: str):
        super().__init__(f"{estimate}: use {fits}")
        self.estimate, self.fits = estimate, fits


def check_run_memory(parts, fits: str) -> int:
    """Refuse, before any work, a run whose records would not fit: ``parts`` are ``(what, bytes)``
    of everything the run holds at once (every optimizer's iterates, flows, dense outputs, from
    :func:`record_bytes`); their sum is compared with :data:`MAX_RECORD_BYTES` and with
    :func:`available_memory`. ``fits`` names the options that make it smaller. Returns the estimate."""
    parts = [(what, int(size)) for what, size in parts]
    total = sum(size for _, size in parts)
    available = available_memory()
    limit, of = MAX_RECORD_BYTES, f"the limit is {MAX_RECORD_BYTES / 2**30:g} GiB"
    if available is not None and available < limit:
        limit, of = available, f"{available / 2**30:.3g} GiB of memory are available"
    if total > limit:
        largest = max(parts, key=lambda p: p[1])[0] if parts else ""
        raise RunTooLarge(f"this run would record about {total / 2**30:.3g} GiB ({len(parts)} record{'s' * (len(parts) != 1)}, "
                          f"the largest {largest}) and {of}", fits)
    return total


def check_record_size(samples: int, shape: tuple[int, ...]) -> None:
    """Refuse, before allocating, a record of ``samples`` points of ``shape`` that would not fit."""
    batch, dim = int(np.prod(shape[:-1], dtype=float)), int(shape[-1]) if shape else 1
    check_run_memory([(f"{samples} samples of {shape}", record_bytes(samples, batch, dim) // _COPIES)],
                     "fewer steps or starts")


def default_escape_radius(landscape: Landscape) -> float:
    """How far is "far outside the bounds": 100 times the largest coordinate of the plot box."""
    return 100.0 * max(1.0, float(np.max(np.abs(landscape.bounds))))


class Deferred:
    """A record's array not computed yet: ``make(record)`` computes it on first use (see :class:`OnFirstUse`)."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


class OnFirstUse:
    """A :class:`Trajectory` field that may be given as a :class:`Deferred` and is computed on
    first access, then kept: a 10,000-start run spends as long evaluating every recorded loss as
    running, and most callers read only a few (a sweep, ``final``, a plot of some members).
    A data descriptor, so the frozen dataclass's ``__init__`` stores through it; reading it on the
    class raises ``AttributeError``, so the field keeps no default."""

    def __set_name__(self, owner, name):
        self.name, self.slot = name, "_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            raise AttributeError(self.name)
        value = obj.__dict__[self.slot]
        if type(value) is Deferred:
            value = obj.__dict__[self.slot] = value.make(obj)
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.slot] = value

    @staticmethod
    def pending(obj, name: str) -> bool:
        """Whether ``obj``'s field ``name`` is still to be computed."""
        return type(obj.__dict__.get("_" + name)) is Deferred


def _losses(record) -> np.ndarray:
    """f at every recorded sample, ``landscape.value(x)`` (NaN where x is NaN): what :func:`finish`
    computed eagerly before, the same bits."""
    with np.errstate(all="ignore"):
        return record.landscape.value(record.x)


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One run (``kind="iterates"``) or one integrated flow (``kind="flow"``), batched.

    ``t`` and ``f`` may be given as :class:`Deferred` values (the solvers do): they are computed on
    first use, with the values an eager record holds."""

    t: np.ndarray = OnFirstUse()
    x: np.ndarray
    f: np.ndarray = OnFirstUse()
    status: np.ndarray
    diverged_at: np.ndarray
    kind: str
    optimizer: Optimizer
    landscape: Landscape
    time_per_step: np.ndarray
    gtol: float
    stats: dict = field(default_factory=dict)
    flow: str = ""            # the continuous model's kind (simulate.models) for a flow; "" for iterates
    state: dict | None = None  # a flow's whole state at the samples (time-first), e.g. its velocity
    # What :attr:`message` is made of: the solvers' own messages ("" where none) and |∇f| at the end.
    notes: np.ndarray | None = None
    end_grad_norm: np.ndarray | None = None

    def __repr__(self) -> str:  # one line: what ran, its shape and how the members ended
        return (f"Trajectory({self.kind}{f' ({self.flow} flow)' if self.flow else ''} of {self.optimizer.label} on "
                f"{short_label(self.landscape)}: {self.x.shape[0]} samples, batch {self.status.shape}, d={self.x.shape[-1]}; "
                f"{ended(self.status)})")

    def __getstate__(self):  # pickled with its deferred arrays computed (a Deferred holds a closure)
        self.t, self.f  # noqa: B018 - computed on first use
        return self.__dict__

    def __setstate__(self, state):
        self.__dict__.update(state)

    @cached_property
    def message(self) -> np.ndarray:
        """A line per member saying how it ended (a plain string for a single run).

        Written on first use: formatting takes ~1 µs per member, which a 10,000-start run that
        never prints them should not pay."""
        batch = self.status.shape
        notes = [None] * self.status.size if self.notes is None else \
            np.asarray(self.notes, dtype=object).reshape(-1).tolist()
        stopped = "diverged at step {}" if self.kind == "iterates" else "diverged before sample {}"
        gnorm = np.broadcast_to(np.nan if self.end_grad_norm is None else self.end_grad_norm, batch)
        gtol = f"{self.gtol:g}"
        g_name = "|ξ|" if is_game(self.landscape) else "|grad f|"
        # On a game a vanished field far from every equilibrium is a stall, not convergence (finish).
        stall = f"stalled: {g_name} = {{:.2e}} <= {gtol} far from every listed equilibrium (the field has flattened)"
        text = [n if n else stopped.format(d) if s == DIVERGED else
                f"converged: {g_name} = {g:.2e} <= {gtol}" if s == CONVERGED else stall.format(g) if g <= self.gtol
                else f"running: {g_name} = {g:.2e} > {gtol}"
                for n, s, d, g in zip(notes, self.status.reshape(-1).tolist(), self.diverged_at.reshape(-1).tolist(),
                                      gnorm.reshape(-1).tolist())]
        if not batch:  # one trajectory: a plain string reads better than a 0-d object array
            return text[0]
        message = np.empty(batch, dtype=object)
        message.reshape(-1)[:] = text
        return message

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.x.shape[1:-1]

    @property
    def steps(self) -> np.ndarray:
        """Sample times in units of steps, ``t / h``: the discrete step index for iterates. On a
        schedule's clock, the step count whose running time is t (interpolated within a step)."""
        if getattr(self.optimizer, "schedule", None) is None:
            return self.t / np.asarray(self.time_per_step)
        times = self.optimizer.clock(self._schedule_steps()).times
        k = np.arange(times.shape[0], dtype=np.float64)
        if times.ndim == 1 and np.ndim(self.t) == 1:
            return np.interp(self.t, times, k)
        times = np.broadcast_to(times, times.shape[:1] + self.batch_shape)
        t = np.broadcast_to(np.asarray(self.t).reshape(np.shape(self.t) + (1,) * (1 + len(self.batch_shape) - np.ndim(self.t))),
                            (len(self.t),) + self.batch_shape)
        out = np.empty(t.shape)
        for member in np.ndindex(self.batch_shape):
            out[(slice(None), *member)] = np.interp(t[(slice(None), *member)], times[(slice(None), *member)], k)
        return out

    def _schedule_steps(self) -> int:
        """The length of the scheduled run this record belongs to (it sets the schedule's own
        lengths): recorded in ``stats``, or (a record read back from a file) the number of steps
        of iterates, or the divisor n of a dense flow's samples whose clock ends at its last time."""
        n = self.stats.get("schedule_steps")
        if n is not None:
            return int(n)
        samples = self.x.shape[0] - 1
        if self.kind == "iterates" or samples == 0:
            return max(samples, 1)
        last = float(np.ravel(np.asarray(self.t)[-1])[0])
        for n in (d for d in range(1, samples + 1) if samples % d == 0):
            if np.isclose(float(np.ravel(self.optimizer.clock(n).times[-1])[0]), last, rtol=1e-12, atol=0):
                return n
        return samples

    @property
    def grad_norm(self) -> np.ndarray:
        """``|∇f(x)|`` at every sample, ``(T, *batch)``."""
        with np.errstate(all="ignore"):
            return np.linalg.norm(self.landscape.grad(self.x), axis=-1)

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0

    @property
    def final(self) -> np.ndarray:
        """Last sample of each member, ``(*batch, d)``."""
        return self.x[-1]

    def every(self, m: int) -> Trajectory:
        """Every ``m``-th sample (e.g. a finely sampled flow at the iterates' own times)."""
        if m == 1:
            return self
        stopped = np.where(self.diverged_at >= 0, -(-self.diverged_at // m), -1)
        state = None if self.state is None else {k: v[::m] for k, v in self.state.items()}
        f = Deferred(_losses) if OnFirstUse.pending(self, "f") else self.f[::m]  # f of x[::m], when read
        return replace(self, t=self.t[::m], x=self.x[::m], f=f, diverged_at=stopped, state=state,
                       notes=self.message)  # written now: the sample index would read as a step

    # -- saving ---------------------------------------------------------------------------
    FIELDS = ("t", "x", "f", "status", "message", "diverged_at", "time_per_step")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The record's arrays by field name (messages as a string array)."""
        out = {name: np.asarray(getattr(self, name)) for name in self.FIELDS}
        out["message"] = np.asarray(self.message, dtype=str)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict, kind: str, optimizer: Optimizer, landscape: Landscape, gtol: float) -> Trajectory:
        """Rebuild a record from :meth:`to_arrays` (losses are recomputed, bit for bit, from x)."""
        message = arrays["message"].astype(object)
        return cls(t=arrays["t"], x=arrays["x"], f=Deferred(_losses), status=arrays["status"], notes=message,
                   diverged_at=arrays["diverged_at"],
                   kind=kind, optimizer=optimizer, landscape=landscape, time_per_step=arrays["time_per_step"],
                   gtol=gtol)

    def save(self, path):
        """Write this record to an ``.npz`` file (atomically); :meth:`load` reads it back."""
        from ..io.files import save_npz

        stats = {f"stats_{k}": np.asarray(v) for k, v in self.stats.items()}
        return save_npz(path, {**self.to_arrays(), **stats, "kind": np.array(self.kind), "flow": np.array(self.flow),
                               "gtol": np.array(self.gtol),
                               "optimizer": np.array(self.optimizer.spec), "landscape": np.array(self.landscape.label)})

    @classmethod
    def load(cls, path, landscape: Landscape | None = None) -> Trajectory:
        """Read a record written by :meth:`save`. A landscape that is not built in must be passed."""
        from ..landscapes import landscape as get_landscape
        from ..optimizers import optimizer as get_optimizer
        from ..io.files import load_npz

        arrays = load_npz(path)
        land = landscape or get_landscape(str(arrays["landscape"]))
        traj = cls.from_arrays(arrays, str(arrays["kind"]), get_optimizer(str(arrays["optimizer"])), land,
                               float(arrays["gtol"]))
        stats = {k[len("stats_"):]: (v.item() if v.ndim == 0 else v) for k, v in arrays.items() if k.startswith("stats_")}
        return replace(traj, stats=stats, flow=str(arrays["flow"]) if "flow" in arrays else "")

    def to_pandas(self):
        """A tidy :class:`pandas.DataFrame`: one row per (sample, member), in the arrays' order
        (time first, then the batch's members in C order, so that the ``f`` column is
        ``f.reshape(-1)``). Columns: ``optimizer`` (its label), ``kind`` (iterates, flow, sde),
        ``flow`` (the continuous model's kind, "" for iterates), ``member`` (the member's flat
        index in the batch, 0 for one run), ``status`` (how it ended), ``sample``, ``step``
        (:attr:`steps`), ``t``, ``f`` and the coordinates ``x1 … xd``."""
        from .._optional import optional

        pd = optional("pandas", "Trajectory.to_pandas")
        samples, batch = self.x.shape[0], int(np.prod(self.batch_shape, dtype=int))
        shape = (samples,) + self.batch_shape

        def each(values):  # one value per row, (T, *batch) flattened
            return np.broadcast_to(np.reshape(values, np.shape(values) + (1,) * (len(shape) - np.ndim(values))),
                                   shape).reshape(-1)

        status = np.array([STATUS_NAMES.get(int(c), str(c)) for c in np.ravel(self.status)], dtype=object)
        columns = {"optimizer": self.optimizer.label, "kind": self.kind, "flow": self.flow,
                   "member": np.tile(np.arange(batch), samples), "status": np.tile(status, samples),
                   "sample": np.repeat(np.arange(samples), batch), "step": each(self.steps), "t": each(self.t),
                   "f": np.reshape(self.f, -1)}
        columns.update(zip(coordinate_names(self.x.shape[-1]), self.x.reshape(-1, self.x.shape[-1]).T))
        return pd.DataFrame(columns)

    def summary(self) -> str:
        """One line per member: status, final point and loss."""
        lines = []
        for idx in np.ndindex(self.batch_shape):
            where = f"[{', '.join(map(str, idx))}] " if idx else ""
            x = ", ".join(f"{v:.6g}" for v in self.x[(-1, *idx)])
            lines.append(f"{where}{self.message[idx]}; final x = ({x}), f = {self.f[(-1, *idx)]:.6g}")
        return "\n".join(lines)


def finish(kind, t, x, optimizer, landscape, diverged_at, gtol, failed=None, messages=None, stats=None,
           time_per_step=None, flow="", state=None, f=None) -> Trajectory:
    """Build the record: a status for every member, and what its message is written from
    (``messages``: a solver's own, "" where none). Losses (unless given, e.g. by the compiled
    engine) are computed on first use of ``f``; ``t`` may be a :class:`Deferred` too."""
    f = Deferred(_losses) if f is None else f  # on first use: the same values, computed when read
    with np.errstate(all="ignore"):
        gnorm = np.linalg.norm(landscape.grad(x[-1]), axis=-1)
    batch = x.shape[1:-1]
    failed = np.zeros(batch, bool) if failed is None else failed
    status = np.full(batch, RUNNING)
    status[(gnorm <= gtol) & ~stalled_far(landscape, x[-1])] = CONVERGED
    status[diverged_at >= 0] = DIVERGED
    status[failed] = FAILED
    return Trajectory(t=t, x=x, f=f, status=status, diverged_at=diverged_at, kind=kind, notes=messages,
                      end_grad_norm=gnorm, optimizer=optimizer, landscape=landscape,
                      time_per_step=np.asarray(optimizer.time_per_step if time_per_step is None else time_per_step),
                      gtol=gtol, stats=stats or {}, flow=flow, state=state)


def sample_times(clock, steps: int, batch_shape: tuple[int, ...], per_step: int = 1) -> np.ndarray:
    """``t = k·h`` for k = 0..steps: ``(T,)``, or ``(T, *batch)`` when h varies across the batch.

    ``clock`` is the time per step h or anything with a ``time_per_step`` (an optimizer, a flow),
    or a :class:`~simulate.optimizers.schedules.ScheduleClock` (then t_k is the sum of the first k step times).
    ``per_step > 1`` subdivides every step; every ``per_step``-th time is then exactly ``k·h``.
    """
    clock = getattr(clock, "schedule_clock", None) or clock  # a flow on a scheduled run's clock
    if hasattr(clock, "sample"):  # a ScheduleClock: the running sums of the step sizes
        t = clock.sample(per_step)
        return t if t.ndim == 1 else np.array(np.broadcast_to(t, t.shape[:1] + tuple(batch_shape)))
    h = np.asarray(getattr(clock, "time_per_step", clock), dtype=np.float64)
    k = np.arange(steps * per_step + 1, dtype=np.float64) / per_step
    if h.ndim == 0:
        return k * h
    h = np.broadcast_to(h, batch_shape)
    return k.reshape((-1,) + (1,) * h.ndim) * h


@dataclass(frozen=True, eq=False)
class Comparison:
    """Distance between two records sampled at the same times (e.g. iterates and their flow)."""

    t: np.ndarray
    distance: np.ndarray  # (T, *batch); NaN where either record has stopped
    max: np.ndarray       # (*batch); inf where either record stopped early
    final: np.ndarray     # (*batch)

    def __repr__(self) -> str:
        largest = float(np.max(self.max)) if np.size(self.max) else float("nan")
        return (f"Comparison({len(self.t)} samples, batch {np.shape(self.max)}: largest distance {largest:.3g}, "
                f"final {float(np.max(self.final)) if np.size(self.final) else float('nan'):.3g})")


def compare(a: Trajectory, b: Trajectory) -> Comparison:
    """``|a.x − b.x|`` at every common sample time, its maximum and its final value."""
    if a.x.shape != b.x.shape:
        raise ValueError(f"cannot compare records of shapes {a.x.shape} and {b.x.shape}")
    ta, tb = np.broadcast_arrays(np.asarray(a.t), np.asarray(b.t))
    if not np.allclose(ta, tb, rtol=1e-12, atol=0):
        raise ValueError("the records are sampled at different times; integrate the flow at the run's times (t=run.t)")
    with np.errstate(invalid="ignore"):
        distance = np.linalg.norm(a.x - b.x, axis=-1)
    stopped = np.isnan(distance)
    largest = np.max(np.where(stopped, -np.inf, distance), axis=0)
    return Comparison(t=a.t, distance=distance, max=np.where(stopped.any(axis=0), np.inf, largest),
                      final=distance[-1])
