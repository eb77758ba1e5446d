"""torch.optim.LBFGS (no line search): one step is torch's whole inner loop."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.base import Flow
from .base import Optimizer
from .hyper import hyper, lr_hyper

__all__ = ["LBFGS", "NewtonFlow"]

NO_LIFT = ("L-BFGS has no exact lift or β-fixed limit: one step is a variable number of inner iterations with "
           "stopping tests and a secant history, not a fixed-dimension state with a rate; its idealization is "
           "the 'newton' flow")


def _dot(a, b):
    return np.einsum("...i,...i->...", a, b)[..., None]


@dataclass(frozen=True)
class LBFGS(Optimizer):
    r"""L-BFGS: ``torch.optim.LBFGS`` with ``line_search_fn=None`` (Nocedal & Wright, Alg. 7.4).

    One ``step`` is one ``torch.optim.LBFGS.step(closure)``: evaluate f and g at x, return at once if
    ``max|g| ≤ tolerance_grad``, else run up to ``max_iter`` inner iterations::

        (s, y) = (t·d, g − g_prev) kept if yᵀs > 1e-10 (the oldest dropped beyond history_size)
        d = −H·g by the two-loop recursion, H₀ = (yᵀs/yᵀy)·I of the newest pair (d = −g at the very first)
        t = min(1, 1/‖g‖₁)·lr at the very first iteration of the run, lr after
        stop if gᵀd > −tolerance_change;   x ← x + t·d;   f, g at x (not after the max_iter-th)
        stop at max_iter, max_eval evaluations, max|g| ≤ tolerance_grad, max|t·d| ≤ tolerance_change
        or |Δf| < tolerance_change

    ``max_eval`` None is ``max_iter·5//4`` (torch's). The whole history is the state (torch's
    ``old_stps``/``old_dirs`` as components ``s0…`` and ``y0…``, oldest first, ``count`` of them
    kept), with the last direction ``d``, step ``t``, gradient ``g_prev``, loss ``loss_prev`` and the
    run's iteration count ``iters``; scalars are kept per coordinate. Members of a batch (and
    hyperparameter arrays) run their own number of inner iterations. Agreement with torch is to
    rounding amplified by the recursion, not bitwise: torch's ``dot`` sums in another order (theory
    §10.3: 1.8e-10 at the defaults). The strong-Wolfe line search is not replicated.

    Clock: ``h = lr·max_iter`` per step, as if each inner iteration were a damped Newton step of
    size lr. There is no lift (a variable number of iterations with stopping tests); the Newton
    flow (:class:`NewtonFlow`) is an idealization only.
    """

    name: ClassVar[str] = "lbfgs"
    description: ClassVar[str] = "torch.optim.LBFGS (no line search): one step = torch's inner quasi-Newton iterations"

    lr: float = lr_hyper(1.0)
    max_iter: float = hyper(20, ">= 1", note="inner iterations per step", sweep=False)
    max_eval: float | None = None
    tolerance_grad: float = hyper(1e-7, ">= 0", note="a step ends where max|g| is below it")
    tolerance_change: float = hyper(1e-9, ">= 0", note="a step ends where the move or the loss change is below it")
    history_size: float = hyper(100, ">= 1", note="the (s, y) pairs kept", sweep=False)
    line_search_fn: str | None = None

    clock_formula: ClassVar[str] = "lr·max_iter"
    default_flow: ClassVar[str] = "newton"
    scales_its_update: ClassVar[bool] = False
    step_varies: ClassVar[str] = "one step is a variable number of quasi-Newton iterations with a secant history"

    @property
    def evaluations_per_step(self) -> int:
        """``min(max_iter, max_eval)``: one step evaluates the gradient once, then once after every
        inner iteration but the last, and at most ``max_eval`` times (torch stops sooner at its
        tolerances); a budget of evaluations (:func:`simulate.tune`, ``order --x evaluations``)
        charges the most one step can take."""
        return int(np.max(np.minimum(self.max_iter, self.max_eval)))

    @classmethod
    def hyperparameters(cls):
        out = dict(super().hyperparameters())
        out["max_eval"] = dataclasses.replace(out["max_iter"], rule="must be >= 1 (function evaluations per step)")
        return {k: out[k] for k in (f.name for f in dataclasses.fields(cls)) if k in out}

    def __post_init__(self):
        if self.line_search_fn is not None:
            raise ValueError(f"lbfgs: line_search_fn={self.line_search_fn!r} is not supported: torch's strong-Wolfe "
                             f"line search is not replicated here (its bracketing and cubic interpolation are not "
                             f"checked step for step against torch); use line_search_fn=None")
        if self.max_eval is None:  # torch's default; a max_iter that is no number is refused below, by name
            try:
                with np.errstate(all="ignore"):
                    object.__setattr__(self, "max_eval", np.asarray(self.max_iter, dtype=np.float64) * 5 // 4)
            except (TypeError, ValueError, OverflowError):
                object.__setattr__(self, "max_eval", 25.0)
        super().__post_init__()

    def _validate(self):
        for name in ("max_iter", "max_eval", "history_size"):
            value = getattr(self, name)
            self._require(name, value == np.round(value), "must be a whole number")

    def _changed(self):
        out = super()._changed()
        if np.all(self.max_eval == np.asarray(self.max_iter) * 5 // 4):
            out.pop("max_eval", None)  # torch's default, max_iter·5//4
        return out

    @classmethod
    def models(cls):
        return {"exact": NO_LIFT, "limit": NO_LIFT, "newton": NewtonFlow}

    @property
    def time_per_step(self):
        return np.asarray(self.lr) * np.asarray(self.max_iter)

    @property
    def _m(self) -> int:
        return int(np.max(self.history_size))

    def state_names(self):
        m = self._m
        return ("count", *(f"s{i}" for i in range(m)), *(f"y{i}" for i in range(m)),
                "d", "t", "g_prev", "loss_prev", "iters", "x")

    # -- the step ------------------------------------------------------------------------------
    def step(self, state, landscape, k):
        m = self._m
        x = state["x"].copy()
        S = np.stack([state[f"s{i}"] for i in range(m)], axis=-2)  # (..., m, d)
        Y = np.stack([state[f"y{i}"] for i in range(m)], axis=-2)
        count, iters = state["count"][..., :1].copy(), state["iters"][..., :1].copy()
        d, g_prev = state["d"].copy(), state["g_prev"].copy()
        t, loss_prev = state["t"][..., :1].copy(), state["loss_prev"][..., :1].copy()
        b = self._b
        lr, max_iter, max_eval = b(self.lr), b(self.max_iter), b(self.max_eval)
        tol_grad, tol_change, hist = b(self.tolerance_grad), b(self.tolerance_change), b(self.history_size)

        loss = landscape.value(x)[..., None]
        g = landscape.grad(x)
        active = ~(np.max(np.abs(g), axis=-1, keepdims=True) <= tol_grad)
        n_local = np.zeros_like(count)
        evals = np.ones_like(count)
        slots = np.arange(m)
        while np.any(active):
            n_local = n_local + active
            iters = iters + active
            first = iters == 1
            # the newest pair (s, y) from the previous iteration's move, kept if yᵀs > 1e-10
            y, s = g - g_prev, d * t
            ys = _dot(y, s)
            keep = active & ~first & (ys > 1e-10)
            full = count >= hist
            at = np.where(full, hist - 1, count)[..., None]  # (..., 1, 1) slot of the new pair
            put = (slots[:, None] == at) & keep[..., None]
            shift = (full & keep)[..., None]
            S = np.where(shift, np.concatenate([S[..., 1:, :], S[..., :1, :]], axis=-2), S)
            Y = np.where(shift, np.concatenate([Y[..., 1:, :], Y[..., :1, :]], axis=-2), Y)
            S = np.where(put, s[..., None, :], S)
            Y = np.where(put, y[..., None, :], Y)
            count = np.where(keep & ~full, count + 1, count)
            d_new = np.where(first, -g, self._two_loop(g, S, Y, count))
            move = active & ~(_dot(g, d_new) > -tol_change)
            d = np.where(active, d_new, d)
            g_prev = np.where(active, g, g_prev)
            loss_prev = np.where(active, loss, loss_prev)
            with np.errstate(divide="ignore"):  # a member at a critical point is inactive; 1/0 is discarded
                t_first = np.minimum(1.0, 1.0 / np.sum(np.abs(g), axis=-1, keepdims=True)) * lr
            t = np.where(active, np.where(first, t_first, lr * np.ones_like(t)), t)
            x = np.where(move, x + t * d, x)
            last = n_local == max_iter
            look = move & ~last
            if np.any(look):
                loss = np.where(look, landscape.value(x)[..., None], loss)
                g = np.where(look, landscape.grad(x), g)
            evals = evals + look
            stop = (last | (evals >= max_eval) | (np.max(np.abs(g), axis=-1, keepdims=True) <= tol_grad)
                    | (np.max(np.abs(d * t), axis=-1, keepdims=True) <= tol_change)
                    | (np.abs(loss - loss_prev) < tol_change))
            active = move & ~stop
        shape = x.shape
        out = {"count": np.broadcast_to(count, shape).copy()}
        out.update({f"s{i}": S[..., i, :] for i in range(m)})
        out.update({f"y{i}": Y[..., i, :] for i in range(m)})
        out.update(d=d, t=np.broadcast_to(t, shape).copy(), g_prev=g_prev,
                   loss_prev=np.broadcast_to(loss_prev, shape).copy(), iters=np.broadcast_to(iters, shape).copy(), x=x)
        return out

    @staticmethod
    def _two_loop(g, S, Y, count):
        """``−H·g``: torch's two-loop recursion over the ``count`` newest-last pairs."""
        m = S.shape[-2]
        ys = np.einsum("...ki,...ki->...k", Y, S)
        with np.errstate(divide="ignore", invalid="ignore"):
            ro = np.where(np.arange(m) < count, 1.0 / ys, 0.0)  # (..., m)
        q = -g
        al = [None] * m
        for i in range(m - 1, -1, -1):
            valid = i < count
            if not np.any(valid):
                continue
            al[i] = np.where(valid, _dot(S[..., i, :], q) * ro[..., i:i + 1], 0.0)
            q = np.where(valid, q - al[i] * Y[..., i, :], q)
        newest = np.maximum(count - 1, 0).astype(int)[..., None]  # (..., 1, 1)
        y_last = np.take_along_axis(Y, newest, axis=-2)[..., 0, :]
        s_last = np.take_along_axis(S, newest, axis=-2)[..., 0, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            h_diag = np.where(count > 0, _dot(y_last, s_last) / _dot(y_last, y_last), 1.0)
        r = q * h_diag
        for i in range(m):
            valid = i < count
            if not np.any(valid):
                break
            be = _dot(Y[..., i, :], r) * ro[..., i:i + 1]
            r = np.where(valid, r + S[..., i, :] * (al[i] - be), r)
        return r


@dataclass(frozen=True)
class NewtonFlow(Flow):
    r"""The Newton flow ``ẋ = −∇²f(x)⁻¹·∇f(x)``: an idealization of (L-)BFGS, not a derived limit.

    Along it ``d/dt ∇f(x(t)) = ∇²f·ẋ = −∇f``, so ``∇f(x(t)) = e^(−t)·∇f(x0)`` exactly while the
    Hessian stays invertible, and ``|∇f|²`` decays as ``e^(−2t)`` (the energy). Damped Newton with
    step lr is its Euler method; that L-BFGS iterates approach it as lr → 0 is **not** established
    (theory §10.3): the secant history is built from the iterates' own moves. Where ∇²f is not
    positive definite the flow heads for any critical point, a maximum or saddle included (on
    himmelblau from (0, 0) it climbs to the local maximum), while L-BFGS keeps a positive definite
    H (it stores a pair only if yᵀs > 1e-10) and descends.
    """

    kind: ClassVar[str] = "newton"
    energy_name: ClassVar[str] = "|∇f|²"
    not_established: ClassVar[str] = ("an idealization of L-BFGS, not a limit its iterates are known to approach (its "
                                      "secant history is built from its own moves): the slope is a measurement, "
                                      "not a test of an order")

    @property
    def time_per_step(self):
        return np.asarray(self.optimizer.time_per_step)

    def caveat(self, landscape, x0, horizon):
        """Where ∇²f(x0) is not positive definite, the flow need not descend (size 1: it applies)."""
        try:
            lowest = float(np.min(np.linalg.eigvalsh(landscape.hess(np.asarray(x0, np.float64)))))
        except (ValueError, np.linalg.LinAlgError, NotImplementedError):
            return None
        if lowest > 0:
            return None
        return (f"∇²f at the start is not positive definite (its lowest eigenvalue is {lowest:.3g}): the Newton flow "
                f"ẋ = −∇²f⁻¹∇f is attracted to any stationary point, maxima and saddles included, while L-BFGS keeps a "
                f"positive definite H and descends", 1.0)

    def field(self, t, state, landscape):
        x = state["x"]
        return {"x": -np.linalg.solve(landscape.hess(x), landscape.grad(x)[..., None])[..., 0]}

    def energy(self, t, state, landscape):
        g = landscape.grad(state["x"])
        return np.einsum("...i,...i->...", g, g)
