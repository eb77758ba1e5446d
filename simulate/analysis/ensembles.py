r"""Ensembles of noisy paths, compared as distributions: moments, stationary laws, escape times.

:func:`ensemble` runs each optimizer ``paths`` times from one start with stochastic gradients,
integrates its SDE (:mod:`simulate.sdes`) for as many paths and its deterministic flow once, and
keeps the three side by side. The comparisons are distributional (theory §5):

* :func:`moments`: mean and covariance over the paths at every sample time;
* :func:`gibbs_marginal`: the Gibbs density ∝ exp(−f/T) at the optimizer's temperature
  (:func:`temperature`, T = lr·σ²/(2(1 − μ)) for isotropic gradient noise σ), against which a
  stationary histogram is drawn: ``dX = −∇f dt + √(2T) dW`` has exactly this invariant density;
* :func:`escape_times`: the first time each path reaches another minimum, against the
  Eyring–Kramers prediction :func:`kramers_time` ∝ exp(ΔL/T).

Every path's noise is its own and seeded: the iterates of optimizer i and its SDE draw from
streams spawned from ``seed`` (``SeedSequence([seed, i, 0])`` and ``[seed, i, 1]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._checks import checked
from .._signature import public, renamed
from ..landscapes.base import short_label
from ..solvers.inputs import resolve
from ..solvers.continuous import MAX_SECONDS, Stepping, integrate
from ..solvers.discrete import check_seed, iterate, spawned_seed
from .experiment import with_lr
from ..landscapes.games import refuse_game
from ..landscapes import Landscape
from ..solvers.noise import Noise, noise as noise_model
from ..optimizers import Optimizer
from ..io.files import save_npz
from ..models import flow as make_flow, no_model
from ..solvers.noise import whole
from ..solvers.sdes import sde, sde_model
from ..solvers.trajectory import Trajectory, check_run_memory, record_bytes

__all__ = ["Moments", "moments", "temperature", "gibbs_marginal", "escape_times", "mean_escape_time", "watched",
           "running", "relaxed", "kramers_time",
           "find_saddle",
           "EnsembleEntry", "Ensemble", "ensemble", "DEFAULT_PATHS", "MAX_PATHS"]

DEFAULT_PATHS = 200
MAX_PATHS = 100_000
#: Stationary statistics pool the samples from this fraction of the horizon on.
STATIONARY_FROM = 0.5


@dataclass(frozen=True, eq=False)
class Moments:
    """Mean ``(T, d)``, covariance ``(T, d, d)`` and number of live paths ``(T,)`` at times ``t``."""

    t: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    count: np.ndarray

    @property
    def std(self) -> np.ndarray:
        """Standard deviation of each coordinate, ``(T, d)``."""
        return np.sqrt(np.diagonal(self.cov, axis1=-2, axis2=-1))


def running(traj: Trajectory) -> np.ndarray:
    """``(T, *batch)``: True where a member had not stopped. The sample at ``diverged_at`` (the value
    that left the escape ball, possibly finite) and the NaN ones after it are out."""
    k = np.arange(len(traj.x)).reshape((-1,) + (1,) * len(traj.batch_shape))
    stop = np.where(traj.diverged_at < 0, len(traj.x), traj.diverged_at)
    return (k < stop) & np.all(np.isfinite(traj.x), axis=-1)


def moments(traj: Trajectory) -> Moments:
    """Moments over the paths (axis 1 of ``traj.x`` ``(T, n, d)``) of the members still running.

    Paths that diverged are left out from the sample where they stopped (the escaping value
    included), and ``count`` says how many remain; the covariance is the unbiased one (NaN below
    2 paths).
    """
    x = traj.x
    if x.ndim != 3:
        raise ValueError(f"moments need a record of paths (T, n, d), got shape {x.shape}")
    live = running(traj)
    count = live.sum(axis=1)
    z = np.where(live[..., None], x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = z.sum(axis=1) / count[:, None]
        c = np.where(live[..., None], x - mean[:, None], 0.0)
        cov = np.einsum("tni,tnj->tij", c, c) / (count - 1)[:, None, None]
    t = np.asarray(traj.t)
    return Moments(t=t if t.ndim == 1 else t[:, 0], mean=mean, cov=cov, count=count)


def relaxed(traj: Trajectory, z: float = 4.0) -> bool | None:
    """Whether the paths look stationary over the last half of the run: each path's averages of
    x and x² over the third and the last quarter, compared across the (independent) paths, differ
    by less than ``z`` standard errors in every coordinate. None with fewer than 10 running paths
    or 8 samples; False where the ensemble still drifts or spreads (a histogram of the last half
    is then not yet a stationary law)."""
    T = len(traj.x)
    if T < 8:
        return None
    q2, q3 = T // 2, (3 * T) // 4
    live = running(traj)[-1]
    x = traj.x[:, live] if traj.x.ndim == 3 else None
    if x is None or x.shape[1] < 10:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        for moment in (x, x * x):
            early, late = moment[q2:q3].mean(axis=0), moment[q3:].mean(axis=0)  # (paths, d)
            gap = late - early
            se = gap.std(axis=0, ddof=1) / np.sqrt(len(gap))
            if not np.all(np.abs(gap.mean(axis=0)) <= z * se + 1e-12 * (1 + np.abs(early.mean(axis=0)))):
                return False
    return True


def temperature(opt: Optimizer, noise: Noise | None) -> float | None:
    """The Gibbs temperature T of SGD with isotropic Gaussian gradient noise σ: its small-lr SDE
    ``dX = −∇f/(1 − μ) dt + √lr·σ/(1 − μ) dW`` has invariant density ∝ exp(−f/T) with
    T = lr·σ²/(2(1 − μ)). None where there is no such law: anisotropic or minibatch noise (Σ not
    a multiple of I), or an optimizer outside the SGD family. With dampening τ the speed is
    (1 − τ)/(1 − μ) and T = lr·(1 − τ)·σ²/(2(1 − μ))."""
    if (noise is None or opt.schedule is not None or opt.transformed or opt.batch_shape != () or noise.batch_size is not None
            or noise.cov is not None or noise.scale.ndim != 0 or noise.scale == 0):
        return None
    T = opt.gibbs_temperature(noise.scale)
    return T if T is not None and math.isfinite(T) else None


def _gibbs_loss(opt: Optimizer, landscape: Landscape, x) -> np.ndarray:
    """The loss whose Gibbs law the SGD family samples: f plus torch's coupled weight decay."""
    return opt.coupled_value(x, landscape)


