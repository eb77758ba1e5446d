"""Run several optimizers from the same start(s): iterates, their flows, and the distance between."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._inputs import resolve
from .continuous import integrate
from .discrete import iterate
from .landscapes import Landscape
from .optimizers import Optimizer, optimizer
from .spec import parse_spec
from .output import save_npz
from .trajectory import Comparison, Trajectory, compare, sample_times

__all__ = ["Entry", "Experiment", "run_experiment"]


@dataclass(frozen=True, eq=False)
class Entry:
    """One optimizer: its iterates, its flow (finely sampled) and their distance at the iterates' times."""

    optimizer: Optimizer
    iterates: Trajectory
    flow: Trajectory
    flow_every: int  # flow.every(flow_every) is sampled at iterates.t
    comparison: Comparison

    @property
    def flow_at_steps(self) -> Trajectory:
        return self.flow.every(self.flow_every)


@dataclass(frozen=True, eq=False)
class Experiment:
    """What ``simulate plot`` shows: every optimizer run twice on one landscape."""

    landscape: Landscape
    x0: np.ndarray
    steps: int
    entries: tuple[Entry, ...]
    method: str
    rtol: float
    atol: float

    def arrays(self) -> dict[str, np.ndarray]:
        """The numbers behind the figure, keyed as documented in the README (``--data``)."""
        out = {"x0": self.x0, "landscape": np.array(self.landscape.label),
               "labels": np.array([e.optimizer.label for e in self.entries])}
        for i, e in enumerate(self.entries):
            out[f"time_per_step_{i}"] = np.asarray(e.optimizer.time_per_step)
            for kind, traj in (("iterates", e.iterates), ("flow", e.flow_at_steps)):
                out[f"{kind}_t_{i}"] = np.asarray(traj.t)
                out[f"{kind}_x_{i}"] = traj.x
                out[f"{kind}_f_{i}"] = traj.f
                out[f"{kind}_status_{i}"] = traj.status
                out[f"{kind}_diverged_at_{i}"] = traj.diverged_at
            out[f"distance_{i}"] = e.comparison.distance
        return out

    def save_npz(self, path):
        """Write :meth:`arrays` to ``path`` atomically."""
        return save_npz(path, self.arrays())


def run_experiment(landscape, optimizers: Sequence, x0=None, steps: int = 200, *, lr: float | None = None,
                   method: str = "LSODA", rtol: float = 1e-8, atol: float = 1e-10,
                   flow_samples: int = 400) -> Experiment:
    """Iterate each optimizer and integrate its continuous model from the same start(s).

    ``optimizers`` holds names, specs such as ``"adam(lr=0.01)"``, or optimizer objects. The flow
    ``lr``, if given, is the learning rate of every optimizer named by a string that does not set
    its own (optimizer objects are used as they are); it is an error if no optimizer takes it. The flow
    is sampled at least ``flow_samples`` times (so it draws as a smooth curve) and always at the
    iterates' own times, where the two are compared.
    """
    if isinstance(optimizers, (str, Optimizer)):
        optimizers = [optimizers]
    if not optimizers:
        raise ValueError("give at least one optimizer")
    if lr is not None:
        takes_lr = [isinstance(item, str) and "lr" not in parse_spec(item)[1] for item in optimizers]
        if not any(takes_lr):
            raise ValueError(f"lr={lr} would not be used: every optimizer sets its own lr")
        optimizers = [optimizer(item, lr=lr) if takes else item for item, takes in zip(optimizers, takes_lr)]
    entries = []
    for item in optimizers:
        opt, land, start = resolve(item, landscape, x0)
        run = iterate(opt, land, start, steps)
        every = max(1, math.ceil(flow_samples / max(steps, 1)))
        fine = sample_times(opt, steps, run.batch_shape, per_step=every)
        flow = integrate(opt, land, start, fine, method=method, rtol=rtol, atol=atol)
        entries.append(Entry(opt, run, flow, every, compare(run, flow.every(every))))
    return Experiment(land, np.asarray(start), steps, tuple(entries), method, rtol, atol)
