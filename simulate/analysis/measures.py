"""What a sweep measures in each cell: the end of the run, and the metrics watched at every step.

The end (:func:`endpoint_metrics`): loss, distance to the nearest listed minimum, which minimum.
Every step (:class:`Accumulator`, the numpy loop's visitor): the first step meeting the criterion
(:func:`criterion`), the contraction rate over windows (:class:`RateWindows`), and the verdict
from envelopes over the run's last half (:class:`VerdictWindows`). :func:`tracking` lays the same
windows out as a plan for the compiled loop (:mod:`simulate.solvers.tracking`), and
:func:`tracked_metrics` turns what it measured into the same metrics, bit for bit.
"""

from __future__ import annotations

import numpy as np

from ..landscapes import Landscape
from ..landscapes.games import is_game
from ..solvers.engine import recorded_steps
from ..solvers.tracking import MAX_RATE_MINIMA, Tracked, Tracking

__all__ = ["VERDICTS", "VERDICT_TOLERANCE", "ROUNDOFF", "MAX_RATE_MINIMA", "nearest", "criterion", "endpoint_metrics",
           "Accumulator", "RateWindows", "VerdictWindows", "tracking", "tracked_metrics"]

#: The names of the verdicts, by code (see :class:`VerdictWindows`).
VERDICTS = ("converged", "converging", "stalled", "cycling", "spiralling out", "diverged")
#: How much the distance's envelope must shrink or grow over the run's last half (relative) to
#: count as converging or spiralling out rather than cycling.
VERDICT_TOLERANCE = 0.05
#: Distances below this (times 1 + the minima's size) are roundoff, not dynamics: no rate from them.
ROUNDOFF = 1e-12