def gibbs_marginal(landscape: Landscape, T: float, axis: int = 0, *, bounds=None, resolution: int = 400,
                   opt: Optimizer | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The marginal density of coordinate ``axis`` under ∝ exp(−f/T), normalized over the plot box.

    Returns ``(grid, density)``. Exact quadrature on a grid, so 1-D and 2-D landscapes only.
    ``opt`` adds its coupled weight decay to f.
    """
    if not (T > 0 and math.isfinite(T)):
        raise ValueError(f"the temperature must be positive and finite, got {T}")
    d = landscape.dim
    if d > 2:
        raise ValueError(f"the Gibbs marginal is computed on a grid: 1-D and 2-D landscapes only ({landscape.name} "
                         f"is {d}-D)")
    box = np.asarray(landscape.bounds if bounds is None else bounds, dtype=np.float64)
    axes = [np.linspace(lo, hi, resolution) for lo, hi in box]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    f = landscape.value(points) if opt is None else _gibbs_loss(opt, landscape, points)
    weight = np.exp(-(f - np.min(f)) / T)
    for other in reversed(range(d)):
        if other != axis:
            weight = np.trapezoid(weight, axes[other], axis=other)
    return axes[axis], weight / np.trapezoid(weight, axes[axis])


def escape_times(traj: Trajectory, capture: float | None = None, home=None) -> np.ndarray:
    """For each path, the first sample time at which it is within ``capture`` of a listed minimum
    other than its home; ``inf`` for paths that never arrive (censored).

    ``home`` is a point whose nearest listed minimum is every path's home, e.g. where the
    noiseless flow from the start ends (:class:`Ensemble` passes that); by default each path's
    home is the minimum nearest its start, so start the paths in a well. ``capture`` defaults to a
    quarter of the distance from home to the nearest other minimum: a path counts as escaped when
    it has reached the other well, not merely the barrier (there it would still fall back half of
    the time). Samples from a path's stop on (divergence) do not count.
    """
    minima = traj.landscape.minima
    if len(minima) < 2:
        raise ValueError(f"escape times need at least two listed minima; {traj.landscape.name} lists {len(minima)}")
    if capture is not None and not (capture > 0 and math.isfinite(capture)):
        raise ValueError(f"capture must be a positive distance, got {capture!r}")
    x = traj.x if traj.x.ndim == 3 else traj.x[:, None]
    anchor = x[0] if home is None else np.broadcast_to(np.asarray(home, dtype=np.float64), x[0].shape)
    start = np.argmin(np.linalg.norm(anchor[:, None] - minima, axis=-1), axis=-1)  # (n,) each path's home
    gaps = np.linalg.norm(minima[:, None] - minima, axis=-1)
    np.fill_diagonal(gaps, np.inf)
    radius = 0.25 * gaps.min(axis=1)[start] if capture is None else np.full(start.shape, float(capture))
    with np.errstate(invalid="ignore", over="ignore"):  # a diverging path's distance is inf: data, not a warning
        dist = np.linalg.norm(x[:, :, None] - minima, axis=-1)  # (T, n, k)
    dist[:, np.arange(len(start)), start] = np.inf
    arrived = np.any(dist < radius[None, :, None], axis=-1) & running(traj).reshape(x.shape[:2])
    first = np.where(arrived.any(axis=0), arrived.argmax(axis=0), -1)
    t = np.broadcast_to(np.asarray(traj.t).reshape(len(x), -1), arrived.shape)
    return np.where(first >= 0, t[np.maximum(first, 0), np.arange(len(start))], np.inf)


def mean_escape_time(times: np.ndarray, horizon) -> float:
    """The mean escape time from first-arrival ``times`` censored at ``horizon`` (``inf`` = not yet;
    a number, or one per path: a path that diverged was watched until it stopped): the
    maximum-likelihood estimate for exponential waiting times, total time watched over escapes seen
    (``inf`` if none escaped). Averaging only the escaped paths would bias it low."""
    times = np.asarray(times, dtype=np.float64)
    escaped = int(np.isfinite(times).sum())
    return float(np.minimum(times, horizon).sum() / escaped) if escaped else float("inf")


def watched(traj: Trajectory) -> np.ndarray:
    """How long each path of ``traj`` was followed: to the end, or to the sample where it stopped."""
    t = np.broadcast_to(np.asarray(traj.t).reshape(len(traj.x), -1), (len(traj.x), traj.x.shape[1]))
    last = np.where(traj.diverged_at < 0, len(traj.x) - 1, traj.diverged_at)
    return t[last, np.arange(traj.x.shape[1])]


def find_saddle(landscape: Landscape, a, b, steps: int = 60) -> np.ndarray:
    """The index-1 saddle between minima ``a`` and ``b``: the highest point of the straight path,
    refined by Newton's method on ∇f = 0. Raises if Newton does not land on an index-1 saddle."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    s = np.linspace(0, 1, 201)[:, None]
    path = a + s * (b - a)
    x = path[np.argmax(landscape.value(path))]
    for _ in range(steps):
        g = landscape.grad(x)
        if np.linalg.norm(g) < 1e-13 * max(1.0, np.linalg.norm(x)):
            break
        x = x - np.linalg.lstsq(landscape.hess(x), g, rcond=None)[0]
    w = np.linalg.eigvalsh(landscape.hess(x))
    if not (np.linalg.norm(landscape.grad(x)) < 1e-8 and np.sum(w < 0) == 1):
        raise ValueError("no index-1 saddle found between the two minima; give the saddle explicitly")
    return x


def kramers_time(landscape: Landscape, T: float, minimum, saddle) -> float:
    """Eyring–Kramers mean transition time of ``dX = −∇f dt + √(2T) dW`` out of ``minimum`` over
    ``saddle``: ``2π/|λ⁻| · √(|det H_s| / det H_m) · exp((f_s − f_m)/T)``, λ⁻ the saddle's negative
    Hessian eigenvalue. Asymptotic as T → 0: relative corrections are O(T/ΔL)."""
    if not (T > 0 and math.isfinite(T)):
        raise ValueError(f"the temperature must be positive and finite, got {T}")
    Hm, Hs = landscape.hess(np.asarray(minimum, float)), landscape.hess(np.asarray(saddle, float))
    ws, wm = np.linalg.eigvalsh(Hs), np.linalg.eigvalsh(Hm)
    if not (np.sum(ws < 0) == 1 and np.all(ws != 0)):
        raise ValueError(f"the saddle must have exactly one negative Hessian eigenvalue; it has {ws}")
    if not np.all(wm > 0):
        raise ValueError(f"the minimum's Hessian must be positive definite; its eigenvalues are {wm}")
    barrier = float(landscape.value(np.asarray(saddle, float)) - landscape.value(np.asarray(minimum, float)))
    prefactor = 2 * np.pi / abs(ws[0]) * math.sqrt(abs(np.linalg.det(Hs)) / np.linalg.det(Hm))
    return float(prefactor * math.exp(barrier / T))


@dataclass(frozen=True, eq=False)
class EnsembleEntry:
    """One optimizer's paths with noise, its SDE's paths (None, with the reason, where it has
    none) and its deterministic flow from the same start (None where it has no continuous model)."""

    optimizer: Optimizer
    iterates: Trajectory
    sde: Trajectory | None
    sde_note: str
    flow: Trajectory | None

    @property
    def temperature(self) -> float | None:
        return temperature(self.optimizer, noise_model(self.iterates.stats.get("noise")))

    @property
    def home(self) -> np.ndarray | None:
        """Where the noiseless flow ended (its last finite point): escapes are counted from the
        listed minimum nearest it, the well the exact dynamics settles in. Without a flow, None:
        each path's home is then the minimum nearest its start (:func:`escape_times`)."""
        if self.flow is None:
            return None
        x = self.flow.x.reshape(len(self.flow.x), -1)
        seen = np.flatnonzero(np.all(np.isfinite(x), axis=-1))
        return x[seen[-1] if seen.size else 0]


@dataclass(frozen=True, eq=False)
class Ensemble:
    """What ``simulate plot --noise`` shows: each optimizer's paths as a distribution."""

    landscape: Landscape
    start: np.ndarray
    steps: int
    paths: int
    noise: Noise
    seed: int
    drift: str
    scheme: str
    substeps: int
    entries: tuple[EnsembleEntry, ...]

    x0 = renamed("start")  # its name before the attributes were named as the files name them

    def __repr__(self) -> str:
        return (f"Ensemble({', '.join(e.optimizer.label for e in self.entries)} on {short_label(self.landscape)}: "
                f"{self.paths} paths × {self.steps} steps, {self.noise.label}, seed {self.seed})")

    def stationary(self, traj: Trajectory) -> np.ndarray:
        """The samples ``(m, d)`` of the late part of the horizon, pooled over paths and times (of
        paths still running)."""
        start = int(len(traj.x) * STATIONARY_FROM)
        return traj.x[start:][running(traj)[start:]]

    def arrays(self) -> dict[str, np.ndarray]:
        """Every path, the flows and the moments (``--data``)."""
        out = {"start": self.start, "landscape": np.array(self.landscape.label), "noise": np.array(self.noise.label),
               "seed": np.array(self.seed), "paths": np.array(self.paths), "steps": np.array(self.steps),
               "drift": np.array(self.drift), "scheme": np.array(self.scheme), "substeps": np.array(self.substeps),
               "labels": np.array([e.optimizer.label for e in self.entries]),
               "specs": np.array([e.optimizer.spec for e in self.entries])}
        for i, e in enumerate(self.entries):
            for kind, traj in (("iterates", e.iterates), ("sde", e.sde), ("flow", e.flow)):
                if traj is None:
                    continue
                for name, value in traj.to_arrays().items():
                    out[f"{kind}_{name}_{i}"] = value
                if kind != "flow":
                    m = moments(traj)
                    out.update({f"{kind}_mean_{i}": m.mean, f"{kind}_cov_{i}": m.cov, f"{kind}_count_{i}": m.count})
        return out

    def to_pandas(self):
        """Every path as a tidy :class:`pandas.DataFrame`: the rows of
        :meth:`~simulate.solvers.trajectory.Trajectory.to_pandas` of each optimizer's noisy iterates
        (``kind`` iterates, ``member`` the path), its SDE's paths (sde) and its deterministic flow
        (flow), with ``entry``, the optimizer's index here (labels may repeat)."""
        from .._optional import optional

        pd = optional("pandas", "Ensemble.to_pandas")
        frames = [traj.to_pandas().assign(entry=i) for i, e in enumerate(self.entries)
                  for traj in (e.iterates, e.sde, e.flow) if traj is not None]
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> dict:
        """Per optimizer: final and stationary moments of the iterates and the SDE, the Gibbs
        temperature, and escape statistics where the landscape lists several minima."""
        optimizers = []
        for e in self.entries:
            entry = {"label": e.optimizer.label, "spec": e.optimizer.spec, "temperature": e.temperature,
                     "sde": e.sde.stats.get("scheme") if e.sde is not None else None, "sde_note": e.sde_note}
            for kind, traj in (("iterates", e.iterates), ("sde", e.sde)):
                if traj is None:
                    continue
                m = moments(traj)
                pooled = self.stationary(traj)
                entry[kind] = {"final_mean": m.mean[-1], "final_cov": m.cov[-1], "final_paths": int(m.count[-1]),
                               "diverged": int(np.sum(traj.diverged_at >= 0)), "relaxed": relaxed(traj),
                               "stationary_mean": pooled.mean(axis=0) if len(pooled) else None,
                               "stationary_cov": np.cov(pooled.T).reshape(self.landscape.dim, -1) if len(pooled) > 1 else None}
                if len(self.landscape.minima) >= 2:
                    times = escape_times(traj, home=e.home)
                    entry[kind]["escaped"] = int(np.isfinite(times).sum())
                    entry[kind]["mean_escape_time"] = mean_escape_time(times, watched(traj))
            if len(self.landscape.minima) == 2:
                entry["kramers_time"], entry["kramers_note"] = self.kramers(e)
            optimizers.append(entry)
        return {"landscape": self.landscape.label, "noise": self.noise.label, "seed": self.seed, "paths": self.paths,
                "steps": self.steps, "drift": self.drift, "scheme": self.scheme, "substeps": self.substeps,
                "optimizers": optimizers}

    def kramers(self, e: EnsembleEntry) -> tuple[float | None, str]:
        """Eyring–Kramers' mean escape time (in t) from the start's minimum to the other one of a
        landscape with two listed minima, on the optimizer's clock: the small-lr SDE runs ∇f at
        speed c = (1 − τ)/(1 − μ), so τ_K/c. ``(None, why)`` where it does not apply: no
        temperature, coupled weight decay (another loss), no saddle, a barrier not well above T
        (ΔL < 2T: the asymptotics fail), or a well the optimizer is unstable in."""
        from .sharpness import stability_threshold

        T, opt, land = e.temperature, e.optimizer, self.landscape
        if T is None:
            return None, "no Gibbs temperature for this optimizer and noise"
        if float(opt.weight_decay) != 0:
            return None, "weight decay changes the loss"
        near = np.argsort(np.linalg.norm(land.minima - e.home, axis=-1))
        home, other = land.minima[near[0]], land.minima[near[1]]
        try:
            saddle = find_saddle(land, home, other)
            time = kramers_time(land, T, home, saddle) * float((1 - opt.momentum) / (1 - opt._tau()))
        except (ValueError, np.linalg.LinAlgError, OverflowError) as exc:
            return None, str(exc)
        barrier = float(land.value(saddle) - land.value(home))
        limit = stability_threshold(opt)
        if limit is not None and np.max(np.linalg.eigvalsh(land.hess(home))) >= float(limit):
            return None, f"lr is past the stability threshold in the well (λmax ≥ {float(limit):.3g})"
        if barrier < 2 * T:
            return None, f"the barrier {barrier:.3g} is not well above T = {T:.3g}"
        return time, ""

    def save(self, path) -> Path:
        """Write :meth:`arrays` to an ``.npz`` file atomically."""
        return save_npz(path, self.arrays())


def ensemble_memory(optimizers, notes, samples: int, paths: int, dim: int) -> list[tuple[str, int]]:
    """The records an ensemble holds at once, for :func:`check_run_memory`: per optimizer its noisy
    iterates and (where ``notes`` gives no reason against) its SDE paths, ``samples x paths x dim``
    each, and its one flow."""
    parts = []
    for opt, note in zip(optimizers, notes):
        name = opt.label
        parts.append((f"{name}'s noisy iterates ({samples} x {paths} x {dim})", record_bytes(samples, paths, dim)))
        if not note:
            parts.append((f"{name}'s SDE paths ({samples} x {paths} x {dim})", record_bytes(samples, paths, dim)))
        parts.append((f"{name}'s flow ({samples} x 1 x {dim})", record_bytes(samples, 1, dim, flow=True)))
    return parts


@public
@checked
def ensemble(landscape, optimizers, start=None, steps: int = 200, *, noise=None, batch_size: int | None = None, paths: int = DEFAULT_PATHS,
             seed: int = 0, drift: str | None = None, scheme: str = "euler-maruyama", substeps: int = 10,
             method: str = "LSODA", rtol: float = 1e-8, atol: float = 1e-10, max_evaluations: int | None = None,
             max_seconds: float | None = MAX_SECONDS) -> Ensemble:
    """Run each optimizer ``paths`` times from ``start`` with gradient ``noise`` (and/or minibatches of
    ``batch_size``), its SDE as often
    (``drift``, ``scheme``, ``substeps`` as in :func:`simulate.sdes.sde`; optimizers outside the
    SGD family get none, and the entry says why) and its deterministic flow once (the drift's flow;
    each optimizer's own outside the SGD family; ``max_evaluations`` and ``max_seconds`` bound it as
    in :func:`~simulate.solvers.continuous.integrate`). An ensemble whose records would not fit in
    memory (:func:`~simulate.solvers.trajectory.check_run_memory`) is refused before any work."""
    optimizers = with_lr(optimizers)
    paths = whole("paths", paths, 1, MAX_PATHS)
    seed = check_seed(seed)
    model = noise_model(noise, batch_size=batch_size)
    if model is None:
        raise ValueError("an ensemble needs gradient noise (noise=σ, or batch_size on a finite-sum landscape)")
    resolved = [resolve(item, landscape, start) for item in optimizers]
    land, start = resolved[0][1], resolved[0][2]
    refuse_game(land, "an ensemble of noisy paths (its SDE, temperature and Gibbs density)")
    if start.ndim != 1:
        raise ValueError("an ensemble starts every path at one point: give one start (paths sets how many)")
    model.check(land)
    for opt, _, _ in resolved:
        if opt.batch_shape != ():
            raise ValueError(f"{opt.label}: an ensemble runs one configuration; sweep hyperparameters with sweep()")
    scheme = str(scheme).strip().lower()
    notes = []
    for opt, _, _ in resolved:  # every model exists, or is known missing, before any work
        refusal = opt.sde_refusal()
        if refusal:
            notes.append(refusal)
        elif opt.schedule is not None or opt.transformed:
            notes.append(f"no SDE model for {opt.label}: the stochastic modified equations assume a constant lr "
                         f"and the plain gradient")
        else:
            sde_model(opt, drift, scheme, model)  # a bad drift or scheme is the user's to fix
            notes.append("")
        if drift is not None or not no_model(opt):
            make_flow(opt, drift if refusal is None else None)
    check_run_memory(ensemble_memory([opt for opt, _, _ in resolved], notes, int(steps) + 1, paths, land.dim),
                     "fewer --paths or fewer --steps")
    stepping = Stepping(method, **({} if max_evaluations is None else {"max_evaluations": max_evaluations}),
                        max_seconds=max_seconds)
    starts = np.broadcast_to(start, (paths, land.dim))
    entries = []
    for i, ((opt, _, _), note) in enumerate(zip(resolved, notes)):
        run = iterate(land, opt, starts, steps, noise=model, seed=spawned_seed(seed, i, 0))
        paths_sde = None if note else sde(land, opt, starts, steps, noise=model, drift=drift, scheme=scheme,
                                          substeps=substeps, seed=spawned_seed(seed, i, 1))
        flow = None if drift is None and no_model(opt) else integrate(
            land, opt, start, run.t, steps=steps, flow=drift if opt.sde_refusal() is None else None,
            stepping=stepping, rtol=rtol, atol=atol)
        entries.append(EnsembleEntry(opt, run, paths_sde, note, flow))
    return Ensemble(land, start, int(steps), int(paths), model, seed, drift or "exact", scheme, int(substeps),
                    tuple(entries))