def nearest(land: Landscape, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the nearest listed minimum and its index, for points ``(..., d)`` (NaN/-1 if none)."""
    if not len(land.minima):
        return np.full(x.shape[:-1], np.nan), np.full(x.shape[:-1], -1)
    with np.errstate(invalid="ignore"):
        d = np.linalg.norm(x[..., None, :] - land.minima, axis=-1)
    finite = np.all(np.isfinite(x), axis=-1)
    which = np.argmin(np.where(np.isnan(d), np.inf, d), axis=-1)
    return np.where(finite, np.take_along_axis(d, which[..., None], -1)[..., 0], np.nan), which


def _distance(land: Landscape):
    """What the sweep measures progress by, as a function of points, or None: the distance to the
    nearest listed minimum, on a game its own distance to the equilibrium (Su's GANs: |θ|)."""
    if is_game(land):
        return land.distance if land.measures_distance else None
    return (lambda x: nearest(land, x)[0]) if len(land.minima) else None


def criterion(land: Landscape, tol: float):
    """``steps_to_tol``'s criterion as text and as a test of points: ``f − f* <= tol`` where minima
    are listed, on a game ``distance <= tol`` (its ½|ξ|² vanishes also where a GAN's loss
    saturates), else ``|∇f| <= tol`` (``|ξ|`` on a game)."""
    distance = _distance(land) if is_game(land) else None
    if distance is not None:
        return f"distance <= {tol:g}", lambda x: distance(x) <= tol
    if len(land.minima) and not is_game(land):
        fstar = land.lowest_minimum_value()
        return f"f − f* <= {tol:g}", lambda x: land.value(x) - fstar <= tol
    return f"{'|ξ|' if is_game(land) else '|∇f|'} <= {tol:g}", lambda x: np.linalg.norm(land.grad(x), axis=-1) <= tol


def endpoint_metrics(land: Landscape, x: np.ndarray, diverged: np.ndarray, near: float) -> dict:
    """Metrics of last points (NaN where a run stopped): loss, distance, minimum reached."""
    with np.errstate(all="ignore"):
        x = np.where(diverged[..., None], np.nan, x)
        loss = land.value(x)
    distance, which = nearest(land, x)
    minimum = np.where(distance <= near, which, -1)
    if is_game(land):  # the game's own distance (Su's GANs: the generator's |θ|)
        distance = land.distance(x)
    return {"final_loss": loss, "distance": distance, "minimum": np.where(diverged, -2, minimum),
            "diverged": diverged.astype(np.int64), "_last": x}


class Accumulator:
    """The per-step visitor of one optimizer's run: the criterion's first hit, the rate, the end."""

    def __init__(self, land, steps, tol, met, record_every, grid, bar, track, judge=True):
        self.land, self.steps, self.tol, self.met, self.bar = land, steps, tol, met, bar
        self.track = track
        self.reached = np.full(grid, -1)
        self.pending = "steps_to_tol" in track  # some member has not met the criterion yet
        self.last = np.full(grid + (land.dim,), np.nan)
        distance = _distance(land)
        self.rate = RateWindows(land, steps, grid) if "rate" in track and distance is not None and (
            is_game(land) or len(land.minima) <= MAX_RATE_MINIMA) else None
        # what the rate and the verdict measure, once per step for both; without a distance the
        # verdict watches |∇f| (|ξ|) instead
        self.measure = distance or (lambda x: np.linalg.norm(land.grad(x), axis=-1))
        self.verdict = VerdictWindows(steps, grid, positional=distance is not None) if "verdict" in track and judge \
            else None
        self.every = record_every
        self.path = None
        if record_every:
            self.path = np.full((len(recorded_steps(steps, record_every)),) + grid + (land.dim,), np.nan)
        self.last_step = 0

    def visit(self, k, x, diverged_at):
        live = None if diverged_at is None else (diverged_at < 0)
        if self.pending:
            with np.errstate(all="ignore"):
                met = self.met(x)
            hit = met & (self.reached < 0)
            if live is not None:
                hit &= live
            self.reached[hit] = k
            self.pending = bool((self.reached < 0).any())
        if self.rate is not None or self.verdict is not None:
            measured = []

            def d():  # the measure at this step, computed only where a window asks for it
                if not measured:
                    with np.errstate(invalid="ignore"):
                        measured.append(self.measure(x))
                return measured[0]

            if self.rate is not None:
                self.rate.visit(k, d)
            if self.verdict is not None:
                self.verdict.visit(k, x, d)
        if k == self.steps:
            self.last = x.copy()
        if self.every and (k % self.every == 0 or k == self.steps):
            shown = x if diverged_at is None else np.where(((diverged_at < 0) | (diverged_at == k))[..., None], x,
                                                            np.nan)
            self.path[-(-k // self.every)] = shown
        if k:
            self.bar.advance(1)
        self.last_step = k

    def metrics(self, diverged_at: np.ndarray, near: float) -> dict:
        diverged = diverged_at >= 0
        out = endpoint_metrics(self.land, self.last, diverged, near)
        out["diverged_at"] = diverged_at
        if "steps_to_tol" in self.track:
            out["steps_to_tol"] = self.reached
        if "rate" in self.track:
            out["rate"] = np.where(diverged, np.nan, np.nan if self.rate is None else self.rate.rate)
        if "verdict" in self.track:
            out["verdict"] = np.full(diverged.shape, -1) if self.verdict is None else \
                self.verdict.verdicts(diverged, self.tol)
        return out


def rate_windows(steps: int) -> list[tuple[int, int, int]]:
    """The rate's windows ``(a, b, L)`` over a run of ``steps``: ``[a, b] = [k/2, k]`` for k growing
    by 1.25× up to the last step, envelopes over ``L = (b − a)/4`` steps at both ends."""
    ends = sorted({int(1.25**j) for j in range(200) if 2 <= int(1.25**j) <= steps} | ({steps} if steps >= 2 else set()))
    return [(b // 2, b, (b - b // 2) // 4) for b in ends]


def _rate_floor(land: Landscape) -> float:
    return ROUNDOFF * (1 + np.max(np.abs(land.minima), initial=0.0))


class RateWindows:
    """The per-step contraction of the distance d_k to the nearest listed minimum.

    Windows [a, b] = [k/2, k], with k growing by 1.25× up to the last step. A window's rate is
    ``(D_b / D_a)^(1/(b − a))``, with D_p the largest d over [p − L, p] and L = (b − a)/4 the same
    at both ends: an envelope that an oscillation's zero crossings cannot pull down, and exact
    for a pure geometric decay. The latest window whose end is still clear of roundoff gives the
    rate, so a run that reaches its minimum to machine precision early is measured before it got
    there. Only the envelopes of open windows are held (a few grids), whatever the run's length.
    """

    def __init__(self, land, steps, grid):
        self.windows = rate_windows(steps)
        self.envelope: dict[tuple[int, int], np.ndarray] = {}  # (window's b, a or b) -> max d so far
        self.rate = np.full(grid, np.nan)
        self.floor = _rate_floor(land)

    def visit(self, k, distance):
        """Step k; ``distance()`` gives d_k."""
        live = [(b, p, L) for a, b, L in self.windows for p in (a, b) if p - L <= k <= p]
        if not live:
            return
        d = distance()
        for b, p, L in live:
            key = (b, p)
            self.envelope[key] = d if k == p - L else np.fmax(self.envelope[key], d)
        for a, b, L in self.windows:
            if b == k:
                da, db = self.envelope.pop((b, a)), self.envelope.pop((b, b))
                with np.errstate(all="ignore"):
                    ok = (db > self.floor) & (da > 0) & np.isfinite(da) & np.isfinite(db)
                    self.rate = np.where(ok, (db / da) ** (1.0 / (b - a)), self.rate)


class VerdictWindows:
    """How a run ends (:data:`VERDICTS`), from a distance d_k measured over its last half.

    The envelopes D₁ = max d over steps [K/4, K/2] and D₂ = max d over [3K/4, K] (maxima: an
    orbit's phase cannot pull them down) and the spread of the points over [K/2, K] (the largest
    extent of their bounding box) give, in this order, with δ = VERDICT_TOLERANCE: diverged;
    converged (d <= tol at the end); stalled (spread <= tol, or, where d is a distance, spread
    <= δ·D₂: the points hardly move, short of the criterion: a plateau, a crawl); converging
    (D₂ < D₁/(1 + δ)); spiralling out (D₂ > D₁·(1 + δ)); else cycling (they move, and their distance
    does not change). An orbit slower than a quarter of the run cannot be told from a drift.
    """

    def __init__(self, steps, grid, positional: bool = True):
        self.steps, self.positional = steps, positional
        self.windows = ((steps // 4, steps // 2), (3 * steps // 4, steps))
        self.envelopes = [np.full(grid, -np.inf), np.full(grid, -np.inf)]
        self.low = self.high = None
        self.final = np.full(grid, np.nan)  # d at the last step (NaN for a member that stopped before)

    def visit(self, k, x, distance):
        """Step k at points x; ``distance()`` gives d_k (the last step lies in the second window)."""
        for envelope, (a, b) in zip(self.envelopes, self.windows):
            if a <= k <= b:
                np.fmax(envelope, distance(), out=envelope)
        if k == self.steps:
            self.final = distance()
        if k >= self.steps // 2:
            if self.low is None:
                self.low, self.high = x.copy(), x.copy()
            else:
                np.fmin(self.low, x, out=self.low)
                np.fmax(self.high, x, out=self.high)

    def verdicts(self, diverged: np.ndarray, tol: float) -> np.ndarray:
        if self.high is None:  # every member stopped before the last half
            return np.where(diverged, 5, -1)
        return verdicts(*self.envelopes, self.final, self.low, self.high, diverged, tol, self.positional)


def verdicts(first, last, final, low, high, diverged, tol: float, positional: bool) -> np.ndarray:
    """The verdict codes from the envelopes ``first``/``last``, the measure at the last step
    ``final`` and the last half's bounding box ``low``/``high`` (see :class:`VerdictWindows`)."""
    with np.errstate(invalid="ignore"):
        met = final <= tol
        spread = np.max(high - low, axis=-1)
        out = np.where(last > first * (1 + VERDICT_TOLERANCE), 4, 3)
        out = np.where(last < first / (1 + VERDICT_TOLERANCE), 1, out)
    still = np.maximum(tol, VERDICT_TOLERANCE * last) if positional else tol
    out = np.where(spread <= still, 2, out)
    out = np.where(met, 0, out)
    return np.where(diverged, 5, out)


def tracking(land: Landscape, steps: int, tol: float, track, judge: bool = True) -> Tracking | None:
    """The compiled loop's plan for the ``track``-ed metrics of a sweep on ``land`` (what
    :class:`Accumulator` watches, laid out as tables), or None where the loop cannot measure them
    (a game: its criterion and distance are the game's own)."""
    if is_game(land):
        return None
    distance = _distance(land)
    minima = np.asarray(land.minima, dtype=np.float64).reshape(-1, land.dim)
    rate = "rate" in track and distance is not None and len(minima) <= MAX_RATE_MINIMA
    verdict = "verdict" in track and judge
    if not ("steps_to_tol" in track or rate or verdict):
        return None
    return Tracking(steps=int(steps), criterion=("value" if len(minima) else "grad") if "steps_to_tol" in track else "",
                    tol=float(tol), fstar=float(land.lowest_minimum_value()) if len(minima) else 0.0, minima=minima,
                    windows=tuple(rate_windows(steps)) if rate else (), floor=_rate_floor(land),
                    verdict=VerdictWindows(steps, ()).windows if verdict else ())


def tracked_metrics(land: Landscape, plan: Tracking | None, tracked: Tracked | None, last: np.ndarray,
                    diverged_at: np.ndarray, near: float, track) -> dict:
    """A compiled run's metrics, as :meth:`Accumulator.metrics` gives them: the end's
    (:func:`endpoint_metrics`) and the ``track``-ed ones, which the loop measured by ``plan``
    into ``tracked`` (both None when nothing was tracked)."""
    diverged = diverged_at >= 0
    out = endpoint_metrics(land, last, diverged, near)
    out["diverged_at"] = diverged_at
    if "steps_to_tol" in track:
        out["steps_to_tol"] = tracked.reached
    if "rate" in track:
        out["rate"] = np.where(diverged, np.nan, tracked.rate if plan is not None and plan.windows else np.nan)
    if "verdict" in track:
        judged = plan is not None and bool(plan.verdict)
        out["verdict"] = verdicts(tracked.first, tracked.last, tracked.final, tracked.low, tracked.high, diverged,
                                  plan.tol, _distance(land) is not None) if judged else np.full(diverged.shape, -1)
    return out
